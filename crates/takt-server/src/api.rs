//! The read routes of API v1 over the live view ([`crate::live::Live`]):
//! vehicles (search, plan, ETA), terminal schedules, voyages, alerts, the
//! network, and insight over the event store. Every handler takes the
//! tenant from the [`Caller`] and reads only that tenant's vehicles.

use crate::auth::Caller;
use crate::live::{Alert, AlertKind, Live};
use crate::problem::{Problem, ProblemCode};
use crate::{AppState, json_response};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use takt_core::Minute;
use takt_core::plan::{Stage, VehiclePlan};
use takt_store::auth::Role;
use utoipa::{IntoParams, ToSchema};

/// Largest page of any list.
pub const MAX_PAGE_SIZE: usize = 500;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Longest terminal-schedule window, in hours.
pub const MAX_WINDOW_HOURS: i64 = 72;

fn bad_param(name: &str, detail: impl std::fmt::Display) -> Problem {
    Problem::new(
        ProblemCode::InvalidParameter,
        "",
        format!("query parameter `{name}`: {detail}"),
    )
}

/// Largest position cursor.
pub const MAX_CURSOR: usize = 1_000_000_000;

fn position_cursor(cursor: Option<usize>) -> Result<usize, Problem> {
    match cursor {
        Some(c) if c > MAX_CURSOR => Err(bad_param(
            "cursor",
            format!("{c} is beyond {MAX_CURSOR}; pass a `next_cursor` the API answered"),
        )),
        c => Ok(c.unwrap_or(0)),
    }
}

fn page_size(limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(bad_param(
            "limit",
            format!(
                "{n} is outside 1..={MAX_PAGE_SIZE}; ask for smaller pages and follow `next_cursor`"
            ),
        )),
    }
}

fn parse_time(name: &str, s: &str) -> Result<Minute, Problem> {
    Minute::parse_rfc3339(s).map_err(|e| {
        bad_param(
            name,
            format!("{e}; use RFC 3339 with an offset, e.g. 2026-03-02T06:30:00Z"),
        )
    })
}

fn vehicle_not_found() -> Problem {
    Problem::new(
        ProblemCode::VehicleNotFound,
        "",
        "no events for this vehicle under this tenant; check the VIN and the tenant",
    )
}

fn tz_name(live: &Live, location: &str) -> String {
    live.network
        .location_index(location)
        .and_then(|l| live.network.locations[l].tz.iana_name().map(str::to_string))
        .unwrap_or_else(|| "UTC".to_string())
}

/// P10/P50/P90 of an instant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuantilesDoc {
    #[schema(value_type = String, format = DateTime)]
    pub p10: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub p50: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub p90: Minute,
}

impl From<crate::live::Quantiles> for QuantilesDoc {
    fn from(q: crate::live::Quantiles) -> Self {
        QuantilesDoc {
            p10: q.p10,
            p50: q.p50,
            p90: q.p90,
        }
    }
}

// ---------------------------------------------------------------- vehicles

/// Search parameters of `GET /v1/vehicles`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VehicleQuery {
    /// VIN or the start of one.
    pub vin: Option<String>,
    /// Current stage (by the plan), e.g. `yard`.
    #[param(
        pattern = "^(released|inland|port_arrival|processing|yard|loading|voyage|discharge|certification|delivery)$"
    )]
    pub stage: Option<String>,
    /// Current location id, e.g. `USLGB`.
    pub location: Option<String>,
    /// Planned voyage id.
    pub voyage: Option<String>,
    /// Only vehicles with an alert (true) or without (false).
    pub at_risk: Option<bool>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// One vehicle in a search answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehicleSummary {
    pub vin: String,
    pub model: String,
    pub dealer: String,
    /// Current stage by the plan.
    pub stage: String,
    pub location: String,
    pub resource: String,
    pub voyage: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub promised_by: Minute,
    /// P50 of delivery at the dealer, when an ETA is computed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub eta_p50: Option<Minute>,
    pub at_risk: bool,
}

/// A page of vehicles, sorted by VIN.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehiclePage {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    pub plan_version: u64,
    /// Vehicles matching the filters (all pages).
    pub n_matching: usize,
    pub items: Vec<VehicleSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn summary(live: &Live, i: usize) -> VehicleSummary {
    let v = &live.plan.vehicles[i];
    let p = live.position(i);
    VehicleSummary {
        vin: v.vin.clone(),
        model: v.model.clone(),
        dealer: v.dealer.clone(),
        stage: p.stage.name().to_string(),
        location: p.location.clone(),
        resource: p.resource.clone(),
        voyage: v.voyage.clone(),
        promised_by: v.promised_by,
        eta_p50: live
            .etas
            .get(&v.vin)
            .and_then(|e| e.delivered)
            .map(|q| q.p50),
        at_risk: live.is_at_risk(i),
    }
}

