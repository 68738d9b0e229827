//! A scenario compiled for computation: ids resolved to indices, local
//! calendars turned into UTC windows, voyages generated over the horizon.
//!
//! [`Network::compile`] is also where a scenario is validated: every broken
//! reference, zero capacity on a needed flow, bad time zone or bad calendar
//! comes back as a [`ScenarioError`] naming the field path, and, when the
//! scenario's text is given, the line.

use crate::deck::{DEFAULT_SLOTS_PER_LANE, DeckGraph};
use crate::scenario::{
    self, Departures, HoursDist, LocationKind, Mode, Scenario, Servers, Window, WorkPlace,
};
use crate::time::Minute;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

/// Index of a capacity-limited resource in [`Network::resources`].
pub type ResourceIdx = usize;

/// One thing wrong with a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// Field path, e.g. `inland_services[2].to`.
    pub path: String,
    /// 1-based line in the scenario text, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Everything wrong with a scenario; nothing runs while there is any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the scenario has {} error(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Options for compiling a scenario.
#[derive(Debug, Clone, Copy)]
pub struct CompileOptions {
    /// Simulated days; calendars and voyages are generated beyond it so that
    /// vehicles in the pipeline at the end can still be planned.
    pub days: u32,
    /// Multiplies demand and every capacity (servers, slots, units, booked space).
    pub volume_scale: f64,
}

/// Extra days of calendars and voyages generated after the simulated horizon.
pub const PLANNING_TAIL_DAYS: i64 = 150;

#[derive(Debug, Clone)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct LocationInfo {
    pub id: String,
    pub name: String,
    pub kind: LocationKind,
    pub tz: TimeZone,
}

#[derive(Debug, Clone)]
pub struct DeckInfo {
    pub id: String,
    pub clearance_mm: u32,
}

#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub id: String,
    pub tenant: usize,
    pub name: String,
    /// Index into [`Network::plants`].
    pub plant: usize,
    pub wmi: String,
    pub vds: String,
    pub vin_plant_code: char,
    pub model_year: u16,
    pub height_mm: u32,
    /// Footprint over the RT43 unit.
    pub rt43: f64,
    pub inland_class: usize,
    /// Minutes at a US processing station, certification work placed there included.
    pub processing_minutes: i64,
    pub annual_volume: f64,
    pub promised_lead_minutes: i64,
    /// Deck classes the model fits, smallest clearance first.
    pub deck_classes: Vec<usize>,
    pub cert: CertInfo,
}

impl ModelInfo {
    /// Minutes at a certification station in the destination market: the
    /// terminal's inspection minutes (which record the inspection
    /// certificate) plus every checklist item done there. Items done at the
    /// US port are in `processing_minutes` instead.
    pub fn certification_minutes(&self, inspection_minutes: i64) -> i64 {
        inspection_minutes
            + self
                .cert
                .checklist
                .iter()
                .filter(|i| i.at == WorkPlace::DestinationPdi)
                .map(|i| i.minutes)
                .sum::<i64>()
    }
}

/// Id of the checklist item every vehicle ends with.
pub const CERTIFICATE_ITEM: &str = "inspection_certificate";

/// One item of a vehicle's certification checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistItem {
    /// `marking`, `fix:ID`, `new_vehicle_inspection` or `inspection_certificate`.
    pub id: String,
    pub at: WorkPlace,
    pub minutes: i64,
}

/// Certification rule of a model, compiled.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Index into [`Network::cert_routes`].
    pub route: usize,
    /// Start of the approval day in the route's time zone; `None`: not approved.
    pub approved_from: Option<Minute>,
    /// What each vehicle needs, in the order it is done: items at the US
    /// port first, then in the destination market, the certificate last.
    pub checklist: Vec<ChecklistItem>,
    /// Units per calendar year (in the certifying port's time zone).
    pub annual_cap: Option<u32>,
}

/// A certification route, compiled.
#[derive(Debug, Clone)]
pub struct CertRouteInfo {
    pub id: String,
    pub name: String,
    pub marking_required: bool,
    pub new_vehicle_inspection: bool,
    pub annual_cap_per_type: Option<u32>,
}

/// A pool of identical servers with a calendar, in UTC.
#[derive(Debug, Clone)]
pub struct Pool {
    pub resource: ResourceIdx,
    pub count: u32,
    pub minutes_per_vehicle: i64,
    pub calendar: Calendar,
}

/// Working windows in UTC, sorted and non-overlapping; empty with
/// `always_open` means the resource never closes.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    pub always_open: bool,
    pub full: u32,
    /// `(start, end, servers)`.
    pub windows: Vec<(Minute, Minute, u32)>,
}

impl Calendar {
    /// Servers available at minute `t`.
    pub fn servers_at(&self, t: Minute) -> u32 {
        if self.always_open {
            return self.full;
        }
        let i = self.windows.partition_point(|w| w.1 <= t);
        match self.windows.get(i) {
            Some(&(s, _, n)) if s <= t => n,
            _ => 0,
        }
    }

    /// Servers working at minute `t` and the end of the window they work in
    /// (`None` when closed).
    pub fn window_at(&self, t: Minute) -> Option<(u32, Minute)> {
        if self.always_open {
            return Some((self.full, Minute(i64::MAX / 4)));
        }
        let i = self.windows.partition_point(|w| w.1 <= t);
        match self.windows.get(i) {
            Some(&(s, e, n)) if s <= t => Some((n, e)),
            _ => None,
        }
    }

    /// Earliest start `>= t` such that server number `server` (0-based) works
    /// without a break for `minutes`; `None` beyond the calendar.
    pub fn earliest_fit(&self, server: u32, t: Minute, minutes: i64) -> Option<Minute> {
        if self.always_open {
            return (server < self.full).then_some(t);
        }
        let mut i = self.windows.partition_point(|w| w.1 <= t);
        while let Some(&(s, e, n)) = self.windows.get(i) {
            let start = s.max(t);
            if n > server && start.plus(minutes) <= e {
                return Some(start);
            }
            i += 1;
        }
        None
    }
}

#[derive(Debug, Clone)]
pub struct PlantInfo {
    pub location: usize,
    pub yard: ResourceIdx,
    pub yard_slots: u32,
    /// Release windows in UTC, sorted.
    pub release_windows: Vec<(Minute, Minute)>,
}

#[derive(Debug, Clone)]
pub struct InlandInfo {
    pub id: String,
    pub mode: Mode,
    pub carrier: String,
    pub from: usize,
    pub to: usize,
    /// Index into [`Network::export_terminals`].
    pub terminal: usize,
    /// Scheduled departures in UTC, sorted.
    pub departures: Vec<Minute>,
    pub units_per_departure: u32,
    /// Vehicles per unit by inland class (0: cannot carry).
    pub vehicles_per_unit: Vec<u32>,
    pub transit: HoursDist,
    pub cost_per_vehicle_usd: f64,
}

#[derive(Debug, Clone)]
pub struct ExportTerminalInfo {
    pub location: usize,
    pub ramp: Pool,
    pub processing: Pool,
    pub yard: ResourceIdx,
    pub yard_slots: u32,
    pub loading: Pool,
    pub cutoff_minutes: i64,
}

#[derive(Debug, Clone)]
pub struct ImportTerminalInfo {
    pub location: usize,
    pub discharge: Pool,
    pub certification: Pool,
    pub delivery_departures: Vec<Minute>,
    pub trucks_per_departure: u32,
    pub vehicles_per_truck: Vec<u32>,
}

