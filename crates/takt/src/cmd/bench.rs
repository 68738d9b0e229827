//! `takt bench`: simulation speed and memory at large volume.

use crate::load::ScenarioArgs;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use takt_sim::Summary;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file; the built-in one when omitted (its volume is scaled, see --vehicles).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Vehicles to release over the run: the scenario's volume and capacities are scaled to reach it.
    #[arg(long, default_value_t = 100_000)]
    pub vehicles: u32,
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Policy to simulate with (`fifo` or `jit`).
    #[arg(long, default_value = "fifo")]
    pub policy: String,
    /// Also check the final plan with the independent checker and time it.
    #[arg(long)]
    pub check: bool,
    /// Write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Serialize)]
struct Figures {
    scenario: String,
    days: u32,
    seed: u64,
    volume_scale: f64,
    cores: usize,
    vehicles_released: usize,
    vehicles_delivered: usize,
    simulate_seconds: f64,
    /// CPU time (user + system) of the simulation: less sensitive than wall
    /// time to other work on a shared machine.
    simulate_cpu_seconds: Option<f64>,
    vehicle_journeys_per_second: f64,
    plan_seconds: f64,
    plan_vehicles: usize,
    check_seconds: Option<f64>,
    check_violations: Option<usize>,
    peak_rss_mib: Option<f64>,
}

/// Peak resident memory of this process, from /proc (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let base = ScenarioArgs {
        scenario: args.scenario.clone(),
        volume_scale: 1.0,
    };
    let (_, net) = crate::load::network(&base, Some(args.days))?;
    let per_year: f64 = net.models.iter().map(|m| m.annual_volume).sum();
    let expected = per_year * args.days as f64 / 365.25;
    let scale = args.vehicles as f64 / expected.max(1.0);
    let scaled = ScenarioArgs {
        scenario: args.scenario.clone(),
        volume_scale: scale,
    };
    let (_, net) = crate::load::network(&scaled, Some(args.days))?;
    let t0 = Instant::now();
    let cpu0 = super::process_cpu_ms();
    let (sim, _) = super::run_simulation(net.clone(), &args.policy, args.seed, scale, |_| Ok(()))?;
    let simulate_seconds = t0.elapsed().as_secs_f64();
    let simulate_cpu_seconds = super::process_cpu_ms()
        .zip(cpu0)
        .map(|(b, a)| (b - a) / 1000.0);
    let summary = Summary::of(&sim, args.seed);
    let t1 = Instant::now();
    let plan = sim.plan(false);
    let plan_seconds = t1.elapsed().as_secs_f64();
    let (check_seconds, check_violations) = if args.check {
        let t2 = Instant::now();
        let report = takt_check::check(&net, &plan);
        (
            Some(t2.elapsed().as_secs_f64()),
            Some(report.violations.len()),
        )
    } else {
        (None, None)
    };
    let f = Figures {
        scenario: net.name.clone(),
        days: args.days,
        seed: args.seed,
        volume_scale: (scale * 1000.0).round() / 1000.0,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        vehicles_released: summary.vehicles_released,
        vehicles_delivered: summary.vehicles_delivered,
        simulate_seconds,
        simulate_cpu_seconds,
        vehicle_journeys_per_second: summary.vehicles_released as f64 / simulate_seconds,
        plan_seconds,
        plan_vehicles: plan.vehicles.len(),
        check_seconds,
        check_violations,
        peak_rss_mib: peak_rss_mib(),
    };
    println!(
        "scenario {} for {} days at volume scale {:.3} (seed {}, {} cores)",
        f.scenario, f.days, f.volume_scale, f.seed, f.cores
    );
    println!("  vehicles released           {:>10}", f.vehicles_released);
    println!("  vehicles delivered          {:>10}", f.vehicles_delivered);
    println!(
        "  simulate                    {:>10.2} s",
        f.simulate_seconds
    );
    if let Some(cpu) = f.simulate_cpu_seconds {
        println!("  simulate, CPU time          {:>10.2} s", cpu);
    }
    println!(
        "  vehicle-journeys per second {:>10.0}",
        f.vehicle_journeys_per_second
    );
    println!(
        "  project final plan          {:>10.2} s ({} vehicles)",
        f.plan_seconds, f.plan_vehicles
    );
    if let (Some(s), Some(n)) = (f.check_seconds, f.check_violations) {
        println!(
            "  check final plan            {:>10.2} s ({n} violations)",
            s
        );
    }
    if let Some(m) = f.peak_rss_mib {
        println!("  peak memory (RSS)           {:>10.0} MiB", m);
    }
    if let Some(path) = &args.json {
        super::simulate::write_json(path, &f)?;
    }
    Ok(ExitCode::SUCCESS)
}
