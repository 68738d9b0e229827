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
    Answer, AppendReport, BadItem, Code, EncodedBatch, Event, Flag, Rejected, Store, StoreError,
    TenantId, epcis,
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
    if items.is_empty() {
        return Err(Rejected(vec![BadItem::new(
            0,
            Code::Syntax,
            "",
            "the document has no events; a takt document is JSON Lines (or one JSON array) of events, a CSV file a header row and one row per event",
        )]));
    }
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
        None if named.is_empty() => {
            return Err(Rejected(vec![BadItem::new(
                0,
                Code::MissingField,
                "/tenant",
                "no event of the document names its tenant; pass --tenant",
            )]));
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

/// The most documents stored in one transaction (group commit): those
/// already read and parsed when the storing thread takes the next one.
const MAX_GROUP: usize = 4;

/// Prints a stored document's answer, or its rejection; counts rejections.
fn answer(
    path: &Path,
    result: Result<(&TenantId, AppendReport), StoreError>,
    n_rejected: &mut usize,
) -> Result<()> {
    match result {
        Ok((t, report)) => {
            let flagged = |f: Flag| report.items.iter().filter(|i| i.flags.contains(&f)).count();
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
            *n_rejected += 1;
            eprintln!("{}: {r}", path.display());
        }
        Err(e) => return Err(e).with_context(|| format!("storing {}", path.display())),
    }
    Ok(())
}

/// The next document read and every one already waiting behind it, at
/// most [`MAX_GROUP`], ending at one that could not be read (the reader
/// stops there); `None` once every document has been taken.
fn next_group(parsed: &std::sync::mpsc::Receiver<Result<Parsed>>) -> Option<Vec<Result<Parsed>>> {
    let mut group = vec![parsed.recv().ok()?];
    while group.len() < MAX_GROUP && group.last().is_some_and(|d| d.is_ok()) {
        match parsed.try_recv() {
            Ok(d) => group.push(d),
            Err(_) => break,
        }
    }
    Some(group)
}

/// A group's documents, in order, as they are stored: one that could not
/// be read or was rejected on its own; consecutive documents of one
/// tenant together, in one transaction.
enum Run {
    Unreadable(anyhow::Error),
    Rejected(Rejected),
    Batches(TenantId, Vec<EncodedBatch>),
}

fn runs(group: Vec<Result<Parsed>>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for doc in group {
        match doc {
            Err(e) => out.push(Run::Unreadable(e)),
            Ok(Err(r)) => out.push(Run::Rejected(r)),
            Ok(Ok((t, b))) => match out.last_mut() {
                Some(Run::Batches(last, batches)) if *last == t => batches.push(b),
                _ => out.push(Run::Batches(t, vec![b])),
            },
        }
    }
    out
}

pub fn run(args: Args) -> Result<ExitCode> {
    let tenant = args.tenant.as_deref().map(TenantId::parse).transpose()?;
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let mut n_rejected = 0;
    // Documents are read, parsed and their log records made, ahead, on
    // another thread while the current ones are stored (their commit waits
    // for the disk). The storing thread takes the next document and every
    // one already waiting (at most `MAX_GROUP`), and stores a run of them
    // of one tenant in one transaction (`Store::append_group`): each still
    // all or nothing, in order, answered only after the commit.
    std::thread::scope(|scope| -> Result<()> {
        let (send, parsed) = std::sync::mpsc::sync_channel::<Result<Parsed>>(MAX_GROUP);
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
        let mut paths = args.files.iter().map(PathBuf::as_path);
        while let Some(group) = next_group(&parsed) {
            let received_at = jiff::Timestamp::now();
            for run in runs(group) {
                match run {
                    Run::Unreadable(e) => return Err(e),
                    Run::Rejected(r) => {
                        let path = paths.next().expect("a path per document");
                        answer(path, Err(r.into()), &mut n_rejected)?;
                    }
                    Run::Batches(t, batches) => {
                        let run_paths: Vec<&Path> = batches
                            .iter()
                            .map(|_| paths.next().expect("a path per document"))
                            .collect();
                        let refs: Vec<(&EncodedBatch, jiff::Timestamp)> =
                            batches.iter().map(|b| (b, received_at)).collect();
                        let results = store.append_group(&t, &refs);
                        // Every document of the run is answered (one that
                        // failed to store does not hide the others stored
                        // after it); the first failure then stops the command.
                        let mut failed = Ok(());
                        for (path, result) in run_paths.into_iter().zip(results) {
                            let a = answer(path, result.map(|r| (&t, r)), &mut n_rejected);
                            failed = failed.and(a);
                        }
                        failed?;
                        batches.into_iter().for_each(|b| {
                            let _ = done.send(b);
                        });
                    }
                }
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
