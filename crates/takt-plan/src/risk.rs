//! The price of a roll the projection cannot see.
//!
//! A plan is projected at mean inland transit times, so a train that is
//! late (the transit's own spread, and the scenario's inland delays on top
//! of it, `[disruptions] inland_delay_probability` and `inland_delay`)
//! never misses a cutoff in it. [`RollRisk`] prices that risk for every
//! vehicle whose train has not yet reached the export terminal: the chance
//! that its train arrives too late for the vehicle to be processed by its
//! voyage's cutoff, times what the miss would cost.
//!
//! Too late means: the vehicle's train arrives at `a` and the terminal's
//! processing calendar (its shifts: a train that slips into a weekend waits
//! for Monday) must work the vehicle and every vehicle of the same train
//! planned before it, plus whatever other work the plan queued ahead of it,
//! before the cutoff. The transit distribution (with delays) comes from the
//! scenario, drawn once from a fixed seed
//! ([`takt_sim::dist::delayed_transit_draws`]), so the price is a pure
//! function of the network and the plan.

use std::collections::HashMap;
use takt_core::Minute;
use takt_core::network::Network;
use takt_core::plan::{Plan, Stage};
use takt_sim::dist::delayed_transit_draws;

/// Draws per inland service of its transit time with delays.
const DRAWS: usize = 4000;

/// Transit distributions and voyage intervals of one network.
#[derive(Debug, Clone)]
pub struct RollRisk {
    /// Per inland service, sorted draws of transit minutes, delays included.
    transit: Vec<Vec<i64>>,
    /// Per (voyage, export call): minutes to the next voyage of the same
    /// service at the same port (what a roll costs in waiting).
    next_gap: HashMap<(usize, usize), i64>,
}

impl RollRisk {
    pub fn new(net: &Network) -> RollRisk {
        let d = &net.disruptions;
        let transit = net
            .inland
            .iter()
            .map(|svc| {
                delayed_transit_draws(
                    &svc.transit,
                    d.inland_delay_probability,
                    &d.inland_delay,
                    DRAWS,
                )
            })
            .collect();
        let mut next_gap = HashMap::new();
        for (vi, v) in net.voyages.iter().enumerate() {
            for c in 0..v.n_export_calls {
                let here = v.calls[c];
                let next = net
                    .voyages
                    .iter()
                    .filter(|w| w.service == v.service)
                    .filter_map(|w| w.call_at(here.location).map(|k| w.calls[k].berth))
                    .filter(|&b| b > here.berth)
                    .min();
                if let Some(b) = next {
                    next_gap.insert((vi, c), b.since(here.berth));
                }
            }
        }
        RollRisk { transit, next_gap }
    }

    /// Chance that a transit of `svc` takes longer than `minutes`, given
    /// that it has taken longer than `elapsed` already.
    pub fn p_longer(&self, svc: usize, minutes: i64, elapsed: i64) -> f64 {
        let xs = &self.transit[svc];
        let over = |m: i64| xs.len() - xs.partition_point(|&x| x <= m);
        let given = over(elapsed.max(-1));
        if given == 0 {
            // Already later than every draw: it will be later still.
            return if minutes > elapsed { 1.0 } else { 0.0 };
        }
        over(minutes.max(elapsed)) as f64 / given as f64
    }

    /// Expected cost in USD of the rolls a plan's projection does not show:
    /// summed over vehicles not yet at their export terminal, the chance of
    /// missing the cutoff times a roll's cost (the scenario's roll price,
    /// the wait for the next voyage of the service at dwell and export-yard
    /// prices, and the lateness that wait adds).
    pub fn usd(&self, net: &Network, plan: &Plan) -> f64 {
        self.vehicles(net, plan)
            .iter()
            .map(|r| r.p_miss * r.cost_usd)
            .sum()
    }