fn parse_stage(s: &str) -> Result<Stage, Problem> {
    Stage::ALL
        .into_iter()
        .find(|st| st.name() == s)
        .ok_or_else(|| {
            bad_param(
                "stage",
                format!(
                    "`{s}` is not a stage; stages: {}",
                    Stage::ALL.map(|s| s.name()).join(", ")
                ),
            )
        })
}

/// Search the tenant's vehicles in the current plan.
#[utoipa::path(get, path = "/v1/vehicles", tag = "vehicles", params(VehicleQuery),
    responses((status = 200, body = VehiclePage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_vehicles(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<VehicleQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| bad_param("query", e.body_text()))?;
    let limit = page_size(q.limit)?;
    let stage = q.stage.as_deref().map(parse_stage).transpose()?;
    let live = state.live.current();
    let mut ids = live.vehicles_of(caller.tenant.as_str());
    // Sorted by VIN: a prefix is a range.
    if let Some(prefix) = q.vin.as_deref().filter(|p| !p.is_empty()) {
        let a = ids.partition_point(|&i| live.plan.vehicles[i].vin.as_str() < prefix);
        let b = a + ids[a..].partition_point(|&i| live.plan.vehicles[i].vin.starts_with(prefix));
        ids = &ids[a..b];
    }
    let start = match &q.cursor {
        Some(c) => ids.partition_point(|&i| live.plan.vehicles[i].vin.as_str() <= c.as_str()),
        None => 0,
    };
    let matches = |&i: &usize| {
        let v = &live.plan.vehicles[i];
        let p = live.position(i);
        q.vin.as_deref().is_none_or(|x| v.vin.starts_with(x))
            && stage.is_none_or(|s| p.stage == s)
            && q.location.as_deref().is_none_or(|l| p.location == l)
            && q.voyage
                .as_deref()
                .is_none_or(|x| v.voyage.as_deref() == Some(x))
            && q.at_risk.is_none_or(|r| live.is_at_risk(i) == r)
    };
    let n_matching = ids.iter().filter(|i| matches(i)).count();
    let mut items = Vec::with_capacity(limit);
    let mut next_cursor = None;
    for &i in ids[start..].iter().filter(|i| matches(i)) {
        if items.len() == limit {
            next_cursor = items.last().map(|s: &VehicleSummary| s.vin.clone());
            break;
        }
        items.push(summary(&live, i));
    }
    Ok(json_response(
        StatusCode::OK,
        &VehiclePage {
            as_of: live.as_of,
            plan_version: live.version,
            n_matching,
            items,
            next_cursor,
        },
    ))
}

/// A hold on a vehicle.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldDoc {
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub to: Minute,
}

/// One stage of a vehicle's plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepDoc {
    pub stage: String,
    pub location: String,
    /// IANA time zone of the location.
    pub tz: String,
    pub resource: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub end: Minute,
    /// Carried out (true) or planned (false).
    pub done: bool,
    pub deck_class: Option<String>,
}

/// A vehicle's plan: every stage, done and planned.
#[derive(Debug, Serialize, ToSchema)]
pub struct VehiclePlanDoc {
    pub vin: String,
    pub model: String,
    pub dealer: String,
    #[schema(value_type = String, format = DateTime)]
    pub released_at: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub promised_by: Minute,
    pub voyage: Option<String>,
    pub rolls: u32,
    pub unplaced: Option<String>,
    pub holds: Vec<HoldDoc>,
    pub steps: Vec<StepDoc>,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    pub plan_version: u64,
    pub alerts: Vec<AlertDoc>,
}

