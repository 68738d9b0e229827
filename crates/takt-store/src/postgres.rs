//! The PostgreSQL backend (`--db postgres://...`): the same schema and
//! behaviour as SQLite; a transaction-scoped advisory lock per tenant
//! serializes writers of one tenant; migrations run at start-up under an
//! advisory lock, so concurrent start-ups apply each once.

use crate::backend::{
    Backend, NewRow, RECORD_VERSION, StateRow, StoredState, Tx, decode, encode_flags, pending,
    state_key, state_keys, subject_of_key, subjects_of_keys,
};
use crate::error::BackendError;
use crate::model::LogRow;
use crate::tenant::TenantId;
use postgres::{Client, NoTls, Statement};

/// A PostgreSQL database.
pub struct PgBackend {
    client: Client,
    stmts: Statements,
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
        migrate(&mut client)?;
        let stmts = Statements::prepare(&mut client)?;
        Ok(PgBackend { client, stmts })
    }
}

fn migrate(client: &mut Client) -> Result<(), BackendError> {
    let mut tx = client.transaction()?;
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
    for (version, name, _, sql) in pending(current)? {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A batch's write (one statement, one round trip): the log rows, in
/// order, so that `seq` follows the batch, and the subjects' rows.
const WRITE: &str = "WITH l AS (
                    INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record, record_version)
                    SELECT $1, u.event_id, u.kind, u.at, u.received, u.flags, u.record, $8
                    FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[])
                        WITH ORDINALITY AS u(event_id, kind, at, received, flags, record, n)
                    ORDER BY u.n),
                 st AS (
                    INSERT INTO subject_state (tenant, subject, state, tail, events)
                    SELECT $1, u.subject, u.state, u.tail, u.events
                    FROM unnest($9::text[], $10::text[], $11::text[], $12::text[])
                        AS u(subject, state, tail, events)
                    ON CONFLICT (tenant, subject) DO UPDATE
                    SET state = excluded.state, tail = excluded.tail, events = excluded.events)";

/// The statements of a write, prepared once per connection.
struct Statements {
    rows_and_states: Statement,
    rows_by_subjects: Statement,
    states: Statement,
    write: Statement,
    write_audited: Statement,
    audit: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, BackendError> {
        Ok(Statements {
            // A batch's stored rows and states in one round trip: the log
            // rows (part 0, in storage order), then the states (part 1).
            // Each id or subject is looked up on its own through the
            // unique index (`OFFSET 0` keeps the planner from turning the
            // lookups into a scan of the tenant's rows, which it does when
            // the statistics are stale).
            rows_and_states: client.prepare(&format!(
                "SELECT 0 AS part, l.seq, NULL::text AS subject, {ROW_COLUMNS},
                     NULL::text AS state, NULL::text AS tail, NULL::text AS events
                 FROM unnest($2::text[]) AS q(id)
                 CROSS JOIN LATERAL (SELECT * FROM event_log x
                     WHERE x.tenant = $1 AND x.event_id = q.id OFFSET 0) l
                 UNION ALL
                 SELECT 1, NULL, st.subject, NULL, NULL, NULL, NULL, st.state, st.tail, st.events
                 FROM (SELECT DISTINCT subject FROM unnest($3::text[]) AS u(subject)) AS q
                 CROSS JOIN LATERAL (SELECT * FROM subject_state x
                     WHERE x.tenant = $1 AND x.subject = q.subject OFFSET 0) st
                 ORDER BY 1, 2"
            ))?,
            rows_by_subjects: client.prepare(&format!(
                "SELECT s.subject, {ROW_COLUMNS} FROM unnest($2::text[]) AS q(subject)
                 CROSS JOIN LATERAL (SELECT * FROM subject_state x
                     WHERE x.tenant = $1 AND x.subject = q.subject OFFSET 0) s
                 CROSS JOIN LATERAL jsonb_array_elements(s.events::jsonb) AS j(e)
                 CROSS JOIN LATERAL (SELECT * FROM event_log x
                     WHERE x.tenant = $1 AND x.event_id = j.e ->> 0 AND x.kind = j.e ->> 1 OFFSET 0) l
                 ORDER BY l.seq"
            ))?,
            states: client.prepare(
                "SELECT st.subject, st.state, st.tail, st.events
                 FROM (SELECT DISTINCT subject FROM unnest($2::text[]) AS u(subject)) AS q
                 CROSS JOIN LATERAL (SELECT * FROM subject_state x
                     WHERE x.tenant = $1 AND x.subject = q.subject OFFSET 0) st",
            )?,
            write: client.prepare(&format!("{WRITE} SELECT 1"))?,
            // The same with the batch's audit-log row ($13..$20).
            write_audited: client.prepare(&format!(
                "{WRITE}, au AS (
                    INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail)
                    VALUES ($13, $14, $15, $16, $17, $18, $19, $20))
                 SELECT 1"
            ))?,
            audit: client.prepare(
                "INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )?,
        })
    }
}

/// A transaction begun with `BEGIN` (and the tenant's lock) in one round
/// trip; rolled back on drop unless committed.
struct PgTx<'a> {
    tx: &'a mut Client,
    stmts: &'a Statements,
    open: bool,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A broken connection has no transaction left to roll back.
            let _ = self.tx.batch_execute("ROLLBACK");
        }
    }
}

const ROW_COLUMNS: &str = "l.record, l.received_at_ms, l.flags, l.record_version";

