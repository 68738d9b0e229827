//! `takt check`: verify a plan against a scenario, whoever made it.

use crate::load::{self, ScenarioArgs};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use takt_core::Minute;
use takt_core::plan::Plan;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (TOML, see docs/scenario.md); the built-in `us-japan` when omitted.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// The volume scale the plan was made at (the plan's own when omitted;
    /// a different one is an error).
    #[arg(long, value_name = "X")]
    pub volume_scale: Option<f64>,
    /// Plan file (JSON, as `takt simulate` writes plan.json).
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    /// Print at most this many violations (all are counted).
    #[arg(long, default_value_t = 50)]
    pub max_violations: usize,
}

/// Reads a plan file (JSON), saying which file is missing or malformed.
pub fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a takt plan", path.display()))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let plan = read_plan(&args.plan)?;
    if let Some(x) = args.volume_scale
        && (x - plan.volume_scale).abs() > 1e-9
    {
        bail!(
            "the plan was made at volume scale {}, not {x}",
            plan.volume_scale
        );
    }
    let scenario_args = ScenarioArgs {
        scenario: args.scenario.clone(),
        volume_scale: plan.volume_scale,
    };
    // The network must cover the plan: simulated days up to the plan's instant.
    let (scenario, _) = load::network(&scenario_args, None)?;
    let start = Minute::parse_rfc3339(&scenario.scenario.start).map_err(anyhow::Error::msg)?;
    let days = (plan.created_at.since(start) / Minute::DAY + 1).max(1) as u32;
    let (_, net) = load::network(&scenario_args, Some(days))?;
    let report = takt_check::check(&net, &plan);
    for v in report.violations.iter().take(args.max_violations) {
        println!("{v}");
    }
    if report.violations.len() > args.max_violations {
        println!(
            "... and {} more",
            report.violations.len() - args.max_violations
        );
    }
    println!("{}", takt_check::check_summary(&report));
    let objective = takt_core::objective::evaluate(&net, &plan);
    if report.is_feasible() {
        println!("{objective}");
    } else {
        println!("(the plan is infeasible; its objective would mean little)");
    }
    Ok(if report.is_feasible() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