fn plan_doc(live: &Live, v: &VehiclePlan) -> VehiclePlanDoc {
    VehiclePlanDoc {
        vin: v.vin.clone(),
        model: v.model.clone(),
        dealer: v.dealer.clone(),
        released_at: v.released_at,
        promised_by: v.promised_by,
        voyage: v.voyage.clone(),
        rolls: v.rolls,
        unplaced: v.unplaced.clone(),
        holds: v
            .holds
            .iter()
            .map(|h| HoldDoc {
                reason: h.reason.clone(),
                from: h.from,
                to: h.to,
            })
            .collect(),
        steps: v
            .steps
            .iter()
            .map(|s| StepDoc {
                stage: s.stage.name().to_string(),
                location: s.location.clone(),
                tz: tz_name(live, &s.location),
                resource: s.resource.clone(),
                start: s.start,
                end: s.end,
                done: s.done,
                deck_class: s.deck_class.clone(),
            })
            .collect(),
        as_of: live.as_of,
        plan_version: live.version,
        alerts: live
            .alerts_of(&v.tenant)
            .iter()
            .filter(|a| a.vin == v.vin)
            .map(|a| alert_doc(live, &v.tenant, a))
            .collect(),
    }
}

fn parse_vin(vin: &str) -> Result<String, Problem> {
    takt_core::Vin::parse(vin)
        .map(|v| v.to_string())
        .map_err(|e| {
            Problem::new(
                ProblemCode::InvalidVin,
                "",
                format!("{e}; the path is /v1/vehicles/VIN with a 17-character VIN"),
            )
        })
}

/// A vehicle's plan (history plus projection).
#[utoipa::path(get, path = "/v1/vehicles/{vin}/plan", tag = "vehicles",
    params(("vin" = String, Path, description = "17-character VIN", pattern = "^[A-HJ-NPR-Z0-9]{17}$")),
    responses((status = 200, body = VehiclePlanDoc), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn vehicle_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(vin): Path<String>,
) -> Result<Response, Problem> {
    let vin = parse_vin(&vin)?;
    let live = state.live.current();
    let i = live
        .vehicle(caller.tenant.as_str(), &vin)
        .ok_or_else(vehicle_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &plan_doc(&live, &live.plan.vehicles[i]),
    ))
}

/// ETA of one remaining stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageEtaDoc {
    pub stage: String,
    /// IANA zone of where the stage starts, by the plan.
    pub tz: String,
    #[schema(value_type = String, format = DateTime)]
    pub p10: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub p50: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub p90: Minute,
}

/// A vehicle's ETA: P10/P50/P90 of each remaining stage's start and of
/// delivery at the dealer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EtaDoc {
    pub vin: String,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub promised_by: Minute,
    /// False while no forecast has been computed for the vehicle.
    pub computed: bool,
    pub stages: Vec<StageEtaDoc>,
    pub delivered: Option<QuantilesDoc>,
    /// Share of Monte Carlo runs that delivered within the horizon.
    pub delivered_share: f64,
}

/// A vehicle's ETA.
#[utoipa::path(get, path = "/v1/vehicles/{vin}/eta", tag = "vehicles",
    params(("vin" = String, Path, description = "17-character VIN", pattern = "^[A-HJ-NPR-Z0-9]{17}$")),
    responses((status = 200, body = EtaDoc), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn vehicle_eta(
    State(state): State<AppState>,
    caller: Caller,
    Path(vin): Path<String>,
) -> Result<Response, Problem> {
    let vin = parse_vin(&vin)?;
    let live = state.live.current();
    let i = live
        .vehicle(caller.tenant.as_str(), &vin)
        .ok_or_else(vehicle_not_found)?;
    let v = &live.plan.vehicles[i];
    let eta = live.etas.get(&vin);
    let stages = eta
        .map(|e| {
            e.stages
                .iter()
                .map(|(s, q)| StageEtaDoc {
                    stage: s.name().to_string(),
                    tz: v
                        .step(*s)
                        .map_or_else(|| "UTC".to_string(), |st| tz_name(&live, &st.location)),
                    p10: q.p10,
                    p50: q.p50,
                    p90: q.p90,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &EtaDoc {
            vin: v.vin.clone(),
            as_of: live.as_of,
            promised_by: v.promised_by,
            computed: eta.is_some(),
            stages,
            delivered: eta.and_then(|e| e.delivered).map(Into::into),
            delivered_share: eta.map_or(0.0, |e| e.delivered_share),
        },
    ))
}

// ---------------------------------------------------------------- terminals

/// Window of a terminal schedule.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// Start, RFC 3339 (default: the plan's instant).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// End, RFC 3339 (default: 12 hours after `from`); after `from`, at
    /// most 72 hours after it.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// Only this resource, e.g. `USLGB/processing`.
    pub resource: Option<String>,
}

/// Servers open in a calendar window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowDoc {
    #[schema(value_type = String, format = DateTime)]
    pub from: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub to: Minute,
    pub servers: u32,
}

/// One vehicle's use of a resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledStep {
    pub vin: String,
    pub model: String,
    pub stage: String,
    pub voyage: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub start: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub end: Minute,
    pub done: bool,
}

