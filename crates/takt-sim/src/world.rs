//! The simulated world: a discrete-event model of the whole network.
//!
//! The world owns time, capacities, calendars and randomness; a [`Policy`]
//! makes the decisions. Every duration and disruption is drawn from one
//! seeded generator in a fixed order, so a seed gives the same run, byte for
//! byte. Nothing here does I/O or reads the clock: the caller advances time
//! with [`Simulation::run_until`] and drains milestones with
//! [`Simulation::drain_milestones`].
//!
//! Rules the world enforces, whatever the policy says:
//! - pools (ramps, processing stations, drivers, inspectors) serve at most
//!   their calendar's servers at once, never across a shift break, and a
//!   station that is down serves nobody;
//! - yards hold at most their slots (a vehicle takes its export-yard slot
//!   when processing starts, so processing waits when the yard is full);
//! - inland departures, vessel space by deck class and delivery trucks are
//!   booked, never overbooked;
//! - a vehicle not staged by its voyage's cutoff, or not loaded by departure,
//!   is rolled to a later voyage;
//! - loading follows stow order (later discharge port first), and every
//!   vehicle stands on a slot of its voyage's deck graph of its booked deck
//!   class (so within that class's clearance): the stowage plan of each
//!   call (`takt_stow::online`) gives the loading order at an export port
//!   and the discharge order in Japan, and a vehicle in another's way is
//!   discharged temporarily and loaded again, which takes the port's
//!   drivers (gang minutes) like any other move;
//! - certification waits for the model's approval and its annual cap.

use crate::dist::{mean_minutes, p90_minutes, sample_minutes};
use crate::forecast::{Draws, Learned};
use crate::policy::{Policy, RouteOption};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use takt_core::Minute;
use takt_core::network::{
    CERTIFICATE_ITEM, Network, PLANNING_TAIL_DAYS, ResourceIdx, ResourceKind,
};
use takt_core::plan::{self, Stage};
use takt_core::scenario::WorkPlace;
use takt_core::vin::{Vin, serial_from_number};
use takt_stow::online::{Action, Deck, Graph, Item, Step};

/// What a step occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    Pool(ResourceIdx),
    Inland(usize),
    Voyage(usize),
    Delivery(usize),
}

/// One stage of one vehicle as it happened (or, in a projection, as planned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimStep {
    pub stage: Stage,
    pub location: usize,
    pub res: Res,
    pub start: Minute,
    pub end: Minute,
    pub departure: Option<Minute>,
    pub deck: Option<usize>,
}

/// A vehicle's route through the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub inland: Option<(usize, usize)>,
    pub terminal: usize,
    pub voyage: usize,
    pub call: usize,
    pub discharge_call: usize,
    pub deck: usize,
}

/// A vehicle in the world.
#[derive(Debug, Clone)]
pub struct Vehicle {
    pub id: usize,
    pub vin: Vin,
    pub model: usize,
    pub tenant: usize,
    pub dealer: usize,
    pub released_at: Minute,
    pub promised_by: Minute,
    pub route: Option<Route>,
    /// Export terminal the vehicle is at or heading to, once routed.
    pub terminal: Option<usize>,
    pub steps: Vec<SimStep>,
    pub holds: Vec<plan::Hold>,
    /// When it was staged in the export yard.
    pub staged_at: Option<Minute>,
    pub loaded: bool,
    pub rolls: u32,
    pub delivered_at: Option<Minute>,
    /// Why the vehicle cannot move on, when it cannot.
    pub blocked: Option<&'static str>,
    /// Invalidates queue entries that no longer apply.
    ticket: u32,
    /// The pool queue the vehicle waits in, with its priority.
    queued: Option<(usize, i64)>,
}

impl Vehicle {
    pub fn last_stage(&self) -> Option<Stage> {
        self.steps.last().map(|s| s.stage)
    }
    pub fn step(&self, stage: Stage) -> Option<&SimStep> {
        self.steps.iter().find(|s| s.stage == stage)
    }
}

pub use takt_core::event::{MILESTONES, Milestone};

mod restore;
pub use restore::{Rebook, RestoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Release {
        model: usize,
    },
    InlandDeparture {
        svc: usize,
        dep: usize,
    },
    InlandArrival {
        svc: usize,
        dep: usize,
    },
    PoolWake {
        pool: usize,
    },
    /// Start what the pool's free servers can take, once every event of
    /// this minute that was already due has run ([`Simulation::dispatch`]).
    Dispatch {
        pool: usize,
    },
    ServiceEnd {
        pool: usize,
        server: usize,
        vid: usize,
    },
    HoldEnd {
        vid: usize,
    },
    Cutoff {
        voyage: usize,
        call: usize,
    },
    Berth {
        voyage: usize,
        call: usize,
    },
    Depart {
        voyage: usize,
        call: usize,
    },
    DeliveryDeparture {
        term: usize,
        dep: usize,
    },
    Delivered {
        vid: usize,
    },
    Outage {
        pool: usize,
        server: usize,
        minutes: i64,
        /// Announced (planned maintenance, a gang known to be missing):
        /// part of what a projection knows, unlike outages still to be drawn.
        known: bool,
    },
    /// A vehicle on hold when a server could take it queues again when the hold ends.
    Requeue {
        pool: usize,
        vid: usize,
    },
    Reroute {
        vid: usize,
    },
    /// A certification hold (approval, annual cap) ends: queue for certification.
    CertRelease {
        pool: usize,
        vid: usize,
    },
    /// A failed check or missing document is resolved: record the certificate.
    CertCheckCleared {
        vid: usize,
    },
}

impl Ev {
    fn is_voyage(&self) -> bool {
        matches!(
            self,
            Ev::Cutoff { .. } | Ev::Berth { .. } | Ev::Depart { .. }
        )
    }
}

#[derive(Debug, Clone)]
struct PoolState {
    resource: ResourceIdx,
    kind: ResourceKind,
    location: usize,
    busy_until: Vec<Minute>,
    /// Per server: out of service until.
    down_until: Vec<Minute>,
    /// Pending outage per server (starts when the server is next free).
    pending_outage: Vec<i64>,
    queue: BinaryHeap<Reverse<(i64, u64, usize, u32)>>,
    wake_at: Option<Minute>,
    /// The minute a dispatch of the pool is already due ([`Ev::Dispatch`]).
    dispatch_at: Option<Minute>,
    /// Export terminal whose yard this pool feeds (processing) or empties (loading).
    terminal: Option<usize>,
    import_terminal: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Departure {
    /// Vehicles booked, by inland class.
    by_class: Vec<u32>,
    vehicles: Vec<usize>,
    scheduled: bool,
    /// Left already: nobody can board any more.
    departed: bool,
    arrival: Option<Minute>,
}

#[derive(Debug, Clone)]
struct VoyageState {
    /// Actual (or, in projection, planned) berth and departure per call.
    calls: Vec<(Minute, Minute)>,
    /// Calls that have happened (berthed).
    berthed: Vec<bool>,
    /// Remaining booked RT43 by tenant and deck.
    space_left: Vec<Vec<f64>>,
    /// Vehicles assigned, by export call.
    assigned: Vec<Vec<usize>>,
    /// Vehicles on board, in loading order.
    aboard: Vec<usize>,
    loaded_rt43: f64,
    /// Where the vehicles on board (or planned on board at a call under
    /// way) stand; from the first export call to the last call.
    deck: Option<Box<Deck>>,
}

/// Queue entries at or above this are rehandling moves, not vehicles:
/// `REHANDLE_JOB + index` into `Simulation::jobs`.
const REHANDLE_JOB: usize = usize::MAX / 2;

/// One piece of a call's work in the stowage plan's order.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// A vehicle's own loading or discharge.
    Vehicle(usize),
    /// A rehandling move (by a driver of the port; no vehicle's step).
    Rehandle(Action),
}

/// A rehandling move waiting for a driver: a vehicle discharged
/// temporarily, or loaded again after that.
#[derive(Debug, Clone, Copy)]
struct Job {
    action: Action,
}

/// Rehandling at one port: moves of vehicles that stay on board (driven
/// off to clear the way, and on again), and the driver minutes they took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rehandling {
    /// Vehicles discharged temporarily.
    pub temporary_discharges: u64,
    /// All rehandling moves: temporary discharges and loadings again.
    pub moves: u64,
    /// Minutes of the port's drivers spent on those moves.
    pub gang_minutes: i64,
    /// Calls at the port whose stowage was worked.
    pub calls: u64,
}

/// Options of a run.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub seed: u64,
    /// The volume scale the network was compiled with, recorded in plans.
    pub volume_scale: f64,
}

/// Counters kept while the world runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub holds_placed: u64,
    pub station_outages: u64,
    pub inland_delays: u64,
    pub vessel_delays: u64,
    pub reroute_attempts: u64,
    pub release_waits_for_plant_yard: u64,
    pub certification_cap_blocks: u64,
    pub certification_holds: u64,
}

/// Something a live planner hears about as it happens, so it can repair
/// its plan at once rather than at its next re-plan. Collected only when
/// [`Simulation::watch`] is set, and only in the world itself (never in the
/// projections and forecasts it clones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A server of an export terminal's pool went down unannounced for `minutes`.
    StationDown {
        terminal: usize,
        resource: String,
        minutes: i64,
    },
    /// A hold was placed on a vehicle (damage, a failed check, an approval).
    HoldPlaced { vid: usize },
    /// A train or truck reached its export terminal `minutes` later than
    /// its mean transit (at least [`LATE_NOTICE_MINUTES`]), with `vids`.
    ArrivedLate {
        svc: usize,
        vids: Vec<usize>,
        minutes: i64,
    },
    /// A vessel berthed at one of its export calls `minutes` after its
    /// schedule (at least [`LATE_NOTICE_MINUTES`]); its later calls are
    /// known to follow.
    VesselLate {
        voyage: usize,
        call: usize,
        minutes: i64,
    },
}

/// How late an arrival or a berthing must be to be worth a notice.
pub const LATE_NOTICE_MINUTES: i64 = 6 * 60;

/// The whole simulated world.
#[derive(Clone)]
pub struct Simulation {
    pub net: Network,
    policy_name: String,
    policy: PolicyBox,
    rng: ChaCha8Rng,
    /// When true, no draws: mean durations, no disruptions, no new releases.
    nominal: bool,
    pub now: Minute,
    seq: u64,
    events: BinaryHeap<Reverse<(Minute, u64, Ev)>>,
    pub vehicles: Vec<Vehicle>,
    pools: Vec<PoolState>,
    pool_of_resource: HashMap<ResourceIdx, usize>,
    inland_deps: Vec<Vec<Departure>>,
    delivery_deps: Vec<Vec<Departure>>,
    voyages: Vec<VoyageState>,
    voyages_by_berth: Vec<usize>,
    plant_yard_used: Vec<u32>,
    plant_waiting: Vec<Vec<usize>>,
    export_yard_used: Vec<u32>,
    serials: HashMap<(String, String, char), u32>,
    cert_count: HashMap<(usize, i16), u32>,
    pub outages: Vec<plan::Outage>,
    milestones: Vec<Milestone>,
    event_counter: u64,
    pub counters: Counters,
    volume_scale: f64,
    release_carry: Vec<f64>,
    /// Where random draws come from (the truth, or learned distributions in a forecast).
    draws: Draws,
    /// Whether milestones are recorded (not in projections and forecasts).
    record: bool,
    /// Rehandling moves queued or done, by queue entry.
    jobs: Vec<Job>,
    /// Rehandling done, by port (location index).
    pub rehandling: BTreeMap<usize, Rehandling>,
    /// Vehicles loaded with no slot of their class left on the deck graph.
    pub unstowed: u64,
    /// Voyage times and arrivals of moves under way are what was announced
    /// (a world rebuilt from an instance): projections keep them rather
    /// than re-deriving them from the schedule and mean transit times.
    calls_known: bool,
    /// Collect [`Notice`]s for a live planner (see [`Simulation::run_until_notice`]).
    pub watch: bool,
    notices: Vec<Notice>,
}

struct PolicyBox(Box<dyn Policy>);
impl Clone for PolicyBox {
    fn clone(&self) -> Self {
        PolicyBox(self.0.clone_box())
    }
}

fn class_units(by_class: &[u32], per_unit: &[u32]) -> u32 {
    by_class
        .iter()
        .zip(per_unit)
        .map(|(&n, &p)| if n == 0 { 0 } else { n.div_ceil(p.max(1)) })
        .sum()
}

/// Slack kept for terminal queues when offering the latest inland
/// departure that still makes a cutoff (just-in-time shipping).
pub const JIT_QUEUE_ALLOWANCE_MINUTES: i64 = 24 * 60;

/// The smaller queue allowance offered to a planner that projects the
/// terminal's queues itself (and re-plans when they grow).
pub const SNUG_QUEUE_ALLOWANCE_MINUTES: i64 = 4 * 60;

/// Units needed if one more vehicle of `class` boards.
fn units_with_one_more(by_class: &[u32], class: usize, per_unit: &[u32]) -> u32 {
    let base = class_units(by_class, per_unit);
    let p = per_unit[class].max(1);
    let n = by_class[class];
    base + ((n + 1).div_ceil(p) - n.div_ceil(p))
}

