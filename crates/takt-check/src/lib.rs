//! The one independent plan checker of takt.
//!
//! [`check`] takes the compiled [`Network`] and a [`Plan`] and returns a
//! [`Report`] listing every rule the plan breaks. It knows nothing about
//! how the plan was made: any policy, sequencer, repair or simulator output
//! goes through the same function, and tests run it after every solve and
//! every repair. An infeasible plan is not an error: the report says what is
//! wrong, and [`Report::is_feasible`] is true only when nothing is.
//!
//! Every violation is reported, not just the first, but at most
//! [`MAX_LISTED_PER_CODE`] per [`ViolationCode`]; beyond that the list ends
//! with one summary violation of the same code, "and N more ...", and
//! [`Report::counts`] holds the true totals. The checker never panics on a
//! malformed plan (unknown ids, steps out of order, negative durations): it
//! reports what it can and skips the checks that depend on what is broken.
//!
//! # Rules
//!
//! Intervals are half-open, `[start, end)`, in UTC minutes. The *export
//! port* of a vehicle is the `to` of the inland service its inland step
//! rides (or, when that step is missing or broken, the location of its
//! `port_arrival` step); the *import port* is its dealer's port. Port call
//! times are those the plan assumes (rule 6). The code of each check is in
//! brackets.
//!
//! 1. **Structure.**
//!    The VIN parses with [`takt_core::vin::Vin::parse`], which applies the
//!    North-American check digit [`invalid_vin`], and is unique in the plan
//!    after normalisation [`duplicate_vin`]. The model exists
//!    [`unknown_model`]; the tenant exists and owns the model
//!    [`tenant_mismatch`]; the dealer exists [`unknown_dealer`] and belongs
//!    to the vehicle's tenant [`dealer_tenant`]. Steps follow the journey
//!    order of [`Stage::ALL`] and no stage appears twice [`stage_order`]. A
//!    vehicle with `unplaced == None` has all ten stages; an unplaced vehicle
//!    has a prefix of them (possibly empty) [`missing_stage`]. Every step has
//!    `end >= start` [`negative_duration`]. Steps carried out (`done`) come
//!    before planned ones [`done_order`], and a planned step does not end
//!    before the plan's `created_at` [`planned_in_past`] (a step in progress
//!    at `created_at` is fine).
//! 2. **Precedence.** Each stage starts at or after the previous present
//!    stage ends [`precedence`]; the `released` step starts at the vehicle's
//!    `released_at` [`release_time`].
//! 3. **Locations and resources.** Each step's `location` is where it starts
//!    [`wrong_location`] and its `resource` is fixed by the stage
//!    [`wrong_resource`]:
//!
//!    | stage | location | resource |
//!    |---|---|---|
//!    | released | model's plant | `PLANT/plant-yard` |
//!    | inland | model's plant | an inland service whose `from` is the plant |
//!    | port_arrival | export port | `PORT/ramp` |
//!    | processing | export port | `PORT/processing` |
//!    | yard | export port | `PORT/yard` |
//!    | loading | export port | `PORT/loading` |
//!    | voyage | export port | the vehicle's `voyage` id |
//!    | discharge | import port | `JPPORT/discharge` |
//!    | certification | import port | `JPPORT/certification` |
//!    | delivery | import port | `JPPORT/delivery` |
//!
//!    Inland and delivery steps name a `departure` that is one of the
//!    service's (import terminal's) scheduled departures, and start exactly
//!    at it [`wrong_departure`]. The voyage exists [`unknown_voyage`],
//!    loads at the export port (a call before `n_export_calls`) and later
//!    calls at the import port [`voyage_route`]. The voyage step names a
//!    known deck class that the model fits [`deck_class`].
//! 4. **Pool capacity.** For every resource in [`Network::resources`]
//!    (plant yard, ramp, processing, yard, loading, discharge,
//!    certification), at every minute `t` the number of steps on it whose
//!    `[start, end)` holds `t` is at most the calendar's
//!    [`takt_core::network::Calendar::servers_at`] minus the servers out for
//!    the plan's [`takt_core::plan::Outage`]s covering `t` (never below 0)
//!    [`over_capacity`]. Zero-length steps occupy nothing. This is one sweep
//!    per resource over the sorted endpoints of steps, calendar windows and
//!    outages; each maximal over-capacity run is reported once, at its first
//!    minute, with the count, the capacity, the end of the run and its peak.
//!    A step on a pool with a service time lasts at least that long
//!    [`service_time`]: `minutes_per_vehicle` for ramp, loading and
//!    discharge; for certification the inspection minutes plus the marking
//!    minutes when marking is done in Japan
//!    ([`takt_core::network::ModelInfo::certification_minutes`]); the
//!    model's `processing_minutes` for processing. A *planned* step (one
//!    that has not begun at the plan's `created_at`: `start >= created_at`
//!    and not `done`) lasts exactly its service time, and a planned inland
//!    step exactly the service's mean transit: plans use standard times, so
//!    waiting cannot hide inside a stretched step. Steps done or under way
//!    keep the times they took.
//!    Outages on resources the network does not have are [`wrong_resource`].
//! 5. **Departure capacity.** Inland steps grouped by (service, departure):
//!    `sum over inland classes of ceil(n_class / vehicles_per_unit[class])`
//!    is at most `units_per_departure` [`departure_capacity`], and a class
//!    with `vehicles_per_unit == 0` rides not at all [`class_not_carried`].
//!    The same for delivery steps grouped by (import terminal, departure)
//!    with `vehicles_per_truck` and `trucks_per_departure`.
//! 6. **Voyages.** `plan.voyages` gives the port-call times the plan
//!    assumes: each voyage exists [`unknown_voyage`], is listed once, calls
//!    at the network's ports in the network's order, berths and departs no
//!    earlier than scheduled, departs no earlier than it berths, and berths
//!    no earlier than it left the previous port [`voyage_times`]. Those
//!    times are used below; a voyage absent from `plan.voyages` (or listed
//!    with the wrong ports) keeps the network's schedule. At the export
//!    call, loading runs within `[berth, depart]` [`loading_window`], and the
//!    yard step (the vehicle processed and staged) starts no later than
//!    `berth - cutoff_minutes` of the export terminal [`cutoff`]. The voyage
//!    step starts at the export call's `depart` and ends at the import
//!    call's `berth` [`voyage_timing`]; discharge runs within the import
//!    call's `[berth, depart]` [`discharge_window`]. For each (voyage,
//!    tenant, deck class) the RT43 of the vehicles whose voyage step names
//!    that voyage and deck class sums to at most the booked space plus
//!    [`SPACE_TOLERANCE_RT43`] [`booked_space`].
//! 7. **Stow order.** For each voyage and export port, a vehicle loaded
//!    strictly earlier than another must not discharge at an earlier call:
//!    sorted by loading start, discharge call indices never increase.
//!    Vehicles loaded at the same minute are not ordered. Every inverted pair
//!    is one [`stow_order`] violation, on the later-loaded vehicle.
//! 8. **Certification and holds.** A certification step (done or planned)
//!    starts at or after the model's `cert.approved_from`
//!    [`cert_before_approval`]; a model that is not approved may have none
//!    [`cert_not_approved`]. A model with an `annual_cap` has at most that
//!    many certification steps starting in one calendar year in Japan time
//!    [`cert_annual_cap`] (the plan's vehicles only; the checker does not
//!    know the ones certified before). No step starts strictly inside one
//!    of its vehicle's holds, `from < start < to`: a vehicle on hold cannot
//!    begin a new stage [`start_during_hold`].
//! 9. **Delivery.** The delivery step lasts exactly the dealer's
//!    `delivery_minutes` [`delivery_duration`].
//!
//! Rules apply to done and planned steps alike: a plan whose past does not
//! add up is reported too.
//!
//! # Performance
//!
//! One pass over the vehicles with hash-map look-ups of ids, then one sort
//! and sweep per resource and ordered maps for departures, space and stow
//! groups: `O(S log S)` for `S` steps, with no per-minute loop. Messages are
//! only formatted for listed violations.
//!
//! [`invalid_vin`]: ViolationCode::InvalidVin
//! [`duplicate_vin`]: ViolationCode::DuplicateVin
//! [`unknown_model`]: ViolationCode::UnknownModel
//! [`tenant_mismatch`]: ViolationCode::TenantMismatch
//! [`unknown_dealer`]: ViolationCode::UnknownDealer
//! [`dealer_tenant`]: ViolationCode::DealerTenant
//! [`stage_order`]: ViolationCode::StageOrder
//! [`missing_stage`]: ViolationCode::MissingStage
//! [`negative_duration`]: ViolationCode::NegativeDuration
//! [`done_order`]: ViolationCode::DoneOrder
//! [`planned_in_past`]: ViolationCode::PlannedInPast
//! [`precedence`]: ViolationCode::Precedence
//! [`release_time`]: ViolationCode::ReleaseTime
//! [`wrong_location`]: ViolationCode::WrongLocation
//! [`wrong_resource`]: ViolationCode::WrongResource
//! [`wrong_departure`]: ViolationCode::WrongDeparture
//! [`unknown_voyage`]: ViolationCode::UnknownVoyage
//! [`voyage_route`]: ViolationCode::VoyageRoute
//! [`deck_class`]: ViolationCode::DeckClass
//! [`over_capacity`]: ViolationCode::OverCapacity
//! [`service_time`]: ViolationCode::ServiceTime
//! [`departure_capacity`]: ViolationCode::DepartureCapacity
//! [`class_not_carried`]: ViolationCode::ClassNotCarried
//! [`voyage_times`]: ViolationCode::VoyageTimes
//! [`loading_window`]: ViolationCode::LoadingWindow
//! [`cutoff`]: ViolationCode::Cutoff
//! [`voyage_timing`]: ViolationCode::VoyageTiming
//! [`discharge_window`]: ViolationCode::DischargeWindow
//! [`booked_space`]: ViolationCode::BookedSpace
//! [`stow_order`]: ViolationCode::StowOrder
//! [`cert_not_approved`]: ViolationCode::CertNotApproved
//! [`cert_before_approval`]: ViolationCode::CertBeforeApproval
//! [`cert_annual_cap`]: ViolationCode::CertAnnualCap
//! [`start_during_hold`]: ViolationCode::StartDuringHold
//! [`delivery_duration`]: ViolationCode::DeliveryDuration

