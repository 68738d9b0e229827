//! Storage behind one trait, two backends: SQLite ([`crate::sqlite`]) and
//! PostgreSQL ([`crate::postgres`]).
//!
//! The schema (the same in both):
//! - `event_log`: the append-only log, one row per accepted event or
//!   retraction, unique on (tenant, event_id, kind); triggers refuse UPDATE
//!   and DELETE.
//! - `subject_state`: per vehicle (`vin:...`) and resource (`res:...`),
//!   the state its events derive, its tail, and which events it is about
//!   (`events`, a JSON array of `[event_id, kind]` in append order),
//!   rewritten in the same transaction as the events that change it.
//! - `schema_migrations`: the versions applied; migrations run at start-up.
//!
//! Migration 4 adds `subject_state.tail` (see [`crate::semantics::Tail`]):
//! with it a batch is applied to the stored state of a subject instead of
//! deriving the state from all its rows again; rows written before it have
//! no tail and are derived once more when next touched. On SQLite it also
//! rebuilds `event_subject` as a `WITHOUT ROWID` table clustered on its
//! primary key: one B-tree instead of a table and an index, so a batch
//! writes fewer pages. (`subject_state` stays a rowid table: its rows are
//! large and rewritten every batch, which a clustered table pays for with
//! page splits.)
//!
//! Migration 5 moves each subject's event ids from `event_subject` (one row
//! per subject and event, a B-tree a batch wrote at as many places as it
//! touched subjects) into `subject_state.events`, the row a batch rewrites
//! anyway, and drops `event_subject`: a batch then writes no subject-keyed
//! index but the state table's. `subject_state.state` may be NULL there (a
//! subject that had `event_subject` rows and no state row; the next batch
//! that touches it derives the state).
//!
//! Migration 6 drops the (tenant, event time) index of migration 2: the
//! one read that used it (a tenant's whole log, for `Store::milestones`
//! and `Store::verify`) orders the events itself, and every appended event
//! paid for an entry in it (4 of a SQLite batch's 46 WAL frames).
//!
//! Migration 7 keys a vehicle's `subject_state` row by its VIN's last
//! eight characters first ([`state_key`]): ordered as the VIN, the check
//! digit (the ninth character) scattered a batch's vehicles over the key's
//! B-tree, about a leaf each (12 of a SQLite commit's 42 WAL frames in the
//! benchmark's batches); serial first, the vehicles of a batch, mostly
//! near one another in a plant's production, share a leaf or two. The
//! backends map subjects to keys and back; the rest of the store sees
//! subjects only.
//!
//! Migration 8 drops, on PostgreSQL, the primary key of `event_log.seq`:
//! no read looks a row up by it (rows found through the unique index are
//! ordered by it), and every appended row paid for an entry in its
//! B-tree. SQLite's `seq` is the rowid; there the migration does nothing.
//!
//! Migration 2 adds `event_log.record_version` (rows written before it are
//! version 1) and an index on (tenant, event time). Version 2 records keep
//! every field of a takt milestone in the vehicle facts (`reported_stage`,
//! `planned`); version 1 records dropped them from the facts but kept them
//! in the event's content, and [`decode`] restores them from there.

use crate::error::BackendError;
use crate::model::LogRow;
use crate::tenant::TenantId;

/// What is stored about a subject: its state (canonical JSON; `None` when
/// the subject has log rows but no state), its tail
/// ([`crate::semantics::Tail`] as JSON; `None` for states written before
/// migration 4, which are then derived from the log once more) and its
/// events (a JSON array of `[event_id, kind]`, see [`EventRefs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    pub subject: String,
    pub state: Option<String>,
    pub tail: Option<String>,
    pub events: String,
}

/// A subject's row as written: its state and tail (JSON) and the JSON array
/// of its events' `[event_id, kind]` (the stored ones and the batch's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    pub subject: String,
    pub state: String,
    pub tail: String,
    pub events: String,
}

/// The events of a subject (`subject_state.events`): a JSON array of
/// `[event_id, kind]` pairs in append order, extended by text so that a
/// batch does not parse the stored list.
pub struct EventRefs;

