//! Where time is lost: the insight engine over a milestone log.
//!
//! [`analyze`] takes milestones ([`takt_core::event::Milestone`]), the
//! compiled [`Network`] they ran on and [`Options`] (tenant, window,
//! lateness threshold) and returns a [`Report`]: dwell per stage and
//! location (p50/p90/p95, vehicle-hours) with breakdowns by model, tenant,
//! inland carrier, vessel service and local shift; waiting attributed to
//! the resource that caused it, ranked ([`Report::bottlenecks`]), with the
//! local hours of the week when it happens; planned versus actual per
//! milestone; rolls and their causes; weekly trends. [`html::render`] turns
//! a report into one self-contained HTML page, [`ocel::export`] turns the
//! log into an OCEL 2.0 object-centric event log.
//!
//! Pure: no I/O, no clock. The result does not depend on the order of the
//! events, and an event repeated with the same `event_id` counts once.
//!
//! # How waiting is attributed
//!
//! Milestones mark the *start* of stages. The end of a stage is its start
//! plus its service minutes from the network (ramp, loading and discharge
//! `minutes_per_vehicle`, the model's `processing_minutes`, its
//! certification minutes), or, for stays, the next milestone. Two ends are
//! not in the log and are estimated: an inland load *arrives* at the first
//! `port_arrived` of the vehicles that rode it, and a vessel *berths* at a
//! Japanese port at the first `discharged` of that voyage there and is
//! ready at a US port at the first `loading_started` there. Per vehicle,
//! each gap between one stage's end and the next stage's start is waiting,
//! attributed as follows (holds inside a gap are taken out and reported by
//! reason):
//!
//! | gap | resource | kind |
//! |---|---|---|
//! | released → first scheduled departure of the service it rode | the service | schedule |
//! | that departure → `inland_departed` | the service (departure full) | departure |
//! | load arrival → `port_arrived` | `PORT/ramp` | queue |
//! | ramp end → `processing_started` | `PORT/processing` (this includes waiting for a yard slot) | queue |
//! | `yard_staged` → vessel ready | the voyage | schedule |
//! | roll in the yard → vessel ready | `PORT/loading` (not loaded before departure) or `PORT/processing` (staged after cutoff) | roll |
//! | vessel ready (or staged, if later) → `loading_started` | `PORT/loading` | queue |
//! | berth → `discharged` | `PORT/discharge` | queue |
//! | discharge end → `certification_started` | `PORT/certification` | queue |
//! | certification end → first delivery departure | `PORT/delivery` | schedule |
//! | that departure → `delivery_departed` | `PORT/delivery` (trucks full) | departure |
//!
//! The bottleneck ranking ([`Report::bottlenecks`]) holds the queue,
//! departure and roll kinds: waiting a capacity caused. Waiting for a
//! timetable is reported apart ([`Report::schedule_waits`]). Queue waiting
//! is split into the minutes the resource's calendar was closed and the
//! minutes it was open but busy (or down).

pub mod html;
pub mod ocel;
pub mod stats;

use jiff::tz::TimeZone;
use serde::Serialize;
use stats::{HOURS_OF_WEEK, Quantiles, round2, round4};
use std::collections::{BTreeMap, HashMap};
use takt_core::Minute;
use takt_core::event::Milestone;
use takt_core::network::{Calendar, Network};
use takt_core::plan::Stage;

/// Why an event log cannot be analysed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InsightError {
    #[error("event {event_id}: model `{model}` is not in scenario `{scenario}`")]
    UnknownModel {
        event_id: String,
        model: String,
        scenario: String,
    },
    #[error("event {event_id}: location `{location}` is not in scenario `{scenario}`")]
    UnknownLocation {
        event_id: String,
        location: String,
        scenario: String,
    },
    #[error("unknown tenant `{tenant}` (known: {known})")]
    UnknownTenant { tenant: String, known: String },
    #[error("empty window: from {from} is not before to {to}")]
    EmptyWindow { from: Minute, to: Minute },
}

/// What to analyse.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Only this tenant's vehicles.
    pub tenant: Option<String>,
    /// Only figures for intervals that end at or after this instant.
    pub from: Option<Minute>,
    /// Events at or after this instant are ignored, as if the log stopped there.
    pub to: Option<Minute>,
    /// The instant the log is read at: a stage counts once its end is at or
    /// before it. Defaults to `to`, else the latest event.
    pub as_of: Option<Minute>,
    /// A milestone more than this many minutes after (before) its plan is late (early).
    pub late_threshold_minutes: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tenant: None,
            from: None,
            to: None,
            as_of: None,
            late_threshold_minutes: DEFAULT_LATE_THRESHOLD_MINUTES,
        }
    }
}

/// 24 hours.
pub const DEFAULT_LATE_THRESHOLD_MINUTES: i64 = 24 * 60;

/// Milestones `routed` plans, in journey order.
pub const PLANNED_MILESTONES: [&str; 5] = [
    "inland_departed",
    "port_arrived",
    "yard_staged",
    "vessel_departed",
    "discharged",
];

