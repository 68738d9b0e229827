//! The routes over the live view, tokens and roles, tenant isolation over
//! every route of the OpenAPI document, the rate limit, the audit log, the
//! change stream and the committed OpenAPI document.

use super::*;
use std::collections::BTreeSet;
use takt_core::Minute;
use takt_core::event::Milestone;
use takt_core::plan::{Plan, Stage};
use takt_server::live::{Eta, Quantiles};
use takt_sim::{SimOptions, Simulation, policy};

/// A simulated world: two weeks of the built-in scenario, with every other
/// vehicle (by VIN) handed to a second tenant, `nissan`.
struct World {
    net: Arc<Network>,
    plan: Plan,
    milestones: Vec<Milestone>,
}

fn world() -> &'static World {
    static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let net = network();
        let mut sim = Simulation::new(
            (*net).clone(),
            policy::by_name("fifo").unwrap(),
            SimOptions {
                seed: 7,
                volume_scale: 1.0,
            },
        );
        sim.run_until(net.start.plus(14 * Minute::DAY));
        let mut milestones = sim.drain_milestones();
        let mut plan = sim.plan(false);
        let mut vins: Vec<String> = plan.vehicles.iter().map(|v| v.vin.clone()).collect();
        vins.sort();
        let nissan: BTreeSet<String> = vins.iter().skip(1).step_by(2).cloned().collect();
        for v in &mut plan.vehicles {
            if nissan.contains(&v.vin) {
                v.tenant = "nissan".into();
            }
        }
        for m in &mut milestones {
            if nissan.contains(&m.vin) {
                m.tenant = "nissan".into();
            }
        }
        // Only milestones of planned vehicles, so store and plan agree.
        let planned: BTreeSet<&str> = plan.vehicles.iter().map(|v| v.vin.as_str()).collect();
        milestones.retain(|m| planned.contains(m.vin.as_str()));
        World {
            net,
            plan,
            milestones,
        }
    })
}

/// The world for the browser test: network, plan, milestones.
pub(super) fn world_for_browser() -> (Arc<Network>, Plan, Vec<Milestone>) {
    let w = world();
    (w.net.clone(), w.plan.clone(), w.milestones.clone())
}

/// ETAs around the plan: P10 an hour early, P50 on plan, P90 a day late.
pub(super) fn etas(plan: &Plan) -> HashMap<String, Eta> {
    plan.vehicles
        .iter()
        .map(|v| {
            let q = |t: Minute| Quantiles {
                p10: t.plus(-60),
                p50: t,
                p90: t.plus(Minute::DAY),
            };
            let stages = v
                .steps
                .iter()
                .filter(|s| !s.done)
                .map(|s| (s.stage, q(s.start)))
                .collect();
            let delivered = v.step(Stage::Delivery).map(|s| q(s.end));
            (
                v.vin.clone(),
                Eta {
                    stages,
                    delivered,
                    delivered_share: 1.0,
                },
            )
        })
        .collect()
}

/// An app over the world; `only` keeps one tenant's vehicles and events.
async fn world_app(name: &str, only: Option<&str>, rate: RateLimit) -> App {
    let w = world();
    let mut plan = w.plan.clone();
    if let Some(t) = only {
        plan.vehicles.retain(|v| v.tenant == t);
    }
    let e = etas(&plan);
    let at = w.plan.created_at.timestamp();
    let app = app_at(
        name,
        Limits::default(),
        rate,
        Live::new(w.net.clone(), plan, e),
        at,
    );
    for tenant in ["toyota", "nissan"] {
        if only.is_some_and(|t| t != tenant) {
            continue;
        }
        let mine: Vec<Value> = w
            .milestones
            .iter()
            .filter(|m| m.tenant == tenant)
            .map(|m| serde_json::to_value(m).unwrap())
            .collect();
        for chunk in mine.chunks(5_000) {
            let a = post(&app, "/v1/events", tenant, lines(chunk)).await;
            assert_eq!(
                a.status,
                StatusCode::OK,
                "{:.400}",
                String::from_utf8_lossy(&a.bytes)
            );
        }
    }
    app
}

fn fast() -> RateLimit {
    RateLimit {
        per_second: 1e9,
        burst: 1e9,
    }
}

fn vins_of(tenant: &str) -> Vec<String> {
    world()
        .plan
        .vehicles
        .iter()
        .filter(|v| v.tenant == tenant)
        .map(|v| v.vin.clone())
        .collect()
}

