//! Setup shared by the sequencer's integration tests.
#![allow(dead_code)]

use takt_core::instance::Instance;
use takt_core::network::{CompileOptions, Network};
use takt_core::plan::Plan;
use takt_sim::{Fifo, SimOptions, Simulation};

pub const OTHER: &str = include_str!("../../../takt-sim/tests/data/other-network.toml");
pub const TWO_BY_THREE: &str = include_str!("../../../takt-sim/tests/data/two-by-three.toml");

/// A scenario compiled for `days` at `scale`.
pub fn network(text: &str, days: u32, scale: f64) -> Network {
    Network::load(
        text,
        CompileOptions {
            days,
            volume_scale: scale,
        },
    )
    .unwrap()
    .1
}

/// The instance at the end of a FIFO run of `days`.
pub fn instance(text: &str, days: u32, seed: u64, scale: f64) -> (Network, Instance) {
    let net = network(text, days, scale);
    let mut sim = Simulation::new(
        net.clone(),
        Box::new(Fifo),
        SimOptions {
            seed,
            volume_scale: scale,
        },
    );
    sim.run_to_end();
    (net, sim.instance())
}

/// Panics with the checker's first violations unless `plan` is feasible.
pub fn feasible(net: &Network, plan: &Plan, what: &str) {
    let report = takt_check::check(net, plan);
    assert!(
        report.is_feasible(),
        "{what}: {}\n{:#?}",
        takt_check::check_summary(&report),
        report.violations.iter().take(5).collect::<Vec<_>>()
    );
}
