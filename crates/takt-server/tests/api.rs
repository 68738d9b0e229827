//! The HTTP API without a socket: `app(state)` called with
//! `tower::ServiceExt::oneshot`, over a SQLite store in a temporary
//! directory.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use takt_core::network::Network;
use takt_server::live::{Live, LiveHandle};
use takt_server::{AppState, Limits, RateLimit, app};
use takt_store::auth::{AuthStore, Role};
use takt_store::{Store, TenantId};
use tower::ServiceExt;

#[path = "api/browser.rs"]
mod browser;
#[path = "api/live_routes.rs"]
mod live_routes;

const VIN_A: &str = "4T1DAACK4TU100001";
const VIN_B: &str = "5TDAAAB54RS000013";

fn now() -> Timestamp {
    "2026-03-10T00:00:00Z".parse().unwrap()
}

fn temp_db(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "takt-server-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("takt.db")
}

/// The app under test with a token per (tenant, role), made on first use.
struct App {
    router: Router,
    auth: AuthStore,
    tokens: Mutex<HashMap<(String, Role), String>>,
}

impl App {
    fn token(&self, tenant: &str, role: Role) -> String {
        let mut map = self.tokens.lock().unwrap();
        map.entry((tenant.to_string(), role))
            .or_insert_with(|| {
                let t = TenantId::parse(tenant).unwrap();
                takt_server::auth::issue(&self.auth, &t, role, "test", 0)
                    .unwrap()
                    .1
            })
            .clone()
    }
}

fn network() -> Arc<Network> {
    let text = takt_core::scenario::BUILTIN_US_JAPAN;
    let (_, net) = Network::load(
        text,
        takt_core::network::CompileOptions {
            days: 28,
            volume_scale: 1.0,
        },
    )
    .unwrap();
    Arc::new(net)
}

fn app_with(name: &str, limits: Limits, rate: RateLimit, live: Live) -> App {
    app_at(name, limits, rate, live, now())
}

/// With the receipt clock fixed at `at`.
fn app_at(name: &str, limits: Limits, rate: RateLimit, live: Live, at: Timestamp) -> App {
    let db = temp_db(name);
    let url = db.to_str().unwrap();
    let store = Store::open(url).unwrap();
    let state = AppState::new(
        store,
        AuthStore::open(url).unwrap(),
        Arc::new(LiveHandle::new(live)),
    )
    .with_limits(limits)
    .with_rate_limit(rate)
    .with_clock(Arc::new(move || at));
    App {
        router: app(state),
        auth: AuthStore::open(url).unwrap(),
        tokens: Mutex::default(),
    }
}

fn router_with(name: &str, limits: Limits) -> App {
    let net = network();
    let start = net.start;
    app_with(name, limits, RateLimit::default(), Live::empty(net, start))
}

fn router(name: &str) -> App {
    router_with(name, Limits::default())
}

fn milestone(id: &str, vin: &str, m: &str, stage: &str, at: &str) -> Value {
    json!({"event_id": id, "vin": vin, "tenant": "toyota", "model": "camry", "milestone": m,
           "stage": stage, "at": at, "location": "USLGB", "resource": "USLGB/x"})
}

fn lines(items: &[Value]) -> String {
    items.iter().map(|v| v.to_string() + "\n").collect()
}

struct Answer {
    status: StatusCode,
    content_type: String,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap()
    }

    /// A problem answer: the status, problem+json, and the code.
    fn problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(self.content_type, "application/problem+json");
        let p = self.json();
        assert_eq!(p["code"], code, "{p}");
        assert_eq!(p["status"], status.as_u16());
        assert_eq!(p["type"], format!("urn:takt:problem:{code}"));
        assert!(!p["detail"].as_str().unwrap().is_empty());
        p
    }
}

async fn send(app: &App, method: &str, uri: &str, token: Option<&str>, body: String) -> Answer {
    send_to(&app.router, method, uri, token, body).await
}

async fn send_to(
    router: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: String,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let req = req.body(Body::from(body)).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = if content_type == "text/event-stream" {
        // A stream never ends: its first event is enough.
        use futures_util::StreamExt;
        let mut s = resp.into_body().into_data_stream();
        s.next().await.unwrap().unwrap().to_vec()
    } else {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    };
    Answer {
        status,
        content_type,
        headers,
        bytes,
    }
}

/// A planner of the tenant posts.
async fn post(app: &App, uri: &str, tenant: &str, body: String) -> Answer {
    let t = app.token(tenant, Role::Planner);
    send(app, "POST", uri, Some(&t), body).await
}

/// A viewer of the tenant reads the vehicle.
async fn vehicle(app: &App, tenant: &str, vin: &str) -> Answer {
    let t = app.token(tenant, Role::Viewer);
    send(
        app,
        "GET",
        &format!("/v1/vehicles/{vin}"),
        Some(&t),
        String::new(),
    )
    .await
}

