//! takt's HTTP API and live dashboard (`takt serve`, `takt demo`).
//!
//! - Capture: `POST /v1/events` (takt JSON Lines or a JSON array),
//!   `POST /epcis/capture` (one GS1 EPCIS 2.0 capture document).
//! - Reads over the event store: `GET /v1/vehicles/{vin}` (state and
//!   history), `GET /v1/insight`.
//! - Reads over the live view ([`live::Live`]: network, plan, ETAs, alerts):
//!   vehicles (search, plan, ETA), terminal schedules, voyages, alerts,
//!   the network; `GET /v1/stream` (server-sent events) tells when events
//!   arrive and the plan changes; `POST /v1/replan` asks for a new plan.
//! - Admin: tokens and the audit log.
//! - `GET /openapi.json` (OpenAPI 3.1, [`openapi::document`]) and the
//!   dashboard at `/` ([`dashboard`]), neither behind a token.
//!
//! [`app`] builds the router from an [`AppState`], so tests call it without
//! a socket; [`run`] serves it. Every `/v1` and `/epcis` route sits behind
//! [`auth::authenticate`]: a bearer token gives the request its tenant and
//! role (the [`auth::Caller`] extractor; handlers read the tenant nowhere
//! else), a bucket per token limits the rate (429), and every mutating call
//! is written to the audit log. In front of everything, at most
//! `max_in_flight` requests run at once; more answer 503 `overloaded` at
//! once rather than queue without bound. A batch is answered only after it
//! is committed durably: captured batches go to the store's writer thread
//! (`Store::submit`, group commit), other store calls run on tokio's
//! blocking pool. Errors
//! are `application/problem+json` ([`problem`]). See `docs/api.md`.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cache;
pub mod dashboard;
pub mod live;
pub mod openapi;
pub mod problem;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use jiff::Timestamp;
use live::{Change, LiveHandle};
use problem::{Problem, ProblemCode};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use takt_core::Vin;
use takt_store::auth::{AuthStore, Role};
use takt_store::store::ItemReport;
use takt_store::{Answer, BadItem, Code, Event, Rejected, Store, StoreError};
use takt_store::{epcis, takt_format};
use tokio::sync::Semaphore;

pub use auth::{Caller, RateLimit};

/// Request limits; beyond them the answer is 413 (body, batch) or 503
/// (requests in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch or capture document.
    pub max_batch_events: usize,
    /// Most requests handled at once; more answer 503 `overloaded`.
    pub max_in_flight: usize,
}

impl Default for Limits {
    /// 16 MiB and 10,000 events: a day of one terminal's scans in one
    /// request, small enough that one transaction stays short; 256
    /// requests in flight.
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_batch_events: 10_000,
            max_in_flight: 256,
        }
    }
}

/// Where receipt times come from: the system clock in `takt serve`, a
/// fixed instant in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<Store>,
    /// Connections for vehicle reads, so they never hold up appends, used
    /// in turn; the same store unless `with_reader`.
    readers: Arc<Vec<Arc<Store>>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    /// The connection insight reads the whole log with (`with_analyst`).
    analyst: Arc<Store>,
    auth: Arc<AuthStore>,
    live: Arc<LiveHandle>,
    limits: Limits,
    clock: Clock,
    rate_limit: RateLimit,
    buckets: Arc<auth::Buckets>,
    tokens: Arc<auth::TokenCache>,
    insight: Arc<admin::InsightCache>,
    insight_running: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    in_flight: Arc<Semaphore>,
    planner_attached: bool,
    answers: Arc<cache::AnswerCache>,
}

impl AppState {
    /// A store, its tokens and a live view, with the default limits, rate
    /// limit and the system clock.
    pub fn new(store: Store, auth: AuthStore, live: Arc<LiveHandle>) -> AppState {
        let limits = Limits::default();
        let store = Arc::new(store);
        AppState {
            readers: Arc::new(vec![store.clone()]),
            next_reader: Arc::default(),
            analyst: store.clone(),
            store,
            auth: Arc::new(auth),
            live,
            limits,
            clock: Arc::new(Timestamp::now),
            rate_limit: RateLimit::default(),
            buckets: Arc::default(),
            tokens: Arc::default(),
            insight: Arc::default(),
            insight_running: Arc::default(),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            planner_attached: false,
            answers: Arc::default(),
        }
    }

