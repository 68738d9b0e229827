//! What a run amounts to: the figures of `summary.json`.

use crate::world::{Counters, Rehandling, Simulation};
use serde::Serialize;
use std::collections::BTreeMap;
use takt_core::Minute;
use takt_core::plan::Stage;

/// Median and 90th percentile of a sample, in hours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub n: usize,
}

impl Quantiles {
    /// Nearest-rank quantiles of `xs` (sorted in place).
    pub fn of(xs: &mut [f64]) -> Quantiles {
        xs.sort_by(f64::total_cmp);
        let q = |p: f64| -> f64 {
            if xs.is_empty() {
                return 0.0;
            }
            let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
            round2(xs[rank - 1])
        };
        Quantiles {
            p50: q(0.5),
            p90: q(0.9),
            n: xs.len(),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Per model figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub model: String,
    pub released: usize,
    pub delivered: usize,
    pub on_time_rate: f64,
    pub lead_time_days: Quantiles,
}

/// The summary of a run (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    pub start: Minute,
    pub end: Minute,
    pub vehicles_released: usize,
    pub vehicles_delivered: usize,
    pub vehicles_in_pipeline: usize,
    /// Delivered by the promised date, over delivered (0-1).
    pub on_time_rate: f64,
    /// Mean hours from export port arrival to vessel departure.
    pub port_dwell_hours_mean: f64,
    /// Per stage: hours from the end of the previous stage to the end of
    /// this one (the wait for the stage's resource plus the stage itself).
    pub dwell_hours: BTreeMap<String, Quantiles>,
    /// Release to delivery, days, delivered vehicles.
    pub lead_time_days: Quantiles,
    /// Loaded RT43 over booked RT43 on voyages that left in the run (0-1).
    pub vessel_utilization: f64,
    pub voyages_departed: usize,
    /// Vehicles that missed the voyage they were planned on at least once.
    pub vehicles_rolled: usize,
    pub by_model: Vec<ModelSummary>,
    /// Hours of work done in the run by kind of station: `processing` (US
    /// terminals) and `certification` (destination), steps finished by the end.
    pub station_hours: BTreeMap<String, f64>,
    /// Stowage rehandling by port (every port whose stowage was worked in
    /// the run): vehicles discharged temporarily to clear another's way
    /// and loaded again, and the drivers' minutes those moves took.
    pub rehandling: BTreeMap<String, Rehandling>,
    /// Rehandling moves over all ports.
    pub rehandling_moves: u64,
    /// Driver (gang) minutes of rehandling over all ports.
    pub rehandling_gang_minutes: i64,
    /// Vehicles loaded with no slot of their deck class left on the deck
    /// graph (0 unless a drawn deck is smaller than the space booked).
    pub vehicles_unstowed: u64,
    pub disruptions: Counters,
    /// What the live planner did (`--policy takt` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planner: Option<PlannerSummary>,
}

/// What the live planner of `--policy takt` did in a run (deterministic
/// for a seed; its timings are printed, not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannerSummary {
    /// Daily re-plans.
    pub replans: u64,
    /// Vehicles the re-plans routed again.
    pub replan_rerouted: u64,
    /// Repairs, by the kind of notice that asked for them.
    pub repairs: BTreeMap<String, u64>,
    /// Vehicles the repairs routed again.
    pub repair_rerouted: u64,
}

