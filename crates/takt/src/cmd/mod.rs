//! One file per subcommand.

pub mod bench;
pub mod cert;
pub mod check;
pub mod demo;
pub mod eta;
pub mod export;
pub mod history;
pub mod ingest;
pub mod insight;
pub mod instance;
pub mod plan;
pub mod replay;
pub mod scenario;
pub mod serve;
pub mod simulate;
pub mod stow;
pub mod vin;

use anyhow::{Result, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use takt_core::Minute;
use takt_core::network::Network;
use takt_sim::{Milestone, SimOptions, Simulation, policy};

/// Runs a simulation day by day, handing milestones to `sink` as they
/// come, with a progress bar when standard error is a terminal.
pub fn run_simulation(
    net: Network,
    policy_name: &str,
    seed: u64,
    volume_scale: f64,
    mut sink: impl FnMut(Vec<Milestone>) -> Result<()>,
) -> Result<Simulation> {
    let policy = policy::by_name(policy_name).ok_or_else(|| {
        anyhow!(
            "unknown policy `{policy_name}`; known: {}",
            policy::POLICY_NAMES.join(", ")
        )
    })?;
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
    for day in 1..=days {
        sim.run_until(start.plus(day * Minute::DAY));
        sink(sim.drain_milestones())?;
        bar.set_position(day as u64);
        bar.set_message(format!("{} vehicles", sim.vehicles.len()));
    }
    bar.finish_and_clear();
    Ok(sim)
}
