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

use crate::guided::{Gene, Guided};
use crate::search::{Params, solve_with};
use std::sync::{Arc, RwLock};
use takt_core::plan::{Plan, Stage};
use takt_sim::Simulation;
use takt_sim::world::RestoreError;

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
}

impl Live {
    pub fn new(params: Params) -> Live {
        Live {
            genes: Arc::new(RwLock::new(Vec::new())),
            params,
            replans: 0,
            rerouted: 0,
            candidates: 0,
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
}
