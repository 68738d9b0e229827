//! ETAs refreshed by events between two forecasts.
//!
//! A forecast ([`crate::forecast`]) runs the whole world many times; at
//! tens of thousands of vehicles that takes seconds to minutes, while
//! events arrive every few seconds. An [`EtaBook`] keeps the runs of the
//! last forecast, vehicle by vehicle, and when an event says where a
//! vehicle is (a milestone) or moves a vessel's arrival, it conditions the
//! runs of the vehicles concerned and recomputes their quantiles, at a
//! cost proportional to the vehicles touched, not to the pipeline:
//!
//! 1. **Reweighting.** A milestone says that stage `s` began at `t`. Each
//!    run `k` had it begin at `t_k`; the run's weight is multiplied by a
//!    Gaussian kernel of `(t - t_k) / h`, with `h` half the spread
//!    (standard deviation) of the runs' `t_k`, at least
//!    [`MIN_BANDWIDTH_MINUTES`]. Runs in which the vehicle was where it
//!    really is count more: importance sampling over the runs (a particle
//!    filter without resampling). Runs that never began `s` get weight 0.
//! 2. **Shifting what is left.** The residual `t - t_k` moves the run's
//!    later stages, less what waiting absorbs: between two consecutive
//!    stage starts, the part of the run's gap above the shortest gap any
//!    run of the vehicle had is waiting (for a departure, a shift, a
//!    queue), and a delay (or an advance) shrinks by it before it reaches
//!    the next stage.
//! 3. **A vessel's arrival moved** by `d`: the runs of the vehicles aboard
//!    or booked on the voyage move their discharge by `d`, and later stages
//!    as in 2.
//!
//! When the weights collapse (fewer than [`MIN_EFFECTIVE_RUNS`] effective
//! runs: the event lies outside what the runs foresaw), every run that
//! began the stage gets equal weight again and the shifted runs alone
//! carry the forecast.
//!
//! The book is pure: no clock, no I/O, no randomness. Its accuracy against
//! a full forecast at every instant is measured by `takt eval eta`
//! (predictor `takt refreshed`), its cost by `takt eval eta-refresh`.

use crate::forecast::{SampledPath, VehicleForecast, quantiles};
use std::collections::HashMap;
use std::ops::Range;
use takt_core::Minute;
use takt_core::plan::Stage;

/// The smallest kernel bandwidth, minutes: milestones are stamped to the
/// minute and runs that differ by less than this are alike.
pub const MIN_BANDWIDTH_MINUTES: f64 = 30.0;

/// Below this effective number of runs the weights are reset.
pub const MIN_EFFECTIVE_RUNS: f64 = 1.5;

/// A voyage event touching at least this many vehicles is refreshed on
/// several threads.
pub const PARALLEL_VEHICLES: usize = 2_048;

/// One vehicle's runs.
#[derive(Debug, Clone)]
struct Runs {
    vid: usize,
    /// Stages some run begins after the forecast's instant, in journey
    /// order.
    stages: Vec<Stage>,
    /// Row `j < stages.len()`: when each run began `stages[j]` (minutes);
    /// the last row: when each run delivered, if it did within the
    /// horizon. Rows of one run per column, in one buffer
    /// ([`Runs::row`]), so a vehicle's runs are one allocation.
    starts: Vec<Option<i64>>,
    weights: Vec<f64>,
    /// Whether each run rolled the vehicle after the forecast's instant.
    rolled: Vec<bool>,
    /// Whether every run still has the same weight (no milestone has
    /// reweighted them): the quantiles are then the forecast's
    /// ([`quantiles`]), otherwise weighted ([`weighted_quantiles`]).
    uniform: bool,
    /// P10/P50/P90 of each of `stages` (`None`: no run with weight began
    /// it), and of delivery: kept up to date by every change, so an event
    /// recomputes only the stages it moved.
    stage_q: Vec<Option<[Minute; 3]>>,
    delivered_q: Option<[Minute; 3]>,
    /// The delivery of every run with weight that delivered, sorted, with
    /// the run's weight (the forecast's `delivered_runs`).
    delivered_sorted: Vec<(Minute, f64)>,
}