/// One resource of a terminal over the window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceSchedule {
    pub resource: String,
    pub kind: String,
    /// Servers (stations, lanes, gangs' drivers) or slots at full strength.
    pub capacity: u32,
    /// Minutes one vehicle takes, for pools.
    pub minutes_per_vehicle: Option<i64>,
    /// Never closes (then `windows` is empty).
    pub always_open: bool,
    /// Open windows overlapping the window; outside them the resource is
    /// closed (unless `always_open`).
    pub windows: Vec<WindowDoc>,
    /// The tenant's vehicles on the resource, by start.
    pub steps: Vec<ScheduledStep>,
}

/// A terminal's schedule by the minute.
#[derive(Debug, Serialize, ToSchema)]
pub struct TerminalSchedule {
    pub location: String,
    pub name: String,
    pub tz: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub to: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    pub plan_version: u64,
    pub resources: Vec<ResourceSchedule>,
}

/// A terminal's (or plant's) by-the-minute schedule from the plan: every
/// resource at the location, its open windows and the tenant's vehicles on
/// it in the window.
#[utoipa::path(get, path = "/v1/terminals/{location}/schedule", tag = "terminals",
    params(("location" = String, Path, description = "location id, e.g. USLGB"), WindowQuery),
    responses((status = 200, body = TerminalSchedule), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn terminal_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(location): Path<String>,
    query: Result<Query<WindowQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| bad_param("query", e.body_text()))?;
    let live = state.live.current();
    let net = &live.network;
    let loc = net.location_index(&location).ok_or_else(|| {
        Problem::new(
            ProblemCode::LocationNotFound,
            "",
            "no such location; GET /v1/network lists them",
        )
    })?;
    let from = match &q.from {
        Some(s) => parse_time("from", s)?,
        None => live.as_of,
    };
    let to = match &q.to {
        Some(s) => parse_time("to", s)?,
        None => from.plus(12 * Minute::HOUR),
    };
    if to <= from || to.since(from) > MAX_WINDOW_HOURS * Minute::HOUR {
        return Err(bad_param(
            "to",
            format!("the window must be after `from` and at most {MAX_WINDOW_HOURS} hours long"),
        ));
    }
    let tenant = caller.tenant.as_str();
    let pools: BTreeMap<String, (u32, i64)> = net
        .export_terminals
        .iter()
        .flat_map(|t| [&t.ramp, &t.processing, &t.loading])
        .chain(
            net.import_terminals
                .iter()
                .flat_map(|t| [&t.discharge, &t.certification]),
        )
        .map(|p| {
            (
                net.resources[p.resource].id.clone(),
                (p.count, p.minutes_per_vehicle),
            )
        })
        .collect();
    let mut resources = Vec::new();
    for r in net.resources.iter().filter(|r| r.location == loc) {
        if q.resource.as_deref().is_some_and(|x| x != r.id) {
            continue;
        }
        let windows = r
            .calendar
            .windows
            .iter()
            .filter(|w| w.1 > from && w.0 < to)
            .map(|&(a, b, n)| WindowDoc {
                from: a,
                to: b,
                servers: n,
            })
            .collect();
        let steps = live
            .steps_on(tenant, &r.id, from, to)
            .map(|(v, k)| {
                let veh = &live.plan.vehicles[v];
                let s = &veh.steps[k];
                ScheduledStep {
                    vin: veh.vin.clone(),
                    model: veh.model.clone(),
                    stage: s.stage.name().to_string(),
                    voyage: veh.voyage.clone(),
                    start: s.start,
                    end: s.end,
                    done: s.done,
                }
            })
            .collect();
        let pool = pools.get(&r.id);
        resources.push(ResourceSchedule {
            resource: r.id.clone(),
            kind: r.kind.name().to_string(),
            capacity: pool.map_or(r.calendar.full, |p| p.0),
            minutes_per_vehicle: pool.map(|p| p.1),
            always_open: r.calendar.always_open,
            windows,
            steps,
        });
    }
    if q.resource.is_some() && resources.is_empty() {
        return Err(Problem::new(
            ProblemCode::LocationNotFound,
            "",
            "no such resource at this location; GET /v1/network lists them",
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &TerminalSchedule {
            location: net.locations[loc].id.clone(),
            name: net.locations[loc].name.clone(),
            tz: tz_name(&live, &location),
            from,
            to,
            as_of: live.as_of,
            plan_version: live.version,
            resources,
        },
    ))
}

