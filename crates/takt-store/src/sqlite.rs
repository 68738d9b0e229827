//! The SQLite backend: one file, WAL journal, `synchronous=FULL`, both
//! checked at start-up; migrations run at start-up.

use crate::backend::{
    Backend, NewRow, RECORD_VERSION, StateRow, StoredState, Tx, decode, encode_flags, pending,
    state_key, state_keys, subject_of_key, subjects_of_keys,
};
use crate::error::BackendError;
use crate::model::LogRow;
use crate::tenant::TenantId;
use rusqlite::{Connection, ToSql, TransactionBehavior, params};
use std::path::Path;

/// A SQLite database file.
pub struct SqliteBackend {
    conn: Connection,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file, sets and verifies WAL
    /// and `synchronous=FULL`, and runs pending migrations.
    pub fn open(path: &Path) -> Result<SqliteBackend, BackendError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(BackendError::Durability(format!(
                "journal_mode is `{mode}`, not `wal` (is {} on a file system that supports WAL?)",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        if sync != 2 {
            return Err(BackendError::Durability(format!(
                "synchronous is {sync}, not 2 (FULL)"
            )));
        }
        // The statements of a batch (multi-row INSERTs and `IN` lists of a
        // few sizes each) stay prepared.
        conn.set_prepared_statement_cache_capacity(64);
        let mut b = SqliteBackend { conn };
        b.migrate()?;
        Ok(b)
    }

    fn migrate(&mut self) -> Result<(), BackendError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        for (version, name, sql, _) in pending(current)? {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, datetime('now'))",
                params![version, name],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

struct SqliteTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

/// The most rows one multi-row INSERT carries, and the most values one
/// `IN (...)` list carries; longer lists take several statements.
const MAX_CHUNK: usize = 128;

/// Splits `n` items into chunks of [`MAX_CHUNK`] and then powers of two, so
/// that a few distinct statements (each prepared once and cached) serve
/// every batch size: (start, len).
fn chunks(n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let rest = n - start;
        let len = if rest >= MAX_CHUNK {
            MAX_CHUNK
        } else {
            1 << (usize::BITS - 1 - rest.leading_zeros())
        };
        out.push((start, len));
        start += len;
    }
    out
}

/// `(?1, ?2, ?3), (?1, ?4, ?5)`: `n` groups of the tenant (`?1`) and
/// `width` more numbered parameters.
fn values(n: usize, width: usize) -> String {
    (0..n)
        .map(|i| {
            let cols: Vec<String> = std::iter::once("?1".to_string())
                .chain((0..width).map(|j| format!("?{}", 2 + i * width + j)))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `?2, ?3, ...` for an `IN` list of `n` values.
fn in_list(n: usize) -> String {
    (0..n)
        .map(|i| format!("?{}", i + 2))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A statement's SQL text for every chunk length (the powers of two up to
/// [`MAX_CHUNK`]), each built once per process when first used: the text
/// is the key of the prepared-statement cache, and building it for every
/// batch cost more than running the statement.
struct SqlBySize {
    texts: [std::sync::OnceLock<String>; MAX_CHUNK.trailing_zeros() as usize + 1],
    make: fn(usize) -> String,
}

impl SqlBySize {
    const fn new(make: fn(usize) -> String) -> SqlBySize {
        SqlBySize {
            texts: [const { std::sync::OnceLock::new() }; MAX_CHUNK.trailing_zeros() as usize + 1],
            make,
        }
    }

    /// The text for `len` items (a power of two, at most [`MAX_CHUNK`]).
    fn get(&'static self, len: usize) -> &'static str {
        debug_assert!(len.is_power_of_two() && len <= MAX_CHUNK);
        self.texts[len.trailing_zeros() as usize].get_or_init(|| (self.make)(len))
    }
}

static INSERT_LOG: SqlBySize = SqlBySize::new(|n| {
    format!(
        "INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record, record_version)
         VALUES {}",
        values(n, 7)
    )
});

static UPSERT_STATES: SqlBySize = SqlBySize::new(|n| {
    format!(
        "INSERT INTO subject_state (tenant, subject, state, tail, events) VALUES {}
         ON CONFLICT (tenant, subject) DO UPDATE
         SET state = excluded.state, tail = excluded.tail, events = excluded.events",
        values(n, 4)
    )
});

static ROWS_BY_ID: SqlBySize = SqlBySize::new(|n| {
    format!(
        "SELECT {ROW_COLUMNS} FROM event_log l WHERE l.tenant = ?1 AND l.event_id IN ({}) ORDER BY l.seq",
        in_list(n)
    )
});

static ROWS_BY_SUBJECTS: SqlBySize = SqlBySize::new(|n| {
    format!(
        "SELECT st.subject, {ROW_COLUMNS} FROM subject_state st, json_each(st.events) j
         JOIN event_log l ON l.tenant = st.tenant
             AND l.event_id = j.value ->> 0 AND l.kind = j.value ->> 1
         WHERE st.tenant = ?1 AND st.subject IN ({}) ORDER BY l.seq",
        in_list(n)
    )
});

static STATES: SqlBySize = SqlBySize::new(|n| {
    format!(
        "SELECT subject, state, tail, events FROM subject_state
         WHERE tenant = ?1 AND subject IN ({})",
        in_list(n)
    )
});

/// Runs `sql` (an `IN` list after the tenant) over `keys` in chunks padded
/// to a power of two by repeating the last key, and collects what `map`
/// makes of each row.
fn select_in<K: AsRef<str>, T>(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    keys: &[K],
    sql: &'static SqlBySize,
    mut map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, BackendError> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < keys.len() {
        let rest = keys.len() - start;
        let len = rest.min(MAX_CHUNK).next_power_of_two();
        let chunk = &keys[start..(start + len).min(keys.len())];
        let padded = chunk.iter().chain(std::iter::repeat_n(
            &chunk[chunk.len() - 1],
            len - chunk.len(),
        ));
        let mut stmt = tx.prepare_cached(sql.get(len))?;
        let params = std::iter::once(tenant.as_str()).chain(padded.map(AsRef::as_ref));
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
        start += chunk.len();
    }
    Ok(out)
}

type RawRow = (String, i64, String, i64);

fn raw_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(first)?,
        r.get(first + 1)?,
        r.get(first + 2)?,
        r.get(first + 3)?,
    ))
}

fn decode_raw((record, at, flags, version): &RawRow) -> Result<LogRow, BackendError> {
    decode(record, *at, flags, *version)
}

fn kind(row: &NewRow<'_>) -> &'static dyn ToSql {
    static EVENT: &str = "event";
    static RETRACTION: &str = "retraction";
    if row.is_retraction() {
        &RETRACTION
    } else {
        &EVENT
    }
}

const ROW_COLUMNS: &str = "l.record, l.received_at_ms, l.flags, l.record_version";

impl Tx for SqliteTx<'_> {
    fn rows_and_states(
        &mut self,
        tenant: &TenantId,
        ids: &[String],
        subjects: &[String],
    ) -> Result<(Vec<LogRow>, Vec<StoredState>), BackendError> {
        let raw = select_in(&self.tx, tenant, ids, &ROWS_BY_ID, |r| raw_row(r, 0))?;
        let rows = raw.iter().map(decode_raw).collect::<Result<_, _>>()?;
        Ok((rows, self.states(tenant, subjects)?))
    }

    fn rows_of_tenant(&mut self, tenant: &TenantId) -> Result<Vec<LogRow>, BackendError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM event_log l WHERE l.tenant = ?1"
        ))?;
        let raw: Vec<RawRow> = stmt
            .query_map(params![tenant.as_str()], |r| raw_row(r, 0))?
            .collect::<Result<_, _>>()?;
        raw.iter().map(decode_raw).collect()
    }

    fn rows_by_subjects(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<(String, LogRow)>, BackendError> {
        let keys = state_keys(subjects);
        let raw = select_in(&self.tx, tenant, &keys, &ROWS_BY_SUBJECTS, |r| {
            Ok((r.get::<_, String>(0)?, raw_row(r, 1)?))
        })?;
        raw.into_iter()
            .map(|(k, r)| Ok((subject_of_key(k), decode_raw(&r)?)))
            .collect()
    }

    fn states(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<StoredState>, BackendError> {
        let keys = state_keys(subjects);
        select_in(&self.tx, tenant, &keys, &STATES, |r| {
            Ok(StoredState {
                subject: subject_of_key(r.get(0)?),
                state: r.get(1)?,
                tail: r.get(2)?,
                events: r.get(3)?,
            })
        })
    }

    fn write(
        &mut self,
        tenant: &TenantId,
        rows: &[NewRow<'_>],
        states: &[StateRow],
        audit: Option<&crate::auth::AuditEntry>,
    ) -> Result<(), BackendError> {
        let t = tenant.as_str();
        let encoded: Vec<(&str, String, i64, i64)> = rows
            .iter()
            .map(|row| {
                (
                    row.record.as_ref(),
                    encode_flags(row),
                    row.event.at.as_millisecond(),
                    row.received_at.as_millisecond(),
                )
            })
            .collect();
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(1 + 7 * MAX_CHUNK);
        for (start, len) in chunks(rows.len()) {
            let mut stmt = self.tx.prepare_cached(INSERT_LOG.get(len))?;
            params.clear();
            params.push(&t);
            for (row, (record, flags, at, received)) in
                rows[start..start + len].iter().zip(&encoded[start..])
            {
                params.extend([
                    &row.event.event_id as &dyn ToSql,
                    kind(row),
                    at,
                    received,
                    flags,
                    record,
                    &RECORD_VERSION,
                ]);
            }
            stmt.execute(params.as_slice())?;
        }
        let keys: Vec<_> = states.iter().map(|st| state_key(&st.subject)).collect();
        for (start, len) in chunks(states.len()) {
            let mut stmt = self.tx.prepare_cached(UPSERT_STATES.get(len))?;
            params.clear();
            params.push(&t);
            for (st, key) in states[start..start + len].iter().zip(&keys[start..]) {
                params.extend([key as &dyn ToSql, &st.state, &st.tail, &st.events]);
            }
            stmt.execute(params.as_slice())?;
        }
        if let Some(e) = audit {
            self.audit(e)?;
        }
        Ok(())
    }

    fn audit(&mut self, e: &crate::auth::AuditEntry) -> Result<(), BackendError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        stmt.execute(params![
            e.at_ms,
            e.tenant,
            e.token_id,
            e.role,
            e.method,
            e.path,
            i32::from(e.status),
            e.detail
        ])?;
        Ok(())
    }

    fn subjects(&mut self, tenant: &TenantId) -> Result<Vec<String>, BackendError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT subject FROM subject_state WHERE tenant = ?1")?;
        let keys = stmt
            .query_map(params![tenant.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(subjects_of_keys(keys))
    }

    fn count_rows(&mut self, tenant: &TenantId) -> Result<u64, BackendError> {
        let n: i64 = self.tx.query_row(
            "SELECT COUNT(*) FROM event_log WHERE tenant = ?1",
            params![tenant.as_str()],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    fn commit(self: Box<Self>) -> Result<(), BackendError> {
        self.tx.commit()?;
        Ok(())
    }
}

impl Backend for SqliteBackend {
    fn begin(&mut self, _tenant: &TenantId, write: bool) -> Result<Box<dyn Tx + '_>, BackendError> {
        let behavior = if write {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        };
        Ok(Box::new(SqliteTx {
            tx: self.conn.transaction_with_behavior(behavior)?,
        }))
    }

    fn integrity_check(&mut self) -> Result<(), BackendError> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(BackendError::Corrupt(format!("integrity_check: {result}")))
        }
    }

    fn schema_version(&mut self) -> Result<i64, BackendError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })?)
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }
}
