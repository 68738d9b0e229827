//! The store: appends batches all-or-nothing and answers per tenant.

use crate::auth::AuditEntry;
use crate::backend::{self, Backend, EventRefs, NewRow, StateRow, StoredState, Tx};
use crate::error::{BackendError, BadItem, Code, Rejected, StoreError};
use crate::model::{Event, Flag, LogRow, subjects};
use crate::semantics::{
    self, DEFAULT_POLICY, HistoryEntry, Outcome, ResourceState, TimePolicy, VehicleState, classify,
};
use crate::tenant::TenantId;
use jiff::Timestamp;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use takt_core::Vin;
use tokio::sync::oneshot;

/// What happened to one item of an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Stored (a new event).
    Stored,
    /// Stored: an error declaration that retracts the event with its id.
    Retracted,
    /// Already stored with the same content; nothing stored.
    Duplicate,
}

/// One item's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemReport {
    pub index: usize,
    pub event_id: String,
    pub answer: Answer,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
}

/// The answers for an accepted batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct AppendReport {
    pub items: Vec<ItemReport>,
}

impl AppendReport {
    /// Items with this answer.
    pub fn count(&self, answer: Answer) -> usize {
        self.items.iter().filter(|i| i.answer == answer).count()
    }
}

/// A vehicle's stored state and its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehicleView {
    pub state: VehicleState,
    pub history: Vec<HistoryEntry>,
    /// Receipt flags by event id (only events with flags).
    pub flags: BTreeMap<String, Vec<Flag>>,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub n_rows: u64,
    pub n_subjects: usize,
    /// Subjects whose stored state differs from the state recomputed from the log.
    pub mismatched: Vec<String>,
}

/// A batch with each event's log record made ahead of storing it (by
/// `takt ingest` on the thread that reads the next documents while the
/// current one is stored): [`Store::append_encoded`].
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBatch {
    events: Vec<Event>,
    records: Vec<String>,
    reads: Reads,
}