/// The runs of the last forecast, by vehicle, conditioned by the events
/// since.
#[derive(Debug, Clone, Default)]
pub struct EtaBook {
    /// The forecast's instant.
    pub made_at: Minute,
    /// Every vehicle's runs (`None` once delivered), the vehicles of one
    /// voyage side by side, so a voyage's event works on one slice.
    slots: Vec<Option<Runs>>,
    /// The vehicle in each slot, delivered ones included.
    slot_vids: Vec<usize>,
    slot_of: HashMap<usize, usize>,
    /// Each voyage's slots (vehicles aboard or booked at the forecast's
    /// instant).
    on_voyage: HashMap<usize, Range<usize>>,
}

/// What an event did to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Touched {
    /// Vehicles whose runs changed (their ETAs need recomputing).
    pub vehicles: usize,
}

impl EtaBook {
    /// A book over a forecast's runs ([`crate::forecast::sample_runs`] on
    /// `targets`), made at `made_at`; `voyage_of` tells each target's
    /// voyage at that instant.
    pub fn new(
        made_at: Minute,
        targets: &[usize],
        runs: &[Vec<SampledPath>],
        voyage_of: impl Fn(usize) -> Option<usize>,
    ) -> EtaBook {
        let n = runs.len();
        // Vehicles without a voyage first, then by voyage; stable, so the
        // targets' order holds within each.
        let mut order: Vec<(Option<usize>, usize)> = targets
            .iter()
            .enumerate()
            .map(|(i, &vid)| (voyage_of(vid), i))
            .collect();
        order.sort_by_key(|&(v, _)| v);
        let mut slots = Vec::with_capacity(targets.len());
        let mut slot_vids = Vec::with_capacity(targets.len());
        let mut slot_of = HashMap::with_capacity(targets.len());
        let mut on_voyage: HashMap<usize, Range<usize>> = HashMap::new();
        for &(voyage, i) in &order {
            let vid = targets[i];
            let mut stages: Vec<Stage> = Vec::new();
            for run in runs {
                for &(s, _) in &run[i].stages {
                    if !stages.contains(&s) {
                        stages.push(s);
                    }
                }
            }
            stages.sort_by_key(|s| s.index());
            let mut starts = vec![None; n * (stages.len() + 1)];
            for (k, run) in runs.iter().enumerate() {
                let p = &run[i];
                for &(s, at) in &p.stages {
                    let j = stages.iter().position(|&x| x == s).expect("collected");
                    // The first time a run began the stage.
                    starts[j * n + k].get_or_insert(at.0);
                }
                starts[stages.len() * n + k] = p.delivered.map(|d| d.0);
            }
            let mut r = Runs {
                vid,
                stage_q: vec![None; stages.len()],
                stages,
                starts,
                weights: vec![1.0; n],
                rolled: runs.iter().map(|run| run[i].rolled).collect(),
                uniform: true,
                delivered_q: None,
                delivered_sorted: Vec::with_capacity(n),
            };
            r.requantile(0);
            let slot = slots.len();
            if let Some(v) = voyage {
                on_voyage
                    .entry(v)
                    .and_modify(|range| range.end = slot + 1)
                    .or_insert(slot..slot + 1);
            }
            slot_of.insert(vid, slot);
            slot_vids.push(vid);
            slots.push(Some(r));
        }
        EtaBook {
            made_at,
            slots,
            slot_vids,
            slot_of,
            on_voyage,
        }
    }

    fn runs_mut(&mut self, vid: usize) -> Option<&mut Runs> {
        let slot = *self.slot_of.get(&vid)?;
        self.slots[slot].as_mut()
    }

    /// Whether the book holds the vehicle.
    pub fn contains(&self, vid: usize) -> bool {
        self.slot_of
            .get(&vid)
            .is_some_and(|&slot| self.slots[slot].is_some())
    }