    /// The same state with other limits.
    pub fn with_limits(mut self, limits: Limits) -> AppState {
        self.limits = limits;
        self.in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
        self
    }

    /// The same state reading with another connection to the same
    /// database (SQLite WAL and PostgreSQL let it read while the first
    /// writes). The first call replaces the writing connection for reads;
    /// each further call adds a connection, and reads take them in turn.
    pub fn with_reader(mut self, reader: Store) -> AppState {
        let mut readers: Vec<Arc<Store>> = self.readers.iter().cloned().collect();
        if readers.len() == 1 && Arc::ptr_eq(&readers[0], &self.store) {
            readers.clear();
        }
        readers.push(Arc::new(reader));
        self.readers = Arc::new(readers);
        self
    }

    /// The next reading connection, in turn.
    fn reader(&self) -> Arc<Store> {
        let k = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.readers[k % self.readers.len()].clone()
    }

    /// The same state reading whole logs for insight with a connection of
    /// its own, so that a long analysis never holds up vehicle reads.
    pub fn with_analyst(mut self, analyst: Store) -> AppState {
        self.analyst = Arc::new(analyst);
        self
    }

    /// The same state with another rate limit per token.
    pub fn with_rate_limit(mut self, rate: RateLimit) -> AppState {
        self.rate_limit = rate;
        self
    }

    /// The same state keeping at most `bytes` of live-view answers per
    /// plan version ([`cache`]; 0: none).
    pub fn with_answer_cache_bytes(mut self, bytes: usize) -> AppState {
        self.answers = Arc::new(cache::AnswerCache::with_max_bytes(bytes));
        self
    }

    /// The same state with another clock.
    pub fn with_clock(mut self, clock: Clock) -> AppState {
        self.clock = clock;
        self
    }

    /// Says that a planner (a driver that publishes plans and honours
    /// re-plan requests) is attached.
    pub fn with_planner(mut self) -> AppState {
        self.planner_attached = true;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The live view.
    pub fn live(&self) -> &Arc<LiveHandle> {
        &self.live
    }
}

/// 503 `storage_unavailable`.
pub(crate) fn unavailable(cause: &str) -> Problem {
    Problem::new(
        ProblemCode::StorageUnavailable,
        "",
        format!("the database failed ({cause}); retry later"),
    )
}

async fn limit_in_flight(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.in_flight.clone().try_acquire_owned() {
        Ok(permit) => {
            let r = next.run(req).await;
            drop(permit);
            r
        }
        Err(_) => {
            let mut p = Problem::new(
                ProblemCode::Overloaded,
                "",
                format!(
                    "more than {} requests in flight; retry after 1 s (nothing of this request was done)",
                    state.limits.max_in_flight
                ),
            );
            p.retry_after = std::num::NonZeroU32::new(1);
            p.into_response()
        }
    }
}

/// The router: every route, with problem answers for unknown routes and
/// methods.
pub fn app(state: AppState) -> Router {
    // Reads of the live view only: answered from the snapshot's cache.
    let live_reads = Router::new()
        .route("/v1/vehicles", get(api::list_vehicles))
        .route("/v1/vehicles/{vin}/plan", get(api::vehicle_plan))
        .route("/v1/vehicles/{vin}/eta", get(api::vehicle_eta))
        .route(
            "/v1/terminals/{location}/schedule",
            get(api::terminal_schedule),
        )
        .route("/v1/voyages", get(api::list_voyages))
        .route("/v1/voyages/{voyage}", get(api::get_voyage))
        .route("/v1/alerts", get(api::list_alerts))
        .route("/v1/network", get(api::get_network))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            cache::live_reads,
        ));
    let api = Router::new()
        .merge(live_reads)
        .route("/v1/events", post(post_events))
        .route("/epcis/capture", post(post_capture))
        .route("/v1/vehicles/{vin}", get(get_vehicle))
        .route("/v1/insight", get(admin::insight))
        .route("/v1/stream", get(admin::stream))
        .route("/v1/replan", post(api::replan))
        .route(
            "/v1/tokens",
            get(admin::list_tokens).post(admin::create_token),
        )
        .route("/v1/tokens/{id}", delete(admin::revoke_token))
        .route("/v1/audit", get(admin::audit_log))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    Router::new()
        .merge(api)
        .merge(dashboard::routes())
        .route("/openapi.json", get(openapi::serve))
        .fallback(|| async {
            Problem::new(
                ProblemCode::NotFound,
                "",
                "no such route; GET /openapi.json lists them (docs/api.md)",
            )
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                ProblemCode::MethodNotAllowed,
                "",
                "this route takes another method; GET /openapi.json lists them",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_in_flight,
        ))
        .with_state(state)
}

