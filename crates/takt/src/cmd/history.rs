//! `takt history --db URL --tenant T --vin VIN`: a vehicle's state and its
//! history from the event store (retracted events marked).

use anyhow::{Context, Result};
use std::process::ExitCode;
use takt_core::Vin;
use takt_store::{Store, TenantId};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub db: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub vin: String,
    /// Print state and history as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let tenant = TenantId::parse(&args.tenant)?;
    let vin = Vin::parse(&args.vin).with_context(|| format!("--vin {}", args.vin))?;
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let Some(view) = store.vehicle(&tenant, &vin)? else {
        eprintln!("tenant {tenant} has no events for {vin}");
        return Ok(ExitCode::from(1));
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = &view.state;
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    println!("{vin}  tenant {tenant}  model {}", opt(&s.model));
    println!(
        "stage {} ({}) since {}  at {}  resource {}  voyage {}",
        s.stage.map_or("-".to_string(), |x| x.to_string()),
        opt(&s.milestone),
        s.stage_since.map_or("-".to_string(), |t| t.to_string()),
        opt(&s.location),
        opt(&s.resource),
        opt(&s.voyage),
    );
    if s.holds.is_empty() {
        println!("holds: none");
    }
    for (reason, h) in &s.holds {
        println!(
            "hold: {} `{reason}` since {} at {}",
            h.kind,
            h.since,
            h.location.as_deref().unwrap_or("-")
        );
    }
    println!("{} events, {} retracted", s.n_events, s.n_retracted);
    println!();
    for h in &view.history {
        let flags = view
            .flags
            .get(&h.event_id)
            .map(|f| format!(" flags={}", serde_json::to_string(f).unwrap_or_default()))
            .unwrap_or_default();
        let retracted = if h.retracted {
            format!(
                " RETRACTED (corrected by: {})",
                if h.corrected_by.is_empty() {
                    "-".into()
                } else {
                    h.corrected_by.join(", ")
                }
            )
        } else {
            String::new()
        };
        println!(
            "{}  {:<22} {:<13} {:<8} {}{}{}  [{}]",
            h.at,
            h.milestone,
            h.stage.map_or("-".to_string(), |x| x.to_string()),
            h.location.as_deref().unwrap_or("-"),
            h.reason
                .as_deref()
                .map(|r| format!("reason={r} "))
                .unwrap_or_default(),
            retracted,
            flags,
            h.event_id,
        );
    }
    Ok(ExitCode::SUCCESS)
}
