//! `takt stow`: plan a vessel's stowage (loading, discharge and rehandling
//! routes per port) for a problem in the Optimization Grand Challenge 2025
//! format, and `takt stow check`: verify a solution in that format.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use takt_stow::{Instance, Params, Solution, check};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Problem file (challenge JSON: N, E, P, K, F, LB).
    #[arg(long, value_name = "FILE")]
    pub instance: Option<PathBuf>,
    /// Wall-clock limit for the whole run, in seconds; the process ends
    /// within it.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// Where to write the solution (challenge JSON).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Search threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Verify a solution: feasibility, total cost, cost minus the file's LB.
    /// Exit status 1 when infeasible.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Problem file (challenge JSON).
    #[arg(long, value_name = "FILE")]
    pub instance: PathBuf,
    /// Solution file (challenge JSON: {"solution": {"0": [[route, demand], ...], ...}}).
    #[arg(long, value_name = "FILE")]
    pub solution: PathBuf,
}

fn read_instance(path: &Path) -> Result<Instance> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read instance {}", path.display()))?;
    Instance::parse(&text).with_context(|| format!("{} is not a stowage instance", path.display()))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    if let Some(Command::Check(c)) = args.command {
        return run_check(&c);
    }
    let (Some(instance_path), Some(time_limit), Some(out)) =
        (args.instance, args.time_limit, args.out)
    else {
        bail!(
            "takt stow needs --instance FILE --time-limit SECONDS --out FILE (or the `check` subcommand)"
        );
    };
    if !(time_limit.is_finite() && time_limit > 0.0) {
        bail!("--time-limit must be a positive number of seconds, got {time_limit}");
    }
    let instance = read_instance(&instance_path)?;
    // Keep a margin for joining the threads, checking and writing the file.
    let margin = (time_limit * 0.03).clamp(0.05, 0.5);
    let budget = Duration::from_secs_f64((time_limit - margin).max(0.0));
    let deadline = started + budget;
    // The fraction of the budget used: the planner paces its search by it
    // and stops at 1.
    let progress = move || {
        let left = deadline.saturating_duration_since(Instant::now());
        if budget.is_zero() {
            1.0
        } else {
            1.0 - left.as_secs_f64() / budget.as_secs_f64()
        }
    };
    let params = Params {
        seed: args.seed,
        threads: args.threads.max(1),
        max_iterations: None,
    };
    let planned = takt_stow::solve_within(&instance, &params, budget.as_secs_f64(), &progress);
    let report = check(&instance, &planned.solution);
    std::fs::write(&out, planned.solution.to_json())
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "{}: cost {} (LB {}, cost - LB {}), {} routes ({} relocations, {} temporary discharges), {} iterations on {} threads, {:.2} s",
        instance_path.display(),
        report.cost,
        instance.lower_bound,
        report.objective,
        planned.solution.n_moves(),
        report.n_relocations,
        report.n_temporary_unloads,
        planned.iterations,
        params.threads,
        started.elapsed().as_secs_f64()
    );
    for line in &planned.unplaced {
        println!("unplaced: {line}");
    }
    for v in &report.violations {
        println!("{v}");
    }
    Ok(if report.feasible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_check(args: &CheckArgs) -> Result<ExitCode> {
    let instance = read_instance(&args.instance)?;
    let text = std::fs::read_to_string(&args.solution)
        .with_context(|| format!("cannot read solution {}", args.solution.display()))?;
    let solution = Solution::parse(&text)
        .with_context(|| format!("{} is not a stowage solution", args.solution.display()))?;
    let report = check(&instance, &solution);
    for v in &report.violations {
        println!("{v}");
    }
    println!("feasible: {}", if report.feasible { "yes" } else { "no" });
    println!("cost: {}", report.cost);
    println!("lower bound: {}", instance.lower_bound);
    println!("cost - LB: {}", report.objective);
    println!(
        "routes: {} loads, {} unloads ({} temporary), {} relocations",
        report.n_loads, report.n_unloads, report.n_temporary_unloads, report.n_relocations
    );
    Ok(if report.feasible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