use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fmt::Write as _;
use takt_core::network::Network;
use takt_core::plan::{Plan, Stage, Step, VehiclePlan};
use takt_core::time::Minute;
use takt_core::vin::Vin;

/// At most this many violations of one code are listed; the rest are counted.
pub const MAX_LISTED_PER_CODE: usize = 1000;

/// Slack allowed on booked space, in RT43, for floating-point sums.
pub const SPACE_TOLERANCE_RT43: f64 = 1e-6;

/// What rule a violation breaks. Serialized in snake_case; the names are
/// stable (tools and tests match on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationCode {
    /// Rule 1: the VIN does not parse (length, alphabet, North-American check digit).
    InvalidVin,
    /// Rule 1: two vehicles carry the same VIN.
    DuplicateVin,
    /// Rule 1: the vehicle's model is not in the network.
    UnknownModel,
    /// Rule 1: the tenant is unknown or does not own the model.
    TenantMismatch,
    /// Rule 1: the dealer is not in the network.
    UnknownDealer,
    /// Rule 1: the dealer belongs to another tenant.
    DealerTenant,
    /// Rule 1: steps out of journey order, or a stage repeated.
    StageOrder,
    /// Rule 1: a placed vehicle lacks a stage, or an unplaced one's steps are not a prefix.
    MissingStage,
    /// Rule 1: a step ends before it starts.
    NegativeDuration,
    /// Rule 1: a done step follows a planned one.
    DoneOrder,
    /// Rule 1: a planned (not done) step ends before the plan was made.
    PlannedInPast,
    /// Rule 2: a stage starts before the previous one ends.
    Precedence,
    /// Rule 2: the released step does not start at `released_at`.
    ReleaseTime,
    /// Rule 3: a step's location is not where its stage happens.
    WrongLocation,
    /// Rule 3: a step's resource is not the one its stage uses (or an outage names an unknown resource).
    WrongResource,
    /// Rule 3: an inland or delivery step's departure is missing, unscheduled, or not its start.
    WrongDeparture,
    /// Rules 3 and 6: a voyage id not in the network.
    UnknownVoyage,
    /// Rule 3: the voyage does not load at the export port or not call at the dealer's port after it.
    VoyageRoute,
    /// Rule 3: the voyage step's deck class is missing, unknown, or too low for the model.
    DeckClass,
    /// Rule 4: more vehicles on a pool than servers at some minute.
    OverCapacity,
    /// Rule 4: a step shorter than its service time, or a planned step not exactly its standard time.
    ServiceTime,
    /// Rule 5: an inland or delivery departure needs more units (trucks) than it has.
    DepartureCapacity,
    /// Rule 5: a vehicle rides a departure that carries 0 of its inland class.
    ClassNotCarried,
    /// Rule 6: the plan's port-call times contradict the network or themselves.
    VoyageTimes,
    /// Rule 6: loading outside the export call's berth..depart.
    LoadingWindow,
    /// Rule 6: staged in the yard after the vessel cutoff.
    Cutoff,
    /// Rule 6: the voyage step does not run from the export departure to the import berth.
    VoyageTiming,
    /// Rule 6: discharge outside the import call's berth..depart.
    DischargeWindow,
    /// Rule 6: more RT43 on a voyage, tenant and deck class than booked.
    BookedSpace,
    /// Rule 7: a vehicle loaded after another that discharges earlier would block it.
    StowOrder,
    /// Rule 8: a certification step for a model that is not approved.
    CertNotApproved,
    /// Rule 8: a certification step before the model's approval.
    CertBeforeApproval,
    /// Rule 8: more certifications of a model in one year than its annual cap.
    CertAnnualCap,
    /// Rule 8: a step starts while its vehicle is on hold.
    StartDuringHold,
    /// Rule 9: the delivery step does not last the dealer's delivery time.
    DeliveryDuration,
}

impl ViolationCode {
    /// Every code, in rule order.
    pub const ALL: [ViolationCode; 35] = [
        ViolationCode::InvalidVin,
        ViolationCode::DuplicateVin,
        ViolationCode::UnknownModel,
        ViolationCode::TenantMismatch,
        ViolationCode::UnknownDealer,
        ViolationCode::DealerTenant,
        ViolationCode::StageOrder,
        ViolationCode::MissingStage,
        ViolationCode::NegativeDuration,
        ViolationCode::DoneOrder,
        ViolationCode::PlannedInPast,
        ViolationCode::Precedence,
        ViolationCode::ReleaseTime,
        ViolationCode::WrongLocation,
        ViolationCode::WrongResource,
        ViolationCode::WrongDeparture,
        ViolationCode::UnknownVoyage,
        ViolationCode::VoyageRoute,
        ViolationCode::DeckClass,
        ViolationCode::OverCapacity,
        ViolationCode::ServiceTime,
        ViolationCode::DepartureCapacity,
        ViolationCode::ClassNotCarried,
        ViolationCode::VoyageTimes,
        ViolationCode::LoadingWindow,
        ViolationCode::Cutoff,
        ViolationCode::VoyageTiming,
        ViolationCode::DischargeWindow,
        ViolationCode::BookedSpace,
        ViolationCode::StowOrder,
        ViolationCode::CertNotApproved,
        ViolationCode::CertBeforeApproval,
        ViolationCode::CertAnnualCap,
        ViolationCode::StartDuringHold,
        ViolationCode::DeliveryDuration,
    ];

