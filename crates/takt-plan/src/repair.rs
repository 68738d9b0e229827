//! Live repair: one event changes the world; the plan changes as little as
//! the objective allows.
//!
//! [`apply`] writes a [`Disruption`] into the instance (a train arriving
//! late, a station or a gang out for some hours, a vessel moved, a hold
//! placed or released). [`repair`] then decodes the same decisions on the
//! changed instance (the world re-sequences queues around the event and
//! rolls whoever can no longer make a cutoff), and searches briefly for
//! better decisions, charging every vehicle whose voyage or delivery moves
//! against the plan before the event, so a change is made only when the
//! objective pays for it. [`diff`] says what changed.

use crate::guided::Gene;
use crate::search::{Params, decode, improve};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use takt_core::Minute;
use takt_core::instance::Instance;
use takt_core::network::Network;
use takt_core::objective::Objective;
use takt_core::plan::{Hold, Outage, Plan, Stage};
use takt_sim::world::RestoreError;

/// One thing that happened, as a planner reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Disruption {
    /// A vehicle's train or truck, under way, arrives `hours` later than planned.
    ArrivedLate { vin: String, hours: f64 },
    /// A pool (processing station, ramp, inspectors, ...) loses `servers`
    /// servers from `from` for `hours`.
    StationDown {
        resource: String,
        from: Minute,
        hours: f64,
        #[serde(default = "one")]
        servers: u32,
    },
    /// A stevedore gang is missing: the loading pool loses `gangs` servers
    /// from `from` for `hours` (a shift).
    GangShort {
        resource: String,
        from: Minute,
        hours: f64,
        #[serde(default = "one")]
        gangs: u32,
    },
    /// A vessel's calls not yet made (from `from_port` on, if given) move
    /// by `hours` (negative: earlier, never before the schedule).
    VesselMoved {
        voyage: String,
        hours: f64,
        #[serde(default)]
        from_port: Option<String>,
    },
    /// A hold on a vehicle from now for `hours`.
    HoldPlaced {
        vin: String,
        reason: String,
        hours: f64,
    },
    /// The vehicle's holds end now.
    HoldReleased { vin: String },
}

impl Disruption {
    /// The event's `kind`, as in its JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Disruption::ArrivedLate { .. } => "arrived_late",
            Disruption::StationDown { .. } => "station_down",
            Disruption::GangShort { .. } => "gang_short",
            Disruption::VesselMoved { .. } => "vessel_moved",
            Disruption::HoldPlaced { .. } => "hold_placed",
            Disruption::HoldReleased { .. } => "hold_released",
        }
    }
}

fn one() -> u32 {
    1
}

/// Why a disruption cannot be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RepairError {
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

pub(crate) fn minutes(hours: f64) -> Result<i64, RepairError> {
    if !hours.is_finite() || hours.abs() > 24.0 * 365.0 {
        return Err(RepairError::Bad(format!(
            "hours must be a finite number of at most a year, not {hours}"
        )));
    }
    Ok((hours * 60.0).round() as i64)
}

/// The instance after the disruption.
pub fn apply(net: &Network, inst: &Instance, d: &Disruption) -> Result<Instance, RepairError> {
    let mut out = inst.clone();
    let now = inst.now;
    let vehicle = |out: &mut Instance, vin: &str| -> Result<usize, RepairError> {
        out.vehicles
            .iter()
            .position(|v| v.vin.eq_ignore_ascii_case(vin))
            .ok_or_else(|| RepairError::Bad(format!("no vehicle {vin} in the instance")))
    };
    let outage = |out: &mut Instance, resource: &str, from: Minute, hours: f64, servers: u32| {
        out.outages
            .push(outage_of(net, now, resource, from, hours, servers)?);
        Ok::<(), RepairError>(())
    };
    match d {
        Disruption::ArrivedLate { vin, hours } => {
            let i = vehicle(&mut out, vin)?;
            let m = minutes(*hours)?;
            let v = &mut out.vehicles[i];
            match v.steps.last_mut() {
                Some(s) if s.stage == Stage::Inland && !s.done && s.end >= now => {
                    s.end = s.end.plus(m).max(now);
                }
                _ => {
                    return Err(RepairError::Bad(format!(
                        "{vin} is not on a train or truck under way"
                    )));
                }
            }
        }
        Disruption::StationDown {
            resource,
            from,
            hours,
            servers,
        } => outage(&mut out, resource, *from, *hours, *servers)?,
        Disruption::GangShort {
            resource,
            from,
            hours,
            gangs,
        } => {
            check_gang_pool(net, resource)?;
            outage(&mut out, resource, *from, *hours, *gangs)?
        }
        Disruption::VesselMoved {
            voyage,
            hours,
            from_port,
        } => {
            let m = minutes(*hours)?;
            let Some(vi) = net.voyage_index(voyage) else {
                return Err(RepairError::Bad(format!(
                    "no voyage `{voyage}` in the network"
                )));
            };
            let calls = moved_calls(net, vi, &out.voyages, now, m, from_port.as_deref())?;
            let t = set_calls(&mut out.voyages, voyage, calls).clone();
            // Vehicles at sea on it berth when it does.
            for v in &mut out.vehicles {
                if let Some(s) = v.steps.last_mut()
                    && s.stage == Stage::Voyage
                    && s.resource == *voyage
                {
                    let dport = net.dealer_index(&v.dealer).map(|d| net.dealers[d].port);
                    if let Some(j) = dport.and_then(|p| net.voyages[vi].call_at(p)) {
                        s.end = t.calls[j].berth;
                    }
                }
            }
        }
        Disruption::HoldPlaced { vin, reason, hours } => {
            let i = vehicle(&mut out, vin)?;
            let m = minutes(*hours)?;
            if m <= 0 {
                return Err(RepairError::Bad("hours must be positive".into()));
            }
            let v = &mut out.vehicles[i];
            let at = v.steps.last().map(|s| s.stage);
            if matches!(
                at,
                Some(Stage::Released | Stage::Inland | Stage::Voyage | Stage::Delivery)
            ) {
                return Err(RepairError::Bad(format!(
                    "{vin} is not at a terminal (it is in stage {}): holds apply at export and import terminals",
                    at.expect("matched")
                )));
            }
            v.holds.push(Hold {
                reason: reason.clone(),
                from: now,
                to: now.plus(m),
            });
        }
        Disruption::HoldReleased { vin } => {
            let i = vehicle(&mut out, vin)?;
            let v = &mut out.vehicles[i];
            let mut released = 0;
            for h in &mut v.holds {
                if h.from <= now && now < h.to {
                    h.to = now;
                    released += 1;
                }
            }
            if released == 0 {
                return Err(RepairError::Bad(format!("{vin} has no hold in force")));
            }
        }
    }
    Ok(out)
}

