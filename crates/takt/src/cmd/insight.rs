//! `takt insight`: where time is lost, from a `takt simulate` output folder.
//!
//! Reads DIR/events.jsonl (and DIR/summary.json, when present, for the
//! simulated horizon), compiles the scenario the run used and prints dwell,
//! the bottleneck ranking, plan versus actual and rolls; writes the full
//! report as JSON and as a self-contained HTML page on request. With
//! `--db URL --tenant T` instead of `--events`, it reads the tenant's
//! milestones from the event store (the scenario's own horizon).

use crate::load::{self, ScenarioArgs};
use anyhow::{Context, Result, anyhow};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use takt_core::Minute;
use takt_core::event::Milestone;
use takt_core::network::Network;
use takt_insight::{Options, Report, analyze, html};

/// Where time is lost: dwell, bottlenecks, plan versus actual, rolls; JSON and HTML reports.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["events", "db"])))]
pub struct Args {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// A `takt simulate` output folder (reads DIR/events.jsonl and DIR/summary.json).
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
    /// Read the events from the event store instead (a SQLite file path,
    /// sqlite://PATH or postgres://...); needs --tenant.
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub db: Option<String>,
    /// Only this tenant's vehicles (with --db, the tenant whose events are read).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only figures for intervals ending at or after this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// Ignore events at or after this instant (RFC 3339), as if the log stopped there.
    #[arg(long, value_name = "RFC3339")]
    pub to: Option<String>,
    /// A milestone more than this many hours after (before) the vehicle's first plan is late
    /// (early); default: the scenario's `[insight] late_threshold_hours` (24 when absent).
    #[arg(long, value_name = "HOURS")]
    pub late_threshold_hours: Option<f64>,
    /// Write the full report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the report as one self-contained HTML page (inline SVG charts, no scripts).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Rows per table in the printed summary.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
}

