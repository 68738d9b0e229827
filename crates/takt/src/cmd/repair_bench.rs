//! `takt eval repair`: the latency of local repair on a plan held in
//! memory (`takt_plan::local::LocalRepair`), over a stream of random
//! events, and how the repaired plans compare with a full re-plan.

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use takt_core::objective::evaluate;
use takt_core::plan::Plan;
use takt_plan::local::{EVENT_KINDS, LocalRepair, event_of_kind, random_event};
use takt_plan::repair::{Disruption, apply};
use takt_plan::{Gene, Params, decode, solve};

#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    /// The instance the plan was made for, and its scenario.
    #[command(flatten)]
    pub input: super::plan::InstanceArgs,
    /// The plan to repair (JSON, e.g. from `takt plan`); the instance's own
    /// bookings decoded when omitted.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Random events, each repaired on the plan the one before left.
    #[arg(long, default_value_t = 1000)]
    pub events: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also run the checker after every this many events (0: at the end only).
    #[arg(long, default_value_t = 0)]
    pub check_every: usize,
    /// Events (one of each kind in turn, each on the plan as given) whose
    /// locally repaired plan is compared with a full re-plan of the changed
    /// instance.
    #[arg(long, default_value_t = 0)]
    pub compare: usize,
    /// Also apply every event of the stream to the instance, and at the end
    /// compare the plan the local repairs left with a full re-plan of the
    /// instance after all of them.
    #[arg(long)]
    pub compare_stream: bool,
    /// Time limit of each full re-plan in the comparison.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub replan_seconds: f64,
    /// Write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize, Default)]
struct Kind {
    kind: String,
    events: usize,
    repaired: usize,
    /// Left to the full repair: the local rules could not place a vehicle.
    refused: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// CPU time of the process per event, which other work on the machine
    /// disturbs less than the wall time above.
    cpu_p50_ms: f64,
    cpu_p99_ms: f64,
    displaced_mean: f64,
    retimed_mean: f64,
    rolled: usize,
}

#[derive(Debug, Serialize)]
struct Compared {
    event: Disruption,
    before_usd: f64,
    local_usd: f64,
    local_ms: f64,
    replan_usd: f64,
    /// (local - replan) / replan.
    local_vs_replan: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    vehicles: usize,
    steps: usize,
    index_ms: f64,
    events: usize,
    overall: Kind,
    kinds: Vec<Kind>,
    refusals: BTreeMap<String, usize>,
    objective_before_usd: f64,
    objective_after_usd: f64,
    checks: usize,
    feasible: bool,
    compared: Vec<Compared>,
    /// With `--compare-stream`: after the whole stream, local and full re-plan.
    stream_local_usd: Option<f64>,
    stream_replan_usd: Option<f64>,
}

use super::quantile;

/// One event: wall milliseconds, repaired locally, vehicles displaced,
/// retimed, rolled, CPU milliseconds.
type Row = (f64, bool, usize, usize, usize, f64);

fn summarize(kind: &str, rows: &[Row]) -> Kind {
    let mut ms: Vec<f64> = rows.iter().map(|r| r.0).collect();
    ms.sort_by(f64::total_cmp);
    let mut cpu: Vec<f64> = rows.iter().map(|r| r.5).collect();
    cpu.sort_by(f64::total_cmp);
    let ok: Vec<_> = rows.iter().filter(|r| r.1).collect();
    let n = ok.len().max(1) as f64;
    Kind {
        kind: kind.into(),
        events: rows.len(),
        repaired: ok.len(),
        refused: rows.len() - ok.len(),
        p50_ms: quantile(&ms, 0.5),
        p99_ms: quantile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(f64::NAN),
        cpu_p50_ms: quantile(&cpu, 0.5),
        cpu_p99_ms: quantile(&cpu, 0.99),
        displaced_mean: ok.iter().map(|r| r.2 as f64).sum::<f64>() / n,
        retimed_mean: ok.iter().map(|r| r.3 as f64).sum::<f64>() / n,
        rolled: ok.iter().map(|r| r.4).sum(),
    }
}

