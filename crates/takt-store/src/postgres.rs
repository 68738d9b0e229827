//! The PostgreSQL backend (`--db postgres://...`): the same schema and
//! behaviour as SQLite; a transaction-scoped advisory lock per tenant
//! serializes writers of one tenant; migrations run at start-up under an
//! advisory lock, so concurrent start-ups apply each once.
//!
//! A write transaction is pipelined (`PgTx`): `BEGIN` (with the
//! tenant's lock) goes out with the transaction's first request, every
//! write goes out when made and is checked at the next request that
//! waits, and a group's reads may go out first of all
//! ([`Tx::read_ahead`]), so a transaction of one batch takes two round
//! trips to the server (its read, then its write and the commit) instead
//! of four, and a group about two. The client is tokio-postgres on a
//! single-threaded runtime of the backend's own (the store is
//! synchronous; nothing else runs on it).

use crate::backend::{
    Backend, NewRow, RECORD_VERSION, StateRow, StoredState, Tx, decode, encode_flags, pending,
    state_key, state_keys, subject_of_key, subjects_of_keys,
};
use crate::error::BackendError;
use crate::model::LogRow;
use crate::tenant::TenantId;
use futures_util::future::MaybeDone;
use std::future::Future;
use std::pin::Pin;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

/// A PostgreSQL database.
pub struct PgBackend {
    rt: tokio::runtime::Runtime,
    client: Client,
    stmts: Statements,
}

/// The advisory-lock key of migrations.
const MIGRATION_LOCK: i64 = 0x7461_6b74_5f6d_6967; // "takt_mig"

impl PgBackend {
    /// Connects, checks that commits are durable (`fsync` and
    /// `synchronous_commit` on) and runs pending migrations.
    pub fn connect(url: &str) -> Result<PgBackend, BackendError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| BackendError::Url(format!("cannot start the PostgreSQL client: {e}")))?;
        let (mut client, connection) = rt.block_on(tokio_postgres::connect(url, NoTls))?;
        // Driven whenever the backend waits on the runtime (`block_on`).
        rt.spawn(async move {
            let _ = connection.await;
        });
        let stmts = rt.block_on(async {
            for setting in ["fsync", "synchronous_commit"] {
                let v: String = client
                    .query_one(&format!("SHOW {setting}"), &[])
                    .await?
                    .get(0);
                if v == "off" {
                    return Err(BackendError::Durability(format!(
                        "the server runs with {setting}=off; acknowledged events could be lost"
                    )));
                }
            }
            migrate(&mut client).await?;
            Statements::prepare(&client).await
        })?;
        Ok(PgBackend { rt, client, stmts })
    }
}

async fn migrate(client: &mut Client) -> Result<(), BackendError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    for (version, name, _, sql) in pending(current)? {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
    }
    tx.commit().await?;
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
    async fn prepare(client: &Client) -> Result<Statements, BackendError> {
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
            )).await?,
            rows_by_subjects: client.prepare(&format!(
                "SELECT s.subject, {ROW_COLUMNS} FROM unnest($2::text[]) AS q(subject)
                 CROSS JOIN LATERAL (SELECT * FROM subject_state x
                     WHERE x.tenant = $1 AND x.subject = q.subject OFFSET 0) s
                 CROSS JOIN LATERAL jsonb_array_elements(s.events::jsonb) AS j(e)
                 CROSS JOIN LATERAL (SELECT * FROM event_log x
                     WHERE x.tenant = $1 AND x.event_id = j.e ->> 0 AND x.kind = j.e ->> 1 OFFSET 0) l
                 ORDER BY l.seq"
            ))
            .await?,
            states: client.prepare(
                "SELECT st.subject, st.state, st.tail, st.events
                 FROM (SELECT DISTINCT subject FROM unnest($2::text[]) AS u(subject)) AS q
                 CROSS JOIN LATERAL (SELECT * FROM subject_state x
                     WHERE x.tenant = $1 AND x.subject = q.subject OFFSET 0) st",
            ).await?,
            write: client.prepare(&format!("{WRITE} SELECT 1")).await?,
            // The same with the batch's audit-log row ($13..$20).
            write_audited: client.prepare(&format!(
                "{WRITE}, au AS (
                    INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail)
                    VALUES ($13, $14, $15, $16, $17, $18, $19, $20))
                 SELECT 1"
            )).await?,
            audit: client.prepare(
                "INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            ).await?,
        })
    }
}