    /// The vehicles booked on a voyage at the forecast's instant.
    pub fn on_voyage(&self, voyage: usize) -> &[usize] {
        self.on_voyage
            .get(&voyage)
            .map_or(&[], |range| &self.slot_vids[range.clone()])
    }

    /// The vehicle began `stage` at `at`. Unknown vehicles, and stages no
    /// run began after the forecast, change nothing.
    pub fn observe(&mut self, vid: usize, stage: Stage, at: Minute) -> Touched {
        let Some(r) = self.runs_mut(vid) else {
            return Touched::default();
        };
        let Some(j) = r.stages.iter().position(|&s| s == stage) else {
            return Touched::default();
        };
        let xs: Vec<Option<i64>> = r.row(Some(j)).to_vec();
        let present: Vec<f64> = xs.iter().flatten().map(|&x| x as f64).collect();
        if present.is_empty() {
            return Touched::default();
        }
        let mean = present.iter().sum::<f64>() / present.len() as f64;
        let sd =
            (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / present.len() as f64).sqrt();
        let h = (sd / 2.0).max(MIN_BANDWIDTH_MINUTES);
        let mut w: Vec<f64> = r
            .weights
            .iter()
            .zip(&xs)
            .map(|(&w, x)| match x {
                Some(x) => w * (-0.5 * ((at.0 - x) as f64 / h).powi(2)).exp(),
                None => 0.0,
            })
            .collect();
        if effective_runs(&w) < MIN_EFFECTIVE_RUNS {
            w = xs
                .iter()
                .map(|x| f64::from(u8::from(x.is_some())))
                .collect();
        }
        r.weights = w;
        r.uniform = false;
        let orig = r.before_shifting(j);
        let gaps = r.shortest_gaps(j);
        for (k, x) in xs.iter().enumerate() {
            if let Some(x) = *x {
                r.shift(orig.as_ref(), &gaps, j, k, at.0 - x);
            }
        }
        // New weights: every stage's quantiles change.
        r.requantile(0);
        Touched { vehicles: 1 }
    }

    /// A journey milestone of the vehicle at `at` ([`takt_core::event::MILESTONES`]):
    /// `delivered` takes it out of the book, every other one begins its
    /// stage ([`EtaBook::observe`]); milestones outside the journey (holds,
    /// routing, rolls) change nothing.
    pub fn milestone(&mut self, vid: usize, name: &str, at: Minute) -> Touched {
        if name == "delivered" {
            return self.delivered(vid);
        }
        match takt_core::event::MILESTONES.iter().find(|m| m.0 == name) {
            Some(&(_, stage)) => self.observe(vid, stage, at),
            None => Touched::default(),
        }
    }

    /// The vehicle was delivered: it leaves the book.
    pub fn delivered(&mut self, vid: usize) -> Touched {
        let gone = self
            .slot_of
            .get(&vid)
            .and_then(|&slot| self.slots[slot].take());
        Touched {
            vehicles: usize::from(gone.is_some()),
        }
    }

    /// The voyage's arrival moved by `minutes`: every vehicle booked on it
    /// and not yet discharged moves its discharge, and what follows; the
    /// answer is those vehicles' new forecasts, computed on `threads`
    /// threads when the voyage carries thousands of vehicles.
    pub fn refresh_voyage(
        &mut self,
        voyage: usize,
        minutes: i64,
        threads: usize,
    ) -> Vec<VehicleForecast> {
        let Some(range) = self.on_voyage.get(&voyage).cloned() else {
            return Vec::new();
        };
        let taken = &mut self.slots[range];
        let threads = if taken.len() >= PARALLEL_VEHICLES {
            threads.max(1)
        } else {
            1
        };
        let refresh = |part: &mut [Option<Runs>]| -> Vec<VehicleForecast> {
            part.iter_mut()
                .flatten()
                .filter_map(|r| r.move_discharge(minutes).then(|| r.forecast()))
                .collect()
        };
        if threads == 1 {
            return refresh(taken);
        }
        let chunk = taken.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = taken
                .chunks_mut(chunk)
                .map(|part| scope.spawn(move || refresh(part)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("refresh thread"))
                .collect()
        })
    }

    /// The vehicle's forecast from its (conditioned) runs; `None` when it
    /// is not in the book. Before any event it equals the forecast's.
    pub fn forecast(&self, vid: usize) -> Option<VehicleForecast> {
        let slot = *self.slot_of.get(&vid)?;
        Some(self.slots[slot].as_ref()?.forecast())
    }
}

