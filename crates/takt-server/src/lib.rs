//! takt's HTTP API over the event store (`takt serve`).
//!
//! - `POST /v1/events`: a batch of takt JSON Lines (or a JSON array) of
//!   milestones and resource events.
//! - `POST /epcis/capture`: one GS1 EPCIS 2.0 capture document (or one event
//!   with its own `@context`).
//! - `GET /v1/vehicles/{vin}`: a vehicle's state and history.
//!
//! [`app`] builds the router from an [`AppState`], so tests call it without
//! a socket; [`run`] serves it. Every handler takes the tenant from the
//! request context through the [`Tenant`] extractor (for now the
//! `X-Takt-Tenant` header; bearer tokens replace it without touching the
//! handlers). A batch is answered only after it is committed durably (the
//! store's transaction with `synchronous=FULL` or PostgreSQL's synchronous
//! commit); store calls run on tokio's blocking pool. Errors are
//! `application/problem+json` ([`problem`]). See `docs/api.md`.

pub mod problem;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use problem::{Problem, ProblemCode};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use takt_core::Vin;
use takt_store::store::ItemReport;
use takt_store::{Answer, BadItem, Code, Event, Rejected, Store, StoreError, TenantId};
use takt_store::{epcis, takt_format};

/// The header that names the request's tenant (until authentication
/// replaces it with the token's tenant).
pub const TENANT_HEADER: &str = "x-takt-tenant";

/// Request limits; beyond them the answer is 413.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch or capture document.
    pub max_batch_events: usize,
}

impl Default for Limits {
    /// 16 MiB and 10,000 events: a day of one terminal's scans in one
    /// request, small enough that one transaction stays short.
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_batch_events: 10_000,
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
    limits: Limits,
    clock: Clock,
}

impl AppState {
    /// A store with the default limits and the system clock.
    pub fn new(store: Store) -> AppState {
        AppState {
            store: Arc::new(store),
            limits: Limits::default(),
            clock: Arc::new(Timestamp::now),
        }
    }

    /// The same state with other limits.
    pub fn with_limits(mut self, limits: Limits) -> AppState {
        self.limits = limits;
        self
    }

    /// The same state with another clock.
    pub fn with_clock(mut self, clock: Clock) -> AppState {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// The request's tenant. Today from the `X-Takt-Tenant` header; a request
/// without one answers 401 `tenant_required`, a malformed one 400
/// `invalid_tenant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Tenant, Problem> {
        let Some(value) = parts.headers.get(TENANT_HEADER) else {
            return Err(Problem::new(
                ProblemCode::TenantRequired,
                "",
                "send the header `X-Takt-Tenant: TENANT` naming the tenant the request is for",
            ));
        };
        let text = value.to_str().map_err(|_| {
            Problem::new(
                ProblemCode::InvalidTenant,
                "",
                "the `X-Takt-Tenant` header is not text; send a tenant id",
            )
        })?;
        TenantId::parse(text)
            .map(Tenant)
            .map_err(|e| Problem::new(ProblemCode::InvalidTenant, "", e.to_string()))
    }
}

/// The router: every route, with problem answers for unknown routes and
/// methods.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/epcis/capture", post(post_capture))
        .route("/v1/vehicles/{vin}", get(get_vehicle))
        .fallback(|| async {
            Problem::new(
                ProblemCode::NotFound,
                "",
                "no such route; the routes are POST /v1/events, POST /epcis/capture and GET /v1/vehicles/{vin} (docs/api.md)",
            )
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                ProblemCode::MethodNotAllowed,
                "",
                "this route takes another method: POST /v1/events, POST /epcis/capture, GET /v1/vehicles/{vin}",
            )
        })
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

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("an answer serializes");
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Reads the body as UTF-8 text within the byte limit.
async fn read_body(limits: Limits, headers: &HeaderMap, body: Body) -> Result<String, Problem> {
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

/// Appends on the blocking pool; maps the store's answers to HTTP.
async fn append(
    state: &AppState,
    tenant: TenantId,
    events: Vec<Event>,
    locate: impl Fn(&BadItem) -> String,
) -> Result<Response, Problem> {
    let store = state.store.clone();
    let received_at = (state.clock)();
    let t = tenant.clone();
    let result = tokio::task::spawn_blocking(move || store.append(&t, &events, received_at))
        .await
        .map_err(|e| {
            Problem::new(
                ProblemCode::StorageUnavailable,
                "",
                format!(
                    "the store failed ({e}); resend the batch: a stored event answers `duplicate`"
                ),
            )
        })?;
    match result {
        Ok(report) => Ok(json_response(
            StatusCode::OK,
            &Accepted {
                tenant: tenant.to_string(),
                n_stored: report.count(Answer::Stored),
                n_retracted: report.count(Answer::Retracted),
                n_duplicate: report.count(Answer::Duplicate),
                items: report.items,
            },
        )),
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

/// `POST /v1/events`: takt JSON Lines or a JSON array; items that name a
/// tenant must name the request's.
async fn post_events(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let text = read_body(state.limits, &headers, body).await?;
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
    let items = takt_format::parse_json(&text).map_err(|r| Problem::rejected(r, locate))?;
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
    append(&state, tenant, events, locate).await
}

/// `POST /epcis/capture`: one EPCIS 2.0 capture document, stored all or
/// nothing under the request's tenant.
async fn post_capture(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let text = read_body(state.limits, &headers, body).await?;
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
    append(&state, tenant, events, locate).await
}

/// `GET /v1/vehicles/{vin}`: state and history. Another tenant's vehicle
/// answers exactly as an unknown one.
async fn get_vehicle(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(vin): Path<String>,
) -> Result<Response, Problem> {
    let vin = Vin::parse(&vin).map_err(|e| {
        Problem::new(
            ProblemCode::InvalidVin,
            "",
            format!("{e}; the path is /v1/vehicles/VIN with a 17-character VIN"),
        )
    })?;
    let store = state.store.clone();
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
        axum::serve(listener, app(state))
            .with_graceful_shutdown(shutdown_signal())
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
