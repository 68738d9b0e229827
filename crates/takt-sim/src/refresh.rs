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
    /// Stages some run begins after the forecast's instant, in journey
    /// order.
    stages: Vec<Stage>,
    /// `starts[j][k]`: when run `k` began `stages[j]` (minutes).
    starts: Vec<Vec<Option<i64>>>,
    /// When run `k` delivered, if it did within the horizon.
    delivered: Vec<Option<i64>>,
    weights: Vec<f64>,
    /// Whether any event has touched these runs.
    conditioned: bool,
}

/// The runs of the last forecast, by vehicle, conditioned by the events
/// since.
#[derive(Debug, Clone, Default)]
pub struct EtaBook {
    /// The forecast's instant.
    pub made_at: Minute,
    vehicles: HashMap<usize, Runs>,
    /// Vehicles aboard or booked on each voyage at the forecast's instant.
    on_voyage: HashMap<usize, Vec<usize>>,
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
        let mut vehicles = HashMap::with_capacity(targets.len());
        let mut on_voyage: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, &vid) in targets.iter().enumerate() {
            let mut stages: Vec<Stage> = Vec::new();
            for run in runs {
                for &(s, _) in &run[i].0 {
                    if !stages.contains(&s) {
                        stages.push(s);
                    }
                }
            }
            stages.sort_by_key(|s| s.index());
            let mut starts = vec![vec![None; n]; stages.len()];
            let mut delivered = vec![None; n];
            for (k, run) in runs.iter().enumerate() {
                let (path, d) = &run[i];
                for &(s, at) in path {
                    let j = stages.iter().position(|&x| x == s).expect("collected");
                    // The first time a run began the stage.
                    starts[j][k].get_or_insert(at.0);
                }
                delivered[k] = d.map(|d| d.0);
            }
            vehicles.insert(
                vid,
                Runs {
                    stages,
                    starts,
                    delivered,
                    weights: vec![1.0; n],
                    conditioned: false,
                },
            );
            if let Some(v) = voyage_of(vid) {
                on_voyage.entry(v).or_default().push(vid);
            }
        }
        EtaBook {
            made_at,
            vehicles,
            on_voyage,
        }
    }

    /// Whether the book holds the vehicle.
    pub fn contains(&self, vid: usize) -> bool {
        self.vehicles.contains_key(&vid)
    }

    /// The vehicles booked on a voyage at the forecast's instant.
    pub fn on_voyage(&self, voyage: usize) -> &[usize] {
        self.on_voyage.get(&voyage).map_or(&[], |v| v.as_slice())
    }

    /// The vehicle began `stage` at `at`. Unknown vehicles, and stages no
    /// run began after the forecast, change nothing.
    pub fn observe(&mut self, vid: usize, stage: Stage, at: Minute) -> Touched {
        let Some(r) = self.vehicles.get_mut(&vid) else {
            return Touched::default();
        };
        let Some(j) = r.stages.iter().position(|&s| s == stage) else {
            return Touched::default();
        };
        let xs: Vec<Option<i64>> = r.starts[j].clone();
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
        let orig = r.before_shifting(j);
        let gaps = r.shortest_gaps();
        for (k, x) in xs.iter().enumerate() {
            if let Some(x) = *x {
                r.shift(orig.as_ref(), &gaps, j, k, at.0 - x);
            }
        }
        r.conditioned = true;
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
        Touched {
            vehicles: usize::from(self.vehicles.remove(&vid).is_some()),
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
        let vids = self.on_voyage.get(&voyage).cloned().unwrap_or_default();
        let mut taken: Vec<(usize, Runs)> = vids
            .iter()
            .filter_map(|v| self.vehicles.remove_entry(v))
            .collect();
        let threads = if taken.len() >= PARALLEL_VEHICLES {
            threads.max(1)
        } else {
            1
        };
        let chunk = taken.len().div_ceil(threads).max(1);
        let out = std::thread::scope(|scope| {
            let handles: Vec<_> = taken
                .chunks_mut(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter_mut()
                            .filter_map(|(vid, r)| {
                                r.move_discharge(minutes).then(|| r.forecast(*vid))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("refresh thread"))
                .collect()
        });
        self.vehicles.extend(taken);
        out
    }

    /// The vehicle's forecast from its (conditioned) runs; `None` when it
    /// is not in the book. Before any event it equals the forecast's.
    pub fn forecast(&self, vid: usize) -> Option<VehicleForecast> {
        Some(self.vehicles.get(&vid)?.forecast(vid))
    }
}

impl Runs {
    /// The forecast from the runs (see [`EtaBook::forecast`]).
    fn forecast(&self, vid: usize) -> VehicleForecast {
        let total: f64 = self.weights.iter().sum();
        let mut buf: Vec<(i64, f64)> = Vec::with_capacity(self.weights.len());
        let mut quantile3 = |values: &mut dyn Iterator<Item = (Option<i64>, f64)>| {
            buf.clear();
            buf.extend(values.filter_map(|(x, w)| x.filter(|_| w > 0.0).map(|x| (x, w))));
            if self.conditioned {
                weighted_quantiles(&mut buf)
            } else {
                let mut v: Vec<i64> = buf.iter().map(|x| x.0).collect();
                quantiles(&mut v)
            }
        };
        let stages = self
            .stages
            .iter()
            .zip(&self.starts)
            .filter_map(|(&s, xs)| {
                quantile3(&mut xs.iter().copied().zip(self.weights.iter().copied())).map(|q| (s, q))
            })
            .collect();
        let delivered_q = quantile3(
            &mut self
                .delivered
                .iter()
                .copied()
                .zip(self.weights.iter().copied()),
        );
        let mut delivered: Vec<(Minute, f64)> = self
            .delivered
            .iter()
            .zip(&self.weights)
            .filter_map(|(d, &w)| d.filter(|_| w > 0.0).map(|d| (Minute(d), w)))
            .collect();
        delivered.sort_by_key(|d| d.0);
        let delivered_weight: f64 = delivered.iter().map(|d| d.1).sum();
        VehicleForecast {
            vehicle: vid,
            stages,
            delivered: delivered_q,
            delivered_share: if total > 0.0 {
                delivered_weight / total
            } else {
                0.0
            },
            delivered_runs: delivered,
            runs_weight: total,
        }
    }

    /// Moves the discharge (and what follows) of every run by `minutes`;
    /// false when no run discharges after the forecast (already done).
    fn move_discharge(&mut self, minutes: i64) -> bool {
        let Some(j) = self.stages.iter().position(|&s| s == Stage::Discharge) else {
            return false;
        };
        let orig = self.before_shifting(j);
        let gaps = self.shortest_gaps();
        for k in 0..self.weights.len() {
            self.shift(orig.as_ref(), &gaps, j, k, minutes);
        }
        self.conditioned = true;
        true
    }

    /// Run `k`'s start of `stages[idx]`, or its delivery when `idx` is `None`.
    fn get(&self, idx: Option<usize>, k: usize) -> Option<i64> {
        match idx {
            Some(j) => self.starts[j][k],
            None => self.delivered[k],
        }
    }

    fn set(&mut self, idx: Option<usize>, k: usize, at: i64) {
        match idx {
            Some(j) => self.starts[j][k] = Some(at),
            None => self.delivered[k] = Some(at),
        }
    }

    /// A copy of the runs for [`Runs::shift`] from position `j`, needed only
    /// when some run skips a stage from there on (otherwise every gap is
    /// between consecutive stages and `shortest_gaps` has it).
    fn before_shifting(&self, j: usize) -> Option<Runs> {
        let complete = self.starts[j..]
            .iter()
            .all(|xs| xs.iter().all(Option::is_some));
        (!complete).then(|| self.clone())
    }

    /// Per stage position `b` (and `stages.len()` for delivery), the
    /// shortest gap from position `b - 1` to `b` over the runs that have
    /// both.
    fn shortest_gaps(&self) -> Vec<Option<i64>> {
        let n = self.stages.len();
        let mut out = vec![None; n + 1];
        for (b, slot) in out.iter_mut().enumerate().skip(1) {
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
        let Some(mut before) = self.starts[j][k] else {
            return;
        };
        self.starts[j][k] = Some(before + delta);
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
    let total: f64 = v.iter().map(|x| x.1).sum();
    if v.is_empty() || total <= 0.0 {
        return None;
    }
    v.sort_unstable_by_key(|x| x.0);
    let q = |p: f64| {
        let mut cum = 0.0;
        for &(x, w) in v.iter() {
            cum += w;
            if cum >= p * total - 1e-9 {
                return Minute(x);
            }
        }
        Minute(v[v.len() - 1].0)
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
                vec![(
                    vec![
                        (Stage::PortArrival, Minute(r[0])),
                        (Stage::Loading, Minute(r[1])),
                        (Stage::Discharge, Minute(r[2])),
                    ],
                    Some(Minute(r[3])),
                )]
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
        let r = &b.vehicles[&7];
        // The waiting run still loads at 4,900; the tight one 1,000 later.
        assert_eq!(r.starts[1], vec![Some(4_900), Some(1_400)]);
        assert_eq!(r.delivered, vec![Some(25_000), Some(21_000)]);
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
