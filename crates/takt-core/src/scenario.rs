//! The scenario file: the network, its resources and calendars, demand,
//! certification rules and disruptions, as a user writes it in TOML.
//!
//! This module holds only the file's shape (serde types) and parsing with
//! line numbers. Cross-references, capacities and time zones are validated
//! when the scenario is compiled into a [`crate::network::Network`]; every
//! error there names the field path and the line it is on.
//!
//! Every entry carries a `source`: where its facts come from, or
//! `"assumed: ..."` for assumptions. `docs/scenario.md` documents every field.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in default scenario `us-japan` (US-built Toyotas to Japan).
pub const BUILTIN_US_JAPAN: &str = include_str!("../scenarios/us-japan.toml");

/// A whole scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scenario: Meta,
    pub tenants: Vec<Tenant>,
    pub locations: Vec<Location>,
    pub deck_classes: Vec<DeckClass>,
    pub models: Vec<Model>,
    pub plants: Vec<Plant>,
    pub inland_services: Vec<InlandService>,
    pub export_terminals: Vec<ExportTerminal>,
    pub sea_legs: Vec<SeaLeg>,
    pub vessel_services: Vec<VesselService>,
    pub import_terminals: Vec<ImportTerminal>,
    pub certification_routes: Vec<CertificationRoute>,
    pub certification: Vec<CertificationRule>,
    pub dealers: Vec<Dealer>,
    pub disruptions: Disruptions,
    /// Weights of the plan objective; defaults apply when the table is absent.
    #[serde(default)]
    pub objective: ObjectiveWeights,
    /// Settings of the insight report; defaults apply when the table is absent.
    #[serde(default)]
    pub insight: InsightSettings,
}

/// `[insight]`: thresholds of the insight report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightSettings {
    /// A milestone more than this many hours after (before) the vehicle's
    /// first plan counts as late (early).
    pub late_threshold_hours: f64,
    pub source: String,
}

impl Default for InsightSettings {
    fn default() -> Self {
        InsightSettings {
            late_threshold_hours: 24.0,
            source: "assumed: takt's default".to_string(),
        }
    }
}

/// `[objective]`: what each part of a plan's cost weighs, in US dollars.
/// See docs/objective.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveWeights {
    /// Per vehicle and day delivered after its promised date.
    pub lateness_usd_per_vehicle_day: f64,
    /// Per vehicle-hour spent waiting (plant yard, export yard, queues).
    pub dwell_usd_per_vehicle_hour: f64,
    /// Per vehicle rolled past a voyage it was planned on.
    pub roll_usd_per_vehicle: f64,
    /// Per RT43 of booked vessel space left empty (booked space is paid for).
    pub unused_space_usd_per_rt43: f64,
    /// Multiplies the inland services' `cost_per_vehicle_usd`.
    pub transport_cost_weight: f64,
    /// Per vehicle the plan cannot place.
    pub unplaced_usd_per_vehicle: f64,
    /// Per vehicle-hour at an export terminal (port arrival to vessel
    /// departure), on top of the dwell weight: the live sequencer's price
    /// of shared terminal space and storage (`takt simulate --policy
    /// takt`); not a term of the plan objective `takt check` prints.
    pub export_yard_usd_per_vehicle_hour: f64,
    pub source: String,
}

impl Default for ObjectiveWeights {
    fn default() -> Self {
        ObjectiveWeights {
            lateness_usd_per_vehicle_day: 100.0,
            dwell_usd_per_vehicle_hour: 1.0,
            roll_usd_per_vehicle: 250.0,
            unused_space_usd_per_rt43: 120.0,
            transport_cost_weight: 1.0,
            unplaced_usd_per_vehicle: 5_000.0,
            export_yard_usd_per_vehicle_hour: 1.0,
            source: "assumed: takt's default weights".to_string(),
        }
    }
}

/// `[scenario]`: name, start instant, default run length.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    pub description: String,
    /// First simulated instant, RFC 3339 (stored in UTC).
    pub start: String,
    /// Default number of simulated days.
    pub days: u32,
    /// Area of one RT43 unit in square metres (footprint of a 1966 Toyota Corona).
    pub rt43_area_m2: f64,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub source: String,
}

/// What a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Plant,
    ExportPort,
    ImportPort,
    Dealer,
}

impl LocationKind {
    /// The spelling used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            LocationKind::Plant => "plant",
            LocationKind::ExportPort => "export_port",
            LocationKind::ImportPort => "import_port",
            LocationKind::Dealer => "dealer",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// UN/LOCODE for ports, a site id otherwise.
    pub id: String,
    pub name: String,
    pub kind: LocationKind,
    /// IANA time zone, e.g. `America/Los_Angeles`.
    pub time_zone: String,
    pub source: String,
}

