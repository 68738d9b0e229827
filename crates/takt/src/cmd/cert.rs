//! `takt cert status`: certification per model and per vehicle, from an event log.

use crate::load::{self, ScenarioArgs};
use anyhow::{Result, anyhow};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use takt_core::cert::{self, Approval};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Per model: route, approval, vehicles waiting at each checklist step,
    /// cap used; per vehicle: what is missing; alerts for blocked vehicles.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["events", "db"])))]
pub struct StatusArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// A `takt simulate` output folder (reads DIR/events.jsonl).
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
    /// Read the events from the event store instead (a SQLite file path,
    /// sqlite://PATH or postgres://...); needs --tenant.
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub db: Option<String>,
    /// Only this tenant's models and vehicles (with --db, the tenant whose events are read).
    #[arg(long)]
    pub tenant: Option<String>,
    /// List at most this many vehicles and alerts.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Also write the full status as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Status(args) => status(args),
    }
}

fn status(args: StatusArgs) -> Result<ExitCode> {
    let (_, net) = load::network(&args.scenario, None)?;
    if let Some(t) = &args.tenant
        && net.tenant_index(t).is_none()
    {
        let known: Vec<&str> = net.tenants.iter().map(|t| t.id.as_str()).collect();
        return Err(anyhow!(
            "unknown tenant `{t}` (known: {})",
            known.join(", ")
        ));
    }
    let (events, origin) = match (&args.events, &args.db) {
        (Some(dir), _) => (
            super::insight::read_events(dir)?,
            dir.join("events.jsonl").display().to_string(),
        ),
        (None, Some(db)) => {
            let tenant = args
                .tenant
                .as_deref()
                .ok_or_else(|| anyhow!("--db needs --tenant"))?;
            (super::insight::read_store(db, tenant)?, db.clone())
        }
        (None, None) => return Err(anyhow!("pass --events DIR or --db URL --tenant T")),
    };
    let s = cert::status(&net, &events, args.tenant.as_deref())
        .map_err(|e| anyhow!("{origin}: {e}"))?;
    println!(
        "certification status as of {} ({} events)\n",
        s.as_of,
        events.len()
    );
    for m in &s.models {
        let approval = match &m.approval {
            Approval::Approved { since } => format!("approved since {since}"),
            Approval::Pending { from } => format!("PENDING, approval from {from}"),
            Approval::NotApproved => "NOT APPROVED".to_string(),
        };
        println!(
            "{} ({}) — route {}: {}",
            m.model, m.tenant, m.route, m.route_name
        );
        println!("  approval      {approval}");
        let checklist: Vec<String> = m
            .checklist
            .iter()
            .map(|(id, at)| format!("{id} @ {at}"))
            .collect();
        println!("  checklist     {}", checklist.join(" → "));
        println!(
            "  in destination {}, certified {}, delivered {}",
            m.in_destination, m.certified, m.delivered
        );
        if !m.waiting_at.is_empty() {
            let w: Vec<String> = m
                .waiting_at
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            println!("  waiting at    {}", w.join(", "));
        }
        if !m.on_hold.is_empty() {
            let h: Vec<String> = m.on_hold.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            println!("  on hold       {}", h.join(", "));
        }
        let used: Vec<String> = m
            .cap_used
            .iter()
            .map(|(y, n)| format!("{y}: {n}"))
            .collect();
        match m.annual_cap {
            Some(cap) => println!(
                "  annual cap    {cap} per year; used {}",
                if used.is_empty() {
                    "none".into()
                } else {
                    used.join(", ")
                }
            ),
            None => println!("  annual cap    none"),
        }
        println!();
    }
    println!(
        "vehicles with checklist items missing: {}",
        s.vehicles.len()
    );
    for v in s.vehicles.iter().take(args.limit) {
        let hold = v
            .hold
            .as_ref()
            .map(|(r, since)| format!(", held since {since}: {r}"))
            .unwrap_or_default();
        println!(
            "  {} {:<11} at {} ({}): missing {}{hold}",
            v.vin,
            v.model,
            v.location,
            v.last_milestone,
            v.missing.join(", ")
        );
    }
    if s.vehicles.len() > args.limit {
        println!("  ... and {} more", s.vehicles.len() - args.limit);
    }
    println!("\nalerts: {}", s.alerts.len());
    for a in s.alerts.iter().take(args.limit) {
        println!("  [{}] {} {}: {}", a.kind, a.vin, a.model, a.message);
    }
    if s.alerts.len() > args.limit {
        println!("  ... and {} more", s.alerts.len() - args.limit);
    }
    if let Some(path) = &args.json {
        super::simulate::write_json(path, &s)?;
    }
    Ok(ExitCode::SUCCESS)
}