impl Runs {
    /// The forecast from the runs (see [`EtaBook::forecast`]), from the
    /// quantiles kept.
    fn forecast(&self) -> VehicleForecast {
        let total: f64 = self.weights.iter().sum();
        let stages = self
            .stages
            .iter()
            .zip(&self.stage_q)
            .filter_map(|(&s, q)| q.map(|q| (s, q)))
            .collect();
        let delivered = self.delivered_sorted.clone();
        let delivered_weight: f64 = delivered.iter().map(|d| d.1).sum();
        VehicleForecast {
            vehicle: self.vid,
            stages,
            delivered: self.delivered_q,
            delivered_share: if total > 0.0 {
                delivered_weight / total
            } else {
                0.0
            },
            delivered_runs: delivered,
            runs_weight: total,
            effective_runs: effective_runs(&self.weights),
            roll_share: if total > 0.0 {
                self.weights
                    .iter()
                    .zip(&self.rolled)
                    .filter(|(_, r)| **r)
                    .map(|(w, _)| w)
                    .sum::<f64>()
                    / total
            } else {
                0.0
            },
        }
    }

    /// Recomputes the quantiles of `stages[from..]` and of delivery.
    fn requantile(&mut self, from: usize) {
        let weights = &self.weights;
        if self.uniform {
            let mut plain: Vec<i64> = Vec::with_capacity(weights.len());
            for j in from..self.stages.len() {
                plain.clear();
                plain.extend(self.row(Some(j)).iter().flatten());
                self.stage_q[j] = quantiles(&mut plain);
            }
        } else {
            let mut buf: Vec<(i64, f64)> = Vec::with_capacity(weights.len());
            for j in from..self.stages.len() {
                buf.clear();
                buf.extend(
                    self.row(Some(j))
                        .iter()
                        .zip(weights)
                        .filter_map(|(x, &w)| x.filter(|_| w > 0.0).map(|x| (x, w))),
                );
                self.stage_q[j] = weighted_quantiles(&mut buf);
            }
        }
        // Delivery: the sorted runs are kept for the forecast, and the
        // quantiles read off them.
        let sorted = &mut self.delivered_sorted;
        sorted.clear();
        sorted.extend(
            self.starts[self.stages.len() * weights.len()..]
                .iter()
                .zip(weights)
                .filter_map(|(d, &w)| d.filter(|_| w > 0.0).map(|d| (Minute(d), w))),
        );
        sorted.sort_by_key(|d| d.0);
        self.delivered_q = if sorted.is_empty() {
            None
        } else if self.uniform {
            let q = |p: f64| sorted[(p * (sorted.len() - 1) as f64).round() as usize].0;
            Some([q(0.1), q(0.5), q(0.9)])
        } else {
            weighted_sorted(sorted)
        };
    }

    /// Moves the discharge (and what follows) of every run by `minutes`;
    /// false when no run discharges after the forecast (already done).
    fn move_discharge(&mut self, minutes: i64) -> bool {
        let Some(j) = self.stages.iter().position(|&s| s == Stage::Discharge) else {
            return false;
        };
        let orig = self.before_shifting(j);
        let gaps = self.shortest_gaps(j);
        for k in 0..self.weights.len() {
            self.shift(orig.as_ref(), &gaps, j, k, minutes);
        }
        // Stages before the discharge did not move, nor did the weights.
        self.requantile(j);
        true
    }