/// The outage a `station_down` or `gang_short` event describes, checked
/// against the network and the moment `now`.
pub(crate) fn outage_of(
    net: &Network,
    now: Minute,
    resource: &str,
    from: Minute,
    hours: f64,
    servers: u32,
) -> Result<Outage, RepairError> {
    let Some(r) = net.resource_index(resource) else {
        return Err(RepairError::Bad(format!(
            "no resource `{resource}` in the network"
        )));
    };
    if servers == 0 {
        return Err(RepairError::Bad("servers must be at least 1".into()));
    }
    let m = minutes(hours)?;
    if m <= 0 {
        return Err(RepairError::Bad("hours must be positive".into()));
    }
    if from.plus(m) <= now {
        return Err(RepairError::Bad(format!(
            "the outage ends before the instance's moment {now}"
        )));
    }
    Ok(Outage {
        resource: net.resources[r].id.clone(),
        from,
        to: from.plus(m),
        servers,
    })
}

/// A `gang_short` event names a loading pool.
pub(crate) fn check_gang_pool(net: &Network, resource: &str) -> Result<(), RepairError> {
    let ok = net
        .resource_index(resource)
        .is_some_and(|r| net.resources[r].kind == takt_core::network::ResourceKind::Loading);
    if ok {
        Ok(())
    } else {
        Err(RepairError::Bad(format!(
            "`{resource}` is not a loading pool (stevedore gangs)"
        )))
    }
}

/// The calls of voyage `vi` after a `vessel_moved` event of `m` minutes:
/// calls not yet made (from `from_port` on, if given) move, never before
/// the schedule; a call at berth at `now` can only move its departure.
/// `known` holds the call times known so far (the schedule for a voyage
/// it does not list).
pub(crate) fn moved_calls(
    net: &Network,
    vi: usize,
    known: &[takt_core::plan::VoyageTimes],
    now: Minute,
    m: i64,
    from_port: Option<&str>,
) -> Result<Vec<takt_core::plan::CallTimes>, RepairError> {
    let vo = &net.voyages[vi];
    let sched = &vo.calls;
    let mut calls = match known.iter().find(|t| t.voyage == vo.id) {
        Some(t) => t.calls.clone(),
        None => sched
            .iter()
            .map(|c| takt_core::plan::CallTimes {
                port: net.locations[c.location].id.clone(),
                berth: c.berth,
                depart: c.depart,
            })
            .collect(),
    };
    let first = match from_port {
        None => 0,
        Some(p) => calls.iter().position(|c| c.port == p).ok_or_else(|| {
            RepairError::Bad(format!("voyage `{}` does not call at `{p}`", vo.id))
        })?,
    };
    let mut moved = 0;
    for (c, call) in calls.iter_mut().enumerate().skip(first) {
        if call.berth <= now {
            // At berth (or berthing now): only the departure can move.
            if call.depart > now {
                call.depart = call.depart.plus(m).max(sched[c].depart).max(now);
                moved += 1;
            }
            continue;
        }
        call.berth = call.berth.plus(m).max(sched[c].berth).max(now);
        call.depart = call.depart.plus(m).max(sched[c].depart).max(call.berth);
        moved += 1;
    }
    if moved == 0 {
        return Err(RepairError::Bad(format!(
            "voyage `{}` has no call left to move",
            vo.id
        )));
    }
    Ok(calls)
}