fn journey(vin: &str, prefix: &str) -> Vec<Value> {
    vec![
        milestone(
            &format!("{prefix}-1"),
            vin,
            "released",
            "released",
            "2026-03-02T06:00:00Z",
        ),
        milestone(
            &format!("{prefix}-2"),
            vin,
            "inland_departed",
            "inland",
            "2026-03-02T12:00:00Z",
        ),
        milestone(
            &format!("{prefix}-3"),
            vin,
            "port_arrived",
            "port_arrival",
            "2026-03-05T08:00:00Z",
        ),
    ]
}

#[tokio::test]
async fn a_batch_is_stored_and_the_vehicle_answers_state_and_history() {
    let app = router("batch");
    let a = post(&app, "/v1/events", "toyota", lines(&journey(VIN_A, "a"))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.content_type, "application/json");
    let r = a.json();
    assert_eq!(r["n_stored"], 3);
    assert_eq!(r["items"][2]["answer"], "stored");
    let v = vehicle(&app, "toyota", VIN_A).await;
    assert_eq!(v.status, StatusCode::OK);
    let v = v.json();
    assert_eq!(v["state"]["milestone"], "port_arrived");
    assert_eq!(v["state"]["location"], "USLGB");
    assert_eq!(v["history"].as_array().unwrap().len(), 3);
    // A JSON array is a batch too; resending answers duplicate.
    let array = serde_json::to_string(&journey(VIN_A, "a")).unwrap();
    let again = post(&app, "/v1/events", "toyota", array).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["n_duplicate"], 3);
}

#[tokio::test]
async fn an_epcis_capture_document_is_stored_and_a_bad_one_names_the_field() {
    let app = router("epcis");
    let doc = |biz_step: &str| {
        json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                         {"takt": "urn:takt:epcis:"}],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-03-05T09:00:00Z",
            "epcisBody": {"eventList": [{
                "type": "ObjectEvent", "eventID": "urn:uuid:7f1b2a52-0c1e-4a56-9a35-1d2f00000001",
                "eventTime": "2026-03-05T08:00:00-08:00", "eventTimeZoneOffset": "-08:00",
                "action": "OBSERVE", "epcList": [format!("urn:takt:vin:{VIN_B}")],
                "bizStep": biz_step, "bizLocation": {"id": "urn:takt:loc:USLGB"},
                "takt:model": "highlander"
            }]}
        })
        .to_string()
    };
    let ok = post(&app, "/epcis/capture", "toyota", doc("arriving")).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&ok.bytes)
    );
    assert_eq!(ok.json()["n_stored"], 1);
    let v = vehicle(&app, "toyota", VIN_B).await.json();
    assert_eq!(v["state"]["milestone"], "port_arrived");
    assert_eq!(v["state"]["model"], "highlander");
    let bad = post(&app, "/epcis/capture", "toyota", doc("transforming")).await;
    let p = bad.problem(StatusCode::UNPROCESSABLE_ENTITY, "vocabulary");
    assert_eq!(p["pointer"], "/epcisBody/eventList/0/bizStep");
    assert!(
        p["detail"].as_str().unwrap().contains("transporting"),
        "{p}"
    );
    // An event time two hours ahead of receipt: the pointer names eventTime.
    let future = doc("arriving")
        .replace("2026-03-05T08:00:00-08:00", "2026-03-10T02:00:00Z")
        .replace("0001\"", "0002\"");
    let p = post(&app, "/epcis/capture", "toyota", future)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "future_event");
    assert_eq!(p["pointer"], "/epcisBody/eventList/0/eventTime");
}

#[tokio::test]
async fn a_bad_item_rejects_the_batch_with_its_pointer_and_nothing_is_stored() {
    let app = router("bad");
    let mut items = journey(VIN_A, "b");
    items[1]["vin"] = json!("4T1DAACK5TU100001"); // wrong check digit
    items[2]["colour"] = json!("red");
    let p = post(&app, "/v1/events", "toyota", lines(&items))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(p["pointer"], "/1/vin");
    let errors = p["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{p}");
    assert_eq!(errors[1]["index"], 2);
    assert_eq!(errors[1]["code"], "unknown_field");
    assert_eq!(errors[1]["pointer"], "/2/colour");
    vehicle(&app, "toyota", VIN_A)
        .await
        .problem(StatusCode::NOT_FOUND, "vehicle_not_found");
    let p = post(&app, "/v1/events", "toyota", "{not json".into())
        .await
        .problem(StatusCode::BAD_REQUEST, "syntax");
    assert_eq!(p["pointer"], "/0");
    // A batch of nothing is refused as an empty body is (it was stored:
    // 200, nothing stored, an audit row).
    for empty in ["", "\n\n", "[]", " [ ] "] {
        let p = post(&app, "/v1/events", "toyota", empty.into())
            .await
            .problem(StatusCode::BAD_REQUEST, "syntax");
        assert!(
            p["detail"].as_str().unwrap().contains("no events")
                || p["detail"].as_str().unwrap().contains("empty"),
            "{p}"
        );
    }
}