/// The horizon a run covered, from its summary.json: (start, end).
fn run_horizon(dir: &Path) -> Result<Option<(Minute, Minute)>> {
    let path = dir.join("summary.json");
    if !path.exists() {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    struct Horizon {
        start: Minute,
        end: Minute,
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let h: Horizon = serde_json::from_str(&text)
        .with_context(|| format!("{}: no start and end", path.display()))?;
    Ok(Some((h.start, h.end)))
}

/// Reads DIR/events.jsonl line by line; errors name the line.
pub fn read_events(dir: &Path) -> Result<Vec<Milestone>> {
    let path = dir.join("events.jsonl");
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut events = Vec::new();
    for (i, line) in std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .enumerate()
    {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let m: Milestone = serde_json::from_str(&line)
            .map_err(|e| anyhow!("{}: line {}: {e}", path.display(), i + 1))?;
        events.push(m);
    }
    Ok(events)
}

/// The network a run used (its horizon from summary.json when present)
/// and the instant it ended.
pub fn run_network(dir: &Path, scenario: &ScenarioArgs) -> Result<(Network, Option<Minute>)> {
    let horizon = run_horizon(dir)?;
    let days = horizon.map(|(s, e)| (e.since(s) / Minute::DAY).max(1) as u32);
    let (_, net) = load::network(scenario, days)?;
    Ok((net, horizon.map(|h| h.1)))
}

fn instant(s: &Option<String>) -> Result<Option<Minute>> {
    s.as_deref()
        .map(Minute::parse_rfc3339)
        .transpose()
        .map_err(|e| anyhow!(e))
}

/// A tenant's milestones from the event store (`--db URL --tenant T`).
pub fn read_store(db: &str, tenant: &str) -> Result<Vec<Milestone>> {
    let tenant = takt_store::TenantId::parse(tenant)?;
    let store = takt_store::Store::open(db).with_context(|| format!("opening {db}"))?;
    store
        .milestones(&tenant)
        .with_context(|| format!("reading tenant {tenant}'s events from {db}"))
}

/// The network, the instant the events end (a run's horizon), the events,
/// and where they came from: `--events DIR` or `--db URL --tenant T`.
pub fn source(
    events: Option<&Path>,
    db: Option<&str>,
    tenant: Option<&str>,
    scenario: &ScenarioArgs,
) -> Result<(Network, Option<Minute>, Vec<Milestone>, String)> {
    match (events, db) {
        (Some(dir), _) => {
            let (net, end) = run_network(dir, scenario)?;
            Ok((net, end, read_events(dir)?, dir.display().to_string()))
        }
        (None, Some(db)) => {
            let tenant = tenant.ok_or_else(|| anyhow!("--db needs --tenant"))?;
            let (_, net) = load::network(scenario, None)?;
            Ok((net, None, read_store(db, tenant)?, db.to_string()))
        }
        (None, None) => Err(anyhow!("pass --events DIR or --db URL --tenant T")),
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (net, end, events, origin) = source(
        args.events.as_deref(),
        args.db.as_deref(),
        args.tenant.as_deref(),
        &args.scenario,
    )?;
    let late_threshold_hours = args
        .late_threshold_hours
        .unwrap_or(net.insight.late_threshold_hours);
    if late_threshold_hours.is_nan() || late_threshold_hours < 0.0 {
        return Err(anyhow!("--late-threshold-hours must be zero or more"));
    }
    let to = instant(&args.to)?;
    let opts = Options {
        tenant: args.tenant.clone(),
        from: instant(&args.from)?,
        to,
        as_of: to.or(end),
        late_threshold_minutes: (late_threshold_hours * 60.0).round() as i64,
    };
    let report = analyze(&events, &net, &opts).map_err(|e| anyhow!("{origin}: {e}"))?;
    print_summary(&report, args.limit);
    if let Some(path) = &args.json {
        super::simulate::write_json(path, &report)?;
        println!("\nreport written to {}", path.display());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::render(&report, &net))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("HTML report written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(r: &Report, limit: usize) {
    println!(
        "insight on {} ({}), as of {}: {} events, {} vehicles",
        r.scenario,
        r.tenant.as_deref().unwrap_or("all tenants"),
        r.as_of,
        r.n_events,
        r.n_vehicles
    );
    println!("\nbottlenecks: waiting for capacity, attributed to the resource that caused it");
    println!(
        "  {:>4}  {:<24} {:<10} {:>12} {:>10} {:>8} {:>8}  peak hours (local)",
        "rank", "resource", "kind", "veh-hours", "closed", "p50 h", "p90 h"
    );
    for b in r.bottlenecks.iter().take(limit) {
        println!(
            "  {:>4}  {:<24} {:<10} {:>12.1} {:>10.1} {:>8.2} {:>8.2}  {} ({})",
            b.rank,
            b.resource,
            b.kind,
            b.waiting_vehicle_hours,
            b.closed_vehicle_hours,
            b.wait_hours.p50,
            b.wait_hours.p90,
            b.peak_hours.join(", "),
            b.time_zone
        );
    }
    let schedule: f64 = r
        .schedule_waits
        .iter()
        .map(|b| b.waiting_vehicle_hours)
        .sum();
    println!("  (waiting for timetables, not ranked: {schedule:.0} vehicle-hours)");
    println!("\ndwell by stage (end of previous stage to end of this one), hours");
    println!(
        "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>14}",
        "stage", "vehicles", "p50", "p90", "p95", "veh-hours"
    );
    for d in &r.dwell_hours_by_stage {
        println!(
            "  {:<14} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>14.0}",
            d.stage, d.hours.n, d.hours.p50, d.hours.p90, d.hours.p95, d.hours.vehicle_hours
        );
    }
    println!(
        "\nplan versus actual (first plan; early/late beyond {} h)",
        r.late_threshold_hours
    );
    println!(
        "  {:<16} {:>8} {:>7} {:>8} {:>7} {:>9} {:>10}",
        "milestone", "n", "early", "on time", "late", "on time", "p90 dev h"
    );
    for a in &r.plan_vs_actual {
        println!(
            "  {:<16} {:>8} {:>7} {:>8} {:>7} {:>8.1}% {:>10.1}",
            a.milestone,
            a.n,
            a.early,
            a.on_time,
            a.late,
            a.on_time_rate * 100.0,
            a.deviation_hours_p90
        );
    }
    println!(
        "\nrolls: {} ({} vehicles)",
        r.rolls.n_rolls, r.rolls.n_vehicles
    );
    for c in r.rolls.by_cause.iter().take(limit) {
        println!(
            "  {:>6}  {} at {} (in {}), {:.0} vehicle-hours of delay",
            c.n_rolls, c.reason, c.location, c.stage, c.delay_vehicle_hours
        );
    }
}
