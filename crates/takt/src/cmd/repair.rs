//! `takt repair`: one event in, a repaired plan out, and what changed.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use takt_plan::local::{LocalError, LocalRepair};
use takt_plan::repair::{Disruption, apply, repair};
use takt_plan::{Gene, Params};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The instance (the state the current plan was made for) and its scenario.
    #[command(flatten)]
    pub input: super::plan::InstanceArgs,
    /// The event (JSON, see docs/sequencer.md), e.g.
    /// `{"kind": "station_down", "resource": "USLGB/processing", "from": "2026-04-27T00:00:00Z", "hours": 2}`.
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    /// Time for the search after the first repaired plan.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub time_limit: f64,
    /// Stop after this many candidates per thread as well.
    #[arg(long)]
    pub iterations: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Repaired plan to write (JSON).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the instance with the event applied, to chain repairs.
    #[arg(long, value_name = "FILE")]
    pub instance_out: Option<PathBuf>,
    /// The plan to repair (JSON, e.g. from `takt plan` or an earlier
    /// repair): repaired locally, re-timing only what the event reaches.
    /// Without it the instance's bookings are decoded and repaired in full.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
}

/// The local repair of `plan`; `None` when it leaves the event to the full repair.
fn local(
    args: &Args,
    net: &takt_core::network::Network,
    inst: &takt_core::instance::Instance,
    plan: takt_core::plan::Plan,
    event: &Disruption,
) -> Result<Option<ExitCode>> {
    let t = Instant::now();
    let before = takt_core::objective::evaluate(net, &plan);
    let mut lr = LocalRepair::new(net, plan);
    let index_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let out = match lr.repair(event) {
        Ok(out) => out,
        Err(LocalError::Bad(e)) => bail!("{}: {e}", args.event.display()),
        Err(e) => {
            println!("event: {}", serde_json::to_string(event)?);
            println!("local repair cannot place it: {e}");
            return Ok(None);
        }
    };
    let repair_ms = t.elapsed().as_secs_f64() * 1e3;
    let plan = lr.into_plan();
    let after = takt_core::objective::evaluate(net, &plan);
    let report = takt_check::check(net, &plan);
    crate::cmd::simulate::write_json(&args.out, &plan)?;
    if let Some(p) = &args.instance_out {
        let changed = apply(net, inst, event).map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::cmd::simulate::write_json(p, &changed)?;
    }
    println!("event: {}", serde_json::to_string(event)?);
    println!(
        "objective before {:.2} USD; repaired locally {:.2} USD ({repair_ms:.2} ms; the plan's indexes built in {index_ms:.0} ms)",
        before.total_usd, after.total_usd
    );
    print_diff(
        &out.diff,
        &format!(
            "{} vehicles displaced, {} rolled to a later voyage, ",
            out.displaced, out.rolled
        ),
        &|vin| {
            let v = plan.vehicles.iter().find(|v| v.vin == vin);
            let voyage = v.and_then(|v| v.step(takt_core::Stage::Voyage));
            format!(
                "now on {}",
                voyage.map(|s| s.resource.as_str()).unwrap_or("none")
            )
        },
    );
    println!("checker: {}", takt_check::check_summary(&report));
    println!("plan written to {}", args.out.display());
    Ok(Some(if report.is_feasible() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }))
}

/// What changed: the counts (after `lead`), the first ten vehicles moved to
/// another voyage (`voyage` says how) and the ten largest delivery moves.
fn print_diff(d: &takt_plan::repair::Diff, lead: &str, voyage: &dyn Fn(&str) -> String) {
    println!(
        "changed: {lead}{} vehicles to another voyage, {} deliveries moved by an hour or more, {} vehicles retimed, {} newly unplaced",
        d.voyage_changed.len(),
        d.delivery_moved.len(),
        d.vehicles_retimed,
        d.newly_unplaced.len()
    );
    for vin in d.voyage_changed.iter().take(10) {
        println!("  {vin}: {}", voyage(vin));
    }
    let mut moved = d.delivery_moved.clone();
    moved.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    for (vin, h) in moved.iter().take(10) {
        println!("  {vin}: delivery {h:+.1} h");
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.time_limit.is_nan() || args.time_limit < 0.0 {
        bail!("--time-limit must be a number of seconds, at least 0");
    }
    let text = std::fs::read_to_string(&args.event)
        .with_context(|| format!("cannot read event {}", args.event.display()))?;
    let event: Disruption = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a takt repair event", args.event.display()))?;
    let (inst, net) = args.input.load()?;
    if let Some(path) = &args.plan {
        let plan = super::check::read_plan(path)?;
        if plan.created_at != inst.now {
            bail!(
                "{} was made at {}, the instance is at {}: give the plan made for this instance",
                path.display(),
                plan.created_at,
                inst.now
            );
        }
        match local(&args, &net, &inst, plan, &event)? {
            Some(code) => return Ok(code),
            None => println!("falling back to the full repair of the instance's bookings"),
        }
    }
    let started = Instant::now();
    let limit = Duration::from_secs_f64(args.time_limit);
    let progress = || started.elapsed().as_secs_f64() / limit.as_secs_f64().max(1e-6);
    let params = Params {
        seed: args.seed,
        threads: 2,
        max_iterations: args.iterations,
    };
    let genes = vec![Gene::KEEP; inst.vehicles.len()];
    let r = repair(&net, &inst, &genes, &event, &params, &progress)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.event.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let report = takt_check::check(&net, &r.plan);
    crate::cmd::simulate::write_json(&args.out, &r.plan)?;
    if let Some(p) = &args.instance_out {
        crate::cmd::simulate::write_json(p, &r.instance)?;
    }
    println!("event: {}", serde_json::to_string(&event)?);
    println!(
        "objective before {:.2} USD; same decisions after the event {:.2} USD; repaired {:.2} USD ({} candidates, {:.0} ms)",
        r.before_objective.total_usd,
        r.kept_objective.total_usd,
        r.objective.total_usd,
        r.iterations,
        seconds * 1000.0
    );
    let voyage_of = |p: &takt_core::plan::Plan, vin: &str| {
        p.vehicles
            .iter()
            .find(|v| v.vin == vin)
            .and_then(|v| v.step(takt_core::Stage::Voyage).map(|s| s.resource.clone()))
            .unwrap_or_else(|| "none".into())
    };
    print_diff(&r.diff, "", &|vin| {
        format!(
            "voyage {} -> {}",
            voyage_of(&r.before, vin),
            voyage_of(&r.plan, vin)
        )
    });
    println!("checker: {}", takt_check::check_summary(&report));
    println!("plan written to {}", args.out.display());
    Ok(if report.is_feasible() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
