//! A lower bound on the objective of any feasible plan for an instance.
//!
//! The bound relaxes every interaction between vehicles (pool, yard,
//! departure and vessel capacities, outages, holds, certification caps) and
//! keeps each vehicle's own constraints: scheduled departures, standard
//! times (the checker requires planned steps to take exactly their standard
//! time and planned inland moves the mean transit), calendars, cutoffs, the
//! loading and discharge windows of each voyage's scheduled calls, the
//! model's approval date and the delivery-truck timetable. For each vehicle
//! it then takes the cheapest of its own ways to the dealer, so the sum is
//! at most the cost of any feasible plan:
//!
//! - the past is shared by every plan (frozen steps): dwell and transport
//!   already incurred and vehicles already rolled are counted exactly;
//! - from `now` on, for each inland service (when the vehicle has not left
//!   the plant) and each of the next voyages it can make from that
//!   service's port, the earliest delivery gives the least lateness, and
//!   the voyage's departure and the delivery truck fix the least dwell:
//!   with standard times, waiting before the voyage is the time to its
//!   departure minus the work still to do, and in Japan the time from
//!   berthing to the first delivery truck the vehicle can make minus the
//!   discharge and certification work;
//! - a vehicle is never charged more than leaving it unplaced would cost;
//! - unused booked space: every plan keeps the frozen voyage steps, so its
//!   span of sailings covers at least theirs; on the voyages whose last
//!   export departure falls in that span, booked space beyond what is
//!   aboard plus all the tenant's vehicles not yet loaded stays empty.

use serde::Serialize;
use takt_core::Minute;
use takt_core::instance::{Instance, VehicleState};
use takt_core::network::{Calendar, Network};
use takt_core::plan::{Stage, Step};

/// The bound, term by term, in the objective's units.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bound {
    /// Dwell already incurred (frozen steps, open stays up to now).
    pub past_dwell_vehicle_hours: f64,
    /// Least dwell still to come, summed over vehicles.
    pub future_dwell_vehicle_hours: f64,
    pub dwell_usd: f64,
    pub lateness_vehicle_days: f64,
    pub lateness_usd: f64,
    /// Vehicles already rolled.
    pub vehicles_rolled: usize,
    pub roll_usd: f64,
    /// Booked space that stays empty in every plan: on voyages inside the
    /// span every plan covers, booked RT43 beyond what is aboard and what
    /// the tenant's vehicles not yet loaded could still fill.
    pub unused_space_rt43: f64,
    pub unused_space_usd: f64,
    pub transport_usd: f64,
    /// Vehicles for which leaving them unplaced is the cheapest bound (or the only way).
    pub vehicles_unplaced: usize,
    pub unplaced_usd: f64,
    pub total_usd: f64,
}

/// Voyages considered per way to a port; later ones only wait longer.
const VOYAGES_PER_PORT: usize = 6;

fn fit(cal: &Calendar, t: Minute, minutes: i64) -> Option<Minute> {
    cal.earliest_fit(0, t, minutes).map(|s| s.plus(minutes))
}

/// Where a vehicle is, for the chain of earliest times.
enum From {
    /// At the plant: any inland service from it.
    Plant,
    /// At (or on the way to) export terminal `t`, ready for `stage` at
    /// `at` (for a staged vehicle: when it was staged); waiting counts from
    /// `dwell_from`.
    Terminal {
        t: usize,
        at: Minute,
        stage: Stage,
        dwell_from: Minute,
    },
    /// Loaded on a voyage at an export call.
    Aboard {
        voyage: usize,
        call: usize,
    },
    /// In Japan, ready for the next stage at `at`.
    Japan {
        at: Minute,
        stage: Stage,
    },
    Delivered {
        at: Minute,
    },
}

/// The cheapest future of one vehicle: dwell hours, late days, transport USD.
struct Future {
    dwell_hours: f64,
    late_days: f64,
    transport_usd: f64,
}

impl Future {
    /// In the objective's dollars.
    fn cost(&self, w: &takt_core::scenario::ObjectiveWeights) -> f64 {
        self.dwell_hours * w.dwell_usd_per_vehicle_hour
            + self.late_days * w.lateness_usd_per_vehicle_day
            + self.transport_usd * w.transport_cost_weight
    }
}

struct Ctx<'a> {
    net: &'a Network,
    now: Minute,
    model: usize,
    dealer: usize,
    promised: Minute,
}