/// A parameter of a statement sent ahead of its answer, owned by it.
type Param = Box<dyn ToSql + Sync + Send>;

/// A request sent to the server whose answer is awaited later.
type Answer<'a, T> = Pin<Box<MaybeDone<Pin<Box<dyn Future<Output = PgResult<T>> + 'a>>>>>;

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// A batch's read ([`Tx::rows_and_states`]) sent ahead ([`Tx::read_ahead`]),
/// and what this transaction wrote after sending it, which the server's
/// answer cannot show: laid over the answer when the read is asked for.
struct Ahead<'a> {
    ids: Vec<String>,
    subjects: Vec<String>,
    answer: Answer<'a, Vec<tokio_postgres::Row>>,
    rows: Vec<LogRow>,
    states: Vec<StoredState>,
}

/// A pipelined transaction: every request is sent when it is made and its
/// answer awaited only when needed. `BEGIN` (with the tenant's lock) goes
/// out with the first request; a write goes out at once and its answer is
/// checked at the next request that waits (a read, or `COMMIT`); the reads
/// of a group's later batches may go out first of all, so that the server
/// executes one batch's write while takt decides the next batch. The
/// server executes requests in the order sent, and the first error ends
/// the transaction (`COMMIT` then rolls back). Rolled back on drop unless
/// committed.
struct PgTx<'a> {
    pg: &'a PgBackend,
    /// `BEGIN` and the tenant's lock, until sent.
    begin: Option<String>,
    /// Sent, answers not yet checked (`BEGIN`, writes), in order.
    sent: Vec<Answer<'a, u64>>,
    ahead: std::collections::VecDeque<Ahead<'a>>,
    open: bool,
}

