//! The projector: derives `subject_state` from the log after the batches
//! are acknowledged.
//!
//! An append writes only log rows (and decides duplicates and conflicts
//! against the log's unique key in its own transaction); the projector then
//! applies every logged row after `projection.seq` to the subjects' rows,
//! many batches in one transaction (a subject touched by several of them is
//! written once), and records the last position it applied in that same
//! transaction. So a crash loses no projection work that was committed and
//! redoes the rest: [`crate::Store::open`] catches up at start-up, and every
//! read of state catches up first (read-your-writes).
//!
//! A projection runs in two transactions: one that reads (the rows, the
//! stored states) and derives, holding no write lock, so that appends go on
//! meanwhile; one that writes, and only when no other projector has moved
//! `projection.seq` since the first began (otherwise it starts over).
//!
//! Rows appended through this process's [`crate::Store`] wait in [`Pending`]
//! (their events shared with the batch, not copied or decoded again); rows
//! it did not append (another process's, or after a restart) are read from
//! the log.

use crate::backend::{Backend, EventRefs, StateRow, StoredState, Tx};
use crate::error::BackendError;
use crate::model::{Event, Flag, LogRow, subjects};
use crate::semantics::{self, Tail};
use crate::tenant::TenantId;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A logged row's event, kept in memory until it is projected.
#[derive(Debug)]
pub(crate) enum Held {
    /// An event of a batch this process appended.
    Batch {
        batch: Arc<Vec<Event>>,
        index: usize,
        received_at: Timestamp,
        flags: Vec<Flag>,
    },
    /// A row read back from the log.
    Row(Box<LogRow>),
}

impl Held {
    fn event(&self) -> &Event {
        match self {
            Held::Batch { batch, index, .. } => &batch[*index],
            Held::Row(r) => &r.event,
        }
    }

    fn to_log_row(&self) -> LogRow {
        match self {
            Held::Batch {
                batch,
                index,
                received_at,
                flags,
            } => LogRow {
                event: batch[*index].clone(),
                received_at: *received_at,
                flags: flags.clone(),
            },
            Held::Row(r) => (**r).clone(),
        }
    }
}

/// A logged row not yet projected: what the out-of-order flag needs of it
/// (its event time and subjects), and its event when at hand.
#[derive(Debug)]
pub(crate) struct Logged {
    /// True when the log held an error declaration for the event's id when
    /// it was appended (then its subjects are derived again, not applied
    /// to); for rows read back from the log, the projector asks the log.
    pub declared: bool,
    /// The event time; `None` for an error declaration (which does not
    /// count as the subject's latest event, see [`Tail::latest_at`]).
    pub at: Option<Timestamp>,
    pub subjects: Vec<String>,
    pub held: Option<Held>,
}

impl Logged {
    pub fn new(event: &Event, declared: bool, held: Option<Held>) -> Logged {
        Logged::with_subjects(event, unique_subjects(event), declared, held)
    }

    /// [`Logged::new`] with the event's subjects ([`unique_subjects`]).
    pub fn with_subjects(
        event: &Event,
        subjects: Vec<String>,
        declared: bool,
        held: Option<Held>,
    ) -> Logged {
        Logged {
            declared,
            at: (!event.is_retraction()).then_some(event.at),
            subjects,
            held,
        }
    }
}

/// The logged rows not yet projected that this process knows, by position,
/// and the latest event time of each subject among the rows it has held.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    inner: Mutex<PendingInner>,
}

#[derive(Debug, Default)]
struct PendingInner {
    rows: BTreeMap<i64, Arc<Logged>>,
    /// By tenant and subject, the latest event time among the rows held,
    /// and the last position with it; dropped once projected.
    latest: HashMap<String, HashMap<String, (Timestamp, i64)>>,
}

