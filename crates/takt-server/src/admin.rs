//! Tokens and the audit log over the API (admin role), insight over the
//! event store, and the live change feed (server-sent events).

use crate::auth::{AuditDetail, Caller};
use crate::problem::{Problem, ProblemCode};
use crate::{AppState, json_response, unavailable};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use takt_store::auth::{AuditEntry, Role, TokenInfo};
use utoipa::{IntoParams, ToSchema};

// ---------------------------------------------------------------- tokens

/// A token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDoc {
    pub id: String,
    pub tenant: String,
    /// `viewer`, `planner` or `admin`.
    pub role: String,
    pub label: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

impl From<TokenInfo> for TokenDoc {
    fn from(t: TokenInfo) -> Self {
        TokenDoc {
            id: t.id,
            tenant: t.tenant,
            role: t.role.to_string(),
            label: t.label,
            created_at_ms: t.created_at_ms,
            revoked_at_ms: t.revoked_at_ms,
        }
    }
}

/// The tenant's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenDoc>,
}

/// A token to make, for the caller's tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `viewer`, `planner` or `admin`.
    #[schema(pattern = "^(viewer|planner|admin)$")]
    pub role: String,
    /// What the token is for (shown in listings), at most 200 bytes.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub label: String,
}

/// A token just made: the secret appears here once and nowhere else.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenDoc,
    /// Send as `Authorization: Bearer TOKEN`.
    pub token: String,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, takt_store::BackendError> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| unavailable(&e.to_string()))?
        .map_err(|e| unavailable(&e.to_string()))
}

/// The tenant's tokens (admin).
#[utoipa::path(get, path = "/v1/tokens", tag = "admin",
    responses((status = 200, body = TokenList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let auth = state.auth.clone();
    let tenant = caller.tenant.clone();
    let items = blocking(move || auth.list(Some(&tenant))).await?;
    Ok(json_response(
        StatusCode::OK,
        &TokenList {
            items: items.into_iter().map(Into::into).collect(),
        },
    ))
}

/// Make a token for the caller's tenant (admin).
#[utoipa::path(post, path = "/v1/tokens", tag = "admin", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let text = crate::read_body(state.limits, &headers, body).await?;
    let req: NewToken = serde_json::from_str(&text).map_err(|e| {
        Problem::new(
            ProblemCode::Syntax,
            "",
            format!("{e}; send {{\"role\": \"viewer\", \"label\": \"...\"}}"),
        )
    })?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        Problem::new(
            ProblemCode::InvalidField,
            "/role",
            format!("`{}` is not a role; use viewer, planner or admin", req.role),
        )
    })?;
    if req.label.len() > 200 {
        return Err(Problem::new(
            ProblemCode::InvalidField,
            "/label",
            "the label is longer than 200 bytes",
        ));
    }
    let auth = state.auth.clone();
    let tenant = caller.tenant.clone();
    let now = (state.clock)().as_millisecond();
    let label = req.label.clone();
    let (info, token) =
        blocking(move || crate::auth::issue(&auth, &tenant, role, &label, now)).await?;
    let detail = format!("token {} created, role {}", info.id, info.role);
    let mut r = json_response(
        StatusCode::CREATED,
        &CreatedToken {
            info: info.into(),
            token,
        },
    );
    r.extensions_mut().insert(AuditDetail(detail));
    Ok(r)
}

/// Revoke one of the tenant's tokens (admin).
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "public token id, e.g. tk_3f9a0c1d2e4b")),
    responses((status = 204, description = "revoked"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let auth = state.auth.clone();
    let tenant = caller.tenant.clone();
    let now = (state.clock)().as_millisecond();
    let i = id.clone();
    let revoked = blocking(move || auth.revoke(&i, Some(&tenant), now)).await?;
    if !revoked {
        return Err(Problem::new(
            ProblemCode::TokenNotFound,
            "",
            "no live token with this id under this tenant; GET /v1/tokens lists them",
        ));
    }
    state.tokens.clear();
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.extensions_mut()
        .insert(AuditDetail(format!("token {id} revoked")));
    Ok(r)
}

/// One audit-log row.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDoc {
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub token_id: String,
    pub role: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub detail: String,
}

