//! One file per subcommand.

pub mod bench;
pub mod cert;
pub mod check;
pub mod demo;
pub mod eta;
pub mod eta_refresh;
pub mod export;
pub mod history;
pub mod ingest;
pub mod insight;
pub mod instance;
pub mod network;
pub mod plan;
pub mod repair;
pub mod repair_bench;
pub mod replay;
pub mod scenario;
pub mod serve;
pub mod simulate;
pub mod stow;
pub mod token;
pub mod vin;

/// CPU time this process has used so far, all threads, in milliseconds
/// (`CLOCK_PROCESS_CPUTIME_ID`): what a measurement on a shared machine
/// costs, which others' load inflates far less than wall time.
pub(crate) fn process_cpu_ms() -> Option<f64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into the struct we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    (rc == 0).then(|| t.tv_sec as f64 * 1000.0 + t.tv_nsec as f64 / 1e6)
}

use anyhow::{Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use takt_core::Minute;
use takt_core::network::Network;
use takt_sim::{Milestone, PlannerSummary, SimOptions, Simulation, policy};

/// Candidates per thread at each daily re-plan of the `takt` policy.
pub const REPLAN_CANDIDATES: u64 = 12;

/// The policy called `name`, and for `takt` the live sequencer that
/// re-plans once a simulated day (the caller calls its `replan`).
pub fn policy_for(
    name: &str,
    seed: u64,
) -> Result<(Option<takt_plan::live::Live>, Box<dyn policy::Policy>)> {
    if name == "takt" {
        let live = takt_plan::live::Live::new(takt_plan::Params {
            seed,
            threads: 2,
            max_iterations: Some(REPLAN_CANDIDATES),
        });
        let policy = live.policy();
        return Ok((Some(live), policy));
    }
    let policy = policy::by_name(name).ok_or_else(|| {
        anyhow!(
            "unknown policy `{name}`; known: {}, takt",
            policy::POLICY_NAMES.join(", ")
        )
    })?;
    Ok((None, policy))
}

/// Runs a simulation day by day, handing milestones to `sink` as they
/// come, with a progress bar when standard error is a terminal.
pub fn run_simulation(
    net: Network,
    policy_name: &str,
    seed: u64,
    volume_scale: f64,
    mut sink: impl FnMut(Vec<Milestone>) -> Result<()>,
) -> Result<(Simulation, Option<Planned>)> {
    let (mut live, policy) = policy_for(policy_name, seed)?;
    let days = net.end.since(net.start) / Minute::DAY;
    let mut sim = Simulation::new(net, policy, SimOptions { seed, volume_scale });
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(days as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} simulating day {pos}/{len} {bar:30} {msg}")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let start = sim.net.start;
    let mut repair_ms = Vec::new();
    let t0 = std::time::Instant::now();
    let clock = || t0.elapsed().as_secs_f64() * 1000.0;
    for day in 1..=days {
        let until = start.plus(day * Minute::DAY);
        if let Some(l) = &mut live {
            // Repairs at every disruption on the way, then the day's re-plan.
            let took = l
                .advance(&mut sim, until, &clock)
                .map_err(|e| anyhow!("planning on day {day}: {e}"))?;
            repair_ms.extend(took);
        } else {
            sim.run_until(until);
        }
        sink(sim.drain_milestones())?;
        bar.set_position(day as u64);
        bar.set_message(format!("{} vehicles", sim.vehicles.len()));
    }
    bar.finish_and_clear();
    let planned = live.map(|l| Planned {
        summary: PlannerSummary {
            replans: l.replans,
            replan_rerouted: l.rerouted,
            repairs: l.repairs.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            repair_rerouted: l.repair_rerouted,
        },
        repair_ms,
    });
    Ok((sim, planned))
}

/// Nearest-rank quantile `p` of a sorted sample (NaN when it is empty).
pub(crate) fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

/// What the live planner did in a run, and how long each repair took
/// (wall-clock milliseconds, in the order they ran).
pub struct Planned {
    pub summary: PlannerSummary,
    pub repair_ms: Vec<f64>,
}

impl Planned {
    /// One line for people: re-plans, repairs and their latency.
    pub fn line(&self) -> String {
        let mut ms = self.repair_ms.clone();
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| if ms.is_empty() { 0.0 } else { quantile(&ms, p) };
        let s = &self.summary;
        let kinds: Vec<String> = s.repairs.iter().map(|(k, n)| format!("{n} {k}")).collect();
        format!(
            "planner: {} re-plans routed {} vehicles again; {} repairs ({}) routed {} again, {:.1} ms p50, {:.1} ms p99, {:.1} ms max",
            s.replans,
            s.replan_rerouted,
            s.repairs.values().sum::<u64>(),
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            },
            s.repair_rerouted,
            q(0.5),
            q(0.99),
            ms.last().copied().unwrap_or(0.0)
        )
    }
}
