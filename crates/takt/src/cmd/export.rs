//! `takt export ocel`: the event log as OCEL 2.0 JSON for process-mining tools.

use super::insight::source;
use crate::load::ScenarioArgs;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// OCEL 2.0 JSON: vehicles, inland loads, voyages, terminal resources and
    /// dealers as objects, every milestone as an event with qualified relations.
    Ocel(OcelArgs),
}

/// The event log as OCEL 2.0 JSON, for process-mining tools (pm4py, rust4pm, ...).
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["events", "db"])))]
pub struct OcelArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// A `takt simulate` output folder (reads DIR/events.jsonl).
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
    /// Read the events from the event store instead (a SQLite file path,
    /// sqlite://PATH or postgres://...); needs --tenant.
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub db: Option<String>,
    /// Only this tenant's vehicles (with --db, the tenant whose events are read).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The OCEL 2.0 JSON file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Ocel(args) => ocel(args),
    }
}

fn ocel(args: OcelArgs) -> Result<ExitCode> {
    let (net, _, mut events, _) = source(
        args.events.as_deref(),
        args.db.as_deref(),
        args.tenant.as_deref(),
        &args.scenario,
    )?;
    if let Some(t) = &args.tenant {
        if net.tenant_index(t).is_none() {
            let known: Vec<&str> = net.tenants.iter().map(|t| t.id.as_str()).collect();
            anyhow::bail!("unknown tenant `{t}` (known: {})", known.join(", "));
        }
        events.retain(|e| e.tenant == *t);
    }
    let log = takt_insight::ocel::export(&events, &net);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    serde_json::to_writer(&mut w, &log)?;
    w.write_all(b"\n")?;
    w.flush()?;
    println!(
        "OCEL 2.0: {} events, {} objects written to {}",
        log.events.len(),
        log.objects.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