pub fn run(args: RepairArgs) -> Result<ExitCode> {
    let (inst, net) = args.input.load()?;
    let plan: Plan = match &args.plan {
        Some(p) => super::check::read_plan(p)?,
        None => {
            let genes = vec![Gene::KEEP; inst.vehicles.len()];
            decode(&net, &inst, &genes)?.0
        }
    };
    anyhow::ensure!(
        plan.created_at == inst.now,
        "the plan was made at {}, the instance is at {}",
        plan.created_at,
        inst.now
    );
    let steps = plan.vehicles.iter().map(|v| v.steps.len()).sum();
    let objective_before_usd = evaluate(&net, &plan).total_usd;
    let t = Instant::now();
    let mut lr = LocalRepair::new(&net, plan.clone());
    let index_ms = t.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "{} vehicles, {steps} steps indexed in {index_ms:.0} ms",
        plan.vehicles.len()
    );
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let bar = indicatif::ProgressBar::new(args.events as u64);
    let mut rows: BTreeMap<&'static str, Vec<Row>> = BTreeMap::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    let mut checks = 0;
    let mut feasible = true;
    let mut done = 0;
    let mut inst_now = args.compare_stream.then(|| inst.clone());
    for k in 0..args.events {
        let Some(d) = random_event(&net, lr.plan(), &mut rng) else {
            break;
        };
        let cpu0 = super::process_cpu_ms().unwrap_or(f64::NAN);
        let t = Instant::now();
        let r = lr.repair(&d);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let cpu = super::process_cpu_ms().unwrap_or(f64::NAN) - cpu0;
        let row = match &r {
            Ok(o) => (
                ms,
                true,
                o.displaced,
                o.diff.vehicles_retimed,
                o.rolled,
                cpu,
            ),
            Err(e) => {
                let reason = match e {
                    takt_plan::local::LocalError::CannotPlace { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                *refusals.entry(reason).or_insert(0) += 1;
                (ms, false, 0, 0, 0, cpu)
            }
        };
        if let Some(i) = &mut inst_now {
            anyhow::ensure!(
                row.1,
                "--compare-stream needs every event repaired locally; event {k} was not"
            );
            *i = apply(&net, i, &d)?;
        }
        rows.entry(d.kind()).or_default().push(row);
        done += 1;
        if args.check_every > 0 && (k + 1) % args.check_every == 0 {
            checks += 1;
            let report = takt_check::check(&net, lr.plan());
            if !report.is_feasible() {
                feasible = false;
                eprintln!(
                    "after event {k} ({d:?}): {}",
                    takt_check::check_summary(&report)
                );
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = takt_check::check(&net, lr.plan());
    checks += 1;
    feasible &= report.is_feasible();
    let objective_after_usd = evaluate(&net, lr.plan()).total_usd;
    let all: Vec<_> = rows.values().flatten().copied().collect();
    let overall = summarize("all", &all);
    let kinds: Vec<Kind> = rows.iter().map(|(k, r)| summarize(k, r)).collect();
    println!(
        "{} vehicles, {steps} steps; index built in {index_ms:.0} ms; {done} events",
        plan.vehicles.len()
    );
    println!(
        "| kind | events | repaired locally | left to the full repair | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms | vehicles displaced (mean) | retimed (mean) | rolled |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for k in kinds.iter().chain(std::iter::once(&overall)) {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
            k.kind,
            k.events,
            k.repaired,
            k.refused,
            k.p50_ms,
            k.p99_ms,
            k.max_ms,
            k.cpu_p50_ms,
            k.cpu_p99_ms,
            k.displaced_mean,
            k.retimed_mean,
            k.rolled
        );
    }
    for (reason, n) in &refusals {
        println!("left to the full repair, {n}×: {reason}");
    }
    println!(
        "objective {objective_before_usd:.2} USD before, {objective_after_usd:.2} USD after the {done} events"
    );
    println!(
        "checker after the stream: {}",
        takt_check::check_summary(&report)
    );

    let mut stream_local_usd = None;
    let mut stream_replan_usd = None;
    if let Some(i) = &inst_now {
        let started = Instant::now();
        let limit = Duration::from_secs_f64(args.replan_seconds);
        let progress = || started.elapsed().as_secs_f64() / limit.as_secs_f64().max(1e-6);
        let solved = solve(&net, i, &Params::default(), &progress)?;
        let r = solved.objective.total_usd;
        println!(
            "after the {done} events: local repairs {objective_after_usd:.2} USD, full re-plan ({} s) {r:.2} USD: local {:+.2}%",
            args.replan_seconds,
            100.0 * (objective_after_usd - r) / r
        );
        stream_local_usd = Some(objective_after_usd);
        stream_replan_usd = Some(r);
    }
    // Each compared event on the plan as given: local repair against a full re-plan.
    let mut compared = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x5eed);
    for k in 0..args.compare {
        // Every kind in turn, hold releases after the holds they end.
        let kind = k % EVENT_KINDS.len();
        let Some(d) = event_of_kind(&net, &plan, &mut rng, kind) else {
            continue;
        };
        let mut lr = LocalRepair::new(&net, plan.clone());
        let t = Instant::now();
        if lr.repair(&d).is_err() {
            continue;
        }
        let local_ms = t.elapsed().as_secs_f64() * 1e3;
        let local_usd = evaluate(&net, lr.plan()).total_usd;
        let changed = apply(&net, &inst, &d)?;
        let started = Instant::now();
        let limit = Duration::from_secs_f64(args.replan_seconds);
        let progress = || started.elapsed().as_secs_f64() / limit.as_secs_f64().max(1e-6);
        let solved = solve(&net, &changed, &Params::default(), &progress)?;
        let replan_usd = solved.objective.total_usd;
        let c = Compared {
            event: d,
            before_usd: objective_before_usd,
            local_usd,
            local_ms,
            replan_usd,
            local_vs_replan: (local_usd - replan_usd) / replan_usd,
        };
        println!(
            "compare {}: local {:.2} USD in {:.1} ms, full re-plan ({} s) {:.2} USD: local {:+.2}%",
            serde_json::to_string(&c.event)?,
            c.local_usd,
            c.local_ms,
            args.replan_seconds,
            c.replan_usd,
            100.0 * c.local_vs_replan
        );
        compared.push(c);
    }
    let out = Report {
        vehicles: plan.vehicles.len(),
        steps,
        index_ms,
        events: done,
        overall,
        kinds,
        refusals,
        objective_before_usd,
        objective_after_usd,
        checks,
        feasible,
        compared,
        stream_local_usd,
        stream_replan_usd,
    };
    if let Some(p) = &args.json {
        crate::cmd::simulate::write_json(p, &out)?;
    }
    Ok(if feasible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
