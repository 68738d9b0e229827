//! Bearer tokens, roles, the rate limit per token and the audit log.
//!
//! A request to `/v1/...` or `/epcis/...` carries `Authorization: Bearer
//! TOKEN`. [`authenticate`] (a middleware) looks the token's hash up
//! (cached for [`TOKEN_CACHE_SECONDS`], so a revoked token stops working
//! within that time), takes one unit from the token's bucket (429 with
//! `Retry-After` when empty), puts the [`Caller`] in the request, and after
//! a mutating call (any method but GET and HEAD) appends a row to the audit
//! log before the answer leaves. Handlers take the tenant from the
//! [`Caller`] extractor and nowhere else.

use crate::AppState;
use crate::problem::{Problem, ProblemCode};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::TryRngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use takt_store::TenantId;
use takt_store::auth::{AuditEntry, AuthStore, Role, TokenInfo, token_hash};

/// How long a looked-up token is trusted without asking the database again.
pub const TOKEN_CACHE_SECONDS: u64 = 5;

/// Who is calling: the token's tenant, role and public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub role: Role,
    pub token_id: String,
}

impl Caller {
    /// 403 `forbidden` unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Problem::new(
                ProblemCode::Forbidden,
                "",
                format!(
                    "this call needs the role `{role}` or higher; the token has `{}`. Ask an admin for a token with that role (`takt token create --role {role}`)",
                    self.role
                ),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, Problem> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(unauthorized)
    }
}

fn unauthorized() -> Problem {
    Problem::new(
        ProblemCode::Unauthorized,
        "",
        "send `Authorization: Bearer TOKEN` with a live token (`takt token create --db URL --tenant T --role R` makes one)",
    )
}

/// A new token's secret text: `takt_` and 43 characters of base64url from
/// 32 bytes of the operating system's randomness; and a public id
/// `tk_` plus 12 hexadecimal digits.
pub fn new_secret() -> (String, String) {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rngs::OsRng;
    let mut id = [0u8; 6];
    rng.try_fill_bytes(&mut id).expect("the OS random source");
    let mut secret = [0u8; 33];
    rng.try_fill_bytes(&mut secret)
        .expect("the OS random source");
    let mut text = String::from("takt_");
    for chunk in secret.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            text.push(B64[((n >> shift) & 63) as usize] as char);
        }
    }
    let id = format!(
        "tk_{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    (id, text)
}

/// Makes a token and stores its hash; answers the stored row and the
/// secret, which exists nowhere else from then on.
pub fn issue(
    auth: &AuthStore,
    tenant: &TenantId,
    role: Role,
    label: &str,
    now_ms: i64,
) -> Result<(TokenInfo, String), takt_store::BackendError> {
    let (id, secret) = new_secret();
    let info = auth.create(&id, tenant, role, label, &token_hash(&secret), now_ms)?;
    Ok((info, secret))
}

/// Requests per token: a bucket of `burst` units refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// 50 requests per second, bursts of 200: a dashboard opening every
    /// view at once stays far below; a runaway script does not.
    fn default() -> Self {
        RateLimit {
            per_second: 50.0,
            burst: 200.0,
        }
    }
}

/// In-memory token buckets by token id.
#[derive(Default)]
pub struct Buckets {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Buckets {
    /// Takes one unit from the token's bucket; `Err(seconds)` to wait when empty.
    pub fn take(&self, token_id: &str, limit: RateLimit, now: Instant) -> Result<(), u32> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (level, last) = map
            .entry(token_id.to_string())
            .or_insert((limit.burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *level = (*level + elapsed * limit.per_second).min(limit.burst);
        *last = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *level) / limit.per_second.max(1e-9);
            Err(wait.ceil().clamp(1.0, 86_400.0) as u32)
        }
    }
}

/// Looked-up tokens by hash, with the instant of the lookup.
#[derive(Default)]
pub struct TokenCache {
    map: Mutex<HashMap<String, (Option<TokenInfo>, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str, now: Instant) -> Option<Option<TokenInfo>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, at)| {
                now.saturating_duration_since(*at) < Duration::from_secs(TOKEN_CACHE_SECONDS)
            })
            .map(|(t, _)| t.clone())
    }

    fn put(&self, hash: String, token: Option<TokenInfo>, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(hash, (token, now));
    }

    /// Forgets every cached lookup (after a revocation through the API).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// What a mutating handler did, for the audit log (a response extension).
#[derive(Debug, Clone)]
pub struct AuditDetail(pub String);

/// A response extension: the handler already wrote the call's audit row,
/// in the transaction that stored what the call did (an accepted batch of
/// events), so [`authenticate`] writes none.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

async fn lookup(state: &AppState, token: &str) -> Result<Option<TokenInfo>, Problem> {
    let hash = token_hash(token);
    let now = Instant::now();
    if let Some(hit) = state.tokens.get(&hash, now) {
        return Ok(hit);
    }
    let auth = state.auth.clone();
    let h = hash.clone();
    let found = tokio::task::spawn_blocking(move || auth.find(&h))
        .await
        .map_err(|e| crate::unavailable(&e.to_string()))?
        .map_err(|e| crate::unavailable(&e.to_string()))?;
    state.tokens.put(hash, found.clone(), now);
    Ok(found)
}

/// The middleware of every API route: authenticate, rate-limit, audit.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized().into_response();
    };
    let info = match lookup(&state, &token).await {
        Ok(Some(info)) => info,
        Ok(None) => return unauthorized().into_response(),
        Err(p) => return p.into_response(),
    };
    let Ok(tenant) = TenantId::parse(&info.tenant) else {
        return unauthorized().into_response();
    };
    if let Err(wait) = state
        .buckets
        .take(&info.id, state.rate_limit, Instant::now())
    {
        let mut p = Problem::new(
            ProblemCode::RateLimited,
            "",
            format!(
                "more than {} requests per second with this token; retry after {wait} s",
                state.rate_limit.per_second
            ),
        );
        p.retry_after = std::num::NonZeroU32::new(wait.max(1));
        return p.into_response();
    }
    let caller = Caller {
        tenant,
        role: info.role,
        token_id: info.id.clone(),
    };
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD);
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    req.extensions_mut().insert(caller.clone());
    let response = next.run(req).await;
    if mutating && response.extensions().get::<Audited>().is_none() {
        let detail = response
            .extensions()
            .get::<AuditDetail>()
            .map_or_else(String::new, |d| d.0.clone());
        let entry = AuditEntry {
            seq: 0,
            at_ms: (state.clock)().as_millisecond(),
            tenant: caller.tenant.to_string(),
            token_id: caller.token_id,
            role: caller.role.to_string(),
            method,
            path,
            status: response.status().as_u16(),
            detail,
        };
        let auth = state.auth.clone();
        let written = tokio::task::spawn_blocking(move || auth.audit(&entry)).await;
        if !matches!(written, Ok(Ok(()))) {
            // A call that cannot be audited is not answered as a success:
            // the events may be stored (resending answers `duplicate`).
            return crate::unavailable("the audit log could not be written").into_response();
        }
    }
    response
}