/// Local shifts dwell is broken down by: `(name, first hour, end hour)`.
pub const SHIFTS: [(&str, u32, u32); 3] = [
    ("night 22-06", 22, 6),
    ("day 06-14", 6, 14),
    ("evening 14-22", 14, 22),
];

/// Dwell of one stage at one location.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DwellRow {
    pub stage: String,
    pub location: String,
    #[serde(flatten)]
    pub hours: Quantiles,
}

/// Dwell of one stage at one location for one value of a dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakdownRow {
    /// `model`, `tenant`, `carrier`, `service` or `shift`.
    pub dimension: String,
    pub value: String,
    pub stage: String,
    pub location: String,
    #[serde(flatten)]
    pub hours: Quantiles,
}

/// Waiting one resource caused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bottleneck {
    /// 1 for the resource that caused the most waiting.
    pub rank: usize,
    /// Resource id: `PORT/kind`, an inland service id or a voyage id.
    pub resource: String,
    pub location: String,
    /// `queue`, `departure`, `roll` or `schedule` (see the crate docs).
    pub kind: String,
    pub waiting_vehicle_hours: f64,
    /// Of which the resource's calendar was closed (queues only).
    pub closed_vehicle_hours: f64,
    /// Waits longer than a minute, per vehicle, hours.
    pub wait_hours: Quantiles,
    /// IANA zone of the location; hours of the week are local there.
    pub time_zone: String,
    /// Local hours of the week with the most waiting, e.g. `Tue 14:00`.
    pub peak_hours: Vec<String>,
    /// Vehicle-hours of waiting per local hour of the week, Monday 00:00 first (168 values).
    pub waiting_by_hour_of_week: Vec<f64>,
}

/// Hold time by reason and location.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldRow {
    pub reason: String,
    pub location: String,
    pub n_holds: usize,
    pub vehicle_hours: f64,
}

/// Plan versus actual for one milestone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adherence {
    pub milestone: String,
    pub n: usize,
    pub early: usize,
    pub on_time: usize,
    pub late: usize,
    pub on_time_rate: f64,
    /// Actual minus planned, hours (positive: late).
    pub deviation_hours_mean: f64,
    pub deviation_hours_p50: f64,
    pub deviation_hours_p90: f64,
}

/// One vehicle's milestone far from its plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deviation {
    pub vin: String,
    pub model: String,
    pub milestone: String,
    pub location: String,
    pub planned: Minute,
    pub actual: Minute,
    pub deviation_hours: f64,
}

/// Rolls for one cause at one port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollRow {
    pub reason: String,
    pub location: String,
    /// Stage the vehicle was in when rolled.
    pub stage: String,
    pub n_rolls: usize,
    /// Sum over rolls of the planned departure of the next route minus
    /// that of the route rolled from.
    pub delay_vehicle_hours: f64,
}

/// Rolls: vehicles that missed the voyage they were routed on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rolls {
    pub n_rolls: usize,
    pub n_vehicles: usize,
    pub by_cause: Vec<RollRow>,
}

/// One week of trends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Week {
    /// Start of the week (UTC).
    pub week_start: Minute,
    pub released: usize,
    pub delivered: usize,
    pub rolls: usize,
    /// Waiting caused by capacity (the bottleneck kinds), ending in the week.
    pub waiting_vehicle_hours: f64,
    /// Release to delivery, days, vehicles delivered in the week.
    pub lead_time_days_p50: f64,
    /// Per planned milestone: share on time (within the threshold) of those that happened in the week.
    pub on_time_rate: BTreeMap<String, f64>,
}

/// Start-to-start time between consecutive journey milestones of a
/// vehicle: what process-mining tools call the waiting time between
/// consecutive activities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub n: usize,
    pub mean_hours: f64,
    pub p50_hours: f64,
}

/// The insight report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub tenant: Option<String>,
    pub from: Option<Minute>,
    pub to: Option<Minute>,
    pub as_of: Minute,
    pub late_threshold_hours: f64,
    pub n_events: usize,
    pub n_vehicles: usize,
    /// Per stage and location: hours from the end of the previous stage to
    /// the end of this one (waiting for the stage plus the stage itself),
    /// the definition of `summary.json`'s `dwell_hours`.
    pub dwell_hours: Vec<DwellRow>,
    /// The same per stage (all locations).
    pub dwell_hours_by_stage: Vec<DwellRow>,
    pub dwell_breakdown: Vec<BreakdownRow>,
    /// Waiting caused by capacity, most vehicle-hours first.
    pub bottlenecks: Vec<Bottleneck>,
    /// Waiting for a timetable (departures, vessel berthing).
    pub schedule_waits: Vec<Bottleneck>,
    pub holds: Vec<HoldRow>,
    pub plan_vs_actual: Vec<Adherence>,
    /// The latest milestones against plan, worst first (at most 20).
    pub late_milestones: Vec<Deviation>,
    pub rolls: Rolls,
    pub weekly: Vec<Week>,
    pub transitions: Vec<Transition>,
}

/// Index of a journey milestone in [`takt_core::event::MILESTONES`].
fn journey_index(name: &str) -> Option<usize> {
    takt_core::event::MILESTONES
        .iter()
        .position(|(m, _)| *m == name)
}