impl<'a> PgTx<'a> {
    /// Sends a request now (after `BEGIN` when that has not gone out):
    /// its first poll queues it to the connection, in order.
    fn issue<T: 'a>(&mut self, request: impl Future<Output = PgResult<T>> + 'a) -> Answer<'a, T> {
        if let Some(sql) = self.begin.take() {
            let client = &self.pg.client;
            let begun = self.start(async move { client.batch_execute(&sql).await.map(|()| 0) });
            self.sent.push(begun);
        }
        self.start(request)
    }

    fn start<T: 'a>(&self, request: impl Future<Output = PgResult<T>> + 'a) -> Answer<'a, T> {
        let boxed: Pin<Box<dyn Future<Output = PgResult<T>> + 'a>> = Box::pin(request);
        let mut answer = Box::pin(futures_util::future::maybe_done(boxed));
        self.pg.rt.block_on(futures_util::future::poll_fn(|cx| {
            let _ = answer.as_mut().poll(cx);
            std::task::Poll::Ready(())
        }));
        answer
    }

    /// Awaits every answer sent before `answer`, then `answer`: the first
    /// error among them, or `answer`'s value. Every answer outstanding is
    /// polled at each wake-up, the reads sent ahead too (their rows are
    /// kept until asked for): the connection hands a request's answer
    /// over only when the one before it on the wire has been taken, so
    /// awaiting a write while a large read sent before it goes unread
    /// would wait for ever.
    fn wait<T>(&mut self, mut answer: Answer<'a, T>) -> Result<T, BackendError> {
        let mut sent = std::mem::take(&mut self.sent);
        let ahead = &mut self.ahead;
        self.pg.rt.block_on(futures_util::future::poll_fn(|cx| {
            let mut done = true;
            for s in &mut sent {
                done &= s.as_mut().poll(cx).is_ready();
            }
            for a in ahead.iter_mut() {
                let _ = a.answer.as_mut().poll(cx);
            }
            done &= answer.as_mut().poll(cx).is_ready();
            if done {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        }));
        let first_error = sent
            .iter_mut()
            .find_map(|s| s.as_mut().take_output().and_then(Result::err));
        let value = answer.as_mut().take_output().expect("awaited once");
        match first_error {
            Some(e) => Err(e.into()),
            None => value.map_err(BackendError::from),
        }
    }

    /// Sends a read and awaits it (and everything sent before it).
    fn query(
        &mut self,
        statement: &Statement,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, BackendError> {
        let answer = self.send_query(statement, params);
        self.wait(answer)
    }

    fn send_query(
        &mut self,
        statement: &Statement,
        params: Vec<Param>,
    ) -> Answer<'a, Vec<tokio_postgres::Row>> {
        let client = &self.pg.client;
        let statement = statement.clone();
        self.issue(async move {
            use futures_util::TryStreamExt;
            client
                .query_raw(
                    &statement,
                    params.iter().map(|p| &**p as &(dyn ToSql + Sync)),
                )
                .await?
                .try_collect()
                .await
        })
    }

    /// Sends a write; its answer is checked at the next request that waits.
    fn send_write(&mut self, statement: &Statement, params: Vec<Param>) {
        let client = &self.pg.client;
        let statement = statement.clone();
        let answer = self.issue(async move {
            client
                .execute_raw(
                    &statement,
                    params.iter().map(|p| &**p as &(dyn ToSql + Sync)),
                )
                .await
        });
        self.sent.push(answer);
    }

    /// Sends a read that takes no parameters but the tenant.
    fn query_sql(
        &mut self,
        sql: &str,
        tenant: &TenantId,
    ) -> Result<Vec<tokio_postgres::Row>, BackendError> {
        let client = &self.pg.client;
        let sql = sql.to_string();
        let t = tenant.as_str().to_string();
        let answer = self.issue(async move { client.query(&sql, &[&t]).await });
        self.wait(answer)
    }
}

/// The `subject_state` keys of these subjects, as a statement parameter.
fn keys_param(subjects: &[String]) -> Param {
    Box::new(
        state_keys(subjects)
            .into_iter()
            .map(|k| k.into_owned())
            .collect::<Vec<_>>(),
    )
}

fn rows_and_states_params(tenant: &TenantId, ids: &[String], subjects: &[String]) -> Vec<Param> {
    vec![
        Box::new(tenant.as_str().to_string()),
        Box::new(ids.to_vec()),
        keys_param(subjects),
    ]
}

/// The stored rows and states of a [`Tx::rows_and_states`] answer.
fn split_rows_and_states(
    answer: Vec<tokio_postgres::Row>,
) -> Result<(Vec<LogRow>, Vec<StoredState>), BackendError> {
    let mut rows = Vec::new();
    let mut states = Vec::new();
    for r in answer {
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

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        // Answers never to be read are dropped first, so that the
        // connection discards them instead of holding the rollback's
        // answer behind them.
        self.sent.clear();
        self.ahead.clear();
        // Nothing to roll back when nothing was sent.
        if self.open && self.begin.is_none() {
            // A broken connection has no transaction left to roll back.
            let _ = self
                .pg
                .rt
                .block_on(self.pg.client.batch_execute("ROLLBACK"));
        }
    }
}

const ROW_COLUMNS: &str = "l.record, l.received_at_ms, l.flags, l.record_version";

fn decode_row(r: &tokio_postgres::Row, first: usize) -> Result<LogRow, BackendError> {
    decode(
        r.get::<_, &str>(first),
        r.get(first + 1),
        r.get::<_, &str>(first + 2),
        i64::from(r.get::<_, i32>(first + 3)),
    )
}