impl EncodedBatch {
    /// Makes every event's log record, and works out what the batch will
    /// read (its distinct ids and subjects).
    pub fn new(events: Vec<Event>) -> EncodedBatch {
        let records = events.iter().map(backend::record).collect();
        let reads = Reads::of(&events);
        EncodedBatch {
            events,
            records,
            reads,
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

/// The event store over one backend.
pub struct Store {
    shared: Arc<Shared>,
    /// The writer thread of [`Store::submit`], started by the first batch
    /// submitted; stopped (after the batches already submitted) when the
    /// store is dropped.
    writer: OnceLock<Writer>,
}

/// What a store and its writer thread share.
struct Shared {
    backend: Mutex<Box<dyn Backend>>,
    policy: TimePolicy,
    /// Groups whose transaction failed, stored again one batch at a time.
    regrouped: AtomicU64,
    /// Batches submitted and not yet taken by the writer thread.
    waiting: AtomicUsize,
    /// Batches announced ([`Store::announce`]) and not yet submitted.
    incoming: AtomicUsize,
    /// How long the writer waits, at most, in one transaction for
    /// announced batches ([`GATHER`] unless set).
    gather: std::time::Duration,
    /// Transactions the writer ran, and the batches in them.
    written: (AtomicU64, AtomicU64),
}

/// The writer thread and its queue.
struct Writer {
    jobs: mpsc::Sender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The answer to an append.
type Answered = Result<AppendReport, StoreError>;

/// What [`Store::submit`] makes of a batch's report: its audit row.
pub type AuditOf = Box<dyn Fn(&AppendReport) -> AuditEntry + Send>;

/// A batch submitted to the writer thread ([`Store::submit`]) and where its
/// answer goes.
struct Job {
    tenant: TenantId,
    batch: EncodedBatch,
    received_at: Timestamp,
    audit: AuditOf,
    answer: oneshot::Sender<(Answered, EncodedBatch)>,
}

/// The most batches the writer stores in one transaction; more waiting go
/// in the next one.
pub const MAX_WRITER_GROUP: usize = 64;

/// The fewest batches the writer's group size allows ([`writer_group`]):
/// two requests waiting together always share a commit.
pub const MIN_WRITER_GROUP: usize = 2;

/// How many batches the writer stores in one transaction, from what its
/// recent transactions took and the batches in flight: as many as it
/// stores in the time one commit waits for the disk (`commit` /
/// `per_batch`, rounded up), and at most half of `in_flight` (rounded
/// up; the batches queued or announced, with the group's first), within
/// [`MIN_WRITER_GROUP`]..=[`MAX_WRITER_GROUP`]. The writer is the serial
/// part of a capture: while it stores a group, the requests of the next
/// are read and parsed on the runtime's workers. When commits are quick
/// (a quiet disk), a group of everyone waiting leaves the writer idle
/// while they all send and parse again; small groups, half of what is in
/// flight at most, keep it busy. When the disk is slow, a group shares
/// its wait among many batches. Before any commit is timed (`commit`
/// zero) the group is the smallest.
pub fn writer_group(
    commit: std::time::Duration,
    per_batch: std::time::Duration,
    in_flight: usize,
) -> usize {
    let by_disk = if per_batch.is_zero() {
        if commit.is_zero() {
            MIN_WRITER_GROUP
        } else {
            MAX_WRITER_GROUP
        }
    } else {
        (commit.as_secs_f64() / per_batch.as_secs_f64()).ceil() as usize
    };
    by_disk
        .min(in_flight.div_ceil(2))
        .clamp(MIN_WRITER_GROUP, MAX_WRITER_GROUP)
}

/// A moving mean of durations (each new one weighs an eighth), for the
/// writer's group size.
#[derive(Debug, Default, Clone, Copy)]
struct Smoothed(Option<f64>);

impl Smoothed {
    fn add(&mut self, d: std::time::Duration) {
        let x = d.as_secs_f64();
        self.0 = Some(match self.0 {
            Some(m) => m + (x - m) / 8.0,
            None => x,
        });
    }

    fn get(self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.0.unwrap_or(0.0))
    }
}

/// Where a group's time went ([`Shared::store_group`]): storing its
/// batches (reads, checks and writes, not the waits for more), and the
/// commit (zero when nothing was written).
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    storing: std::time::Duration,
    commit: std::time::Duration,
}

/// A batch announced to the writer ([`Store::announce`]); withdrawn when
/// dropped.
pub struct Announced(Arc<Shared>);

impl Drop for Announced {
    fn drop(&mut self) {
        self.0.incoming.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A submitted batch's answer, to `.await` or to [`Pending::wait`] for: the
/// store's answer and the batch handed back. When the writer failed while
/// storing the batch's group (a panic: the group's transaction rolled
/// back), the answer is [`BackendError::Interrupted`] and the batch is gone.
pub struct Pending(oneshot::Receiver<(Answered, EncodedBatch)>);

/// The answer of a batch whose group the writer did not finish.
fn interrupted() -> StoreError {
    BackendError::Interrupted(
        "the store failed while storing this batch with others (they were rolled back together); resend it (a stored event answers `duplicate`)".into(),
    )
    .into()
}

impl Pending {
    /// Blocks this thread until the batch is answered (not from inside an
    /// async runtime: `.await` the [`Pending`] there).
    pub fn wait(self) -> (Answered, Option<EncodedBatch>) {
        match self.0.blocking_recv() {
            Ok((answer, batch)) => (answer, Some(batch)),
            Err(_) => (Err(interrupted()), None),
        }
    }
}

impl std::future::Future for Pending {
    type Output = (Answered, Option<EncodedBatch>);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok((answer, batch)) => (answer, Some(batch)),
            Err(_) => (Err(interrupted()), None),
        })
    }
}

/// How long, at most, the writer waits in one transaction for announced
/// batches ([`Store::announce`]) to be submitted before it commits (the
/// default of [`Store::with_gather`]).
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// The writer thread: takes the first batch waiting and stores it with
/// every batch of the same tenant queued behind it, or submitted while it
/// stores them, in one transaction ([`Store::append_group`]'s rules); at
/// most [`writer_group`] batches, from the time its recent commits and
/// batches took and the batches in flight. Before it commits, while
/// batches are announced ([`Store::announce`]: requests still being read
/// or parsed), it waits for them, up to [`GATHER`] in all, so that they
/// share the commit (the wait for the disk) instead of each waiting for
/// one of their own. Then it answers each; until the store is dropped and
/// the queue is empty. A panic while storing a group answers that group's
/// batches [`BackendError::Interrupted`] and the writer goes on.
fn write_loop(shared: &Shared, jobs: &mpsc::Receiver<Job>) {
    let take = |job: Job| {
        shared.waiting.fetch_sub(1, Ordering::Relaxed);
        job
    };
    // A batch of another tenant, taken while a group was open.
    let mut next: Option<Job> = None;
    // The recent commits' and batches' times, for the group's size.
    let (mut commit, mut per_batch) = (Smoothed::default(), Smoothed::default());
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => take(job),
                Err(_) => return,
            },
        };
        let tenant = first.tenant.clone();
        let mut group = vec![first];
        let deadline = std::time::Instant::now() + shared.gather;
        let stored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // The next batch of this group: one queued, else one announced
            // while there is time; none when another tenant's comes first.
            let mut pulled = 1;
            let in_flight = 1
                + shared.waiting.load(Ordering::Relaxed)
                + shared.incoming.load(Ordering::Relaxed);
            let cap = writer_group(commit.get(), per_batch.get(), in_flight);
            let more = || -> Option<Job> {
                if pulled >= cap {
                    return None;
                }
                loop {
                    let job = match jobs.try_recv() {
                        Ok(job) => Some(take(job)),
                        Err(mpsc::TryRecvError::Disconnected) => return None,
                        Err(mpsc::TryRecvError::Empty) => {
                            let now = std::time::Instant::now();
                            if shared.incoming.load(Ordering::Relaxed) == 0 || now >= deadline {
                                return None;
                            }
                            // A slice, so that a withdrawn announcement
                            // holds the writer little.
                            let slice = (deadline - now).min(std::time::Duration::from_micros(50));
                            match jobs.recv_timeout(slice) {
                                Ok(job) => Some(take(job)),
                                Err(mpsc::RecvTimeoutError::Timeout) => None,
                                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                            }
                        }
                    };
                    if let Some(job) = job {
                        if job.tenant == tenant {
                            pulled += 1;
                            return Some(job);
                        }
                        next = Some(job);
                        return None;
                    }
                }
            };
            let mut spent = Spent::default();
            let answers =
                shared.store_group(&mut **shared.lock(), &tenant, &mut group, more, &mut spent);
            (answers, spent)
        }));
        shared.written.0.fetch_add(1, Ordering::Relaxed);
        shared
            .written
            .1
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        match stored {
            Ok((answers, spent)) => {
                per_batch.add(spent.storing / group.len() as u32);
                if !spent.commit.is_zero() {
                    commit.add(spent.commit);
                }
                for (job, answer) in group.into_iter().zip(answers) {
                    // A caller that went away no longer wants it.
                    let _ = job.answer.send((answer, job.batch));
                }
            }
            // Each caller is told; its batch is gone with the group.
            Err(_) => drop(group),
        }
    }
}