impl From<AuditEntry> for AuditDoc {
    fn from(e: AuditEntry) -> Self {
        AuditDoc {
            seq: e.seq,
            at_ms: e.at_ms,
            token_id: e.token_id,
            role: e.role,
            method: e.method,
            path: e.path,
            status: e.status,
            detail: e.detail,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditDoc>,
    pub next_cursor: Option<i64>,
}

/// Which audit rows.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// `next_cursor` of the previous page.
    #[param(minimum = 0)]
    pub cursor: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// The tenant's audit log: every mutating call, who made it, when, what it did (admin).
#[utoipa::path(get, path = "/v1/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    caller.require(Role::Admin)?;
    let Query(q) = query.map_err(|e| {
        Problem::new(
            ProblemCode::InvalidParameter,
            "",
            format!("query: {}", e.body_text()),
        )
    })?;
    let limit = match q.limit {
        None => crate::api::DEFAULT_PAGE_SIZE,
        Some(n) if (1..=crate::api::MAX_PAGE_SIZE).contains(&n) => n,
        Some(_) => {
            return Err(Problem::new(
                ProblemCode::InvalidParameter,
                "",
                "query parameter `limit`: outside 1..=500",
            ));
        }
    };
    if q.cursor.is_some_and(|c| c < 0) {
        return Err(Problem::new(
            ProblemCode::InvalidParameter,
            "",
            "query parameter `cursor`: negative; pass a `next_cursor` the API answered",
        ));
    }
    let auth = state.auth.clone();
    let tenant = caller.tenant.clone();
    let rows = blocking(move || auth.audit_log(&tenant, q.cursor, limit)).await?;
    let next_cursor = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &AuditPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        },
    ))
}

// ---------------------------------------------------------------- insight

/// How long an insight report is reused while new events arrive.
pub const INSIGHT_REUSE_SECONDS: u64 = 15;

/// Where the tenant's time is lost, from its events in the store.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsightDoc {
    /// Rows of the tenant's event log the report was computed from.
    pub n_log_rows: u64,
    /// Seconds since the report was computed (reused for 15 s; older while
    /// a newer one is being computed).
    pub age_seconds: u64,
    /// `takt insight`'s report (docs/insight.md): dwell by stage and
    /// location, bottlenecks, holds, plan versus actual, rolls, weekly trends.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// Cached reports by tenant: (log rows, computed at, report as JSON text,
/// how long it took).
pub type InsightCache =
    std::sync::Mutex<std::collections::HashMap<String, (u64, Instant, Arc<String>, Duration)>>;

/// How long a report is reused: 15 s, or four times as long as it took to
/// compute, so recomputing takes at most a fifth of one core.
fn reuse_for(took: Duration) -> Duration {
    Duration::from_secs(INSIGHT_REUSE_SECONDS).max(took * 4)
}

/// The answer of `/v1/insight` (an [`InsightDoc`]) around a report's JSON text.
fn insight_answer(n_log_rows: u64, age_seconds: u64, report: &str) -> Response {
    let body = format!(
        "{{\"n_log_rows\":{n_log_rows},\"age_seconds\":{age_seconds},\"report\":{report}}}"
    );
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Computes a tenant's report from the store (blocking).
fn compute_insight(
    store: &takt_store::Store,
    net: &takt_core::network::Network,
    tenant: &takt_store::TenantId,
) -> Result<String, String> {
    let ms = store.milestones(tenant).map_err(|e| e.to_string())?;
    let opts = takt_insight::Options::default();
    takt_insight::analyze(&ms, net, &opts)
        .map_err(|e| e.to_string())
        .map(|r| serde_json::to_string(&r).expect("a report serializes"))
}

/// How long a request waits for a report being computed before it answers
/// 503 `insight_pending`.
pub const INSIGHT_WAIT_SECONDS: u64 = 5;

/// Starts computing a tenant's report in the background unless one is
/// being computed; the handle when this call started it.
fn start_insight(
    state: &AppState,
    tenant: &takt_store::TenantId,
    n_rows: u64,
) -> Option<tokio::task::JoinHandle<Result<Arc<String>, String>>> {
    let claimed = state
        .insight_running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(tenant.to_string());
    if !claimed {
        return None;
    }
    let (store, cache, running) = (
        state.analyst.clone(),
        state.insight.clone(),
        state.insight_running.clone(),
    );
    let net = state.live.current().network.clone();
    let tenant = tenant.clone();
    Some(tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let r = compute_insight(&store, &net, &tenant).map(Arc::new);
        if let Ok(report) = &r {
            cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
                tenant.to_string(),
                (n_rows, Instant::now(), report.clone(), started.elapsed()),
            );
        }
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant.as_str());
        r
    }))
}

