//! API tokens and the audit log, in the same database as the events.
//!
//! - `api_token`: one row per token: a public id, the tenant, the role, the
//!   SHA-256 of the token (never the token), when it was made and revoked.
//! - `audit_log`: one row per mutating API call (who, when, what, answer);
//!   append-only like `event_log` (triggers refuse UPDATE and DELETE).
//!
//! Both tables come from migration 3 in [`crate::backend::MIGRATIONS`].
//! [`AuthStore`] has its own connection, so token checks never wait for an
//! append. Making a token's secret (randomness) is the caller's job: this
//! module stores and checks hashes only, and never reads the clock.

use crate::backend;
use crate::error::BackendError;
use crate::tenant::TenantId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Mutex;

/// Migration 3 for SQLite.
pub const MIGRATION_SQLITE: &str = "CREATE TABLE api_token (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'planner', 'admin')),
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        revoked_at_ms INTEGER
    );
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        token_id TEXT NOT NULL,
        role TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;";

/// Migration 3 for PostgreSQL.
pub const MIGRATION_POSTGRES: &str = "CREATE TABLE api_token (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'planner', 'admin')),
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        revoked_at_ms BIGINT
    );
    CREATE TABLE audit_log (
        seq BIGSERIAL PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        tenant TEXT NOT NULL,
        token_id TEXT NOT NULL,
        role TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
    CREATE FUNCTION takt_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION takt_audit_append_only();";

/// What a token may do. Each role can do everything the one before can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every route of its tenant.
    Viewer,
    /// Also captures events and asks for re-plans.
    Planner,
    /// Also manages tokens and reads the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Planner, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Planner => "planner",
            Role::Admin => "admin",
        }
    }

    /// `viewer`, `planner` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored hash of a token: lowercase hex SHA-256 of its text.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored token (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Public id, e.g. `tk_3f9a0c1d2e4b`: safe to show and log.
    pub id: String,
    pub tenant: String,
    pub role: Role,
    pub label: String,
    pub created_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
}

/// One audit-log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub tenant: String,
    /// The token's public id.
    pub token_id: String,
    pub role: String,
    pub method: String,
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
    /// What the call did (e.g. `3 stored, 1 duplicate`), or why it failed.
    pub detail: String,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// Tokens and the audit log over their own database connection.
pub struct AuthStore {
    conn: Mutex<Conn>,
}

fn row_to_token(
    id: String,
    tenant: String,
    role: String,
    label: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
) -> Result<TokenInfo, BackendError> {
    let role = Role::parse(&role)
        .ok_or_else(|| BackendError::Corrupt(format!("token {id} has role `{role}`")))?;
    Ok(TokenInfo {
        id,
        tenant,
        role,
        label,
        created_at_ms,
        revoked_at_ms,
    })
}

const TOKEN_COLUMNS: &str = "id, tenant, role, label, created_at_ms, revoked_at_ms";