    /// Every run's start of `stages[j]`, or their deliveries when `j` is
    /// `None`.
    fn row(&self, j: Option<usize>) -> &[Option<i64>] {
        let n = self.weights.len();
        let j = j.unwrap_or(self.stages.len());
        &self.starts[j * n..(j + 1) * n]
    }

    /// Run `k`'s start of `stages[idx]`, or its delivery when `idx` is `None`.
    fn get(&self, idx: Option<usize>, k: usize) -> Option<i64> {
        match idx {
            Some(j) => self.starts[j * self.weights.len() + k],
            None => self.starts[self.stages.len() * self.weights.len() + k],
        }
    }

    fn set(&mut self, idx: Option<usize>, k: usize, at: i64) {
        match idx {
            Some(j) => self.starts[j * self.weights.len() + k] = Some(at),
            None => self.starts[self.stages.len() * self.weights.len() + k] = Some(at),
        }
    }

    /// A copy of the runs for [`Runs::shift`] from position `j`, needed only
    /// when some run skips a stage from there on (otherwise every gap is
    /// between consecutive stages and `shortest_gaps` has it).
    fn before_shifting(&self, j: usize) -> Option<Runs> {
        let complete = self.starts[j * self.weights.len()..]
            .iter()
            .all(Option::is_some);
        (!complete).then(|| self.clone())
    }

    /// Per stage position `b` after `from` (and `stages.len()` for
    /// delivery), the shortest gap from position `b - 1` to `b` over the
    /// runs that have both; `None` at and before `from` (a shift from
    /// `from` never asks for those).
    fn shortest_gaps(&self, from: usize) -> Vec<Option<i64>> {
        let n = self.stages.len();
        let mut out = vec![None; n + 1];
        for (b, slot) in out.iter_mut().enumerate().skip(from + 1) {
            let next = (b < n).then_some(b);
            *slot = (0..self.weights.len())
                .filter_map(|q| Some(self.get(next, q)? - self.get(Some(b - 1), q)?))
                .min();
        }
        out
    }

    /// Moves run `k`'s start of `stages[j]` by `delta` minutes, and its
    /// later stages and delivery by what is left of `delta` after the
    /// waiting each gap holds: the part of the run's gap between two
    /// consecutive stages above the shortest such gap of any run, from
    /// `gaps` ([`Runs::shortest_gaps`] before the event) or, where the run
    /// skips a stage, from `orig` (the runs before the event).
    fn shift(&mut self, orig: Option<&Runs>, gaps: &[Option<i64>], j: usize, k: usize, delta: i64) {
        let Some(mut before) = self.get(Some(j), k) else {
            return;
        };
        self.set(Some(j), k, before + delta);
        let mut carry = delta;
        let mut prev = Some(j);
        for next in (j + 1..self.stages.len())
            .map(Some)
            .chain(std::iter::once(None))
        {
            if carry == 0 {
                return;
            }
            let Some(mine) = self.get(next, k) else {
                continue;
            };
            let gap = mine - before;
            let position = next.unwrap_or(self.stages.len());
            let consecutive = prev == Some(position - 1);
            let shortest = match gaps[position] {
                Some(g) if consecutive => g.min(gap),
                _ => {
                    let orig = orig.unwrap_or(self);
                    (0..self.weights.len())
                        .filter(|&q| q != k)
                        .filter_map(|q| Some(orig.get(next, q)? - orig.get(prev, q)?))
                        .fold(gap, i64::min)
                }
            };
            let slack = (gap - shortest).max(0);
            carry = carry.signum() * (carry.abs() - slack).max(0);
            self.set(next, k, mine + carry);
            before = mine;
            prev = next;
        }
    }
}

/// Kish's effective number of runs: (Σw)² / Σw².
fn effective_runs(w: &[f64]) -> f64 {
    let s: f64 = w.iter().sum();
    let s2: f64 = w.iter().map(|x| x * x).sum();
    if s2 <= 0.0 { 0.0 } else { s * s / s2 }
}