impl EventRefs {
    /// The stored list `stored` (`None`: the subject has none yet) with
    /// `new` appended; an error when the stored text is not a JSON array.
    pub fn extend<'a>(
        stored: Option<&str>,
        new: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<String, BackendError> {
        let mut out = String::from("[");
        if let Some(s) = stored {
            let inner = s
                .trim()
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .ok_or_else(|| {
                    BackendError::Corrupt(format!("subject_state.events is not a JSON array: {s}"))
                })?
                .trim();
            out.push_str(inner);
        }
        for (id, kind) in new {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(&(id, kind)).expect("strings serialize"));
        }
        out.push(']');
        Ok(out)
    }

    /// The `(event_id, kind)` pairs of a stored list.
    pub fn parse(stored: &str) -> Result<Vec<(String, String)>, BackendError> {
        serde_json::from_str(stored)
            .map_err(|e| BackendError::Corrupt(format!("subject_state.events: {e}")))
    }
}

/// A row to append: the event (borrowed from the batch, never copied),
/// its receipt time and flags, and the subjects it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow<'a> {
    pub event: &'a crate::model::Event,
    /// The event's log record ([`record`]), made ahead of the
    /// transaction (perhaps on another thread, see
    /// [`crate::store::EncodedBatch`]).
    pub record: std::borrow::Cow<'a, str>,
    pub received_at: jiff::Timestamp,
    pub flags: Vec<crate::model::Flag>,
    pub subjects: &'a [String],
}

impl NewRow<'_> {
    /// True for an error-declaration row.
    pub fn is_retraction(&self) -> bool {
        self.event.is_retraction()
    }

    /// `event` or `retraction` ([`crate::model::Event::log_kind`]).
    pub fn kind(&self) -> &'static str {
        self.event.log_kind()
    }

    /// The row as it will read back.
    pub fn to_log_row(&self) -> LogRow {
        LogRow {
            event: self.event.clone(),
            received_at: self.received_at,
            flags: self.flags.clone(),
        }
    }
}

