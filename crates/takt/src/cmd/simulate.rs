//! `takt simulate`: run the digital twin and write its event log, last plan and summary.

use crate::load::{self, ScenarioArgs};
use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use takt_sim::Summary;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Simulated days (default: the scenario's `days`).
    #[arg(long)]
    pub days: Option<u32>,
    /// Seed of every random draw; the same seed gives the same events, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Who decides: `fifo` (first in, first out; first voyage with space, the status quo) or
    /// `jit` (the same voyage, shipped just in time from the plant; queues by promised date) or
    /// `takt` (the sequencer re-plans the pipeline once a simulated day, repairs its plan
    /// whenever a station goes down, a hold is placed or a train or vessel is late, and
    /// routes again whoever its plan moves; see docs/sequencer.md).
    #[arg(long, default_value = "fifo")]
    pub policy: String,
    /// Output folder for events.jsonl, plan.json and summary.json (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (_, net) = load::network(&args.scenario, args.days)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let events_path = args.out.join("events.jsonl");
    let file = std::fs::File::create(&events_path)
        .with_context(|| format!("cannot write {}", events_path.display()))?;
    let mut events = BufWriter::new(file);
    let mut n_events = 0u64;
    let (sim, planned) = super::run_simulation(
        net,
        &args.policy,
        args.seed,
        args.scenario.volume_scale,
        |batch| {
            for m in batch {
                serde_json::to_writer(&mut events, &m)?;
                events.write_all(b"\n")?;
                n_events += 1;
            }
            Ok(())
        },
    )?;
    events.flush()?;
    let mut summary = Summary::of(&sim, args.seed);
    summary.planner = planned.as_ref().map(|p| p.summary.clone());
    write_json(&args.out.join("summary.json"), &summary)?;
    let plan = sim.plan(false);
    write_json(&args.out.join("plan.json"), &plan)?;
    println!(
        "simulated {} to {}: {} released, {} delivered, {} in the pipeline, on time {:.1}%; {} events in {}",
        summary.start,
        summary.end,
        summary.vehicles_released,
        summary.vehicles_delivered,
        summary.vehicles_in_pipeline,
        summary.on_time_rate * 100.0,
        n_events,
        args.out.display()
    );
    println!(
        "stowage rehandling: {} moves, {} gang minutes",
        summary.rehandling_moves, summary.rehandling_gang_minutes
    );
    if let Some(p) = &planned {
        println!("{}", p.line());
    }
    for (port, r) in &summary.rehandling {
        println!(
            "  {port}: {} calls, {} temporary discharges, {} moves, {} gang minutes",
            r.calls, r.temporary_discharges, r.moves, r.gang_minutes
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, value)?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(())
}