    /// The stable snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationCode::InvalidVin => "invalid_vin",
            ViolationCode::DuplicateVin => "duplicate_vin",
            ViolationCode::UnknownModel => "unknown_model",
            ViolationCode::TenantMismatch => "tenant_mismatch",
            ViolationCode::UnknownDealer => "unknown_dealer",
            ViolationCode::DealerTenant => "dealer_tenant",
            ViolationCode::StageOrder => "stage_order",
            ViolationCode::MissingStage => "missing_stage",
            ViolationCode::NegativeDuration => "negative_duration",
            ViolationCode::DoneOrder => "done_order",
            ViolationCode::PlannedInPast => "planned_in_past",
            ViolationCode::Precedence => "precedence",
            ViolationCode::ReleaseTime => "release_time",
            ViolationCode::WrongLocation => "wrong_location",
            ViolationCode::WrongResource => "wrong_resource",
            ViolationCode::WrongDeparture => "wrong_departure",
            ViolationCode::UnknownVoyage => "unknown_voyage",
            ViolationCode::VoyageRoute => "voyage_route",
            ViolationCode::DeckClass => "deck_class",
            ViolationCode::OverCapacity => "over_capacity",
            ViolationCode::ServiceTime => "service_time",
            ViolationCode::DepartureCapacity => "departure_capacity",
            ViolationCode::ClassNotCarried => "class_not_carried",
            ViolationCode::VoyageTimes => "voyage_times",
            ViolationCode::LoadingWindow => "loading_window",
            ViolationCode::Cutoff => "cutoff",
            ViolationCode::VoyageTiming => "voyage_timing",
            ViolationCode::DischargeWindow => "discharge_window",
            ViolationCode::BookedSpace => "booked_space",
            ViolationCode::StowOrder => "stow_order",
            ViolationCode::CertNotApproved => "cert_not_approved",
            ViolationCode::CertBeforeApproval => "cert_before_approval",
            ViolationCode::CertAnnualCap => "cert_annual_cap",
            ViolationCode::StartDuringHold => "start_during_hold",
            ViolationCode::DeliveryDuration => "delivery_duration",
        }
    }

    /// The number of the rule in the crate documentation (1 to 9).
    pub fn rule(self) -> u8 {
        use ViolationCode::*;
        match self {
            InvalidVin | DuplicateVin | UnknownModel | TenantMismatch | UnknownDealer
            | DealerTenant | StageOrder | MissingStage | NegativeDuration | DoneOrder
            | PlannedInPast => 1,
            Precedence | ReleaseTime => 2,
            WrongLocation | WrongResource | WrongDeparture | UnknownVoyage | VoyageRoute
            | DeckClass => 3,
            OverCapacity | ServiceTime => 4,
            DepartureCapacity | ClassNotCarried => 5,
            VoyageTimes | LoadingWindow | Cutoff | VoyageTiming | DischargeWindow | BookedSpace => {
                6
            }
            StowOrder => 7,
            CertNotApproved | CertBeforeApproval | CertAnnualCap | StartDuringHold => 8,
            DeliveryDuration => 9,
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub code: ViolationCode,
    /// The vehicle, as written in the plan, when one vehicle is at fault.
    pub vin: Option<String>,
    /// The resource, service, voyage or location id involved.
    pub resource: Option<String>,
    /// The minute the violation starts or is observed.
    pub at: Option<Minute>,
    /// What is wrong, in words, with the numbers.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.code)?;
        if let Some(vin) = &self.vin {
            write!(f, " VIN {vin}")?;
        }
        if let Some(r) = &self.resource {
            write!(f, " resource {r}")?;
        }
        if let Some(t) = self.at {
            write!(f, " at {t}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Listed violations: at most [`MAX_LISTED_PER_CODE`] per code, plus one
    /// "and N more" summary per code that had more.
    pub violations: Vec<Violation>,
    pub n_vehicles: usize,
    pub n_steps: usize,
    /// True number of violations per code (listed or not); codes with none are absent.
    pub counts: BTreeMap<ViolationCode, usize>,
}

impl Report {
    /// True when the plan breaks no rule.
    pub fn is_feasible(&self) -> bool {
        self.violations.is_empty()
    }

    /// True number of violations of `code`.
    pub fn count(&self, code: ViolationCode) -> usize {
        self.counts.get(&code).copied().unwrap_or(0)
    }

    /// True number of violations of all codes.
    pub fn n_violations(&self) -> usize {
        self.counts.values().sum()
    }

    /// Listed violations of `code`, summary lines included.
    pub fn of(&self, code: ViolationCode) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(move |v| v.code == code)
    }
}

/// A few lines: feasible or not, sizes, and the number of violations per code.
pub fn check_summary(report: &Report) -> String {
    let mut s = String::new();
    let n = report.n_violations();
    if n == 0 {
        let _ = write!(
            s,
            "feasible: {} vehicles, {} steps, no violations",
            report.n_vehicles, report.n_steps
        );
        return s;
    }
    let _ = write!(
        s,
        "infeasible: {} vehicles, {} steps, {} violations",
        report.n_vehicles, report.n_steps, n
    );
    for (code, k) in &report.counts {
        let _ = write!(s, "\n  {code}: {k}");
    }
    s
}

/// Checks `plan` against `network`; see the crate documentation for the rules.
pub fn check(network: &Network, plan: &Plan) -> Report {
    let mut c = Checker::new(network, plan);
    c.voyage_times();
    c.outages();
    for (vi, v) in plan.vehicles.iter().enumerate() {
        c.vehicle(vi, v);
    }
    c.pools();
    c.departures();
    c.space();
    c.stow();
    c.cert_caps();
    c.sink.finish(plan.vehicles.len(), c.n_steps)
}

/// Collects violations, listing at most [`MAX_LISTED_PER_CODE`] per code.
struct Sink {
    violations: Vec<Violation>,
    counts: [usize; ViolationCode::ALL.len()],
}

impl Sink {
    fn add(
        &mut self,
        code: ViolationCode,
        vin: Option<&str>,
        resource: Option<&str>,
        at: Option<Minute>,
        message: impl FnOnce() -> String,
    ) {
        let n = &mut self.counts[code as usize];
        *n += 1;
        if *n <= MAX_LISTED_PER_CODE {
            self.violations.push(Violation {
                code,
                vin: vin.map(str::to_owned),
                resource: resource.map(str::to_owned),
                at,
                message: message(),
            });
        }
    }

    /// Whether one more violation of `code` would be listed.
    fn listing(&self, code: ViolationCode) -> bool {
        self.counts[code as usize] < MAX_LISTED_PER_CODE
    }

    /// Counts `n` violations of `code` without listing them.
    fn count_only(&mut self, code: ViolationCode, n: usize) {
        self.counts[code as usize] += n;
    }

    fn finish(mut self, n_vehicles: usize, n_steps: usize) -> Report {
        let mut counts = BTreeMap::new();
        for code in ViolationCode::ALL {
            let n = self.counts[code as usize];
            if n > 0 {
                counts.insert(code, n);
            }
            if n > MAX_LISTED_PER_CODE {
                self.violations.push(Violation {
                    code,
                    vin: None,
                    resource: None,
                    at: None,
                    message: format!(
                        "and {} more `{code}` violations not listed ({n} in all)",
                        n - MAX_LISTED_PER_CODE
                    ),
                });
            }
        }
        Report {
            violations: self.violations,
            n_vehicles,
            n_steps,
            counts,
        }
    }
}

/// A step interval on a pool: start, end, index of the vehicle.
type Interval = (i64, i64, u32);

/// One vehicle loaded at one export call: loading start, discharge call, vehicle.
type Stowed = (Minute, usize, u32);

struct Checker<'a> {
    net: &'a Network,
    plan: &'a Plan,
    sink: Sink,
    n_steps: usize,
    model: HashMap<&'a str, usize>,
    tenant: HashMap<&'a str, usize>,
    dealer: HashMap<&'a str, usize>,
    location: HashMap<&'a str, usize>,
    voyage: HashMap<&'a str, usize>,
    inland: HashMap<&'a str, usize>,
    resource: HashMap<&'a str, usize>,
    deck: HashMap<&'a str, usize>,
    /// Export terminal by location index.
    export_at: HashMap<usize, usize>,
    /// `(berth, depart)` per voyage and call, as the plan assumes them.
    times: Vec<Vec<(Minute, Minute)>>,
    /// Normalised VIN to the index of the first vehicle carrying it.
    vins: HashMap<Cow<'a, str>, usize>,
    pools: Vec<Vec<Interval>>,
    outages: Vec<Vec<(i64, i64, u32)>>,
    /// Vehicles per inland class by (service, departure).
    inland_loads: BTreeMap<(usize, Minute), Vec<u32>>,
    /// Vehicles per inland class by (import terminal, departure).
    delivery_loads: BTreeMap<(usize, Minute), Vec<u32>>,
    /// RT43 and vehicles by (voyage, tenant, deck class).
    space: BTreeMap<(usize, usize, usize), (f64, usize)>,
    /// Vehicles loaded by (voyage, export call).
    stowed: BTreeMap<(usize, usize), Vec<Stowed>>,
    /// Certification steps by (model, year in Japan), for capped models.
    certified: BTreeMap<(usize, i16), usize>,
}

fn index_of<'a, T>(items: &'a [T], id: impl Fn(&'a T) -> &'a str) -> HashMap<&'a str, usize> {
    items.iter().enumerate().map(|(i, x)| (id(x), i)).collect()
}