#[tokio::test]
async fn conflicts_future_events_and_other_tenants_items_are_problems() {
    let app = router("conflict");
    assert_eq!(
        post(&app, "/v1/events", "toyota", lines(&journey(VIN_A, "c")))
            .await
            .status,
        StatusCode::OK
    );
    let mut changed = journey(VIN_A, "c")[1].clone();
    changed["location"] = json!("USOAK");
    let p = post(&app, "/v1/events", "toyota", lines(&[changed]))
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(p["pointer"], "/0/location");
    let future = milestone("c-f", VIN_B, "released", "released", "2026-03-10T02:00:00Z");
    let p = post(&app, "/v1/events", "toyota", lines(&[future]))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "future_event");
    assert_eq!(p["pointer"], "/0/at");
    let p = post(&app, "/v1/events", "nissan", lines(&journey(VIN_B, "n")))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "tenant_mismatch");
    assert_eq!(p["pointer"], "/0/tenant");
    assert_eq!(p["errors"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn body_and_batch_limits_answer_413() {
    let limits = Limits {
        max_body_bytes: 2_000,
        max_batch_events: 2,
        ..Limits::default()
    };
    let app = router_with("limits", limits);
    let p = post(&app, "/v1/events", "toyota", lines(&journey(VIN_A, "l")))
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large");
    assert!(p["detail"].as_str().unwrap().contains("at most 2"), "{p}");
    let big: Vec<Value> = (0..2)
        .map(|i| {
            let mut m = milestone(
                &format!("l-{i}"),
                VIN_A,
                "released",
                "released",
                "2026-03-02T06:00:00Z",
            );
            m["resource"] = json!("x".repeat(1_500));
            m
        })
        .collect();
    post(&app, "/v1/events", "toyota", lines(&big))
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    post(&app, "/epcis/capture", "toyota", "x".repeat(3_000))
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    // Within both limits it is stored.
    let ok = post(
        &app,
        "/v1/events",
        "toyota",
        lines(&journey(VIN_A, "l")[..2]),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn another_tenants_vin_answers_exactly_like_an_unknown_vin() {
    let app = router("tenants");
    post(&app, "/v1/events", "toyota", lines(&journey(VIN_A, "t"))).await;
    let theirs = vehicle(&app, "nissan", VIN_A).await;
    let unknown = vehicle(&app, "nissan", VIN_B).await;
    theirs.problem(StatusCode::NOT_FOUND, "vehicle_not_found");
    assert_eq!(theirs.status, unknown.status);
    assert_eq!(theirs.content_type, unknown.content_type);
    assert_eq!(theirs.bytes, unknown.bytes);
    assert_eq!(vehicle(&app, "toyota", VIN_A).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_tenant_comes_from_a_live_bearer_token() {
    let app = router("tenant-token");
    for token in [None, Some("takt_not-a-token"), Some("")] {
        send(
            &app,
            "POST",
            "/v1/events",
            token,
            lines(&journey(VIN_A, "h")),
        )
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthorized");
        send(
            &app,
            "GET",
            &format!("/v1/vehicles/{VIN_A}"),
            token,
            String::new(),
        )
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // The header of old does nothing.
    let req = Request::builder()
        .method("GET")
        .uri(format!("/v1/vehicles/{VIN_A}"))
        .header("X-Takt-Tenant", "toyota")
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A revoked token stops working (the cache is cleared by an API
    // revocation; a revocation from the CLI takes up to 5 s).
    let viewer = app.token("toyota", Role::Viewer);
    let ok = send(&app, "GET", "/v1/network", Some(&viewer), String::new()).await;
    assert_eq!(ok.status, StatusCode::OK);
    let admin = app.token("toyota", Role::Admin);
    let list = send(&app, "GET", "/v1/tokens", Some(&admin), String::new())
        .await
        .json();
    let id = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let del = send(
        &app,
        "DELETE",
        &format!("/v1/tokens/{id}"),
        Some(&admin),
        String::new(),
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    send(&app, "GET", "/v1/network", Some(&viewer), String::new())
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn unknown_routes_methods_and_vins_are_problems() {
    let app = router("routes");
    let t = app.token("toyota", Role::Viewer);
    send(&app, "GET", "/v2/nothing", Some(&t), String::new())
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    send(&app, "GET", "/v1/events", Some(&t), String::new())
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    vehicle(&app, "toyota", "4T1DAACK4TU10000I")
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_vin");
}