/// One call of a voyage at a port, scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortCall {
    pub location: usize,
    pub berth: Minute,
    pub depart: Minute,
}

#[derive(Debug, Clone)]
pub struct VoyageInfo {
    /// e.g. `WCJ-S-007`.
    pub id: String,
    pub service: String,
    pub calls: Vec<PortCall>,
    /// Calls `0..n_export_calls` are US (loading) ports, the rest Japanese.
    pub n_export_calls: usize,
    /// Booked RT43 by tenant and deck class: `booked[tenant][deck]`.
    pub booked: Vec<Vec<f64>>,
    pub capacity_ceu: u32,
    /// The vessel's deck graph (shared by the service's voyages): where
    /// vehicles are stowed, and so which ones block others at a port.
    pub deck_graph: Arc<DeckGraph>,
}

impl VoyageInfo {
    /// Index of the call at `location`, if the voyage calls there.
    pub fn call_at(&self, location: usize) -> Option<usize> {
        self.calls.iter().position(|c| c.location == location)
    }
}

#[derive(Debug, Clone)]
pub struct DealerInfo {
    pub id: String,
    pub name: String,
    pub tenant: usize,
    pub port: usize,
    /// Index into [`Network::import_terminals`].
    pub terminal: usize,
    pub tz: TimeZone,
    pub delivery_minutes: i64,
    pub weight: f64,
}

/// What kind of capacity a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    PlantYard,
    Ramp,
    Processing,
    Yard,
    Loading,
    Discharge,
    Certification,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::PlantYard => "plant-yard",
            ResourceKind::Ramp => "ramp",
            ResourceKind::Processing => "processing",
            ResourceKind::Yard => "yard",
            ResourceKind::Loading => "loading",
            ResourceKind::Discharge => "discharge",
            ResourceKind::Certification => "certification",
        }
    }
}

/// A capacity that the checker verifies minute by minute.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// `LOCATION/kind`, e.g. `USLGB/processing`.
    pub id: String,
    pub kind: ResourceKind,
    pub location: usize,
    pub calendar: Calendar,
}

/// Ids to indices, built once when a network is compiled, so lookups by
/// id are constant time (plans and event logs name everything by id).
#[derive(Debug, Clone, Default)]
pub struct IdIndex {
    locations: HashMap<String, usize>,
    resources: HashMap<String, usize>,
    models: HashMap<String, usize>,
    tenants: HashMap<String, usize>,
    dealers: HashMap<String, usize>,
    voyages: HashMap<String, usize>,
    inland: HashMap<String, usize>,
}

impl IdIndex {
    fn of(net: &Network) -> IdIndex {
        fn map<'a>(ids: impl Iterator<Item = &'a String>) -> HashMap<String, usize> {
            ids.enumerate().map(|(i, id)| (id.clone(), i)).collect()
        }
        IdIndex {
            locations: map(net.locations.iter().map(|x| &x.id)),
            resources: map(net.resources.iter().map(|x| &x.id)),
            models: map(net.models.iter().map(|x| &x.id)),
            tenants: map(net.tenants.iter().map(|x| &x.id)),
            dealers: map(net.dealers.iter().map(|x| &x.id)),
            voyages: map(net.voyages.iter().map(|x| &x.id)),
            inland: map(net.inland.iter().map(|x| &x.id)),
        }
    }
}

/// The compiled network.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub start: Minute,
    /// End of the simulated horizon.
    pub end: Minute,
    pub rt43_area_m2: f64,
    /// The factor demand and capacities were multiplied by.
    pub volume_scale: f64,
    pub tenants: Vec<TenantInfo>,
    pub locations: Vec<LocationInfo>,
    pub deck_classes: Vec<DeckInfo>,
    pub inland_classes: Vec<String>,
    pub models: Vec<ModelInfo>,
    pub plants: Vec<PlantInfo>,
    pub inland: Vec<InlandInfo>,
    pub export_terminals: Vec<ExportTerminalInfo>,
    pub import_terminals: Vec<ImportTerminalInfo>,
    pub voyages: Vec<VoyageInfo>,
    pub dealers: Vec<DealerInfo>,
    pub resources: Vec<ResourceInfo>,
    pub cert_routes: Vec<CertRouteInfo>,
    pub disruptions: scenario::Disruptions,
    /// Weights of the plan objective.
    pub objective: scenario::ObjectiveWeights,
    /// Thresholds of the insight report.
    pub insight: scenario::InsightSettings,
    /// Ids to indices, for the `*_index` lookups.
    pub index: IdIndex,
}

impl Network {
    pub fn location_index(&self, id: &str) -> Option<usize> {
        self.index.locations.get(id).copied()
    }
    pub fn resource_index(&self, id: &str) -> Option<usize> {
        self.index.resources.get(id).copied()
    }
    pub fn model_index(&self, id: &str) -> Option<usize> {
        self.index.models.get(id).copied()
    }
    pub fn tenant_index(&self, id: &str) -> Option<usize> {
        self.index.tenants.get(id).copied()
    }
    pub fn dealer_index(&self, id: &str) -> Option<usize> {
        self.index.dealers.get(id).copied()
    }
    pub fn voyage_index(&self, id: &str) -> Option<usize> {
        self.index.voyages.get(id).copied()
    }
    pub fn inland_index(&self, id: &str) -> Option<usize> {
        self.index.inland.get(id).copied()
    }
    /// Calendar year of an instant in a location's time zone.
    pub fn year_at(&self, location: usize, t: Minute) -> i16 {
        t.timestamp()
            .to_zoned(self.locations[location].tz.clone())
            .year()
    }

    /// Start of a calendar year in a location's time zone.
    pub fn year_start(&self, location: usize, year: i16) -> Minute {
        let date = Date::new(year, 1, 1).expect("year in range");
        at_local(date, Time::midnight(), &self.locations[location].tz)
    }

    pub fn export_terminal_at(&self, location: usize) -> Option<usize> {
        self.export_terminals
            .iter()
            .position(|t| t.location == location)
    }
    pub fn import_terminal_at(&self, location: usize) -> Option<usize> {
        self.import_terminals
            .iter()
            .position(|t| t.location == location)
    }

    /// Parses and compiles scenario text; errors carry line numbers.
    pub fn load(
        text: &str,
        options: CompileOptions,
    ) -> Result<(Scenario, Network), ScenarioErrors> {
        let scenario = Scenario::from_toml(text).map_err(|e| {
            ScenarioErrors(vec![ScenarioError {
                path: "(file)".into(),
                line: e.line,
                message: e.message,
            }])
        })?;
        let network = Network::compile(&scenario, options).map_err(|mut errors| {
            for e in &mut errors.0 {
                e.line = scenario::line_of_path(text, &e.path);
            }
            errors
        })?;
        Ok((scenario, network))
    }

    /// Validates and compiles a parsed scenario.
    pub fn compile(s: &Scenario, options: CompileOptions) -> Result<Network, ScenarioErrors> {
        Compiler::new(options).run(s)
    }
}