fn decode_row(r: &postgres::Row, first: usize) -> Result<LogRow, BackendError> {
    decode(
        r.get::<_, &str>(first),
        r.get(first + 1),
        r.get::<_, &str>(first + 2),
        i64::from(r.get::<_, i32>(first + 3)),
    )
}

impl Tx for PgTx<'_> {
    fn rows_of_tenant(&mut self, tenant: &TenantId) -> Result<Vec<LogRow>, BackendError> {
        self.tx
            .query(
                &format!("SELECT {ROW_COLUMNS} FROM event_log l WHERE l.tenant = $1"),
                &[&tenant.as_str()],
            )?
            .iter()
            .map(|r| decode_row(r, 0))
            .collect()
    }

    fn rows_and_states(
        &mut self,
        tenant: &TenantId,
        ids: &[&str],
        subjects: &[String],
    ) -> Result<(Vec<LogRow>, Vec<StoredState>), BackendError> {
        let keys = state_keys(subjects);
        let mut rows = Vec::new();
        let mut states = Vec::new();
        for r in self.tx.query(
            &self.stmts.rows_and_states,
            &[&tenant.as_str(), &ids, &keys],
        )? {
            if r.get::<_, i32>(0) == 0 {
                rows.push(decode_row(&r, 3)?);
            } else {
                states.push(StoredState {
                    subject: subject_of_key(r.get(2)),
                    state: r.get(7),
                    tail: r.get(8),
                    events: r.get(9),
                });
            }
        }
        Ok((rows, states))
    }

    fn rows_by_subjects(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<(String, LogRow)>, BackendError> {
        let keys = state_keys(subjects);
        self.tx
            .query(&self.stmts.rows_by_subjects, &[&tenant.as_str(), &keys])?
            .iter()
            .map(|r| Ok((subject_of_key(r.get(0)), decode_row(r, 1)?)))
            .collect()
    }

    fn states(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<StoredState>, BackendError> {
        let keys = state_keys(subjects);
        Ok(self
            .tx
            .query(&self.stmts.states, &[&tenant.as_str(), &keys])?
            .iter()
            .map(|r| StoredState {
                subject: subject_of_key(r.get(0)),
                state: r.get(1),
                tail: r.get(2),
                events: r.get(3),
            })
            .collect())
    }

    fn write(
        &mut self,
        tenant: &TenantId,
        rows: &[NewRow<'_>],
        states: &[StateRow],
        audit: Option<&crate::auth::AuditEntry>,
    ) -> Result<(), BackendError> {
        let mut ids = Vec::with_capacity(rows.len());
        let mut kinds = Vec::with_capacity(rows.len());
        let mut ats = Vec::with_capacity(rows.len());
        let mut received = Vec::with_capacity(rows.len());
        let mut flags = Vec::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let f = encode_flags(row);
            ids.push(row.event.event_id.as_str());
            kinds.push(row.kind());
            ats.push(row.event.at.as_millisecond());
            received.push(row.received_at.as_millisecond());
            flags.push(f);
            records.push(row.record.as_ref());
        }
        let st_subjects: Vec<_> = states.iter().map(|s| state_key(&s.subject)).collect();
        let st_states: Vec<&str> = states.iter().map(|s| s.state.as_str()).collect();
        let st_tails: Vec<&str> = states.iter().map(|s| s.tail.as_str()).collect();
        let st_events: Vec<&str> = states.iter().map(|s| s.events.as_str()).collect();
        let version = RECORD_VERSION as i32;
        let t = tenant.as_str();
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
            &t,
            &ids,
            &kinds,
            &ats,
            &received,
            &flags,
            &records,
            &version,
            &st_subjects,
            &st_states,
            &st_tails,
            &st_events,
        ];
        let status;
        let statement = match audit {
            Some(e) => {
                status = i32::from(e.status);
                params.extend([
                    &e.at_ms as &(dyn postgres::types::ToSql + Sync),
                    &e.tenant,
                    &e.token_id,
                    &e.role,
                    &e.method,
                    &e.path,
                    &status,
                    &e.detail,
                ]);
                &self.stmts.write_audited
            }
            None => &self.stmts.write,
        };
        self.tx.execute(statement, &params)?;
        Ok(())
    }

    fn audit(&mut self, e: &crate::auth::AuditEntry) -> Result<(), BackendError> {
        self.tx.execute(
            &self.stmts.audit,
            &[
                &e.at_ms,
                &e.tenant,
                &e.token_id,
                &e.role,
                &e.method,
                &e.path,
                &i32::from(e.status),
                &e.detail,
            ],
        )?;
        Ok(())
    }

    fn subjects(&mut self, tenant: &TenantId) -> Result<Vec<String>, BackendError> {
        Ok(subjects_of_keys(
            self.tx
                .query(
                    "SELECT subject FROM subject_state WHERE tenant = $1",
                    &[&tenant.as_str()],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        ))
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

    fn commit(mut self: Box<Self>) -> Result<(), BackendError> {
        self.open = false;
        self.tx.batch_execute("COMMIT")?;
        Ok(())
    }
}

impl Backend for PgBackend {
    fn begin(&mut self, tenant: &TenantId, write: bool) -> Result<Box<dyn Tx + '_>, BackendError> {
        // Tenant ids are `[a-z0-9._-]` (`TenantId::parse`), safe as a literal.
        let begin = if write {
            format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{}')::bigint)",
                tenant.as_str()
            )
        } else {
            "BEGIN".to_string()
        };
        let open = self.client.batch_execute(&begin);
        let tx = PgTx {
            tx: &mut self.client,
            stmts: &self.stmts,
            open: true,
        };
        open?;
        Ok(Box::new(tx))
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