// ---------------------------------------------------------------- voyages

/// A port call with its cutoff (export calls).
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDoc {
    pub port: String,
    pub tz: String,
    /// Loading (US) or discharge (Japan) call.
    pub export: bool,
    #[schema(value_type = String, format = DateTime)]
    pub berth: Minute,
    #[schema(value_type = String, format = DateTime)]
    pub depart: Minute,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cutoff: Option<Minute>,
}

/// Booked and planned space of one deck class, for the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeckLoad {
    pub deck_class: String,
    pub clearance_mm: u32,
    /// Space the tenant booked, RT43.
    pub booked_rt43: f64,
    /// Space the tenant's planned and loaded vehicles take, RT43.
    pub planned_rt43: f64,
    pub n_vehicles: usize,
}

/// A voyage for the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoyageDoc {
    pub voyage: String,
    pub service: String,
    pub capacity_ceu: u32,
    pub calls: Vec<CallDoc>,
    pub decks: Vec<DeckLoad>,
    pub n_vehicles: usize,
    /// The first export cutoff after the plan's instant, if any.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_cutoff: Option<Minute>,
    /// Minutes from the plan's instant to `next_cutoff`.
    pub minutes_to_cutoff: Option<i64>,
    pub departed: bool,
}

/// One vehicle on a voyage, in stow order.
#[derive(Debug, Serialize, ToSchema)]
pub struct StowedVehicle {
    /// 1 = loaded first (deepest).
    pub stow_rank: usize,
    pub vin: String,
    pub model: String,
    pub loading_port: String,
    pub discharge_port: String,
    pub deck_class: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub loading_start: Minute,
    pub loaded: bool,
}

/// A voyage with the tenant's vehicles in stow order.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoyageDetail {
    #[serde(flatten)]
    pub voyage: VoyageDoc,
    pub vehicles: Vec<StowedVehicle>,
}

/// A page of voyages.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoyagePage {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    pub plan_version: u64,
    pub items: Vec<VoyageDoc>,
    pub next_cursor: Option<usize>,
}

/// Which voyages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VoyageQuery {
    /// Only voyages whose last export call departs at or after this instant
    /// (RFC 3339; default: 2 days before the plan's instant).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Only voyages whose first call berths before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// `next_cursor` of the previous page (a position in the listing).
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub cursor: Option<usize>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

fn voyage_doc(
    live: &Live,
    tenant: &str,
    v: usize,
    with_vehicles: bool,
) -> (VoyageDoc, Vec<StowedVehicle>) {
    let net = &live.network;
    let info = &net.voyages[v];
    let times = live.plan.voyages.iter().find(|t| t.voyage == info.id);
    let calls: Vec<CallDoc> = info
        .calls
        .iter()
        .enumerate()
        .map(|(c, call)| {
            let port = net.locations[call.location].id.clone();
            let (berth, depart) = times
                .and_then(|t| t.calls.iter().find(|x| x.port == port))
                .map_or((call.berth, call.depart), |x| (x.berth, x.depart));
            let export = c < info.n_export_calls;
            CallDoc {
                tz: tz_name(live, &port),
                cutoff: if export {
                    crate::live::cutoff_at(net, &live.plan, &info.id, &port)
                } else {
                    None
                },
                port,
                export,
                berth,
                depart,
            }
        })
        .collect();
    let tenant_idx = net.tenant_index(tenant);
    let mut decks: Vec<DeckLoad> = net
        .deck_classes
        .iter()
        .enumerate()
        .map(|(d, info_d)| DeckLoad {
            deck_class: info_d.id.clone(),
            clearance_mm: info_d.clearance_mm,
            booked_rt43: tenant_idx
                .and_then(|t| info.booked.get(t))
                .and_then(|b| b.get(d))
                .copied()
                .unwrap_or(0.0),
            planned_rt43: 0.0,
            n_vehicles: 0,
        })
        .collect();
    let mut vehicles = Vec::new();
    let mut n_on = 0;
    for i in live.on_voyage(tenant, &info.id) {
        let veh = &live.plan.vehicles[i];
        let Some(sea) = veh.step(Stage::Voyage) else {
            continue;
        };
        let rt43 = live.rt43_of(&veh.model);
        if let Some(d) = sea
            .deck_class
            .as_ref()
            .and_then(|dc| decks.iter_mut().find(|d| &d.deck_class == dc))
        {
            d.planned_rt43 += rt43;
            d.n_vehicles += 1;
        }
        n_on += 1;
        if !with_vehicles {
            continue;
        }
        if let Some(load) = veh.step(Stage::Loading) {
            vehicles.push(StowedVehicle {
                stow_rank: 0,
                vin: veh.vin.clone(),
                model: veh.model.clone(),
                loading_port: load.location.clone(),
                discharge_port: veh
                    .step(Stage::Discharge)
                    .map_or_else(String::new, |s| s.location.clone()),
                deck_class: sea.deck_class.clone(),
                loading_start: load.start,
                loaded: load.done,
            });
        }
    }
    vehicles.sort_by(|a, b| (a.loading_start, &a.vin).cmp(&(b.loading_start, &b.vin)));
    for (k, s) in vehicles.iter_mut().enumerate() {
        s.stow_rank = k + 1;
    }
    for d in &mut decks {
        d.planned_rt43 = (d.planned_rt43 * 100.0).round() / 100.0;
        d.booked_rt43 = (d.booked_rt43 * 100.0).round() / 100.0;
    }
    let next_cutoff = calls
        .iter()
        .filter_map(|c| c.cutoff)
        .find(|&c| c >= live.as_of);
    let last_export = calls.iter().filter(|c| c.export).map(|c| c.depart).max();
    let doc = VoyageDoc {
        voyage: info.id.clone(),
        service: info.service.clone(),
        capacity_ceu: info.capacity_ceu,
        n_vehicles: n_on,
        next_cutoff,
        minutes_to_cutoff: next_cutoff.map(|c| c.since(live.as_of)),
        departed: last_export.is_some_and(|d| d <= live.as_of),
        calls,
        decks,
    };
    (doc, vehicles)
}