impl PendingInner {
    fn note(&mut self, tenant: &str, seq: i64, l: &Logged) {
        let Some(at) = l.at else {
            return;
        };
        if !self.latest.contains_key(tenant) {
            self.latest.insert(tenant.to_string(), HashMap::new());
        }
        let of = self.latest.get_mut(tenant).expect("inserted");
        for s in &l.subjects {
            match of.get_mut(s.as_str()) {
                Some(e) => *e = (e.0.max(at), e.1.max(seq)),
                None => {
                    of.insert(s.clone(), (at, seq));
                }
            }
        }
    }
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, PendingInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many rows wait.
    fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// Keeps rows of `tenant` appended (or read from the log).
    pub fn insert(&self, tenant: &TenantId, rows: impl IntoIterator<Item = (i64, Logged)>) {
        let mut p = self.lock();
        for (seq, l) in rows {
            p.note(tenant.as_str(), seq, &l);
            p.rows.insert(seq, Arc::new(l));
        }
    }

    /// Forgets the rows projected (at most `seq`).
    fn projected(&self, seq: i64) {
        let mut p = self.lock();
        let rest = p.rows.split_off(&(seq + 1));
        p.rows = rest;
        for of in p.latest.values_mut() {
            of.retain(|_, (_, last)| *last > seq);
        }
    }

    /// The number of rows held after `after`.
    pub fn count_after(&self, after: i64) -> usize {
        self.lock().rows.range(after + 1..).count()
    }

    /// The latest event time of a subject among the rows held.
    pub fn latest(&self, tenant: &TenantId, subject: &str) -> Option<Timestamp> {
        self.lock()
            .latest
            .get(tenant.as_str())
            .and_then(|of| of.get(subject))
            .map(|(at, _)| *at)
    }

    /// The rows at these positions, reading the ones not here (or, with
    /// `events`, here without their event) from the log, and keeping them.
    pub fn get(
        &self,
        tx: &mut dyn Tx,
        tenant: Option<&TenantId>,
        seqs: &[i64],
        events: bool,
    ) -> Result<Vec<Arc<Logged>>, BackendError> {
        let mut out: Vec<Option<Arc<Logged>>> = {
            let p = self.lock();
            seqs.iter()
                .map(|s| {
                    p.rows
                        .get(s)
                        .filter(|l| !events || l.held.is_some())
                        .cloned()
                })
                .collect()
        };
        let missing: Vec<i64> = seqs
            .iter()
            .zip(&out)
            .filter(|(_, l)| l.is_none())
            .map(|(s, _)| *s)
            .collect();
        if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
            let mut read: HashMap<i64, Arc<Logged>> = HashMap::new();
            let mut by_tenant: BTreeMap<String, Vec<(i64, Logged)>> = BTreeMap::new();
            for (seq, t, row) in tx.rows_between(tenant, first - 1, *last)? {
                let l = Logged::new(&row.event, false, None);
                let l = Logged {
                    held: Some(Held::Row(Box::new(row))),
                    ..l
                };
                by_tenant.entry(t).or_default().push((seq, l));
            }
            for (t, rows) in by_tenant {
                let t = TenantId::parse(&t)
                    .map_err(|e| BackendError::Corrupt(format!("tenant `{t}` in the log: {e}")))?;
                let rows: Vec<(i64, Arc<Logged>)> = rows
                    .into_iter()
                    .map(|(seq, l)| (seq, Arc::new(l)))
                    .collect();
                let mut p = self.lock();
                for (seq, l) in &rows {
                    p.note(t.as_str(), *seq, l);
                    let slot = p.rows.entry(*seq).or_insert_with(|| l.clone());
                    if slot.held.is_none() {
                        *slot = l.clone();
                    }
                }
                drop(p);
                read.extend(rows);
            }
            for (seq, slot) in seqs.iter().zip(&mut out) {
                if slot.is_none() {
                    *slot = Some(read.remove(seq).ok_or_else(|| {
                        BackendError::Corrupt(format!("log row {seq} vanished while read"))
                    })?);
                }
            }
        }
        Ok(out.into_iter().map(|l| l.expect("filled")).collect())
    }
}

/// The subject keys of an event (see [`subjects`]), each once, in order.
pub(crate) fn unique_subjects(e: &Event) -> Vec<String> {
    let mut subs = subjects(e);
    if subs.len() > 1 {
        let mut seen = BTreeSet::new();
        subs.retain(|s| seen.insert(s.clone()));
    }
    subs
}