/// Sets the call times a plan or an instance assumes for `voyage`, listing
/// the voyage if it is not yet; returns its entry.
pub(crate) fn set_calls<'a>(
    voyages: &'a mut Vec<takt_core::plan::VoyageTimes>,
    voyage: &str,
    calls: Vec<takt_core::plan::CallTimes>,
) -> &'a takt_core::plan::VoyageTimes {
    let k = match voyages.iter().position(|t| t.voyage == voyage) {
        Some(k) => k,
        None => {
            voyages.push(takt_core::plan::VoyageTimes {
                voyage: voyage.to_string(),
                calls: Vec::new(),
            });
            voyages.len() - 1
        }
    };
    voyages[k].calls = calls;
    &voyages[k]
}

/// What a repair changed, vehicle by vehicle, against the plan before.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Vehicles whose voyage changed.
    pub voyage_changed: Vec<String>,
    /// Vehicles whose delivery moved by an hour or more (VIN, hours, + later).
    pub delivery_moved: Vec<(String, f64)>,
    /// Vehicles with any planned step moved or changed.
    pub vehicles_retimed: usize,
    /// Vehicles that became unplaced.
    pub newly_unplaced: Vec<String>,
}

/// Compares two plans of the same vehicles.
pub fn diff(before: &Plan, after: &Plan) -> Diff {
    let index: HashMap<&str, usize> = before
        .vehicles
        .iter()
        .enumerate()
        .map(|(i, v)| (v.vin.as_str(), i))
        .collect();
    let mut d = Diff::default();
    for a in &after.vehicles {
        let Some(&i) = index.get(a.vin.as_str()) else {
            continue;
        };
        diff_vehicle(&mut d, &before.vehicles[i], a);
    }
    d
}

/// Adds what changed between one vehicle's plan before (`b`) and after (`a`).
pub(crate) fn diff_vehicle(
    d: &mut Diff,
    b: &takt_core::plan::VehiclePlan,
    a: &takt_core::plan::VehiclePlan,
) {
    let voyage = |p: &takt_core::plan::VehiclePlan| {
        p.step(Stage::Voyage)
            .map(|s| s.resource.clone())
            .or(p.voyage.clone())
    };
    if voyage(a) != voyage(b) {
        d.voyage_changed.push(a.vin.clone());
    }
    let end = |p: &takt_core::plan::VehiclePlan| p.step(Stage::Delivery).map(|s| s.end);
    if let (Some(x), Some(y)) = (end(b), end(a)) {
        let h = y.since(x) as f64 / 60.0;
        if h.abs() >= 1.0 {
            d.delivery_moved.push((a.vin.clone(), h));
        }
    }
    if a.steps != b.steps {
        d.vehicles_retimed += 1;
    }
    if a.unplaced.is_some() && b.unplaced.is_none() {
        d.newly_unplaced.push(a.vin.clone());
    }
}

/// The result of a repair.
#[derive(Debug, Clone)]
pub struct Repaired {
    pub instance: Instance,
    pub plan: Plan,
    pub objective: Objective,
    pub genes: Vec<Gene>,
    /// The plan before the event (same decisions, instance before), its objective.
    pub before: Plan,
    pub before_objective: Objective,
    /// The same decisions on the changed instance, before any search.
    pub kept_objective: Objective,
    pub diff: Diff,
    pub iterations: u64,
}

/// Charged per vehicle whose voyage changes in a repair, and per hour its
/// delivery moves (either way), beyond the objective's own terms.
pub const CHANGE_USD_PER_VOYAGE: f64 = 50.0;
pub const CHANGE_USD_PER_DELIVERY_HOUR: f64 = 0.5;

/// Repairs the plan that `genes` give on `inst` after `d`.
pub fn repair(
    net: &Network,
    inst: &Instance,
    genes: &[Gene],
    d: &Disruption,
    params: &Params,
    progress: &(dyn Fn() -> f64 + Sync),
) -> Result<Repaired, RepairError> {
    let (before, before_objective) = decode(net, inst, genes)?;
    let changed = apply(net, inst, d)?;
    let before_kept = progress();
    let (kept, kept_objective) = decode(net, &changed, genes)?;
    let decode_step = progress() - before_kept;
    let penalty = |p: &Plan| {
        let dd = diff(&before, p);
        dd.voyage_changed.len() as f64 * CHANGE_USD_PER_VOYAGE
            + dd.delivery_moved.iter().map(|(_, h)| h.abs()).sum::<f64>()
                * CHANGE_USD_PER_DELIVERY_HOUR
    };
    let out = improve(
        net,
        &changed,
        (genes.to_vec(), kept, kept_objective.clone()),
        params,
        progress,
        &penalty,
        decode_step,
    );
    let diff = diff(&before, &out.plan);
    Ok(Repaired {
        instance: changed,
        plan: out.plan,
        objective: out.objective,
        genes: out.genes,
        before,
        before_objective,
        kept_objective,
        diff,
        iterations: out.iterations,
    })
}