impl Simulation {
    /// Builds the world at the network's start. Release times, disruptions
    /// and vessel delays are drawn from `options.seed` as the run goes.
    pub fn new(net: Network, policy: Box<dyn Policy>, options: SimOptions) -> Simulation {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let mut pools = Vec::new();
        let mut pool_of_resource = HashMap::new();
        for (t, term) in net.export_terminals.iter().enumerate() {
            for pool in [&term.ramp, &term.processing, &term.loading] {
                pool_of_resource.insert(pool.resource, pools.len());
                pools.push(PoolState::new(&net, pool, Some(t), None));
            }
        }
        for (t, term) in net.import_terminals.iter().enumerate() {
            for pool in [&term.discharge, &term.certification] {
                pool_of_resource.insert(pool.resource, pools.len());
                pools.push(PoolState::new(&net, pool, None, Some(t)));
            }
        }
        let n_classes = net.inland_classes.len();
        let empty = |count: usize| {
            vec![
                Departure {
                    by_class: vec![0; n_classes],
                    ..Default::default()
                };
                count
            ]
        };
        let inland_deps = net
            .inland
            .iter()
            .map(|s| empty(s.departures.len()))
            .collect();
        let delivery_deps = net
            .import_terminals
            .iter()
            .map(|t| empty(t.delivery_departures.len()))
            .collect();
        // Voyage times with delays drawn now, in voyage order.
        let d = net.disruptions.clone();
        let mut counters = Counters::default();
        let voyages: Vec<VoyageState> = net
            .voyages
            .iter()
            .map(|v| {
                let mut calls = Vec::with_capacity(v.calls.len());
                let mut prev_depart: Option<(Minute, i64)> = None;
                for (c, call) in v.calls.iter().enumerate() {
                    let mut berth = call.berth;
                    if let Some((dep, sail)) = prev_depart {
                        berth = berth.max(dep.plus(sail));
                    }
                    if rng.random_bool(d.vessel_delay_probability) {
                        berth = berth.plus(sample_minutes(&d.vessel_delay, &mut rng));
                        counters.vessel_delays += 1;
                    }
                    let stay = call.depart.since(call.berth);
                    let depart = call.depart.max(berth.plus(stay));
                    if let Some(next) = v.calls.get(c + 1) {
                        prev_depart = Some((depart, next.berth.since(call.depart)));
                    }
                    calls.push((berth, depart));
                }
                VoyageState {
                    calls,
                    berthed: vec![false; v.calls.len()],
                    space_left: v.booked.clone(),
                    assigned: vec![Vec::new(); v.n_export_calls],
                    aboard: Vec::new(),
                    loaded_rt43: 0.0,
                    deck: None,
                }
            })
            .collect();
        let mut voyages_by_berth: Vec<usize> = (0..net.voyages.len()).collect();
        voyages_by_berth.sort_by_key(|&v| (net.voyages[v].calls[0].berth, v));
        let n_plants = net.plants.len();
        let n_models = net.models.len();
        let n_export = net.export_terminals.len();
        let start = net.start;
        let mut sim = Simulation {
            policy_name: policy.name().to_string(),
            policy: PolicyBox(policy),
            rng,
            nominal: false,
            now: start,
            seq: 0,
            events: BinaryHeap::new(),
            vehicles: Vec::new(),
            pools,
            pool_of_resource,
            inland_deps,
            delivery_deps,
            voyages,
            voyages_by_berth,
            plant_yard_used: vec![0; n_plants],
            plant_waiting: vec![Vec::new(); n_plants],
            export_yard_used: vec![0; n_export],
            serials: HashMap::new(),
            cert_count: HashMap::new(),
            outages: Vec::new(),
            milestones: Vec::new(),
            event_counter: 0,
            counters,
            volume_scale: options.volume_scale,
            release_carry: vec![0.0; n_models],
            draws: Draws::Truth,
            record: true,
            calls_known: false,
            watch: false,
            notices: Vec::new(),
            jobs: Vec::new(),
            rehandling: BTreeMap::new(),
            unstowed: 0,
            net,
        };
        sim.schedule_voyage_events(start);
        for m in 0..sim.net.models.len() {
            sim.schedule_next_release(m, start);
        }
        let (start, end) = (sim.net.start, sim.net.end);
        sim.schedule_outages(start, end);
        sim
    }

    pub fn policy_name(&self) -> &str {
        &self.policy_name
    }