impl Ctx<'_> {
    fn cost(&self, f: &Future) -> f64 {
        f.cost(&self.net.objective)
    }

    /// From berthing at the dealer's port at `berth` (or from a later point):
    /// the earliest delivery end and the least dwell (hours) in Japan.
    fn japan(&self, at: Minute, stage: Stage, window_end: Option<Minute>) -> Option<(Minute, f64)> {
        let net = self.net;
        let d = &net.dealers[self.dealer];
        let it = &net.import_terminals[d.terminal];
        let m = &net.models[self.model];
        let dis_min = it.discharge.minutes_per_vehicle;
        let cert_min = m.certification_minutes(it.certification.minutes_per_vehicle);
        let mut t = at;
        let mut work = 0;
        if stage <= Stage::Discharge {
            let end = fit(&it.discharge.calendar, t, dis_min)?;
            if window_end.is_some_and(|w| end > w) {
                return None;
            }
            t = end;
            work += dis_min;
        }
        if stage <= Stage::Certification {
            let approved = m.cert.approved_from?;
            t = fit(&it.certification.calendar, t.max(approved), cert_min)?;
            work += cert_min;
        }
        let k = it.delivery_departures.partition_point(|&x| x < t);
        let dep = *it.delivery_departures.get(k)?;
        let end = dep.plus(d.delivery_minutes);
        let dwell = (dep.since(at) - work).max(0) as f64 / 60.0;
        Some((end, dwell))
    }

    /// The cheapest future through export terminal `t`, ready for `stage`
    /// at `at`, counting waiting from `dwell_from` on, plus `base_dwell`
    /// hours already fixed (the rest of a plant stay).
    fn via_terminal(
        &self,
        t: usize,
        (at, stage, dwell_from): (Minute, Stage, Minute),
        base_dwell: f64,
    ) -> Option<Future> {
        let net = self.net;
        let et = &net.export_terminals[t];
        let m = &net.models[self.model];
        let mut time = at;
        if stage <= Stage::PortArrival {
            time = fit(&et.ramp.calendar, time, et.ramp.minutes_per_vehicle)?;
        }
        if stage <= Stage::Processing {
            time = fit(&et.processing.calendar, time, m.processing_minutes)?;
        }
        let staged = time;
        let loc = et.location;
        let dport = net.dealers[self.dealer].port;
        let mut best: Option<Future> = None;
        let mut tried = 0;
        let mut voyages: Vec<(Minute, usize, usize, usize)> = net
            .voyages
            .iter()
            .enumerate()
            .filter_map(|(vi, vo)| {
                let c = vo.call_at(loc).filter(|&c| c < vo.n_export_calls)?;
                let j = vo.call_at(dport).filter(|&j| j >= vo.n_export_calls)?;
                let call = vo.calls[c];
                (call.berth.plus(-et.cutoff_minutes) >= staged && call.depart >= self.now)
                    .then_some((call.berth, vi, c, j))
            })
            .collect();
        voyages.sort();
        for (berth, vi, c, j) in voyages {
            if tried >= VOYAGES_PER_PORT {
                break;
            }
            let vo = &net.voyages[vi];
            let call = vo.calls[c];
            let load_from = berth.max(staged);
            let Some(loaded) = fit(
                &et.loading.calendar,
                load_from,
                et.loading.minutes_per_vehicle,
            ) else {
                continue;
            };
            if loaded > call.depart {
                continue;
            }
            tried += 1;
            let jcall = vo.calls[j];
            let Some((end, dwell_j)) =
                self.japan(jcall.berth, Stage::Discharge, Some(jcall.depart))
            else {
                continue;
            };
            // Waiting from now to the voyage's departure: all but the work.
            let work = if stage <= Stage::PortArrival {
                et.ramp.minutes_per_vehicle
            } else {
                0
            } + if stage <= Stage::Processing {
                m.processing_minutes
            } else {
                0
            } + et.loading.minutes_per_vehicle;
            let pre = (call.depart.since(dwell_from) - work).max(0) as f64 / 60.0;
            let f = Future {
                dwell_hours: base_dwell + pre + dwell_j,
                late_days: end.since(self.promised).max(0) as f64 / Minute::DAY as f64,
                transport_usd: 0.0,
            };
            if best.as_ref().is_none_or(|b| self.cost(&f) < self.cost(b)) {
                best = Some(f);
            }
        }
        best
    }
}