impl<'a> Checker<'a> {
    fn new(net: &'a Network, plan: &'a Plan) -> Self {
        let times = net
            .voyages
            .iter()
            .map(|v| v.calls.iter().map(|c| (c.berth, c.depart)).collect())
            .collect();
        Checker {
            net,
            plan,
            sink: Sink {
                violations: Vec::new(),
                counts: [0; ViolationCode::ALL.len()],
            },
            n_steps: 0,
            model: index_of(&net.models, |m| m.id.as_str()),
            tenant: index_of(&net.tenants, |t| t.id.as_str()),
            dealer: index_of(&net.dealers, |d| d.id.as_str()),
            location: index_of(&net.locations, |l| l.id.as_str()),
            voyage: index_of(&net.voyages, |v| v.id.as_str()),
            inland: index_of(&net.inland, |s| s.id.as_str()),
            resource: index_of(&net.resources, |r| r.id.as_str()),
            deck: index_of(&net.deck_classes, |d| d.id.as_str()),
            export_at: net
                .export_terminals
                .iter()
                .enumerate()
                .map(|(i, t)| (t.location, i))
                .collect(),
            times,
            vins: HashMap::with_capacity(plan.vehicles.len()),
            pools: vec![Vec::new(); net.resources.len()],
            outages: vec![Vec::new(); net.resources.len()],
            inland_loads: BTreeMap::new(),
            delivery_loads: BTreeMap::new(),
            space: BTreeMap::new(),
            stowed: BTreeMap::new(),
            certified: BTreeMap::new(),
        }
    }

    /// Rule 6, first half: the plan's port-call times, checked and adopted.
    fn voyage_times(&mut self) {
        let net = self.net;
        let mut seen = vec![false; net.voyages.len()];
        for vt in &self.plan.voyages {
            let id = vt.voyage.as_str();
            let Some(&vx) = self.voyage.get(id) else {
                self.sink
                    .add(ViolationCode::UnknownVoyage, None, Some(id), None, || {
                        format!("plan.voyages lists voyage `{id}`, which the network does not have")
                    });
                continue;
            };
            if std::mem::replace(&mut seen[vx], true) {
                self.sink
                    .add(ViolationCode::VoyageTimes, None, Some(id), None, || {
                        "listed twice in plan.voyages; the first entry is used".into()
                    });
                continue;
            }
            let vo = &net.voyages[vx];
            let same_ports = vt.calls.len() == vo.calls.len()
                && vt
                    .calls
                    .iter()
                    .zip(&vo.calls)
                    .all(|(a, b)| a.port == net.locations[b.location].id);
            if !same_ports {
                self.sink
                    .add(ViolationCode::VoyageTimes, None, Some(id), None, || {
                        let plan: Vec<&str> = vt.calls.iter().map(|c| c.port.as_str()).collect();
                        let rotation: Vec<&str> = vo
                            .calls
                            .iter()
                            .map(|c| net.locations[c.location].id.as_str())
                            .collect();
                        format!(
                            "the plan calls at {} but the voyage's rotation is {}; the network's schedule is used",
                            plan.join(", "),
                            rotation.join(", ")
                        )
                    });
                continue;
            }
            let mut previous_depart: Option<Minute> = None;
            for (ct, pc) in vt.calls.iter().zip(&vo.calls) {
                let port = ct.port.as_str();
                if ct.berth < pc.berth {
                    self.sink.add(
                        ViolationCode::VoyageTimes,
                        None,
                        Some(id),
                        Some(ct.berth),
                        || {
                            format!(
                                "berths at {port} at {}, before its scheduled berth {}",
                                ct.berth, pc.berth
                            )
                        },
                    );
                }
                if ct.depart < pc.depart {
                    self.sink.add(
                        ViolationCode::VoyageTimes,
                        None,
                        Some(id),
                        Some(ct.depart),
                        || {
                            format!(
                                "departs {port} at {}, before its scheduled departure {}",
                                ct.depart, pc.depart
                            )
                        },
                    );
                }
                if ct.depart < ct.berth {
                    self.sink.add(
                        ViolationCode::VoyageTimes,
                        None,
                        Some(id),
                        Some(ct.depart),
                        || {
                            format!(
                                "departs {port} at {}, before it berths there at {}",
                                ct.depart, ct.berth
                            )
                        },
                    );
                }
                if let Some(pd) = previous_depart
                    && ct.berth < pd
                {
                    self.sink.add(
                        ViolationCode::VoyageTimes,
                        None,
                        Some(id),
                        Some(ct.berth),
                        || {
                            format!(
                                "berths at {port} at {}, before it left the previous port at {pd}",
                                ct.berth
                            )
                        },
                    );
                }
                previous_depart = Some(ct.depart);
            }
            self.times[vx] = vt.calls.iter().map(|c| (c.berth, c.depart)).collect();
        }
    }

    /// Outages of the plan, by resource.
    fn outages(&mut self) {
        for o in &self.plan.outages {
            match self.resource.get(o.resource.as_str()) {
                Some(&r) => {
                    if o.to > o.from && o.servers > 0 {
                        self.outages[r].push((o.from.0, o.to.0, o.servers));
                    }
                }
                None => self.sink.add(
                    ViolationCode::WrongResource,
                    None,
                    Some(&o.resource),
                    Some(o.from),
                    || {
                        format!(
                            "an outage names `{}`, which is not a capacity resource of the network",
                            o.resource
                        )
                    },
                ),
            }
        }
    }

    fn expect_location(&mut self, v: &VehiclePlan, s: &Step, expected: &str) {
        if s.location != expected {
            self.sink.add(
                ViolationCode::WrongLocation,
                Some(&v.vin),
                Some(&s.resource),
                Some(s.start),
                || {
                    format!(
                        "{} step at location `{}`, expected `{expected}`",
                        s.stage, s.location
                    )
                },
            );
        }
    }

