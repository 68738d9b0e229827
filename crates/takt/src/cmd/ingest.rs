//! `takt ingest --db URL [--tenant T] FILE…`: store takt JSON Lines, CSV or
//! GS1 EPCIS 2.0 capture documents. Each document is one all-or-nothing
//! batch; a rejected document gets a message per bad item and makes the
//! exit status 1, the others are stored.

use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use takt_store::takt_format::{self, Item};
use takt_store::{
    Answer, BadItem, Code, EncodedBatch, Event, Flag, Rejected, Store, StoreError, TenantId, epcis,
};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub db: String,
    /// Tenant to store under. Required for EPCIS documents; for takt JSON
    /// and CSV every item's `tenant` must equal it (when omitted, the items'
    /// own tenant, one per document).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Files: `.csv` is CSV; a JSON object with `@context` is an EPCIS 2.0
    /// capture document; anything else takt JSON Lines (or a JSON array).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The formats `takt ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Takt,
    Csv,
    Epcis,
}

/// Detects a file's format from its name and content.
pub fn detect(path: &Path, text: &str) -> Format {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Format::Csv;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o))
            if o.contains_key("@context")
                || o.get("type").and_then(|t| t.as_str()) == Some("EPCISDocument") =>
        {
            Format::Epcis
        }
        _ => Format::Takt,
    }
}

/// Parses a document into (tenant, events), or every reason it is rejected.
pub fn parse(
    path: &Path,
    text: &str,
    tenant: Option<&TenantId>,
) -> Result<(TenantId, Vec<Event>), Rejected> {
    let items: Vec<Item> = match detect(path, text) {
        Format::Epcis => {
            let events = epcis::parse_capture(text)?;
            let Some(t) = tenant else {
                return Err(Rejected(vec![BadItem::new(
                    0,
                    Code::MissingField,
                    "",
                    "an EPCIS document names no tenant; pass --tenant",
                )]));
            };
            return Ok((t.clone(), events));
        }
        Format::Csv => takt_format::parse_csv(text)?,
        Format::Takt => takt_format::parse_json(text)?,
    };
    let named: BTreeSet<&str> = items.iter().filter_map(|i| i.tenant.as_deref()).collect();
    let tenant = match tenant {
        Some(t) => {
            let bad: Vec<BadItem> = items
                .iter()
                .enumerate()
                .filter(|(_, i)| i.tenant.as_deref().is_some_and(|x| x != t.as_str()))
                .map(|(k, i)| BadItem {
                    index: k,
                    event_id: Some(i.event.event_id.clone()),
                    code: Code::TenantMismatch,
                    pointer: "/tenant".into(),
                    reason: format!(
                        "tenant is `{}` but --tenant is `{t}`",
                        i.tenant.as_deref().unwrap_or_default()
                    ),
                })
                .collect();
            if !bad.is_empty() {
                return Err(Rejected(bad));
            }
            t.clone()
        }
        None if named.len() == 1 => {
            let name = named.into_iter().next().unwrap_or_default();
            TenantId::parse(name).map_err(|e| {
                Rejected(vec![BadItem::new(
                    0,
                    Code::InvalidField,
                    "/tenant",
                    e.to_string(),
                )])
            })?
        }
        None => {
            return Err(Rejected(vec![BadItem::new(
                0,
                Code::TenantMismatch,
                "/tenant",
                format!(
                    "the document names {} tenants ({}); a document is one tenant's batch: split it, or pass --tenant",
                    named.len(),
                    named.into_iter().collect::<Vec<_>>().join(", ")
                ),
            )]));
        }
    };
    Ok((tenant, items.into_iter().map(|i| i.event).collect()))
}

/// A document read, parsed and encoded, ready to store.
type Parsed = Result<(TenantId, EncodedBatch), Rejected>;

pub fn run(args: Args) -> Result<ExitCode> {
    let tenant = args.tenant.as_deref().map(TenantId::parse).transpose()?;
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let mut n_rejected = 0;
    // Documents are read, parsed and their log records made, one or two
    // ahead, on another thread while the current one is stored (its commit
    // waits for the disk); they are still stored one at a time, in order,
    // each received when its turn comes.
    std::thread::scope(|scope| -> Result<()> {
        let (send, parsed) = std::sync::mpsc::sync_channel::<Result<Parsed>>(2);
        let files = &args.files;
        let tenant = tenant.as_ref();
        scope.spawn(move || {
            for path in files {
                let doc = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))
                    .map(|text| {
                        parse(path, &text, tenant).map(|(t, events)| (t, EncodedBatch::new(events)))
                    });
                let failed = doc.is_err();
                if send.send(doc).is_err() || failed {
                    return;
                }
            }
        });
        // Stored batches are freed on a third thread: freeing a batch's
        // many small allocations took a tenth of the storing thread's time.
        let (done, stored) = std::sync::mpsc::channel::<EncodedBatch>();
        scope.spawn(move || stored.into_iter().for_each(drop));
        for (path, doc) in args.files.iter().zip(parsed) {
            let result = doc?.map_err(StoreError::from).and_then(|(t, events)| {
                let report = store.append_encoded(&t, &events, jiff::Timestamp::now());
                let _ = done.send(events);
                report.map(|r| (t, r))
            });
            match result {
                Ok((t, report)) => {
                    let flagged =
                        |f: Flag| report.items.iter().filter(|i| i.flags.contains(&f)).count();
                    println!(
                        "{}: accepted for tenant {t}: {} stored, {} retractions, {} duplicates; flagged {} late, {} clock skew, {} out of order",
                        path.display(),
                        report.count(Answer::Stored),
                        report.count(Answer::Retracted),
                        report.count(Answer::Duplicate),
                        flagged(Flag::Late),
                        flagged(Flag::ClockSkew),
                        flagged(Flag::OutOfOrder),
                    );
                }
                Err(StoreError::Rejected(r)) => {
                    n_rejected += 1;
                    eprintln!("{}: {r}", path.display());
                }
                Err(e) => return Err(e).with_context(|| format!("storing {}", path.display())),
            }
        }
        Ok(())
    })?;
    if n_rejected > 0 {
        eprintln!("{n_rejected} of {} documents rejected", args.files.len());
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
