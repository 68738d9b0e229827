//! `takt instance`: a planning instance of about N vehicles from a scenario.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use takt_sim::{Fifo, SimOptions, Simulation};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (TOML); the built-in `us-japan` when omitted.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Vehicles wanted in the pipeline at the snapshot; the scenario's
    /// volume and capacities are scaled to reach about that many.
    #[arg(long, default_value_t = 2000)]
    pub vehicles: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Day of the simulation at which the snapshot is taken (default: the scenario's `days`).
    #[arg(long)]
    pub days: Option<u32>,
    /// Instance file to write (JSON, see docs/instance.md).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Simulates with the FIFO policy at `scale` and snapshots at the end.
fn snapshot(args: &Args, days: Option<u32>, scale: f64) -> Result<takt_core::instance::Instance> {
    let sargs = crate::load::ScenarioArgs {
        scenario: args.scenario.clone(),
        volume_scale: scale,
    };
    let (_, net) = crate::load::network(&sargs, days)?;
    let mut sim = Simulation::new(
        net,
        Box::new(Fifo),
        SimOptions {
            seed: args.seed,
            volume_scale: scale,
        },
    );
    sim.run_to_end();
    Ok(sim.instance())
}

pub fn run(args: Args) -> Result<ExitCode> {
    anyhow::ensure!(args.vehicles > 0, "--vehicles must be at least 1");
    let base = crate::load::ScenarioArgs {
        scenario: args.scenario.clone(),
        volume_scale: 1.0,
    };
    let (scenario, _) = crate::load::network(&base, args.days)?;
    let days = args.days.unwrap_or(scenario.scenario.days);
    // First guess: the pipeline holds about five weeks of demand; then correct once.
    let per_year: f64 = scenario.models.iter().map(|m| m.annual_volume as f64).sum();
    let mut scale = (args.vehicles as f64 / (per_year * 35.0 / 365.25)).max(0.01);
    let mut instance = snapshot(&args, Some(days), scale)?;
    if !instance.vehicles.is_empty() {
        let ratio = args.vehicles as f64 / instance.vehicles.len() as f64;
        if !(0.9..=1.1).contains(&ratio) {
            scale *= ratio;
            instance = snapshot(&args, Some(days), scale)?;
        }
    }
    super::simulate::write_json(&args.out, &instance)?;
    let at_sea = instance
        .vehicles
        .iter()
        .filter(|v| {
            v.steps
                .last()
                .is_some_and(|s| s.stage == takt_core::Stage::Voyage)
        })
        .count();
    println!(
        "instance at {} (day {days}, volume scale {:.3}, seed {}): {} vehicles in the pipeline ({} at sea), {} voyages; written to {}",
        instance.now,
        instance.volume_scale,
        args.seed,
        instance.vehicles.len(),
        at_sea,
        instance.voyages.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