    fn expect_resource(&mut self, v: &VehiclePlan, s: &Step, expected: &str) {
        if s.resource != expected {
            self.sink.add(
                ViolationCode::WrongResource,
                Some(&v.vin),
                Some(&s.resource),
                Some(s.start),
                || {
                    format!(
                        "{} step on `{}`, expected `{expected}`",
                        s.stage, s.resource
                    )
                },
            );
        }
    }

    /// A step lasts at least its service time; a planned one (not begun
    /// when the plan was made) exactly its service time, as planners plan.
    fn expect_service_time(&mut self, v: &VehiclePlan, s: &Step, minutes: i64) {
        let took = s.end.since(s.start);
        let planned = s.start >= self.plan.created_at && !s.done;
        let wrong = if planned {
            took != minutes
        } else {
            took < minutes
        };
        if minutes > 0 && wrong {
            self.sink.add(
                ViolationCode::ServiceTime,
                Some(&v.vin),
                Some(&s.resource),
                Some(s.start),
                || {
                    if planned {
                        format!(
                            "planned {} step takes {took} min, not its standard {minutes} min",
                            s.stage
                        )
                    } else {
                        format!(
                            "{} step takes {took} min, less than its service time of {minutes} min",
                            s.stage
                        )
                    }
                },
            );
        }
    }

    /// Checks a departure: present, scheduled, and the step's start.
    fn expect_departure(&mut self, v: &VehiclePlan, s: &Step, scheduled: &[Minute]) -> bool {
        let Some(d) = s.departure else {
            self.sink.add(
                ViolationCode::WrongDeparture,
                Some(&v.vin),
                Some(&s.resource),
                Some(s.start),
                || format!("{} step names no departure", s.stage),
            );
            return false;
        };
        if scheduled.binary_search(&d).is_err() {
            self.sink.add(
                ViolationCode::WrongDeparture,
                Some(&v.vin),
                Some(&s.resource),
                Some(d),
                || {
                    format!(
                        "{} departure {d} is not a scheduled departure of `{}`",
                        s.stage, s.resource
                    )
                },
            );
        }
        if s.start != d {
            self.sink.add(
                ViolationCode::WrongDeparture,
                Some(&v.vin),
                Some(&s.resource),
                Some(s.start),
                || {
                    format!(
                        "{} step starts at {}, not at its departure {d}",
                        s.stage, s.start
                    )
                },
            );
        }
        true
    }

    /// Rules 1 to 3, 8 and 9 for one vehicle; gathers what rules 4 to 8 need.
    fn vehicle(&mut self, vi: usize, v: &'a VehiclePlan) {
        use ViolationCode as C;
        let net = self.net;
        let vin = v.vin.as_str();
        let vin_opt = Some(vin);
        self.n_steps += v.steps.len();

        // Rule 1: identity.
        let key: Cow<'a, str> = match Vin::parse(vin) {
            Ok(parsed) if parsed.as_str() == vin => Cow::Borrowed(vin),
            Ok(parsed) => Cow::Owned(parsed.as_str().to_owned()),
            Err(e) => {
                self.sink.add(C::InvalidVin, vin_opt, None, None, || {
                    format!("`{vin}`: {e}")
                });
                Cow::Owned(vin.trim().to_ascii_uppercase())
            }
        };
        match self.vins.get(&key) {
            Some(&first) => self.sink.add(C::DuplicateVin, vin_opt, None, None, || {
                format!("vehicles #{first} and #{vi} carry the same VIN")
            }),
            None => {
                self.vins.insert(key, vi);
            }
        }
        let model = self.model.get(v.model.as_str()).copied();
        if model.is_none() {
            self.sink.add(C::UnknownModel, vin_opt, None, None, || {
                format!("model `{}` is not in the network", v.model)
            });
        }
        let tenant = self.tenant.get(v.tenant.as_str()).copied();
        match (tenant, model) {
            (None, _) => self.sink.add(C::TenantMismatch, vin_opt, None, None, || {
                format!("tenant `{}` is not in the network", v.tenant)
            }),
            (Some(t), Some(m)) if net.models[m].tenant != t => {
                self.sink.add(C::TenantMismatch, vin_opt, None, None, || {
                    format!(
                        "tenant `{}`, but model `{}` belongs to tenant `{}`",
                        v.tenant, v.model, net.tenants[net.models[m].tenant].id
                    )
                })
            }
            _ => {}
        }
        let dealer = self.dealer.get(v.dealer.as_str()).copied();
        let owner = tenant.or(model.map(|m| net.models[m].tenant));
        match dealer {
            None => self.sink.add(C::UnknownDealer, vin_opt, None, None, || {
                format!("dealer `{}` is not in the network", v.dealer)
            }),
            Some(d) => {
                if let Some(t) = owner
                    && net.dealers[d].tenant != t
                {
                    self.sink.add(C::DealerTenant, vin_opt, None, None, || {
                        format!(
                            "dealer `{}` belongs to tenant `{}`, not `{}`",
                            v.dealer, net.tenants[net.dealers[d].tenant].id, net.tenants[t].id
                        )
                    });
                }
            }
        }

        // Rule 1: steps; rule 8: holds; rule 4: pool intervals.
        let mut by_stage: [Option<&'a Step>; 10] = [None; 10];
        let mut max_stage: Option<Stage> = None;
        let mut seen_planned = false;
        for s in &v.steps {
            let k = s.stage.index();
            if by_stage[k].is_some() {
                self.sink.add(
                    C::StageOrder,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || format!("stage {} appears more than once", s.stage),
                );
            } else {
                if let Some(m) = max_stage
                    && s.stage < m
                {
                    self.sink.add(
                        C::StageOrder,
                        vin_opt,
                        Some(&s.resource),
                        Some(s.start),
                        || {
                            format!(
                                "stage {} is listed after {}; steps must follow the journey order",
                                s.stage, m
                            )
                        },
                    );
                }
                by_stage[k] = Some(s);
            }
            max_stage = max_stage.max(Some(s.stage));
            if s.end < s.start {
                self.sink.add(
                    C::NegativeDuration,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || format!("{} step ends at {}, before it starts", s.stage, s.end),
                );
            }
            if s.done {
                if seen_planned {
                    self.sink.add(
                        C::DoneOrder,
                        vin_opt,
                        Some(&s.resource),
                        Some(s.start),
                        || {
                            format!(
                                "{} step is done, but an earlier step is only planned",
                                s.stage
                            )
                        },
                    );
                }
            } else {
                seen_planned = true;
                if s.end < self.plan.created_at {
                    self.sink.add(
                        C::PlannedInPast,
                        vin_opt,
                        Some(&s.resource),
                        Some(s.end),
                        || {
                            format!(
                                "{} step is planned but ends at {}, before the plan was made at {}",
                                s.stage, s.end, self.plan.created_at
                            )
                        },
                    );
                }
            }
            if let Some(h) = v.holds.iter().find(|h| h.from < s.start && s.start < h.to) {
                self.sink.add(
                    C::StartDuringHold,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || {
                        format!(
                            "{} step starts while the vehicle is on hold ({}) from {} to {}",
                            s.stage, h.reason, h.from, h.to
                        )
                    },
                );
            }
            if s.end > s.start
                && let Some(&r) = self.resource.get(s.resource.as_str())
            {
                self.pools[r].push((s.start.0, s.end.0, vi as u32));
            }
        }
        let missing: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|st| by_stage[st.index()].is_none())
            .collect();
        if v.unplaced.is_none() {
            if !missing.is_empty() {
                self.sink.add(C::MissingStage, vin_opt, None, None, || {
                    let names: Vec<&str> = missing.iter().map(|s| s.name()).collect();
                    format!(
                        "the vehicle is placed (no `unplaced` reason) but has no {} step",
                        names.join(", ")
                    )
                });
            }
        } else if let Some(&gap) = missing.first()
            && let Some(&later) = Stage::ALL[gap.index() + 1..]
                .iter()
                .find(|st| by_stage[st.index()].is_some())
        {
            self.sink.add(C::MissingStage, vin_opt, None, None, || {
                format!(
                    "an unplaced vehicle has a prefix of the journey, but this one has {later} and no {gap}"
                )
            });
        }
        let get = |st: Stage| by_stage[st.index()];