    fn push(&mut self, at: Minute, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, ev)));
    }

    fn schedule_voyage_events(&mut self, from: Minute) {
        for v in 0..self.net.voyages.len() {
            let n_export = self.net.voyages[v].n_export_calls;
            for c in 0..self.net.voyages[v].calls.len() {
                let (berth, depart) = self.voyages[v].calls[c];
                if c < n_export {
                    let term = self
                        .net
                        .export_terminal_at(self.net.voyages[v].calls[c].location)
                        .expect("validated");
                    let cutoff = self.net.voyages[v].calls[c]
                        .berth
                        .plus(-self.net.export_terminals[term].cutoff_minutes);
                    if cutoff >= from {
                        self.push(cutoff, Ev::Cutoff { voyage: v, call: c });
                    }
                    if depart >= from {
                        self.push(depart, Ev::Depart { voyage: v, call: c });
                    }
                }
                if berth >= from && !self.voyages[v].berthed[c] {
                    self.push(berth, Ev::Berth { voyage: v, call: c });
                }
            }
        }
    }

    /// Outages of processing stations over the simulated horizon, drawn up front.
    /// Draws processing-station outages in `[from, until)`: a Poisson
    /// process per processing pool at the rate the draws give (the
    /// scenario's, or the rate learned from history in a forecast).
    fn schedule_outages(&mut self, from: Minute, until: Minute) {
        let per_week = match &self.draws {
            Draws::Truth => self.net.disruptions.station_outages_per_week,
            Draws::Learned(l) => l.outage_rate(),
        };
        if per_week <= 0.0 {
            return;
        }
        let mean_gap = 7.0 * 1440.0 / per_week;
        for p in 0..self.pools.len() {
            if self.pools[p].kind != ResourceKind::Processing {
                continue;
            }
            let mut t = from.0 as f64;
            loop {
                let u: f64 = self.rng.random_range(1e-12..1.0);
                t += -u.ln() * mean_gap;
                if t >= until.0 as f64 {
                    break;
                }
                // A station that works in every shift goes down, so an outage
                // always takes one working server away (as the checker counts it).
                let cal = &self.net.resources[self.pools[p].resource].calendar;
                let always = if cal.always_open {
                    cal.full
                } else {
                    cal.windows.iter().map(|w| w.2).min().unwrap_or(0)
                };
                if always == 0 {
                    continue;
                }
                let server = self.rng.random_range(0..always as usize);
                let minutes = match &self.draws {
                    Draws::Learned(l) if !l.outages.is_empty() => {
                        l.outages[self.rng.random_range(0..l.outages.len())]
                    }
                    _ => sample_minutes(&self.net.disruptions.station_outage, &mut self.rng),
                };
                self.push(
                    Minute(t as i64),
                    Ev::Outage {
                        pool: p,
                        server,
                        minutes: minutes.max(1),
                        known: false,
                    },
                );
            }
        }
    }

    /// Schedules the model's next release after `after`, in the plant's release windows.
    fn schedule_next_release(&mut self, model: usize, after: Minute) {
        if self.nominal {
            return;
        }
        let m = &self.net.models[model];
        let plant = &self.net.plants[m.plant];
        let windows = &plant.release_windows;
        if windows.is_empty() || m.annual_volume <= 0.0 {
            return;
        }
        // Working minutes per year from the calendar's first full week.
        let week_start = self.net.start;
        let week_end = week_start.plus(7 * Minute::DAY);
        let weekly: i64 = windows
            .iter()
            .map(|&(s, e)| e.min(week_end).since(s.max(week_start)).max(0))
            .sum();
        let rate = m.annual_volume / (weekly.max(1) as f64 * 365.25 / 7.0);
        let u: f64 = self.rng.random_range(1e-12..1.0);
        // Exponential gaps in working minutes; the fraction carries over so
        // whole-minute rounding does not bias the volume.
        let exact = -u.ln() / rate + self.release_carry[model];
        let mut gap = exact.floor() as i64;
        self.release_carry[model] = exact - gap as f64;
        let mut i = windows.partition_point(|w| w.1 <= after);
        let mut t = after;
        while let Some(&(s, e)) = windows.get(i) {
            let from = s.max(t);
            let avail = e.since(from);
            if gap < avail {
                let at = from.plus(gap);
                if at < self.net.end {
                    self.push(at, Ev::Release { model });
                }
                return;
            }
            gap -= avail.max(0);
            i += 1;
            t = windows.get(i).map(|w| w.0).unwrap_or(e);
        }
    }

    /// Processes every event strictly before `until`.
    pub fn run_until(&mut self, until: Minute) {
        self.run(until, false);
    }

    /// Processes events before `until` like [`Simulation::run_until`], but
    /// returns as soon as an event has raised a [`Notice`] (with `now` at
    /// that event's minute; other events of the same minute may still be
    /// due): true then, false when `until` was reached.
    pub fn run_until_notice(&mut self, until: Minute) -> bool {
        self.run(until, true)
    }

    fn run(&mut self, until: Minute, stop_at_notice: bool) -> bool {
        while let Some(Reverse((at, _, _))) = self.events.peek() {
            if *at >= until {
                break;
            }
            let Reverse((at, _, ev)) = self.events.pop().expect("peeked");
            self.now = at;
            self.handle(ev);
            if stop_at_notice && !self.notices.is_empty() {
                return true;
            }
        }
        self.now = self.now.max(until);
        false
    }

    /// The notices raised since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Raises the notice `n` builds, when a live planner is watching (only
    /// then is it built).
    fn notice(&mut self, n: impl FnOnce(&Self) -> Notice) {
        if self.watch && self.record {
            let n = n(self);
            self.notices.push(n);
        }
    }

    /// Runs to the end of the scenario's simulated horizon.
    pub fn run_to_end(&mut self) {
        let end = self.net.end;
        self.run_until(end);
    }

    /// Takes the milestones produced since the last call, in time order.
    pub fn drain_milestones(&mut self) -> Vec<Milestone> {
        std::mem::take(&mut self.milestones)
    }

    fn emit(
        &mut self,
        vid: usize,
        milestone: &'static str,
        stage: Stage,
        location: usize,
        resource: String,
        reason: Option<String>,
    ) {
        self.emit_with_item(vid, milestone, stage, (location, resource), reason, None);
    }

    /// Records the checklist items done at `place` now (the inspection
    /// certificate only when `certificate`, every other item otherwise).
    fn emit_checklist(
        &mut self,
        vid: usize,
        place: WorkPlace,
        stage: Stage,
        location: usize,
        resource: &str,
        certificate: bool,
    ) {
        if !self.record {
            return;
        }
        let m = self.vehicles[vid].model;
        let items: Vec<String> = self.net.models[m]
            .cert
            .checklist
            .iter()
            .filter(|i| i.at == place && (i.id == CERTIFICATE_ITEM) == certificate)
            .map(|i| i.id.clone())
            .collect();
        for item in items {
            self.emit_with_item(
                vid,
                "checklist_item_done",
                stage,
                (location, resource.to_string()),
                None,
                Some(item),
            );
        }
    }

    fn emit_with_item(
        &mut self,
        vid: usize,
        milestone: &'static str,
        stage: Stage,
        (location, resource): (usize, String),
        reason: Option<String>,
        item: Option<String>,
    ) {
        if !self.record {
            return;
        }
        self.event_counter += 1;
        let v = &self.vehicles[vid];
        let voyage = v
            .route
            .filter(|_| stage >= Stage::Yard)
            .map(|r| self.net.voyages[r.voyage].id.clone());
        self.milestones.push(Milestone {
            event_id: format!("{}-{:08}", v.vin, self.event_counter),
            vin: v.vin.to_string(),
            tenant: self.net.tenants[v.tenant].id.clone(),
            model: self.net.models[v.model].id.clone(),
            milestone: milestone.to_string(),
            stage,
            at: self.now,
            location: self.net.locations[location].id.clone(),
            resource,
            voyage,
            reason,
            item,
            planned: None,
        });
    }

    fn res_name(&self, res: Res) -> String {
        match res {
            Res::Pool(r) => self.net.resources[r].id.clone(),
            Res::Inland(s) => self.net.inland[s].id.clone(),
            Res::Voyage(v) => self.net.voyages[v].id.clone(),
            Res::Delivery(t) => format!(
                "{}/delivery",
                self.net.locations[self.net.import_terminals[t].location].id
            ),
        }
    }

    /// Opens a step; stays (released, yard) get their end when the next step opens.
    fn open_step(&mut self, vid: usize, stage: Stage, location: usize, res: Res, end: Minute) {
        let now = self.now;
        let v = &mut self.vehicles[vid];
        if let Some(last) = v.steps.last_mut()
            && matches!(last.stage, Stage::Released | Stage::Yard)
        {
            last.end = now;
        }
        v.steps.push(SimStep {
            stage,
            location,
            res,
            start: now,
            end,
            departure: None,
            deck: None,
        });
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Release { model } => self.on_release(model),
            Ev::InlandDeparture { svc, dep } => self.on_inland_departure(svc, dep),
            Ev::InlandArrival { svc, dep } => self.on_inland_arrival(svc, dep),
            Ev::PoolWake { pool } => {
                self.pools[pool].wake_at = None;
                self.dispatch(pool);
            }
            Ev::Dispatch { pool } => {
                self.pools[pool].dispatch_at = None;
                self.dispatch_now(pool);
            }
            Ev::ServiceEnd { pool, server, vid } => self.on_service_end(pool, server, vid),
            Ev::HoldEnd { vid } => {
                let loc = self.vehicles[vid]
                    .steps
                    .last()
                    .map(|s| s.location)
                    .unwrap_or(0);
                let resource = self.vehicles[vid]
                    .steps
                    .last()
                    .map(|s| self.res_name(s.res))
                    .unwrap_or_default();
                self.emit(
                    vid,
                    "hold_released",
                    Stage::PortArrival,
                    loc,
                    resource,
                    None,
                );
                let term = self.vehicles[vid].terminal.expect("at a terminal");
                let pool =
                    self.pool_of_resource[&self.net.export_terminals[term].processing.resource];
                self.enqueue(pool, vid);
            }
            Ev::CertRelease { pool, vid } => {
                self.vehicles[vid].blocked = None;
                self.release_cert_hold(vid, pool);
                self.enqueue(pool, vid);
            }
            Ev::CertCheckCleared { vid } => {
                let it = self.net.dealers[self.vehicles[vid].dealer].terminal;
                let pool =
                    self.pool_of_resource[&self.net.import_terminals[it].certification.resource];
                let (loc, res) = self.release_cert_hold(vid, pool);
                self.emit_checklist(
                    vid,
                    WorkPlace::DestinationPdi,
                    Stage::Certification,
                    loc,
                    &res,
                    true,
                );
                self.book_delivery(vid);
            }
            Ev::Cutoff { voyage, call } => self.on_cutoff(voyage, call),
            Ev::Berth { voyage, call } => self.on_berth(voyage, call),
            Ev::Depart { voyage, call } => self.on_depart(voyage, call),
            Ev::DeliveryDeparture { term, dep } => self.on_delivery_departure(term, dep),
            Ev::Delivered { vid } => {
                self.vehicles[vid].delivered_at = Some(self.now);
                let dealer = &self.net.dealers[self.vehicles[vid].dealer];
                let (loc, res) = (dealer.port, format!("dealer/{}", dealer.id));
                self.emit(vid, "delivered", Stage::Delivery, loc, res, None);
            }
            Ev::Outage {
                pool,
                server,
                minutes,
                ..
            } => {
                self.pools[pool].pending_outage[server] += minutes;
                self.counters.station_outages += 1;
                self.start_pending_outage(pool, server);
            }
            Ev::Reroute { vid } => self.route_vehicle(vid),
            Ev::Requeue { pool, vid } => self.enqueue(pool, vid),
        }
    }

    /// Takes `server` down for its pending outage once it is not serving:
    /// from now, or, when it is already down, from the end of that outage,
    /// which then lasts the longer (a failure while under repair). Nothing
    /// else starts a pending outage on a server that is down and idle, so
    /// one left pending there kept the server out of service until the next
    /// outage drawn for it, days later.
    fn start_pending_outage(&mut self, pool: usize, server: usize) {
        let now = self.now;
        let p = &mut self.pools[pool];
        let minutes = p.pending_outage[server];
        if minutes == 0 || p.busy_until[server] > now {
            return;
        }
        p.pending_outage[server] = 0;
        let down = p.down_until[server];
        let resource = self.net.resources[p.resource].id.clone();
        let until = down.max(now).plus(minutes);
        p.down_until[server] = until;
        let current = (down > now)
            .then(|| {
                self.outages
                    .iter_mut()
                    .rev()
                    .find(|o| o.resource == resource && o.to == down && o.from <= now)
            })
            .flatten();
        match current {
            Some(o) => o.to = until,
            None => self.outages.push(plan::Outage {
                resource,
                from: down.max(now),
                to: until,
                servers: 1,
            }),
        }
        self.wake(pool, until);
        if let Some(terminal) = self.pools[pool].terminal {
            self.notice(|w| Notice::StationDown {
                terminal,
                resource: w.net.resources[w.pools[pool].resource].id.clone(),
                minutes,
            });
        }
    }

    fn on_release(&mut self, model: usize) {
        let now = self.now;
        self.schedule_next_release(model, now);
        let m = &self.net.models[model];
        let key = (m.wmi.clone(), m.vds.clone(), m.vin_plant_code);
        let serial = self.serials.entry(key).or_insert(100_000);
        *serial += 1;
        let vin = Vin::assemble(
            &m.wmi,
            &m.vds,
            m.model_year,
            m.vin_plant_code,
            &serial_from_number(*serial % 1_000_000),
        )
        .expect("validated VIN parts");
        let tenant = m.tenant;
        let dealers: Vec<usize> = (0..self.net.dealers.len())
            .filter(|&d| self.net.dealers[d].tenant == tenant)
            .collect();
        let total: f64 = dealers.iter().map(|&d| self.net.dealers[d].weight).sum();
        let mut x = self.rng.random_range(0.0..total);
        let mut dealer = *dealers.last().expect("validated: tenant has dealers");
        for &d in &dealers {
            x -= self.net.dealers[d].weight;
            if x < 0.0 {
                dealer = d;
                break;
            }
        }
        let id = self.vehicles.len();
        self.vehicles.push(Vehicle {
            id,
            vin,
            model,
            tenant,
            dealer,
            released_at: now,
            promised_by: now.plus(m.promised_lead_minutes),
            route: None,
            terminal: None,
            steps: Vec::with_capacity(10),
            holds: Vec::new(),
            staged_at: None,
            loaded: false,
            rolls: 0,
            delivered_at: None,
            blocked: None,
            ticket: 0,
            queued: None,
        });
        let plant = m.plant;
        if self.plant_yard_used[plant] >= self.net.plants[plant].yard_slots {
            self.counters.release_waits_for_plant_yard += 1;
            self.vehicles[id].blocked = Some("plant yard full");
            self.plant_waiting[plant].push(id);
            return;
        }
        self.enter_plant_yard(id);
    }

    fn enter_plant_yard(&mut self, vid: usize) {
        let m = self.vehicles[vid].model;
        let plant = self.net.models[m].plant;
        self.plant_yard_used[plant] += 1;
        let loc = self.net.plants[plant].location;
        let yard = self.net.plants[plant].yard;
        self.vehicles[vid].released_at = self.now;
        self.vehicles[vid].blocked = None;
        self.open_step(vid, Stage::Released, loc, Res::Pool(yard), self.now);
        self.emit(
            vid,
            "released",
            Stage::Released,
            loc,
            self.net.resources[yard].id.clone(),
            None,
        );
        self.route_vehicle(vid);
    }

    /// Mean minutes of processing and what precedes it, for routing estimates.
    /// When a vehicle arriving at `arrival` would be staged by a planner's
    /// standard times: ramp unloading and processing back to back.
    fn staged_standard(&self, model: usize, term: usize, arrival: Minute) -> Minute {
        let t = &self.net.export_terminals[term];
        arrival.plus(t.ramp.minutes_per_vehicle + self.net.models[model].processing_minutes)
    }

    /// When a vehicle arriving at `arrival` would be processed and staged,
    /// without queues: ramp unloading, then processing in the first shift
    /// with room for it.
    fn staged_estimate(&self, model: usize, term: usize, arrival: Minute) -> Minute {
        let t = &self.net.export_terminals[term];
        let minutes = self.net.models[model].processing_minutes;
        let unloaded = arrival.plus(t.ramp.minutes_per_vehicle);
        let calendar = &self.net.resources[t.processing.resource].calendar;
        match calendar.earliest_fit(0, unloaded, minutes) {
            Some(start) => start.plus(minutes),
            None => Minute(i64::MAX / 4),
        }
    }

    /// The feasible routes for a vehicle now: from its plant, or from the
    /// export terminal it is at.
    pub fn route_options(&self, vid: usize) -> Vec<RouteOption> {
        let v = &self.vehicles[vid];
        let m = &self.net.models[v.model];
        let dealer = &self.net.dealers[v.dealer];
        let at_terminal = v.last_stage().is_some_and(|s| s >= Stage::Inland);
        let now = self.now;
        let horizon = now.plus(60 * Minute::DAY);
        let mut out = Vec::new();
        let first = self
            .voyages_by_berth
            .partition_point(|&x| self.net.voyages[x].calls[0].berth < now.plus(-30 * Minute::DAY));
        for &vi in &self.voyages_by_berth[first..] {
            let voyage = &self.net.voyages[vi];
            if voyage.calls[0].berth > horizon {
                break;
            }
            let Some(dcall) = voyage.call_at(dealer.port) else {
                continue;
            };
            if dcall < voyage.n_export_calls {
                continue;
            }
            let Some(deck) = m
                .deck_classes
                .iter()
                .copied()
                .find(|&d| self.voyages[vi].space_left[v.tenant][d] + 1e-9 >= m.rt43)
            else {
                continue;
            };
            for c in 0..voyage.n_export_calls {
                let call = voyage.calls[c];
                let term = self
                    .net
                    .export_terminal_at(call.location)
                    .expect("validated");
                let cutoff = call
                    .berth
                    .plus(-self.net.export_terminals[term].cutoff_minutes);
                if cutoff <= now {
                    continue;
                }
                let arrives_japan_at = voyage.calls[dcall].berth;
                if at_terminal {
                    if Some(term) != v.terminal {
                        continue;
                    }
                    // A vehicle still on its train or truck is staged after
                    // it arrives: at the mean transit from its departure
                    // (or now, if that has passed), and at the 90th
                    // percentile for the safe estimate.
                    let (arrival, arrival_p90) = match (v.last_stage(), v.steps.last()) {
                        (Some(Stage::Inland), Some(s)) => match s.res {
                            Res::Inland(si) => {
                                let t = &self.net.inland[si].transit;
                                let dep = s.departure.unwrap_or(s.start);
                                (
                                    dep.plus(mean_minutes(t)).max(now),
                                    dep.plus(p90_minutes(t)).max(now),
                                )
                            }
                            _ => (now, now),
                        },
                        _ => (now, now),
                    };
                    let (staged, staged_p90) = match v.staged_at {
                        Some(_) => (now, now),
                        None => (
                            self.staged_standard(v.model, term, arrival),
                            self.staged_standard(v.model, term, arrival_p90),
                        ),
                    };
                    if staged <= cutoff {
                        out.push(RouteOption {
                            inland: None,
                            departs_at: None,
                            terminal: term,
                            voyage: vi,
                            call: c,
                            deck,
                            cutoff_at: cutoff,
                            expected_staged_at: staged,
                            staged_p90_at: staged_p90,
                            arrives_japan_at,
                            inland_cost_usd: 0.0,
                            queue_allowance_minutes: None,
                        });
                    }
                    continue;
                }
                let plant_loc = self.net.plants[m.plant].location;
                for (si, svc) in self.net.inland.iter().enumerate() {
                    if svc.from != plant_loc
                        || svc.terminal != term
                        || svc.vehicles_per_unit[m.inland_class] == 0
                    {
                        continue;
                    }
                    let transit = mean_minutes(&svc.transit);
                    let slow = p90_minutes(&svc.transit) - transit;
                    let room = |k: usize| {
                        units_with_one_more(
                            &self.inland_deps[si][k].by_class,
                            m.inland_class,
                            &svc.vehicles_per_unit,
                        ) <= svc.units_per_departure
                    };
                    let option = |k: usize, staged: Minute, staged_p90: Minute| RouteOption {
                        inland: Some((si, k)),
                        departs_at: Some(svc.departures[k]),
                        terminal: term,
                        voyage: vi,
                        call: c,
                        deck,
                        cutoff_at: cutoff,
                        expected_staged_at: staged,
                        staged_p90_at: staged_p90,
                        arrives_japan_at,
                        inland_cost_usd: svc.cost_per_vehicle_usd,
                        queue_allowance_minutes: None,
                    };
                    // The first departure with room that makes the cutoff at standard times.
                    let mut k = svc.departures.partition_point(|&d| d < now);
                    while let Some(&dep) = svc.departures.get(k) {
                        if self.inland_deps[si][k].departed {
                            k += 1;
                            continue;
                        }
                        let staged = self.staged_standard(v.model, term, dep.plus(transit));
                        if staged > cutoff {
                            break;
                        }
                        if room(k) {
                            out.push(option(
                                k,
                                staged,
                                self.staged_standard(v.model, term, dep.plus(transit + slow)),
                            ));
                            break;
                        }
                        k += 1;
                    }
                    // Also the latest departure that still makes the cutoff with a
                    // slow (90th percentile) move, processing in the terminal's
                    // shifts and an allowance for its queues, for policies that
                    // ship just in time: a day (`JIT_QUEUE_ALLOWANCE_MINUTES`),
                    // and a few hours for a planner that sees the queues
                    // (`SNUG_QUEUE_ALLOWANCE_MINUTES`).
                    let mut seen = k;
                    let allowances: &[i64] = if self.policy.0.wants_snug() {
                        &[JIT_QUEUE_ALLOWANCE_MINUTES, SNUG_QUEUE_ALLOWANCE_MINUTES]
                    } else {
                        &[JIT_QUEUE_ALLOWANCE_MINUTES]
                    };
                    for &allowance in allowances {
                        let mut j = svc.departures.partition_point(|&d| {
                            self.staged_estimate(v.model, term, d.plus(transit + slow))
                                .plus(allowance)
                                <= cutoff
                        });
                        if j <= seen {
                            continue;
                        }
                        let floor = seen;
                        while j > floor {
                            j -= 1;
                            let dep = svc.departures[j];
                            if dep < now || self.inland_deps[si][j].departed {
                                break;
                            }
                            if room(j) {
                                let staged = self.staged_estimate(v.model, term, dep.plus(transit));
                                let mut o = option(
                                    j,
                                    staged,
                                    self.staged_estimate(v.model, term, dep.plus(transit + slow)),
                                );
                                o.queue_allowance_minutes = Some(allowance);
                                out.push(o);
                                seen = j;
                                break;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Routes vehicles again under the policy's current decisions (a
    /// sequencer's re-plan): first every booking is released (voyage space,
    /// and the inland departure of a vehicle still at the plant), then the
    /// vehicles are routed in the order given. Vehicles already loaded, on
    /// a departed train, queued for loading or without a route are left as
    /// they are. Returns how many were routed again.
    pub fn reroute(&mut self, vids: &[usize]) -> usize {
        let mut freed = Vec::new();
        for &vid in vids {
            let v = &self.vehicles[vid];
            let Some(r) = v.route else { continue };
            let loading_queue = v
                .queued
                .is_some_and(|(pool, _)| self.pools[pool].kind == ResourceKind::Loading);
            let at_plant = v.last_stage() == Some(Stage::Released);
            let departed = at_plant
                && r.inland
                    .is_some_and(|(si, k)| self.inland_deps[si][k].departed);
            if v.loaded || loading_queue || departed || v.delivered_at.is_some() {
                continue;
            }
            let (tenant, model) = (v.tenant, v.model);
            let rt43 = self.net.models[model].rt43;
            self.voyages[r.voyage].space_left[tenant][r.deck] += rt43;
            self.voyages[r.voyage].assigned[r.call].retain(|&x| x != vid);
            if at_plant && let Some((si, k)) = r.inland {
                let class = self.net.models[model].inland_class;
                let dep = &mut self.inland_deps[si][k];
                dep.by_class[class] -= 1;
                dep.vehicles.retain(|&x| x != vid);
            }
            let v = &mut self.vehicles[vid];
            v.route = None;
            if at_plant {
                v.terminal = None;
            }
            freed.push((vid, if at_plant { None } else { r.inland }));
        }
        for &(vid, inland) in &freed {
            self.route_vehicle(vid);
            if let Some(r) = &mut self.vehicles[vid].route
                && r.inland.is_none()
            {
                r.inland = inland;
            }
        }
        freed.len()
    }

    fn route_vehicle(&mut self, vid: usize) {
        let options = self.route_options(vid);
        let choice = if options.is_empty() {
            None
        } else {
            let net = &self.net;
            self.policy
                .0
                .choose_route(net, &self.vehicles[vid], &options)
        };
        let Some(i) = choice else {
            // Nothing feasible now: ask again in twelve hours.
            self.counters.reroute_attempts += 1;
            self.vehicles[vid].blocked = Some("no voyage with space that the vehicle can make");
            let at = self.now.plus(12 * 60);
            if at < self.limit() {
                self.push(at, Ev::Reroute { vid });
            }
            return;
        };
        let o = options[i].clone();
        let v = &self.vehicles[vid];
        let m = &self.net.models[v.model];
        let dcall = self.net.voyages[o.voyage]
            .call_at(self.net.dealers[v.dealer].port)
            .expect("option calls there");
        let tenant = v.tenant;
        let rt43 = m.rt43;
        let class = m.inland_class;
        self.voyages[o.voyage].space_left[tenant][o.deck] -= rt43;
        self.voyages[o.voyage].assigned[o.call].push(vid);
        let inland = match (v.route, o.inland) {
            (Some(r), None) => r.inland,
            (_, Some((si, k))) => {
                let dep = &mut self.inland_deps[si][k];
                dep.by_class[class] += 1;
                dep.vehicles.push(vid);
                if !dep.scheduled {
                    dep.scheduled = true;
                    let at = self.net.inland[si].departures[k];
                    self.push(at, Ev::InlandDeparture { svc: si, dep: k });
                }
                Some((si, k))
            }
            (None, None) => None,
        };
        let v = &mut self.vehicles[vid];
        v.blocked = None;
        v.terminal = Some(o.terminal);
        v.route = Some(Route {
            inland,
            terminal: o.terminal,
            voyage: o.voyage,
            call: o.call,
            discharge_call: dcall,
            deck: o.deck,
        });
        self.emit_routed(vid, &o, dcall);
    }

    /// Records what the route promises: the planned instant of each
    /// milestone the route fixes, for plan-versus-actual analysis.
    fn emit_routed(&mut self, vid: usize, o: &RouteOption, dcall: usize) {
        if !self.record {
            return;
        }
        let mut planned = BTreeMap::new();
        if let (Some(dep), Some((si, _))) = (o.departs_at, o.inland) {
            planned.insert("inland_departed".to_string(), dep);
            planned.insert(
                "port_arrived".to_string(),
                dep.plus(mean_minutes(&self.net.inland[si].transit)),
            );
        }
        if self.vehicles[vid].staged_at.is_none() {
            planned.insert("yard_staged".to_string(), o.expected_staged_at);
        }
        let voyage = &self.net.voyages[o.voyage];
        planned.insert("vessel_departed".to_string(), voyage.calls[o.call].depart);
        planned.insert("discharged".to_string(), voyage.calls[dcall].berth);
        let voyage_id = voyage.id.clone();
        let stage = self.vehicles[vid].last_stage().unwrap_or(Stage::Released);
        // Where the vehicle is when it is routed (plant or export terminal).
        let loc = self.vehicles[vid]
            .steps
            .last()
            .map_or(self.net.export_terminals[o.terminal].location, |s| {
                s.location
            });
        self.emit_with_item(vid, "routed", stage, (loc, voyage_id.clone()), None, None);
        if let Some(m) = self.milestones.last_mut() {
            m.voyage = Some(voyage_id);
            m.planned = Some(planned);
        }
    }

    fn limit(&self) -> Minute {
        self.net.end.plus(PLANNING_TAIL_DAYS * Minute::DAY)
    }

    fn on_inland_departure(&mut self, svc: usize, dep: usize) {
        self.inland_deps[svc][dep].departed = true;
        let vids = self.inland_deps[svc][dep].vehicles.clone();
        let s = &self.net.inland[svc];
        let transit = if self.nominal {
            mean_minutes(&s.transit)
        } else {
            self.draw_transit(svc)
        };
        let s = &self.net.inland[svc];
        let arrival = self.now.plus(transit.max(1));
        self.inland_deps[svc][dep].arrival = Some(arrival);
        let (from, departure) = (s.from, s.departures[dep]);
        let plant = self
            .net
            .plants
            .iter()
            .position(|p| p.location == from)
            .expect("validated");
        for &vid in &vids {
            self.plant_yard_used[plant] -= 1;
            self.open_step(vid, Stage::Inland, from, Res::Inland(svc), arrival);
            self.vehicles[vid]
                .steps
                .last_mut()
                .expect("just opened")
                .departure = Some(departure);
            let name = self.net.inland[svc].id.clone();
            self.emit(vid, "inland_departed", Stage::Inland, from, name, None);
        }
        self.push(arrival, Ev::InlandArrival { svc, dep });
        // Slots freed: release vehicles waiting for the plant yard.
        while self.plant_yard_used[plant] < self.net.plants[plant].yard_slots {
            if self.plant_waiting[plant].is_empty() {
                break;
            }
            let vid = self.plant_waiting[plant].remove(0);
            self.enter_plant_yard(vid);
        }
    }

    fn on_inland_arrival(&mut self, svc: usize, dep: usize) {
        let vids = self.inland_deps[svc][dep].vehicles.clone();
        let term = self.net.inland[svc].terminal;
        let pool = self.pool_of_resource[&self.net.export_terminals[term].ramp.resource];
        let expected =
            self.net.inland[svc].departures[dep].plus(mean_minutes(&self.net.inland[svc].transit));
        let late = self.now.since(expected);
        for &vid in &vids {
            self.enqueue(pool, vid);
        }
        if late >= LATE_NOTICE_MINUTES && !vids.is_empty() {
            self.notice(|_| Notice::ArrivedLate {
                svc,
                vids,
                minutes: late,
            });
        }
    }

    fn enqueue(&mut self, pool: usize, vid: usize) {
        let kind = self.pools[pool].kind;
        let priority = self
            .policy
            .0
            .queue_priority(&self.net, kind, &self.vehicles[vid], self.now);
        self.enqueue_with(pool, vid, priority);
    }

    fn enqueue_with(&mut self, pool: usize, vid: usize, priority: i64) {
        self.seq += 1;
        self.vehicles[vid].queued = Some((pool, priority));
        let ticket = self.vehicles[vid].ticket;
        self.pools[pool]
            .queue
            .push(Reverse((priority, self.seq, vid, ticket)));
        self.dispatch(pool);
    }

    fn wake(&mut self, pool: usize, at: Minute) {
        let p = &mut self.pools[pool];
        if p.wake_at.is_none_or(|w| at < w) {
            p.wake_at = Some(at);
            self.push(at, Ev::PoolWake { pool });
        }
    }

    fn service_minutes(&self, pool: usize, vid: usize) -> i64 {
        let p = &self.pools[pool];
        let v = &self.vehicles[vid];
        let m = &self.net.models[v.model];
        match p.kind {
            ResourceKind::Processing => m.processing_minutes,
            ResourceKind::Certification => m.certification_minutes(
                self.net.import_terminals[p.import_terminal.expect("import pool")]
                    .certification
                    .minutes_per_vehicle,
            ),
            ResourceKind::Ramp => {
                self.net.export_terminals[p.terminal.expect("export pool")]
                    .ramp
                    .minutes_per_vehicle
            }
            ResourceKind::Loading => {
                self.net.export_terminals[p.terminal.expect("export pool")]
                    .loading
                    .minutes_per_vehicle
            }
            ResourceKind::Discharge => {
                self.net.import_terminals[p.import_terminal.expect("import pool")]
                    .discharge
                    .minutes_per_vehicle
            }
            ResourceKind::PlantYard | ResourceKind::Yard => 0,
        }
    }

    fn calendar(&self, pool: usize) -> &takt_core::network::Calendar {
        &self.net.resources[self.pools[pool].resource].calendar
    }

    /// Starts service for queued vehicles while a server can start now.
    /// Asks for the pool's free servers to start work at this minute, after
    /// every event of the minute already due: vehicles that reach a queue
    /// in the same minute (a whole call discharged by several drivers, a
    /// train unloaded) are all in it before a server is given, so the
    /// queue's order decides, not the order in which the minute's events
    /// happen to run.
    fn dispatch(&mut self, pool: usize) {
        let now = self.now;
        if self.pools[pool].dispatch_at != Some(now) {
            self.pools[pool].dispatch_at = Some(now);
            self.push(now, Ev::Dispatch { pool });
        }
    }

    /// Starts, at once, what the pool's free servers can take, in queue
    /// order.
    fn dispatch_now(&mut self, pool: usize) {
        loop {
            let Some(&Reverse((_, _, vid, ticket))) = self.pools[pool].queue.peek() else {
                return;
            };
            if vid >= REHANDLE_JOB {
                if !self.dispatch_job(pool, vid) {
                    return;
                }
                continue;
            }
            if ticket != self.vehicles[vid].ticket {
                self.pools[pool].queue.pop();
                continue;
            }
            let minutes = self.service_minutes(pool, vid);
            let kind = self.pools[pool].kind;
            let now = self.now;
            // A vehicle on hold starts nothing: it queues again when the hold
            // ends, except for loading, where its place in the stow order is
            // gone (it is rolled at departure unless loaded by then).
            if let Some(until) = self.vehicles[vid]
                .holds
                .iter()
                .filter(|h| h.from < now && now < h.to)
                .map(|h| h.to)
                .max()
            {
                self.pools[pool].queue.pop();
                self.vehicles[vid].queued = None;
                if kind != ResourceKind::Loading {
                    self.push(until, Ev::Requeue { pool, vid });
                }
                continue;
            }
            match kind {
                // Processing needs a yard slot for afterwards; loading frees one and dispatches again.
                ResourceKind::Processing => {
                    let t = self.pools[pool].terminal.expect("export pool");
                    if self.export_yard_used[t] >= self.net.export_terminals[t].yard_slots {
                        return;
                    }
                }
                // Loading must end before the vessel leaves; the vehicle is rolled at departure.
                ResourceKind::Loading => {
                    let r = self.vehicles[vid].route.expect("routed");
                    if now.plus(minutes) > self.voyages[r.voyage].calls[r.call].1 {
                        self.pools[pool].queue.pop();
                        self.vehicles[vid].queued = None;
                        continue;
                    }
                }
                // Certification is capped per type and year on some routes.
                ResourceKind::Certification => {
                    let m = self.vehicles[vid].model;
                    let loc = self.pools[pool].location;
                    if let Some(cap) = self.net.models[m].cert.annual_cap {
                        let year = self.net.year_at(loc, now);
                        if self.cert_count.get(&(m, year)).copied().unwrap_or(0) >= cap {
                            // Held until the cap resets on 1 January.
                            self.pools[pool].queue.pop();
                            self.vehicles[vid].queued = None;
                            self.vehicles[vid].blocked = Some("annual certification cap reached");
                            self.counters.certification_cap_blocks += 1;
                            let next_year = self.net.year_start(loc, year + 1);
                            self.hold(
                                vid,
                                "annual certification cap reached",
                                next_year,
                                loc,
                                pool,
                            );
                            if next_year < self.limit() {
                                self.push(next_year, Ev::CertRelease { pool, vid });
                            }
                            continue;
                        }
                    }
                }
                _ => {}
            }
            let Some(server) = self.free_server(pool, minutes) else {
                return;
            };
            // The policy may send the vehicle back into the queue (with a
            // priority it will not change again, or this loops).
            let priority = self.vehicles[vid].queued.map_or(0, |(_, p)| p);
            if let Some(p) =
                self.policy
                    .0
                    .requeue(&self.net, kind, &self.vehicles[vid], now, minutes, priority)
                && p != priority
            {
                self.pools[pool].queue.pop();
                self.seq += 1;
                self.vehicles[vid].queued = Some((pool, p));
                self.pools[pool]
                    .queue
                    .push(Reverse((p, self.seq, vid, ticket)));
                continue;
            }
            self.pools[pool].queue.pop();
            self.vehicles[vid].queued = None;
            self.start_service(pool, server, vid, minutes);
        }
    }

    /// A server that can start a job of `minutes` now: inside an open
    /// window with time left for the whole job; servers are numbered, and a
    /// window with n servers uses servers 0..n. When none can, the pool is
    /// woken for the next window (a service end or the end of an outage
    /// dispatches again otherwise).
    fn free_server(&mut self, pool: usize, minutes: i64) -> Option<usize> {
        let now = self.now;
        let window = self
            .calendar(pool)
            .window_at(now)
            .filter(|&(_, end)| now.plus(minutes) <= end);
        let Some((n_now, _)) = window else {
            // Closed, or too little of the shift left: wait for the next window.
            if let Some(at) = self.calendar(pool).earliest_fit(0, now.plus(1), minutes) {
                self.wake(pool, at);
            }
            return None;
        };
        let p = &self.pools[pool];
        let n = (n_now as usize).min(p.busy_until.len());
        (0..n)
            .find(|&s| p.busy_until[s] <= now && p.down_until[s] <= now && p.pending_outage[s] == 0)
    }

    /// Minutes of one move of a vehicle by the drivers of a loading or
    /// discharge pool.
    fn move_minutes(&self, pool: usize) -> i64 {
        let p = &self.pools[pool];
        match p.kind {
            ResourceKind::Loading => {
                self.net.export_terminals[p.terminal.expect("export pool")]
                    .loading
                    .minutes_per_vehicle
            }
            _ => {
                self.net.import_terminals[p.import_terminal.expect("import pool")]
                    .discharge
                    .minutes_per_vehicle
            }
        }
    }

    /// Starts the rehandling move at the head of the queue if a driver can
    /// take it now; false when none can.
    fn dispatch_job(&mut self, pool: usize, entry: usize) -> bool {
        let minutes = self.move_minutes(pool);
        let Some(server) = self.free_server(pool, minutes) else {
            return false;
        };
        self.pools[pool].queue.pop();
        let end = self.now.plus(minutes);
        self.pools[pool].busy_until[server] = end;
        let job = self.jobs[entry - REHANDLE_JOB];
        let r = self
            .rehandling
            .entry(self.pools[pool].location)
            .or_default();
        r.moves += 1;
        r.gang_minutes += minutes;
        if job.action == Action::TemporaryDischarge {
            r.temporary_discharges += 1;
        }
        self.push(
            end,
            Ev::ServiceEnd {
                pool,
                server,
                vid: entry,
            },
        );
        true
    }

    fn enqueue_job(&mut self, pool: usize, action: Action, priority: i64) {
        self.jobs.push(Job { action });
        let entry = REHANDLE_JOB + self.jobs.len() - 1;
        self.seq += 1;
        self.pools[pool]
            .queue
            .push(Reverse((priority, self.seq, entry, 0)));
        self.dispatch(pool);
    }

    fn start_service(&mut self, pool: usize, server: usize, vid: usize, minutes: i64) {
        let now = self.now;
        let end = now.plus(minutes);
        self.pools[pool].busy_until[server] = end;
        let (kind, loc, resource) = (
            self.pools[pool].kind,
            self.pools[pool].location,
            self.pools[pool].resource,
        );
        let res = Res::Pool(resource);
        let name = self.net.resources[resource].id.clone();
        match kind {
            ResourceKind::Ramp => {
                self.open_step(vid, Stage::PortArrival, loc, res, end);
                self.emit(vid, "port_arrived", Stage::PortArrival, loc, name, None);
            }
            ResourceKind::Processing => {
                let t = self.pools[pool].terminal.expect("export pool");
                self.export_yard_used[t] += 1;
                self.open_step(vid, Stage::Processing, loc, res, end);
                self.emit(
                    vid,
                    "processing_started",
                    Stage::Processing,
                    loc,
                    name,
                    None,
                );
            }
            ResourceKind::Loading => {
                let t = self.pools[pool].terminal.expect("export pool");
                self.export_yard_used[t] -= 1;
                self.open_step(vid, Stage::Loading, loc, res, end);
                self.emit(vid, "loading_started", Stage::Loading, loc, name, None);
                self.vehicles[vid].loaded = true;
                let r = self.vehicles[vid].route.expect("routed");
                let rt43 = self.net.models[self.vehicles[vid].model].rt43;
                self.voyages[r.voyage].aboard.push(vid);
                self.voyages[r.voyage].loaded_rt43 += rt43;
                // A yard slot is free: processing may go on.
                let proc = self.pool_of_resource[&self.net.export_terminals[t].processing.resource];
                self.dispatch(proc);
            }
            ResourceKind::Discharge => {
                // The voyage step ended at berthing.
                self.open_step(vid, Stage::Discharge, loc, res, end);
                self.emit(vid, "discharged", Stage::Discharge, loc, name, None);
            }
            ResourceKind::Certification => {
                let year = self.net.year_at(loc, now);
                let model = self.vehicles[vid].model;
                *self.cert_count.entry((model, year)).or_insert(0) += 1;
                self.open_step(vid, Stage::Certification, loc, res, end);
                self.emit(
                    vid,
                    "certification_started",
                    Stage::Certification,
                    loc,
                    name,
                    None,
                );
            }
            ResourceKind::PlantYard | ResourceKind::Yard => unreachable!("yards are not pools"),
        }
        self.push(end, Ev::ServiceEnd { pool, server, vid });
    }

    fn on_service_end(&mut self, pool: usize, server: usize, vid: usize) {
        if vid >= REHANDLE_JOB {
            self.start_pending_outage(pool, server);
            self.dispatch(pool);
            return;
        }
        let kind = self.pools[pool].kind;
        let loc = self.pools[pool].location;
        match kind {
            ResourceKind::Ramp => {
                let hold = if self.nominal { None } else { self.draw_hold() };
                if let Some(minutes) = hold {
                    let minutes = minutes.max(1);
                    self.counters.holds_placed += 1;
                    let now = self.now;
                    self.vehicles[vid].holds.push(plan::Hold {
                        reason: "damage".into(),
                        from: now,
                        to: now.plus(minutes),
                    });
                    let name = self.net.resources[self.pools[pool].resource].id.clone();
                    self.emit(
                        vid,
                        "hold_placed",
                        Stage::PortArrival,
                        loc,
                        name,
                        Some("damage".into()),
                    );
                    self.push(now.plus(minutes), Ev::HoldEnd { vid });
                    self.notice(|_| Notice::HoldPlaced { vid });
                } else {
                    let t = self.pools[pool].terminal.expect("export pool");
                    let proc =
                        self.pool_of_resource[&self.net.export_terminals[t].processing.resource];
                    self.enqueue(proc, vid);
                }
            }
            ResourceKind::Processing => {
                let t = self.pools[pool].terminal.expect("export pool");
                let yard = self.net.export_terminals[t].yard;
                let station = self.net.resources[self.pools[pool].resource].id.clone();
                self.emit_checklist(
                    vid,
                    WorkPlace::ExportPort,
                    Stage::Processing,
                    loc,
                    &station,
                    false,
                );
                self.open_step(vid, Stage::Yard, loc, Res::Pool(yard), self.now);
                self.vehicles[vid].staged_at = Some(self.now);
                self.emit(
                    vid,
                    "yard_staged",
                    Stage::Yard,
                    loc,
                    self.net.resources[yard].id.clone(),
                    None,
                );
                // Staged after its voyage's cutoff (a late outage or hold): roll now.
                if let Some(r) = self.vehicles[vid].route {
                    let call = self.net.voyages[r.voyage].calls[r.call];
                    if self.now
                        > call
                            .berth
                            .plus(-self.net.export_terminals[t].cutoff_minutes)
                    {
                        self.roll(vid, "staged after cutoff");
                    }
                }
            }
            ResourceKind::Loading => {}
            ResourceKind::Discharge => {
                let m = self.vehicles[vid].model;
                let it = self.pools[pool].import_terminal.expect("import pool");
                let cert_pool =
                    self.pool_of_resource[&self.net.import_terminals[it].certification.resource];
                match self.net.models[m].cert.approved_from {
                    None => {
                        self.vehicles[vid].blocked = Some("model not approved");
                        let until = self.limit();
                        self.hold(vid, "model not approved", until, loc, cert_pool);
                    }
                    Some(at) if at > self.now => {
                        self.vehicles[vid].blocked = Some("awaiting the model's approval");
                        self.hold(vid, "awaiting the model's approval", at, loc, cert_pool);
                        self.push(
                            at,
                            Ev::CertRelease {
                                pool: cert_pool,
                                vid,
                            },
                        );
                    }
                    Some(_) => self.enqueue(cert_pool, vid),
                }
            }
            ResourceKind::Certification => {
                let station = self.net.resources[self.pools[pool].resource].id.clone();
                self.emit_checklist(
                    vid,
                    WorkPlace::DestinationPdi,
                    Stage::Certification,
                    loc,
                    &station,
                    false,
                );
                let cert_hold = if self.nominal {
                    None
                } else {
                    self.draw_cert_hold()
                };
                if let Some(minutes) = cert_hold {
                    // A failed check or a missing document: no certificate until it is resolved.
                    let reason = if self.rng.random_bool(0.5) {
                        "failed check"
                    } else {
                        "missing document"
                    };
                    let until = self.now.plus(minutes.max(1));
                    self.counters.certification_holds += 1;
                    self.hold(vid, reason, until, loc, pool);
                    self.push(until, Ev::CertCheckCleared { vid });
                } else {
                    self.emit_checklist(
                        vid,
                        WorkPlace::DestinationPdi,
                        Stage::Certification,
                        loc,
                        &station,
                        true,
                    );
                    self.book_delivery(vid);
                }
            }
            ResourceKind::PlantYard | ResourceKind::Yard => unreachable!(),
        }
        self.start_pending_outage(pool, server);
        self.dispatch(pool);
    }

    /// Records the end of a certification hold at a certification pool;
    /// returns the pool's location and resource id.
    fn release_cert_hold(&mut self, vid: usize, pool: usize) -> (usize, String) {
        let loc = self.pools[pool].location;
        let res = self.net.resources[self.pools[pool].resource].id.clone();
        self.emit(
            vid,
            "cert_hold_released",
            Stage::Certification,
            loc,
            res.clone(),
            None,
        );
        (loc, res)
    }

    /// Places a certification hold on a vehicle until `until`.
    fn hold(
        &mut self,
        vid: usize,
        reason: &'static str,
        until: Minute,
        location: usize,
        pool: usize,
    ) {
        let now = self.now;
        self.vehicles[vid].holds.push(plan::Hold {
            reason: reason.into(),
            from: now,
            to: until,
        });
        let res = self.net.resources[self.pools[pool].resource].id.clone();
        self.emit(
            vid,
            "cert_hold_placed",
            Stage::Certification,
            location,
            res,
            Some(reason.into()),
        );
        self.notice(|_| Notice::HoldPlaced { vid });
    }

    fn book_delivery(&mut self, vid: usize) {
        let v = &self.vehicles[vid];
        let term = self.net.dealers[v.dealer].terminal;
        let class = self.net.models[v.model].inland_class;
        let t = &self.net.import_terminals[term];
        let mut k = t.delivery_departures.partition_point(|&d| d < self.now);
        while k < t.delivery_departures.len() {
            let dep = &mut self.delivery_deps[term][k];
            if dep.departed {
                k += 1;
                continue;
            }
            dep.by_class[class] += 1;
            if class_units(&dep.by_class, &t.vehicles_per_truck) <= t.trucks_per_departure {
                dep.vehicles.push(vid);
                if !dep.scheduled {
                    dep.scheduled = true;
                    let at = t.delivery_departures[k];
                    self.push(at, Ev::DeliveryDeparture { term, dep: k });
                }
                return;
            }
            dep.by_class[class] -= 1;
            k += 1;
        }
        self.vehicles[vid].blocked = Some("no delivery departure within the planning horizon");
    }

    fn on_delivery_departure(&mut self, term: usize, dep: usize) {
        self.delivery_deps[term][dep].departed = true;
        let vids = self.delivery_deps[term][dep].vehicles.clone();
        let loc = self.net.import_terminals[term].location;
        let departure = self.net.import_terminals[term].delivery_departures[dep];
        for vid in vids {
            let arrive = self
                .now
                .plus(self.net.dealers[self.vehicles[vid].dealer].delivery_minutes);
            self.open_step(vid, Stage::Delivery, loc, Res::Delivery(term), arrive);
            self.vehicles[vid]
                .steps
                .last_mut()
                .expect("just opened")
                .departure = Some(departure);
            let name = self.res_name(Res::Delivery(term));
            self.emit(vid, "delivery_departed", Stage::Delivery, loc, name, None);
            self.push(arrive, Ev::Delivered { vid });
        }
    }

    fn roll(&mut self, vid: usize, why: &'static str) {
        let v = &mut self.vehicles[vid];
        let Some(r) = v.route else { return };
        let tenant = v.tenant;
        v.rolls += 1;
        v.ticket += 1;
        let rt43 = self.net.models[v.model].rt43;
        self.voyages[r.voyage].space_left[tenant][r.deck] += rt43;
        self.voyages[r.voyage].assigned[r.call].retain(|&x| x != vid);
        if let Some(deck) = self.voyages[r.voyage].deck.as_mut() {
            deck.remove(vid as u32);
        }
        let loc = self.net.export_terminals[r.terminal].location;
        let voyage = self.net.voyages[r.voyage].id.clone();
        let stage = self.vehicles[vid].last_stage().unwrap_or(Stage::Released);
        self.emit(vid, "rolled", stage, loc, voyage, Some(why.into()));
        // A vehicle queued upstream (ramp, processing) keeps its place under
        // its new ticket; one queued for loading leaves that queue.
        let queued = self.vehicles[vid].queued.take();
        self.route_vehicle(vid);
        if let Some((pool, priority)) = queued
            && self.pools[pool].kind != ResourceKind::Loading
        {
            self.enqueue_with(pool, vid, priority);
        }
    }

    fn on_cutoff(&mut self, voyage: usize, call: usize) {
        let vids = self.voyages[voyage].assigned[call].clone();
        for vid in vids {
            let v = &self.vehicles[vid];
            // Processing that ends at this very minute stages the vehicle
            // by the cutoff (the event that stages it is due at the same
            // minute, after this one): the booking rule (`staged <=
            // cutoff`) and the check at staging count it in time too.
            let staging_now = v
                .steps
                .last()
                .is_some_and(|s| s.stage == Stage::Processing && s.end <= self.now);
            if v.staged_at.is_none() && !staging_now {
                self.roll(vid, "not staged by cutoff");
            }
        }
    }

    fn on_berth(&mut self, voyage: usize, call: usize) {
        self.voyages[voyage].berthed[call] = true;
        let late = self.now.since(self.net.voyages[voyage].calls[call].berth);
        if late >= LATE_NOTICE_MINUTES && call < self.net.voyages[voyage].n_export_calls {
            self.notice(|_| Notice::VesselLate {
                voyage,
                call,
                minutes: late,
            });
        }
        let n_export = self.net.voyages[voyage].n_export_calls;
        if call < n_export {
            let mut list: Vec<&Vehicle> = self.voyages[voyage].assigned[call]
                .iter()
                .map(|&v| &self.vehicles[v])
                .filter(|v| v.staged_at.is_some() && !v.loaded)
                .collect();
            self.policy.0.load_order(&self.net, &mut list);
            // Stow order: later discharge port first, whatever the policy said.
            list.sort_by_key(|v| Reverse(v.route.map(|r| r.discharge_call).unwrap_or(0)));
            let ids: Vec<usize> = list.iter().map(|v| v.id).collect();
            let term = self
                .net
                .export_terminal_at(self.net.voyages[voyage].calls[call].location)
                .expect("validated");
            let pool = self.pool_of_resource[&self.net.export_terminals[term].loading.resource];
            // The stowage plan of the call: the loading order (and any
            // vehicle on board in the way, discharged and loaded again).
            let steps = self.stow(voyage, call, &ids);
            let base = self.now.0 * 100_000;
            for (i, step) in steps.into_iter().enumerate() {
                let priority = base + i as i64;
                match step {
                    Work::Vehicle(vid) => self.enqueue_with(pool, vid, priority),
                    Work::Rehandle(action) => self.enqueue_job(pool, action, priority),
                }
            }
        } else {
            let loc = self.net.voyages[voyage].calls[call].location;
            let it = self.net.import_terminal_at(loc).expect("validated");
            let pool = self.pool_of_resource[&self.net.import_terminals[it].discharge.resource];
            let steps = self.stow(voyage, call, &[]);
            let base = self.now.0 * 100_000;
            for (i, step) in steps.into_iter().enumerate() {
                let priority = base + i as i64;
                match step {
                    Work::Vehicle(vid) => {
                        // The voyage step ends at berthing.
                        if let Some(s) = self.vehicles[vid].steps.last_mut() {
                            s.end = self.now;
                        }
                        self.enqueue_with(pool, vid, priority);
                    }
                    Work::Rehandle(action) => self.enqueue_job(pool, action, priority),
                }
            }
        }
    }

    /// Works the stowage of a call on the voyage's deck: at an export call,
    /// loads `load` (in stow order); at an import call, discharges the
    /// vehicles leaving there. Returns the work in the plan's order: each
    /// vehicle's own move and the rehandling moves between them. Vehicles
    /// the deck does not hold (no slot of their class left, or on board
    /// from before the deck was known) come last, loaded first-come or
    /// discharged last loaded, first off.
    fn stow(&mut self, voyage: usize, call: usize, load: &[usize]) -> Vec<Work> {
        let graph = self.net.voyages[voyage].deck_graph.clone();
        let g = Graph {
            adjacent: &graph.adjacent,
            slot_class: &graph.slot_class,
            gate_distance: &graph.gate_distance,
        };
        let n_export = self.net.voyages[voyage].n_export_calls;
        let loc = self.net.voyages[voyage].calls[call].location;
        if call == 0 && self.voyages[voyage].deck.is_none() {
            self.voyages[voyage].deck = Some(Box::new(Deck::new(graph.n_nodes)));
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut out = Vec::new();
        let Some(deck) = self.voyages[voyage].deck.as_mut() else {
            // No deck (a world rebuilt mid-voyage without one): stow order only.
            if call < n_export {
                out.extend(load.iter().map(|&v| Work::Vehicle(v)));
            } else {
                out.extend(self.leaving_unstowed(voyage, call, &[]));
            }
            return out;
        };
        let unplaced = if call < n_export {
            let items: Vec<Item> = load
                .iter()
                .map(|&vid| {
                    let r = self.vehicles[vid].route.expect("routed");
                    Item {
                        id: vid as u32,
                        leave: r.discharge_call,
                        class: r.deck,
                    }
                })
                .collect();
            deck.load(&g, &items, &mut steps)
        } else {
            deck.discharge(&g, call, &mut steps)
        };
        if call + 1 == self.net.voyages[voyage].calls.len() {
            // Everyone leaves at the last call: the deck is done.
            self.voyages[voyage].deck = None;
        }
        self.rehandling.entry(loc).or_default().calls += 1;
        self.unstowed += unplaced.len() as u64;
        for step in &steps {
            out.push(match step.action {
                Action::Load | Action::Discharge => Work::Vehicle(step.item as usize),
                a => Work::Rehandle(a),
            });
        }
        if call < n_export {
            let unplaced: Vec<usize> = unplaced.iter().map(|&v| v as usize).collect();
            out.extend(
                load.iter()
                    .filter(|v| unplaced.contains(v))
                    .map(|&v| Work::Vehicle(v)),
            );
        } else {
            let done: Vec<usize> = steps
                .iter()
                .filter(|s| s.action == Action::Discharge)
                .map(|s| s.item as usize)
                .collect();
            out.extend(self.leaving_unstowed(voyage, call, &done));
        }
        out
    }

    /// Where the vehicles of a voyage stand on its deck graph now, as
    /// (vehicle, slot), by slot: empty before the first export call and
    /// after the last call.
    pub fn stowed(&self, voyage: usize) -> Vec<(usize, usize)> {
        self.voyages[voyage]
            .deck
            .as_ref()
            .map(|d| d.positions().map(|(v, s)| (v as usize, s)).collect())
            .unwrap_or_default()
    }

    /// Vehicles on board leaving at `call` other than `done`, last loaded
    /// first.
    fn leaving_unstowed(&self, voyage: usize, call: usize, done: &[usize]) -> Vec<Work> {
        self.voyages[voyage]
            .aboard
            .iter()
            .rev()
            .copied()
            .filter(|&v| {
                self.vehicles[v]
                    .route
                    .is_some_and(|r| r.discharge_call == call)
                    && !done.contains(&v)
            })
            .map(Work::Vehicle)
            .collect()
    }

    fn on_depart(&mut self, voyage: usize, call: usize) {
        let vids = self.voyages[voyage].assigned[call].clone();
        let loc = self.net.voyages[voyage].calls[call].location;
        for vid in vids {
            let v = &self.vehicles[vid];
            let loaded = v.loaded && v.step(Stage::Loading).is_some_and(|s| s.end <= self.now);
            if loaded {
                let deck = v.route.map(|r| r.deck);
                let dcall = v.route.expect("routed").discharge_call;
                let arrive = self.voyages[voyage].calls[dcall].0;
                self.open_step(vid, Stage::Voyage, loc, Res::Voyage(voyage), arrive);
                self.vehicles[vid]
                    .steps
                    .last_mut()
                    .expect("just opened")
                    .deck = deck;
                let name = self.net.voyages[voyage].id.clone();
                self.emit(vid, "vessel_departed", Stage::Voyage, loc, name, None);
            } else if !v.loaded {
                self.roll(vid, "not loaded before departure");
            }
        }
    }

    /// The plan: every vehicle's steps as they happened up to now, and for
    /// vehicles still in the pipeline, the remaining stages as this world
    /// and policy would carry them out if nothing else went wrong (mean
    /// durations, scheduled vessel times, no new disruptions or releases).
    pub fn plan(&self, include_delivered: bool) -> plan::Plan {
        let mut projection = self.clone();
        projection.project();
        let created_at = self.now;
        let mut vehicles = Vec::new();
        let mut used_voyages = Vec::new();
        for (vid, now_v) in self.vehicles.iter().enumerate() {
            if !include_delivered && now_v.delivered_at.is_some_and(|d| d <= created_at) {
                continue;
            }
            if now_v.steps.is_empty() {
                // Released but waiting for the plant yard: nothing to plan yet.
                continue;
            }
            let v = &projection.vehicles[vid];
            let steps: Vec<plan::Step> = v
                .steps
                .iter()
                .map(|s| plan::Step {
                    stage: s.stage,
                    location: projection.net.locations[s.location].id.clone(),
                    resource: projection.res_name(s.res),
                    start: s.start,
                    end: s.end,
                    departure: s.departure,
                    deck_class: s.deck.map(|d| projection.net.deck_classes[d].id.clone()),
                    done: s.end <= created_at
                        && now_v
                            .steps
                            .iter()
                            .any(|x| x.stage == s.stage && x.end == s.end),
                })
                .collect();
            let complete = v.delivered_at.is_some();
            let unplaced = (!complete).then(|| {
                v.blocked
                    .unwrap_or("not delivered within the planning horizon")
                    .to_string()
            });
            // Stays still open at the end of the projection have no end yet.
            let steps = if complete {
                steps
            } else {
                steps.into_iter().filter(|s| s.end >= s.start).collect()
            };
            if let Some(r) = v.route
                && v.step(Stage::Loading).is_some()
                && !used_voyages.contains(&r.voyage)
            {
                used_voyages.push(r.voyage);
            }
            vehicles.push(plan::VehiclePlan {
                vin: v.vin.to_string(),
                tenant: projection.net.tenants[v.tenant].id.clone(),
                model: projection.net.models[v.model].id.clone(),
                dealer: projection.net.dealers[v.dealer].id.clone(),
                released_at: v.released_at,
                promised_by: v.promised_by,
                voyage: v
                    .route
                    .filter(|_| v.step(Stage::Loading).is_some())
                    .map(|r| projection.net.voyages[r.voyage].id.clone()),
                steps,
                holds: v.holds.clone(),
                rolls: v.rolls,
                unplaced,
            });
        }
        used_voyages.sort();
        let voyages = used_voyages
            .into_iter()
            .map(|vi| plan::VoyageTimes {
                voyage: projection.net.voyages[vi].id.clone(),
                calls: projection.net.voyages[vi]
                    .calls
                    .iter()
                    .zip(&projection.voyages[vi].calls)
                    .map(|(c, &(berth, depart))| plan::CallTimes {
                        port: projection.net.locations[c.location].id.clone(),
                        berth,
                        depart,
                    })
                    .collect(),
            })
            .collect();
        plan::Plan {
            scenario: self.net.name.clone(),
            volume_scale: self.volume_scale,
            created_at,
            policy: self.policy_name.clone(),
            vehicles,
            voyages,
            outages: projection.outages.clone(),
        }
    }

    /// A voyage's port calls as known now: actual for calls berthed, the
    /// schedule for the rest (delays to come are not known), pushed back by
    /// what has happened on the way.
    fn known_voyage_times(&self, v: usize) -> Vec<(Minute, Minute)> {
        let now = self.now;
        let sched = &self.net.voyages[v].calls;
        let mut out = Vec::with_capacity(sched.len());
        let mut prev: Option<(Minute, i64)> = None;
        for c in 0..sched.len() {
            let (actual_berth, actual_depart) = self.voyages[v].calls[c];
            let (berth, depart) = if actual_berth <= now && self.voyages[v].berthed[c] {
                (actual_berth, actual_depart)
            } else {
                let mut b = sched[c].berth.max(now);
                if let Some((d, sail)) = prev {
                    b = b.max(d.plus(sail));
                }
                (
                    b,
                    sched[c]
                        .depart
                        .max(b.plus(sched[c].depart.since(sched[c].berth))),
                )
            };
            if let Some(next) = sched.get(c + 1) {
                prev = Some((depart, next.berth.since(sched[c].depart)));
            }
            out.push((berth, depart));
        }
        out
    }

    /// The planning instance at `now`: every vehicle released and not
    /// delivered, with what it has done (frozen), the voyage space and
    /// inland departure it holds, its holds; voyages as known now.
    pub fn instance(&self) -> takt_core::instance::Instance {
        let now = self.now;
        let mut vehicles = Vec::new();
        let mut voyage_ids = Vec::new();
        for v in &self.vehicles {
            if v.steps.is_empty() || v.delivered_at.is_some_and(|d| d <= now) {
                continue;
            }
            let steps = v
                .steps
                .iter()
                .map(|s| {
                    // An open stay goes on: its end is unknown, shown as `now`.
                    let open_stay = matches!(s.stage, Stage::Released | Stage::Yard)
                        && s.end == s.start
                        && v.steps.last() == Some(s);
                    // A move under way ends when it is expected to, as known
                    // now: a train at its mean transit (or now, if later), a
                    // vessel at the berth known now (delays to come are not
                    // known), never at what the world has already drawn.
                    let under_way = v.steps.last() == Some(s) && s.end > now;
                    let end = match (s.stage, s.res, v.route) {
                        _ if open_stay => now,
                        (Stage::Inland, Res::Inland(svc), _) if under_way => s
                            .start
                            .plus(mean_minutes(&self.net.inland[svc].transit))
                            .max(now),
                        (Stage::Voyage, _, Some(r)) if under_way => {
                            self.known_voyage_times(r.voyage)[r.discharge_call].0
                        }
                        _ => s.end,
                    };
                    plan::Step {
                        stage: s.stage,
                        location: self.net.locations[s.location].id.clone(),
                        resource: self.res_name(s.res),
                        start: s.start,
                        end,
                        departure: s.departure,
                        deck_class: s.deck.map(|d| self.net.deck_classes[d].id.clone()),
                        done: !open_stay && !under_way && s.end <= now,
                    }
                })
                .collect();
            if let Some(r) = v.route {
                voyage_ids.push(r.voyage);
            }
            let inland_booking = v
                .route
                .and_then(|r| r.inland)
                .filter(|_| v.last_stage() == Some(Stage::Released))
                .map(|(si, k)| {
                    (
                        self.net.inland[si].id.clone(),
                        self.net.inland[si].departures[k],
                    )
                });
            vehicles.push(takt_core::instance::VehicleState {
                vin: v.vin.to_string(),
                tenant: self.net.tenants[v.tenant].id.clone(),
                model: self.net.models[v.model].id.clone(),
                dealer: self.net.dealers[v.dealer].id.clone(),
                released_at: v.released_at,
                promised_by: v.promised_by,
                steps,
                voyage: v.route.map(|r| self.net.voyages[r.voyage].id.clone()),
                inland_booking,
                holds: v.holds.clone(),
                rolls: v.rolls,
                blocked: v.blocked.map(str::to_string),
            });
        }
        // Every voyage that has not left its last export port, and those the vehicles hold.
        for (vi, voyage) in self.voyages.iter().enumerate() {
            let last_export = self.net.voyages[vi].n_export_calls - 1;
            if voyage.calls[last_export].1 >= now && voyage.calls[0].0 <= self.limit() {
                voyage_ids.push(vi);
            }
        }
        voyage_ids.sort();
        voyage_ids.dedup();
        let voyages = voyage_ids
            .into_iter()
            .map(|vi| plan::VoyageTimes {
                voyage: self.net.voyages[vi].id.clone(),
                calls: self.net.voyages[vi]
                    .calls
                    .iter()
                    .zip(self.known_voyage_times(vi))
                    .map(|(c, (berth, depart))| plan::CallTimes {
                        port: self.net.locations[c.location].id.clone(),
                        berth,
                        depart,
                    })
                    .collect(),
            })
            .collect();
        takt_core::instance::Instance {
            scenario: self.net.name.clone(),
            volume_scale: self.volume_scale,
            now,
            vehicles,
            voyages,
            outages: self
                .outages
                .iter()
                .filter(|o| o.from <= now)
                .cloned()
                .collect(),
        }
    }

    /// Turns this (cloned) world into its own plan: no more draws, and runs
    /// until every vehicle is delivered or the planning horizon ends.
    fn project(&mut self) {
        self.nominal = true;
        self.record = false;
        self.drop_future(true);
        // Future vessel times revert to the schedule (delays are not known yet).
        self.retime_future_calls(false);
        // Trains under way arrive at their mean transit time, or now if later.
        self.retime_trains();
        let limit = self.limit();
        self.run_until(limit);
        // Open stays have no end: mark them so `plan` can drop them.
        for v in &mut self.vehicles {
            if v.delivered_at.is_none()
                && let Some(last) = v.steps.last_mut()
                && matches!(last.stage, Stage::Released | Stage::Yard)
            {
                last.end = Minute(last.start.0 - 1);
            }
        }
    }

    /// Drops the events that belong to the future the world does not know
    /// yet: vessel calls, train arrivals, station outages, and (when
    /// `releases`) new releases.
    fn drop_future(&mut self, releases: bool) {
        let mut kept = BinaryHeap::new();
        for Reverse((at, seq, ev)) in std::mem::take(&mut self.events) {
            let drop = ev.is_voyage()
                || matches!(
                    ev,
                    Ev::Outage { known: false, .. } | Ev::InlandArrival { .. }
                )
                || (releases && matches!(ev, Ev::Release { .. }));
            if !drop {
                kept.push(Reverse((at, seq, ev)));
            }
        }
        self.events = kept;
    }

    /// Re-times every call not yet made from what is known now, with fresh
    /// delays drawn when `with_delays`, and schedules the voyage events again.
    fn retime_future_calls(&mut self, with_delays: bool) {
        let now = self.now;
        for v in 0..self.net.voyages.len() {
            if !with_delays && self.calls_known {
                continue;
            }
            let known = self.known_voyage_times(v);
            if !with_delays {
                self.voyages[v].calls = known;
                continue;
            }
            let sched = self.net.voyages[v].calls.clone();
            let mut prev: Option<(Minute, i64)> = None;
            for c in 0..sched.len() {
                let (mut berth, mut depart) = known[c];
                if !self.voyages[v].berthed[c] {
                    // When the vessel was due: its schedule, or the sailing
                    // from the call before.
                    let mut due = sched[c].berth;
                    if let Some((d, sail)) = prev {
                        berth = berth.max(d.plus(sail));
                        due = due.max(d.plus(sail));
                    }
                    let overdue = now.since(due);
                    berth = if overdue > 0 {
                        // Due and not berthed: the call is late by more than
                        // it has been overdue (as a train under way arrives
                        // later than the time it has already spent).
                        due.plus(self.draw_vessel_delay_over(overdue))
                    } else {
                        berth.plus(self.draw_vessel_delay())
                    }
                    .max(now);
                    depart = sched[c]
                        .depart
                        .max(berth.plus(sched[c].depart.since(sched[c].berth)));
                }
                if let Some(next) = sched.get(c + 1) {
                    prev = Some((depart, next.berth.since(sched[c].depart)));
                }
                self.voyages[v].calls[c] = (berth, depart);
            }
        }
        // Voyage steps of vehicles at sea end at the (re-timed) berthing.
        for vid in 0..self.vehicles.len() {
            let v = &self.vehicles[vid];
            if let (Some(r), Some(Stage::Voyage)) = (v.route, v.last_stage()) {
                let berth = self.voyages[r.voyage].calls[r.discharge_call].0;
                if let Some(s) = self.vehicles[vid].steps.last_mut() {
                    s.end = berth;
                }
            }
        }
        self.schedule_voyage_events(now);
    }

    /// Trains and trucks under way: arrival at the mean transit (nominal) or
    /// a fresh draw longer than the time already spent (sampling).
    fn retime_trains(&mut self) {
        let now = self.now;
        for svc in 0..self.inland_deps.len() {
            for dep in 0..self.inland_deps[svc].len() {
                let Some(arrival) = self.inland_deps[svc][dep].arrival else {
                    continue;
                };
                // Events at `now` have not fired yet (run_until stops before `until`).
                if arrival < now {
                    continue;
                }
                let departed = self.net.inland[svc].departures[dep];
                let planned = if self.nominal && self.calls_known {
                    // Rebuilt from an instance: the arrival it announced.
                    arrival.max(now)
                } else if self.nominal {
                    departed
                        .plus(mean_minutes(&self.net.inland[svc].transit))
                        .max(now)
                } else {
                    let mut at = None;
                    for _ in 0..32 {
                        let t = departed.plus(self.draw_transit(svc));
                        if t >= now {
                            at = Some(t);
                            break;
                        }
                    }
                    at.unwrap_or(now.plus(60))
                };
                self.inland_deps[svc][dep].arrival = Some(planned);
                for &vid in &self.inland_deps[svc][dep].vehicles.clone() {
                    if let Some(s) = self.vehicles[vid].steps.last_mut() {
                        s.end = planned;
                    }
                }
                self.push(planned, Ev::InlandArrival { svc, dep });
            }
        }
    }

    /// Minutes of inland transit for a departure of `svc`, delays included.
    fn draw_transit(&mut self, svc: usize) -> i64 {
        match &self.draws {
            Draws::Learned(l) => l.transit(&self.net, svc, &mut self.rng),
            Draws::Truth => {
                let mut t = sample_minutes(&self.net.inland[svc].transit, &mut self.rng);
                if self
                    .rng
                    .random_bool(self.net.disruptions.inland_delay_probability)
                {
                    self.counters.inland_delays += 1;
                    t += sample_minutes(&self.net.disruptions.inland_delay, &mut self.rng);
                }
                t
            }
        }
    }

    fn draw_vessel_delay(&mut self) -> i64 {
        match &self.draws {
            Draws::Learned(l) => l.vessel_delay(&mut self.rng),
            Draws::Truth => {
                let d = &self.net.disruptions;
                if self.rng.random_bool(d.vessel_delay_probability) {
                    sample_minutes(&d.vessel_delay, &mut self.rng)
                } else {
                    0
                }
            }
        }
    }

    /// The delay of a call that is `overdue` minutes past when it was due
    /// and has not berthed: a late call's length, drawn given that it
    /// exceeds `overdue`; an hour beyond it when the draws hold no call that
    /// long (as for a train under way).
    fn draw_vessel_delay_over(&mut self, overdue: i64) -> i64 {
        let longer = match &self.draws {
            Draws::Learned(l) => l.vessel_delay_over(overdue, &mut self.rng),
            Draws::Truth => {
                let d = &self.net.disruptions;
                (0..64)
                    .map(|_| sample_minutes(&d.vessel_delay, &mut self.rng))
                    .find(|&x| x > overdue)
            }
        };
        longer.unwrap_or(overdue + 60)
    }

    fn draw_hold(&mut self) -> Option<i64> {
        match &self.draws {
            Draws::Learned(l) => l.hold(&mut self.rng),
            Draws::Truth => {
                let d = &self.net.disruptions;
                self.rng
                    .random_bool(d.hold_probability)
                    .then(|| sample_minutes(&d.hold, &mut self.rng))
            }
        }
    }

    fn draw_cert_hold(&mut self) -> Option<i64> {
        match &self.draws {
            Draws::Learned(l) => l.cert_hold(&mut self.rng),
            Draws::Truth => {
                let d = &self.net.disruptions;
                let p = d.certification_hold_probability;
                (p > 0.0 && self.rng.random_bool(p))
                    .then(|| sample_minutes(&d.certification_hold, &mut self.rng))
            }
        }
    }

    /// Vehicles released and not delivered.
    pub fn pipeline(&self) -> Vec<usize> {
        let now = self.now;
        self.vehicles
            .iter()
            .filter(|v| !v.steps.is_empty() && v.delivered_at.is_none_or(|d| d > now))
            .map(|v| v.id)
            .collect()
    }

    /// What the world has seen so far, as empirical distributions.
    /// What the world has seen up to now ([`Simulation::learned`]) pooled
    /// with what an earlier period taught ([`Learned::absorb`]), if any.
    pub fn learned_with(&self, history: Option<&Learned>) -> Learned {
        let mut l = self.learned();
        if let Some(h) = history {
            l.absorb(h);
        }
        l
    }

    pub fn learned(&self) -> Learned {
        let now = self.now;
        let mut l = Learned::default();
        for v in &self.vehicles {
            for s in &v.steps {
                match (s.stage, s.res) {
                    (Stage::Inland, Res::Inland(svc)) if s.end <= now => {
                        let t = s.end.since(s.start);
                        l.transit_by_service.entry(svc).or_default().push(t);
                        l.transit_by_mode
                            .entry(self.net.inland[svc].mode)
                            .or_default()
                            .push(t);
                    }
                    (Stage::PortArrival, _) if s.end <= now => l.ramp_unloads += 1,
                    (Stage::Certification, _) if s.end <= now => l.certified += 1,
                    _ => {}
                }
            }
            for h in &v.holds {
                if h.from <= now && h.to <= now {
                    match h.reason.as_str() {
                        "damage" => l.holds.push(h.to.since(h.from)),
                        "failed check" | "missing document" => {
                            l.cert_holds.push(h.to.since(h.from))
                        }
                        _ => {}
                    }
                }
            }
        }
        for (vi, voyage) in self.voyages.iter().enumerate() {
            let sched = &self.net.voyages[vi].calls;
            let mut prev: Option<(Minute, i64)> = None;
            for c in 0..sched.len() {
                if !voyage.berthed[c] || voyage.calls[c].0 > now {
                    break;
                }
                let mut expected = sched[c].berth;
                if let Some((d, sail)) = prev {
                    expected = expected.max(d.plus(sail));
                }
                l.vessel_delay
                    .push(voyage.calls[c].0.since(expected).max(0));
                if let Some(next) = sched.get(c + 1) {
                    prev = Some((voyage.calls[c].1, next.berth.since(sched[c].depart)));
                }
            }
        }
        let weeks = now.since(self.net.start).max(0) as f64 / (7.0 * Minute::DAY as f64);
        let pools = self
            .pools
            .iter()
            .filter(|p| p.kind == ResourceKind::Processing)
            .count();
        l.outage_pool_weeks = weeks * pools as f64;
        l.outages = self
            .outages
            .iter()
            .filter(|o| o.from <= now)
            .map(|o| o.to.since(o.from))
            .collect();
        l
    }

    /// One possible future: a clone of the world with its unknown future
    /// drawn afresh from `draws` and `seed`, run until every target is
    /// delivered or `horizon_days` pass. Returns, per target, the start of
    /// each stage begun after now and the delivery instant.
    pub fn sample_future(
        &self,
        seed: u64,
        draws: Draws,
        targets: &[usize],
        horizon_days: i64,
    ) -> Vec<crate::forecast::SampledPath> {
        let now = self.now;
        let mut w = self.clone();
        w.rng = ChaCha8Rng::seed_from_u64(seed);
        // This run's version of learned distributions, as uncertain as
        // the history behind them.
        w.draws = match draws {
            Draws::Learned(l) => Draws::Learned(std::sync::Arc::new(l.posterior(&mut w.rng))),
            truth => truth,
        };
        w.record = false;
        w.milestones.clear();
        w.drop_future(false);
        w.retime_future_calls(true);
        w.retime_trains();
        // Station outages to come, at the rate the draws give.
        let until = now.plus(horizon_days * Minute::DAY);
        w.schedule_outages(now, until);
        let mut day = now;
        while day < until {
            day = day.plus(Minute::DAY).min(until);
            w.run_until(day);
            if targets
                .iter()
                .all(|&t| w.vehicles[t].delivered_at.is_some())
            {
                break;
            }
        }
        targets
            .iter()
            .map(|&t| {
                let v = &w.vehicles[t];
                crate::forecast::SampledPath {
                    stages: v
                        .steps
                        .iter()
                        .filter(|s| s.start > now)
                        .map(|s| (s.stage, s.start))
                        .collect(),
                    delivered: v.delivered_at,
                    rolled: v.rolls > self.vehicles[t].rolls,
                }
            })
            .collect()
    }

    /// Voyages with their loaded RT43 and booked RT43 (all tenants), for
    /// voyages whose last export call departed before `until`.
    pub fn voyage_loads(&self, until: Minute) -> Vec<(usize, f64, f64)> {
        (0..self.net.voyages.len())
            .filter(|&v| {
                let n = self.net.voyages[v].n_export_calls;
                self.voyages[v].calls[n - 1].1 < until
                    && self.voyages[v].calls[n - 1].1 >= self.net.start
            })
            .map(|v| {
                let booked: f64 = self.net.voyages[v].booked.iter().flatten().sum();
                (v, self.voyages[v].loaded_rt43, booked)
            })
            .collect()
    }

    /// Actual (berth, departure) of a voyage's calls.
    pub fn voyage_calls(&self, voyage: usize) -> &[(Minute, Minute)] {
        &self.voyages[voyage].calls
    }
}

impl PoolState {
    fn new(
        net: &Network,
        pool: &takt_core::network::Pool,
        terminal: Option<usize>,
        import_terminal: Option<usize>,
    ) -> PoolState {
        let r = &net.resources[pool.resource];
        let n = pool.count as usize;
        PoolState {
            resource: pool.resource,
            kind: r.kind,
            location: r.location,
            busy_until: vec![Minute(i64::MIN / 4); n],
            down_until: vec![Minute(i64::MIN / 4); n],
            pending_outage: vec![0; n],
            queue: BinaryHeap::new(),
            wake_at: None,
            dispatch_at: None,
            terminal,
            import_terminal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use takt_core::network::CompileOptions;
    use takt_core::scenario::BUILTIN_US_JAPAN;

    /// The built-in world run until a vessel is overdue at its first call
    /// (due, not berthed): the world and that voyage.
    fn overdue_world() -> (Simulation, usize) {
        let (_, net) = Network::load(
            BUILTIN_US_JAPAN,
            CompileOptions {
                days: 56,
                volume_scale: 1.0,
            },
        )
        .expect("built-in scenario");
        let start = net.start;
        let mut sim = Simulation::new(
            net,
            Box::new(crate::Fifo),
            SimOptions {
                seed: 3,
                volume_scale: 1.0,
            },
        );
        for hour in 1..56 * 24 {
            sim.run_until(start.plus(hour * 60));
            let now = sim.now;
            let overdue = (0..sim.net.voyages.len()).find(|&v| {
                !sim.voyages[v].berthed[0] && sim.net.voyages[v].calls[0].berth.plus(60) < now
            });
            if let Some(v) = overdue {
                return (sim, v);
            }
        }
        panic!("no vessel overdue in 56 days of seed 3");
    }

    /// Makes the first import terminal's certification pool one free
    /// server with an empty queue and runs the world to the minute a window
    /// opens for the work: (pool, that minute).
    fn one_free_certification_station(sim: &mut Simulation) -> (usize, Minute) {
        let now = sim.now;
        let pool = sim.pool_of_resource[&sim.net.import_terminals[0].certification.resource];
        let n = sim.pools[pool].busy_until.len();
        for s in 0..n {
            sim.pools[pool].busy_until[s] = now.plus(if s == 0 { 0 } else { 10 * Minute::DAY });
            sim.pools[pool].down_until[s] = now;
            sim.pools[pool].pending_outage[s] = 0;
        }
        sim.pools[pool].queue.clear();
        let minutes = sim
            .service_minutes(pool, 0)
            .max(sim.service_minutes(pool, 1));
        let open = sim
            .calendar(pool)
            .earliest_fit(0, now, minutes)
            .expect("the station opens within the horizon");
        sim.run_until(open);
        (pool, sim.now)
    }

    #[test]
    fn regression_an_outage_drawn_while_the_server_is_down_extends_it() {
        // A second outage drawn for a server already down stayed pending,
        // and nothing started it: the server was kept out of service until
        // the next outage drawn for it (a week in the Atlantic test
        // network, seed 1).
        let (mut sim, _) = overdue_world();
        let pool = sim.pool_of_resource[&sim.net.export_terminals[0].processing.resource];
        let resource = sim.net.resources[sim.pools[pool].resource].id.clone();
        // Server 0 idle and nothing queued, so the first outage starts at once.
        let t = sim.now;
        sim.pools[pool].busy_until[0] = t;
        sim.pools[pool].down_until[0] = t;
        sim.pools[pool].pending_outage[0] = 0;
        sim.pools[pool].queue.clear();
        for (at, minutes) in [(t, 180), (t.plus(60), 180)] {
            sim.push(
                at,
                Ev::Outage {
                    pool,
                    server: 0,
                    minutes,
                    known: false,
                },
            );
        }
        sim.run_until(t.plus(90));
        assert_eq!(sim.pools[pool].pending_outage[0], 0, "nothing left pending");
        assert_eq!(sim.pools[pool].down_until[0], t.plus(360));
        let ours: Vec<_> = sim
            .outages
            .iter()
            .filter(|o| o.resource == resource && o.from >= t)
            .collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!((ours[0].from, ours[0].to), (t, t.plus(360)));
        // Back in service when the longer outage ends.
        sim.run_until(t.plus(361));
        assert!(sim.pools[pool].down_until[0] <= sim.now);
        assert_eq!(sim.pools[pool].pending_outage[0], 0);
    }

    #[test]
    fn regression_vehicles_queued_in_the_same_minute_are_served_by_priority_not_arrival() {
        // Vehicles discharged in the same minute took the certification
        // stations in the order their events ran, so a vehicle due days
        // later could take the last free station from one due that day.
        let (mut sim, _) = overdue_world();
        let (pool, at) = one_free_certification_station(&mut sim);
        assert!(sim.pools[pool].busy_until[0] <= at);
        // Two vehicles reach the queue in the same minute: the less urgent
        // (a larger priority) first.
        let (later, urgent) = (0, 1);
        sim.enqueue_with(pool, later, 9_000);
        sim.enqueue_with(pool, urgent, 1_000);
        assert!(
            sim.vehicles[later].queued.is_some(),
            "no server given mid-minute"
        );
        sim.run_until(at.plus(1));
        assert!(
            sim.vehicles[urgent].queued.is_none(),
            "the urgent vehicle started"
        );
        assert!(
            sim.vehicles[later].queued.is_some(),
            "the other still waits"
        );
    }

    /// FIFO, except that one vehicle at the head of a queue is sent to the
    /// back once (as a policy does with a vehicle that can no longer be on
    /// time).
    #[derive(Clone)]
    struct SendBack(usize);

    impl Policy for SendBack {
        fn name(&self) -> &str {
            "send-back"
        }
        fn choose_route(
            &mut self,
            net: &Network,
            vehicle: &Vehicle,
            options: &[RouteOption],
        ) -> Option<usize> {
            crate::Fifo.choose_route(net, vehicle, options)
        }
        fn queue_priority(
            &mut self,
            net: &Network,
            kind: ResourceKind,
            vehicle: &Vehicle,
            now: Minute,
        ) -> i64 {
            crate::Fifo.queue_priority(net, kind, vehicle, now)
        }
        fn requeue(
            &mut self,
            _net: &Network,
            _kind: ResourceKind,
            vehicle: &Vehicle,
            _now: Minute,
            _minutes: i64,
            priority: i64,
        ) -> Option<i64> {
            (vehicle.id == self.0 && priority < 1 << 40).then_some(priority + (1 << 40))
        }
        fn load_order(&mut self, net: &Network, vehicles: &mut [&Vehicle]) {
            crate::Fifo.load_order(net, vehicles)
        }
        fn clone_box(&self) -> Box<dyn Policy> {
            Box::new(self.clone())
        }
    }

    #[test]
    fn a_policy_can_send_the_head_of_a_queue_back_when_a_server_is_free() {
        let (mut sim, _) = overdue_world();
        let (pool, at) = one_free_certification_station(&mut sim);
        let (first, second) = (0, 1);
        sim.policy = PolicyBox(Box::new(SendBack(first)));
        sim.enqueue_with(pool, first, 1_000);
        sim.enqueue_with(pool, second, 9_000);
        sim.run_until(at.plus(1));
        assert!(
            sim.vehicles[second].queued.is_none(),
            "the one behind started"
        );
        assert_eq!(
            sim.vehicles[first].queued,
            Some((pool, 1_000 + (1 << 40))),
            "the head went back, with its new priority"
        );
    }

    #[test]
    fn regression_an_overdue_vessel_is_not_forecast_to_berth_at_once() {
        // Forecast runs drew an overdue call's delay as if nothing were
        // known, so three runs in four (the punctual share) had the vessel
        // berth the minute the forecast was made.
        let (sim, v) = overdue_world();
        let now = sim.now;
        let learned = Learned {
            vessel_delay: vec![0, 0, 0, 30, 600, 1_800, 3_000, 0, 0, 0],
            ..Learned::default()
        };
        for draws in [Draws::Truth, Draws::Learned(std::sync::Arc::new(learned))] {
            for seed in 0..40 {
                let mut w = sim.clone();
                w.rng = ChaCha8Rng::seed_from_u64(seed);
                w.draws = draws.clone();
                w.retime_future_calls(true);
                let berth = w.voyages[v].calls[0].0;
                assert!(
                    berth > now,
                    "{draws:?} seed {seed}: berths at {berth:?}, now {now:?}"
                );
            }
        }
    }
}