impl Summary {
    pub fn of(sim: &Simulation, seed: u64) -> Summary {
        let now = sim.now;
        let net = &sim.net;
        let mut released = 0;
        let mut delivered = 0;
        let mut on_time = 0;
        let mut rolled = 0;
        let mut port_dwell = Vec::new();
        let mut lead = Vec::new();
        let mut dwell: BTreeMap<Stage, Vec<f64>> = BTreeMap::new();
        let mut station_hours: BTreeMap<String, f64> = BTreeMap::new();
        let mut by_model: Vec<(usize, usize, usize, Vec<f64>)> =
            vec![(0, 0, 0, Vec::new()); net.models.len()];
        for v in &sim.vehicles {
            if v.steps.is_empty() {
                continue;
            }
            released += 1;
            by_model[v.model].0 += 1;
            if v.rolls > 0 {
                rolled += 1;
            }
            if let Some(d) = v.delivered_at.filter(|&d| d <= now) {
                delivered += 1;
                by_model[v.model].1 += 1;
                let days = d.since(v.released_at) as f64 / Minute::DAY as f64;
                lead.push(days);
                by_model[v.model].3.push(days);
                if d <= v.promised_by {
                    on_time += 1;
                    by_model[v.model].2 += 1;
                }
            }
            for s in &v.steps {
                if matches!(s.stage, Stage::Processing | Stage::Certification) && s.end <= now {
                    *station_hours.entry(s.stage.name().to_string()).or_default() +=
                        s.end.hours_since(s.start);
                }
            }
            let mut prev_end = v.released_at;
            for s in &v.steps {
                let closed = s.end <= now
                    && (s.end > s.start
                        || !matches!(s.stage, Stage::Released | Stage::Yard)
                        || s.stage == Stage::Released && v.steps.len() > 1
                        || s.stage == Stage::Yard && v.step(Stage::Loading).is_some());
                if !closed {
                    break;
                }
                dwell
                    .entry(s.stage)
                    .or_default()
                    .push(s.end.hours_since(prev_end));
                prev_end = s.end;
            }
            if let (Some(arr), Some(voy)) = (v.step(Stage::PortArrival), v.step(Stage::Voyage))
                && voy.start <= now
            {
                port_dwell.push(voy.start.hours_since(arr.start));
            }
        }
        let loads = sim.voyage_loads(now);
        let loaded: f64 = loads.iter().map(|l| l.1).sum();
        let booked: f64 = loads.iter().map(|l| l.2).sum();
        let ratio = |a: usize, b: usize| {
            if b == 0 {
                0.0
            } else {
                round4(a as f64 / b as f64)
            }
        };
        Summary {
            scenario: net.name.clone(),
            policy: sim.policy_name().to_string(),
            seed,
            start: net.start,
            end: now,
            vehicles_released: released,
            vehicles_delivered: delivered,
            vehicles_in_pipeline: released - delivered,
            on_time_rate: ratio(on_time, delivered),
            port_dwell_hours_mean: if port_dwell.is_empty() {
                0.0
            } else {
                round2(port_dwell.iter().sum::<f64>() / port_dwell.len() as f64)
            },
            dwell_hours: Stage::ALL
                .iter()
                .map(|s| {
                    (
                        s.name().to_string(),
                        Quantiles::of(
                            dwell
                                .get_mut(s)
                                .map(|v| v.as_mut_slice())
                                .unwrap_or(&mut []),
                        ),
                    )
                })
                .collect(),
            lead_time_days: Quantiles::of(&mut lead),
            vessel_utilization: if booked > 0.0 {
                round4(loaded / booked)
            } else {
                0.0
            },
            voyages_departed: loads.len(),
            vehicles_rolled: rolled,
            by_model: by_model
                .into_iter()
                .enumerate()
                .map(|(m, (r, d, ot, mut lt))| ModelSummary {
                    model: net.models[m].id.clone(),
                    released: r,
                    delivered: d,
                    on_time_rate: ratio(ot, d),
                    lead_time_days: Quantiles::of(&mut lt),
                })
                .collect(),
            station_hours: station_hours
                .into_iter()
                .map(|(k, h)| (k, round2(h)))
                .collect(),
            rehandling: sim
                .rehandling
                .iter()
                .map(|(&loc, r)| (net.locations[loc].id.clone(), *r))
                .collect(),
            rehandling_moves: sim.rehandling.values().map(|r| r.moves).sum(),
            rehandling_gang_minutes: sim.rehandling.values().map(|r| r.gang_minutes).sum(),
            planner: None,
            vehicles_unstowed: sim.unstowed,
            disruptions: sim.counters.clone(),
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