/// How a touched subject's new state is made.
enum Plan {
    /// Apply the new events to the stored state (`None`: the subject has no
    /// stored row).
    Apply { state: Option<String>, tail: Tail },
    /// Derive it from every row: the stored ones (here) and the new ones.
    Derive(Vec<LogRow>),
}

/// The subjects the new rows touch, each with its new events in log order.
type Touched<'a> = BTreeMap<&'a str, Vec<&'a Event>>;

/// Every touched subject's plan and its stored event list
/// (`subject_state.events`; `None` for a subject never seen).
type Plans = BTreeMap<String, (Plan, Option<String>)>;

/// Decides, for every subject the new rows touch, whether they can be
/// applied to its stored state: the state has a tail (written since
/// migration 4), the new rows bring no error declaration for the subject
/// and no event whose id has one in the log, and every new event comes
/// after the subject's last effective event. Otherwise (late events,
/// corrections, older rows) the state is derived from every row of the
/// subject, which are read here in one statement.
fn plan_subjects(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    touched: &Touched<'_>,
    retracted_ids: &BTreeSet<&str>,
) -> Result<Plans, BackendError> {
    let keys: Vec<String> = touched.keys().map(|s| s.to_string()).collect();
    let mut stored: BTreeMap<String, StoredState> = tx
        .states(tenant, &keys)?
        .into_iter()
        .map(|s| (s.subject.clone(), s))
        .collect();
    let mut plans = Plans::new();
    let mut derive = Vec::new();
    for (s, events) in touched {
        let plain = events
            .iter()
            .all(|e| e.error_declaration.is_none() && !retracted_ids.contains(e.event_id.as_str()));
        let (plan, refs) = match stored.remove(*s) {
            // Never seen: nothing stored to read.
            None if plain => (
                Some(Plan::Apply {
                    state: None,
                    tail: Tail::default(),
                }),
                None,
            ),
            None => (Some(Plan::Derive(Vec::new())), None),
            // A state with a tail that the new rows come after: apply.
            // Rows without a state, or a state without a tail: derive.
            Some(StoredState {
                state,
                tail,
                events: refs,
                ..
            }) => (
                state.and_then(|state| {
                    tail.as_deref()
                        .and_then(|t| serde_json::from_str::<Tail>(t).ok())
                        .filter(|tail| {
                            plain
                                && events
                                    .iter()
                                    .all(|e| tail.last.as_ref().is_none_or(|k| k.precedes(e)))
                        })
                        .map(|tail| Plan::Apply {
                            state: Some(state),
                            tail,
                        })
                }),
                Some(refs),
            ),
        };
        match plan {
            Some(p) => {
                plans.insert(s.to_string(), (p, refs));
            }
            None => derive.push((s.to_string(), refs)),
        }
    }
    if !derive.is_empty() {
        let keys: Vec<String> = derive.iter().map(|(s, _)| s.clone()).collect();
        let mut rows_of = stored_rows(tx, tenant, &keys)?;
        for (s, refs) in derive {
            let rows = rows_of.remove(&s).unwrap_or_default();
            plans.insert(s, (Plan::Derive(rows), refs));
        }
    }
    Ok(plans)
}

/// The stored rows of these subjects, by subject, in storage order.
pub(crate) fn stored_rows(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    subjects: &[String],
) -> Result<BTreeMap<String, Vec<LogRow>>, BackendError> {
    let mut rows_of: BTreeMap<String, Vec<LogRow>> = BTreeMap::new();
    for (s, row) in tx.rows_by_subjects(tenant, subjects)? {
        rows_of.entry(s).or_default().push(row);
    }
    Ok(rows_of)
}

/// A subject's row to write: its derived state and tail, and its stored
/// event list with the new events about it appended.
fn state_row(
    subject: String,
    derived: semantics::Derived,
    stored_refs: Option<&str>,
    touched: &Touched<'_>,
) -> Result<StateRow, BackendError> {
    let events = EventRefs::extend(
        stored_refs,
        touched[subject.as_str()]
            .iter()
            .map(|e| (e.event_id.as_str(), e.log_kind())),
    )?;
    Ok(StateRow {
        tail: serde_json::to_string(&derived.tail).expect("a tail serializes"),
        state: derived.state,
        subject,
        events,
    })
}