/// One transaction. Dropping it without [`Tx::commit`] rolls back.
///
/// The methods are set-based: one statement (or a few, for long lists)
/// whatever the number of ids, subjects or rows.
pub trait Tx {
    /// Every stored row of a tenant, in no particular order (every caller
    /// orders events itself, by [`crate::semantics::order_key`]).
    fn rows_of_tenant(&mut self, tenant: &TenantId) -> Result<Vec<LogRow>, BackendError>;
    /// Stored rows about these subjects, as (subject, row), in storage order.
    fn rows_by_subjects(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<(String, LogRow)>, BackendError>;
    /// Stored rows about a subject, in storage order.
    fn rows_by_subject(
        &mut self,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Vec<LogRow>, BackendError> {
        Ok(self
            .rows_by_subjects(tenant, &[subject.to_string()])?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }
    /// What is stored about these subjects: one item for each that has a
    /// row in `subject_state` (none for a subject never seen).
    fn states(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<StoredState>, BackendError>;
    /// What a batch reads before it decides anything: the stored rows
    /// with these ids (events and retractions), in storage order, and
    /// [`Tx::states`] of these subjects (PostgreSQL: one round trip). The
    /// ids and subjects are sorted, each once.
    fn rows_and_states(
        &mut self,
        tenant: &TenantId,
        ids: &[String],
        subjects: &[String],
    ) -> Result<(Vec<LogRow>, Vec<StoredState>), BackendError>;
    /// Announces a [`Tx::rows_and_states`] that a later batch of this
    /// transaction will ask for, with the same ids and subjects, so that a
    /// backend may send it ahead (PostgreSQL: before the writes of the
    /// batches before it, laying those writes over its answer, so that the
    /// server writes one batch while takt decides the next). Reads are
    /// asked for in the order announced; one never asked for is dropped.
    /// Default: nothing (SQLite reads in place).
    fn read_ahead(
        &mut self,
        _tenant: &TenantId,
        _ids: &[String],
        _subjects: &[String],
    ) -> Result<(), BackendError> {
        Ok(())
    }
    /// A subject's stored state (JSON).
    fn get_state(
        &mut self,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Option<String>, BackendError> {
        Ok(self
            .states(tenant, &[subject.to_string()])?
            .pop()
            .and_then(|s| s.state))
    }
    /// Appends rows (in order), writes the touched subjects' rows (state,
    /// tail and event list) and, when given, the batch's audit-log row
    /// (PostgreSQL: all in one statement).
    fn write(
        &mut self,
        tenant: &TenantId,
        rows: &[NewRow<'_>],
        states: &[StateRow],
        audit: Option<&crate::auth::AuditEntry>,
    ) -> Result<(), BackendError>;
    /// Appends a row to the audit log (see [`crate::auth`]), in this
    /// transaction.
    fn audit(&mut self, entry: &crate::auth::AuditEntry) -> Result<(), BackendError>;
    /// Every subject with a stored row, sorted.
    fn subjects(&mut self, tenant: &TenantId) -> Result<Vec<String>, BackendError>;
    /// Number of log rows of a tenant.
    fn count_rows(&mut self, tenant: &TenantId) -> Result<u64, BackendError>;
    fn commit(self: Box<Self>) -> Result<(), BackendError>;
}

/// A database.
pub trait Backend: Send {
    /// Starts a transaction. A `write` transaction serializes with other
    /// writers of the same tenant (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: a
    /// transaction-scoped advisory lock on the tenant).
    fn begin(&mut self, tenant: &TenantId, write: bool) -> Result<Box<dyn Tx + '_>, BackendError>;
    /// The database's own consistency check (`PRAGMA integrity_check`;
    /// for PostgreSQL, the log and state tables are readable and the
    /// append-only triggers exist).
    fn integrity_check(&mut self) -> Result<(), BackendError>;
    /// The schema version after migrations.
    fn schema_version(&mut self) -> Result<i64, BackendError>;
    /// `sqlite` or `postgres`.
    fn name(&self) -> &'static str;
}

/// The version of the records this build writes (`event_log.record_version`).
pub const RECORD_VERSION: i64 = 2;

/// The versioned migrations, in order; (version, name, SQLite SQL, PostgreSQL SQL).
pub const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "event log, subjects, state",
        "CREATE TABLE event_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('event', 'retraction')),
        event_time_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        flags TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (tenant, event_id, kind)
    );
    CREATE TABLE event_subject (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (tenant, subject, event_id, kind)
    );
    CREATE TABLE subject_state (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (tenant, subject)
    );
    CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
        BEGIN SELECT RAISE(ABORT, 'event_log is append-only'); END;
    CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log
        BEGIN SELECT RAISE(ABORT, 'event_log is append-only'); END;",
        "CREATE TABLE event_log (
        seq BIGSERIAL PRIMARY KEY,
        tenant TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('event', 'retraction')),
        event_time_ms BIGINT NOT NULL,
        received_at_ms BIGINT NOT NULL,
        flags TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (tenant, event_id, kind)
    );
    CREATE TABLE event_subject (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (tenant, subject, event_id, kind)
    );
    CREATE TABLE subject_state (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (tenant, subject)
    );
    CREATE FUNCTION takt_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'event_log is append-only'; END $$;
    CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON event_log
        FOR EACH ROW EXECUTE FUNCTION takt_append_only();",
    ),
    (
        2,
        "record version, event-time index",
        "ALTER TABLE event_log ADD COLUMN record_version INTEGER NOT NULL DEFAULT 1;
        CREATE INDEX event_log_tenant_time ON event_log (tenant, event_time_ms, seq);",
        "ALTER TABLE event_log ADD COLUMN record_version INTEGER NOT NULL DEFAULT 1;
        CREATE INDEX event_log_tenant_time ON event_log (tenant, event_time_ms, seq);",
    ),
    (
        3,
        "api tokens, audit log",
        crate::auth::MIGRATION_SQLITE,
        crate::auth::MIGRATION_POSTGRES,
    ),
    (
        4,
        "subject state tail; SQLite event_subject clustered on its key",
        "CREATE TABLE event_subject_4 (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (tenant, subject, event_id, kind)
    ) WITHOUT ROWID;
    INSERT INTO event_subject_4 SELECT tenant, subject, event_id, kind FROM event_subject;
    DROP TABLE event_subject;
    ALTER TABLE event_subject_4 RENAME TO event_subject;
    ALTER TABLE subject_state ADD COLUMN tail TEXT;",
        "ALTER TABLE subject_state ADD COLUMN tail TEXT;",
    ),
    (
        5,
        "event ids kept with their subject's state; event_subject dropped",
        "CREATE TABLE subject_state_5 (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        state TEXT,
        tail TEXT,
        events TEXT NOT NULL,
        PRIMARY KEY (tenant, subject)
    );
    INSERT INTO subject_state_5 (tenant, subject, state, tail, events)
    SELECT k.tenant, k.subject, st.state, st.tail,
        (SELECT json_group_array(json_array(x.event_id, x.kind)) FROM
            (SELECT e.event_id, e.kind FROM event_subject e
             JOIN event_log l ON l.tenant = e.tenant AND l.event_id = e.event_id AND l.kind = e.kind
             WHERE e.tenant = k.tenant AND e.subject = k.subject ORDER BY l.seq) x)
    FROM (SELECT tenant, subject FROM subject_state
          UNION SELECT tenant, subject FROM event_subject) k
    LEFT JOIN subject_state st ON st.tenant = k.tenant AND st.subject = k.subject;
    DROP TABLE subject_state;
    DROP TABLE event_subject;
    ALTER TABLE subject_state_5 RENAME TO subject_state;",
        "ALTER TABLE subject_state ALTER COLUMN state DROP NOT NULL;
    ALTER TABLE subject_state ADD COLUMN events TEXT;
    INSERT INTO subject_state (tenant, subject, state, tail)
    SELECT DISTINCT e.tenant, e.subject, NULL::text, NULL::text FROM event_subject e
    WHERE NOT EXISTS (SELECT 1 FROM subject_state st WHERE st.tenant = e.tenant AND st.subject = e.subject);
    UPDATE subject_state st SET events = COALESCE(
        (SELECT json_agg(json_build_array(e.event_id, e.kind) ORDER BY l.seq)::text
         FROM event_subject e
         JOIN event_log l ON l.tenant = e.tenant AND l.event_id = e.event_id AND l.kind = e.kind
         WHERE e.tenant = st.tenant AND e.subject = st.subject), '[]');
    ALTER TABLE subject_state ALTER COLUMN events SET NOT NULL;
    DROP TABLE event_subject;",
    ),
    (
        6,
        "event-time index dropped",
        "DROP INDEX event_log_tenant_time;",
        "DROP INDEX event_log_tenant_time;",
    ),
    (
        7,
        "vehicle subjects keyed serial first",
        STATE_KEYS_7,
        STATE_KEYS_7,
    ),
    (
        8,
        "PostgreSQL: no index on the log's sequence",
        "",
        "ALTER TABLE event_log DROP CONSTRAINT event_log_pkey;",
    ),
];

