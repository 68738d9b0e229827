//! `takt replay --db URL --events DIR/events.jsonl`: stores a simulated run
//! as if its events arrived live: in event-time order, in batches, each
//! batch received at its latest event time (so a replay is never flagged
//! late or rejected as future, whenever it runs). Replaying twice stores
//! nothing new.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use takt_store::{Answer, Event, Store, StoreError, TenantId, takt_format};

/// Most events per transaction.
const BATCH: usize = 1000;

/// Most event-time span of one batch: a batch is received at its latest
/// event time, so no event in it is older than this on receipt (well within
/// the store's lateness threshold).
const BATCH_SPAN: jiff::SignedDuration = jiff::SignedDuration::from_mins(60);

/// Splits time-ordered events into batches of at most [`BATCH`] events
/// spanning at most [`BATCH_SPAN`].
fn live_batches(events: &[Event]) -> Vec<&[Event]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=events.len() {
        if i == events.len()
            || i - start == BATCH
            || events[i].at.duration_since(events[start].at) > BATCH_SPAN
        {
            out.push(&events[start..i]);
            start = i;
        }
    }
    out
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub db: String,
    /// The events.jsonl a `takt simulate --out DIR` wrote (or DIR itself).
    #[arg(long)]
    pub events: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let path = if args.events.is_dir() {
        args.events.join("events.jsonl")
    } else {
        args.events.clone()
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let items = match takt_format::parse_json(&text) {
        Ok(items) => items,
        Err(r) => {
            eprintln!("{}: {r}", path.display());
            return Ok(ExitCode::from(1));
        }
    };
    let mut by_tenant: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for i in items {
        let Some(t) = i.tenant else {
            bail!(
                "{}: event {} names no tenant",
                path.display(),
                i.event.event_id
            )
        };
        by_tenant.entry(t).or_default().push(i.event);
    }
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let started = Instant::now();
    let (mut n, mut stored, mut duplicates) = (0usize, 0usize, 0usize);
    for (t, mut events) in by_tenant {
        let tenant = TenantId::parse(&t)?;
        events.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
        for chunk in live_batches(&events) {
            let received = chunk
                .iter()
                .map(|e| e.at)
                .max()
                .expect("chunks are non-empty");
            match store.append(&tenant, chunk, received) {
                Ok(r) => {
                    n += chunk.len();
                    stored += r.count(Answer::Stored) + r.count(Answer::Retracted);
                    duplicates += r.count(Answer::Duplicate);
                }
                Err(StoreError::Rejected(r)) => {
                    eprintln!("{}: tenant {tenant}: {r}", path.display());
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: {n} events replayed into {} ({stored} stored, {duplicates} duplicates) in {secs:.2} s ({:.0} events/s)",
        path.display(),
        store.backend_name(),
        n as f64 / secs.max(1e-9),
    );
    Ok(ExitCode::SUCCESS)
}