/// A batch that a group stores: gives its [`Item`].
trait Batch {
    fn item(&self) -> Item<'_>;
}

impl Batch for Job {
    fn item(&self) -> Item<'_> {
        Item::encoded(&self.batch, self.received_at, Some(&*self.audit))
    }
}

impl Batch for (&EncodedBatch, Timestamp) {
    fn item(&self) -> Item<'_> {
        Item::encoded(self.0, self.1, None)
    }
}

/// One batch of a group: its events (with their log records and reads
/// when made ahead, [`EncodedBatch`]), its receipt time and what makes
/// its audit row.
struct Item<'a> {
    events: Events<'a>,
    received_at: Timestamp,
    audit: Option<&'a dyn Fn(&AppendReport) -> AuditEntry>,
}

/// A batch's events, alone or with their records and reads made ahead.
#[derive(Clone, Copy)]
enum Events<'a> {
    Plain(&'a [Event]),
    Encoded(&'a EncodedBatch),
}

impl<'a> Item<'a> {
    fn plain(
        events: &'a [Event],
        received_at: Timestamp,
        audit: Option<&'a dyn Fn(&AppendReport) -> AuditEntry>,
    ) -> Item<'a> {
        Item {
            events: Events::Plain(events),
            received_at,
            audit,
        }
    }

    fn encoded(
        batch: &'a EncodedBatch,
        received_at: Timestamp,
        audit: Option<&'a dyn Fn(&AppendReport) -> AuditEntry>,
    ) -> Item<'a> {
        Item {
            events: Events::Encoded(batch),
            received_at,
            audit,
        }
    }
}

impl<'a> Events<'a> {
    fn all(self) -> &'a [Event] {
        match self {
            Events::Plain(events) => events,
            Events::Encoded(b) => &b.events,
        }
    }

    /// What the batch reads: worked out ahead, or now.
    fn reads(self) -> Cow<'a, Reads> {
        match self {
            Events::Plain(events) => Cow::Owned(Reads::of(events)),
            Events::Encoded(b) => Cow::Borrowed(&b.reads),
        }
    }

    /// The log record of event `i`: made ahead, or now.
    fn record(self, i: usize) -> Cow<'a, str> {
        match self {
            Events::Plain(events) => Cow::Owned(backend::record(&events[i])),
            Events::Encoded(b) => Cow::Borrowed(b.records[i].as_str()),
        }
    }
}

/// How a touched subject's new state is made.
enum Plan {
    /// Apply the batch's events to the stored state (`None`: the subject
    /// has no stored row).
    Apply {
        state: Option<String>,
        tail: semantics::Tail,
    },
    /// Derive it from every row: the stored ones (here) and the batch's.
    Derive(Vec<LogRow>),
}

impl Plan {
    /// The latest stored event time (for the out-of-order flag).
    fn latest_at(&self) -> Option<Timestamp> {
        match self {
            Plan::Apply { tail, .. } => tail.latest_at,
            Plan::Derive(rows) => semantics::latest_at(rows),
        }
    }
}

/// The subjects the new rows touch, each with its new events in batch order.
type Touched<'a> = BTreeMap<&'a str, Vec<&'a Event>>;

/// Every touched subject's plan and its stored event list
/// (`subject_state.events`; `None` for a subject never seen).
type Plans = BTreeMap<String, (Plan, Option<String>)>;