const RELEASED: usize = 0;
const INLAND_DEPARTED: usize = 1;
const PORT_ARRIVED: usize = 2;
const PROCESSING_STARTED: usize = 3;
const YARD_STAGED: usize = 4;
const LOADING_STARTED: usize = 5;
const VESSEL_DEPARTED: usize = 6;
const DISCHARGED: usize = 7;
const CERTIFICATION_STARTED: usize = 8;
const DELIVERY_DEPARTED: usize = 9;
const DELIVERED: usize = 10;
const N_JOURNEY: usize = 11;

/// Sort rank of a milestone among events at the same minute: journey order,
/// extras after the journey milestone they follow.
fn rank(name: &str) -> usize {
    match journey_index(name) {
        Some(i) => 2 * i,
        None => match name {
            "routed" => 1,
            "hold_placed" | "hold_released" => 2 * PORT_ARRIVED + 1,
            "rolled" => 2 * YARD_STAGED + 1,
            _ => 2 * CERTIFICATION_STARTED + 1,
        },
    }
}

/// A vehicle's events in order and its first journey milestones.
struct Vehicle<'a> {
    events: Vec<&'a Milestone>,
    model: usize,
    first: [Option<&'a Milestone>; N_JOURNEY],
}

/// One week's counts while reading.
#[derive(Default)]
struct WeekAcc {
    released: usize,
    delivered: usize,
    rolls: usize,
    waiting: f64,
    lead: Vec<f64>,
    on_time: BTreeMap<&'static str, (usize, usize)>,
}

/// The week `w`, growing the list.
fn week_mut(weeks: &mut Vec<WeekAcc>, w: usize) -> &mut WeekAcc {
    if weeks.len() <= w {
        weeks.resize_with(w + 1, WeekAcc::default);
    }
    &mut weeks[w]
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            location: String::new(),
            tz_index: 0,
            kind: "queue",
            calendar: None,
            waits: Vec::new(),
            total: 0.0,
            closed: 0.0,
            by_hour: Box::new([0.0; HOURS_OF_WEEK]),
        }
    }
}

impl<'a> Vehicle<'a> {
    fn at(&self, i: usize) -> Option<Minute> {
        self.first[i].map(|e| e.at)
    }
}

/// Waiting at one resource.
struct Acc {
    location: String,
    tz_index: usize,
    kind: &'static str,
    calendar: Option<usize>,
    waits: Vec<f64>,
    total: f64,
    closed: f64,
    by_hour: Box<[f64; HOURS_OF_WEEK]>,
}

struct Ctx<'n> {
    loc: HashMap<&'n str, usize>,
    res: HashMap<&'n str, usize>,
    from: Option<Minute>,
    as_of: Minute,
}

impl Ctx<'_> {
    fn counts(&self, end: Minute) -> bool {
        end <= self.as_of && self.from.is_none_or(|f| end >= f)
    }
}

/// Minutes of `[a, b)` during which `cal` has no server working.
fn closed_minutes(cal: &Calendar, a: Minute, b: Minute) -> i64 {
    if cal.always_open || b <= a {
        return 0;
    }
    let mut open = 0;
    let mut i = cal.windows.partition_point(|w| w.1 <= a);
    while let Some(&(s, e, n)) = cal.windows.get(i) {
        if s >= b {
            break;
        }
        if n > 0 {
            open += e.min(b).since(s.max(a)).max(0);
        }
        i += 1;
    }
    b.since(a) - open
}