    /// Each exposed vehicle's chance of a miss and its cost, by index in the plan.
    pub fn vehicles(&self, net: &Network, plan: &Plan) -> Vec<Exposure> {
        let w = &net.objective;
        let now = plan.created_at;
        // Per train (service, departure, terminal): its vehicles' processing
        // starts, so each vehicle knows how many of its train go first.
        let mut trains: HashMap<(usize, Minute, usize), Vec<Minute>> = HashMap::new();
        let mut exposed = Vec::new();
        for (i, v) in plan.vehicles.iter().enumerate() {
            let (Some(inland), Some(arrival), Some(proc), Some(voyage)) = (
                v.step(Stage::Inland),
                v.step(Stage::PortArrival),
                v.step(Stage::Processing),
                v.step(Stage::Voyage),
            ) else {
                continue;
            };
            if arrival.start <= now || proc.start < now {
                continue;
            }
            let (Some(svc), Some(loc), Some(vi), Some(model)) = (
                net.inland_index(&inland.resource),
                net.location_index(&arrival.location),
                net.voyage_index(&voyage.resource),
                net.model_index(&v.model),
            ) else {
                continue;
            };
            let Some(term) = net.export_terminal_at(loc) else {
                continue;
            };
            let Some(call) = net.voyages[vi].call_at(loc) else {
                continue;
            };
            let departed = inland.departure.unwrap_or(inland.start);
            trains
                .entry((svc, departed, term))
                .or_default()
                .push(proc.start);
            exposed.push((i, svc, departed, term, vi, call, model));
        }
        for starts in trains.values_mut() {
            starts.sort_unstable();
        }
        exposed
            .into_iter()
            .map(|(i, svc, departed, term, vi, call, model)| {
                let v = &plan.vehicles[i];
                let t = &net.export_terminals[term];
                let cal = &net.resources[t.processing.resource].calendar;
                let minutes = net.models[model].processing_minutes;
                let ramp = t.ramp.minutes_per_vehicle;
                let arrival = v.step(Stage::PortArrival).expect("exposed").start;
                let proc = v.step(Stage::Processing).expect("exposed");
                let cutoff = net.voyages[vi].calls[call].berth.plus(-t.cutoff_minutes);
                // Vehicles of the train worked before this one, and itself.
                let starts = &trains[&(svc, departed, term)];
                let ahead = starts.partition_point(|&s| s < proc.start) as i64 + 1;
                let work = ahead * minutes;
                let worked = |a: Minute| cal.work_done_by(a.plus(ramp), work);
                // Waiting the plan shows beyond the train's own work.
                let queue = proc.end.since(worked(arrival)).max(0);
                let staged = |a: Minute| worked(a).plus(queue);
                // The latest arrival that still makes the cutoff.
                let latest = if staged(arrival) > cutoff {
                    None
                } else {
                    let (mut lo, mut hi) = (arrival, cutoff);
                    while hi.since(lo) > 1 {
                        let mid = lo.plus(hi.since(lo) / 2);
                        if staged(mid) <= cutoff {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    Some(lo)
                };
                let p_miss = match latest {
                    None => 1.0,
                    Some(l) => self.p_longer(svc, l.since(departed), now.since(departed)),
                };
                let gap = self
                    .next_gap
                    .get(&(vi, call))
                    .copied()
                    .unwrap_or(7 * Minute::DAY);
                let delivered = v.step(Stage::Delivery).map_or(v.promised_by, |d| d.end);
                let late =
                    |end: Minute| end.since(v.promised_by).max(0) as f64 / Minute::DAY as f64;
                let extra_late_days = late(delivered.plus(gap)) - late(delivered);
                let cost_usd = w.roll_usd_per_vehicle
                    + gap as f64 / 60.0
                        * (w.dwell_usd_per_vehicle_hour + w.export_yard_usd_per_vehicle_hour)
                    + extra_late_days * w.lateness_usd_per_vehicle_day;
                Exposure {
                    vehicle: i,
                    p_miss,
                    cost_usd,
                }
            })
            .collect()
    }
}

/// One vehicle's exposure to a roll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exposure {
    /// Index in the plan's vehicles.
    pub vehicle: usize,
    pub p_miss: f64,
    pub cost_usd: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_core::network::CompileOptions;
    use takt_core::scenario::BUILTIN_US_JAPAN;
    use takt_sim::{Fifo, SimOptions, Simulation};

    fn network() -> Network {
        Network::load(
            BUILTIN_US_JAPAN,
            CompileOptions {
                days: 28,
                volume_scale: 1.0,
            },
        )
        .unwrap()
        .1
    }

    #[test]
    fn delays_make_the_transit_tail_heavier_than_its_own_spread() {
        // Without the scenario's inland delays a train is later than its
        // transit's 90th percentile one time in ten; with them (one train
        // in five delayed), clearly more often.
        let net = network();
        let risk = RollRisk::new(&net);
        for (svc, info) in net.inland.iter().enumerate() {
            let p = risk.p_longer(svc, info.transit.p90_minutes(), 0);
            assert!(p > 0.12 && p < 0.35, "{}: {p}", info.id);
        }
    }

    #[test]
    fn a_train_already_late_is_likelier_to_be_later_still() {
        let net = network();
        let risk = RollRisk::new(&net);
        let mean = net.inland[0].transit.mean_minutes();
        let p = risk.p_longer(0, mean + 24 * 60, 0);
        let given = risk.p_longer(0, mean + 24 * 60, mean);
        assert!(given > p, "{given} vs {p}");
        // Longer than what has already elapsed: certain.
        assert_eq!(risk.p_longer(0, mean, mean + 60), 1.0);
    }

    #[test]
    fn only_vehicles_not_yet_at_their_terminal_carry_the_risk() {
        let net = network();
        let mut sim = Simulation::new(
            net.clone(),
            Box::new(Fifo),
            SimOptions {
                seed: 1,
                volume_scale: 1.0,
            },
        );
        sim.run_until(net.start.plus(14 * Minute::DAY));
        let plan = sim.plan(false);
        let risk = RollRisk::new(&net);
        let exposed = risk.vehicles(&net, &plan);
        assert!(!exposed.is_empty());
        for e in &exposed {
            let v = &plan.vehicles[e.vehicle];
            let arrival = v.step(Stage::PortArrival).unwrap();
            assert!(arrival.start > plan.created_at, "{} is at the port", v.vin);
            assert!((0.0..=1.0).contains(&e.p_miss));
            assert!(e.cost_usd >= net.objective.roll_usd_per_vehicle);
        }
        let total: f64 = exposed.iter().map(|e| e.p_miss * e.cost_usd).sum();
        assert!((risk.usd(&net, &plan) - total).abs() < 1e-6);
    }
}