/// Voyages with the tenant's load against its booked space by deck class,
/// and cutoffs, sorted by first berthing.
#[utoipa::path(get, path = "/v1/voyages", tag = "voyages", params(VoyageQuery),
    responses((status = 200, body = VoyagePage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_voyages(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<VoyageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| bad_param("query", e.body_text()))?;
    let limit = page_size(q.limit)?;
    let live = state.live.current();
    let net = &live.network;
    let from = match &q.from {
        Some(s) => parse_time("from", s)?,
        None => live.as_of.plus(-2 * Minute::DAY),
    };
    let to = q.to.as_deref().map(|s| parse_time("to", s)).transpose()?;
    let mut ids: Vec<usize> = (0..net.voyages.len())
        .filter(|&v| {
            let info = &net.voyages[v];
            let last_export = info.calls[info.n_export_calls.max(1) - 1].depart;
            last_export >= from && to.is_none_or(|t| info.calls[0].berth < t)
        })
        .collect();
    ids.sort_by(|&a, &b| {
        (net.voyages[a].calls[0].berth, &net.voyages[a].id)
            .cmp(&(net.voyages[b].calls[0].berth, &net.voyages[b].id))
    });
    let start = position_cursor(q.cursor)?.min(ids.len());
    let page: Vec<usize> = ids[start..].iter().copied().take(limit).collect();
    let next_cursor = (start + page.len() < ids.len()).then_some(start + page.len());
    let items = page
        .into_iter()
        .map(|v| voyage_doc(&live, caller.tenant.as_str(), v, false).0)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &VoyagePage {
            as_of: live.as_of,
            plan_version: live.version,
            items,
            next_cursor,
        },
    ))
}

/// One voyage with the tenant's vehicles in stow order (first loaded first).
#[utoipa::path(get, path = "/v1/voyages/{voyage}", tag = "voyages",
    params(("voyage" = String, Path, description = "voyage id")),
    responses((status = 200, body = VoyageDetail), (status = 401, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_voyage(
    State(state): State<AppState>,
    caller: Caller,
    Path(voyage): Path<String>,
) -> Result<Response, Problem> {
    let live = state.live.current();
    let v = live.network.voyage_index(&voyage).ok_or_else(|| {
        Problem::new(
            ProblemCode::VoyageNotFound,
            "",
            "no such voyage; GET /v1/voyages lists them",
        )
    })?;
    let (voyage, vehicles) = voyage_doc(&live, caller.tenant.as_str(), v, true);
    Ok(json_response(
        StatusCode::OK,
        &VoyageDetail { voyage, vehicles },
    ))
}

// ---------------------------------------------------------------- alerts

/// One alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDoc {
    /// `promise_late`, `promise_at_risk`, `cutoff_at_risk`, `unplaced` or `hold`.
    pub kind: String,
    /// `high` or `medium`.
    pub severity: String,
    pub vin: String,
    pub voyage: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due: Option<Minute>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expected: Option<Minute>,
    pub late_minutes: Option<i64>,
    /// IANA zone of the place the deadline is at (the dealer's port for
    /// promises, the export port for cutoffs).
    pub tz: String,
    pub detail: String,
}

fn kind_name(k: AlertKind) -> &'static str {
    match k {
        AlertKind::PromiseLate => "promise_late",
        AlertKind::PromiseAtRisk => "promise_at_risk",
        AlertKind::CutoffAtRisk => "cutoff_at_risk",
        AlertKind::Unplaced => "unplaced",
        AlertKind::Hold => "hold",
    }
}