/// Decides, for every subject the new rows touch, whether the batch can be
/// applied to its stored state: the state has a tail (written since
/// migration 4), the batch brings no error declaration for the subject and
/// no event whose id has a stored one, and every new event comes after the
/// subject's last effective event. Otherwise (late events, corrections,
/// older rows) the state is derived from every row of the subject, which
/// are read here in one statement.
fn plan_subjects(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    touched: &Touched<'_>,
    mut stored: BTreeMap<String, StoredState>,
    retracted_ids: &BTreeSet<&str>,
) -> Result<Plans, BackendError> {
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
                    tail: semantics::Tail::default(),
                }),
                None,
            ),
            None => (Some(Plan::Derive(Vec::new())), None),
            // A state with a tail that the batch comes after: apply. Rows
            // without a state, or a state without a tail: derive.
            Some(StoredState {
                state,
                tail,
                events: refs,
                ..
            }) => (
                state.and_then(|state| {
                    tail.as_deref()
                        .and_then(|t| serde_json::from_str::<semantics::Tail>(t).ok())
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
fn stored_rows(
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

/// The subject keys of an event (see [`subjects`]), each once, in order.
fn unique_subjects(e: &Event) -> Vec<String> {
    let mut subs = subjects(e);
    if subs.len() > 1 {
        let mut seen = BTreeSet::new();
        subs.retain(|s| seen.insert(s.clone()));
    }
    subs
}

/// A subject's row to write: its derived state and tail, and its stored
/// event list with the batch's events about it appended.
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

/// What a batch reads ([`Tx::rows_and_states`]), worked out once per
/// batch (by the caller, for an [`EncodedBatch`]): each event's distinct
/// subjects, and the batch's distinct event ids and subjects, each sorted.
#[derive(Debug, Clone, PartialEq)]
struct Reads {
    subjects_of: Vec<Vec<String>>,
    ids: Vec<String>,
    named: Vec<String>,
}

impl Reads {
    fn of(batch: &[Event]) -> Reads {
        let subjects_of: Vec<Vec<String>> = batch.iter().map(unique_subjects).collect();
        let mut ids: Vec<String> = batch.iter().map(|e| e.event_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut named: Vec<String> = subjects_of.iter().flatten().cloned().collect();
        named.sort_unstable();
        named.dedup();
        Reads {
            subjects_of,
            ids,
            named,
        }
    }
}

/// One batch's append inside a write transaction that the caller begins
/// and commits: the report, and whether anything was written (a batch of
/// duplicates only, without an audit row, writes nothing). A rejected
/// batch (`StoreError::Rejected`) is rejected before it writes anything.
fn append_in(
    tx: &mut dyn Tx,
    policy: &TimePolicy,
    tenant: &TenantId,
    item: &Item<'_>,
) -> Result<(AppendReport, bool), StoreError> {
    let &Item {
        events,
        received_at,
        audit,
    } = item;
    let batch = events.all();
    let reads = events.reads();
    let mut bad = Vec::new();
    let mut flags: Vec<Vec<Flag>> = Vec::with_capacity(batch.len());
    for (i, e) in batch.iter().enumerate() {
        match policy.check(e.at, received_at) {
            Ok(f) => flags.push(f),
            Err(reason) => {
                bad.push(BadItem {
                    index: i,
                    event_id: Some(e.event_id.clone()),
                    code: Code::FutureEvent,
                    pointer: String::new(),
                    reason,
                });
                flags.push(Vec::new());
            }
        }
    }
    if !bad.is_empty() {
        return Err(Rejected(bad).into());
    }
    // The rows stored under the batch's ids, and what is stored about
    // every subject the batch names (read together; a duplicate's subjects
    // are read too and left unused), and the batch's new events as they
    // are accepted (for duplicates within the batch): borrowed, never
    // copied.
    let (under_ids, states) = tx.rows_and_states(tenant, &reads.ids, &reads.named)?;
    let mut stored_states: BTreeMap<String, StoredState> =
        states.into_iter().map(|s| (s.subject.clone(), s)).collect();
    let mut by_id: HashMap<&str, Vec<&Event>> = HashMap::with_capacity(reads.ids.len());
    for row in &under_ids {
        by_id
            .entry(row.event.event_id.as_str())
            .or_default()
            .push(&row.event);
    }
    let mut report = AppendReport::default();
    let mut new_rows: Vec<NewRow<'_>> = Vec::with_capacity(batch.len());
    for (i, e) in batch.iter().enumerate() {
        let stored = by_id.entry(e.event_id.as_str()).or_default();
        match classify(stored, e) {
            Outcome::Conflict(fields) => bad.push(BadItem {
                index: i,
                event_id: Some(e.event_id.clone()),
                code: Code::Conflict,
                pointer: fields.first().cloned().unwrap_or_default(),
                reason: format!(
                    "event id `{}` is already stored with different content; differing fields: {}. Send a new event id, or retract the stored event with an error declaration",
                    e.event_id,
                    fields.join(", ")
                ),
            }),
            Outcome::Duplicate => report.items.push(ItemReport {
                index: i,
                event_id: e.event_id.clone(),
                answer: Answer::Duplicate,
                flags: Vec::new(),
            }),
            Outcome::New => {
                stored.push(e);
                let answer = if e.error_declaration.is_some() { Answer::Retracted } else { Answer::Stored };
                report.items.push(ItemReport { index: i, event_id: e.event_id.clone(), answer, flags: Vec::new() });
                new_rows.push(NewRow {
                    event: e,
                    record: events.record(i),
                    received_at,
                    flags: std::mem::take(&mut flags[i]),
                    subjects: &reads.subjects_of[i],
                });
            }
        }
    }
    if !bad.is_empty() {
        return Err(Rejected(bad).into());
    }
    if new_rows.is_empty() {
        // Only duplicates: nothing to write but the audit row.
        report.items.sort_by_key(|r| r.index);
        if let Some(audit) = audit {
            tx.audit(&audit(&report))?;
            return Ok((report, true));
        }
        return Ok((report, false));
    }
    let retracted_ids: BTreeSet<&str> = by_id
        .values()
        .flatten()
        .filter(|e| e.error_declaration.is_some())
        .map(|e| e.event_id.as_str())
        .collect();
    let mut touched: Touched<'_> = BTreeMap::new();
    for row in &new_rows {
        for s in row.subjects {
            touched.entry(s.as_str()).or_default().push(row.event);
        }
    }
    stored_states.retain(|s, _| touched.contains_key(s.as_str()));
    let plans = plan_subjects(tx, tenant, &touched, stored_states, &retracted_ids)?;
    // Flags in batch order: an event is out of order when a stored or
    // earlier event of one of its subjects is later.
    let mut latest: BTreeMap<&str, Option<Timestamp>> = plans
        .iter()
        .map(|(s, (p, _))| (s.as_str(), p.latest_at()))
        .collect();
    let mut reports = report
        .items
        .iter_mut()
        .filter(|r| r.answer != Answer::Duplicate);
    let mut row_flags: Vec<Vec<Flag>> = Vec::with_capacity(new_rows.len());
    for row in &new_rows {
        let mut f = row.flags.clone();
        if !row.is_retraction() {
            if row
                .subjects
                .iter()
                .any(|s| latest[s.as_str()].is_some_and(|t| t > row.event.at))
            {
                f.push(Flag::OutOfOrder);
            }
            for s in row.subjects {
                let l = latest.get_mut(s.as_str()).expect("planned");
                *l = (*l).max(Some(row.event.at));
            }
        }
        f.sort();
        if let Some(r) = reports.next() {
            r.flags.clone_from(&f);
        }
        row_flags.push(f);
    }
    let mut states: Vec<StateRow> = Vec::with_capacity(plans.len());
    // Subjects whose stored state did not parse: derived from their rows.
    let mut again: Vec<(String, Option<String>)> = Vec::new();
    let with_batch = |s: &str, mut rows: Vec<LogRow>| {
        rows.extend(
            new_rows
                .iter()
                .filter(|r| r.subjects.iter().any(|x| x == s))
                .map(NewRow::to_log_row),
        );
        semantics::derive_subject(s, &rows)
    };
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
            Plan::Derive(rows) => with_batch(&s, rows).ok_or_else(|| unknown_subject(&s))?,
        };
        states.push(state_row(s, derived, refs.as_deref(), &touched)?);
    }
    if !again.is_empty() {
        let keys: Vec<String> = again.iter().map(|(s, _)| s.clone()).collect();
        let mut rows_of = stored_rows(tx, tenant, &keys)?;
        for (s, refs) in again {
            let rows = rows_of.remove(&s).unwrap_or_default();
            let derived = with_batch(&s, rows).ok_or_else(|| unknown_subject(&s))?;
            states.push(state_row(s, derived, refs.as_deref(), &touched)?);
        }
    }
    drop(touched);
    for (row, f) in new_rows.iter_mut().zip(row_flags) {
        row.flags = f;
    }
    report.items.sort_by_key(|r| r.index);
    let entry = audit.map(|audit| audit(&report));
    tx.write(tenant, &new_rows, &states, entry.as_ref())?;
    Ok((report, true))
}

impl Store {
    /// Opens the database a URL names (see [`backend::open`]), running migrations.
    pub fn open(url: &str) -> Result<Store, BackendError> {
        Ok(Store::new(backend::open(url)?))
    }

    /// A store over a backend, with [`DEFAULT_POLICY`].
    pub fn new(backend: Box<dyn Backend>) -> Store {
        Store {
            shared: Arc::new(Shared {
                backend: Mutex::new(backend),
                policy: DEFAULT_POLICY,
                regrouped: AtomicU64::new(0),
                waiting: AtomicUsize::new(0),
                incoming: AtomicUsize::new(0),
                gather: GATHER,
                written: (AtomicU64::new(0), AtomicU64::new(0)),
            }),
            writer: OnceLock::new(),
        }
    }

    /// The same store with another time policy (before any batch is
    /// submitted).
    pub fn with_policy(mut self, policy: TimePolicy) -> Store {
        Arc::get_mut(&mut self.shared)
            .expect("the policy is set before the writer starts")
            .policy = policy;
        self
    }

    /// The same store whose writer waits at most `gather` in a
    /// transaction for announced batches (before any batch is submitted).
    pub fn with_gather(mut self, gather: std::time::Duration) -> Store {
        Arc::get_mut(&mut self.shared)
            .expect("the wait is set before the writer starts")
            .gather = gather;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Backend>> {
        self.shared.lock()
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        self.lock().name()
    }

    /// Appends a batch received at `received_at`, all or nothing: with any
    /// bad item (event time beyond the policy, same id with different
    /// content) nothing is stored and every bad item is reported.
    pub fn append(
        &self,
        tenant: &TenantId,
        batch: &[Event],
        received_at: Timestamp,
    ) -> Result<AppendReport, StoreError> {
        self.append_one(tenant, &Item::plain(batch, received_at, None))
    }

    /// [`Store::append`] of a batch whose log records were made ahead.
    pub fn append_encoded(
        &self,
        tenant: &TenantId,
        batch: &EncodedBatch,
        received_at: Timestamp,
    ) -> Result<AppendReport, StoreError> {
        self.append_one(tenant, &Item::encoded(batch, received_at, None))
    }

    /// [`Store::append`], and when the batch is accepted, the audit-log
    /// row `audit` makes of its report is written in the same transaction
    /// (one commit for both; also for a batch of duplicates only). A
    /// rejected batch writes no audit row: the caller audits the rejection.
    pub fn append_audited(
        &self,
        tenant: &TenantId,
        batch: &[Event],
        received_at: Timestamp,
        audit: &dyn Fn(&AppendReport) -> AuditEntry,
    ) -> Result<AppendReport, StoreError> {
        self.append_one(tenant, &Item::plain(batch, received_at, Some(audit)))
    }

    fn append_one(&self, tenant: &TenantId, item: &Item<'_>) -> Answered {
        self.shared.append_one(&mut **self.lock(), tenant, item)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Backend>> {
        // A panic mid-transaction rolled the transaction back; the
        // connection is still usable.
        self.backend.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One batch in a transaction of its own.
    fn append_one(
        &self,
        backend: &mut dyn Backend,
        tenant: &TenantId,
        item: &Item<'_>,
    ) -> Answered {
        let mut tx = backend.begin(tenant, true)?;
        let (report, write) = append_in(&mut *tx, &self.policy, tenant, item)?;
        if write {
            tx.commit()?;
        }
        Ok(report)
    }

    /// Several batches of one tenant in one transaction (see
    /// [`Store::append_group`]), and each that `more` gives before the
    /// commit (added to `batches`); the answers in the order of `batches`,
    /// and in `spent` where the transaction's time went.
    fn store_group<B: Batch>(
        &self,
        backend: &mut dyn Backend,
        tenant: &TenantId,
        batches: &mut Vec<B>,
        mut more: impl FnMut() -> Option<B>,
        spent: &mut Spent,
    ) -> Vec<Answered> {
        let grouped = (|| -> Result<Vec<Answered>, StoreError> {
            let mut tx = backend.begin(tenant, true)?;
            let mut out = Vec::with_capacity(batches.len());
            let mut write = false;
            let mut announced = 0;
            loop {
                let storing = std::time::Instant::now();
                // Every batch's read announced first (PostgreSQL sends them
                // ahead, so that a batch is decided while the server writes
                // the one before it).
                for b in &batches[announced..] {
                    let item = b.item();
                    let r = item.events.reads();
                    tx.read_ahead(tenant, &r.ids, &r.named)?;
                }
                announced = batches.len();
                while out.len() < batches.len() {
                    let item = batches[out.len()].item();
                    match append_in(&mut *tx, &self.policy, tenant, &item) {
                        Ok((report, w)) => {
                            write |= w;
                            out.push(Ok(report));
                        }
                        // Decided before the batch wrote anything.
                        Err(StoreError::Rejected(r)) => out.push(Err(StoreError::Rejected(r))),
                        Err(e) => return Err(e),
                    }
                }
                spent.storing += storing.elapsed();
                match more() {
                    Some(b) => batches.push(b),
                    None => break,
                }
            }
            if write {
                let committing = std::time::Instant::now();
                tx.commit()?;
                spent.commit = committing.elapsed();
            }
            Ok(out)
        })();
        match grouped {
            Ok(out) => out,
            // A lone batch's failure is its answer.
            Err(e) if batches.len() == 1 => vec![Err(e)],
            Err(_) => {
                self.regrouped.fetch_add(1, Ordering::Relaxed);
                batches
                    .iter()
                    .map(|b| self.append_one(backend, tenant, &b.item()))
                    .collect()
            }
        }
    }
}

impl Store {
    /// Appends several batches of one tenant, in order, in one transaction
    /// (group commit): one commit, so one wait for the disk, for all of
    /// them. Each batch is still all or nothing and is answered as
    /// [`Store::append_encoded`] would answer it alone: a rejected batch
    /// writes nothing (its rejection is decided before any write) and the
    /// others are stored; a later batch sees the earlier ones (duplicates,
    /// states). No batch is stored before the commit, so none may be
    /// acknowledged before this returns. When the transaction fails
    /// otherwise (a database error in any batch, or at the commit), it is
    /// rolled back and every batch is appended again on its own, so that
    /// one batch's failure takes no other batch with it.
    pub fn append_group(
        &self,
        tenant: &TenantId,
        batches: &[(&EncodedBatch, Timestamp)],
    ) -> Vec<Answered> {
        let mut batches = batches.to_vec();
        self.shared.store_group(
            &mut **self.lock(),
            tenant,
            &mut batches,
            || None,
            &mut Spent::default(),
        )
    }

    /// Hands a batch to the store's writer thread, for callers on many
    /// threads or tasks (`takt serve`'s requests), with group commit: the
    /// writer stores the batches waiting together, each run of one
    /// tenant's batches in one transaction ([`Store::append_group`]'s
    /// rules, each accepted batch's audit row in it), and answers each
    /// after the commit. The batch's log records are made by the caller
    /// ([`EncodedBatch::new`]), so that the writer does only the
    /// database's work. A batch alone is stored alone, as
    /// [`Store::append_audited`] stores it.
    ///
    /// `announced`: the batch's announcement, when it was announced
    /// ([`Store::announce`]) while its request was read and parsed.
    pub fn submit(
        &self,
        tenant: TenantId,
        batch: EncodedBatch,
        received_at: Timestamp,
        audit: AuditOf,
        announced: Option<Announced>,
    ) -> Pending {
        let writer = self.writer.get_or_init(|| {
            let (jobs, queue) = mpsc::channel();
            let shared = self.shared.clone();
            let thread = std::thread::Builder::new()
                .name("takt-store-writer".into())
                .spawn(move || write_loop(&shared, &queue))
                .expect("the store's writer thread starts");
            Writer {
                jobs,
                thread: Some(thread),
            }
        });
        let (answer, pending) = oneshot::channel();
        self.shared.waiting.fetch_add(1, Ordering::Relaxed);
        // Withdrawn first: the writer waits for announced batches, and this
        // one is about to be queued.
        drop(announced);
        let job = Job {
            tenant,
            batch,
            received_at,
            audit,
            answer,
        };
        if writer.jobs.send(job).is_err() {
            // The writer thread is gone (it cannot be while the store
            // lives): the dropped job's answer says so.
            self.shared.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        Pending(pending)
    }

    /// Announces a batch that will be submitted soon ([`Store::submit`]):
    /// a request whose body is being read and parsed. While batches are
    /// announced, the writer waits for them (up to [`GATHER`]) before it
    /// commits, so that they share the commit. Dropping the announcement
    /// (the request failed, or its batch was submitted) withdraws it.
    pub fn announce(&self) -> Announced {
        self.shared.incoming.fetch_add(1, Ordering::Relaxed);
        Announced(self.shared.clone())
    }

    /// Groups of batches ([`Store::append_group`], [`Store::submit`])
    /// whose transaction failed (a database error, not a rejected batch)
    /// and whose batches were then stored one at a time.
    pub fn groups_stored_again(&self) -> u64 {
        self.shared.regrouped.load(Ordering::Relaxed)
    }

    /// The writer's transactions so far and the batches in them
    /// ([`Store::submit`]; their ratio is the mean group size).
    pub fn written(&self) -> (u64, u64) {
        (
            self.shared.written.0.load(Ordering::Relaxed),
            self.shared.written.1.load(Ordering::Relaxed),
        )
    }

    /// Batches submitted ([`Store::submit`]) and not yet taken by the
    /// writer thread (the depth of group commit's queue).
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Relaxed)
    }

    /// A vehicle's stored state and its history (every event, retracted
    /// ones marked), or `None` when the tenant has no event for it.
    pub fn vehicle(&self, tenant: &TenantId, vin: &Vin) -> Result<Option<VehicleView>, StoreError> {
        let mut guard = self.lock();
        let mut tx = guard.begin(tenant, false)?;
        let subject = format!("vin:{vin}");
        let Some(state) = tx.get_state(tenant, &subject)? else {
            return Ok(None);
        };
        let state: VehicleState = serde_json::from_str(&state)
            .map_err(|e| BackendError::Corrupt(format!("state of {subject}: {e}")))?;
        let rows = tx.rows_by_subject(tenant, &subject)?;
        let (_, history) = semantics::derive_vehicle(*vin, &rows);
        let flags = rows
            .iter()
            .filter(|r| !r.flags.is_empty())
            .map(|r| (r.event.event_id.clone(), r.flags.clone()))
            .collect();
        Ok(Some(VehicleView {
            state,
            history,
            flags,
        }))
    }

    /// A vehicle's history (see [`Store::vehicle`]); empty when unknown.
    pub fn history(&self, tenant: &TenantId, vin: &Vin) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self
            .vehicle(tenant, vin)?
            .map(|v| v.history)
            .unwrap_or_default())
    }

    /// The tenant's effective vehicle milestones, as takt milestones in
    /// event-time order, for analysis (see [`semantics::milestones`]).
    pub fn milestones(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<takt_core::event::Milestone>, StoreError> {
        let rows = {
            let mut guard = self.lock();
            let mut tx = guard.begin(tenant, false)?;
            tx.rows_of_tenant(tenant)?
        };
        Ok(semantics::milestones(tenant.as_str(), &rows))
    }

    /// A resource's stored state by key (`ResourceEvent::key`).
    pub fn resource(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<ResourceState>, StoreError> {
        let mut guard = self.lock();
        let mut tx = guard.begin(tenant, false)?;
        let subject = format!("res:{key}");
        match tx.get_state(tenant, &subject)? {
            None => Ok(None),
            Some(s) => Ok(Some(serde_json::from_str(&s).map_err(|e| {
                BackendError::Corrupt(format!("state of {subject}: {e}"))
            })?)),
        }
    }

    /// Every stored log row about a subject (`vin:...` or `res:...`), in
    /// storage order.
    pub fn rows(&self, tenant: &TenantId, subject: &str) -> Result<Vec<LogRow>, StoreError> {
        let mut guard = self.lock();
        let mut tx = guard.begin(tenant, false)?;
        Ok(tx.rows_by_subject(tenant, subject)?)
    }

    /// Runs the database's integrity check, then recomputes every subject's
    /// state from the log (each row grouped under the subjects its event
    /// is about) and compares it with the stored state and tail, and the
    /// subject's stored event list with the log rows about it.
    pub fn verify(&self, tenant: &TenantId) -> Result<Verification, StoreError> {
        let mut guard = self.lock();
        guard.integrity_check()?;
        let mut tx = guard.begin(tenant, false)?;
        let n_rows = tx.count_rows(tenant)?;
        let log = tx.rows_of_tenant(tenant)?;
        let mut rows_of: BTreeMap<String, Vec<LogRow>> = BTreeMap::new();
        for row in log {
            let subs = unique_subjects(&row.event);
            if let Some((last, rest)) = subs.split_last() {
                for s in rest {
                    rows_of.entry(s.clone()).or_default().push(row.clone());
                }
                rows_of.entry(last.clone()).or_default().push(row);
            }
        }
        let mut subjects: BTreeSet<String> = tx.subjects(tenant)?.into_iter().collect();
        subjects.extend(rows_of.keys().cloned());
        let subjects: Vec<String> = subjects.into_iter().collect();
        let stored: BTreeMap<String, StoredState> = tx
            .states(tenant, &subjects)?
            .into_iter()
            .map(|s| (s.subject.clone(), s))
            .collect();
        let mut mismatched = Vec::new();
        for s in &subjects {
            let rows = rows_of.remove(s).unwrap_or_default();
            let recomputed = semantics::derive_subject(s, &rows);
            let mut in_log: Vec<(String, String)> = rows
                .iter()
                .map(|r| (r.event.event_id.clone(), r.kind().to_string()))
                .collect();
            in_log.sort();
            let same = match (recomputed, stored.get(s)) {
                (Some(d), Some(st)) => {
                    st.state.as_ref() == Some(&d.state)
                        && st.tail.as_deref().is_none_or(|t| {
                            serde_json::from_str::<semantics::Tail>(t).ok() == Some(d.tail.clone())
                        })
                        && EventRefs::parse(&st.events).is_ok_and(|mut listed| {
                            listed.sort();
                            listed == in_log
                        })
                }
                (None, None) => true,
                _ => false,
            };
            if !same {
                mismatched.push(s.clone());
            }
        }
        Ok(Verification {
            n_rows,
            n_subjects: subjects.len(),
            mismatched,
        })
    }

    /// Every subject with a stored row (state and event list) for the
    /// tenant, sorted.
    pub fn subjects(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let mut guard = self.lock();
        let mut tx = guard.begin(tenant, false)?;
        Ok(tx.subjects(tenant)?)
    }

    /// The log's row count for the tenant.
    pub fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let mut guard = self.lock();
        let mut tx = guard.begin(tenant, false)?;
        Ok(tx.count_rows(tenant)?)
    }

    /// The schema version after migrations.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.lock().schema_version()?)
    }
}

impl Drop for Store {
    /// Stops the writer thread after the batches already submitted.
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take() {
            let thread = writer.thread.take();
            drop(writer);
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }
}