/// P10/P50/P90 of weighted values (sorted here): the smallest value whose
/// cumulative weight reaches the share.
fn weighted_quantiles(v: &mut [(i64, f64)]) -> Option<[Minute; 3]> {
    v.sort_unstable_by_key(|x| x.0);
    weighted_sorted(v).map(|q| q.map(Minute))
}

/// P10/P50/P90 of weighted values already sorted.
fn weighted_sorted<T: Copy>(v: &[(T, f64)]) -> Option<[T; 3]> {
    let total: f64 = v.iter().map(|x| x.1).sum();
    if v.is_empty() || total <= 0.0 {
        return None;
    }
    let q = |p: f64| {
        let mut cum = 0.0;
        for &(x, w) in v {
            cum += w;
            if cum >= p * total - 1e-9 {
                return x;
            }
        }
        v[v.len() - 1].0
    };
    Some([q(0.1), q(0.5), q(0.9)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::summarize;

    /// One vehicle's runs as (port arrival, loading, discharge, delivery)
    /// minutes.
    fn paths(runs: &[[i64; 4]]) -> Vec<Vec<SampledPath>> {
        runs.iter()
            .map(|r| {
                vec![SampledPath {
                    stages: vec![
                        (Stage::PortArrival, Minute(r[0])),
                        (Stage::Loading, Minute(r[1])),
                        (Stage::Discharge, Minute(r[2])),
                    ],
                    delivered: Some(Minute(r[3])),
                    rolled: false,
                }]
            })
            .collect()
    }

    /// A book of vehicle 7, booked on voyage 3.
    fn book(runs: &[[i64; 4]]) -> EtaBook {
        EtaBook::new(Minute(0), &[7], &paths(runs), |_| Some(3))
    }

    const RUNS: [[i64; 4]; 4] = [
        [100, 5_000, 20_000, 25_000],
        [200, 5_000, 20_000, 25_000],
        [4_000, 5_000, 20_000, 25_000],
        [6_000, 15_000, 30_000, 35_000],
    ];

    #[test]
    fn before_any_event_the_book_is_the_forecast() {
        let f = summarize(&[7], &paths(&RUNS)).remove(0);
        let b = book(&RUNS).forecast(7).unwrap();
        assert_eq!(b.delivered, f.delivered);
        assert_eq!(b.stages, f.stages);
        assert_eq!(b.delivered_runs, f.delivered_runs);
        assert_eq!(b.runs_weight, f.runs_weight);
    }

    #[test]
    fn a_milestone_weighs_the_runs_that_foresaw_it() {
        // The vehicle reached the port at 5,900: only the last run had it
        // that late, and in that run it missed the first voyage.
        let mut b = book(&RUNS);
        assert_eq!(b.observe(7, Stage::PortArrival, Minute(5_900)).vehicles, 1);
        let f = b.forecast(7).unwrap();
        // The last run (100 minutes later, absorbed by its wait for the
        // vessel) carries the median; the third (1,900 minutes earlier,
        // shifted through its tight gaps) the P10; the first two nothing.
        let [p10, p50, _] = f.delivered.unwrap();
        assert_eq!(p50, Minute(35_000));
        assert_eq!(p10, Minute(25_000 + 1_900));
        assert!(f.delivered_runs.iter().filter(|r| r.1 > 1e-3).count() == 2);
        // Reaching it early instead: the early runs count, the late one
        // hardly does.
        let mut b = book(&RUNS);
        b.observe(7, Stage::PortArrival, Minute(150));
        let f = b.forecast(7).unwrap();
        assert_eq!(f.delivered.unwrap()[2], Minute(25_000));
        assert!(f.delivered_runs.last().unwrap().1 < 1e-3);
    }

    #[test]
    fn waiting_absorbs_a_delay_and_a_tight_run_passes_it_on() {
        // Two runs: one waits 4,800 minutes at the port for loading, one
        // waits 300 (the shortest gap). A milestone 1,000 minutes after
        // both runs' arrival: outside both, so the weights reset and the
        // shifts carry the forecast.
        let mut b = book(&[[100, 4_900, 20_000, 25_000], [100, 400, 15_000, 20_000]]);
        b.observe(7, Stage::PortArrival, Minute(1_100));
        let r = b.slots[b.slot_of[&7]].as_ref().unwrap();
        // The waiting run still loads at 4,900; the tight one 1,000 later.
        assert_eq!(r.row(Some(1)), &[Some(4_900), Some(1_400)]);
        assert_eq!(r.row(None), &[Some(25_000), Some(21_000)]);
    }

    /// The forecast of a vehicle's runs with every quantile computed
    /// afresh.
    fn recomputed(b: &EtaBook, vid: usize) -> VehicleForecast {
        let mut r = b.slots[b.slot_of[&vid]].clone().unwrap();
        r.stage_q.fill(None);
        r.delivered_q = None;
        r.delivered_sorted.clear();
        r.requantile(0);
        r.forecast()
    }

    #[test]
    fn kept_quantiles_equal_quantiles_computed_afresh_after_any_events() {
        // Three vehicles on two voyages and one without a voyage, given in
        // an order that is not the voyages' order.
        let targets = [11, 12, 13, 14];
        let voyage = |v: usize| match v {
            11 | 13 => Some(5),
            12 => Some(2),
            _ => None,
        };
        let runs: Vec<Vec<SampledPath>> = RUNS
            .iter()
            .map(|r| paths(&[*r]).remove(0).into_iter().cycle().take(4).collect())
            .collect();
        let mut b = EtaBook::new(Minute(0), &targets, &runs, voyage);
        assert_eq!(b.on_voyage(5), &[11, 13]);
        assert_eq!(b.on_voyage(2), &[12]);
        assert!(b.on_voyage(9).is_empty());
        b.observe(13, Stage::PortArrival, Minute(5_900));
        assert_eq!(b.refresh_voyage(5, 600, 2).len(), 2);
        b.observe(11, Stage::Loading, Minute(5_100));
        assert_eq!(b.refresh_voyage(5, -120, 1).len(), 2);
        for vid in targets {
            assert_eq!(b.forecast(vid), Some(recomputed(&b, vid)), "vehicle {vid}");
        }
        // Untouched vehicles are still the forecast's.
        let f = summarize(&targets, &runs);
        assert_eq!(b.forecast(12).as_ref(), Some(&f[1]));
        assert_eq!(b.forecast(14).as_ref(), Some(&f[3]));
        // A delivered vehicle leaves the book but not its voyage's list.
        assert_eq!(b.delivered(13).vehicles, 1);
        assert!(!b.contains(13) && b.contains(11));
        assert_eq!(b.refresh_voyage(5, 60, 2).len(), 1);
    }

    #[test]
    fn a_vessel_moved_moves_its_vehicles_discharge_and_delivery() {
        let mut b = book(&RUNS);
        assert!(b.refresh_voyage(9, 600, 2).is_empty(), "another voyage");
        let mut refreshed = b.refresh_voyage(3, 18 * 60, 2);
        assert_eq!(refreshed.len(), 1);
        let f = refreshed.remove(0);
        assert_eq!(Some(&f), b.forecast(7).as_ref(), "the book keeps the move");
        let discharge = f.stages.iter().find(|s| s.0 == Stage::Discharge).unwrap().1;
        assert_eq!(discharge[0], Minute(20_000 + 18 * 60));
        // Discharge to delivery holds no waiting beyond the shortest gap:
        // delivery moves as much.
        assert_eq!(f.delivered.unwrap()[0], Minute(25_000 + 18 * 60));
        assert_eq!(b.delivered(7).vehicles, 1);
        assert!(b.forecast(7).is_none());
    }
}