fn alert_doc(live: &Live, tenant: &str, a: &Alert) -> AlertDoc {
    let place = live.vehicle(tenant, &a.vin).and_then(|i| {
        let v = &live.plan.vehicles[i];
        let step = if a.kind == AlertKind::CutoffAtRisk {
            v.step(Stage::Loading)
        } else {
            v.steps.last()
        };
        step.map(|s| s.location.clone())
    });
    let kind = match a.kind {
        AlertKind::PromiseLate => "promise_late",
        AlertKind::PromiseAtRisk => "promise_at_risk",
        AlertKind::CutoffAtRisk => "cutoff_at_risk",
        AlertKind::Unplaced => "unplaced",
        AlertKind::Hold => "hold",
    };
    AlertDoc {
        kind: kind.to_string(),
        severity: a.severity.to_string(),
        vin: a.vin.clone(),
        voyage: a.voyage.clone(),
        due: a.due,
        expected: a.expected,
        late_minutes: a.late_minutes,
        tz: place.map_or_else(|| "UTC".to_string(), |p| tz_name(live, &p)),
        detail: a.detail.clone(),
    }
}

/// Which alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Only this kind.
    #[param(pattern = "^(promise_late|promise_at_risk|cutoff_at_risk|unplaced|hold)$")]
    pub kind: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub cursor: Option<usize>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A page of alerts, most urgent first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    pub plan_version: u64,
    /// Alerts by kind (all pages).
    pub counts: BTreeMap<String, usize>,
    pub n_matching: usize,
    pub items: Vec<AlertDoc>,
    pub next_cursor: Option<usize>,
}

/// Vehicles at risk of missing a cutoff or their promised date, unplaced
/// vehicles and holds.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = AlertPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(|e| bad_param("query", e.body_text()))?;
    let limit = page_size(q.limit)?;
    const KINDS: [&str; 5] = [
        "promise_late",
        "promise_at_risk",
        "cutoff_at_risk",
        "unplaced",
        "hold",
    ];
    if let Some(k) = q.kind.as_deref().filter(|k| !KINDS.contains(k)) {
        return Err(bad_param(
            "kind",
            format!("`{k}` is not an alert kind; kinds: {}", KINDS.join(", ")),
        ));
    }
    let live = state.live.current();
    let tenant = caller.tenant.as_str();
    let all = live.alerts_of(tenant);
    let mut counts = BTreeMap::new();
    for a in all {
        *counts.entry(kind_name(a.kind).to_string()).or_insert(0) += 1;
    }
    let matching: Vec<&Alert> = all
        .iter()
        .filter(|a| q.kind.as_deref().is_none_or(|k| kind_name(a.kind) == k))
        .collect();
    let start = position_cursor(q.cursor)?.min(matching.len());
    let n_matching = matching.len();
    let items: Vec<AlertDoc> = matching[start..]
        .iter()
        .take(limit)
        .map(|a| alert_doc(&live, tenant, a))
        .collect();
    let next = start + items.len();
    Ok(json_response(
        StatusCode::OK,
        &AlertPage {
            as_of: live.as_of,
            plan_version: live.version,
            counts,
            n_matching,
            next_cursor: (next < n_matching).then_some(next),
            items,
        },
    ))
}

// ---------------------------------------------------------------- network

/// A location.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationDoc {
    pub id: String,
    pub name: String,
    /// `plant`, `export_port`, `import_port` or `dealer`.
    pub kind: String,
    /// IANA time zone.
    pub tz: String,
}

/// A resource with a capacity.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDoc {
    pub id: String,
    pub kind: String,
    pub location: String,
    pub capacity: u32,
}

/// A deck height class.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeckDoc {
    pub id: String,
    pub clearance_mm: u32,
}