fn insight_pending() -> Problem {
    let mut p = Problem::new(
        ProblemCode::InsightPending,
        "",
        "the report is being computed from the event log; retry in a few seconds",
    );
    p.retry_after = std::num::NonZeroU32::new(5);
    p
}

/// Insight figures: dwell, bottlenecks, plan versus actual, rolls. A
/// report is reused for 15 s (or four times as long as it took to
/// compute); after that, when events arrived, the stale
/// report is answered while a new one is computed in the background
/// (`age_seconds` tells). The tenant's first report is waited for up to
/// 5 s, then 503 `insight_pending` (with Retry-After) until it is ready.
#[utoipa::path(get, path = "/v1/insight", tag = "insight",
    responses((status = 200, body = InsightDoc), (status = 401, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem, description = "insight_pending (Retry-After), overloaded or storage unavailable")),
    security(("bearer" = [])))]
pub async fn insight(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let tenant = caller.tenant.clone();
    let now = Instant::now();
    let cached = state
        .insight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(tenant.as_str())
        .cloned();
    if let Some((n, at, report, took)) = &cached
        && now.saturating_duration_since(*at) < reuse_for(*took)
    {
        return Ok(insight_answer(
            *n,
            now.saturating_duration_since(*at).as_secs(),
            report,
        ));
    }
    // While a report is being computed, the previous one is the answer
    // (counting the log would wait for the computation's connection).
    let running = state
        .insight_running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(tenant.as_str());
    if running && let Some((n, at, report, _)) = &cached {
        return Ok(insight_answer(
            *n,
            now.saturating_duration_since(*at).as_secs(),
            report,
        ));
    }
    let store = state.analyst.clone();
    let t = tenant.clone();
    let n_rows = tokio::task::spawn_blocking(move || store.count(&t))
        .await
        .map_err(|e| unavailable(&e.to_string()))?
        .map_err(|e| unavailable(&e.to_string()))?;
    if let Some((n, at, report, took)) = cached {
        if n == n_rows {
            // Nothing new: the report is current again.
            state
                .insight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tenant.to_string(), (n, now, report.clone(), took));
            return Ok(insight_answer(n, 0, &report));
        }
        let _ = start_insight(&state, &tenant, n_rows);
        return Ok(insight_answer(
            n,
            now.saturating_duration_since(at).as_secs(),
            &report,
        ));
    }
    let Some(handle) = start_insight(&state, &tenant, n_rows) else {
        return Err(insight_pending());
    };
    match tokio::time::timeout(Duration::from_secs(INSIGHT_WAIT_SECONDS), handle).await {
        Ok(Ok(Ok(report))) => Ok(insight_answer(n_rows, 0, &report)),
        Ok(Ok(Err(e))) => Err(unavailable(&e)),
        Ok(Err(e)) => Err(unavailable(&e.to_string())),
        // Still computing: it goes on in the background.
        Err(_) => Err(insight_pending()),
    }
}

// ---------------------------------------------------------------- stream

/// Live changes as server-sent events: `plan` (a new plan version, all
/// tenants) and `events` (events stored for the caller's tenant), and a
/// comment every 15 s to keep the connection open.
#[utoipa::path(get, path = "/v1/stream", tag = "live",
    responses((status = 200, description = "text/event-stream of `plan` and `events` events, data JSON", content_type = "text/event-stream"), (status = 401, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let rx = state.live.subscribe();
    let tenant = caller.tenant.to_string();
    let first = {
        let live = state.live.current();
        crate::live::Change::Plan {
            version: live.version,
            as_of: live.as_of,
        }
    };
    let s = futures_util::stream::unfold(
        (rx, tenant, Some(first)),
        |(mut rx, tenant, first)| async move {
            if let Some(change) = first {
                let ev = to_event(&change);
                return Some((Ok(ev), (rx, tenant, None)));
            }
            loop {
                match rx.recv().await {
                    Ok(crate::live::Change::Closing) => return None,
                    Ok(change) if change.visible_to(&tenant) => {
                        let ev = to_event(&change);
                        return Some((Ok(ev), (rx, tenant, None)));
                    }
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn to_event(change: &crate::live::Change) -> Event {
    let name = match change {
        crate::live::Change::Plan { .. } => "plan",
        crate::live::Change::Events { .. } => "events",
        crate::live::Change::Closing => "closing",
    };
    Event::default()
        .event(name)
        .data(serde_json::to_string(change).expect("a change serializes"))
}
