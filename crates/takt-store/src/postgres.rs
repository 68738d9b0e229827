//! The PostgreSQL backend (`--db postgres://...`): the same schema and
//! behaviour as SQLite; a transaction-scoped advisory lock per tenant
//! serializes writers of one tenant; migrations run at start-up under an
//! advisory lock, so concurrent start-ups apply each once.

use crate::backend::{Backend, MIGRATIONS, RECORD_VERSION, Tx, decode, encode};
use crate::error::BackendError;
use crate::model::LogRow;
use crate::tenant::TenantId;
use postgres::{Client, NoTls};

/// A PostgreSQL database.
pub struct PgBackend {
    client: Client,
}

/// The advisory-lock key of migrations.
const MIGRATION_LOCK: i64 = 0x7461_6b74_5f6d_6967; // "takt_mig"

impl PgBackend {
    /// Connects, checks that commits are durable (`fsync` and
    /// `synchronous_commit` on) and runs pending migrations.
    pub fn connect(url: &str) -> Result<PgBackend, BackendError> {
        let mut client = Client::connect(url, NoTls)?;
        for setting in ["fsync", "synchronous_commit"] {
            let v: String = client.query_one(&format!("SHOW {setting}"), &[])?.get(0);
            if v == "off" {
                return Err(BackendError::Durability(format!(
                    "the server runs with {setting}=off; acknowledged events could be lost"
                )));
            }
        }
        let mut b = PgBackend { client };
        b.migrate()?;
        Ok(b)
    }

    fn migrate(&mut self) -> Result<(), BackendError> {
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .get(0);
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(BackendError::Corrupt(format!(
                "schema version {current} is newer than this build's {latest}; use a newer takt"
            )));
        }
        for (version, name, _, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
}

fn rows(raw: Vec<postgres::Row>) -> Result<Vec<LogRow>, BackendError> {
    raw.iter()
        .map(|r| {
            decode(
                r.get::<_, &str>(0),
                r.get(1),
                r.get::<_, &str>(2),
                i64::from(r.get::<_, i32>(3)),
            )
        })
        .collect()
}

impl Tx for PgTx<'_> {
    fn rows_by_id(
        &mut self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<LogRow>, BackendError> {
        let r = self.tx.query(
            "SELECT record, received_at_ms, flags, record_version FROM event_log WHERE tenant = $1 AND event_id = ANY($2) ORDER BY seq",
            &[&tenant.as_str(), &ids],
        )?;
        rows(r)
    }

    fn rows_by_event_time(&mut self, tenant: &TenantId) -> Result<Vec<LogRow>, BackendError> {
        let r = self.tx.query(
            "SELECT record, received_at_ms, flags, record_version FROM event_log
             WHERE tenant = $1 ORDER BY event_time_ms, seq",
            &[&tenant.as_str()],
        )?;
        rows(r)
    }

    fn rows_by_subject(
        &mut self,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Vec<LogRow>, BackendError> {
        let r = self.tx.query(
            "SELECT l.record, l.received_at_ms, l.flags, l.record_version FROM event_subject s
             JOIN event_log l ON l.tenant = s.tenant AND l.event_id = s.event_id AND l.kind = s.kind
             WHERE s.tenant = $1 AND s.subject = $2 ORDER BY l.seq",
            &[&tenant.as_str(), &subject],
        )?;
        rows(r)
    }

    fn insert(
        &mut self,
        tenant: &TenantId,
        row: &LogRow,
        subjects: &[String],
    ) -> Result<(), BackendError> {
        let (record, flags) = encode(row);
        self.tx.execute(
            "INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record, record_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &tenant.as_str(),
                &row.event.event_id,
                &row.kind(),
                &row.event.at.as_millisecond(),
                &row.received_at.as_millisecond(),
                &flags,
                &record,
                &(RECORD_VERSION as i32),
            ],
        )?;
        if !subjects.is_empty() {
            self.tx.execute(
                "INSERT INTO event_subject (tenant, subject, event_id, kind)
                 SELECT $1, s, $3, $4 FROM unnest($2::text[]) AS s",
                &[
                    &tenant.as_str(),
                    &subjects,
                    &row.event.event_id,
                    &row.kind(),
                ],
            )?;
        }
        Ok(())
    }

    fn put_state(
        &mut self,
        tenant: &TenantId,
        subject: &str,
        state: &str,
    ) -> Result<(), BackendError> {
        self.tx.execute(
            "INSERT INTO subject_state (tenant, subject, state) VALUES ($1, $2, $3)
             ON CONFLICT (tenant, subject) DO UPDATE SET state = excluded.state",
            &[&tenant.as_str(), &subject, &state],
        )?;
        Ok(())
    }

    fn get_state(
        &mut self,
        tenant: &TenantId,
        subject: &str,
    ) -> Result<Option<String>, BackendError> {
        Ok(self
            .tx
            .query_opt(
                "SELECT state FROM subject_state WHERE tenant = $1 AND subject = $2",
                &[&tenant.as_str(), &subject],
            )?
            .map(|r| r.get(0)))
    }

    fn subjects(&mut self, tenant: &TenantId) -> Result<Vec<String>, BackendError> {
        Ok(self
            .tx
            .query("SELECT subject FROM subject_state WHERE tenant = $1 ORDER BY subject COLLATE \"C\"", &[&tenant.as_str()])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn count_rows(&mut self, tenant: &TenantId) -> Result<u64, BackendError> {
        let n: i64 = self
            .tx
            .query_one(
                "SELECT COUNT(*) FROM event_log WHERE tenant = $1",
                &[&tenant.as_str()],
            )?
            .get(0);
        Ok(n as u64)
    }

    fn commit(self: Box<Self>) -> Result<(), BackendError> {
        self.tx.commit()?;
        Ok(())
    }
}

impl Backend for PgBackend {
    fn begin(&mut self, tenant: &TenantId, write: bool) -> Result<Box<dyn Tx + '_>, BackendError> {
        let mut tx = self.client.transaction()?;
        if write {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1)::bigint)",
                &[&tenant.as_str()],
            )?;
        }
        Ok(Box::new(PgTx { tx }))
    }

    fn integrity_check(&mut self) -> Result<(), BackendError> {
        let n: i64 = self
            .client
            .query_one(
                "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'event_log_append_only'",
                &[],
            )?
            .get(0);
        if n != 1 {
            return Err(BackendError::Corrupt(
                "the append-only trigger on event_log is missing".into(),
            ));
        }
        self.client
            .batch_execute("SELECT COUNT(*) FROM event_log; SELECT COUNT(*) FROM subject_state;")?;
        Ok(())
    }

    fn schema_version(&mut self) -> Result<i64, BackendError> {
        Ok(self
            .client
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])?
            .get(0))
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}
