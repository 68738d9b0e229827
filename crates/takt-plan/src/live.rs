//! The sequencer in the loop: `takt simulate --policy takt`.
//!
//! The world runs with a [`Guided`] policy whose genes are shared with a
//! [`Live`] planner. At every re-plan (once a simulated day by default) the
//! planner takes the world's instance, plans it with the sequencer (a fixed
//! number of candidates, so runs stay deterministic for a seed), writes
//! the new genes and routes again the vehicles whose plan no longer keeps
//! their booking. Between re-plans the world decides by the genes: new
//! vehicles ship just in time on the first voyage to the dealer's port,
//! and queues are served by promised date.
//!
//! Between re-plans the world tells the planner what goes wrong as it
//! happens ([`takt_sim::world::Notice`]: a station down, a hold placed, a
//! train or a vessel late), and [`Live::repair`] repairs the plan at once:
//! the same decisions decoded on the world as it is now, then a short
//! search over the vehicles the notice reaches that have left their plant,
//! charging every vehicle whose voyage or delivery it moves (as `takt
//! repair` does), so the plan changes only where the objective pays for it.

use crate::guided::{Gene, Guided};
use crate::repair::{CHANGE_USD_PER_DELIVERY_HOUR, CHANGE_USD_PER_VOYAGE, diff};
use crate::search::{Params, decode, improve_among, solve_with};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use takt_core::Minute;
use takt_core::plan::{Plan, Stage};
use takt_sim::Simulation;
use takt_sim::world::{Notice, RestoreError};

/// Candidates per thread a repair tries (a re-plan tries more).
pub const REPAIR_CANDIDATES: u64 = 4;

/// What vehicles without a plan yet do: just in time, first voyage.
pub const FALLBACK: Gene = Gene {
    keep: false,
    voyage_rank: 0,
    service_rank: 0,
    late: true,
    snug: true,
    tight: false,
    urgency_hours: 0,
    keep_place: false,
};

/// Vehicle-hours at export terminals that a plan still has ahead: from
/// each vehicle's port arrival (or the plan's creation, if later) to its
/// vessel's departure, or to the end of its last planned step when it has
/// no voyage.
pub fn export_yard_hours(plan: &Plan) -> f64 {
    let created = plan.created_at;
    let minutes: i64 = plan
        .vehicles
        .iter()
        .filter_map(|v| {
            let arrived = v.step(Stage::PortArrival)?.start;
            let left = v
                .step(Stage::Voyage)
                .map(|s| s.start)
                .or_else(|| v.steps.last().map(|s| s.end))?;
            Some(left.since(arrived.max(created)).max(0))
        })
        .sum();
    minutes as f64 / 60.0
}

/// The live planner and the genes it shares with the world's policy.
#[derive(Debug, Clone)]
pub struct Live {
    genes: Arc<RwLock<Vec<Gene>>>,
    pub params: Params,
    /// Re-plans so far, vehicles routed again, candidates decoded.
    pub replans: u64,
    pub rerouted: u64,
    pub candidates: u64,
    /// Repairs so far, by the kind of notice that asked for them (a repair
    /// that answers several notices of the same minute counts once, under
    /// the first).
    pub repairs: BTreeMap<&'static str, u64>,
    /// Vehicles the repairs routed again.
    pub repair_rerouted: u64,
}

/// The notice's kind, as the summary names it.
pub fn notice_kind(n: &Notice) -> &'static str {
    match n {
        Notice::StationDown { .. } => "station_down",
        Notice::HoldPlaced { .. } => "hold_placed",
        Notice::ArrivedLate { .. } => "arrived_late",
        Notice::VesselLate { .. } => "vessel_late",
    }
}

impl Live {
    pub fn new(params: Params) -> Live {
        Live {
            genes: Arc::new(RwLock::new(Vec::new())),
            params,
            replans: 0,
            rerouted: 0,
            candidates: 0,
            repairs: BTreeMap::new(),
            repair_rerouted: 0,
        }
    }

    /// The policy to build the world with.
    pub fn policy(&self) -> Box<dyn takt_sim::Policy> {
        Box::new(Guided::shared(self.genes.clone(), FALLBACK))
    }

    /// Plans the world's pipeline now and applies the plan's decisions.
    pub fn replan(&mut self, sim: &mut Simulation) -> Result<(), RestoreError> {
        let inst = sim.instance();
        let vids = sim.pipeline();
        debug_assert_eq!(inst.vehicles.len(), vids.len());
        if vids.is_empty() {
            return Ok(());
        }
        // The live objective: the plan objective plus the export terminal's
        // vehicle-hours at the scenario's price (`[objective]
        // export_yard_usd_per_vehicle_hour`), so that of two plans equal
        // otherwise the one that waits at the plant rather than in the
        // shared port yard wins (the plan objective's dwell weighs an hour
        // the same wherever it is spent).
        let usd_per_hour = sim.net.objective.export_yard_usd_per_vehicle_hour;
        let solved = solve_with(&sim.net, &inst, &self.params, &|| 0.0, &|plan: &Plan| {
            export_yard_hours(plan) * usd_per_hour
        })?;
        {
            let mut genes = self.genes.write().expect("genes lock");
            if genes.len() < sim.vehicles.len() {
                genes.resize(sim.vehicles.len(), FALLBACK);
            }
            for (i, &vid) in vids.iter().enumerate() {
                genes[vid] = solved.genes[i];
            }
        }
        // Vehicles the plan routes again, most urgent first (as the decode did).
        let mut free: Vec<usize> = vids
            .iter()
            .enumerate()
            .filter(|&(i, _)| !solved.genes[i].keep)
            .map(|(_, &vid)| vid)
            .collect();
        free.sort_by_key(|&vid| (sim.vehicles[vid].promised_by, vid));
        self.rerouted += sim.reroute(&free) as u64;
        self.replans += 1;
        self.candidates += solved.iterations;
        Ok(())
    }