/// Migration 7 (both backends): `vin:` + VIN becomes [`state_key`]'s form.
const STATE_KEYS_7: &str = "UPDATE subject_state
    SET subject = 'vin:' || substr(subject, 14, 8) || '/' || substr(subject, 5, 9)
    WHERE substr(subject, 1, 4) = 'vin:' AND length(subject) = 21;";

/// The key a subject's row has in `subject_state` (migration 7): a
/// vehicle `vin:` + VIN is keyed `vin:` + the VIN's last eight characters
/// (model year, plant, serial) + `/` + its first nine (maker, attributes,
/// check digit), so that vehicles near one another in a plant's
/// production are near one another in the key's B-tree; every other
/// subject is its own key. [`subject_of_key`] inverts it; a VIN has no
/// `/`, so no key of one form equals a key of the other.
pub(crate) fn state_key(subject: &str) -> std::borrow::Cow<'_, str> {
    match subject.strip_prefix("vin:") {
        Some(vin) if vin.len() == 17 && vin.is_ascii() => {
            format!("vin:{}/{}", &vin[9..], &vin[..9]).into()
        }
        _ => subject.into(),
    }
}

/// [`state_key`] of each subject.
pub(crate) fn state_keys(subjects: &[String]) -> Vec<std::borrow::Cow<'_, str>> {
    subjects.iter().map(|s| state_key(s)).collect()
}

/// The subjects of these `subject_state` keys, sorted (the keys' order is
/// not the subjects').
pub(crate) fn subjects_of_keys(keys: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = keys.into_iter().map(subject_of_key).collect();
    out.sort_unstable();
    out
}

/// The subject a `subject_state` key stands for (see [`state_key`]).
pub(crate) fn subject_of_key(key: String) -> String {
    match key.strip_prefix("vin:") {
        Some(k) if k.len() == 18 && k.is_ascii() && k.as_bytes()[8] == b'/' => {
            format!("vin:{}{}", &k[9..], &k[..8])
        }
        _ => key,
    }
}