struct Compiler {
    options: CompileOptions,
    errors: Vec<ScenarioError>,
    start: Minute,
    end: Minute,
    resources: Vec<ResourceInfo>,
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn at_local(date: Date, time: Time, tz: &TimeZone) -> Minute {
    let zoned = date
        .to_datetime(time)
        .to_zoned(tz.clone())
        .expect("date within range");
    Minute::from_timestamp(zoned.timestamp())
}

/// Turns possibly overlapping windows into sorted, disjoint ones. Where
/// windows overlap, the larger server count holds (two overlapping shifts of
/// the same crew do not add up); outside the overlap each keeps its own.
fn merge_windows(raw: Vec<(Minute, Minute, u32)>) -> Vec<(Minute, Minute, u32)> {
    let mut bounds: Vec<Minute> = raw.iter().flat_map(|w| [w.0, w.1]).collect();
    bounds.sort();
    bounds.dedup();
    let mut sorted = raw;
    sorted.sort();
    let mut out: Vec<(Minute, Minute, u32)> = Vec::new();
    let mut first = 0;
    for pair in bounds.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        while first < sorted.len() && sorted[first].1 <= a {
            first += 1;
        }
        let n = sorted[first..]
            .iter()
            .take_while(|w| w.0 <= a)
            .filter(|w| w.1 > a)
            .map(|w| w.2)
            .max()
            .unwrap_or(0);
        if n == 0 {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 == a && last.2 == n => last.1 = b,
            _ => out.push((a, b, n)),
        }
    }
    out
}

fn scale(n: u32, factor: f64) -> u32 {
    if n == 0 {
        0
    } else {
        ((n as f64) * factor).ceil().max(1.0) as u32
    }
}