impl AuthStore {
    /// Opens the database a URL names (as [`crate::Store::open`]), running
    /// pending migrations first.
    pub fn open(url: &str) -> Result<AuthStore, BackendError> {
        // Runs the migrations (the same as the event store's).
        drop(backend::open(url)?);
        let conn = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Conn::Postgres(Box::new(postgres::Client::connect(url, postgres::NoTls)?))
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let c = rusqlite::Connection::open(path)?;
            c.busy_timeout(std::time::Duration::from_secs(30))?;
            c.execute_batch("PRAGMA synchronous=FULL;")?;
            Conn::Sqlite(c)
        };
        Ok(AuthStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a token by its hash. `id` is public; `hash` is
    /// [`token_hash`] of the secret token.
    pub fn create(
        &self,
        id: &str,
        tenant: &TenantId,
        role: Role,
        label: &str,
        hash: &str,
        created_at_ms: i64,
    ) -> Result<TokenInfo, BackendError> {
        match &mut *self.lock() {
            Conn::Sqlite(c) => {
                c.execute(
                    "INSERT INTO api_token (id, tenant, role, token_sha256, label, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![id, tenant.as_str(), role.as_str(), hash, label, created_at_ms],
                )?;
            }
            Conn::Postgres(c) => {
                c.execute(
                    "INSERT INTO api_token (id, tenant, role, token_sha256, label, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&id, &tenant.as_str(), &role.as_str(), &hash, &label, &created_at_ms],
                )?;
            }
        }
        Ok(TokenInfo {
            id: id.to_string(),
            tenant: tenant.to_string(),
            role,
            label: label.to_string(),
            created_at_ms,
            revoked_at_ms: None,
        })
    }

    /// The live (not revoked) token with this hash.
    pub fn find(&self, hash: &str) -> Result<Option<TokenInfo>, BackendError> {
        let sql_lite = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_token WHERE token_sha256 = ?1 AND revoked_at_ms IS NULL"
        );
        let sql_pg = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_token WHERE token_sha256 = $1 AND revoked_at_ms IS NULL"
        );
        match &mut *self.lock() {
            Conn::Sqlite(c) => {
                use rusqlite::OptionalExtension;
                let row = c
                    .query_row(&sql_lite, [hash], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    })
                    .optional()?;
                row.map(|(a, b, c, d, e, f)| row_to_token(a, b, c, d, e, f))
                    .transpose()
            }
            Conn::Postgres(c) => {
                let row = c.query_opt(&sql_pg, &[&hash])?;
                row.map(|r| {
                    row_to_token(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
                })
                .transpose()
            }
        }
    }

    /// Every token of a tenant (all tenants with `None`), oldest first.
    pub fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<TokenInfo>, BackendError> {
        let t = tenant.map(|t| t.as_str().to_string());
        match &mut *self.lock() {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_token WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at_ms, id"
                ))?;
                let rows = stmt.query_map([&t], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (a, b, c, d, e, f) = row?;
                    out.push(row_to_token(a, b, c, d, e, f)?);
                }
                Ok(out)
            }
            Conn::Postgres(c) => c
                .query(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_token WHERE $1::TEXT IS NULL OR tenant = $1 ORDER BY created_at_ms, id"
                    ),
                    &[&t],
                )?
                .iter()
                .map(|r| row_to_token(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
                .collect(),
        }
    }

    /// Revokes a token by its public id, within a tenant when one is given.
    /// Answers whether a live token was revoked.
    pub fn revoke(
        &self,
        id: &str,
        tenant: Option<&TenantId>,
        at_ms: i64,
    ) -> Result<bool, BackendError> {
        let t = tenant.map(|t| t.as_str().to_string());
        let n = match &mut *self.lock() {
            Conn::Sqlite(c) => c.execute(
                "UPDATE api_token SET revoked_at_ms = ?1 WHERE id = ?2 AND (?3 IS NULL OR tenant = ?3) AND revoked_at_ms IS NULL",
                rusqlite::params![at_ms, id, t],
            )? as u64,
            Conn::Postgres(c) => c.execute(
                "UPDATE api_token SET revoked_at_ms = $1 WHERE id = $2 AND ($3::TEXT IS NULL OR tenant = $3) AND revoked_at_ms IS NULL",
                &[&at_ms, &id, &t],
            )?,
        };
        Ok(n > 0)
    }

    /// Appends an audit-log row (committed before it returns).
    pub fn audit(&self, e: &AuditEntry) -> Result<(), BackendError> {
        let status = i32::from(e.status);
        match &mut *self.lock() {
            Conn::Sqlite(c) => {
                c.execute(
                    "INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    rusqlite::params![e.at_ms, e.tenant, e.token_id, e.role, e.method, e.path, status, e.detail],
                )?;
            }
            Conn::Postgres(c) => {
                c.execute(
                    "INSERT INTO audit_log (at_ms, tenant, token_id, role, method, path, status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[&e.at_ms, &e.tenant, &e.token_id, &e.role, &e.method, &e.path, &status, &e.detail],
                )?;
            }
        }
        Ok(())
    }

    /// A tenant's audit log, newest first, at most `limit` rows with `seq`
    /// below `before` (for paging).
    pub fn audit_log(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, BackendError> {
        let before = before.unwrap_or(i64::MAX);
        let limit = limit as i64;
        let make =
            |seq, at_ms, tenant, token_id, role, method, path, status: i32, detail| AuditEntry {
                seq,
                at_ms,
                tenant,
                token_id,
                role,
                method,
                path,
                status: u16::try_from(status).unwrap_or(0),
                detail,
            };
        match &mut *self.lock() {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare(
                    "SELECT seq, at_ms, tenant, token_id, role, method, path, status, detail FROM audit_log WHERE tenant = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
                )?;
                let rows = stmt.query_map(rusqlite::params![tenant.as_str(), before, limit], |r| {
                    Ok(make(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }
            Conn::Postgres(c) => Ok(c
                .query(
                    "SELECT seq, at_ms, tenant, token_id, role, method, path, status, detail FROM audit_log WHERE tenant = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                    &[&tenant.as_str(), &before, &limit],
                )?
                .iter()
                .map(|r| {
                    make(
                        r.get(0),
                        r.get(1),
                        r.get(2),
                        r.get(3),
                        r.get(4),
                        r.get(5),
                        r.get(6),
                        r.get(7),
                        r.get(8),
                    )
                })
                .collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> String {
        let d = std::env::temp_dir().join(format!("takt-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("takt.db").to_str().unwrap().to_string()
    }

    #[test]
    fn tokens_are_stored_by_hash_found_listed_and_revoked() {
        let url = temp("tokens");
        let a = AuthStore::open(&url).unwrap();
        let t = TenantId::parse("toyota").unwrap();
        let h = token_hash("secret-1");
        assert_eq!(h.len(), 64);
        a.create("tk_1", &t, Role::Planner, "ci", &h, 10).unwrap();
        assert_eq!(a.find(&h).unwrap().unwrap().role, Role::Planner);
        assert!(a.find(&token_hash("secret-2")).unwrap().is_none());
        let other = TenantId::parse("nissan").unwrap();
        assert!(!a.revoke("tk_1", Some(&other), 11).unwrap());
        assert_eq!(a.list(Some(&t)).unwrap().len(), 1);
        assert!(a.list(Some(&other)).unwrap().is_empty());
        assert!(a.revoke("tk_1", Some(&t), 12).unwrap());
        assert!(a.find(&h).unwrap().is_none());
        assert_eq!(a.list(None).unwrap()[0].revoked_at_ms, Some(12));
        // The secret is nowhere in the database file.
        let bytes = std::fs::read(&url).unwrap();
        assert!(!bytes.windows(8).any(|w| w == b"secret-1"));
    }

    #[test]
    fn the_audit_log_is_append_only_and_per_tenant() {
        let url = temp("audit");
        let a = AuthStore::open(&url).unwrap();
        let t = TenantId::parse("toyota").unwrap();
        for k in 0..3 {
            a.audit(&AuditEntry {
                seq: 0,
                at_ms: k,
                tenant: "toyota".into(),
                token_id: "tk_1".into(),
                role: "planner".into(),
                method: "POST".into(),
                path: "/v1/events".into(),
                status: 200,
                detail: format!("{k} stored"),
            })
            .unwrap();
        }
        let log = a.audit_log(&t, None, 2).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].detail, "2 stored");
        let older = a.audit_log(&t, Some(log[1].seq), 10).unwrap();
        assert_eq!(older.len(), 1);
        assert!(
            a.audit_log(&TenantId::parse("nissan").unwrap(), None, 10)
                .unwrap()
                .is_empty()
        );
        let c = rusqlite::Connection::open(&url).unwrap();
        assert!(c.execute("DELETE FROM audit_log", []).is_err());
        assert!(c.execute("UPDATE audit_log SET detail = 'x'", []).is_err());
    }
}
