//! The objective: what a plan costs, in US dollars, and why.
//!
//! One function scores any feasible plan, whoever made it, so every policy
//! and solver is compared on the same terms (`takt check` prints it). The
//! weights are scenario data (`[objective]`); docs/objective.md defines each
//! term.

use crate::network::Network;
use crate::plan::{Plan, Stage};
use crate::time::Minute;
use serde::Serialize;
use std::collections::HashMap;

/// A plan's cost, term by term.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    pub n_vehicles: usize,
    /// Days delivered after the promised date, summed over vehicles.
    pub lateness_vehicle_days: f64,
    pub lateness_usd: f64,
    /// Hours not in any stage's service or transit: stays in yards and
    /// waits between stages, summed over vehicles.
    pub dwell_vehicle_hours: f64,
    pub dwell_usd: f64,
    pub vehicles_rolled: usize,
    pub roll_usd: f64,
    /// Booked RT43 left empty on the voyages the plan's span covers.
    pub unused_space_rt43: f64,
    pub unused_space_usd: f64,
    pub transport_usd: f64,
    pub vehicles_unplaced: usize,
    pub unplaced_usd: f64,
    pub total_usd: f64,
}

/// Stages that are a stay or a wait rather than work or transport.
fn is_stay(stage: Stage) -> bool {
    matches!(stage, Stage::Released | Stage::Yard)
}

/// Scores a plan. Vehicles or voyages the network does not know are
/// skipped here; the checker reports them.
pub fn evaluate(net: &Network, plan: &Plan) -> Objective {
    let w = &net.objective;
    let mut lateness_days = 0.0;
    let mut dwell_hours = 0.0;
    let mut rolled = 0;
    let mut unplaced = 0;
    let mut transport = 0.0;
    let mut loaded: HashMap<(usize, usize, usize), f64> = HashMap::new();
    let mut span: Option<(Minute, Minute)> = None;
    for v in &plan.vehicles {
        if v.rolls > 0 {
            rolled += 1;
        }
        if v.unplaced.is_some() {
            unplaced += 1;
        } else if let Some(d) = v.step(Stage::Delivery) {
            let late = d.end.since(v.promised_by);
            if late > 0 {
                lateness_days += late as f64 / Minute::DAY as f64;
            }
        }
        let mut prev_end = v.released_at;
        for s in &v.steps {
            dwell_hours += s.start.since(prev_end).max(0) as f64 / 60.0;
            if is_stay(s.stage) {
                dwell_hours += s.end.since(s.start).max(0) as f64 / 60.0;
            }
            prev_end = s.end;
            match s.stage {
                Stage::Inland => {
                    if let Some(i) = net.inland_index(&s.resource) {
                        transport += net.inland[i].cost_per_vehicle_usd;
                    }
                }
                Stage::Voyage => {
                    let (Some(vx), Some(m), Some(t)) = (
                        net.voyage_index(&s.resource),
                        net.model_index(&v.model),
                        net.tenant_index(&v.tenant),
                    ) else {
                        continue;
                    };
                    let Some(deck) = s
                        .deck_class
                        .as_deref()
                        .and_then(|d| net.deck_classes.iter().position(|c| c.id == d))
                    else {
                        continue;
                    };
                    *loaded.entry((vx, t, deck)).or_default() += net.models[m].rt43;
                    span = Some(match span {
                        None => (s.start, s.start),
                        Some((a, b)) => (a.min(s.start), b.max(s.start)),
                    });
                }
                _ => {}
            }
        }
    }
    // Booked space left empty on every voyage whose departure from its last
    // export port falls within the span of the plan's sailings.
    let mut unused = 0.0;
    if let Some((from, to)) = span {
        for (vx, voyage) in net.voyages.iter().enumerate() {
            let last_export = voyage.calls[voyage.n_export_calls - 1];
            let departs = plan
                .voyages
                .iter()
                .find(|t| t.voyage == voyage.id)
                .and_then(|t| t.calls.get(voyage.n_export_calls - 1))
                .map_or(last_export.depart, |c| c.depart);
            if departs < from || departs > to.plus(Minute::DAY) {
                continue;
            }
            for (t, decks) in voyage.booked.iter().enumerate() {
                for (d, &booked) in decks.iter().enumerate() {
                    let used = loaded.get(&(vx, t, d)).copied().unwrap_or(0.0);
                    unused += (booked - used).max(0.0);
                }
            }
        }
    }
    let lateness_usd = lateness_days * w.lateness_usd_per_vehicle_day;
    let dwell_usd = dwell_hours * w.dwell_usd_per_vehicle_hour;
    let roll_usd = rolled as f64 * w.roll_usd_per_vehicle;
    let unused_usd = unused * w.unused_space_usd_per_rt43;
    let transport_usd = transport * w.transport_cost_weight;
    let unplaced_usd = unplaced as f64 * w.unplaced_usd_per_vehicle;
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    Objective {
        n_vehicles: plan.vehicles.len(),
        lateness_vehicle_days: r2(lateness_days),
        lateness_usd: r2(lateness_usd),
        dwell_vehicle_hours: r2(dwell_hours),
        dwell_usd: r2(dwell_usd),
        vehicles_rolled: rolled,
        roll_usd: r2(roll_usd),
        unused_space_rt43: r2(unused),
        unused_space_usd: r2(unused_usd),
        transport_usd: r2(transport_usd),
        vehicles_unplaced: unplaced,
        unplaced_usd: r2(unplaced_usd),
        total_usd: r2(lateness_usd
            + dwell_usd
            + roll_usd
            + unused_usd
            + transport_usd
            + unplaced_usd),
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "objective {:.2} USD over {} vehicles:",
            self.total_usd, self.n_vehicles
        )?;
        writeln!(
            f,
            "  lateness       {:>14.2} USD  ({:.2} vehicle-days late)",
            self.lateness_usd, self.lateness_vehicle_days
        )?;
        writeln!(
            f,
            "  dwell          {:>14.2} USD  ({:.1} vehicle-hours)",
            self.dwell_usd, self.dwell_vehicle_hours
        )?;
        writeln!(
            f,
            "  rolled         {:>14.2} USD  ({} vehicles)",
            self.roll_usd, self.vehicles_rolled
        )?;
        writeln!(
            f,
            "  unused space   {:>14.2} USD  ({:.1} RT43 booked, not loaded)",
            self.unused_space_usd, self.unused_space_rt43
        )?;
        writeln!(f, "  transport      {:>14.2} USD", self.transport_usd)?;
        write!(
            f,
            "  unplaced       {:>14.2} USD  ({} vehicles)",
            self.unplaced_usd, self.vehicles_unplaced
        )
    }
}
