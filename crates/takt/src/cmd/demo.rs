//! `takt demo`: the main job on the built-in scenario, as a readable summary.

use crate::load::ScenarioArgs;
use anyhow::Result;
use std::process::ExitCode;
use takt_core::plan::Stage;
use takt_sim::{Simulation, Summary};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Simulated days (default: the scenario's `days`).
    #[arg(long)]
    pub days: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (scenario, net) = crate::load::network(&args.scenario, args.days)?;
    let started = std::time::Instant::now();
    let sim = super::run_simulation(net, "fifo", args.seed, args.scenario.volume_scale, |_| {
        Ok(())
    })?;
    let summary = Summary::of(&sim, args.seed);
    print_summary(&scenario.scenario.description, &summary, &sim);
    println!(
        "\n(simulated in {:.2} s; `takt simulate --out DIR` writes the event log, plan and summary)",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn print_summary(description: &str, s: &Summary, sim: &Simulation) {
    let days = s.end.since(s.start) / takt_core::Minute::DAY;
    println!("takt demo — scenario {} ({description})", s.scenario);
    println!(
        "{days} simulated days from {} to {}, policy {}, seed {}\n",
        s.start, s.end, s.policy, s.seed
    );
    println!("  vehicles released        {:>8}", s.vehicles_released);
    println!("  vehicles delivered       {:>8}", s.vehicles_delivered);
    println!("  in the pipeline          {:>8}", s.vehicles_in_pipeline);
    println!(
        "  on time (by promise)     {:>7.1}%",
        s.on_time_rate * 100.0
    );
    println!(
        "  lead time, days p50/p90  {:>5.1} / {:.1}",
        s.lead_time_days.p50, s.lead_time_days.p90
    );
    println!(
        "  port dwell, hours mean   {:>8.1}",
        s.port_dwell_hours_mean
    );
    println!(
        "  vessel utilization       {:>7.1}%  ({} voyages departed)",
        s.vessel_utilization * 100.0,
        s.voyages_departed
    );
    println!("  vehicles rolled          {:>8}", s.vehicles_rolled);
    println!(
        "  disruptions              {} inland delays, {} vessel delays, {} station outages, {} holds",
        s.disruptions.inland_delays,
        s.disruptions.vessel_delays,
        s.disruptions.station_outages,
        s.disruptions.holds_placed
    );
    println!(
        "\n  {:<15} {:>10} {:>10} {:>8}",
        "stage", "p50 hours", "p90 hours", "n"
    );
    for stage in Stage::ALL {
        if let Some(q) = s.dwell_hours.get(stage.name()) {
            println!(
                "  {:<15} {:>10.1} {:>10.1} {:>8}",
                stage.name(),
                q.p50,
                q.p90,
                q.n
            );
        }
    }
    println!(
        "\n  {:<12} {:>9} {:>10} {:>8} {:>14}",
        "model", "released", "delivered", "on time", "lead days p50"
    );
    for m in &s.by_model {
        println!(
            "  {:<12} {:>9} {:>10} {:>7.1}% {:>14.1}",
            m.model,
            m.released,
            m.delivered,
            m.on_time_rate * 100.0,
            m.lead_time_days.p50
        );
    }
    // One delivered vehicle's journey, in local time at each place.
    // The first delivered vehicle, or else the one furthest along.
    let shown = sim
        .vehicles
        .iter()
        .find(|v| v.delivered_at.is_some() && v.rolls == 0)
        .or_else(|| {
            sim.vehicles
                .iter()
                .max_by_key(|v| (v.steps.len(), std::cmp::Reverse(v.id)))
        });
    if let Some(v) = shown {
        let net = &sim.net;
        println!(
            "\n  journey of {} ({}, to {}), local times:",
            v.vin, net.models[v.model].name, net.dealers[v.dealer].name
        );
        for step in &v.steps {
            let tz = &net.locations[step.location].tz;
            println!(
                "    {:<14} {:<8} {}",
                step.stage.name(),
                net.locations[step.location].id,
                step.start.local(tz)
            );
        }
        if let Some(d) = v.delivered_at {
            println!(
                "    {:<14} {:<8} {}",
                "delivered",
                net.dealers[v.dealer].id,
                d.local(&net.dealers[v.dealer].tz)
            );
        }
    }
}