fn stays_and_gaps(v: &VehicleState, now: Minute) -> f64 {
    let mut hours = 0.0;
    let mut prev_end = v.released_at;
    for s in &v.steps {
        hours += s.start.since(prev_end).max(0) as f64 / 60.0;
        if matches!(s.stage, Stage::Released | Stage::Yard) {
            let end = if s.done { s.end } else { now.max(s.start) };
            hours += end.since(s.start).max(0) as f64 / 60.0;
        }
        prev_end = s.end;
    }
    hours
}

fn position(net: &Network, v: &VehicleState, last: &Step, now: Minute) -> Option<From> {
    let loc = net.location_index(&last.location)?;
    Some(match last.stage {
        Stage::Released => From::Plant,
        Stage::Inland => {
            let si = net.inland_index(&last.resource)?;
            From::Terminal {
                t: net.inland[si].terminal,
                at: last.end,
                stage: Stage::PortArrival,
                dwell_from: last.end,
            }
        }
        Stage::PortArrival | Stage::Processing => From::Terminal {
            t: net.export_terminal_at(loc)?,
            at: last.end,
            stage: if last.stage == Stage::PortArrival {
                Stage::Processing
            } else {
                Stage::Yard
            },
            dwell_from: last.end,
        },
        // Staged: the yard stay is counted up to now.
        Stage::Yard => From::Terminal {
            t: net.export_terminal_at(loc)?,
            at: last.start,
            stage: Stage::Yard,
            dwell_from: now.max(last.start),
        },
        Stage::Loading => {
            let vi = net.voyage_index(v.voyage.as_deref()?)?;
            From::Aboard {
                voyage: vi,
                call: net.voyages[vi].call_at(loc)?,
            }
        }
        Stage::Voyage => {
            let vi = net.voyage_index(&last.resource)?;
            let dport = net.dealers[net.dealer_index(&v.dealer)?].port;
            let j = net.voyages[vi].call_at(dport)?;
            From::Japan {
                at: net.voyages[vi].calls[j].berth,
                stage: Stage::Discharge,
            }
        }
        Stage::Discharge => From::Japan {
            at: last.end,
            stage: Stage::Certification,
        },
        Stage::Certification => From::Japan {
            at: last.end,
            stage: Stage::Delivery,
        },
        Stage::Delivery => From::Delivered { at: last.end },
    })
}

/// The least cost still to come for one vehicle, or None when it has no way to the dealer.
fn future(net: &Network, v: &VehicleState, now: Minute) -> Option<Future> {
    let model = net.model_index(&v.model)?;
    let dealer = net.dealer_index(&v.dealer)?;
    let ctx = Ctx {
        net,
        now,
        model,
        dealer,
        promised: v.promised_by,
    };
    let last = v.steps.last()?;
    let late = |end: Minute| end.since(v.promised_by).max(0) as f64 / Minute::DAY as f64;
    match position(net, v, last, now)? {
        From::Delivered { at } => Some(Future {
            dwell_hours: 0.0,
            late_days: late(at),
            transport_usd: 0.0,
        }),
        From::Japan { at, stage } => {
            let (end, dwell) = ctx.japan(at, stage, None)?;
            Some(Future {
                dwell_hours: dwell,
                late_days: late(end),
                transport_usd: 0.0,
            })
        }
        From::Aboard { voyage, call } => {
            let vo = &net.voyages[voyage];
            let j = vo.call_at(net.dealers[dealer].port)?;
            let (end, dwell_j) = ctx.japan(vo.calls[j].berth, Stage::Discharge, None)?;
            // Loaded: the wait on board from the end of loading to departure.
            let wait = vo.calls[call].depart.since(last.end).max(0);
            Some(Future {
                dwell_hours: wait as f64 / 60.0 + dwell_j,
                late_days: late(end),
                transport_usd: 0.0,
            })
        }
        From::Terminal {
            t,
            at,
            stage,
            dwell_from,
        } => ctx.via_terminal(t, (at, stage, dwell_from), 0.0),
        From::Plant => {
            let m = &net.models[model];
            let plant_loc = net.plants[m.plant].location;
            let mut best: Option<Future> = None;
            for svc in &net.inland {
                if svc.from != plant_loc || svc.vehicles_per_unit[m.inland_class] == 0 {
                    continue;
                }
                let k = svc.departures.partition_point(|&d| d < now);
                let Some(&dep) = svc.departures.get(k) else {
                    continue;
                };
                let transit = svc.transit.mean_minutes();
                let arrive = dep.plus(transit);
                // Waiting at the plant until the departure, then the terminal.
                let plant_wait = dep.since(now) as f64 / 60.0;
                let Some(mut f) = ctx.via_terminal(
                    svc.terminal,
                    (arrive, Stage::PortArrival, arrive),
                    plant_wait,
                ) else {
                    continue;
                };
                f.transport_usd = svc.cost_per_vehicle_usd;
                if best.as_ref().is_none_or(|b| ctx.cost(&f) < ctx.cost(b)) {
                    best = Some(f);
                }
            }
            best
        }
    }
}

