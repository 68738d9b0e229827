//! The store: appends batches all-or-nothing and answers per tenant.

use crate::auth::AuditEntry;
use crate::backend::{self, Backend, EventRefs, NewRow, StoredState};
use crate::error::{BackendError, BadItem, Code, Rejected, StoreError};
use crate::model::{Event, Flag, LogRow};
use crate::projector::{self, Held, Logged, Pending, unique_subjects};
use crate::semantics::{
    self, DEFAULT_POLICY, HistoryEntry, Outcome, ResourceState, TimePolicy, VehicleState, classify,
};
use crate::tenant::TenantId;
use jiff::Timestamp;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use takt_core::Vin;

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
///
/// Its events are shared with the projector until it has applied them
/// (never copied, nor read back from the log).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBatch {
    events: Arc<Vec<Event>>,
    records: Vec<String>,
}

impl EncodedBatch {
    /// Makes every event's log record.
    pub fn new(events: Vec<Event>) -> EncodedBatch {
        let records = events.iter().map(backend::record).collect();
        EncodedBatch {
            events: Arc::new(events),
            records,
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

/// The event store over one backend.
pub struct Store {
    backend: Mutex<Box<dyn Backend>>,
    policy: TimePolicy,
    /// Rows logged through this store and not yet projected.
    pending: Arc<Pending>,
    /// The database's URL, for the background projector's connection
    /// (`None`: no background projector; reads and appends past
    /// [`MAX_LAG`] project on this store's connection).
    url: Option<String>,
    /// The background projector, started by the first append.
    projector: Mutex<Option<projector::Background>>,
}

/// The most logged rows of a tenant that an append leaves unprojected: an
/// append that finds more projects them itself before answering, so the
/// projector's lag (and what an append reads of it) stays bounded.
pub const MAX_LAG: usize = 4096;

impl Store {
    /// Opens the database a URL names (see [`backend::open`]), running migrations.
    /// Catches the subjects' rows up with the log (after a crash, what was
    /// logged and not yet projected). Appends are then projected by a
    /// background projector on a connection of its own.
    pub fn open(url: &str) -> Result<Store, BackendError> {
        let mut store = Store::new(backend::open(url)?);
        store.url = Some(url.to_string());
        store.catch_up()?;
        Ok(store)
    }

    /// A store over a backend, with [`DEFAULT_POLICY`], without a
    /// background projector: reads catch up first, and an append that
    /// finds more than [`MAX_LAG`] rows unprojected projects them.
    pub fn new(backend: Box<dyn Backend>) -> Store {
        Store {
            backend: Mutex::new(backend),
            policy: DEFAULT_POLICY,
            pending: Arc::default(),
            url: None,
            projector: Mutex::new(None),
        }
    }

    /// Projects every row logged by now into the subjects' rows, on this
    /// store's connection (reads do this first; `takt ingest` before it
    /// exits). The number of projection transactions written.
    pub fn catch_up(&self) -> Result<u32, BackendError> {
        let mut guard = self.lock();
        if !projector::behind(&mut **guard)? {
            return Ok(0);
        }
        projector::catch_up(&mut **guard, &self.pending)
    }

    /// This store's connection, once the subjects' rows are caught up with
    /// the log (what every read of state takes: read-your-writes).
    fn caught_up(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn Backend>>, BackendError> {
        let mut guard = self.lock();
        if projector::behind(&mut **guard)? {
            projector::catch_up(&mut **guard, &self.pending)?;
        }
        Ok(guard)
    }

    /// Logged rows not yet projected (all tenants).
    pub fn projection_lag(&self) -> Result<u64, BackendError> {
        let mut guard = self.lock();
        let mut tx = guard.begin_projection(false)?;
        Ok(tx.unprojected()?.1 as u64)
    }

    /// Wakes the background projector, starting it first if needed;
    /// false when there is none (a store made by [`Store::new`], or its
    /// connection failed).
    fn wake_projector(&self) -> bool {
        let Some(url) = &self.url else {
            return true;
        };
        let mut p = self.projector.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_none() {
            *p = projector::Background::start(url, self.pending.clone()).ok();
        }
        p.as_ref().map(projector::Background::wake).is_some()
    }

    /// The same store with another time policy.
    pub fn with_policy(mut self, policy: TimePolicy) -> Store {
        self.policy = policy;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Backend>> {
        // A panic mid-transaction rolled the transaction back; the
        // connection is still usable.
        self.backend.lock().unwrap_or_else(|p| p.into_inner())
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
        self.append_inner(tenant, batch, None, None, received_at, None)
    }

    /// [`Store::append`] of a batch whose log records were made ahead.
    pub fn append_encoded(
        &self,
        tenant: &TenantId,
        batch: &EncodedBatch,
        received_at: Timestamp,
    ) -> Result<AppendReport, StoreError> {
        self.append_batch(tenant, batch, received_at, None)
    }

    /// [`Store::append`], and when the batch is accepted, the audit-log
    /// row `audit` makes of its report is written in the same transaction
    /// (one commit for both; also for a batch of duplicates only). A
    /// rejected batch writes no audit row: the caller audits the rejection.
    pub fn append_audited(
        &self,
        tenant: &TenantId,
        batch: &EncodedBatch,
        received_at: Timestamp,
        audit: &dyn Fn(&AppendReport) -> AuditEntry,
    ) -> Result<AppendReport, StoreError> {
        self.append_batch(tenant, batch, received_at, Some(audit))
    }

    /// An encoded batch's append: its events shared with the projector.
    fn append_batch(
        &self,
        tenant: &TenantId,
        batch: &EncodedBatch,
        received_at: Timestamp,
        audit: Option<&dyn Fn(&AppendReport) -> AuditEntry>,
    ) -> Result<AppendReport, StoreError> {
        self.append_inner(
            tenant,
            &batch.events,
            Some(&batch.events),
            Some(&batch.records),
            received_at,
            audit,
        )
    }

    /// Appends the new events' log rows (the acknowledgement waits for
    /// their commit, not for the subjects' rows: see [`crate::projector`]).
    /// `shared`: the batch, kept for the projector until it is applied.
    fn append_inner(
        &self,
        tenant: &TenantId,
        batch: &[Event],
        shared: Option<&Arc<Vec<Event>>>,
        records: Option<&[String]>,
        received_at: Timestamp,
        audit: Option<&dyn Fn(&AppendReport) -> AuditEntry>,
    ) -> Result<AppendReport, StoreError> {
        let mut bad = Vec::new();
        let mut flags: Vec<Vec<Flag>> = Vec::with_capacity(batch.len());
        for (i, e) in batch.iter().enumerate() {
            match self.policy.check(e.at, received_at) {
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
        let mut guard = self.lock();
        let mut tx = guard.begin(tenant, true)?;
        let ids: Vec<&str> = batch
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // The rows stored under the batch's ids, and the batch's new events
        // as they are accepted (for duplicates within the batch): borrowed,
        // never copied.
        let under_ids = tx.rows_by_id(tenant, &ids)?;
        let mut by_id: HashMap<&str, Vec<&Event>> = HashMap::with_capacity(ids.len());
        for row in &under_ids {
            by_id
                .entry(row.event.event_id.as_str())
                .or_default()
                .push(&row.event);
        }
        let mut report = AppendReport::default();
        let mut new_rows: Vec<NewRow<'_>> = Vec::with_capacity(batch.len());
        // Each new row's index in the batch.
        let mut new_index: Vec<usize> = Vec::with_capacity(batch.len());
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
                        record: match records {
                            Some(r) => Cow::Borrowed(r[i].as_str()),
                            None => Cow::Owned(backend::record(e)),
                        },
                        received_at,
                        flags: std::mem::take(&mut flags[i]),
                        subjects: unique_subjects(e),
                    });
                    new_index.push(i);
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
                tx.commit()?;
            }
            return Ok(report);
        }
        // Out-of-order flags need each touched subject's latest event
        // time: its stored tail's, and its logged rows' not yet projected.
        let mut latest: BTreeMap<&str, Option<Timestamp>> = new_rows
            .iter()
            .flat_map(|r| r.subjects.iter().map(|s| (s.as_str(), None)))
            .collect();
        // The rows logged after `projection.seq`: those this store appended
        // are held (with each subject's latest event time); when the log
        // has others, they are read from it (and held).
        let (from, in_log) = tx.unprojected()?;
        let in_log = in_log as usize;
        if in_log != self.pending.count_after(from) {
            let logged = tx.logged_after(tenant, from)?;
            self.pending.get(&mut *tx, Some(tenant), &logged, false)?;
        }
        let keys: Vec<String> = latest.keys().map(|s| s.to_string()).collect();
        let mut no_tail = Vec::new();
        for (s, tail, has_state) in tx.tails(tenant, &keys)? {
            match tail
                .as_deref()
                .and_then(|t| serde_json::from_str::<semantics::Tail>(t).ok())
            {
                Some(t) if has_state => {
                    if let Some(l) = latest.get_mut(s.as_str()) {
                        *l = t.latest_at;
                    }
                }
                // Written before migration 4: from its rows.
                _ => no_tail.push(s),
            }
        }
        if !no_tail.is_empty() {
            for (s, rows) in projector::stored_rows(&mut *tx, tenant, &no_tail)? {
                if let Some(l) = latest.get_mut(s.as_str()) {
                    *l = semantics::latest_at(&rows);
                }
            }
        }
        for (s, l) in latest.iter_mut() {
            *l = (*l).max(self.pending.latest(tenant, s));
        }
        // Flags in batch order: an event is out of order when a stored or
        // earlier event of one of its subjects is later.
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
                for s in &row.subjects {
                    let l = latest.get_mut(s.as_str()).expect("listed");
                    *l = (*l).max(Some(row.event.at));
                }
            }
            f.sort();
            if let Some(r) = reports.next() {
                r.flags.clone_from(&f);
            }
            row_flags.push(f);
        }
        drop(latest);
        for (row, f) in new_rows.iter_mut().zip(row_flags) {
            row.flags = f;
        }
        // Which new events have an error declaration for their id in the log
        // or the batch (the projector derives their subjects again).
        let declared: Vec<bool> = new_rows
            .iter()
            .map(|r| {
                by_id
                    .get(r.event.event_id.as_str())
                    .is_some_and(|es| es.iter().any(|e| e.error_declaration.is_some()))
            })
            .collect();
        let seqs = tx.append(tenant, &new_rows)?;
        report.items.sort_by_key(|r| r.index);
        if let Some(audit) = audit {
            tx.audit(&audit(&report))?;
        }
        tx.commit()?;
        self.pending.insert(
            tenant,
            seqs.iter().zip(new_rows).zip(&new_index).zip(declared).map(
                |(((seq, row), &index), declared)| {
                    let held = shared.map(|b| Held::Batch {
                        batch: b.clone(),
                        index,
                        received_at: row.received_at,
                        flags: row.flags,
                    });
                    let l = Logged::with_subjects(row.event, row.subjects, declared, held);
                    (*seq, l)
                },
            ),
        );
        // The batch is stored: a projection that fails now is retried by
        // the next read or start-up, and does not undo the answer.
        if in_log + seqs.len() > MAX_LAG || !self.wake_projector() {
            let _ = projector::catch_up(&mut **guard, &self.pending);
        }
        Ok(report)
    }

    /// A vehicle's stored state and its history (every event, retracted
    /// ones marked), or `None` when the tenant has no event for it.
    pub fn vehicle(&self, tenant: &TenantId, vin: &Vin) -> Result<Option<VehicleView>, StoreError> {
        let mut guard = self.caught_up()?;
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
        let mut guard = self.caught_up()?;
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
        let mut guard = self.caught_up()?;
        let mut tx = guard.begin(tenant, false)?;
        Ok(tx.rows_by_subject(tenant, subject)?)
    }

    /// Runs the database's integrity check, then recomputes every subject's
    /// state from the log (each row grouped under the subjects its event
    /// is about) and compares it with the stored state and tail, and the
    /// subject's stored event list with the log rows about it.
    pub fn verify(&self, tenant: &TenantId) -> Result<Verification, StoreError> {
        let mut guard = self.caught_up()?;
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
        let mut guard = self.caught_up()?;
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