        // Rule 2.
        let mut prev: Option<&Step> = None;
        for s in by_stage.iter().flatten() {
            if let Some(p) = prev
                && s.start < p.end
            {
                self.sink.add(
                    C::Precedence,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || {
                        format!(
                            "{} starts at {}, before {} ends at {}",
                            s.stage, s.start, p.stage, p.end
                        )
                    },
                );
            }
            prev = Some(s);
        }
        if let Some(s) = get(Stage::Released)
            && s.start != v.released_at
        {
            self.sink.add(
                C::ReleaseTime,
                vin_opt,
                Some(&s.resource),
                Some(s.start),
                || {
                    format!(
                        "released step starts at {}, but the vehicle was released at {}",
                        s.start, v.released_at
                    )
                },
            );
        }

        // Rule 8: certification, which needs only the model.
        let Some(mi) = model else { return };
        let m = &net.models[mi];
        if let Some(s) = get(Stage::Certification) {
            match m.cert.approved_from {
                None => self.sink.add(
                    C::CertNotApproved,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || {
                        format!(
                            "model `{}` has no certification approval in the scenario, yet the vehicle has a {} certification step",
                            m.id,
                            if s.done { "done" } else { "planned" }
                        )
                    },
                ),
                Some(a) if s.start < a => self.sink.add(
                    C::CertBeforeApproval,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || format!("certification starts at {}, before model `{}` is approved from {a}", s.start, m.id),
                ),
                Some(_) => {}
            }
            // The year in the dealer's (Japanese) time zone; an unknown
            // dealer is reported above and not counted here.
            if m.cert.annual_cap.is_some()
                && let Some(d) = dealer
            {
                let tz = &net.locations[net.dealers[d].port].tz;
                let year = s.start.timestamp().to_zoned(tz.clone()).year();
                *self.certified.entry((mi, year)).or_insert(0) += 1;
            }
        }

        // Rule 3: plant side.
        let plant = &net.plants[m.plant];
        let plant_id = net.locations[plant.location].id.as_str();
        if let Some(s) = get(Stage::Released) {
            self.expect_location(v, s, plant_id);
            self.expect_resource(v, s, &net.resources[plant.yard].id);
        }
        let mut export_terminal: Option<usize> = None;
        if let Some(s) = get(Stage::Inland) {
            self.expect_location(v, s, plant_id);
            match self.inland.get(s.resource.as_str()).copied() {
                None => self.sink.add(
                    C::WrongResource,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || {
                        format!(
                            "inland step on `{}`, which is not an inland service",
                            s.resource
                        )
                    },
                ),
                Some(si) => {
                    let sv = &net.inland[si];
                    if sv.from != plant.location {
                        self.sink.add(
                            C::WrongResource,
                            vin_opt,
                            Some(&s.resource),
                            Some(s.start),
                            || {
                                format!(
                                    "inland service `{}` runs from `{}`, but model `{}` is built at `{plant_id}`",
                                    sv.id, net.locations[sv.from].id, m.id
                                )
                            },
                        );
                    }
                    export_terminal = Some(sv.terminal);
                    // A move that has not begun is planned at the mean transit.
                    if s.start >= self.plan.created_at && !s.done {
                        self.expect_service_time(v, s, sv.transit.mean_minutes());
                    }
                    if self.expect_departure(v, s, &sv.departures)
                        && let Some(d) = s.departure
                    {
                        let n_classes = net.inland_classes.len();
                        self.inland_loads
                            .entry((si, d))
                            .or_insert_with(|| vec![0; n_classes])[m.inland_class] += 1;
                    }
                }
            }
        }
        if export_terminal.is_none()
            && let Some(s) = get(Stage::PortArrival)
        {
            export_terminal = self
                .location
                .get(s.location.as_str())
                .and_then(|l| self.export_at.get(l))
                .copied();
        }

        // Rule 3 and 4: export terminal.
        if let Some(ti) = export_terminal {
            let t = &net.export_terminals[ti];
            let port_id = net.locations[t.location].id.as_str();
            for (stage, r, minutes) in [
                (
                    Stage::PortArrival,
                    t.ramp.resource,
                    t.ramp.minutes_per_vehicle,
                ),
                (
                    Stage::Processing,
                    t.processing.resource,
                    m.processing_minutes,
                ),
                (Stage::Yard, t.yard, 0),
                (
                    Stage::Loading,
                    t.loading.resource,
                    t.loading.minutes_per_vehicle,
                ),
            ] {
                if let Some(s) = get(stage) {
                    self.expect_location(v, s, port_id);
                    self.expect_resource(v, s, &net.resources[r].id);
                    self.expect_service_time(v, s, minutes);
                }
            }
        }

        // Rule 3: voyage and deck class.
        let voyage_step = get(Stage::Voyage);
        if let Some(s) = voyage_step {
            if let Some(ti) = export_terminal {
                self.expect_location(v, s, &net.locations[net.export_terminals[ti].location].id);
            }
            match v.voyage.as_deref() {
                Some(id) if id == s.resource => {}
                planned => self.sink.add(
                    C::WrongResource,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || match planned {
                        Some(id) => format!(
                            "voyage step on `{}`, but the vehicle is planned on `{id}`",
                            s.resource
                        ),
                        None => format!(
                            "voyage step on `{}`, but the vehicle names no voyage",
                            s.resource
                        ),
                    },
                ),
            }
        }
        let voyage_id = voyage_step
            .map(|s| s.resource.as_str())
            .or(v.voyage.as_deref());
        let voyage = match voyage_id {
            None => None,
            Some(id) => match self.voyage.get(id) {
                Some(&x) => Some(x),
                None => {
                    self.sink
                        .add(C::UnknownVoyage, vin_opt, Some(id), None, || {
                            format!("voyage `{id}` is not in the network")
                        });
                    None
                }
            },
        };
        let mut deck = None;
        if let Some(s) = voyage_step {
            match s.deck_class.as_deref() {
                None => self.sink.add(
                    C::DeckClass,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || "voyage step names no deck class".into(),
                ),
                Some(d) => match self.deck.get(d).copied() {
                    None => self.sink.add(
                        C::DeckClass,
                        vin_opt,
                        Some(&s.resource),
                        Some(s.start),
                        || format!("deck class `{d}` is not in the network"),
                    ),
                    Some(di) => {
                        if !m.deck_classes.contains(&di) {
                            self.sink.add(
                                C::DeckClass,
                                vin_opt,
                                Some(&s.resource),
                                Some(s.start),
                                || {
                                    format!(
                                        "model `{}` is {} mm tall and does not fit deck class `{d}` ({} mm clearance)",
                                        m.id, m.height_mm, net.deck_classes[di].clearance_mm
                                    )
                                },
                            );
                        }
                        deck = Some(di);
                    }
                },
            }
        }