/// The parameters of an audit-log row, in the column order of `audit_log`.
fn audit_params(e: &crate::auth::AuditEntry) -> [Param; 8] {
    [
        Box::new(e.at_ms),
        Box::new(e.tenant.clone()),
        Box::new(e.token_id.clone()),
        Box::new(e.role.clone()),
        Box::new(e.method.clone()),
        Box::new(e.path.clone()),
        Box::new(i32::from(e.status)),
        Box::new(e.detail.clone()),
    ]
}

impl Tx for PgTx<'_> {
    fn rows_of_tenant(&mut self, tenant: &TenantId) -> Result<Vec<LogRow>, BackendError> {
        self.query_sql(
            &format!("SELECT {ROW_COLUMNS} FROM event_log l WHERE l.tenant = $1"),
            tenant,
        )?
        .iter()
        .map(|r| decode_row(r, 0))
        .collect()
    }

    fn read_ahead(
        &mut self,
        tenant: &TenantId,
        ids: &[String],
        subjects: &[String],
    ) -> Result<(), BackendError> {
        debug_assert!(
            ids.is_sorted() && subjects.is_sorted(),
            "sorted, as documented"
        );
        let pg = self.pg;
        let answer = self.send_query(
            &pg.stmts.rows_and_states,
            rows_and_states_params(tenant, ids, subjects),
        );
        self.ahead.push_back(Ahead {
            ids: ids.to_vec(),
            subjects: subjects.to_vec(),
            answer,
            rows: Vec::new(),
            states: Vec::new(),
        });
        Ok(())
    }

    fn rows_and_states(
        &mut self,
        tenant: &TenantId,
        ids: &[String],
        subjects: &[String],
    ) -> Result<(Vec<LogRow>, Vec<StoredState>), BackendError> {
        while let Some(ahead) = self.ahead.pop_front() {
            let answer = self.wait(ahead.answer)?;
            if ahead.ids == ids && ahead.subjects == subjects {
                let (mut rows, mut states) = split_rows_and_states(answer)?;
                // Written after the read went out: later in storage order,
                // and the latest state of each subject.
                rows.extend(ahead.rows);
                for written in ahead.states {
                    states.retain(|s| s.subject != written.subject);
                    states.push(written);
                }
                return Ok((rows, states));
            }
            // A read sent ahead for a batch that was decided without it
            // (rejected before reading): its answer is not used.
        }
        let pg = self.pg;
        split_rows_and_states(self.query(
            &pg.stmts.rows_and_states,
            rows_and_states_params(tenant, ids, subjects),
        )?)
    }

    fn rows_by_subjects(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<(String, LogRow)>, BackendError> {
        let pg = self.pg;
        self.query(
            &pg.stmts.rows_by_subjects,
            vec![Box::new(tenant.as_str().to_string()), keys_param(subjects)],
        )?
        .iter()
        .map(|r| Ok((subject_of_key(r.get(0)), decode_row(r, 1)?)))
        .collect()
    }

    fn states(
        &mut self,
        tenant: &TenantId,
        subjects: &[String],
    ) -> Result<Vec<StoredState>, BackendError> {
        let pg = self.pg;
        Ok(self
            .query(
                &pg.stmts.states,
                vec![Box::new(tenant.as_str().to_string()), keys_param(subjects)],
            )?
            .iter()
            .map(|r| StoredState {
                subject: subject_of_key(r.get(0)),
                state: r.get(1),
                tail: r.get(2),
                events: r.get(3),
            })
            .collect())
    }

    /// Sent at once; its answer is checked at the next request that waits.
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
            ids.push(row.event.event_id.clone());
            kinds.push(row.kind());
            ats.push(row.event.at.as_millisecond());
            received.push(row.received_at.as_millisecond());
            flags.push(encode_flags(row));
            records.push(row.record.clone().into_owned());
        }
        // What the reads sent ahead cannot see, as they would have read it
        // (their ids and subjects are sorted: looked up by halving).
        for ahead in &mut self.ahead {
            for (i, id) in ids.iter().enumerate() {
                if ahead.ids.binary_search(id).is_ok() {
                    ahead
                        .rows
                        .push(decode(&records[i], received[i], &flags[i], RECORD_VERSION)?);
                }
            }
            for st in states {
                if ahead.subjects.binary_search(&st.subject).is_ok() {
                    ahead.states.retain(|s| s.subject != st.subject);
                    ahead.states.push(StoredState {
                        subject: st.subject.clone(),
                        state: Some(st.state.clone()),
                        tail: Some(st.tail.clone()),
                        events: st.events.clone(),
                    });
                }
            }
        }
        let st_subjects: Vec<String> = states
            .iter()
            .map(|s| state_key(&s.subject).into_owned())
            .collect();
        let st_states: Vec<String> = states.iter().map(|s| s.state.clone()).collect();
        let st_tails: Vec<String> = states.iter().map(|s| s.tail.clone()).collect();
        let st_events: Vec<String> = states.iter().map(|s| s.events.clone()).collect();
        let mut params: Vec<Param> = vec![
            Box::new(tenant.as_str().to_string()),
            Box::new(ids),
            Box::new(kinds),
            Box::new(ats),
            Box::new(received),
            Box::new(flags),
            Box::new(records),
            Box::new(RECORD_VERSION as i32),
            Box::new(st_subjects),
            Box::new(st_states),
            Box::new(st_tails),
            Box::new(st_events),
        ];
        let pg = self.pg;
        let statement = match audit {
            Some(e) => {
                params.extend(audit_params(e));
                &pg.stmts.write_audited
            }
            None => &pg.stmts.write,
        };
        self.send_write(statement, params);
        Ok(())
    }

    /// Sent at once; its answer is checked at the next request that waits.
    fn audit(&mut self, e: &crate::auth::AuditEntry) -> Result<(), BackendError> {
        let pg = self.pg;
        self.send_write(&pg.stmts.audit, audit_params(e).into());
        Ok(())
    }

    fn subjects(&mut self, tenant: &TenantId) -> Result<Vec<String>, BackendError> {
        let rows = self.query_sql(
            "SELECT subject FROM subject_state WHERE tenant = $1",
            tenant,
        )?;
        Ok(subjects_of_keys(rows.iter().map(|r| r.get(0)).collect()))
    }

    fn count_rows(&mut self, tenant: &TenantId) -> Result<u64, BackendError> {
        let rows = self.query_sql("SELECT COUNT(*) FROM event_log WHERE tenant = $1", tenant)?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0)) as u64)
    }

    /// Sends `COMMIT` and awaits it with every answer not yet checked.
    fn commit(mut self: Box<Self>) -> Result<(), BackendError> {
        if self.begin.is_some() {
            // Nothing was sent: there is nothing to commit.
            self.open = false;
            return Ok(());
        }
        let client = &self.pg.client;
        let answer = self.issue(async move { client.batch_execute("COMMIT").await });
        let committed = self.wait(answer);
        // On an error the server has already ended the transaction (a
        // failed statement turns `COMMIT` into a rollback) or the
        // connection is gone; either way there is nothing to roll back.
        self.open = false;
        committed
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
        Ok(Box::new(PgTx {
            pg: self,
            begin: Some(begin),
            sent: Vec::new(),
            ahead: std::collections::VecDeque::new(),
            open: true,
        }))
    }

    fn integrity_check(&mut self) -> Result<(), BackendError> {
        self.rt.block_on(async {
            let n: i64 = self
                .client
                .query_one(
                    "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'event_log_append_only'",
                    &[],
                )
                .await?
                .get(0);
            if n != 1 {
                return Err(BackendError::Corrupt(
                    "the append-only trigger on event_log is missing".into(),
                ));
            }
            self.client
                .batch_execute(
                    "SELECT COUNT(*) FROM event_log; SELECT COUNT(*) FROM subject_state;",
                )
                .await?;
            Ok(())
        })
    }

    fn schema_version(&mut self) -> Result<i64, BackendError> {
        Ok(self
            .rt
            .block_on(
                self.client
                    .query_one("SELECT MAX(version) FROM schema_migrations", &[]),
            )?
            .get(0))
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}