/// A subject key takt makes no state of (never made by [`subjects`]).
fn unknown_subject(s: &str) -> BackendError {
    BackendError::Corrupt(format!("no state can be derived for subject `{s}`"))
}

/// The new rows of the subjects one tenant's logged rows (in log order)
/// touch: their stored rows with these applied, or derived again.
fn project_tenant(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    rows: &[Arc<Logged>],
) -> Result<Vec<StateRow>, BackendError> {
    let held: Vec<&Held> = rows
        .iter()
        .map(|l| l.held.as_ref().expect("projected rows are held"))
        .collect();
    let mut touched: Touched<'_> = BTreeMap::new();
    for (l, h) in rows.iter().zip(&held) {
        for s in &l.subjects {
            touched.entry(s.as_str()).or_default().push(h.event());
        }
    }
    // Events whose id has an error declaration in the log: known from the
    // append for the rows this process appended, asked of the log for the
    // others (read back from it).
    let ask: Vec<&str> = rows
        .iter()
        .zip(&held)
        .filter(|(_, h)| matches!(h, Held::Row(_)))
        .map(|(_, h)| h.event().event_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let retractions = if ask.is_empty() {
        Vec::new()
    } else {
        tx.retractions_among(tenant, &ask)?
    };
    let retracted_ids: BTreeSet<&str> = retractions
        .iter()
        .map(String::as_str)
        .chain(
            rows.iter()
                .zip(&held)
                .filter(|(l, _)| l.declared)
                .map(|(_, h)| h.event().event_id.as_str()),
        )
        .collect();
    let plans = plan_subjects(tx, tenant, &touched, &retracted_ids)?;
    let with_new = |s: &str, mut stored: Vec<LogRow>| {
        stored.extend(
            rows.iter()
                .zip(&held)
                .filter(|(l, _)| l.subjects.iter().any(|x| x == s))
                .map(|(_, h)| h.to_log_row()),
        );
        semantics::derive_subject(s, &stored)
    };
    let mut states: Vec<StateRow> = Vec::with_capacity(plans.len());
    // Subjects whose stored state did not parse: derived from their rows.
    let mut again: Vec<(String, Option<String>)> = Vec::new();
    for (s, (plan, refs)) in plans {
        let derived = match plan {
            Plan::Apply { state, tail } => {
                match semantics::apply_subject(&s, state.as_deref(), &tail, &touched[s.as_str()]) {
                    Some(d) => d,
                    None => {
                        again.push((s, refs));
                        continue;
                    }
                }
            }
            Plan::Derive(stored) => with_new(&s, stored).ok_or_else(|| unknown_subject(&s))?,
        };
        states.push(state_row(s, derived, refs.as_deref(), &touched)?);
    }
    if !again.is_empty() {
        let keys: Vec<String> = again.iter().map(|(s, _)| s.clone()).collect();
        let mut rows_of = stored_rows(tx, tenant, &keys)?;
        for (s, refs) in again {
            let stored = rows_of.remove(&s).unwrap_or_default();
            let derived = with_new(&s, stored).ok_or_else(|| unknown_subject(&s))?;
            states.push(state_row(s, derived, refs.as_deref(), &touched)?);
        }
    }
    Ok(states)
}

/// The most log rows one projection applies.
const MAX_ROWS: i64 = 20_000;

/// What one projection did.
enum Step {
    /// Nothing after `projection.seq` up to `head`.
    CaughtUp,
    /// Applied the rows through this position.
    Applied(i64),
    /// Another projector moved `projection.seq` first: start over.
    Overtaken,
}

/// One projection of the rows after `projection.seq` up to `head` (at most
/// [`MAX_ROWS`]): read and derive, then write if still first.
fn project_once(
    backend: &mut dyn Backend,
    pending: &Pending,
    head: i64,
) -> Result<Step, BackendError> {
    let (from, upto, states) = {
        let mut tx = backend.begin_projection(false)?;
        let from = tx.projected()?;
        if from >= head {
            return Ok(Step::CaughtUp);
        }
        let positions = tx.positions(from, head, MAX_ROWS)?;
        let upto = match positions.last() {
            Some((last, _)) if positions.len() as i64 == MAX_ROWS => *last,
            // Positions up to `head` without rows are appends rolled back.
            _ => head,
        };
        let seqs: Vec<i64> = positions.iter().map(|(s, _)| *s).collect();
        let logged = pending.get(&mut *tx, None, &seqs, true)?;
        let mut by_tenant: BTreeMap<&str, Vec<Arc<Logged>>> = BTreeMap::new();
        for ((_, t), l) in positions.iter().zip(logged) {
            by_tenant.entry(t.as_str()).or_default().push(l);
        }
        let mut states = Vec::with_capacity(by_tenant.len());
        for (t, rows) in by_tenant {
            let tenant = TenantId::parse(t)
                .map_err(|e| BackendError::Corrupt(format!("tenant `{t}` in the log: {e}")))?;
            let st = project_tenant(&mut *tx, &tenant, &rows)?;
            states.push((tenant, st));
        }
        (from, upto, states)
    };
    let mut tx = backend.begin_projection(true)?;
    if tx.projected()? != from {
        return Ok(Step::Overtaken);
    }
    for (tenant, st) in &states {
        tx.write_states(tenant, st)?;
    }
    tx.set_projected(upto)?;
    tx.commit()?;
    pending.projected(upto);
    Ok(Step::Applied(upto))
}

/// Projects every row logged by now (through [`Backend::log_head`]):
/// afterwards every acknowledged batch's events are in the subjects' rows.
/// The number of projections written.
pub(crate) fn catch_up(backend: &mut dyn Backend, pending: &Pending) -> Result<u32, BackendError> {
    let head = backend.log_head()?;
    let mut n = 0;
    loop {
        match project_once(backend, pending, head)? {
            Step::CaughtUp => return Ok(n),
            Step::Applied(upto) => {
                n += 1;
                if upto >= head {
                    return Ok(n);
                }
            }
            Step::Overtaken => {}
        }
    }
}

/// True when rows are logged after `projection.seq` (a read, no lock).
pub(crate) fn behind(backend: &mut dyn Backend) -> Result<bool, BackendError> {
    let mut tx = backend.begin_projection(false)?;
    let from = tx.projected()?;
    Ok(!tx.positions(from, i64::MAX, 1)?.is_empty())
}

/// How many logged rows the background projector waits for ...
const GATHER_ROWS: usize = 1024;
/// ... or for how long after the first.
const GATHER_FOR: std::time::Duration = std::time::Duration::from_millis(25);

/// A projector on a thread of its own, with a connection of its own,
/// woken after each append.
pub(crate) struct Background {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts it on a new connection to `url`.
    pub fn start(url: &str, pending: Arc<Pending>) -> Result<Background, BackendError> {
        let mut backend = crate::backend::open(url)?;
        backend.projector_only()?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("takt-projector".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // Projecting each batch as it comes would double the
                    // commits; it waits for a projection's worth of rows,
                    // or a pause (reads do not wait for it: they catch up).
                    let until = std::time::Instant::now() + GATHER_FOR;
                    while pending.len() < GATHER_ROWS {
                        let left = until.saturating_duration_since(std::time::Instant::now());
                        if woken.recv_timeout(left).is_err() {
                            break;
                        }
                    }
                    if let Err(e) = catch_up(&mut *backend, &pending) {
                        // Reads and the next start-up catch up anyway.
                        eprintln!("takt: projecting subject states failed: {e}");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            })
            .map_err(|e| BackendError::Corrupt(format!("starting the projector: {e}")))?;
        Ok(Background {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Wakes it (a wake-up already waiting covers this one too).
    pub fn wake(&self) {
        if let Some(w) = &self.wake {
            let _ = w.try_send(());
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
