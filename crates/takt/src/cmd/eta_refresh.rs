//! `takt eval eta-refresh`: what it costs to refresh the ETAs one event
//! touches, with tens of thousands of vehicles in the pipeline
//! (`takt_sim::refresh::EtaBook`).

use crate::load::ScenarioArgs;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use takt_core::Minute;
use takt_sim::forecast::{self, Draws, ForecastOptions};
use takt_sim::refresh::EtaBook;
use takt_sim::{Fifo, SimOptions, Simulation};

#[derive(clap::Args, Debug)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Simulated days before the forecast (the pipeline fills up).
    #[arg(long, default_value_t = 35)]
    pub days: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Monte Carlo runs of the full forecast (the demo's default).
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Simulated hours of events after the forecast that are applied.
    #[arg(long, default_value_t = 24)]
    pub hours: i64,
    /// Hours every voyage's arrival is moved by, one voyage per event.
    #[arg(long, default_value_t = 18)]
    pub vessel_delay_hours: i64,
    /// Write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Latencies of one kind of event.
#[derive(Debug, Serialize)]
struct Kind {
    kind: &'static str,
    events: usize,
    /// Vehicles whose ETAs were recomputed, per event: mean and max.
    vehicles_mean: f64,
    vehicles_max: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// CPU time of the process (all threads) per event, the largest: what
    /// the refresh costs whatever else the machine runs, which the wall
    /// times above depend on.
    cpu_max_ms: f64,
    /// CPU time per vehicle refreshed, over all events of the kind.
    cpu_us_per_vehicle: f64,
}

/// CPU time of this process, all threads, in milliseconds (NaN where it
/// cannot be read).
fn process_cpu_ms() -> f64 {
    super::process_cpu_ms().unwrap_or(f64::NAN)
}

#[derive(Debug, Serialize)]
struct Figures {
    scenario: String,
    volume_scale: f64,
    seed: u64,
    days: u32,
    samples: usize,
    cores: usize,
    vehicles_in_pipeline: usize,
    full_forecast_seconds: f64,
    book_seconds: f64,
    kinds: Vec<Kind>,
}

fn kind(name: &'static str, mut ms: Vec<f64>, cpu_ms: &[f64], touched: &[usize]) -> Kind {
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((p * (ms.len() - 1) as f64).round() as usize).min(ms.len() - 1)]
        }
    };
    Kind {
        kind: name,
        events: ms.len(),
        vehicles_mean: touched.iter().sum::<usize>() as f64 / touched.len().max(1) as f64,
        vehicles_max: touched.iter().copied().max().unwrap_or(0),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
        cpu_max_ms: cpu_ms.iter().copied().fold(0.0, f64::max),
        cpu_us_per_vehicle: cpu_ms.iter().sum::<f64>() * 1000.0
            / touched.iter().sum::<usize>().max(1) as f64,
    }
}

pub fn run(args: RefreshArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.samples > 0 && args.hours > 0,
        "--samples and --hours must be positive"
    );
    let (_, net) = crate::load::network(&args.scenario, None)?;
    let scenario = net.name.clone();
    let mut sim = Simulation::new(
        net,
        Box::new(Fifo),
        SimOptions {
            seed: args.seed,
            volume_scale: args.scenario.volume_scale,
        },
    );
    let at = sim.net.start.plus(i64::from(args.days) * Minute::DAY);
    eprintln!("simulating {} days ...", args.days);
    sim.run_until(at);
    sim.drain_milestones();
    let targets = sim.pipeline();
    eprintln!(
        "{} vehicles in the pipeline; full forecast with {} runs ...",
        targets.len(),
        args.samples
    );
    let learned = Draws::Learned(Arc::new(sim.learned()));
    let options = ForecastOptions {
        samples: args.samples,
        seed: args.seed,
        ..ForecastOptions::default()
    };
    let t = Instant::now();
    let runs = forecast::sample_runs(&sim, &learned, options, &targets);
    let full_forecast_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut book = EtaBook::new(at, &targets, &runs, |v| {
        sim.vehicles[v].route.map(|r| r.voyage)
    });
    let book_seconds = t.elapsed().as_secs_f64();
    drop(runs);
    // The next hours' milestones, in order, each refreshing the vehicle
    // it is about.
    sim.run_until(at.plus(args.hours * 60));
    let events = sim.drain_milestones();
    let by_vin: std::collections::HashMap<String, usize> = sim
        .vehicles
        .iter()
        .map(|v| (v.vin.to_string(), v.id))
        .collect();
    let (mut ms, mut cpu, mut touched) = (Vec::new(), Vec::new(), Vec::new());
    let mut sink = 0i64;
    let figures_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for m in &events {
        let Some(&vid) = by_vin.get(&m.vin) else {
            continue;
        };
        if !book.contains(vid) {
            continue;
        }
        let (t, c) = (Instant::now(), process_cpu_ms());
        let n = book.milestone(vid, &m.milestone, m.at).vehicles;
        if let Some(f) = book.forecast(vid) {
            sink += f.delivered.map_or(0, |q| q[1].0);
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu.push(process_cpu_ms() - c);
        touched.push(n);
    }
    let milestones = kind("vehicle milestone", ms, &cpu, &touched);
    // Every voyage with vehicles booked on it: its arrival moves.
    let voyages: Vec<usize> = (0..sim.net.voyages.len())
        .filter(|&v| !book.on_voyage(v).is_empty())
        .collect();
    let (mut ms, mut cpu, mut touched) = (Vec::new(), Vec::new(), Vec::new());
    for v in voyages {
        let (t, c) = (Instant::now(), process_cpu_ms());
        let refreshed = book.refresh_voyage(v, args.vessel_delay_hours * 60, figures_threads);
        sink += refreshed
            .iter()
            .map(|f| f.delivered.map_or(0, |q| q[1].0))
            .sum::<i64>();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        cpu.push(process_cpu_ms() - c);
        touched.push(refreshed.len());
    }
    let vessels = kind("vessel arrival moved", ms, &cpu, &touched);
    std::hint::black_box(sink);
    let figures = Figures {
        scenario,
        volume_scale: args.scenario.volume_scale,
        seed: args.seed,
        days: args.days,
        samples: args.samples,
        cores: figures_threads,
        vehicles_in_pipeline: targets.len(),
        full_forecast_seconds,
        book_seconds,
        kinds: vec![milestones, vessels],
    };
    println!(
        "ETA refresh: {} vehicles in the pipeline ({} x volume, day {}), {} runs per forecast, {} cores",
        figures.vehicles_in_pipeline,
        figures.volume_scale,
        figures.days,
        figures.samples,
        figures.cores
    );
    println!(
        "full forecast: {:.1} s; keeping its runs (the book): {:.2} s\n",
        figures.full_forecast_seconds, figures.book_seconds
    );
    println!(
        "| event | events | vehicles refreshed, mean / max | p50 ms | p99 ms | max ms | CPU ms, largest event | CPU µs per vehicle |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for k in &figures.kinds {
        println!(
            "| {} | {} | {:.1} / {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |",
            k.kind,
            k.events,
            k.vehicles_mean,
            k.vehicles_max,
            k.p50_ms,
            k.p99_ms,
            k.max_ms,
            k.cpu_max_ms,
            k.cpu_us_per_vehicle
        );
    }
    if let Some(path) = &args.json {
        super::simulate::write_json(path, &figures)?;
    }
    Ok(ExitCode::SUCCESS)
}