/// What an accepted batch answers (200): every item's answer and flags.
#[derive(Debug, Serialize)]
struct Accepted {
    tenant: String,
    n_stored: usize,
    n_retracted: usize,
    n_duplicate: usize,
    items: Vec<ItemReport>,
}

pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("an answer serializes");
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Reads the body as UTF-8 text within the byte limit.
pub(crate) async fn read_body(
    limits: Limits,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Problem> {
    let too_large = || {
        Problem::new(
            ProblemCode::BodyTooLarge,
            "",
            format!(
                "the body is larger than {} bytes; split it into several requests",
                limits.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limits.max_body_bytes)
        .await
        .map_err(|_| too_large())?;
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        Problem::new(
            ProblemCode::Syntax,
            "",
            format!("the body is not UTF-8 ({e}); send UTF-8 JSON"),
        )
    })
}

fn check_batch_size(limits: Limits, n: usize) -> Result<(), Problem> {
    if n > limits.max_batch_events {
        return Err(Problem::new(
            ProblemCode::BatchTooLarge,
            "",
            format!(
                "{n} events in one batch; at most {} are taken: split the batch",
                limits.max_batch_events
            ),
        ));
    }
    Ok(())
}

/// The audit log's words for an accepted batch.
fn audit_detail(report: &takt_store::AppendReport) -> String {
    format!(
        "{} events: {} stored, {} retracted, {} duplicate",
        report.items.len(),
        report.count(Answer::Stored),
        report.count(Answer::Retracted),
        report.count(Answer::Duplicate)
    )
}

/// Appends through the store's writer thread (`Store::submit`; this task
/// waits without holding a worker); maps the store's answers to HTTP. An
/// accepted batch's audit row is written in the batch's own transaction
/// (one commit, not two); a rejected one is audited by the middleware.
/// Requests that wait for the writer meanwhile are stored together, in one
/// transaction (group commit); each is answered after that commit.
async fn append(
    state: &AppState,
    caller: &Caller,
    path: &str,
    events: Vec<Event>,
    locate: impl Fn(&BadItem) -> String,
    announced: takt_store::Announced,
) -> Result<Response, Problem> {
    let store = state.store.clone();
    let received_at = (state.clock)();
    let tenant = caller.tenant.clone();
    let t = tenant.clone();
    let entry = takt_store::auth::AuditEntry {
        seq: 0,
        at_ms: received_at.as_millisecond(),
        tenant: tenant.to_string(),
        token_id: caller.token_id.clone(),
        role: caller.role.to_string(),
        method: "POST".to_string(),
        path: path.to_string(),
        status: StatusCode::OK.as_u16(),
        detail: String::new(),
    };
    let audit = move |report: &takt_store::AppendReport| takt_store::auth::AuditEntry {
        detail: audit_detail(report),
        ..entry.clone()
    };
    // The log records are made here, on this request's worker, so that the
    // store's writer thread does only the database's work.
    let batch = takt_store::EncodedBatch::new(events);
    let (result, batch) = store
        .submit(t, batch, received_at, Box::new(audit), Some(announced))
        .await;
    // The batch is freed off the answer's path (its many small
    // allocations cost about a tenth of the append).
    if let Some(batch) = batch {
        tokio::task::spawn_blocking(move || drop(batch));
    }
    match result {
        Ok(report) => {
            let accepted = Accepted {
                tenant: tenant.to_string(),
                n_stored: report.count(Answer::Stored),
                n_retracted: report.count(Answer::Retracted),
                n_duplicate: report.count(Answer::Duplicate),
                items: report.items,
            };
            if accepted.n_stored + accepted.n_retracted > 0 {
                state.live.notify(Change::Events {
                    tenant: tenant.to_string(),
                    n_stored: accepted.n_stored,
                    n_retracted: accepted.n_retracted,
                });
            }
            let mut r = json_response(StatusCode::OK, &accepted);
            r.extensions_mut().insert(auth::Audited);
            Ok(r)
        }
        Err(StoreError::Rejected(r)) => Err(Problem::rejected(r, locate)),
        Err(StoreError::Backend(e)) => Err(storage_problem(&e)),
    }
}

fn storage_problem(e: &takt_store::BackendError) -> Problem {
    Problem::new(
        ProblemCode::StorageUnavailable,
        "",
        format!(
            "the database failed ({e}); retry later. A batch is stored all or nothing, and resending a stored event answers `duplicate`"
        ),
    )
}

/// Capture takt events: JSON Lines (one milestone or resource event per
/// line) or one JSON array of them, stored all or nothing under the token's
/// tenant; answered after commit (planner role).
#[utoipa::path(post, path = "/v1/events", tag = "capture",
    request_body(content = String, description = "takt JSON Lines, or a JSON array of takt events (docs/store.md)", content_type = "application/x-ndjson"),
    responses((status = 200, body = openapi::AcceptedDoc), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn post_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require(Role::Planner)?;
    let tenant = caller.tenant.clone();
    let text = read_body(state.limits, &headers, body).await?;
    // The store's writer waits for announced batches before it commits:
    // announced once the body is in (a slow upload holds no one up), for
    // the parse and the records.
    let announced = state.store.announce();
    // Pointers of takt items are relative to the item; in the body the item
    // is `/INDEX` (the array element, or the line among non-empty lines).
    let locate = |b: &BadItem| {
        let field = if b.code == Code::FutureEvent && b.pointer.is_empty() {
            "/at"
        } else {
            b.pointer.as_str()
        };
        format!("/{}{field}", b.index)
    };
    if text.trim().is_empty() {
        return Err(Problem::new(
            ProblemCode::Syntax,
            "",
            "the body is empty; send takt JSON Lines or a JSON array of events",
        ));
    }
    let items = takt_format::parse_json(&text).map_err(|r| Problem::rejected(r, locate))?;
    if items.is_empty() {
        return Err(Problem::new(
            ProblemCode::Syntax,
            "",
            "the body has no events; send takt JSON Lines or a JSON array of events",
        ));
    }
    check_batch_size(state.limits, items.len())?;
    let mismatched: Vec<BadItem> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.tenant.as_deref().is_some_and(|t| t != tenant.as_str()))
        .map(|(k, i)| BadItem {
            index: k,
            event_id: Some(i.event.event_id.clone()),
            code: Code::TenantMismatch,
            pointer: "/tenant".into(),
            reason: format!(
                "the item's tenant is `{}` but the request is for `{tenant}`; send each tenant's events under its own tenant",
                i.tenant.as_deref().unwrap_or_default()
            ),
        })
        .collect();
    if !mismatched.is_empty() {
        return Err(Problem::rejected(Rejected(mismatched), locate));
    }
    let events = items.into_iter().map(|i| i.event).collect();
    append(&state, &caller, "/v1/events", events, locate, announced).await
}