    /// Runs the world to `until`, repairing at every notice on the way.
    /// `clock` is the caller's clock in milliseconds (the core reads none);
    /// the result is the time each repair took by it.
    pub fn run_until(
        &mut self,
        sim: &mut Simulation,
        until: Minute,
        clock: &dyn Fn() -> f64,
    ) -> Result<Vec<f64>, RestoreError> {
        sim.watch = true;
        let mut took = Vec::new();
        while sim.run_until_notice(until) {
            let notices = sim.take_notices();
            let t = clock();
            if self.repair(sim, &notices)? {
                took.push(clock() - t);
            }
        }
        Ok(took)
    }

    /// [`Live::run_until`] `until` (the next re-plan), then re-plans.
    pub fn advance(
        &mut self,
        sim: &mut Simulation,
        until: Minute,
        clock: &dyn Fn() -> f64,
    ) -> Result<Vec<f64>, RestoreError> {
        let took = self.run_until(sim, until, clock)?;
        self.replan(sim)?;
        Ok(took)
    }

    /// Repairs the plan after `notices` (raised at the world's `now`): the
    /// pipeline's decisions decoded on the world as it is now, improved by
    /// [`REPAIR_CANDIDATES`] candidates per thread against the live
    /// objective plus the price of every change (a voyage changed, an hour
    /// of delivery moved); vehicles whose decisions changed and no longer
    /// keep their booking are routed again. Deterministic for a seed.
    /// False when no vehicle the notices reach can still change (nothing
    /// was repaired).
    pub fn repair(
        &mut self,
        sim: &mut Simulation,
        notices: &[Notice],
    ) -> Result<bool, RestoreError> {
        let vids = sim.pipeline();
        let affected = affected(sim, &vids, notices);
        let Some(first) = notices.first() else {
            return Ok(false);
        };
        if affected.is_empty() {
            return Ok(false);
        }
        let inst = sim.instance();
        debug_assert_eq!(inst.vehicles.len(), vids.len());
        let genes: Vec<Gene> = {
            let g = self.genes.read().expect("genes lock");
            vids.iter()
                .map(|&v| g.get(v).copied().unwrap_or(FALLBACK))
                .collect()
        };
        let (kept, kept_objective) = decode(&sim.net, &inst, &genes)?;
        let before = kept.clone();
        let usd_per_hour = sim.net.objective.export_yard_usd_per_vehicle_hour;
        let penalty = |p: &Plan| {
            let d = diff(&before, p);
            export_yard_hours(p) * usd_per_hour
                + d.voyage_changed.len() as f64 * CHANGE_USD_PER_VOYAGE
                + d.delivery_moved.iter().map(|(_, h)| h.abs()).sum::<f64>()
                    * CHANGE_USD_PER_DELIVERY_HOUR
        };
        let n = self.repairs.values().sum::<u64>();
        let params = Params {
            // Each repair its own stream, the same for the same run.
            seed: self.params.seed ^ (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            threads: self.params.threads,
            max_iterations: Some(REPAIR_CANDIDATES),
        };
        let out = improve_among(
            &sim.net,
            &inst,
            (genes.clone(), kept, kept_objective),
            &params,
            &|| 0.0,
            &penalty,
            0.0,
            Some(&affected),
        );
        let mut free = Vec::new();
        {
            let mut g = self.genes.write().expect("genes lock");
            if g.len() < sim.vehicles.len() {
                g.resize(sim.vehicles.len(), FALLBACK);
            }
            for (i, &vid) in vids.iter().enumerate() {
                let new = out.genes[i];
                if new != genes[i] && !new.keep {
                    free.push(vid);
                }
                g[vid] = new;
            }
        }
        free.sort_by_key(|&vid| (sim.vehicles[vid].promised_by, vid));
        self.repair_rerouted += sim.reroute(&free) as u64;
        *self.repairs.entry(notice_kind(first)).or_default() += 1;
        self.candidates += out.iterations;
        Ok(true)
    }
}

/// The vehicles a repair may change (indexes into `vids`, the pipeline the
/// instance lists): those the notices reach that have left the plant and
/// are not yet loaded — the vehicles of a late train, the vehicle put on
/// hold, those booked on a late vessel, those heading to or at a terminal
/// whose station went down. A vehicle still at its plant is left to the
/// daily re-plan, whose constructions back a departure off where the
/// terminal cannot keep up: the repair's short search, on the same
/// projection at mean transit times, took riskier departures and rolled
/// more vehicles (BENCHMARKS.md, "Repairs in the loop").
fn affected(sim: &Simulation, vids: &[usize], notices: &[Notice]) -> Vec<usize> {
    let reached = |vid: usize| {
        let v = &sim.vehicles[vid];
        let at_plant = v.last_stage() == Some(Stage::Released);
        !v.loaded
            && !at_plant
            && notices.iter().any(|n| match n {
                Notice::ArrivedLate { vids, .. } => vids.contains(&vid),
                Notice::HoldPlaced { vid: held } => *held == vid,
                Notice::VesselLate { voyage, .. } => v.route.is_some_and(|r| r.voyage == *voyage),
                Notice::StationDown { terminal, .. } => v.terminal == Some(*terminal),
            })
    };
    vids.iter()
        .enumerate()
        .filter(|&(_, &vid)| reached(vid))
        .map(|(i, _)| i)
        .collect()
}
