//! The OpenAPI 3.1 document of API v1, generated from the handlers'
//! annotations (utoipa), served at `GET /openapi.json` and committed as
//! `docs/openapi.json` (a test fails when the committed file is stale).

use crate::problem::{BadItemDoc, Problem, ProblemCode};
use crate::{admin, api};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// What an accepted batch answers (200).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedDoc {
    pub tenant: String,
    pub n_stored: usize,
    pub n_retracted: usize,
    pub n_duplicate: usize,
    pub items: Vec<ItemDoc>,
}

/// One item's answer in an accepted batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemDoc {
    pub index: usize,
    pub event_id: String,
    /// `stored`, `retracted` or `duplicate`.
    pub answer: String,
    /// Receipt flags: `late`, `clock_skew`, `out_of_order`.
    pub flags: Vec<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "takt API",
        version = "1",
        description = "Finished-vehicle sequencing and scheduling: event capture (takt JSON, GS1 EPCIS 2.0), vehicles, plan, ETAs (P10/P50/P90), terminal schedules by the minute, voyages, alerts, insight; per tenant, behind bearer tokens. Times are RFC 3339 in UTC; every location carries its IANA time zone. Errors are application/problem+json with a stable `code` (docs/api.md).",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::post_events,
        crate::post_capture,
        api::list_vehicles,
        crate::get_vehicle,
        api::vehicle_plan,
        api::vehicle_eta,
        api::terminal_schedule,
        api::list_voyages,
        api::get_voyage,
        api::list_alerts,
        api::get_network,
        admin::insight,
        admin::stream,
        api::replan,
        admin::list_tokens,
        admin::create_token,
        admin::revoke_token,
        admin::audit_log,
    ),
    components(schemas(Problem, ProblemCode, BadItemDoc, AcceptedDoc, ItemDoc)),
    modifiers(&Common),
    tags(
        (name = "capture", description = "Store events (planner)"),
        (name = "vehicles", description = "Search, state, history, plan, ETA"),
        (name = "terminals", description = "Schedules by the minute"),
        (name = "voyages", description = "Load against booked space, cutoffs, stow order"),
        (name = "alerts", description = "Vehicles at risk"),
        (name = "network", description = "The scenario's network and where vehicles are"),
        (name = "insight", description = "Where time is lost"),
        (name = "live", description = "Server-sent events"),
        (name = "plan", description = "Re-planning (planner)"),
        (name = "admin", description = "Tokens and the audit log (admin)"),
    )
)]
struct ApiDoc;

/// Adds the bearer scheme, and to every operation the answers any route
/// can give: 401 (no or bad token), 429 (rate limit) and 503 (overloaded,
/// storage unavailable).
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a token from `takt token create --db URL --tenant T --role R`",
                    ))
                    .build(),
            ),
        );
        let problem = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        crate::problem::PROBLEM_JSON,
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "Problem",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let rs = &mut op.responses.responses;
                for (code, what) in [
                    ("401", "no bearer token, or not a live one"),
                    ("429", "rate limit of the token; see Retry-After"),
                    ("503", "overloaded (see Retry-After) or storage unavailable"),
                ] {
                    rs.entry(code.to_string()).or_insert_with(|| problem(what));
                }
                // Problem answers are problem+json, not application/json.
                for (code, r) in rs.iter_mut() {
                    if !code.starts_with('2')
                        && let RefOr::T(resp) = r
                        && let Some(c) = resp.content.shift_remove("application/json")
                    {
                        resp.content
                            .insert(crate::problem::PROBLEM_JSON.to_string(), c);
                    }
                }
            }
        }
    }
}

/// The OpenAPI document as pretty JSON with a final newline (the text of
/// `docs/openapi.json`).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    text.push('\n');
    text
}

/// `GET /openapi.json`.
pub async fn serve() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOC.get_or_init(document).clone();
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
