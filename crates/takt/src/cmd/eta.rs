//! `takt eta`: P10/P50/P90 ETAs for vehicles, and `takt eval eta`, the
//! evaluation of ETA predictors against simulated ground truth.

use crate::load::ScenarioArgs;
use anyhow::{Result, anyhow};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use takt_core::Minute;
use takt_sim::eval::{EvalOptions, evaluate_eta_seeds};
use takt_sim::forecast::{self, Draws, ForecastOptions};
use takt_sim::{Fifo, SimOptions, Simulation};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Simulate this many days, then predict (default: the scenario's `days`).
    #[arg(long)]
    pub days: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The vehicle to show; without it, a summary of every vehicle in the pipeline.
    #[arg(long)]
    pub vin: Option<String>,
    /// Monte Carlo runs per forecast.
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    /// Days of earlier operation takt's ETAs learn from before this run:
    /// the same scenario simulated for that many days with a seed of its
    /// own (a deployment's history). 0: learn from this run alone.
    #[arg(long, default_value_t = 365)]
    pub history_days: u32,
    /// Write every vehicle's forecast as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Score delivery ETAs by horizon: static lead times, takt, and the oracle.
    Eta(EvalArgs),
    /// Time the refresh of the ETAs one event touches, at a full pipeline.
    EtaRefresh(super::eta_refresh::RefreshArgs),
    /// Time local repair over a stream of random events on a plan, and compare it with a full re-plan.
    Repair(super::repair_bench::RepairArgs),
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Days during which predictions are made (default: the scenario's `days`).
    #[arg(long)]
    pub days: Option<u32>,
    /// Seed of the truth run and its forecasts; several, comma-separated
    /// (`--seed 1,2,3`), run one truth each and pool every prediction into
    /// one set of figures.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "1")]
    pub seed: Vec<u64>,
    /// Monte Carlo runs per forecast, for takt and for the oracle.
    #[arg(long, default_value_t = 24)]
    pub samples: usize,
    /// Hours between prediction instants.
    #[arg(long, default_value_t = 24)]
    pub every_hours: i64,
    /// Days of the truth run before the first prediction.
    #[arg(long, default_value_t = 14)]
    pub warmup_days: i64,
    /// Days of earlier operation takt's ETAs learn from before this run:
    /// the same scenario simulated for that many days with a seed of its
    /// own (a deployment's history). 0: learn from this run alone.
    #[arg(long, default_value_t = 365)]
    pub history_days: u32,
    /// The `refr` predictor forecasts in full at every this many
    /// instants and conditions those runs on the events in between.
    #[arg(long, default_value_t = 3)]
    pub full_every: usize,
    /// Write the scores as JSON (list `by_horizon`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (_, net) = crate::load::network(&args.scenario, args.days)?;
    let mut sim = Simulation::new(
        net,
        Box::new(Fifo),
        SimOptions {
            seed: args.seed,
            volume_scale: args.scenario.volume_scale,
        },
    );
    sim.run_to_end();
    sim.drain_milestones();
    let only = match &args.vin {
        Some(vin) => {
            let vin = takt_core::Vin::parse(vin).map_err(|e| anyhow!("{vin}: {e}"))?;
            let v = sim
                .vehicles
                .iter()
                .find(|v| v.vin == vin)
                .ok_or_else(|| anyhow!("{vin}: no such vehicle in this run"))?;
            if v.delivered_at.is_some_and(|d| d <= sim.now) {
                println!("{vin} was delivered at {}", v.delivered_at.unwrap());
                return Ok(ExitCode::SUCCESS);
            }
            Some(vec![v.id])
        }
        None => None,
    };
    let history = history_learned(&args.scenario, args.history_days, args.seed)?;
    let learned = Draws::Learned(Arc::new(sim.learned_with(history.as_ref())));
    let options = ForecastOptions {
        samples: args.samples,
        seed: args.seed,
        ..ForecastOptions::default()
    };
    let forecasts = forecast::forecast(&sim, &learned, options, only.as_deref());
    let net = &sim.net;
    println!(
        "ETAs at {} ({} Monte Carlo runs, durations learned from {})\n",
        sim.now,
        args.samples,
        learned_from(args.history_days)
    );
    if only.is_some() {
        let f = &forecasts[0];
        let v = &sim.vehicles[f.vehicle];
        println!(
            "{} {} to {} (promised by {})",
            v.vin,
            net.models[v.model].name,
            net.dealers[v.dealer].name,
            v.promised_by.local(&net.dealers[v.dealer].tz)
        );
        let at = v
            .steps
            .last()
            .map(|s| format!("{} at {}", s.stage, net.locations[s.location].id))
            .unwrap_or_default();
        println!("now: {at}\n");
        println!(
            "  {:<14} {:<26} {:<26} {:<26}",
            "stage", "P10", "P50", "P90"
        );
        for (stage, q) in &f.stages {
            let loc = stage_zone(&sim, f.vehicle, *stage);
            println!(
                "  {:<14} {:<26} {:<26} {:<26}",
                stage.name(),
                q[0].local(&loc),
                q[1].local(&loc),
                q[2].local(&loc)
            );
        }
        if let Some(q) = f.delivered {
            let tz = &net.dealers[v.dealer].tz;
            println!(
                "  {:<14} {:<26} {:<26} {:<26}",
                "delivered",
                q[0].local(tz),
                q[1].local(tz),
                q[2].local(tz)
            );
        }
        println!(
            "\ndelivered within the horizon in {:.0}% of runs; misses a voyage it is routed on in {:.0}%",
            f.delivered_share * 100.0,
            f.roll_share * 100.0
        );
    } else {
        let late = forecasts
            .iter()
            .filter(|f| {
                f.delivered
                    .is_some_and(|q| q[1] > sim.vehicles[f.vehicle].promised_by)
            })
            .count();
        let at_risk = forecasts
            .iter()
            .filter(|f| {
                f.delivered
                    .is_none_or(|q| q[2] > sim.vehicles[f.vehicle].promised_by)
            })
            .count();
        let roll_risk = forecasts.iter().filter(|f| f.roll_share >= 0.5).count();
        println!(
            "{} vehicles in the pipeline; {late} expected late (P50 after the promise), {at_risk} at risk (P90 after the promise), {roll_risk} likely to miss a voyage they are routed on (half the runs or more)",
            forecasts.len()
        );
    }
    if let Some(path) = &args.json {
        let rows: Vec<serde_json::Value> = forecasts
            .iter()
            .map(|f| {
                let v = &sim.vehicles[f.vehicle];
                serde_json::json!({
                    "vin": v.vin.to_string(),
                    "promised_by": v.promised_by,
                    "stages": f.stages.iter().map(|(s, q)| serde_json::json!({"stage": s.name(), "p10": q[0], "p50": q[1], "p90": q[2]})).collect::<Vec<_>>(),
                    "delivered": f.delivered.map(|q| serde_json::json!({"p10": q[0], "p50": q[1], "p90": q[2]})),
                    "delivered_share": f.delivered_share,
                    "roll_share": f.roll_share,
                })
            })
            .collect();
        super::simulate::write_json(
            path,
            &serde_json::json!({ "as_of": sim.now, "vehicles": rows }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Time zone of the place where a stage starts, for showing local times.
fn stage_zone(sim: &Simulation, vid: usize, stage: takt_core::Stage) -> jiff::tz::TimeZone {
    use takt_core::Stage::*;
    let v = &sim.vehicles[vid];
    let net = &sim.net;
    let route = v.route;
    let loc = match stage {
        Released | Inland => Some(net.plants[net.models[v.model].plant].location),
        PortArrival | Processing | Yard | Loading | Voyage => {
            route.map(|r| net.export_terminals[r.terminal].location)
        }
        Discharge | Certification | Delivery => Some(net.dealers[v.dealer].port),
    };
    loc.map_or(jiff::tz::TimeZone::UTC, |l| net.locations[l].tz.clone())
}

/// The scenario compiled for `days` of history; none for 0.
fn history_network(args: &ScenarioArgs, days: u32) -> Result<Option<takt_core::network::Network>> {
    if days == 0 {
        return Ok(None);
    }
    Ok(Some(crate::load::network(args, Some(days))?.1))
}

/// What `days` of earlier operation of the scenario teach takt's ETAs
/// (none for 0): the scenario simulated with FIFO (the durations learned
/// are the world's: transits, vessel delays, holds, outages) and a seed of
/// its own, derived from the present run's `seed`.
pub(crate) fn history_learned(
    args: &ScenarioArgs,
    days: u32,
    seed: u64,
) -> Result<Option<takt_sim::forecast::Learned>> {
    Ok(history_network(args, days)?.map(|net| {
        takt_sim::forecast::Learned::from_history(
            net,
            Box::new(Fifo),
            SimOptions {
                seed,
                volume_scale: args.volume_scale,
            },
        )
    }))
}

pub(crate) fn learned_from(history_days: u32) -> String {
    if history_days == 0 {
        "the run so far".to_string()
    } else {
        format!("{history_days} days of history and the run so far")
    }
}

pub fn run_eval(cmd: EvalCommand) -> Result<ExitCode> {
    let args = match cmd {
        EvalCommand::Eta(args) => args,
        EvalCommand::EtaRefresh(args) => return super::eta_refresh::run(args),
        EvalCommand::Repair(args) => return super::repair_bench::run(args),
    };
    let (_, net) = crate::load::network(&args.scenario, args.days)?;
    let days = net.end.since(net.start) / Minute::DAY;
    anyhow::ensure!(
        args.warmup_days < days,
        "--warmup-days ({}) must be less than the simulated days ({days})",
        args.warmup_days
    );
    anyhow::ensure!(
        args.every_hours > 0 && args.samples > 0,
        "--every-hours and --samples must be positive"
    );
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} predicting {pos}/{len} instants {bar:30} {elapsed}",
            )
            .expect("template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let options = EvalOptions {
        seed: args.seed[0],
        volume_scale: args.scenario.volume_scale,
        every_hours: args.every_hours,
        warmup_days: args.warmup_days,
        settle_days: 90,
        forecast: ForecastOptions {
            samples: args.samples,
            seed: args.seed[0],
            ..ForecastOptions::default()
        },
        full_every: args.full_every,
    };
    let history = history_network(&args.scenario, args.history_days)?;
    let n_seeds = args.seed.len();
    let result = evaluate_eta_seeds(
        &net,
        history.as_ref(),
        || Box::new(Fifo),
        options,
        &args.seed,
        |i, done, total| {
            bar.set_length((total * n_seeds) as u64);
            bar.set_position((i * total + done) as u64);
        },
    );
    bar.finish_and_clear();
    let seeds: Vec<String> = result.seeds.iter().map(u64::to_string).collect();
    println!(
        "ETA evaluation: scenario {}, {} {}, {} prediction instants, {} predictions scored ({} censored), {} runs per forecast, takt learning from {}\n",
        result.scenario,
        if n_seeds == 1 {
            "seed"
        } else {
            "seeds (pooled)"
        },
        seeds.join(", "),
        result.prediction_instants,
        result.n_predictions - result.censored,
        result.censored,
        result.samples,
        learned_from(args.history_days)
    );
    println!("delivery ETA error, hours, by days before actual delivery");
    println!(
        "  {:<7} {:>7} | {:>8} {:>7} {:>7} | {:>8} {:>7} {:>7}",
        "horizon", "n", "MAE stat", "takt", "oracle", "P90 stat", "takt", "oracle"
    );
    for b in &result.by_horizon {
        let (m, p) = (&b.mae_hours, &b.p90_abs_error_hours);
        println!(
            "  {:<7} {:>7} | {:>8.1} {:>7.1} {:>7.1} | {:>8.1} {:>7.1} {:>7.1}",
            b.bucket, b.n_predictions, m.static_, m.takt, m.oracle, p.static_, p.takt, p.oracle
        );
    }
    println!(
        "\nrefreshed between forecasts (refr): takt's runs from a full forecast every {} instants, conditioned on the milestones since; vehicles newer than that forecast have none ({} predictions, not scored here)",
        result.full_every, result.refreshed_missing
    );
    println!(
        "  {:<7} {:>7} | {:>9} {:>7} | {:>8}",
        "horizon", "n refr", "MAE refr", "takt", "P90 refr"
    );
    for b in &result.by_horizon {
        println!(
            "  {:<7} {:>7} | {:>9.1} {:>7.1} | {:>8.1}",
            b.bucket,
            b.n_refreshed,
            b.mae_hours.takt_refreshed,
            b.takt_mae_hours_where_refreshed,
            b.p90_abs_error_hours.takt_refreshed
        );
    }
    println!(
        "\nP10-P90: share of intervals holding the actual delivery, and calibration (PIT: 80% when calibrated)"
    );
    println!(
        "  {:<7} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}",
        "horizon", "cover tk", "refr", "oracle", "PIT tk", "refr", "oracle"
    );
    for b in &result.by_horizon {
        println!(
            "  {:<7} | {:>7.1}% {:>7.1}% {:>7.1}% | {:>7.1}% {:>7.1}% {:>7.1}%",
            b.bucket,
            b.coverage_p10_p90 * 100.0,
            b.refreshed_coverage_p10_p90 * 100.0,
            b.oracle_coverage_p10_p90 * 100.0,
            b.pit_coverage_p10_p90 * 100.0,
            b.refreshed_pit_coverage_p10_p90 * 100.0,
            b.oracle_pit_coverage_p10_p90 * 100.0
        );
    }
    let flags = [
        (
            &result.at_risk,
            "at risk",
            "late",
            "flagged and late",
            "the promise",
        ),
        (
            &result.at_risk_cutoff,
            "at risk of a roll",
            "rolled",
            "flagged before the roll",
            "the roll",
        ),
    ];
    for (rules, what, event, hits, before) in flags {
        for r in rules {
            println!(
                "\n{what} if {}: {} vehicles, {} {event}, {} flagged, {} {hits}; precision {:.1}%, recall {:.1}%; first flag {:.0} h (p50) / {:.0} h (p10) before {before}",
                r.rule,
                r.vehicles,
                r.late,
                r.flagged,
                r.flagged_and_late,
                r.precision * 100.0,
                r.recall * 100.0,
                r.hours_ahead_p50,
                r.hours_ahead_p10
            );
        }
    }
    if let Some(path) = &args.json {
        super::simulate::write_json(path, &result)?;
    }
    Ok(ExitCode::SUCCESS)
}