/// A vessel deck height class.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeckClass {
    pub id: String,
    /// Clear height of the decks in this class, millimetres.
    pub clearance_mm: u32,
    pub source: String,
}

/// A vehicle model built at one plant for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub id: String,
    pub tenant: String,
    pub name: String,
    /// Plant location id.
    pub plant: String,
    /// VIN world manufacturer identifier (positions 1-3).
    pub wmi: String,
    /// VIN vehicle descriptor section (positions 4-8).
    pub vds: String,
    /// VIN plant code (position 11).
    pub vin_plant_code: String,
    /// Model year written into issued VINs.
    pub model_year: u16,
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
    /// Inland loading class (key into `vehicles_per_unit` of inland services), e.g. `car`, `suv`, `pickup`.
    pub inland_class: String,
    /// Minutes of export processing at the US terminal.
    pub processing_minutes: u32,
    /// Vehicles per year released for this network.
    pub annual_volume: u32,
    /// Promised delivery: days after release.
    pub promised_lead_days: u32,
    pub source: String,
}

/// A weekly window of local time, e.g. Monday to Friday 06:00-14:30.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Days of week the window starts on: `mon` .. `sun`.
    pub days: Vec<String>,
    /// Local start time `HH:MM`.
    pub start: String,
    /// Local end time `HH:MM`; earlier than `start` means it ends the next day.
    pub end: String,
    /// Servers (stations, lanes, gangs) available in the window; defaults to the resource's full count.
    #[serde(default)]
    pub servers: Option<u32>,
}

/// A plant: its yard and its release (production) calendar.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    pub location: String,
    pub yard_slots: u32,
    /// Shifts in which vehicles are released to logistics.
    pub release_calendar: Vec<Window>,
    pub source: String,
}

/// A distribution of a duration in hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum HoursDist {
    /// Always the same.
    Fixed { hours: f64 },
    /// Log-normal given by its median and 90th percentile.
    Lognormal { median_hours: f64, p90_hours: f64 },
    /// Triangular between `min_hours` and `max_hours` with mode `mode_hours`.
    Triangular {
        min_hours: f64,
        mode_hours: f64,
        max_hours: f64,
    },
}

/// z-score of the 90th percentile of the standard normal distribution.
const Z90: f64 = 1.281_551_565_545;

impl HoursDist {
    /// Log-normal parameters `(mu, sigma)` from a median and a 90th percentile.
    pub fn lognormal_params(median: f64, p90: f64) -> (f64, f64) {
        let mu = median.ln();
        let sigma = ((p90 / median).ln() / Z90).max(1e-9);
        (mu, sigma)
    }

    /// The mean duration in whole minutes: what a planner assumes when it
    /// does not draw (and the least a planned inland move may take).
    pub fn mean_minutes(&self) -> i64 {
        let hours = match *self {
            HoursDist::Fixed { hours } => hours,
            HoursDist::Lognormal {
                median_hours,
                p90_hours,
            } => {
                let (mu, sigma) = Self::lognormal_params(median_hours, p90_hours);
                (mu + sigma * sigma / 2.0).exp()
            }
            HoursDist::Triangular {
                min_hours,
                mode_hours,
                max_hours,
            } => (min_hours + mode_hours + max_hours) / 3.0,
        };
        (hours * 60.0).round() as i64
    }

    /// The 90th percentile in whole minutes.
    pub fn p90_minutes(&self) -> i64 {
        let hours = match *self {
            HoursDist::Fixed { hours } => hours,
            HoursDist::Lognormal { p90_hours, .. } => p90_hours,
            HoursDist::Triangular {
                min_hours,
                mode_hours,
                max_hours,
            } => {
                // Inverse CDF at 0.9.
                let (a, b, c) = (min_hours, max_hours, mode_hours);
                let f = (c - a) / (b - a);
                if 0.9 < f {
                    a + (0.9 * (b - a) * (c - a)).sqrt()
                } else {
                    b - (0.1 * (b - a) * (b - c)).sqrt()
                }
            }
        };
        (hours * 60.0).round() as i64
    }
}

/// Rail or truck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Rail,
    Truck,
}