/// Vehicles at one stage and location.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageCount {
    pub stage: String,
    pub location: String,
    pub n_vehicles: usize,
}

/// Vehicles whose plan moves them from one location to the next.
#[derive(Debug, Serialize, ToSchema)]
pub struct Flow {
    pub from: String,
    pub to: String,
    /// Vehicles that made the move.
    pub n_done: usize,
    /// Vehicles planned to make it.
    pub n_planned: usize,
}

/// The network and where the tenant's vehicles are.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkDoc {
    pub scenario: String,
    pub tenant: String,
    pub role: String,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Minute,
    pub plan_version: u64,
    pub policy: String,
    pub locations: Vec<LocationDoc>,
    pub resources: Vec<ResourceDoc>,
    pub deck_classes: Vec<DeckDoc>,
    pub n_voyages: usize,
    pub n_vehicles: usize,
    pub n_alerts: usize,
    /// Vehicles by current stage (journey order).
    pub by_stage: Vec<StageCount>,
    pub flows: Vec<Flow>,
}

/// The scenario's network (locations with time zones, resources, deck
/// classes) and the tenant's vehicles by stage and location, with flows.
#[utoipa::path(get, path = "/v1/network", tag = "network",
    responses((status = 200, body = NetworkDoc), (status = 401, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_network(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, Problem> {
    let live = state.live.current();
    let net = &live.network;
    let tenant = caller.tenant.as_str();
    let ids = live.vehicles_of(tenant);
    let summary = live.summary_of(tenant);
    let pool_caps: BTreeMap<usize, u32> = net
        .export_terminals
        .iter()
        .flat_map(|t| [&t.ramp, &t.processing, &t.loading])
        .chain(
            net.import_terminals
                .iter()
                .flat_map(|t| [&t.discharge, &t.certification]),
        )
        .map(|p| (p.resource, p.count))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &NetworkDoc {
            scenario: net.name.clone(),
            tenant: tenant.to_string(),
            role: caller.role.to_string(),
            as_of: live.as_of,
            plan_version: live.version,
            policy: live.plan.policy.clone(),
            locations: net
                .locations
                .iter()
                .map(|l| LocationDoc {
                    id: l.id.clone(),
                    name: l.name.clone(),
                    kind: l.kind.name().to_string(),
                    tz: l.tz.iana_name().unwrap_or("UTC").to_string(),
                })
                .collect(),
            resources: net
                .resources
                .iter()
                .enumerate()
                .map(|(k, r)| ResourceDoc {
                    id: r.id.clone(),
                    kind: r.kind.name().to_string(),
                    location: net.locations[r.location].id.clone(),
                    capacity: pool_caps.get(&k).copied().unwrap_or(r.calendar.full),
                })
                .collect(),
            deck_classes: net
                .deck_classes
                .iter()
                .map(|d| DeckDoc {
                    id: d.id.clone(),
                    clearance_mm: d.clearance_mm,
                })
                .collect(),
            n_voyages: net.voyages.len(),
            n_vehicles: ids.len(),
            n_alerts: live.alerts_of(tenant).len(),
            by_stage: summary
                .by_stage
                .into_iter()
                .map(|(s, l, n)| StageCount {
                    stage: s.name().to_string(),
                    location: l,
                    n_vehicles: n,
                })
                .collect(),
            flows: summary
                .flows
                .into_iter()
                .map(|(from, to, d, p)| Flow {
                    from,
                    to,
                    n_done: d,
                    n_planned: p,
                })
                .collect(),
        },
    ))
}

// ---------------------------------------------------------------- replan

/// Answer of a re-plan request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplanAccepted {
    /// The plan version current when the request was taken; a newer one
    /// follows (watch `/v1/stream` or `plan_version`).
    pub plan_version: u64,
    /// Whether a planner is attached to this server (`takt demo`); without
    /// one the request waits until one attaches.
    pub planner_attached: bool,
}

/// Ask the planner for a new plan now (planner role).
#[utoipa::path(post, path = "/v1/replan", tag = "plan",
    responses((status = 202, body = ReplanAccepted), (status = 401, body = Problem), (status = 403, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn replan(State(state): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    caller.require(Role::Planner)?;
    state.live.request_replan();
    let mut r = json_response(
        StatusCode::ACCEPTED,
        &ReplanAccepted {
            plan_version: state.live.current().version,
            planner_attached: state.planner_attached,
        },
    );
    r.extensions_mut()
        .insert(crate::auth::AuditDetail("re-plan requested".into()));
    Ok(r)
}