impl Compiler {
    fn new(options: CompileOptions) -> Self {
        Compiler {
            options,
            errors: Vec::new(),
            start: Minute(0),
            end: Minute(0),
            resources: Vec::new(),
        }
    }

    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ScenarioError {
            path: path.into(),
            line: None,
            message: message.into(),
        });
    }

    /// The deck graph of a vessel service: its drawing, or lanes from its
    /// deck layout, or lanes generated from its booked space. Every deck
    /// class with space booked gets at least as many slots as that space
    /// holds of the smallest model fitting the class, so booked space never
    /// runs out of slots.
    fn deck_graph(
        &mut self,
        path: &str,
        v: &scenario::VesselService,
        decks: &[DeckInfo],
        deck_index: &HashMap<String, usize>,
        models: &[ModelInfo],
        booked: &[Vec<f64>],
    ) -> DeckGraph {
        let vs = self.options.volume_scale;
        let needed: Vec<usize> = (0..decks.len())
            .map(|d| {
                let space: f64 = booked.iter().map(|b| b[d]).sum();
                let smallest = models
                    .iter()
                    .filter(|m| m.height_mm <= decks[d].clearance_mm)
                    .map(|m| m.rt43)
                    .fold(f64::INFINITY, f64::min);
                if space <= 0.0 || !smallest.is_finite() || smallest <= 0.0 {
                    0
                } else {
                    ((space + 1e-9) / smallest).floor() as usize
                }
            })
            .collect();
        let graph = if let Some(drawing) = &v.deck_graph {
            if !v.decks.is_empty() {
                self.err(
                    format!("{path}.decks"),
                    "give either `decks` or `deck_graph`, not both",
                );
            }
            let mut classes = vec![crate::deck::NO_CLASS];
            for (j, id) in drawing.slots.iter().enumerate() {
                match deck_index.get(id) {
                    Some(&d) => classes.push(d),
                    None => {
                        self.err(
                            format!("{path}.deck_graph.slots[{j}]"),
                            format!("unknown deck class `{id}`"),
                        );
                        classes.push(0);
                    }
                }
            }
            let edges = drawing.edges.iter().map(|e| (e[0], e[1])).collect();
            match DeckGraph::new(classes, edges, true) {
                Ok(g) => Some(g),
                Err(e) => {
                    self.err(format!("{path}.deck_graph"), e);
                    None
                }
            }
        } else if !v.decks.is_empty() {
            let mut layout = Vec::new();
            for (j, l) in v.decks.iter().enumerate() {
                let Some(&d) = deck_index.get(&l.deck_class) else {
                    self.err(
                        format!("{path}.decks[{j}].deck_class"),
                        format!("unknown deck class `{}`", l.deck_class),
                    );
                    continue;
                };
                self.positive(&format!("{path}.decks[{j}].lanes"), l.lanes, "lanes");
                self.positive(
                    &format!("{path}.decks[{j}].slots_per_lane"),
                    l.slots_per_lane,
                    "slots_per_lane",
                );
                layout.push((d, scale(l.lanes, vs), l.slots_per_lane));
            }
            Some(DeckGraph::lanes(&layout))
        } else {
            let layout: Vec<(usize, u32, u32)> = needed
                .iter()
                .enumerate()
                .filter(|&(_, &n)| n > 0)
                .map(|(d, &n)| {
                    let per_lane = DEFAULT_SLOTS_PER_LANE.min(n as u32);
                    (d, (n as u32).div_ceil(per_lane), per_lane)
                })
                .collect();
            Some(DeckGraph::lanes(&layout))
        };
        let Some(graph) = graph else {
            return DeckGraph::lanes(&[]);
        };
        if v.deck_graph.is_some() || !v.decks.is_empty() {
            for (d, &n) in needed.iter().enumerate() {
                let have = graph.slots_of(d);
                if have < n {
                    let field = if v.deck_graph.is_some() {
                        "deck_graph"
                    } else {
                        "decks"
                    };
                    self.err(
                        format!("{path}.{field}"),
                        format!(
                            "{have} slots of deck class `{}`, but the space booked in it holds {n} vehicles",
                            decks[d].id
                        ),
                    );
                }
            }
        }
        graph
    }

    fn tz(&mut self, path: &str, name: &str) -> TimeZone {
        match TimeZone::get(name) {
            Ok(tz) => tz,
            Err(_) => {
                self.err(
                    path,
                    format!("`{name}` is not an IANA time zone (e.g. `Asia/Tokyo`)"),
                );
                TimeZone::UTC
            }
        }
    }

    fn positive(&mut self, path: &str, value: u32, what: &str) {
        if value == 0 {
            self.err(
                path,
                format!("{what} is 0, but vehicles flow through it; give a positive number"),
            );
        }
    }

    fn dist(&mut self, path: &str, d: &HoursDist) {
        let ok = match *d {
            HoursDist::Fixed { hours } => hours >= 0.0,
            HoursDist::Lognormal {
                median_hours,
                p90_hours,
            } => median_hours > 0.0 && p90_hours >= median_hours,
            HoursDist::Triangular {
                min_hours,
                mode_hours,
                max_hours,
            } => {
                0.0 <= min_hours
                    && min_hours <= mode_hours
                    && mode_hours <= max_hours
                    && min_hours < max_hours
            }
        };
        if !ok {
            self.err(path, "invalid distribution: need hours >= 0, 0 < median <= p90, or min <= mode <= max with min < max");
        }
    }

    fn probability(&mut self, path: &str, p: f64) {
        if !(0.0..=1.0).contains(&p) {
            self.err(path, format!("{p} is not a probability between 0 and 1"));
        }
    }

    /// Daily instants of a weekly departure pattern over the horizon.
    fn departures(&mut self, path: &str, deps: &[Departures], tz: &TimeZone) -> Vec<Minute> {
        let mut out = Vec::new();
        for (i, d) in deps.iter().enumerate() {
            let days: Vec<Weekday> = d
                .days
                .iter()
                .enumerate()
                .filter_map(|(j, name)| {
                    let w = parse_weekday(name);
                    if w.is_none() {
                        self.err(
                            format!("{path}[{i}].days[{j}]"),
                            format!(
                                "`{name}` is not a day; use mon, tue, wed, thu, fri, sat or sun"
                            ),
                        );
                    }
                    w
                })
                .collect();
            let times: Vec<Time> = d
                .times
                .iter()
                .enumerate()
                .filter_map(|(j, t)| {
                    let p = parse_hhmm(t);
                    if p.is_none() {
                        self.err(
                            format!("{path}[{i}].times[{j}]"),
                            format!("`{t}` is not a local time HH:MM"),
                        );
                    }
                    p
                })
                .collect();
            for date in self.dates(tz) {
                if days.contains(&date.weekday()) {
                    for &t in &times {
                        let m = at_local(date, t, tz);
                        if m >= self.start {
                            out.push(m);
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() && self.errors.is_empty() {
            self.err(path, "no departures: give at least one day and time");
        }
        out
    }

    fn dates(&self, tz: &TimeZone) -> Vec<Date> {
        let first = self
            .start
            .timestamp()
            .to_zoned(tz.clone())
            .date()
            .yesterday()
            .expect("date");
        let n = (self.end.since(self.start) / Minute::DAY) + 3;
        (0..n)
            .filter_map(|k| first.checked_add(jiff::Span::new().days(k)).ok())
            .collect()
    }

    /// Compiles a calendar for a resource of `count` servers (before scaling).
    fn windows(&mut self, path: &str, windows: &[Window], tz: &TimeZone, count: u32) -> Calendar {
        let full = scale(count, self.options.volume_scale);
        if windows.is_empty() {
            return Calendar {
                always_open: true,
                full,
                windows: Vec::new(),
            };
        }
        let mut raw: Vec<(Minute, Minute, u32)> = Vec::new();
        for (i, w) in windows.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let (Some(start), Some(end)) = (parse_hhmm(&w.start), parse_hhmm(&w.end)) else {
                self.err(
                    &p,
                    format!(
                        "`{}`-`{}` is not a local time range HH:MM-HH:MM",
                        w.start, w.end
                    ),
                );
                continue;
            };
            if w.days.is_empty() {
                self.err(
                    format!("{p}.days"),
                    "no days: the window would never open; list days such as [\"mon\", \"tue\"]",
                );
            }
            let servers = match w.servers {
                Some(n) if n > count => {
                    self.err(
                        format!("{p}.servers"),
                        format!("{n} servers in a window, but the resource has only {count}"),
                    );
                    full
                }
                Some(n) => scale(n, self.options.volume_scale),
                None => full,
            };
            let mut days = Vec::new();
            for (j, d) in w.days.iter().enumerate() {
                match parse_weekday(d) {
                    Some(wd) => days.push(wd),
                    None => self.err(
                        format!("{p}.days[{j}]"),
                        format!("`{d}` is not a day; use mon, tue, wed, thu, fri, sat or sun"),
                    ),
                }
            }
            for date in self.dates(tz) {
                if !days.contains(&date.weekday()) {
                    continue;
                }
                let s = at_local(date, start, tz);
                let end_date = if end <= start {
                    date.tomorrow().expect("date")
                } else {
                    date
                };
                let e = at_local(end_date, end, tz);
                if e > s {
                    raw.push((s, e, servers.min(full)));
                }
            }
        }
        Calendar {
            always_open: false,
            full,
            windows: merge_windows(raw),
        }
    }

    fn resource(
        &mut self,
        location: usize,
        loc_id: &str,
        kind: ResourceKind,
        calendar: Calendar,
    ) -> ResourceIdx {
        self.resources.push(ResourceInfo {
            id: format!("{loc_id}/{}", kind.name()),
            kind,
            location,
            calendar,
        });
        self.resources.len() - 1
    }

    fn pool(
        &mut self,
        path: &str,
        s: &Servers,
        (location, loc_id): (usize, &str),
        kind: ResourceKind,
        tz: &TimeZone,
        minutes_required: bool,
    ) -> Pool {
        self.positive(&format!("{path}.count"), s.count, "count");
        let minutes = match s.minutes_per_vehicle {
            Some(m) => {
                self.positive(
                    &format!("{path}.minutes_per_vehicle"),
                    m,
                    "minutes_per_vehicle",
                );
                m as i64
            }
            None if minutes_required => {
                self.err(
                    format!("{path}.minutes_per_vehicle"),
                    "missing field `minutes_per_vehicle`",
                );
                1
            }
            None => 0,
        };
        let full = scale(s.count, self.options.volume_scale);
        let calendar = self.windows(&format!("{path}.calendar"), &s.calendar, tz, s.count);
        let resource = self.resource(location, loc_id, kind, calendar.clone());
        Pool {
            resource,
            count: full,
            minutes_per_vehicle: minutes,
            calendar,
        }
    }

    fn run(mut self, s: &Scenario) -> Result<Network, ScenarioErrors> {
        let vs = self.options.volume_scale;
        if !(vs > 0.0 && vs.is_finite()) {
            self.err("volume_scale", "must be a positive number");
        }
        match Minute::parse_rfc3339(&s.scenario.start) {
            Ok(m) => self.start = m,
            Err(e) => self.err("scenario.start", e),
        }
        if self.options.days == 0 {
            self.err("scenario.days", "must be at least 1");
        }
        self.end = self.start.plus(self.options.days as i64 * Minute::DAY);
        let tail_end = self.end.plus(PLANNING_TAIL_DAYS * Minute::DAY);
        if s.scenario.rt43_area_m2 <= 0.0 {
            self.err("scenario.rt43_area_m2", "must be positive");
        }
        // Ids must be unique within each list.
        fn dupes<'a>(c: &mut Compiler, list: &str, ids: impl Iterator<Item = &'a str>) {
            let mut seen = HashMap::new();
            for (i, id) in ids.enumerate() {
                if let Some(j) = seen.insert(id, i) {
                    c.err(
                        format!("{list}[{i}].id"),
                        format!("id `{id}` is used twice (also {list}[{j}])"),
                    );
                }
            }
        }
        dupes(
            &mut self,
            "tenants",
            s.tenants.iter().map(|t| t.id.as_str()),
        );
        dupes(
            &mut self,
            "locations",
            s.locations.iter().map(|t| t.id.as_str()),
        );
        dupes(&mut self, "models", s.models.iter().map(|t| t.id.as_str()));
        dupes(
            &mut self,
            "inland_services",
            s.inland_services.iter().map(|t| t.id.as_str()),
        );
        dupes(
            &mut self,
            "vessel_services",
            s.vessel_services.iter().map(|t| t.id.as_str()),
        );
        dupes(
            &mut self,
            "dealers",
            s.dealers.iter().map(|t| t.id.as_str()),
        );
        dupes(
            &mut self,
            "deck_classes",
            s.deck_classes.iter().map(|t| t.id.as_str()),
        );

        let tenants: Vec<TenantInfo> = s
            .tenants
            .iter()
            .map(|t| TenantInfo {
                id: t.id.clone(),
                name: t.name.clone(),
            })
            .collect();
        // Calendars and voyages run over the simulated days plus a planning tail.
        let sim_end = self.end;
        self.end = tail_end;
        let mut locations = Vec::new();
        for (i, l) in s.locations.iter().enumerate() {
            let tz = self.tz(&format!("locations[{i}].time_zone"), &l.time_zone);
            locations.push(LocationInfo {
                id: l.id.clone(),
                name: l.name.clone(),
                kind: l.kind,
                tz,
            });
        }
        let loc_index: HashMap<&str, usize> = s
            .locations
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let tenant_index: HashMap<&str, usize> = s
            .tenants
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.as_str(), i))
            .collect();
        let find_loc =
            |c: &mut Compiler, path: String, id: &str, kind: LocationKind| -> Option<usize> {
                match loc_index.get(id) {
                    Some(&i) if s.locations[i].kind == kind => Some(i),
                    Some(&i) => {
                        c.err(
                            path,
                            format!(
                                "location `{id}` is a {}, expected a {}",
                                s.locations[i].kind.name(),
                                kind.name()
                            ),
                        );
                        None
                    }
                    None => {
                        c.err(
                            path,
                            format!("unknown location `{id}`: it is not among [[locations]]"),
                        );
                        None
                    }
                }
            };
        let find_tenant = |c: &mut Compiler, path: String, id: &str| -> Option<usize> {
            let t = tenant_index.get(id).copied();
            if t.is_none() {
                c.err(
                    path,
                    format!("unknown tenant `{id}`: it is not among [[tenants]]"),
                );
            }
            t
        };

        let mut decks: Vec<DeckInfo> = s
            .deck_classes
            .iter()
            .map(|d| DeckInfo {
                id: d.id.clone(),
                clearance_mm: d.clearance_mm,
            })
            .collect();
        decks.sort_by_key(|d| d.clearance_mm);
        let deck_index: HashMap<String, usize> = decks
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();

        // Inland classes: every class named by a model.
        let mut inland_classes: Vec<String> = Vec::new();
        for m in &s.models {
            if !inland_classes.contains(&m.inland_class) {
                inland_classes.push(m.inland_class.clone());
            }
        }
        let class_vector =
            |c: &mut Compiler, path: &str, map: &BTreeMap<String, u32>| -> Vec<u32> {
                for k in map.keys() {
                    if !inland_classes.contains(k) {
                        c.err(
                            format!("{path}.{k}"),
                            format!(
                                "no model has inland_class `{k}` (classes in use: {})",
                                inland_classes.join(", ")
                            ),
                        );
                    }
                }
                inland_classes
                    .iter()
                    .map(|k| scale_units(map.get(k).copied().unwrap_or(0)))
                    .collect()
            };
        fn scale_units(n: u32) -> u32 {
            n
        }

        // Plants.
        let mut plants = Vec::new();
        let mut plant_of_location = HashMap::new();
        for (i, p) in s.plants.iter().enumerate() {
            let path = format!("plants[{i}]");
            let Some(loc) = find_loc(
                &mut self,
                format!("{path}.location"),
                &p.location,
                LocationKind::Plant,
            ) else {
                continue;
            };
            self.positive(&format!("{path}.yard_slots"), p.yard_slots, "yard_slots");
            let tz = locations[loc].tz.clone();
            let cal = self.windows(
                &format!("{path}.release_calendar"),
                &p.release_calendar,
                &tz,
                1,
            );
            if p.release_calendar.is_empty() {
                self.err(
                    format!("{path}.release_calendar"),
                    "a plant needs at least one release window",
                );
            }
            let slots = scale(p.yard_slots, vs);
            let yard = self.resource(
                loc,
                &p.location,
                ResourceKind::PlantYard,
                Calendar {
                    always_open: true,
                    full: slots,
                    windows: vec![],
                },
            );
            plant_of_location.insert(loc, plants.len());
            plants.push(PlantInfo {
                location: loc,
                yard,
                yard_slots: slots,
                release_windows: cal.windows.iter().map(|w| (w.0, w.1)).collect(),
            });
        }

        // Export terminals.
        let mut export_terminals = Vec::new();
        for (i, t) in s.export_terminals.iter().enumerate() {
            let path = format!("export_terminals[{i}]");
            let Some(loc) = find_loc(
                &mut self,
                format!("{path}.location"),
                &t.location,
                LocationKind::ExportPort,
            ) else {
                continue;
            };
            let tz = locations[loc].tz.clone();
            let ramp = self.pool(
                &format!("{path}.ramp"),
                &t.ramp,
                (loc, &t.location),
                ResourceKind::Ramp,
                &tz,
                true,
            );
            let processing = self.pool(
                &format!("{path}.processing"),
                &t.processing,
                (loc, &t.location),
                ResourceKind::Processing,
                &tz,
                false,
            );
            self.positive(&format!("{path}.yard_slots"), t.yard_slots, "yard_slots");
            let slots = scale(t.yard_slots, vs);
            let yard = self.resource(
                loc,
                &t.location,
                ResourceKind::Yard,
                Calendar {
                    always_open: true,
                    full: slots,
                    windows: vec![],
                },
            );
            let loading = self.pool(
                &format!("{path}.loading"),
                &t.loading,
                (loc, &t.location),
                ResourceKind::Loading,
                &tz,
                true,
            );
            export_terminals.push(ExportTerminalInfo {
                location: loc,
                ramp,
                processing,
                yard,
                yard_slots: slots,
                loading,
                cutoff_minutes: t.cutoff_hours as i64 * 60,
            });
        }

        // Import terminals.
        let mut import_terminals = Vec::new();
        for (i, t) in s.import_terminals.iter().enumerate() {
            let path = format!("import_terminals[{i}]");
            let Some(loc) = find_loc(
                &mut self,
                format!("{path}.location"),
                &t.location,
                LocationKind::ImportPort,
            ) else {
                continue;
            };
            let tz = locations[loc].tz.clone();
            let discharge = self.pool(
                &format!("{path}.discharge"),
                &t.discharge,
                (loc, &t.location),
                ResourceKind::Discharge,
                &tz,
                true,
            );
            let certification = self.pool(
                &format!("{path}.certification"),
                &t.certification,
                (loc, &t.location),
                ResourceKind::Certification,
                &tz,
                true,
            );
            let delivery_departures = self.departures(
                &format!("{path}.delivery.departures"),
                &t.delivery.departures,
                &tz,
            );
            self.positive(
                &format!("{path}.delivery.trucks_per_departure"),
                t.delivery.trucks_per_departure,
                "trucks_per_departure",
            );
            let per_truck = class_vector(
                &mut self,
                &format!("{path}.delivery.vehicles_per_truck"),
                &t.delivery.vehicles_per_truck,
            );
            for (k, class) in inland_classes.iter().enumerate() {
                if per_truck[k] == 0 {
                    self.err(format!("{path}.delivery.vehicles_per_truck"), format!("no capacity for inland class `{class}` (missing or 0), but vehicles of that class are delivered from every port"));
                }
            }
            import_terminals.push(ImportTerminalInfo {
                location: loc,
                discharge,
                certification,
                delivery_departures,
                trucks_per_departure: scale(t.delivery.trucks_per_departure, vs),
                vehicles_per_truck: per_truck,
            });
        }

        // Inland services.
        let mut inland = Vec::new();
        for (i, sv) in s.inland_services.iter().enumerate() {
            let path = format!("inland_services[{i}]");
            let from = find_loc(
                &mut self,
                format!("{path}.from"),
                &sv.from,
                LocationKind::Plant,
            );
            let to = find_loc(
                &mut self,
                format!("{path}.to"),
                &sv.to,
                LocationKind::ExportPort,
            );
            let terminal = to.and_then(|t| {
                export_terminals
                    .iter()
                    .position(|x: &ExportTerminalInfo| x.location == t)
            });
            if to.is_some() && terminal.is_none() {
                self.err(
                    format!("{path}.to"),
                    format!("`{}` has no [[export_terminals]] entry", sv.to),
                );
            }
            self.positive(
                &format!("{path}.units_per_departure"),
                sv.units_per_departure,
                "units_per_departure",
            );
            self.dist(&format!("{path}.transit"), &sv.transit);
            let per_unit = class_vector(
                &mut self,
                &format!("{path}.vehicles_per_unit"),
                &sv.vehicles_per_unit,
            );
            let (Some(from), Some(to), Some(terminal)) = (from, to, terminal) else {
                continue;
            };
            let tz = locations[from].tz.clone();
            let departures = self.departures(&format!("{path}.departures"), &sv.departures, &tz);
            inland.push(InlandInfo {
                id: sv.id.clone(),
                mode: sv.mode,
                carrier: sv.carrier.clone(),
                from,
                to,
                terminal,
                departures,
                units_per_departure: scale(sv.units_per_departure, vs),
                vehicles_per_unit: per_unit,
                transit: sv.transit.clone(),
                cost_per_vehicle_usd: sv.cost_per_vehicle_usd,
            });
        }

        // Certification routes, then rules by model id.
        let mut cert_routes = Vec::new();
        let mut route_tz = Vec::new();
        for (i, r) in s.certification_routes.iter().enumerate() {
            let path = format!("certification_routes[{i}]");
            if r.new_vehicle_inspection && r.new_vehicle_inspection_minutes == 0 {
                self.err(
                    format!("{path}.new_vehicle_inspection_minutes"),
                    "the route requires a new-vehicle inspection: give its minutes per vehicle",
                );
            }
            route_tz.push(self.tz(&format!("{path}.time_zone"), &r.time_zone));
            cert_routes.push(CertRouteInfo {
                id: r.id.clone(),
                name: r.name.clone(),
                marking_required: r.marking_required,
                new_vehicle_inspection: r.new_vehicle_inspection,
                annual_cap_per_type: r.annual_cap_per_type,
            });
        }
        let mut cert_of: HashMap<&str, CertInfo> = HashMap::new();
        for (i, c) in s.certification.iter().enumerate() {
            let path = format!("certification[{i}]");
            if !s.models.iter().any(|m| m.id == c.model) {
                self.err(
                    format!("{path}.model"),
                    format!("unknown model `{}`", c.model),
                );
                continue;
            }
            let Some(route) = s.certification_routes.iter().position(|r| r.id == c.route) else {
                let known: Vec<&str> = s
                    .certification_routes
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect();
                self.err(
                    format!("{path}.route"),
                    format!(
                        "unknown certification route `{}` (known: {})",
                        c.route,
                        known.join(", ")
                    ),
                );
                continue;
            };
            let r = &s.certification_routes[route];
            let approved_from = match &c.approved_on {
                None => None,
                Some(d) => match d.parse::<Date>() {
                    Ok(date) => Some(at_local(date, Time::midnight(), &route_tz[route])),
                    Err(_) => {
                        self.err(
                            format!("{path}.approved_on"),
                            format!("`{d}` is not a date YYYY-MM-DD"),
                        );
                        None
                    }
                },
            };
            let mut checklist = Vec::new();
            if r.marking_required {
                if c.marking_minutes == 0 {
                    self.err(format!("{path}.marking_minutes"), format!("route `{}` requires a marking on every vehicle: give the minutes it takes", r.id));
                }
                checklist.push(ChecklistItem {
                    id: "marking".into(),
                    at: c.marking_at,
                    minutes: c.marking_minutes as i64,
                });
            }
            for (j, f) in c.fixes.iter().enumerate() {
                if c.fixes[..j].iter().any(|g| g.id == f.id) {
                    self.err(
                        format!("{path}.fixes[{j}].id"),
                        format!("fix `{}` is listed twice", f.id),
                    );
                }
                checklist.push(ChecklistItem {
                    id: format!("fix:{}", f.id),
                    at: f.at,
                    minutes: f.minutes as i64,
                });
            }
            if r.new_vehicle_inspection {
                checklist.push(ChecklistItem {
                    id: "new_vehicle_inspection".into(),
                    at: WorkPlace::DestinationPdi,
                    minutes: r.new_vehicle_inspection_minutes as i64,
                });
            }
            checklist.push(ChecklistItem {
                id: CERTIFICATE_ITEM.into(),
                at: WorkPlace::DestinationPdi,
                minutes: 0,
            });
            // US-port work first, then destination work; the certificate last.
            checklist.sort_by_key(|item| {
                (
                    item.at == WorkPlace::DestinationPdi,
                    item.id == CERTIFICATE_ITEM,
                )
            });
            let info = CertInfo {
                route,
                approved_from,
                checklist,
                annual_cap: c.annual_cap.or(r.annual_cap_per_type),
            };
            if cert_of.insert(&c.model, info).is_some() {
                self.err(
                    format!("{path}.model"),
                    format!("model `{}` has two certification rules", c.model),
                );
            }
        }

        // Models.
        let mut models = Vec::new();
        for (i, m) in s.models.iter().enumerate() {
            let path = format!("models[{i}]");
            let tenant = find_tenant(&mut self, format!("{path}.tenant"), &m.tenant);
            let plant_loc = find_loc(
                &mut self,
                format!("{path}.plant"),
                &m.plant,
                LocationKind::Plant,
            );
            let plant = plant_loc.and_then(|l| plant_of_location.get(&l).copied());
            if plant_loc.is_some() && plant.is_none() {
                self.err(
                    format!("{path}.plant"),
                    format!("`{}` has no [[plants]] entry", m.plant),
                );
            }
            self.positive(
                &format!("{path}.processing_minutes"),
                m.processing_minutes,
                "processing_minutes",
            );
            for (field, v) in [
                ("length_mm", m.length_mm),
                ("width_mm", m.width_mm),
                ("height_mm", m.height_mm),
            ] {
                self.positive(&format!("{path}.{field}"), v, field);
            }
            let code: Vec<char> = m.vin_plant_code.chars().collect();
            let probe = crate::vin::Vin::assemble(
                &m.wmi,
                &m.vds,
                m.model_year,
                code.first().copied().unwrap_or('?'),
                "000001",
            );
            if code.len() != 1 || probe.is_err() {
                let why = probe
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "vin_plant_code must be one character".into());
                self.err(format!("{path}.wmi"), format!("cannot issue VINs from wmi `{}`, vds `{}`, model_year {}, vin_plant_code `{}`: {why}", m.wmi, m.vds, m.model_year, m.vin_plant_code));
            }
            let fits: Vec<usize> = decks
                .iter()
                .enumerate()
                .filter(|(_, d)| d.clearance_mm >= m.height_mm)
                .map(|(k, _)| k)
                .collect();
            if fits.is_empty() {
                self.err(
                    format!("{path}.height_mm"),
                    format!("{} mm tall: no deck class has that clearance", m.height_mm),
                );
            }
            let cert = match cert_of.get(m.id.as_str()) {
                Some(c) => c.clone(),
                None => {
                    self.err(
                        path.clone(),
                        format!(
                            "model `{}` has no [[certification]] rule; every model needs one",
                            m.id
                        ),
                    );
                    continue;
                }
            };
            let (Some(tenant), Some(plant)) = (tenant, plant) else {
                continue;
            };
            let us_work: i64 = cert
                .checklist
                .iter()
                .filter(|i| i.at == WorkPlace::ExportPort)
                .map(|i| i.minutes)
                .sum();
            // Some inland service from its plant must carry its class.
            let class = inland_classes
                .iter()
                .position(|c| *c == m.inland_class)
                .expect("class collected");
            let plant_location = plants[plant].location;
            if !inland
                .iter()
                .any(|sv| sv.from == plant_location && sv.vehicles_per_unit[class] > 0)
            {
                self.err(format!("{path}.inland_class"), format!("no inland service from `{}` carries class `{}`: capacity 0 on the model's only way out", m.plant, m.inland_class));
            }
            if !s.dealers.iter().any(|d| d.tenant == m.tenant) {
                self.err(
                    format!("{path}.tenant"),
                    format!(
                        "tenant `{}` has no dealers, so its vehicles have nowhere to go",
                        m.tenant
                    ),
                );
            }
            models.push(ModelInfo {
                id: m.id.clone(),
                tenant,
                name: m.name.clone(),
                plant,
                wmi: m.wmi.clone(),
                vds: m.vds.clone(),
                vin_plant_code: code.first().copied().unwrap_or('0'),
                model_year: m.model_year,
                height_mm: m.height_mm,
                rt43: (m.length_mm as f64 / 1000.0) * (m.width_mm as f64 / 1000.0)
                    / s.scenario.rt43_area_m2,
                inland_class: class,
                processing_minutes: m.processing_minutes as i64 + us_work,
                annual_volume: m.annual_volume as f64 * vs,
                promised_lead_minutes: m.promised_lead_days as i64 * Minute::DAY,
                deck_classes: fits,
                cert,
            });
        }

        // Dealers.
        let mut dealers = Vec::new();
        for (i, d) in s.dealers.iter().enumerate() {
            let path = format!("dealers[{i}]");
            let tenant = find_tenant(&mut self, format!("{path}.tenant"), &d.tenant);
            let port = find_loc(
                &mut self,
                format!("{path}.port"),
                &d.port,
                LocationKind::ImportPort,
            );
            let tz = self.tz(&format!("{path}.time_zone"), &d.time_zone);
            if d.weight <= 0.0 {
                self.err(format!("{path}.weight"), "must be positive");
            }
            if d.delivery_hours < 0.0 {
                self.err(format!("{path}.delivery_hours"), "must not be negative");
            }
            let terminal = port.and_then(|p| {
                import_terminals
                    .iter()
                    .position(|t: &ImportTerminalInfo| t.location == p)
            });
            if port.is_some() && terminal.is_none() {
                self.err(
                    format!("{path}.port"),
                    format!("`{}` has no [[import_terminals]] entry", d.port),
                );
            }
            let (Some(tenant), Some(port), Some(terminal)) = (tenant, port, terminal) else {
                continue;
            };
            dealers.push(DealerInfo {
                id: d.id.clone(),
                name: d.name.clone(),
                tenant,
                port,
                terminal,
                tz,
                delivery_minutes: (d.delivery_hours * 60.0).round() as i64,
                weight: d.weight,
            });
        }

        // Voyages.
        let mut voyages = Vec::new();
        for (i, v) in s.vessel_services.iter().enumerate() {
            let path = format!("vessel_services[{i}]");
            let mut calls_loc = Vec::new();
            let mut seen_import = false;
            let mut n_export = 0;
            for (j, p) in v.rotation.iter().enumerate() {
                match loc_index.get(p.as_str()).map(|&l| (l, s.locations[l].kind)) {
                    Some((l, _)) if calls_loc.contains(&l) => self.err(
                        format!("{path}.rotation[{j}]"),
                        format!("`{p}` is called at twice; a rotation calls at each port once"),
                    ),
                    Some((l, LocationKind::ExportPort)) => {
                        if seen_import {
                            self.err(format!("{path}.rotation[{j}]"), format!("export port `{p}` after an import port: list export ports first, then import ports"));
                        }
                        if !export_terminals.iter().any(|t| t.location == l) {
                            self.err(
                                format!("{path}.rotation[{j}]"),
                                format!("`{p}` has no [[export_terminals]] entry"),
                            );
                        }
                        n_export += 1;
                        calls_loc.push(l);
                    }
                    Some((l, LocationKind::ImportPort)) => {
                        seen_import = true;
                        if !import_terminals.iter().any(|t| t.location == l) {
                            self.err(
                                format!("{path}.rotation[{j}]"),
                                format!("`{p}` has no [[import_terminals]] entry"),
                            );
                        }
                        calls_loc.push(l);
                    }
                    Some(_) => self.err(
                        format!("{path}.rotation[{j}]"),
                        format!("`{p}` is not a port"),
                    ),
                    None => self.err(
                        format!("{path}.rotation[{j}]"),
                        format!("unknown location `{p}`: it is not among [[locations]]"),
                    ),
                }
            }
            if n_export == 0 || !seen_import {
                self.err(format!("{path}.rotation"), "a rotation needs at least one export port followed by at least one import port");
            }
            if v.speed_knots <= 0.0 {
                self.err(format!("{path}.speed_knots"), "must be positive");
            }
            self.positive(&format!("{path}.every_days"), v.every_days, "every_days");
            let mut legs_minutes = Vec::new();
            for w in calls_loc.windows(2) {
                let (a, b) = (&locations[w[0]].id, &locations[w[1]].id);
                let leg = s
                    .sea_legs
                    .iter()
                    .find(|l| (&l.from == a && &l.to == b) || (&l.from == b && &l.to == a));
                match leg {
                    Some(l) => legs_minutes
                        .push((l.nautical_miles / v.speed_knots.max(0.1) * 60.0).round() as i64),
                    None => self.err(
                        format!("{path}.rotation"),
                        format!("no [[sea_legs]] entry between `{a}` and `{b}`"),
                    ),
                }
            }
            let mut booked = vec![vec![0.0; decks.len()]; tenants.len()];
            for (j, b) in v.booked.iter().enumerate() {
                let t = find_tenant(&mut self, format!("{path}.booked[{j}].tenant"), &b.tenant);
                let d = deck_index.get(&b.deck_class).copied();
                if d.is_none() {
                    self.err(
                        format!("{path}.booked[{j}].deck_class"),
                        format!("unknown deck class `{}`", b.deck_class),
                    );
                }
                if b.rt43 < 0.0 {
                    self.err(format!("{path}.booked[{j}].rt43"), "must not be negative");
                }
                if let (Some(t), Some(d)) = (t, d) {
                    booked[t][d] += b.rt43 * vs;
                }
            }
            let deck_graph =
                Arc::new(self.deck_graph(&path, v, &decks, &deck_index, &models, &booked));
            let first = match Minute::parse_rfc3339(&v.first_berth) {
                Ok(m) => m,
                Err(e) => {
                    self.err(format!("{path}.first_berth"), e);
                    continue;
                }
            };
            if legs_minutes.len() + 1 != calls_loc.len()
                || v.every_days == 0
                || v.speed_knots <= 0.0
            {
                continue;
            }
            let stay = v.port_stay_hours as i64 * 60;
            let mut k = 0;
            loop {
                let berth0 = first.plus(k * v.every_days as i64 * Minute::DAY);
                if berth0 > self.end {
                    break;
                }
                k += 1;
                let mut calls = Vec::new();
                let mut berth = berth0;
                for (j, &loc) in calls_loc.iter().enumerate() {
                    let depart = berth.plus(stay);
                    calls.push(PortCall {
                        location: loc,
                        berth,
                        depart,
                    });
                    if let Some(m) = legs_minutes.get(j) {
                        berth = depart.plus(*m);
                    }
                }
                if calls[n_export - 1].depart < self.start {
                    continue;
                }
                voyages.push(VoyageInfo {
                    id: format!("{}-{:03}", v.id, k),
                    service: v.id.clone(),
                    calls,
                    n_export_calls: n_export,
                    booked: booked.clone(),
                    capacity_ceu: v.capacity_ceu,
                    deck_graph: deck_graph.clone(),
                });
            }
        }
        for (i, leg) in s.sea_legs.iter().enumerate() {
            for (field, id) in [("from", &leg.from), ("to", &leg.to)] {
                if !loc_index.contains_key(id.as_str()) {
                    self.err(
                        format!("sea_legs[{i}].{field}"),
                        format!("unknown location `{id}`: it is not among [[locations]]"),
                    );
                }
            }
            if leg.nautical_miles <= 0.0 {
                self.err(format!("sea_legs[{i}].nautical_miles"), "must be positive");
            }
        }
        // One entry per location for plants and terminals.
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        let entries = s
            .plants
            .iter()
            .map(|p| ("plants", p.location.as_str()))
            .chain(
                s.export_terminals
                    .iter()
                    .map(|t| ("export_terminals", t.location.as_str())),
            )
            .chain(
                s.import_terminals
                    .iter()
                    .map(|t| ("import_terminals", t.location.as_str())),
            );
        let mut index_in_list: HashMap<&str, usize> = HashMap::new();
        for (list, loc) in entries {
            let i = *index_in_list
                .entry(list)
                .and_modify(|n| *n += 1)
                .or_insert(0);
            if let Some(j) = seen.insert((list, loc), i) {
                self.err(
                    format!("{list}[{i}].location"),
                    format!("`{loc}` already has an entry ({list}[{j}])"),
                );
            }
        }
        // Every dealer's port must be reached by some vessel service from an export port.
        for (i, d) in dealers.iter().enumerate() {
            let reached = s.vessel_services.iter().any(|v| {
                v.rotation
                    .iter()
                    .position(|p| *p == locations[d.port].id)
                    .is_some_and(|k| k > 0)
            });
            if !reached {
                self.err(
                    format!("dealers[{i}].port"),
                    format!(
                        "no vessel service calls at `{}` after an export port",
                        locations[d.port].id
                    ),
                );
            }
        }
        // Every model must have booked space that fits it on some service.
        for (i, m) in models.iter().enumerate() {
            let has_space = s.vessel_services.iter().any(|v| {
                v.booked.iter().any(|b| {
                    b.tenant == tenants[m.tenant].id
                        && b.rt43 > 0.0
                        && deck_index
                            .get(&b.deck_class)
                            .is_some_and(|d| m.deck_classes.contains(d))
                })
            });
            if !has_space {
                self.err(
                    format!("models[{i}]"),
                    format!(
                        "model `{}` fits no deck class with space booked for tenant `{}`",
                        m.id, tenants[m.tenant].id
                    ),
                );
            }
        }
        let d = &s.disruptions;
        self.probability(
            "disruptions.inland_delay_probability",
            d.inland_delay_probability,
        );
        self.probability(
            "disruptions.vessel_delay_probability",
            d.vessel_delay_probability,
        );
        self.probability("disruptions.hold_probability", d.hold_probability);
        if d.station_outages_per_week < 0.0 {
            self.err(
                "disruptions.station_outages_per_week",
                "must not be negative",
            );
        }
        self.dist("disruptions.inland_delay", &d.inland_delay);
        self.dist("disruptions.vessel_delay", &d.vessel_delay);
        self.dist("disruptions.station_outage", &d.station_outage);
        self.dist("disruptions.hold", &d.hold);
        let late = s.insight.late_threshold_hours;
        if !(late >= 0.0 && late.is_finite()) {
            self.err(
                "insight.late_threshold_hours",
                "must be a number of hours of at least 0",
            );
        }
        let o = &s.objective;
        for (field, value) in [
            (
                "lateness_usd_per_vehicle_day",
                o.lateness_usd_per_vehicle_day,
            ),
            ("dwell_usd_per_vehicle_hour", o.dwell_usd_per_vehicle_hour),
            ("roll_usd_per_vehicle", o.roll_usd_per_vehicle),
            ("unused_space_usd_per_rt43", o.unused_space_usd_per_rt43),
            ("transport_cost_weight", o.transport_cost_weight),
            ("unplaced_usd_per_vehicle", o.unplaced_usd_per_vehicle),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                self.err(
                    format!("objective.{field}"),
                    "must be a number of at least 0",
                );
            }
        }
        self.probability(
            "disruptions.certification_hold_probability",
            d.certification_hold_probability,
        );
        self.dist("disruptions.certification_hold", &d.certification_hold);

        if !self.errors.is_empty() {
            return Err(ScenarioErrors(self.errors));
        }
        let mut net = Network {
            name: s.scenario.name.clone(),
            start: self.start,
            end: sim_end,
            rt43_area_m2: s.scenario.rt43_area_m2,
            volume_scale: self.options.volume_scale,
            tenants,
            locations,
            deck_classes: decks,
            inland_classes,
            models,
            plants,
            inland,
            export_terminals,
            import_terminals,
            voyages,
            dealers,
            resources: self.resources,
            cert_routes,
            disruptions: s.disruptions.clone(),
            objective: s.objective.clone(),
            insight: s.insight.clone(),
            index: IdIndex::default(),
        };
        net.index = IdIndex::of(&net);
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_windows_take_the_larger_count_only_where_they_overlap() {
        let m = |h: i64| Minute(h * 60);
        let merged = merge_windows(vec![(m(6), m(14), 6), (m(13), m(22), 3), (m(22), m(23), 3)]);
        assert_eq!(merged, vec![(m(6), m(14), 6), (m(14), m(23), 3)]);
        let disjoint = merge_windows(vec![(m(1), m(2), 1), (m(3), m(4), 1)]);
        assert_eq!(disjoint, vec![(m(1), m(2), 1), (m(3), m(4), 1)]);
    }

    #[test]
    fn calendar_window_and_fit() {
        let m = |h: i64| Minute(h * 60);
        let cal = Calendar {
            always_open: false,
            full: 4,
            windows: vec![(m(6), m(14), 4), (m(15), m(23), 2)],
        };
        assert_eq!(cal.servers_at(m(7)), 4);
        assert_eq!(cal.servers_at(m(14)), 0);
        assert_eq!(cal.window_at(m(16)), Some((2, m(23))));
        // Server 3 does not work the late shift; a 2-hour job at 13:00 waits for 15:00.
        assert_eq!(cal.earliest_fit(0, m(13), 120), Some(m(15)));
        assert_eq!(cal.earliest_fit(3, m(13), 120), None);
    }
}