/// The migrations after schema version `current`, or an error when the
/// database is newer than this build.
pub(crate) fn pending(
    current: i64,
) -> Result<
    impl Iterator<Item = &'static (i64, &'static str, &'static str, &'static str)>,
    BackendError,
> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        return Err(BackendError::Corrupt(format!(
            "schema version {current} is newer than this build's {latest}; use a newer takt"
        )));
    }
    Ok(MIGRATIONS.iter().filter(move |m| m.0 > current))
}

/// Parses a stored row of a record version (see [`RECORD_VERSION`]).
pub(crate) fn decode(
    record: &str,
    received_at_ms: i64,
    flags: &str,
    record_version: i64,
) -> Result<LogRow, BackendError> {
    let mut event: crate::model::Event = serde_json::from_str(record)
        .map_err(|e| BackendError::Corrupt(format!("log record: {e}")))?;
    if record_version < 2 {
        upgrade_v1(&mut event);
    } else if record_version > RECORD_VERSION {
        return Err(BackendError::Corrupt(format!(
            "record version {record_version} is newer than this build's {RECORD_VERSION}; use a newer takt"
        )));
    }
    let flags = serde_json::from_str(flags)
        .map_err(|e| BackendError::Corrupt(format!("log flags: {e}")))?;
    let received_at = jiff::Timestamp::from_millisecond(received_at_ms)
        .map_err(|e| BackendError::Corrupt(format!("receipt time: {e}")))?;
    Ok(LogRow {
        event,
        received_at,
        flags,
    })
}

/// Version 1 records left a takt milestone's stage (for extra milestones)
/// and `planned` out of the vehicle facts; the event's content is the
/// milestone as submitted, so they are taken from there. EPCIS contents do
/// not parse as a takt milestone and stay as they are.
fn upgrade_v1(event: &mut crate::model::Event) {
    let crate::model::Body::Vehicle(facts) = &mut event.body else {
        return;
    };
    if let Ok(m) = serde_json::from_str::<takt_core::event::Milestone>(event.content.as_str())
        && m.event_id == event.event_id
    {
        facts.reported_stage = Some(m.stage);
        facts.planned = m.planned;
    }
}

/// An event's log record (`event_log.record`): the event as JSON.
pub fn record(event: &crate::model::Event) -> String {
    serde_json::to_string(event).expect("an event serializes")
}

/// A row's flags column.
pub(crate) fn encode_flags(row: &NewRow<'_>) -> String {
    serde_json::to_string(&row.flags).expect("flags serialize")
}

/// Opens the database a URL names: `postgres://...` or `postgresql://...`
/// for PostgreSQL; `sqlite://PATH` or a plain path for SQLite.
pub fn open(url: &str) -> Result<Box<dyn Backend>, BackendError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(crate::postgres::PgBackend::connect(url)?))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() {
            return Err(BackendError::Url(
                "empty SQLite path; use --db PATH, sqlite://PATH or postgres://...".into(),
            ));
        }
        Ok(Box::new(crate::sqlite::SqliteBackend::open(
            std::path::Path::new(path),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vehicle_is_keyed_serial_first_and_back() {
        let subject = "vin:4T1DAACK4TU100001";
        assert_eq!(state_key(subject), "vin:TU100001/4T1DAACK4");
        assert_eq!(subject_of_key(state_key(subject).into_owned()), subject);
        for other in ["res:voyage:V7@JPNGO", "vin:SHORT", "vin:4T1DAACK4TU10000é"] {
            assert_eq!(state_key(other), other);
            assert_eq!(subject_of_key(other.to_string()), other);
        }
        // Two vehicles of one plant's run whose check digits differ lie
        // apart in the VIN's order (another vehicle between them) and
        // next to each other in the keys'.
        let a = "vin:4T1DAACK0TU100001";
        let b = "vin:4T1DAACK9TU100002";
        let between = "vin:4T1DAACK5TU900000";
        assert!(a < between && between < b);
        let mut keys = [state_key(a), state_key(b), state_key(between)];
        keys.sort();
        assert_eq!(keys, [state_key(a), state_key(b), state_key(between)]);
        assert_eq!(
            subjects_of_keys(keys.iter().map(|k| k.to_string()).collect()),
            [a, between, b]
        );
    }
}
