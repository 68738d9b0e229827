//! `takt plan`: the sequencer on a planning instance.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use takt_core::Minute;
use takt_core::instance::Instance;
use takt_core::network::Network;
use takt_plan::{Params, bound};

/// An instance and the scenario it was made from (shared by `plan` and `repair`).
#[derive(clap::Args, Debug)]
pub struct InstanceArgs {
    /// Scenario file the instance was made from (TOML); the built-in `us-japan` when omitted.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Planning instance (JSON, see docs/instance.md).
    #[arg(long, value_name = "FILE")]
    pub instance: PathBuf,
}

impl InstanceArgs {
    /// Reads the instance and compiles the network it was made on.
    pub fn load(&self) -> Result<(Instance, Network)> {
        let text = std::fs::read_to_string(&self.instance)
            .with_context(|| format!("cannot read instance {}", self.instance.display()))?;
        let inst: Instance = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a takt instance", self.instance.display()))?;
        let net = network_for(self.scenario.as_ref(), &inst)?;
        Ok((inst, net))
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub input: InstanceArgs,
    /// Wall-clock limit; the best plan found by then is returned.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub time_limit: f64,
    /// Stop after this many candidates per thread as well (for reproducible runs).
    #[arg(long)]
    pub iterations: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Parallel searches (default: 2, one per core here).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Plan file to write (JSON, the format `takt check` reads).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the figures of the run (objective, bound, gap, iterations) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The figures of a run, for scripts.
#[derive(serde::Serialize)]
struct Figures<'a> {
    vehicles: usize,
    construction: &'a str,
    construction_usd: f64,
    objective_usd: f64,
    lower_bound_usd: f64,
    gap: f64,
    iterations: u64,
    seconds: f64,
    /// From the start (reading the instance included) to the first
    /// feasible plan: the first construction decoded.
    first_plan_seconds: f64,
    unplaced: usize,
    feasible: bool,
    objective: &'a takt_core::objective::Objective,
    bound: &'a bound::Bound,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.time_limit.is_nan() || args.time_limit <= 0.0 {
        bail!("--time-limit must be a positive number of seconds");
    }
    let started = Instant::now();
    let (inst, net) = args.input.load()?;
    let lb = bound::lower_bound(&net, &inst);
    let limit = Duration::from_secs_f64(args.time_limit);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{spinner} planning {elapsed} {bar:30} {msg}")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(format!("{} vehicles", inst.vehicles.len()));
    // Leave room to check and write the plan inside the limit (about a
    // second for 30,000 vehicles); the clock started before reading the instance.
    let reserve = Duration::from_secs_f64(0.3 + 25e-6 * inst.vehicles.len() as f64);
    let search_limit = limit.mul_f64(0.97).saturating_sub(reserve);
    let progress = || {
        let p = started.elapsed().as_secs_f64() / search_limit.as_secs_f64().max(1e-3);
        bar.set_position((p.min(1.0) * 1000.0) as u64);
        p
    };
    let params = Params {
        seed: args.seed,
        threads: args.threads.max(1),
        max_iterations: args.iterations,
    };
    let solved = takt_plan::solve(&net, &inst, &params, &progress)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.instance.display()))?;
    bar.finish_and_clear();
    let first_plan_seconds = solved.first_plan_progress * search_limit.as_secs_f64().max(1e-3);
    let report = takt_check::check(&net, &solved.plan);
    crate::cmd::simulate::write_json(&args.out, &solved.plan)?;
    let seconds = started.elapsed().as_secs_f64();
    let obj = &solved.objective;
    let gap = if obj.total_usd > 0.0 {
        (obj.total_usd - lb.total_usd) / obj.total_usd
    } else {
        0.0
    };
    let unplaced: Vec<_> = solved
        .plan
        .vehicles
        .iter()
        .filter_map(|v| v.unplaced.as_ref().map(|r| (&v.vin, r)))
        .collect();
    println!(
        "planned {} vehicles at {} in {seconds:.1} s, first plan after {first_plan_seconds:.1} s ({} candidates, {} improvements{})",
        inst.vehicles.len(),
        inst.now,
        solved.iterations,
        solved.improvements,
        match takt_plan::search::search_threads(params.threads, inst.vehicles.len()) {
            1 => ", 1 search thread".to_string(),
            t => format!(", {t} search threads"),
        },
    );
    println!(
        "construction ({}): {:.2} USD; best: {:.2} USD ({:+.2}%)",
        solved.construction_name,
        solved.construction.total_usd,
        obj.total_usd,
        100.0 * (obj.total_usd - solved.construction.total_usd)
            / solved.construction.total_usd.max(1e-9)
    );
    println!(
        "lower bound {:.2} USD; gap {:.2}%",
        lb.total_usd,
        100.0 * gap
    );
    println!("{obj}");
    if !unplaced.is_empty() {
        println!("{} vehicles unplaced:", unplaced.len());
        for (vin, why) in unplaced.iter().take(10) {
            println!("  {vin}: {why}");
        }
        if unplaced.len() > 10 {
            println!("  ... and {} more", unplaced.len() - 10);
        }
    }
    println!("checker: {}", takt_check::check_summary(&report));
    println!("plan written to {}", args.out.display());
    if let Some(path) = &args.json {
        let figures = Figures {
            vehicles: inst.vehicles.len(),
            construction: solved.construction_name,
            construction_usd: solved.construction.total_usd,
            objective_usd: obj.total_usd,
            lower_bound_usd: lb.total_usd,
            gap,
            iterations: solved.iterations,
            seconds,
            first_plan_seconds,
            unplaced: unplaced.len(),
            feasible: report.is_feasible(),
            objective: obj,
            bound: &lb,
        };
        crate::cmd::simulate::write_json(path, &figures)?;
    }
    Ok(if report.is_feasible() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The network an instance was made on: its scenario at its volume scale,
/// covering the simulated days up to its moment.
pub fn network_for(scenario: Option<&PathBuf>, inst: &Instance) -> Result<Network> {
    let sargs = crate::load::ScenarioArgs {
        scenario: scenario.cloned(),
        volume_scale: inst.volume_scale,
    };
    let (s, _) = crate::load::network(&sargs, Some(1))?;
    let start = Minute::parse_rfc3339(&s.scenario.start).map_err(anyhow::Error::msg)?;
    let days = (inst.now.since(start) / Minute::DAY + 1).max(1) as u32;
    let (_, net) = crate::load::network(&sargs, Some(days))?;
    if net.name != inst.scenario {
        bail!(
            "the instance is for scenario `{}`, but {} is `{}` (pass --scenario FILE)",
            inst.scenario,
            scenario.map_or("the built-in scenario".to_string(), |p| p
                .display()
                .to_string()),
            net.name
        );
    }
    Ok(net)
}
