//! The SQLite backend: one file, WAL journal, `synchronous=FULL`, both
//! checked at start-up; migrations run at start-up.

use crate::backend::{Backend, MIGRATIONS, RECORD_VERSION, Tx, decode, encode};
use crate::error::BackendError;
use crate::model::LogRow;
use crate::tenant::TenantId;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
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
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(BackendError::Corrupt(format!(
                "schema version {current} is newer than this build's {latest}; use a newer takt"
            )));
        }
        for (version, name, sql, _) in MIGRATIONS.iter().filter(|m| m.0 > current) {
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

fn rows(
    stmt: &mut rusqlite::Statement<'_>,
    p: impl rusqlite::Params,
) -> Result<Vec<LogRow>, BackendError> {
    let raw: Vec<(String, i64, String, i64)> = stmt
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    raw.iter()
        .map(|(rec, at, flags, version)| decode(rec, *at, flags, *version))
        .collect()
}

impl Tx for SqliteTx<'_> {
    fn rows_by_id(
        &mut self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<LogRow>, BackendError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT record, received_at_ms, flags, record_version FROM event_log WHERE tenant = ?1 AND event_id = ?2 ORDER BY seq",
        )?;
        let mut out = Vec::new();
        for id in ids {
            out.extend(rows(&mut stmt, params![tenant.as_str(), id])?);
        }
        Ok(out)
    }

    fn rows_by_event_time(&mut self, tenant: &TenantId) -> Result<Vec<LogRow>, BackendError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT record, received_at_ms, flags, record_version FROM event_log
             WHERE tenant = ?1 ORDER BY event_time_ms, seq",
        )?;
        rows(&mut stmt, params![tenant.as_str()])
    }

    fn rows_by_subject(
        &mut self,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Vec<LogRow>, BackendError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT l.record, l.received_at_ms, l.flags, l.record_version FROM event_subject s
             JOIN event_log l ON l.tenant = s.tenant AND l.event_id = s.event_id AND l.kind = s.kind
             WHERE s.tenant = ?1 AND s.subject = ?2 ORDER BY l.seq",
        )?;
        rows(&mut stmt, params![tenant.as_str(), subject])
    }

    fn insert(
        &mut self,
        tenant: &TenantId,
        row: &LogRow,
        subjects: &[String],
    ) -> Result<(), BackendError> {
        let (record, flags) = encode(row);
        self.tx
            .prepare_cached(
                "INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record, record_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                tenant.as_str(),
                row.event.event_id,
                row.kind(),
                row.event.at.as_millisecond(),
                row.received_at.as_millisecond(),
                flags,
                record,
                RECORD_VERSION
            ])?;
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO event_subject (tenant, subject, event_id, kind) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for s in subjects {
            stmt.execute(params![tenant.as_str(), s, row.event.event_id, row.kind()])?;
        }
        Ok(())
    }

    fn put_state(
        &mut self,
        tenant: &TenantId,
        subject: &str,
        state: &str,
    ) -> Result<(), BackendError> {
        self.tx
            .prepare_cached(
                "INSERT INTO subject_state (tenant, subject, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, subject) DO UPDATE SET state = excluded.state",
            )?
            .execute(params![tenant.as_str(), subject, state])?;
        Ok(())
    }

    fn get_state(
        &mut self,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Option<String>, BackendError> {
        Ok(self
            .tx
            .prepare_cached("SELECT state FROM subject_state WHERE tenant = ?1 AND subject = ?2")?
            .query_row(params![tenant.as_str(), subject], |r| r.get(0))
            .optional()?)
    }

    fn subjects(&mut self, tenant: &TenantId) -> Result<Vec<String>, BackendError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT subject FROM subject_state WHERE tenant = ?1 ORDER BY subject",
        )?;
        let out = stmt
            .query_map(params![tenant.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(out)
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