/// A scheduled inland service from a plant to an export port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlandService {
    pub id: String,
    pub mode: Mode,
    /// Carrier or operator name.
    pub carrier: String,
    pub from: String,
    pub to: String,
    /// Departure times, local time at `from`.
    pub departures: Vec<Departures>,
    /// Railcars (autoracks) or trucks per departure.
    pub units_per_departure: u32,
    /// Vehicles per unit by inland class; a unit carries one class.
    pub vehicles_per_unit: BTreeMap<String, u32>,
    /// Door-to-door transit from departure to arrival at the terminal.
    pub transit: HoursDist,
    pub cost_per_vehicle_usd: f64,
    pub source: String,
}

/// Departures on given days at given local times.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Departures {
    pub days: Vec<String>,
    pub times: Vec<String>,
}

/// A pool of identical servers working to a calendar, each taking a fixed number of minutes per vehicle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Servers {
    /// Number of servers (lanes, stations, drivers, inspectors).
    pub count: u32,
    /// Minutes one server spends on one vehicle (processing uses the model's minutes instead).
    #[serde(default)]
    pub minutes_per_vehicle: Option<u32>,
    /// Working windows; empty means always open.
    #[serde(default)]
    pub calendar: Vec<Window>,
}

/// An export terminal at a US port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportTerminal {
    pub location: String,
    /// Rail ramp and truck gate unloading lanes.
    pub ramp: Servers,
    /// Processing stations (wash, accessories, Japan-specific work, inspection).
    pub processing: Servers,
    pub yard_slots: u32,
    /// Stevedore drivers; `servers` in a calendar window is drivers on shift.
    pub loading: Servers,
    /// Hours before a vessel's berthing by which a vehicle must be processed and staged.
    pub cutoff_hours: u32,
    pub source: String,
}

/// A sea distance between two ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeaLeg {
    pub from: String,
    pub to: String,
    pub nautical_miles: f64,
    pub source: String,
}

/// A car-carrier service: a port rotation sailed at a fixed interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VesselService {
    pub id: String,
    pub operator: String,
    /// Export ports first, then import ports, in calling order.
    pub rotation: Vec<String>,
    /// Berthing at the first port of the first voyage, RFC 3339.
    pub first_berth: String,
    /// Days between voyages; voyages are generated to cover the simulated horizon.
    pub every_days: u32,
    pub speed_knots: f64,
    pub port_stay_hours: u32,
    pub capacity_ceu: u32,
    /// Space booked per tenant and deck class on every voyage, RT43 units.
    pub booked: Vec<Booking>,
    /// The decks the service's shippers stow on, as lanes of slots (before
    /// volume scaling: lanes are multiplied by the volume scale). Absent:
    /// one deck per deck class with space booked, with as many lanes of
    /// `DEFAULT_SLOTS_PER_LANE` slots as the booked space needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decks: Vec<DeckLayout>,
    /// A drawing of the deck graph, used as is (not scaled); `decks` must
    /// then be absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deck_graph: Option<DeckDrawing>,
    pub source: String,
}

/// Lanes of one deck class: chains of slots whose heads are next to the
/// vessel's gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeckLayout {
    pub deck_class: String,
    pub lanes: u32,
    pub slots_per_lane: u32,
}

/// A drawn deck graph: node 0 is the gate, node `i` (1-based) is the slot
/// `slots[i - 1]`, which names its deck class.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeckDrawing {
    pub slots: Vec<String>,
    /// Pairs of node numbers; relocations follow an edge in its listed
    /// orientation.
    pub edges: Vec<[usize; 2]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Booking {
    pub tenant: String,
    pub deck_class: String,
    pub rt43: f64,
}

/// A Japanese (import) terminal: discharge, certification inspection, delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTerminal {
    pub location: String,
    /// Discharge drivers.
    pub discharge: Servers,
    /// Certification work and inspection (marking, fixes, inspection certificate).
    pub certification: Servers,
    /// Car-hauler departures to dealers.
    pub delivery: Delivery,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub departures: Vec<Departures>,
    pub trucks_per_departure: u32,
    /// Vehicles per truck by inland class.
    pub vehicles_per_truck: BTreeMap<String, u32>,
}

/// A certification route of the destination market and what it asks of
/// every vehicle. Routes are data: nothing about a route is written in code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificationRoute {
    pub id: String,
    pub name: String,
    /// Each vehicle carries the route's marking (e.g. the rear star sticker).
    pub marking_required: bool,
    /// Each vehicle is presented for a new-vehicle inspection.
    pub new_vehicle_inspection: bool,
    /// Minutes of that inspection per vehicle (0 when not required).
    #[serde(default)]
    pub new_vehicle_inspection_minutes: u32,
    /// Units per type (model) per calendar year the route allows; absent means no cap.
    #[serde(default)]
    pub annual_cap_per_type: Option<u32>,
    /// Time zone of the approving authority: approval dates start at midnight there.
    pub time_zone: String,
    pub source: String,
}