/// Capture one GS1 EPCIS 2.0 capture document (or one event with its own
/// `@context`), stored all or nothing under the token's tenant (planner role).
#[utoipa::path(post, path = "/epcis/capture", tag = "capture",
    request_body(content = Object, description = "GS1 EPCIS 2.0 JSON-LD capture document (docs/epcis.md)", content_type = "application/json"),
    responses((status = 200, body = openapi::AcceptedDoc), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn post_capture(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require(Role::Planner)?;
    let text = read_body(state.limits, &headers, body).await?;
    let announced = state.store.announce();
    // The validator's pointers are absolute in the document; the store's
    // (time policy, conflicts) are relative to the event.
    let parsed =
        epcis::parse_capture(&text).map_err(|r| Problem::rejected(r, |b| b.pointer.clone()));
    let events = parsed?;
    check_batch_size(state.limits, events.len())?;
    let single = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .is_some_and(|v| v.get("epcisBody").is_none());
    let locate = move |b: &BadItem| {
        let event = if single {
            String::new()
        } else {
            format!("/epcisBody/eventList/{}", b.index)
        };
        let field = if b.code == Code::FutureEvent && b.pointer.is_empty() {
            "/eventTime"
        } else {
            b.pointer.as_str()
        };
        format!("{event}{field}")
    };
    append(&state, &caller, "/epcis/capture", events, locate, announced).await
}

/// A vehicle's state and history from the event store. Another tenant's
/// vehicle answers exactly as an unknown one.
#[utoipa::path(get, path = "/v1/vehicles/{vin}", tag = "vehicles",
    params(("vin" = String, Path, description = "17-character VIN", pattern = "^[A-HJ-NPR-Z0-9]{17}$")),
    responses((status = 200, body = Object, description = "state (stage, milestone, location, resource, voyage, holds, checklist, rolls), history with retractions, receipt flags by event id"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_vehicle(
    State(state): State<AppState>,
    caller: Caller,
    Path(vin): Path<String>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant;
    let vin = Vin::parse(&vin).map_err(|e| {
        Problem::new(
            ProblemCode::InvalidVin,
            "",
            format!("{e}; the path is /v1/vehicles/VIN with a 17-character VIN"),
        )
    })?;
    let store = state.reader();
    let view = tokio::task::spawn_blocking(move || store.vehicle(&tenant, &vin))
        .await
        .map_err(|e| {
            Problem::new(
                ProblemCode::StorageUnavailable,
                "",
                format!("the store failed ({e}); retry later"),
            )
        })?;
    match view {
        Ok(Some(v)) => Ok(json_response(StatusCode::OK, &v)),
        Ok(None) => Err(Problem::new(
            ProblemCode::VehicleNotFound,
            "",
            "no events for this vehicle under this tenant; check the VIN and the tenant",
        )),
        Err(StoreError::Backend(e)) => Err(storage_problem(&e)),
        Err(StoreError::Rejected(r)) => Err(Problem::rejected(r, |b| b.pointer.clone())),
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// Serves [`app`] on `addr` until Ctrl-C or SIGTERM (then finishes the
/// requests in flight), on a multi-threaded tokio runtime; `on_listening`
/// gets the bound address once the socket accepts connections.
pub fn run(
    addr: SocketAddr,
    state: AppState,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    run_until(addr, state, on_listening, Shutdown::default())
}

/// Stops a server started with [`run_until`] from another thread.
#[derive(Clone, Default)]
pub struct Shutdown(Arc<tokio::sync::Notify>);

impl Shutdown {
    /// Asks the server to stop (after the requests in flight).
    pub fn trigger(&self) {
        self.0.notify_one();
    }
}

/// [`run`], which also stops when `stop` is triggered.
pub fn run_until(
    addr: SocketAddr,
    state: AppState,
    on_listening: impl FnOnce(SocketAddr),
    stop: Shutdown,
) -> Result<(), ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        on_listening(bound);
        let live = state.live.clone();
        let stopped = async move {
            tokio::select! {
                () = shutdown_signal() => {},
                () = stop.0.notified() => {},
            }
            // Streams end, so the graceful shutdown does not wait for them.
            live.notify(Change::Closing);
        };
        axum::serve(listener, app(state))
            .with_graceful_shutdown(stopped)
            .await
            .map_err(ServerError::Serve)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        // An error here means no handler could be installed: then only
        // SIGTERM (or SIGKILL) stops the server.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
