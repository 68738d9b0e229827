//! The PostgreSQL backend (`--db postgres://...`): the same schema and
//! behaviour as SQLite; a transaction-scoped advisory lock per tenant
//! serializes writers of one tenant; migrations run at start-up under an
//! advisory lock, so concurrent start-ups apply each once.

use crate::backend::{
    Backend, NewRow, RECORD_VERSION, StateRow, StoredState, Tx, decode, encode_flags, pending,
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

/// Held shared by every append for its transaction; a projector takes it
/// exclusively for a moment to learn the log position through which every
/// row is committed ([`Backend::log_head`]): positions come from a
/// sequence, and two appends (of two tenants) can commit out of order.
const APPEND_BARRIER: i64 = 0x7461_6b74_5f61_7070; // "takt_app"

/// Serializes projectors' writes ([`crate::projector`]).
const PROJECTION_LOCK: i64 = 0x7461_6b74_5f70_726a; // "takt_prj"

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

/// The statements of a write, prepared once per connection.
struct Statements {
    rows_by_id: Statement,
    rows_by_subjects: Statement,
    states: Statement,
    append: Statement,
    write_states: Statement,
    retractions: Statement,
    tails: Statement,
    positions: Statement,
    rows_between: Statement,
    logged_after: Statement,
    unprojected: Statement,
    audit: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, BackendError> {
        Ok(Statements {
            // Each id or subject is looked up on its own through the
            // unique index (`OFFSET 0` keeps the planner from turning the
            // lookups into a scan of the tenant's rows, which it does when
            // the statistics are stale).
            rows_by_id: client.prepare(&format!(
                "SELECT {ROW_COLUMNS} FROM unnest($2::text[]) AS q(id)
                 CROSS JOIN LATERAL (SELECT * FROM event_log x
                     WHERE x.tenant = $1 AND x.event_id = q.id OFFSET 0) l
                 ORDER BY l.seq"
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
            // The log rows, in order, so that `seq` follows the batch.
            append: client.prepare(
                "INSERT INTO event_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record, record_version)
                 SELECT $1, u.event_id, u.kind, u.at, u.received, u.flags, u.record, $8
                 FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[])
                     WITH ORDINALITY AS u(event_id, kind, at, received, flags, record, n)
                 ORDER BY u.n
                 RETURNING seq",
            )?,
            write_states: client.prepare(
                "INSERT INTO subject_state (tenant, subject, state, tail, events)
                 SELECT $1, u.subject, u.state, u.tail, u.events
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
                     AS u(subject, state, tail, events)
                 ON CONFLICT (tenant, subject) DO UPDATE
                 SET state = excluded.state, tail = excluded.tail, events = excluded.events",
            )?,
            retractions: client.prepare(
                "SELECT DISTINCT l.event_id FROM unnest($2::text[]) AS q(id)
                 CROSS JOIN LATERAL (SELECT * FROM event_log x
                     WHERE x.tenant = $1 AND x.event_id = q.id AND x.kind = 'retraction' OFFSET 0) l",
            )?,
            tails: client.prepare(
                "SELECT st.subject, st.tail, st.state IS NOT NULL
                 FROM (SELECT DISTINCT subject FROM unnest($2::text[]) AS u(subject)) AS q
                 CROSS JOIN LATERAL (SELECT * FROM subject_state x
                     WHERE x.tenant = $1 AND x.subject = q.subject OFFSET 0) st",
            )?,
            positions: client.prepare(
                "SELECT seq, tenant FROM event_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            )?,
            logged_after: client.prepare(
                // Through the positions (both bounds, so that the generic
                // plan expects few rows), not the (tenant, ...) index.
                "SELECT seq FROM event_log WHERE seq > $1 AND seq <= 9223372036854775807
                 AND tenant || '' = $2 ORDER BY seq",
            )?,
            unprojected: client.prepare(
                "SELECT p.seq, (SELECT COUNT(*) FROM event_log l
                     WHERE l.seq > p.seq AND l.seq <= 9223372036854775807)
                 FROM projection p WHERE p.id = 1",
            )?,
            rows_between: client.prepare(&format!(
                "SELECT l.seq, l.tenant, {ROW_COLUMNS} FROM event_log l WHERE l.seq > $1 AND l.seq <= $2
                 AND ($3::text IS NULL OR l.tenant = $3) ORDER BY l.seq"
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
    fn rows_by_id(&mut self, tenant: &TenantId, ids: &[&str]) -> Result<Vec<LogRow>, BackendError> {
        self.tx
            .query(&self.stmts.rows_by_id, &[&tenant.as_str(), &ids])?
            .iter()
            .map(|r| decode_row(r, 0))
            .collect()
    }

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

    fn rows_by_subjects(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<(String, LogRow)>, BackendError> {
        self.tx
            .query(&self.stmts.rows_by_subjects, &[&tenant.as_str(), &subjects])?
            .iter()
            .map(|r| Ok((r.get(0), decode_row(r, 1)?)))
            .collect()
    }

    fn states(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<StoredState>, BackendError> {
        Ok(self
            .tx
            .query(&self.stmts.states, &[&tenant.as_str(), &subjects])?
            .iter()
            .map(|r| StoredState {
                subject: r.get(0),
                state: r.get(1),
                tail: r.get(2),
                events: r.get(3),
            })
            .collect())
    }

    fn append(&mut self, tenant: &TenantId, rows: &[NewRow<'_>]) -> Result<Vec<i64>, BackendError> {
        let mut ids = Vec::with_capacity(rows.len());
        let mut kinds = Vec::with_capacity(rows.len());
        let mut ats = Vec::with_capacity(rows.len());
        let mut received = Vec::with_capacity(rows.len());
        let mut flags = Vec::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            ids.push(row.event.event_id.as_str());
            kinds.push(row.kind());
            ats.push(row.event.at.as_millisecond());
            received.push(row.received_at.as_millisecond());
            flags.push(encode_flags(row));
            records.push(row.record.as_ref());
        }
        let mut seqs: Vec<i64> = self
            .tx
            .query(
                &self.stmts.append,
                &[
                    &tenant.as_str(),
                    &ids,
                    &kinds,
                    &ats,
                    &received,
                    &flags,
                    &records,
                    &(RECORD_VERSION as i32),
                ],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // The sequence numbers the rows in the order inserted, the batch's.
        seqs.sort_unstable();
        Ok(seqs)
    }

    fn write_states(&mut self, tenant: &TenantId, states: &[StateRow]) -> Result<(), BackendError> {
        let st_subjects: Vec<&str> = states.iter().map(|s| s.subject.as_str()).collect();
        let st_states: Vec<&str> = states.iter().map(|s| s.state.as_str()).collect();
        let st_tails: Vec<&str> = states.iter().map(|s| s.tail.as_str()).collect();
        let st_events: Vec<&str> = states.iter().map(|s| s.events.as_str()).collect();
        self.tx.execute(
            &self.stmts.write_states,
            &[
                &tenant.as_str(),
                &st_subjects,
                &st_states,
                &st_tails,
                &st_events,
            ],
        )?;
        Ok(())
    }

    fn projected(&mut self) -> Result<i64, BackendError> {
        Ok(self
            .tx
            .query_one("SELECT seq FROM projection WHERE id = 1", &[])?
            .get(0))
    }

    fn set_projected(&mut self, seq: i64) -> Result<(), BackendError> {
        self.tx
            .execute("UPDATE projection SET seq = $1 WHERE id = 1", &[&seq])?;
        Ok(())
    }

    fn positions(
        &mut self,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, BackendError> {
        Ok(self
            .tx
            .query(&self.stmts.positions, &[&after, &upto, &limit])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn unprojected(&mut self) -> Result<(i64, i64), BackendError> {
        let r = self.tx.query_one(&self.stmts.unprojected, &[])?;
        Ok((r.get(0), r.get(1)))
    }

    fn logged_after(&mut self, tenant: &TenantId, after: i64) -> Result<Vec<i64>, BackendError> {
        Ok(self
            .tx
            .query(&self.stmts.logged_after, &[&after, &tenant.as_str()])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn rows_between(
        &mut self,
        tenant: Option<&TenantId>,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(i64, String, LogRow)>, BackendError> {
        self.tx
            .query(
                &self.stmts.rows_between,
                &[&after, &upto, &tenant.map(TenantId::as_str)],
            )?
            .iter()
            .map(|r| Ok((r.get(0), r.get(1), decode_row(r, 2)?)))
            .collect()
    }

    fn retractions_among(
        &mut self,
        tenant: &TenantId,
        ids: &[&str],
    ) -> Result<Vec<String>, BackendError> {
        Ok(self
            .tx
            .query(&self.stmts.retractions, &[&tenant.as_str(), &ids])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn tails(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<(String, Option<String>, bool)>, BackendError> {
        Ok(self
            .tx
            .query(&self.stmts.tails, &[&tenant.as_str(), &subjects])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
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

    fn commit(mut self: Box<Self>) -> Result<(), BackendError> {
        self.open = false;
        self.tx.batch_execute("COMMIT")?;
        Ok(())
    }
}

impl PgBackend {
    /// Runs `begin` (a `BEGIN` and the locks the transaction takes) in one
    /// round trip.
    fn begin_with(&mut self, begin: &str) -> Result<Box<dyn Tx + '_>, BackendError> {
        let open = self.client.batch_execute(begin);
        let tx = PgTx {
            tx: &mut self.client,
            stmts: &self.stmts,
            open: true,
        };
        open?;
        Ok(Box::new(tx))
    }
}

impl Backend for PgBackend {
    fn begin(&mut self, tenant: &TenantId, write: bool) -> Result<Box<dyn Tx + '_>, BackendError> {
        // Tenant ids are `[a-z0-9._-]` (`TenantId::parse`), safe as a literal.
        let begin = if write {
            format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{}')::bigint); SELECT pg_advisory_xact_lock_shared({APPEND_BARRIER})",
                tenant.as_str()
            )
        } else {
            "BEGIN".to_string()
        };
        self.begin_with(&begin)
    }

    fn begin_projection(&mut self, write: bool) -> Result<Box<dyn Tx + '_>, BackendError> {
        if write {
            // Derived rows and their position only: this commit need not
            // wait for the disk (see `Backend::projector_only`); appends'
            // commits still do, and flush this one with them.
            self.begin_with(&format!(
                "BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({PROJECTION_LOCK})"
            ))
        } else {
            self.begin_with("BEGIN")
        }
    }

    fn log_head(&mut self) -> Result<i64, BackendError> {
        // Every append in flight holds the barrier shared; once it is ours,
        // they have all ended, and later ones take later positions.
        let mut tx = self.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_BARRIER])?;
        let head: i64 = tx
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM event_log", &[])?
            .get(0);
        tx.commit()?;
        Ok(head)
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