/// Analyses a milestone log on the network it ran on.
pub fn analyze(
    events: &[Milestone],
    net: &Network,
    opts: &Options,
) -> Result<Report, InsightError> {
    if let (Some(from), Some(to)) = (opts.from, opts.to)
        && from >= to
    {
        return Err(InsightError::EmptyWindow { from, to });
    }
    if let Some(t) = &opts.tenant
        && net.tenant_index(t).is_none()
    {
        return Err(InsightError::UnknownTenant {
            tenant: t.clone(),
            known: net
                .tenants
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let loc: HashMap<&str, usize> = net
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i))
        .collect();
    let res: HashMap<&str, usize> = net
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let models: HashMap<&str, usize> = net
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let inland: HashMap<&str, usize> = net
        .inland
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let voyages: HashMap<&str, usize> = net
        .voyages
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.as_str(), i))
        .collect();

    // Select, validate and group by VIN; duplicates by event id count once.
    let mut by_vin: HashMap<&str, Vec<&Milestone>> = HashMap::new();
    let mut latest = None::<Minute>;
    for e in events {
        if opts.tenant.as_ref().is_some_and(|t| *t != e.tenant) {
            continue;
        }
        if opts.to.is_some_and(|to| e.at >= to) {
            continue;
        }
        if !models.contains_key(e.model.as_str()) {
            return Err(InsightError::UnknownModel {
                event_id: e.event_id.clone(),
                model: e.model.clone(),
                scenario: net.name.clone(),
            });
        }
        if !loc.contains_key(e.location.as_str()) {
            return Err(InsightError::UnknownLocation {
                event_id: e.event_id.clone(),
                location: e.location.clone(),
                scenario: net.name.clone(),
            });
        }
        latest = Some(latest.map_or(e.at, |l| l.max(e.at)));
        by_vin.entry(e.vin.as_str()).or_default().push(e);
    }
    let as_of = opts.as_of.or(opts.to).or(latest).unwrap_or(net.start);
    let mut vins: Vec<&str> = by_vin.keys().copied().collect();
    vins.sort_unstable();
    let mut n_events = 0;
    let vehicles: Vec<Vehicle> = vins
        .iter()
        .map(|vin| {
            let mut evs = by_vin.remove(vin).expect("key");
            evs.sort_by(|a, b| {
                (a.at, rank(&a.milestone), &a.event_id).cmp(&(
                    b.at,
                    rank(&b.milestone),
                    &b.event_id,
                ))
            });
            evs.dedup_by(|a, b| a.event_id == b.event_id);
            n_events += evs.len();
            let mut first = [None; N_JOURNEY];
            for e in &evs {
                if let Some(i) = journey_index(&e.milestone)
                    && first[i].is_none()
                {
                    first[i] = Some(*e);
                }
            }
            Vehicle {
                model: models[evs[0].model.as_str()],
                events: evs,
                first,
            }
        })
        .collect();
    let ctx = Ctx {
        loc,
        res,
        from: opts.from,
        as_of,
    };

    // Estimated instants the log does not carry: inland load arrival
    // (first unload of the load), vessel ready at a US port (first
    // loading), vessel berthed in Japan (first discharge).
    let mut load_arrival: HashMap<(&str, Minute), Minute> = HashMap::new();
    let mut vessel_ready: HashMap<(&str, &str), Minute> = HashMap::new();
    let mut vessel_berth: HashMap<(&str, &str), Minute> = HashMap::new();
    fn keep_min<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Minute>, k: K, t: Minute) {
        m.entry(k).and_modify(|x| *x = (*x).min(t)).or_insert(t);
    }
    for v in &vehicles {
        if let (Some(d), Some(p)) = (v.first[INLAND_DEPARTED], v.first[PORT_ARRIVED]) {
            keep_min(&mut load_arrival, (d.resource.as_str(), d.at), p.at);
        }
        if let Some(l) = v.first[LOADING_STARTED]
            && let Some(voy) = &l.voyage
        {
            keep_min(&mut vessel_ready, (voy.as_str(), l.location.as_str()), l.at);
        }
        if let Some(d) = v.first[DISCHARGED]
            && let Some(voy) = &d.voyage
        {
            keep_min(&mut vessel_berth, (voy.as_str(), d.location.as_str()), d.at);
        }
    }

    let mut dwell: BTreeMap<(Stage, &str), Vec<f64>> = BTreeMap::new();
    let mut dwell_stage: BTreeMap<Stage, Vec<f64>> = BTreeMap::new();
    let mut breakdown: BTreeMap<(&'static str, String, Stage, &str), Vec<f64>> = BTreeMap::new();
    let mut waits: BTreeMap<String, Acc> = BTreeMap::new();
    let mut schedule: BTreeMap<String, Acc> = BTreeMap::new();
    let mut holds: BTreeMap<(String, String), (usize, f64)> = BTreeMap::new();
    let mut deviations: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut adherence: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    let mut late: Vec<Deviation> = Vec::new();
    let mut rolls: BTreeMap<(String, String, String), (usize, f64)> = BTreeMap::new();
    let (mut n_rolls, mut n_rolled) = (0, 0);
    let mut transitions: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
    let week0 = opts.from.unwrap_or(net.start).min(net.start);
    let week_of = |t: Minute| (t.since(week0).max(0) / (7 * Minute::DAY)) as usize;
    let mut weeks: Vec<WeekAcc> = Vec::new();
    let threshold = opts.late_threshold_minutes;

    for v in &vehicles {
        let model = &net.models[v.model];
        let at = |i: usize| v.at(i);
        let location_of = |i: usize| v.first[i].map(|e| e.location.as_str()).unwrap_or("");
        let export = v.first[PORT_ARRIVED]
            .and_then(|e| net.export_terminal_at(ctx.loc[e.location.as_str()]))
            .map(|t| &net.export_terminals[t]);
        let import = v.first[DISCHARGED]
            .and_then(|e| net.import_terminal_at(ctx.loc[e.location.as_str()]))
            .map(|t| &net.import_terminals[t]);
        let inland_svc = v.first[INLAND_DEPARTED].and_then(|e| inland.get(e.resource.as_str()));
        let final_voyage = v.first[LOADING_STARTED].and_then(|e| e.voyage.as_deref());
        let carrier = inland_svc.map_or("-", |&s| net.inland[s].carrier.as_str());
        let service = final_voyage
            .and_then(|id| voyages.get(id))
            .map_or("-", |&i| net.voyages[i].service.as_str());

        // Hold intervals: (from, to, reason, location).
        let mut hold_iv: Vec<(Minute, Minute, &str, &str)> = Vec::new();
        let mut open: HashMap<&str, (Minute, &str, &str)> = HashMap::new();
        for e in &v.events {
            match e.milestone.as_str() {
                "hold_placed" | "cert_hold_placed" => {
                    let kind = if e.milestone == "hold_placed" {
                        "hold"
                    } else {
                        "cert"
                    };
                    open.insert(
                        kind,
                        (e.at, e.reason.as_deref().unwrap_or("unknown"), &e.location),
                    );
                }
                "hold_released" | "cert_hold_released" => {
                    let kind = if e.milestone == "hold_released" {
                        "hold"
                    } else {
                        "cert"
                    };
                    if let Some((a, r, l)) = open.remove(kind) {
                        hold_iv.push((a, e.at, r, l));
                    }
                }
                _ => {}
            }
        }
        // Holds still open are counted up to the time they are read at.
        for (a, r, l) in open.into_values() {
            hold_iv.push((a, as_of, r, l));
        }
        for &(a, b, r, l) in &hold_iv {
            if ctx.counts(b) || b == as_of {
                let h = holds.entry((r.to_string(), l.to_string())).or_default();
                h.0 += 1;
                h.1 += b.hours_since(a);
            }
        }
        let held = |a: Minute, b: Minute| -> i64 {
            hold_iv
                .iter()
                .map(|&(s, e, _, _)| e.min(b).since(s.max(a)).max(0))
                .sum()
        };

        // Stage ends (see the crate docs).
        let ramp_min = export.map_or(0, |t| t.ramp.minutes_per_vehicle);
        let load_min = export.map_or(0, |t| t.loading.minutes_per_vehicle);
        let disch_min = import.map_or(0, |t| t.discharge.minutes_per_vehicle);
        let cert_min = import.map_or(0, |t| {
            model.certification_minutes(t.certification.minutes_per_vehicle)
        });
        let arrival = v.first[INLAND_DEPARTED]
            .and_then(|d| load_arrival.get(&(d.resource.as_str(), d.at)).copied());
        let ready_at_port = final_voyage
            .and_then(|voy| vessel_ready.get(&(voy, location_of(LOADING_STARTED))))
            .copied();
        let berth = v.first[DISCHARGED]
            .and_then(|d| d.voyage.as_deref().map(|voy| (voy, d.location.as_str())))
            .and_then(|k| vessel_berth.get(&k))
            .copied();
        let ends: [(Stage, Option<Minute>, &str); 10] = [
            (Stage::Released, at(INLAND_DEPARTED), location_of(RELEASED)),
            (Stage::Inland, arrival, location_of(INLAND_DEPARTED)),
            (
                Stage::PortArrival,
                at(PORT_ARRIVED).map(|t| t.plus(ramp_min)),
                location_of(PORT_ARRIVED),
            ),
            (
                Stage::Processing,
                at(PROCESSING_STARTED).map(|t| t.plus(model.processing_minutes)),
                location_of(PROCESSING_STARTED),
            ),
            (Stage::Yard, at(LOADING_STARTED), location_of(YARD_STAGED)),
            (
                Stage::Loading,
                at(LOADING_STARTED).map(|t| t.plus(load_min)),
                location_of(LOADING_STARTED),
            ),
            (Stage::Voyage, berth, location_of(VESSEL_DEPARTED)),
            (
                Stage::Discharge,
                at(DISCHARGED).map(|t| t.plus(disch_min)),
                location_of(DISCHARGED),
            ),
            (
                Stage::Certification,
                at(CERTIFICATION_STARTED).map(|t| t.plus(cert_min)),
                location_of(CERTIFICATION_STARTED),
            ),
            (
                Stage::Delivery,
                at(DELIVERED),
                location_of(DELIVERY_DEPARTED),
            ),
        ];
        if let Some(mut prev) = at(RELEASED) {
            for &(stage, end, location) in &ends {
                let Some(end) = end.filter(|&e| e <= as_of) else {
                    break;
                };
                if !ctx.counts(end) {
                    prev = end;
                    continue;
                }
                let h = end.hours_since(prev);
                dwell.entry((stage, location)).or_default().push(h);
                dwell_stage.entry(stage).or_default().push(h);
                let tz = &net.locations[ctx.loc[location]].tz;
                let hour = stats::local_hour(tz, prev);
                let shift = SHIFTS
                    .iter()
                    .find(|&&(_, a, b)| {
                        if a < b {
                            hour >= a && hour < b
                        } else {
                            hour >= a || hour < b
                        }
                    })
                    .map_or("-", |s| s.0);
                let tenant = v.events[0].tenant.as_str();
                for (dim, value) in [
                    ("model", model.id.as_str()),
                    ("tenant", tenant),
                    ("carrier", carrier),
                    ("service", service),
                    ("shift", shift),
                ] {
                    breakdown
                        .entry((dim, value.to_string(), stage, location))
                        .or_default()
                        .push(h);
                }
                prev = end;
            }
        }

        // Waiting, attributed.
        let wait = |into: &mut BTreeMap<String, Acc>,
                    resource: &str,
                    location: &str,
                    kind: &'static str,
                    a: Minute,
                    b: Minute| {
            if b <= a || !ctx.counts(b) {
                return;
            }
            let minutes = b.since(a) - held(a, b);
            if minutes <= 0 {
                return;
            }
            let li = ctx.loc[location];
            let acc = into.entry(resource.to_string()).or_insert_with(|| Acc {
                location: location.to_string(),
                tz_index: li,
                kind,
                calendar: ctx.res.get(resource).copied(),
                ..Acc::default()
            });
            let hours = minutes as f64 / 60.0;
            acc.waits.push(hours);
            acc.total += hours;
            if kind == "queue"
                && let Some(r) = acc.calendar
            {
                let cal = &net.resources[r].calendar;
                let in_holds: i64 = hold_iv
                    .iter()
                    .map(|&(s, e, _, _)| closed_minutes(cal, s.max(a), e.min(b)))
                    .sum();
                acc.closed += (closed_minutes(cal, a, b) - in_holds) as f64 / 60.0;
            }
            let tz = &net.locations[li].tz;
            stats::spread_over_week(tz, a, b, 1.0, &mut acc.by_hour);
            for &(s, e, _, _) in &hold_iv {
                let (s, e) = (s.max(a), e.min(b));
                if s < e {
                    stats::spread_over_week(tz, s, e, -1.0, &mut acc.by_hour);
                }
            }
        };
        // Capacity waiting also goes to the week it ends in.
        let mut add = |into: &mut BTreeMap<String, Acc>,
                       resource: &str,
                       location: &str,
                       kind: &'static str,
                       a: Minute,
                       b: Minute| {
            let before = into.get(resource).map_or(0.0, |x| x.total);
            wait(into, resource, location, kind, a, b);
            let after = into.get(resource).map_or(0.0, |x| x.total);
            if kind != "schedule" && after > before {
                week_mut(&mut weeks, week_of(b)).waiting += after - before;
            }
        };
        // Plant: the departure.
        if let (Some(r), Some(d), Some(&s)) = (at(RELEASED), v.first[INLAND_DEPARTED], inland_svc) {
            let deps = &net.inland[s].departures;
            let f = deps
                .get(deps.partition_point(|&x| x < r))
                .copied()
                .unwrap_or(d.at)
                .min(d.at);
            let plant = location_of(RELEASED);
            add(&mut schedule, &d.resource, plant, "schedule", r, f);
            add(&mut waits, &d.resource, plant, "departure", f, d.at);
        }
        let port = location_of(PORT_ARRIVED);
        if let (Some(a), Some(p)) = (arrival, at(PORT_ARRIVED)) {
            add(&mut waits, &format!("{port}/ramp"), port, "queue", a, p);
        }
        if let (Some(p), Some(s)) = (at(PORT_ARRIVED), at(PROCESSING_STARTED)) {
            add(
                &mut waits,
                &format!("{port}/processing"),
                port,
                "queue",
                p.plus(ramp_min),
                s,
            );
        }
        if let (Some(staged), Some(l)) = (at(YARD_STAGED), at(LOADING_STARTED)) {
            let yard_port = location_of(YARD_STAGED);
            let ready = ready_at_port.unwrap_or(l).max(staged);
            let roll = v
                .events
                .iter()
                .find(|e| e.milestone == "rolled" && e.at >= staged && e.at < ready);
            let until = roll.map_or(ready, |r| r.at);
            let voyage_waited = roll
                .and_then(|r| r.voyage.as_deref())
                .or(final_voyage)
                .unwrap_or("-");
            add(
                &mut schedule,
                voyage_waited,
                yard_port,
                "schedule",
                staged,
                until,
            );
            if let Some(r) = roll {
                let cause = if r.reason.as_deref() == Some("not loaded before departure") {
                    "loading"
                } else {
                    "processing"
                };
                add(
                    &mut waits,
                    &format!("{yard_port}/{cause}"),
                    yard_port,
                    "roll",
                    r.at,
                    ready,
                );
            }
            add(
                &mut waits,
                &format!("{yard_port}/loading"),
                yard_port,
                "queue",
                ready,
                l,
            );
        }
        let jp = location_of(DISCHARGED);
        if let (Some(b), Some(d)) = (berth, at(DISCHARGED)) {
            add(&mut waits, &format!("{jp}/discharge"), jp, "queue", b, d);
        }
        if let (Some(d), Some(c)) = (at(DISCHARGED), at(CERTIFICATION_STARTED)) {
            add(
                &mut waits,
                &format!("{jp}/certification"),
                jp,
                "queue",
                d.plus(disch_min),
                c,
            );
        }
        if let (Some(c), Some(d), Some(it)) = (
            at(CERTIFICATION_STARTED),
            v.first[DELIVERY_DEPARTED],
            import,
        ) {
            let mut ready = c.plus(cert_min);
            // A certification hold after the work delays readiness.
            for &(s, e, _, _) in &hold_iv {
                if s >= ready.plus(-1) && s <= d.at {
                    ready = ready.max(e);
                }
            }
            let deps = &it.delivery_departures;
            let f = deps
                .get(deps.partition_point(|&x| x < ready))
                .copied()
                .unwrap_or(d.at)
                .min(d.at);
            add(&mut schedule, &d.resource, jp, "schedule", ready, f);
            add(&mut waits, &d.resource, jp, "departure", f, d.at);
        }
        // Weekly counts and lead time.
        if let Some(r) = at(RELEASED).filter(|&t| ctx.counts(t)) {
            week_mut(&mut weeks, week_of(r)).released += 1;
        }
        if let (Some(r), Some(d)) = (at(RELEASED), at(DELIVERED).filter(|&t| ctx.counts(t))) {
            let w = week_mut(&mut weeks, week_of(d));
            w.delivered += 1;
            w.lead.push(d.since(r) as f64 / Minute::DAY as f64);
        }

        // Plan versus actual: the first route is the promise.
        let mut routes = v.events.iter().filter(|e| e.milestone == "routed");
        if let Some(plan) = routes.next().and_then(|e| e.planned.as_ref()) {
            for name in PLANNED_MILESTONES {
                let (Some(&planned), Some(actual)) = (
                    plan.get(name),
                    v.first[journey_index(name).expect("journey")],
                ) else {
                    continue;
                };
                if !ctx.counts(actual.at) {
                    continue;
                }
                let dev = actual.at.since(planned);
                let h = dev as f64 / 60.0;
                deviations.entry(name).or_default().push(h);
                let a = adherence.entry(name).or_default();
                let class = if dev < -threshold {
                    0
                } else if dev > threshold {
                    2
                } else {
                    1
                };
                a[class] += 1;
                let w = week_mut(&mut weeks, week_of(actual.at))
                    .on_time
                    .entry(name)
                    .or_default();
                w.1 += 1;
                if class == 1 {
                    w.0 += 1;
                }
                if class == 2 {
                    late.push(Deviation {
                        vin: actual.vin.clone(),
                        model: actual.model.clone(),
                        milestone: name.to_string(),
                        location: actual.location.clone(),
                        planned,
                        actual: actual.at,
                        deviation_hours: round2(h),
                    });
                }
            }
        }

        // Rolls: the delay is the next route's planned departure minus the rolled route's.
        let mut rolled_here = false;
        let mut last_planned_departure = None;
        let mut pending: Option<(&Milestone, Option<Minute>)> = None;
        for e in &v.events {
            match e.milestone.as_str() {
                "routed" => {
                    let dep = e
                        .planned
                        .as_ref()
                        .and_then(|p| p.get("vessel_departed"))
                        .copied();
                    if let Some((r, before)) = pending.take() {
                        let delay = match (before, dep) {
                            (Some(a), Some(b)) => b.hours_since(a).max(0.0),
                            _ => 0.0,
                        };
                        let row = rolls
                            .entry((
                                r.reason.clone().unwrap_or_else(|| "unknown".into()),
                                r.location.clone(),
                                r.stage.name().to_string(),
                            ))
                            .or_default();
                        row.1 += delay;
                    }
                    last_planned_departure = dep;
                }
                "rolled" if ctx.counts(e.at) => {
                    n_rolls += 1;
                    rolled_here = true;
                    week_mut(&mut weeks, week_of(e.at)).rolls += 1;
                    rolls
                        .entry((
                            e.reason.clone().unwrap_or_else(|| "unknown".into()),
                            e.location.clone(),
                            e.stage.name().to_string(),
                        ))
                        .or_default()
                        .0 += 1;
                    pending = Some((e, last_planned_departure));
                }
                _ => {}
            }
        }
        if rolled_here {
            n_rolled += 1;
        }

        // Start-to-start transitions between consecutive journey milestones.
        let mut prev: Option<(usize, Minute)> = None;
        for e in &v.events {
            let Some(i) = journey_index(&e.milestone) else {
                continue;
            };
            if let Some((pi, pt)) = prev
                && ctx.counts(e.at)
            {
                transitions
                    .entry((pi, i))
                    .or_default()
                    .push(e.at.hours_since(pt));
            }
            prev = Some((i, e.at));
        }
    }

    let dwell_hours = dwell
        .into_iter()
        .map(|((stage, location), mut xs)| DwellRow {
            stage: stage.name().to_string(),
            location: location.to_string(),
            hours: Quantiles::of(&mut xs),
        })
        .collect();
    let dwell_hours_by_stage = dwell_stage
        .into_iter()
        .map(|(stage, mut xs)| DwellRow {
            stage: stage.name().to_string(),
            location: "*".to_string(),
            hours: Quantiles::of(&mut xs),
        })
        .collect();
    let dwell_breakdown = breakdown
        .into_iter()
        .map(|((dim, value, stage, location), mut xs)| BreakdownRow {
            dimension: dim.to_string(),
            value,
            stage: stage.name().to_string(),
            location: location.to_string(),
            hours: Quantiles::of(&mut xs),
        })
        .collect();
    let ranked = |m: BTreeMap<String, Acc>| -> Vec<Bottleneck> {
        let mut list: Vec<Bottleneck> = m
            .into_iter()
            .map(|(resource, mut a)| {
                let mut hours: Vec<usize> = (0..HOURS_OF_WEEK).collect();
                hours.sort_by(|&x, &y| a.by_hour[y].total_cmp(&a.by_hour[x]).then(x.cmp(&y)));
                Bottleneck {
                    rank: 0,
                    resource,
                    location: a.location,
                    kind: a.kind.to_string(),
                    waiting_vehicle_hours: round2(a.total),
                    closed_vehicle_hours: round2(a.closed),
                    wait_hours: Quantiles::of(&mut a.waits),
                    time_zone: net.locations[a.tz_index]
                        .tz
                        .iana_name()
                        .unwrap_or("UTC")
                        .to_string(),
                    peak_hours: hours
                        .iter()
                        .take(3)
                        .filter(|&&h| a.by_hour[h] > 0.0)
                        .map(|&h| stats::hour_of_week_label(h))
                        .collect(),
                    waiting_by_hour_of_week: a.by_hour.iter().map(|&x| round2(x)).collect(),
                }
            })
            .collect();
        list.sort_by(|a, b| {
            b.waiting_vehicle_hours
                .total_cmp(&a.waiting_vehicle_hours)
                .then_with(|| a.resource.cmp(&b.resource))
        });
        for (i, b) in list.iter_mut().enumerate() {
            b.rank = i + 1;
        }
        list
    };
    let plan_vs_actual = PLANNED_MILESTONES
        .iter()
        .filter_map(|&name| {
            let mut xs = deviations.remove(name)?;
            let [early, on_time, late] = adherence.get(name).copied().unwrap_or_default();
            let q = Quantiles::of(&mut xs);
            Some(Adherence {
                milestone: name.to_string(),
                n: q.n,
                early,
                on_time,
                late,
                on_time_rate: round4(on_time as f64 / q.n.max(1) as f64),
                deviation_hours_mean: q.mean,
                deviation_hours_p50: q.p50,
                deviation_hours_p90: q.p90,
            })
        })
        .collect();
    late.sort_by(|a, b| {
        b.deviation_hours
            .total_cmp(&a.deviation_hours)
            .then_with(|| (&a.vin, &a.milestone).cmp(&(&b.vin, &b.milestone)))
    });
    late.truncate(20);
    let mut by_cause: Vec<RollRow> = rolls
        .into_iter()
        .map(|((reason, location, stage), (n, h))| RollRow {
            reason,
            location,
            stage,
            n_rolls: n,
            delay_vehicle_hours: round2(h),
        })
        .filter(|r| r.n_rolls > 0)
        .collect();
    by_cause.sort_by(|a, b| {
        b.n_rolls
            .cmp(&a.n_rolls)
            .then_with(|| a.reason.cmp(&b.reason))
    });
    let weekly = weeks
        .into_iter()
        .enumerate()
        .filter(|(i, _)| {
            let start = week0.plus(*i as i64 * 7 * Minute::DAY);
            start <= as_of && opts.from.is_none_or(|f| start.plus(7 * Minute::DAY) > f)
        })
        .map(|(i, mut w)| {
            w.lead.sort_by(f64::total_cmp);
            Week {
                week_start: week0.plus(i as i64 * 7 * Minute::DAY),
                released: w.released,
                delivered: w.delivered,
                rolls: w.rolls,
                waiting_vehicle_hours: round2(w.waiting),
                lead_time_days_p50: round2(stats::nearest_rank(&w.lead, 0.5)),
                on_time_rate: w
                    .on_time
                    .into_iter()
                    .map(|(k, (ok, n))| (k.to_string(), round4(ok as f64 / n.max(1) as f64)))
                    .collect(),
            }
        })
        .collect();
    let names = takt_core::event::MILESTONES;
    let transitions = transitions
        .into_iter()
        .map(|((a, b), mut xs)| {
            let q = Quantiles::of(&mut xs);
            Transition {
                from: names[a].0.to_string(),
                to: names[b].0.to_string(),
                n: q.n,
                mean_hours: round4(xs.iter().sum::<f64>() / xs.len().max(1) as f64),
                p50_hours: q.p50,
            }
        })
        .collect();
    Ok(Report {
        scenario: net.name.clone(),
        tenant: opts.tenant.clone(),
        from: opts.from,
        to: opts.to,
        as_of,
        late_threshold_hours: round2(threshold as f64 / 60.0),
        n_events,
        n_vehicles: vehicles.len(),
        dwell_hours,
        dwell_hours_by_stage,
        dwell_breakdown,
        bottlenecks: ranked(waits),
        schedule_waits: ranked(schedule),
        holds: holds
            .into_iter()
            .map(|((reason, location), (n, h))| HoldRow {
                reason,
                location,
                n_holds: n,
                vehicle_hours: round2(h),
            })
            .collect(),
        plan_vs_actual,
        late_milestones: late,
        rolls: Rolls {
            n_rolls,
            n_vehicles: n_rolled,
            by_cause,
        },
        weekly,
        transitions,
    })
}

/// Local time of an instant at a location of the network, e.g.
/// `2026-03-02 06:30 PST`; UTC when the location is unknown.
pub fn local_time(net: &Network, location: &str, t: Minute) -> String {
    match net.location_index(location) {
        Some(i) => t.local(&net.locations[i].tz),
        None => t.local(&TimeZone::UTC),
    }
}