/// Every (method, path) of the committed OpenAPI document.
fn operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&takt_server::openapi::document()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The least role each operation needs.
fn required_role(method: &str, path: &str) -> Role {
    if path.starts_with("/v1/tokens") || path == "/v1/audit" {
        Role::Admin
    } else if method != "GET" {
        Role::Planner
    } else {
        Role::Viewer
    }
}

fn fill(path: &str, vin: &str, voyage: &str, token_id: &str) -> String {
    path.replace("{vin}", vin)
        .replace("{voyage}", voyage)
        .replace("{location}", "USLGB")
        .replace("{id}", token_id)
}

fn body_for(path: &str, tenant: &str, vin: &str) -> String {
    match path {
        "/v1/events" => {
            let mut m = milestone("iso-1", vin, "released", "released", "2026-03-02T06:00:00Z");
            m["tenant"] = json!(tenant);
            lines(&[m])
        }
        "/v1/tokens" => json!({"role": "viewer", "label": "iso"}).to_string(),
        _ => "{}".into(),
    }
}

#[tokio::test]
async fn every_route_answers_the_role_matrix() {
    let app = world_app("roles", Some("toyota"), fast()).await;
    let vin = &vins_of("toyota")[0];
    let voyage = world().plan.vehicles[0].voyage.clone().unwrap_or_default();
    let ops = operations();
    assert!(ops.len() >= 18, "{ops:?}");
    for (method, path) in &ops {
        for role in Role::ALL {
            let token = app.token("toyota", role);
            let uri = fill(path, vin, &voyage, "tk_000000000000");
            let a = send(
                &app,
                method,
                &uri,
                Some(&token),
                body_for(path, "toyota", vin),
            )
            .await;
            let need = required_role(method, path);
            if role < need {
                a.problem(StatusCode::FORBIDDEN, "forbidden");
            } else {
                assert!(
                    a.status != StatusCode::FORBIDDEN
                        && a.status != StatusCode::UNAUTHORIZED
                        && !a.status.is_server_error(),
                    "{method} {uri} as {role}: {} {}",
                    a.status,
                    String::from_utf8_lossy(&a.bytes)
                );
            }
        }
        for token in [None, Some("takt_forged")] {
            let uri = fill(path, vin, &voyage, "tk_000000000000");
            send(&app, method, &uri, token, body_for(path, "toyota", vin))
                .await
                .problem(StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
}

/// Tenant B's answers on every route are the same whether or not tenant A
/// has data: B never sees, counts or infers A's vehicles (0 leaks).
#[tokio::test]
async fn another_tenant_sees_counts_and_infers_nothing_on_any_route() {
    let both = world_app("iso-both", None, fast()).await;
    let alone = world_app("iso-alone", Some("nissan"), fast()).await;
    let toyota_vins = vins_of("toyota");
    let nissan_vins = vins_of("nissan");
    assert!(toyota_vins.len() > 50 && nissan_vins.len() > 50);
    // A voyage carrying vehicles of both tenants.
    let voyage = world()
        .plan
        .vehicles
        .iter()
        .filter_map(|v| v.voyage.clone())
        .find(|voy| {
            let ts: BTreeSet<&str> = world()
                .plan
                .vehicles
                .iter()
                .filter(|v| v.voyage.as_deref() == Some(voy))
                .map(|v| v.tenant.as_str())
                .collect();
            ts.len() == 2
        })
        .expect("a shared voyage");
    let toyota_admin_id = {
        let t = both.token("toyota", Role::Admin);
        send(&both, "GET", "/v1/tokens", Some(&t), String::new())
            .await
            .json()["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut n_compared = 0;
    for (method, path) in operations() {
        for vin in [&toyota_vins[0], &toyota_vins[7], &nissan_vins[0]] {
            let uri = fill(&path, vin, &voyage, &toyota_admin_id);
            let body = body_for(&path, "nissan", &nissan_vins[1]);
            let tb = both.token("nissan", Role::Admin);
            let ta = alone.token("nissan", Role::Admin);
            let a = send(&both, &method, &uri, Some(&tb), body.clone()).await;
            let b = send(&alone, &method, &uri, Some(&ta), body).await;
            assert_eq!(a.status, b.status, "{method} {uri}");
            let text = String::from_utf8_lossy(&a.bytes);
            for v in &toyota_vins {
                assert!(!text.contains(v.as_str()), "{method} {uri} leaks {v}");
            }
            assert!(
                !text.contains(&toyota_admin_id),
                "{method} {uri} leaks a token id"
            );
            assert!(
                !text.contains("\"toyota\""),
                "{method} {uri} names toyota: {text}"
            );
            // Reads must be identical, byte for byte (tokens and the audit
            // log differ by their random ids and are checked above).
            if method == "GET" && !path.starts_with("/v1/tokens") && path != "/v1/audit" {
                let strip_age = |t: &str| t.replace("\"age_seconds\":1,", "\"age_seconds\":0,");
                assert_eq!(
                    strip_age(&text),
                    strip_age(&String::from_utf8_lossy(&b.bytes)),
                    "{method} {uri} differs with tenant A's data present"
                );
                n_compared += 1;
            }
        }
    }
    assert!(n_compared >= 33, "{n_compared}");
    // And B's own vehicle is there for B, and only for B.
    let t = both.token("nissan", Role::Viewer);
    let mine = send(
        &both,
        "GET",
        &format!("/v1/vehicles/{}/plan", nissan_vins[0]),
        Some(&t),
        String::new(),
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK);
    let theirs = send(
        &both,
        "GET",
        &format!("/v1/vehicles/{}/plan", toyota_vins[0]),
        Some(&t),
        String::new(),
    )
    .await;
    let never = takt_core::Vin::assemble("4T1", "DAACK", 2026, 'U', "999999").unwrap();
    assert!(
        world()
            .plan
            .vehicles
            .iter()
            .all(|v| v.vin != never.to_string())
    );
    let unknown = send(
        &both,
        "GET",
        &format!("/v1/vehicles/{never}/plan"),
        Some(&t),
        String::new(),
    )
    .await;
    theirs.problem(StatusCode::NOT_FOUND, "vehicle_not_found");
    assert_eq!(theirs.bytes, unknown.bytes);
}

#[tokio::test]
async fn vehicles_are_searched_and_paged_with_a_cursor() {
    let app = world_app("search", None, fast()).await;
    let t = app.token("toyota", Role::Viewer);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/vehicles?limit=37&cursor={c}"),
            None => "/v1/vehicles?limit=37".into(),
        };
        let page = send(&app, "GET", &uri, Some(&t), String::new())
            .await
            .json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 37);
        seen.extend(items.iter().map(|v| v["vin"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut expected = vins_of("toyota");
    expected.sort();
    assert_eq!(seen, expected);
    // Filters: every answer matches; their counts add up.
    let all = send(&app, "GET", "/v1/vehicles?limit=1", Some(&t), String::new())
        .await
        .json();
    let mut total = 0;
    for stage in Stage::ALL {
        let p = send(
            &app,
            "GET",
            &format!("/v1/vehicles?stage={}&limit=500", stage.name()),
            Some(&t),
            String::new(),
        )
        .await
        .json();
        for v in p["items"].as_array().unwrap() {
            assert_eq!(v["stage"], stage.name());
        }
        total += p["n_matching"].as_u64().unwrap();
    }
    assert_eq!(total, all["n_matching"].as_u64().unwrap());
    let risky = send(
        &app,
        "GET",
        "/v1/vehicles?at_risk=true&limit=500",
        Some(&t),
        String::new(),
    )
    .await
    .json();
    for v in risky["items"].as_array().unwrap() {
        assert_eq!(v["at_risk"], true);
    }
    send(
        &app,
        "GET",
        "/v1/vehicles?limit=501",
        Some(&t),
        String::new(),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid_parameter");
    send(
        &app,
        "GET",
        "/v1/vehicles?stage=flying",
        Some(&t),
        String::new(),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid_parameter");
    send(
        &app,
        "GET",
        "/v1/vehicles?colour=red",
        Some(&t),
        String::new(),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid_parameter");
}

#[tokio::test]
async fn plan_eta_schedule_voyage_alerts_network_and_insight_answer_from_real_data() {
    let app = world_app("reads", None, fast()).await;
    let t = app.token("toyota", Role::Viewer);
    let get = |uri: String| {
        let t = t.clone();
        let app = &app;
        async move {
            let a = send(app, "GET", &uri, Some(&t), String::new()).await;
            assert_eq!(
                a.status,
                StatusCode::OK,
                "{uri}: {}",
                String::from_utf8_lossy(&a.bytes)
            );
            a.json()
        }
    };
    let w = world();
    let v = w
        .plan
        .vehicles
        .iter()
        .find(|v| v.tenant == "toyota" && v.voyage.is_some())
        .unwrap();
    let plan = get(format!("/v1/vehicles/{}/plan", v.vin)).await;
    assert_eq!(plan["steps"].as_array().unwrap().len(), v.steps.len());
    assert!(plan["steps"][0]["tz"].as_str().unwrap().contains('/'));
    let eta = get(format!("/v1/vehicles/{}/eta", v.vin)).await;
    assert_eq!(eta["computed"], true);
    let d = &eta["delivered"];
    assert!(d["p10"].as_str() <= d["p50"].as_str() && d["p50"].as_str() <= d["p90"].as_str());
    // The terminal schedule holds exactly the tenant's steps on the port's
    // resources in the window.
    let from = w.plan.created_at;
    let to = from.plus(24 * 60);
    let sched = get(format!(
        "/v1/terminals/USLGB/schedule?from={}&to={}",
        from.rfc3339(),
        to.rfc3339()
    ))
    .await;
    assert_eq!(sched["tz"], "America/Los_Angeles");
    let n_steps: usize = sched["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["steps"].as_array().unwrap().len())
        .sum();
    let resources: BTreeSet<&str> = sched["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert!(resources.contains("USLGB/processing") && resources.contains("USLGB/loading"));
    let expected = w
        .plan
        .vehicles
        .iter()
        .filter(|v| v.tenant == "toyota")
        .flat_map(|v| v.steps.iter())
        .filter(|s| resources.contains(s.resource.as_str()) && s.start < to && s.end > from)
        .count();
    assert_eq!(n_steps, expected);
    assert!(expected > 0);
    // Voyages: the planned load per deck class is the tenant's vehicles'.
    let voyage = v.voyage.clone().unwrap();
    let detail = get(format!("/v1/voyages/{voyage}")).await;
    let n_on = w
        .plan
        .vehicles
        .iter()
        .filter(|x| {
            x.tenant == "toyota"
                && x.voyage.as_deref() == Some(&voyage)
                && x.step(Stage::Loading).is_some()
        })
        .count();
    assert_eq!(detail["vehicles"].as_array().unwrap().len(), n_on);
    assert!(
        detail["decks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["booked_rt43"].as_f64().unwrap() > 0.0)
    );
    assert!(detail["calls"][0]["cutoff"].is_string());
    let voyages = get("/v1/voyages?limit=5".into()).await;
    assert_eq!(voyages["items"].as_array().unwrap().len(), 5);
    let alerts = get("/v1/alerts?limit=10".into()).await;
    assert!(alerts["n_matching"].as_u64().unwrap() > 0, "{alerts}");
    let net = get("/v1/network".into()).await;
    let n: u64 = net["by_stage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["n_vehicles"].as_u64().unwrap())
        .sum();
    assert!(n > 0 && n as usize <= vins_of("toyota").len());
    assert!(
        net["locations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["tz"].as_str().unwrap().contains('/'))
    );
    let insight = get("/v1/insight".into()).await;
    assert!(insight["report"]["n_vehicles"].as_u64().unwrap() > 0);
    assert!(
        insight["report"]["dwell_hours_by_stage"]
            .as_array()
            .unwrap()
            .len()
            > 3
    );
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let net = network();
    let start = net.start;
    let app = app_with(
        "rate",
        Limits::default(),
        RateLimit {
            per_second: 0.5,
            burst: 3.0,
        },
        Live::empty(net, start),
    );
    let t = app.token("toyota", Role::Viewer);
    for _ in 0..3 {
        assert_eq!(
            send(&app, "GET", "/v1/network", Some(&t), String::new())
                .await
                .status,
            StatusCode::OK
        );
    }
    let a = send(&app, "GET", "/v1/network", Some(&t), String::new()).await;
    a.problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another token has its own bucket.
    let other = app.token("toyota", Role::Planner);
    assert_eq!(
        send(&app, "GET", "/v1/network", Some(&other), String::new())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn more_requests_in_flight_than_the_limit_answer_503() {
    let net = network();
    let start = net.start;
    let app = app_with(
        "overload",
        Limits {
            max_in_flight: 1,
            ..Limits::default()
        },
        fast(),
        Live::empty(net, start),
    );
    let t = app.token("toyota", Role::Viewer);
    // A held stream does not hold a permit; concurrent requests do.
    let mut answers = Vec::new();
    let futs: Vec<_> = (0..16)
        .map(|_| send(&app, "GET", "/v1/insight", Some(&t), String::new()))
        .collect();
    for a in futures_util::future::join_all(futs).await {
        answers.push(a.status);
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            a.problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
            assert_eq!(a.headers["retry-after"], "1");
        }
    }
    assert!(answers.contains(&StatusCode::OK));
    assert!(
        answers.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{answers:?}"
    );
}

#[tokio::test]
async fn every_mutating_call_is_in_the_audit_log() {
    let app = router("audit");
    let planner = app.token("toyota", Role::Planner);
    let admin = app.token("toyota", Role::Admin);
    let viewer = app.token("toyota", Role::Viewer);
    send(
        &app,
        "POST",
        "/v1/events",
        Some(&planner),
        lines(&journey(VIN_A, "au")),
    )
    .await;
    send(&app, "POST", "/v1/replan", Some(&viewer), String::new()).await; // 403
    send(&app, "POST", "/v1/replan", Some(&planner), String::new()).await;
    let made = send(
        &app,
        "POST",
        "/v1/tokens",
        Some(&admin),
        json!({"role": "viewer"}).to_string(),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let log = send(&app, "GET", "/v1/audit", Some(&admin), String::new())
        .await
        .json();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{log}");
    let ids: HashMap<&str, String> = send(&app, "GET", "/v1/tokens", Some(&admin), String::new())
        .await
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                match t["role"].as_str().unwrap() {
                    "viewer" => "viewer",
                    "planner" => "planner",
                    _ => "admin",
                },
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(items[3]["path"], "/v1/events");
    assert_eq!(items[3]["method"], "POST");
    assert_eq!(items[3]["status"], 200);
    assert_eq!(
        items[3]["detail"],
        "3 events: 3 stored, 0 retracted, 0 duplicate"
    );
    assert_eq!(items[3]["token_id"], ids["planner"].as_str());
    assert_eq!(items[3]["at_ms"], now().as_millisecond());
    assert_eq!(items[2]["status"], 403);
    assert_eq!(items[2]["role"], "viewer");
    assert_eq!(items[1]["detail"], "re-plan requested");
    assert!(
        items[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("token tk_")
    );
    // Another tenant's admin sees none of it.
    let other = app.token("nissan", Role::Admin);
    let theirs = send(&app, "GET", "/v1/audit", Some(&other), String::new())
        .await
        .json();
    assert!(theirs["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_stream_tells_of_events_of_the_own_tenant_and_of_new_plans() {
    use futures_util::StreamExt;
    let net = network();
    let start = net.start;
    let live = Arc::new(LiveHandle::new(Live::empty(net.clone(), start)));
    let db = temp_db("stream");
    let url = db.to_str().unwrap();
    let state = AppState::new(
        Store::open(url).unwrap(),
        AuthStore::open(url).unwrap(),
        live.clone(),
    )
    .with_clock(Arc::new(now));
    let app = App {
        router: app(state),
        auth: AuthStore::open(url).unwrap(),
        tokens: Mutex::default(),
    };
    let viewer = app.token("toyota", Role::Viewer);
    let req = Request::builder()
        .uri("/v1/stream")
        .header("Authorization", format!("Bearer {viewer}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut s = resp.into_body().into_data_stream();
    let mut next = async || {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), s.next())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        String::from_utf8(chunk.to_vec()).unwrap()
    };
    let first = next().await;
    assert!(first.starts_with("event: plan\n"), "{first}");
    // Another tenant's events are not told; the own tenant's are.
    post(
        &app,
        "/v1/events",
        "nissan",
        lines(&journey(VIN_B, "sn")).replace("\"toyota\"", "\"nissan\""),
    )
    .await;
    post(&app, "/v1/events", "toyota", lines(&journey(VIN_A, "st"))).await;
    let ev = next().await;
    assert!(ev.starts_with("event: events\n"), "{ev}");
    assert!(ev.contains("\"n_stored\":3"), "{ev}");
    assert!(!ev.contains("nissan"));
    live.publish(Live::empty(net.clone(), start.plus(60)));
    let ev = next().await;
    assert!(
        ev.starts_with("event: plan\n") && ev.contains("\"version\":1"),
        "{ev}"
    );
}

/// `docs/openapi.json` is the document the server serves. Regenerate with
/// `TAKT_UPDATE_OPENAPI=1 cargo test -p takt-server openapi`.
#[tokio::test]
async fn the_committed_openapi_document_is_current() {
    let doc = takt_server::openapi::document();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("TAKT_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &doc).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == doc,
        "docs/openapi.json is stale: run `TAKT_UPDATE_OPENAPI=1 cargo test -p takt-server openapi` and commit it"
    );
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
    // Served as is, without a token.
    let app = router("openapi");
    let a = send(&app, "GET", "/openapi.json", None, String::new()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.bytes, doc.as_bytes());
}

/// The live routes' answers are kept per plan version: the same question
/// gets the same bytes and tag, `If-None-Match` gets 304, another tenant
/// or role never gets a kept answer of someone else, and a new plan makes
/// every kept answer stale.
#[tokio::test]
async fn live_answers_are_kept_per_plan_version_and_per_tenant_and_role() {
    let w = world();
    let live = Arc::new(LiveHandle::new(Live::new(
        w.net.clone(),
        w.plan.clone(),
        etas(&w.plan),
    )));
    let db = temp_db("answer-cache");
    let url = db.to_str().unwrap();
    let state = AppState::new(
        Store::open(url).unwrap(),
        AuthStore::open(url).unwrap(),
        live.clone(),
    )
    .with_rate_limit(fast())
    .with_clock(Arc::new(now));
    let app = App {
        router: app(state),
        auth: AuthStore::open(url).unwrap(),
        tokens: Mutex::default(),
    };
    let toyota = app.token("toyota", Role::Viewer);
    let nissan = app.token("nissan", Role::Viewer);
    let admin = app.token("toyota", Role::Admin);
    let get = async |token: &str, uri: &str, tag: Option<&str>| {
        let mut req = Request::builder()
            .uri(uri)
            .header("Authorization", format!("Bearer {token}"));
        if let Some(t) = tag {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        let resp = app
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let etag = resp
            .headers()
            .get(header::ETAG)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, etag, bytes)
    };
    for uri in [
        "/v1/voyages?limit=5",
        "/v1/alerts?limit=20",
        "/v1/vehicles?stage=yard&limit=5",
        "/v1/network",
    ] {
        let (s1, tag1, body1) = get(&toyota, uri, None).await;
        let (s2, tag2, body2) = get(&toyota, uri, None).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{uri}");
        assert_eq!(tag1, tag2, "{uri}: the second answer is the kept one");
        assert_eq!(body1, body2, "{uri}");
        let tag = tag1.expect("a kept answer has a tag");
        assert!(tag.starts_with("\"v0-"), "{tag}");
        let (s, _, body) = get(&toyota, uri, Some(&tag)).await;
        assert_eq!(s, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(body.is_empty());
        // Another tenant asking the same question gets its own answer.
        let (s, their_tag, theirs) = get(&nissan, uri, Some(&tag)).await;
        assert_eq!(s, StatusCode::OK, "{uri}: another tenant never gets 304");
        assert_ne!(their_tag.as_deref(), Some(tag.as_str()));
        if uri == "/v1/network" {
            let v: Value = serde_json::from_slice(&theirs).unwrap();
            let mine: Value = serde_json::from_slice(&body1).unwrap();
            assert_eq!(v["tenant"], "nissan");
            assert_eq!(mine["tenant"], "toyota");
        }
    }
    // The network answer names the role: an admin of the same tenant is
    // not given the viewer's answer.
    let (_, _, as_admin) = get(&admin, "/v1/network", None).await;
    let as_admin: Value = serde_json::from_slice(&as_admin).unwrap();
    assert_eq!(as_admin["role"], "admin");
    // A new plan: the kept answer is stale, the tag and version move on.
    let (_, old_tag, _) = get(&toyota, "/v1/voyages?limit=5", None).await;
    let old_tag = old_tag.unwrap();
    live.publish(Live::new(w.net.clone(), w.plan.clone(), etas(&w.plan)));
    let (s, new_tag, body) = get(&toyota, "/v1/voyages?limit=5", Some(&old_tag)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(new_tag.unwrap().starts_with("\"v1-"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["plan_version"], 1);
}