/// Where per-vehicle certification work (a marking, a fix) is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkPlace {
    /// At the export terminal, during processing (`us_port` is accepted too).
    #[serde(alias = "us_port")]
    ExportPort,
    /// In the destination market, at the certification station before
    /// delivery (`japan_pdi` is accepted too).
    #[serde(alias = "japan_pdi")]
    DestinationPdi,
}

impl WorkPlace {
    /// The spelling used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            WorkPlace::ExportPort => "export_port",
            WorkPlace::DestinationPdi => "destination_pdi",
        }
    }
}

/// A voluntary fix the authority asked for (e.g. a lamp colour).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    pub id: String,
    pub description: String,
    pub minutes: u32,
    pub at: WorkPlace,
}

/// Certification of one model (and so one tenant) in the destination market.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificationRule {
    pub model: String,
    /// Id of a `[[certification_routes]]` entry.
    pub route: String,
    /// Date from which the model is approved, `YYYY-MM-DD` in the route's time zone; absent means not (yet) approved.
    #[serde(default)]
    pub approved_on: Option<String>,
    /// Where the marking is applied (when the route requires one).
    #[serde(default = "destination_pdi")]
    pub marking_at: WorkPlace,
    /// Minutes to apply the marking per vehicle.
    #[serde(default)]
    pub marking_minutes: u32,
    /// Voluntary fixes asked of this model.
    #[serde(default)]
    pub fixes: Vec<Fix>,
    /// Overrides the route's cap per type and year.
    #[serde(default)]
    pub annual_cap: Option<u32>,
    pub source: String,
}

fn destination_pdi() -> WorkPlace {
    WorkPlace::DestinationPdi
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dealer {
    pub id: String,
    pub name: String,
    pub tenant: String,
    /// Import port that serves this dealer.
    pub port: String,
    pub time_zone: String,
    /// Truck transit from the port, hours.
    pub delivery_hours: f64,
    /// Share of the tenant's demand.
    pub weight: f64,
    pub source: String,
}

/// Random disruptions; all draws come from the run's seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disruptions {
    /// Probability that an inland departure runs late, and by how much.
    pub inland_delay_probability: f64,
    pub inland_delay: HoursDist,
    /// Probability that a vessel berths late at a port, and by how much.
    pub vessel_delay_probability: f64,
    pub vessel_delay: HoursDist,
    /// Expected processing-station outages per terminal per week, and their length.
    pub station_outages_per_week: f64,
    pub station_outage: HoursDist,
    /// Probability that a vehicle gets a damage or quality hold at the export terminal, and its length.
    pub hold_probability: f64,
    pub hold: HoursDist,
    /// Probability that a vehicle fails a certification check or lacks a
    /// document at the certification station, and how long the hold lasts.
    #[serde(default)]
    pub certification_hold_probability: f64,
    #[serde(default = "no_hours")]
    pub certification_hold: HoursDist,
    pub source: String,
}

fn no_hours() -> HoursDist {
    HoursDist::Fixed { hours: 0.0 }
}

/// A scenario file that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match line { Some(l) => format!("line {l}: {message}"), None => message.clone() })]
pub struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl Scenario {
    /// Parses TOML text. Syntax errors and missing or unknown fields come
    /// back with the line they are on.
    pub fn from_toml(text: &str) -> Result<Scenario, ParseError> {
        toml::from_str(text).map_err(|e| ParseError {
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })
    }

    /// The built-in `us-japan` scenario.
    pub fn builtin() -> Scenario {
        Scenario::from_toml(BUILTIN_US_JAPAN).expect("built-in scenario parses")
    }

    /// Serializes the scenario back to TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("scenario serializes")
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Finds the line of a field path such as `inland_services[2].to` in TOML
/// text; falls back to the nearest enclosing entry that exists.
pub fn line_of_path(text: &str, path: &str) -> Option<usize> {
    use toml::de::DeTable;
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut best = None;
    for segment in path.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let Some((key, mut value)) = table.get_key_value(name) else {
            break;
        };
        best = Some(line_of(text, key.span().start));
        if let Some(i) = index {
            match value.get_ref().as_array().and_then(|a| a.get(i)) {
                Some(element) => {
                    value = element;
                    best = Some(line_of(text, element.span().start));
                }
                None => break,
            }
        }
        match value.get_ref().as_table() {
            Some(t) => table = t,
            None => break,
        }
    }
    best
}