        // Rule 3: route; rule 6: times at the calls.
        let mut export_call = None;
        let mut import_call = None;
        if let Some(vx) = voyage {
            let vo = &net.voyages[vx];
            let rotation = || {
                vo.calls
                    .iter()
                    .map(|c| net.locations[c.location].id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if let Some(ti) = export_terminal {
                let port = net.export_terminals[ti].location;
                match vo.call_at(port) {
                    Some(c) if c < vo.n_export_calls => export_call = Some(c),
                    _ => self
                        .sink
                        .add(C::VoyageRoute, vin_opt, Some(&vo.id), None, || {
                            format!(
                                "voyage does not load at the export port `{}` (rotation {})",
                                net.locations[port].id,
                                rotation()
                            )
                        }),
                }
            }
            if let Some(d) = dealer {
                let port = net.dealers[d].port;
                match vo.call_at(port) {
                    Some(j) if j >= vo.n_export_calls && export_call.is_none_or(|c| j > c) => {
                        import_call = Some(j)
                    }
                    _ => self
                        .sink
                        .add(C::VoyageRoute, vin_opt, Some(&vo.id), None, || {
                            format!(
                                "voyage does not call at the dealer's port `{}` (rotation {})",
                                net.locations[port].id,
                                rotation()
                            )
                        }),
                }
            }
        }
        if let (Some(vx), Some(c)) = (voyage, export_call) {
            let (berth, depart) = self.times[vx][c];
            let voyage_id = net.voyages[vx].id.as_str();
            if let Some(s) = get(Stage::Loading)
                && (s.start < berth || s.end > depart)
            {
                self.sink.add(
                    C::LoadingWindow,
                    vin_opt,
                    Some(voyage_id),
                    Some(s.start),
                    || {
                        format!(
                            "loading {}..{} is outside the call {berth}..{depart}",
                            s.start, s.end
                        )
                    },
                );
            }
            if let Some(s) = get(Stage::Yard)
                && let Some(ti) = export_terminal
            {
                let cutoff_at = berth.plus(-net.export_terminals[ti].cutoff_minutes);
                if s.start > cutoff_at {
                    self.sink
                        .add(C::Cutoff, vin_opt, Some(voyage_id), Some(s.start), || {
                            format!(
                                "staged in the yard at {}, after the cutoff {cutoff_at} for the berth at {berth}",
                                s.start
                            )
                        });
                }
            }
            if let Some(s) = voyage_step
                && s.start != depart
            {
                self.sink
                    .add(C::VoyageTiming, vin_opt, Some(voyage_id), Some(s.start), || {
                        format!(
                            "voyage step starts at {}, but the vessel departs the export port at {depart}",
                            s.start
                        )
                    });
            }
            if let (Some(s), Some(j)) = (get(Stage::Loading), import_call) {
                self.stowed
                    .entry((vx, c))
                    .or_default()
                    .push((s.start, j, vi as u32));
            }
        }
        if let (Some(vx), Some(j)) = (voyage, import_call) {
            let (berth, depart) = self.times[vx][j];
            let voyage_id = net.voyages[vx].id.as_str();
            if let Some(s) = voyage_step
                && s.end != berth
            {
                self.sink
                    .add(C::VoyageTiming, vin_opt, Some(voyage_id), Some(s.end), || {
                        format!(
                            "voyage step ends at {}, but the vessel berths at the dealer's port at {berth}",
                            s.end
                        )
                    });
            }
            if let Some(s) = get(Stage::Discharge)
                && (s.start < berth || s.end > depart)
            {
                self.sink.add(
                    C::DischargeWindow,
                    vin_opt,
                    Some(voyage_id),
                    Some(s.start),
                    || {
                        format!(
                            "discharge {}..{} is outside the call {berth}..{depart}",
                            s.start, s.end
                        )
                    },
                );
            }
        }
        if let (Some(s), Some(deck)) = (voyage_step, deck)
            && let Some(&vx) = self.voyage.get(s.resource.as_str())
        {
            let e = self.space.entry((vx, m.tenant, deck)).or_insert((0.0, 0));
            e.0 += m.rt43;
            e.1 += 1;
        }

        // Rules 3, 4 and 9: import terminal.
        let Some(di) = dealer else { return };
        let d = &net.dealers[di];
        let it = &net.import_terminals[d.terminal];
        let port_id = net.locations[d.port].id.as_str();
        for (stage, pool) in [
            (Stage::Discharge, &it.discharge),
            (Stage::Certification, &it.certification),
        ] {
            if let Some(s) = get(stage) {
                self.expect_location(v, s, port_id);
                self.expect_resource(v, s, &net.resources[pool.resource].id);
                let minutes = match stage {
                    Stage::Certification => m.certification_minutes(pool.minutes_per_vehicle),
                    _ => pool.minutes_per_vehicle,
                };
                self.expect_service_time(v, s, minutes);
            }
        }
        if let Some(s) = get(Stage::Delivery) {
            self.expect_location(v, s, port_id);
            let right_resource = s.resource.strip_suffix("/delivery") == Some(port_id);
            if !right_resource {
                self.sink.add(
                    C::WrongResource,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || {
                        format!(
                            "delivery step on `{}`, expected `{port_id}/delivery`",
                            s.resource
                        )
                    },
                );
            }
            if self.expect_departure(v, s, &it.delivery_departures)
                && right_resource
                && let Some(dep) = s.departure
            {
                let n_classes = net.inland_classes.len();
                self.delivery_loads
                    .entry((d.terminal, dep))
                    .or_insert_with(|| vec![0; n_classes])[m.inland_class] += 1;
            }
            let expected_end = s.start.plus(d.delivery_minutes);
            if s.end != expected_end {
                self.sink.add(
                    C::DeliveryDuration,
                    vin_opt,
                    Some(&s.resource),
                    Some(s.start),
                    || {
                        format!(
                            "delivery ends at {}, but delivery to `{}` takes {} min, so it ends at {expected_end}",
                            s.end, d.id, d.delivery_minutes
                        )
                    },
                );
            }
        }
    }

    /// Rule 4: one sweep per resource.
    fn pools(&mut self) {
        #[derive(Clone, Copy)]
        struct Ev {
            t: i64,
            load: i32,
            cal: i64,
            out: i64,
            vehicle: u32,
        }
        struct Run {
            start: i64,
            count: i64,
            cap: i64,
            cal: i64,
            out: i64,
            peak: i64,
            vehicle: Option<u32>,
        }
        let net = self.net;
        let plan = self.plan;
        let mut ev: Vec<Ev> = Vec::new();
        for r in 0..net.resources.len() {
            let intervals = std::mem::take(&mut self.pools[r]);
            if intervals.is_empty() {
                continue;
            }
            let res = &net.resources[r];
            let cal = &res.calendar;
            ev.clear();
            let none = u32::MAX;
            for &(s, e, vi) in &intervals {
                ev.push(Ev {
                    t: s,
                    load: 1,
                    cal: 0,
                    out: 0,
                    vehicle: vi,
                });
                ev.push(Ev {
                    t: e,
                    load: -1,
                    cal: 0,
                    out: 0,
                    vehicle: none,
                });
            }
            let mut cal_now: i64 = 0;
            if cal.always_open {
                cal_now = cal.full as i64;
            } else {
                for &(s, e, n) in &cal.windows {
                    ev.push(Ev {
                        t: s.0,
                        load: 0,
                        cal: n as i64,
                        out: 0,
                        vehicle: none,
                    });
                    ev.push(Ev {
                        t: e.0,
                        load: 0,
                        cal: -(n as i64),
                        out: 0,
                        vehicle: none,
                    });
                }
            }
            for &(s, e, n) in &self.outages[r] {
                ev.push(Ev {
                    t: s,
                    load: 0,
                    cal: 0,
                    out: n as i64,
                    vehicle: none,
                });
                ev.push(Ev {
                    t: e,
                    load: 0,
                    cal: 0,
                    out: -(n as i64),
                    vehicle: none,
                });
            }
            ev.sort_unstable_by_key(|e| e.t);
            let (mut load, mut out) = (0i64, 0i64);
            let mut run: Option<Run> = None;
            let mut i = 0;
            while i < ev.len() {
                let t = ev[i].t;
                let mut starter = None;
                while i < ev.len() && ev[i].t == t {
                    let e = ev[i];
                    load += e.load as i64;
                    cal_now += e.cal;
                    out += e.out;
                    if e.load > 0 {
                        starter = Some(e.vehicle);
                    }
                    i += 1;
                }
                let cap = (cal_now - out).max(0);
                if load > cap {
                    match &mut run {
                        Some(r) => r.peak = r.peak.max(load),
                        None => {
                            run = Some(Run {
                                start: t,
                                count: load,
                                cap,
                                cal: cal_now,
                                out,
                                peak: load,
                                vehicle: starter,
                            })
                        }
                    }
                } else if let Some(run) = run.take() {
                    self.over_capacity(
                        &res.id,
                        plan,
                        run.start,
                        Some(t),
                        run.count,
                        run.cap,
                        run.cal,
                        run.out,
                        run.peak,
                        run.vehicle,
                    );
                }
            }
            if let Some(run) = run.take() {
                self.over_capacity(
                    &res.id,
                    plan,
                    run.start,
                    None,
                    run.count,
                    run.cap,
                    run.cal,
                    run.out,
                    run.peak,
                    run.vehicle,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn over_capacity(
        &mut self,
        resource: &str,
        plan: &Plan,
        start: i64,
        end: Option<i64>,
        count: i64,
        cap: i64,
        cal: i64,
        out: i64,
        peak: i64,
        vehicle: Option<u32>,
    ) {
        let vin = vehicle.map(|vi| plan.vehicles[vi as usize].vin.as_str());
        self.sink.add(
            ViolationCode::OverCapacity,
            vin,
            Some(resource),
            Some(Minute(start)),
            || {
                let until = match end {
                    Some(e) => format!("until {}", Minute(e)),
                    None => "to the end".to_string(),
                };
                let outages = if out > 0 {
                    format!(", {out} out of service")
                } else {
                    String::new()
                };
                format!(
                    "{count} vehicles at once, capacity {cap} ({cal} servers in the calendar{outages}); over capacity {until}, peak {peak}"
                )
            },
        );
    }

    /// Rule 5.
    fn departures(&mut self) {
        use ViolationCode as C;
        let net = self.net;
        for (&(si, dep), counts) in &self.inland_loads {
            let sv = &net.inland[si];
            let mut units = 0u64;
            for (class, &n) in counts.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let per_unit = sv.vehicles_per_unit[class];
                if per_unit == 0 {
                    self.sink.add(C::ClassNotCarried, None, Some(&sv.id), Some(dep), || {
                        format!(
                            "{n} vehicles of inland class `{}` ride, but the service carries none of that class",
                            net.inland_classes[class]
                        )
                    });
                } else {
                    units += (n as u64).div_ceil(per_unit as u64);
                }
            }
            if units > sv.units_per_departure as u64 {
                self.sink
                    .add(C::DepartureCapacity, None, Some(&sv.id), Some(dep), || {
                        format!(
                            "{} vehicles need {units} units, but the departure has {}",
                            counts.iter().sum::<u32>(),
                            sv.units_per_departure
                        )
                    });
            }
        }
        for (&(ti, dep), counts) in &self.delivery_loads {
            let it = &net.import_terminals[ti];
            let resource = format!("{}/delivery", net.locations[it.location].id);
            let mut trucks = 0u64;
            for (class, &n) in counts.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let per_truck = it.vehicles_per_truck[class];
                if per_truck == 0 {
                    self.sink.add(C::ClassNotCarried, None, Some(&resource), Some(dep), || {
                        format!(
                            "{n} vehicles of inland class `{}` are delivered, but the trucks carry none of that class",
                            net.inland_classes[class]
                        )
                    });
                } else {
                    trucks += (n as u64).div_ceil(per_truck as u64);
                }
            }
            if trucks > it.trucks_per_departure as u64 {
                self.sink.add(
                    C::DepartureCapacity,
                    None,
                    Some(&resource),
                    Some(dep),
                    || {
                        format!(
                            "{} vehicles need {trucks} trucks, but the departure has {}",
                            counts.iter().sum::<u32>(),
                            it.trucks_per_departure
                        )
                    },
                );
            }
        }
    }

    /// Rule 6: booked space.
    fn space(&mut self) {
        let net = self.net;
        for (&(vx, t, d), &(rt43, n)) in &self.space {
            let vo = &net.voyages[vx];
            let booked = vo
                .booked
                .get(t)
                .and_then(|b| b.get(d))
                .copied()
                .unwrap_or(0.0);
            if rt43 > booked + SPACE_TOLERANCE_RT43 {
                self.sink.add(ViolationCode::BookedSpace, None, Some(&vo.id), None, || {
                    format!(
                        "tenant `{}`, deck class `{}`: {n} vehicles take {rt43:.3} RT43, but {booked:.3} RT43 is booked",
                        net.tenants[t].id, net.deck_classes[d].id
                    )
                });
            }
        }
    }

    /// Rule 7: stow order, by counting inverted pairs per call index.
    fn stow(&mut self) {
        let net = self.net;
        let plan = self.plan;
        let stowed = std::mem::take(&mut self.stowed);
        for ((vx, c), mut group) in stowed {
            let vo = &net.voyages[vx];
            let n_calls = vo.calls.len();
            group.sort_unstable_by_key(|&(t, j, vi)| (t, j, vi));
            // Vehicles loaded strictly earlier, by discharge call.
            let mut earlier: Vec<Vec<u32>> = vec![Vec::new(); n_calls];
            let mut i = 0;
            while i < group.len() {
                let t = group[i].0;
                let mut k = i;
                while k < group.len() && group[k].0 == t {
                    k += 1;
                }
                for &(start, j, b) in &group[i..k] {
                    for (ja, list) in earlier.iter().enumerate().take(j) {
                        if list.is_empty() {
                            continue;
                        }
                        if !self.sink.listing(ViolationCode::StowOrder) {
                            self.sink.count_only(ViolationCode::StowOrder, list.len());
                            continue;
                        }
                        for (pos, &a) in list.iter().enumerate() {
                            if !self.sink.listing(ViolationCode::StowOrder) {
                                self.sink
                                    .count_only(ViolationCode::StowOrder, list.len() - pos);
                                break;
                            }
                            let va = &plan.vehicles[a as usize];
                            let vb = &plan.vehicles[b as usize];
                            self.sink.add(
                                ViolationCode::StowOrder,
                                Some(&vb.vin),
                                Some(&vo.id),
                                Some(start),
                                || {
                                    format!(
                                        "loaded at {} after {} (loaded earlier), but discharges later, at {} (call {}) vs {} (call {}): it would block {}",
                                        net.locations[vo.calls[c].location].id,
                                        va.vin,
                                        net.locations[vo.calls[j].location].id,
                                        j,
                                        net.locations[vo.calls[ja].location].id,
                                        ja,
                                        va.vin
                                    )
                                },
                            );
                        }
                    }
                }
                for &(_, j, b) in &group[i..k] {
                    earlier[j].push(b);
                }
                i = k;
            }
        }
    }

    /// Rule 8: annual certification caps.
    fn cert_caps(&mut self) {
        let net = self.net;
        for (&(mi, year), &n) in &self.certified {
            let m = &net.models[mi];
            if let Some(cap) = m.cert.annual_cap
                && n > cap as usize
            {
                self.sink.add(ViolationCode::CertAnnualCap, None, Some(&m.id), None, || {
                    format!(
                        "{n} vehicles of model `{}` are certified in {year}, over its annual cap of {cap} (route `{}`)",
                        m.id, net.cert_routes[m.cert.route].id
                    )
                });
            }
        }
    }
}