/// The lower bound of `inst` on `net` (compiled with the instance's volume scale).
pub fn lower_bound(net: &Network, inst: &Instance) -> Bound {
    let w = &net.objective;
    let now = inst.now;
    let mut b = Bound::default();
    for v in &inst.vehicles {
        b.past_dwell_vehicle_hours += stays_and_gaps(v, now);
        if v.rolls > 0 {
            b.vehicles_rolled += 1;
        }
        for s in &v.steps {
            if s.stage == Stage::Inland
                && let Some(si) = net.inland_index(&s.resource)
            {
                b.transport_usd += net.inland[si].cost_per_vehicle_usd * w.transport_cost_weight;
            }
        }
        let f = future(net, v, now);
        let cost = |f: &Future| f.cost(w);
        match f {
            Some(f) if cost(&f) <= w.unplaced_usd_per_vehicle => {
                b.future_dwell_vehicle_hours += f.dwell_hours;
                b.lateness_vehicle_days += f.late_days;
                b.transport_usd += f.transport_usd * w.transport_cost_weight;
            }
            _ => {
                b.vehicles_unplaced += 1;
                b.unplaced_usd += w.unplaced_usd_per_vehicle;
            }
        }
    }
    b.dwell_usd =
        (b.past_dwell_vehicle_hours + b.future_dwell_vehicle_hours) * w.dwell_usd_per_vehicle_hour;
    b.lateness_usd = b.lateness_vehicle_days * w.lateness_usd_per_vehicle_day;
    b.roll_usd = b.vehicles_rolled as f64 * w.roll_usd_per_vehicle;
    b.unused_space_rt43 = unused_space(net, inst);
    b.unused_space_usd = b.unused_space_rt43 * w.unused_space_usd_per_rt43;
    b.total_usd = b.dwell_usd
        + b.lateness_usd
        + b.roll_usd
        + b.unused_space_usd
        + b.transport_usd
        + b.unplaced_usd;
    b
}

/// Booked RT43 that no plan can fill on voyages every plan's span covers:
/// voyages that have left their last export port with vehicles of the
/// instance aboard. A frozen voyage step pins that departure (the voyage
/// step starts at it), it lies inside every plan's span of sailings, and no
/// loading can be planned before it, so what is empty there stays empty.
fn unused_space(net: &Network, inst: &Instance) -> f64 {
    use std::collections::{HashMap, HashSet};
    let mut aboard: HashMap<(usize, usize, usize), f64> = HashMap::new();
    let mut pinned: HashSet<usize> = HashSet::new();
    for v in &inst.vehicles {
        let (Some(m), Some(t)) = (net.model_index(&v.model), net.tenant_index(&v.tenant)) else {
            continue;
        };
        let Some(s) = v.steps.iter().find(|s| s.stage == Stage::Voyage) else {
            continue;
        };
        let (Some(vi), Some(deck)) = (
            net.voyage_index(&s.resource),
            s.deck_class
                .as_deref()
                .and_then(|d| net.deck_classes.iter().position(|c| c.id == d)),
        ) else {
            continue;
        };
        *aboard.entry((vi, t, deck)).or_default() += net.models[m].rt43;
        let voyage = &net.voyages[vi];
        let last_export = voyage.calls[voyage.n_export_calls - 1].location;
        if net.location_index(&s.location) == Some(last_export) && s.start <= inst.now {
            pinned.insert(vi);
        }
    }
    let mut unused = 0.0;
    for vi in pinned {
        for (t, decks) in net.voyages[vi].booked.iter().enumerate() {
            for (d, &booked) in decks.iter().enumerate() {
                let loaded = aboard.get(&(vi, t, d)).copied().unwrap_or(0.0);
                unused += (booked - loaded).max(0.0);
            }
        }
    }
    unused
}
