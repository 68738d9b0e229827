//! The live view the read routes answer from: the network, the current
//! plan (history plus projection, all tenants), ETAs per VIN and the alerts
//! derived from them, with indexes by tenant, VIN and resource.
//!
//! A driver (`takt demo`, or anything that plans) builds a [`Live`] with
//! [`Live::new`] and publishes it through [`LiveHandle::publish`]; readers
//! take the current snapshot ([`LiveHandle::current`], an `Arc`, so a
//! request never holds a lock while it works). Every read of a snapshot
//! goes through a tenant: [`Live::vehicles_of`], [`Live::vehicle`],
//! [`Live::alerts_of`], [`Live::steps_on`] filter by it.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use takt_core::Minute;
use takt_core::network::Network;
use takt_core::plan::{Plan, Stage, VehiclePlan};
use tokio::sync::broadcast;

/// P10/P50/P90 of one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quantiles {
    pub p10: Minute,
    pub p50: Minute,
    pub p90: Minute,
}

/// A vehicle's ETA: the start of each remaining stage and delivery at the
/// dealer, as P10/P50/P90 over Monte Carlo runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Eta {
    pub stages: Vec<(Stage, Quantiles)>,
    pub delivered: Option<Quantiles>,
    /// Share of runs in which the vehicle was delivered within the horizon.
    pub delivered_share: f64,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Expected (P50) after the promised date.
    PromiseLate,
    /// Could be (P90) after the promised date.
    PromiseAtRisk,
    /// Not staged yet, and staging could come (P90) after the voyage's cutoff.
    CutoffAtRisk,
    /// The planner could not place the vehicle's remaining stages.
    Unplaced,
    /// On hold now.
    Hold,
}

/// One vehicle at risk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// `high` (P50 late, unplaced) or `medium` (P90 late, hold).
    pub severity: &'static str,
    pub vin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
    /// The deadline at risk: promised date or cutoff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<Minute>,
    /// The expected instant (P50 or P90, see `detail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Minute>,
    /// Minutes `expected` is after `due`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_minutes: Option<i64>,
    pub detail: String,
}

/// Where a vehicle is at the snapshot's instant, by its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub stage: Stage,
    pub location: String,
    pub resource: String,
    /// The vehicle's steps are all done and the last one has ended.
    pub finished: bool,
}

/// Per tenant: vehicles by stage and location now, and flows between
/// locations (done, planned), computed once per snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantSummary {
    /// (stage, location, vehicles), unfinished vehicles only.
    pub by_stage: Vec<(Stage, String, usize)>,
    /// (from, to, vehicles that moved, vehicles planned to move).
    pub flows: Vec<(String, String, usize, usize)>,
}

/// One snapshot of the live view.
pub struct Live {
    /// Increases with every published snapshot.
    pub version: u64,
    /// The instant the plan was made.
    pub as_of: Minute,
    pub network: Arc<Network>,
    pub plan: Plan,
    /// ETAs by VIN (vehicles without one have none computed yet).
    pub etas: HashMap<String, Eta>,
    by_vin: HashMap<String, usize>,
    /// Per tenant, vehicle indices sorted by VIN.
    by_tenant: BTreeMap<String, Vec<usize>>,
    /// Per resource, (vehicle, step) sorted by step start.
    by_resource: HashMap<String, Vec<(u32, u32)>>,
    positions: Vec<Position>,
    /// Per tenant, alerts most urgent first.
    alerts: BTreeMap<String, Vec<Alert>>,
    /// Vehicle indices with at least one alert.
    at_risk: Vec<bool>,
    /// Per voyage, vehicle indices planned on it.
    by_voyage: HashMap<String, Vec<usize>>,
    summaries: BTreeMap<String, TenantSummary>,
    rt43: HashMap<String, f64>,
}

/// The cutoff of a voyage's call at an export port: berthing (as the plan
/// assumes it) minus the terminal's cutoff minutes.
pub fn cutoff_at(net: &Network, plan: &Plan, voyage: &str, port: &str) -> Option<Minute> {
    let v = net.voyage_index(voyage)?;
    let loc = net.location_index(port)?;
    let term = net.export_terminal_at(loc)?;
    let call = net.voyages[v].call_at(loc)?;
    let berth = plan
        .voyages
        .iter()
        .find(|t| t.voyage == voyage)
        .and_then(|t| t.calls.iter().find(|c| c.port == port))
        .map_or(net.voyages[v].calls[call].berth, |c| c.berth);
    Some(berth.plus(-net.export_terminals[term].cutoff_minutes))
}

fn position(v: &VehiclePlan, at: Minute) -> Position {
    let current = v
        .steps
        .iter()
        .rev()
        .find(|s| s.start <= at)
        .or(v.steps.first());
    match current {
        Some(s) => Position {
            stage: s.stage,
            location: s.location.clone(),
            resource: s.resource.clone(),
            finished: s.stage == Stage::Delivery && s.end <= at,
        },
        None => Position {
            stage: Stage::Released,
            location: String::new(),
            resource: String::new(),
            finished: false,
        },
    }
}

fn alerts_for(net: &Network, plan: &Plan, v: &VehiclePlan, eta: Option<&Eta>) -> Vec<Alert> {
    let mut out = Vec::new();
    let at = plan.created_at;
    if let Some(reason) = &v.unplaced {
        out.push(Alert {
            kind: AlertKind::Unplaced,
            severity: "high",
            vin: v.vin.clone(),
            voyage: v.voyage.clone(),
            due: Some(v.promised_by),
            expected: None,
            late_minutes: None,
            detail: format!("not planned: {reason}"),
        });
    }
    for h in &v.holds {
        if h.from <= at && at < h.to {
            out.push(Alert {
                kind: AlertKind::Hold,
                severity: "medium",
                vin: v.vin.clone(),
                voyage: v.voyage.clone(),
                due: None,
                expected: Some(h.to),
                late_minutes: None,
                detail: format!("on hold ({}) until {}", h.reason, h.to),
            });
        }
    }
    // Delivery against the promise: the ETA when there is one, else the plan.
    let planned_delivery = v.step(Stage::Delivery).filter(|s| !s.done).map(|s| s.end);
    let (p50, p90) = match eta.and_then(|e| e.delivered) {
        Some(q) => (Some(q.p50), Some(q.p90)),
        None => (planned_delivery, None),
    };
    if let Some(p50) = p50.filter(|&t| t > v.promised_by) {
        out.push(Alert {
            kind: AlertKind::PromiseLate,
            severity: "high",
            vin: v.vin.clone(),
            voyage: v.voyage.clone(),
            due: Some(v.promised_by),
            expected: Some(p50),
            late_minutes: Some(p50.since(v.promised_by)),
            detail: format!(
                "delivery expected (P50) {:.1} days after the promised date",
                p50.since(v.promised_by) as f64 / 1440.0
            ),
        });
    } else if let Some(p90) = p90.filter(|&t| t > v.promised_by) {
        out.push(Alert {
            kind: AlertKind::PromiseAtRisk,
            severity: "medium",
            vin: v.vin.clone(),
            voyage: v.voyage.clone(),
            due: Some(v.promised_by),
            expected: Some(p90),
            late_minutes: Some(p90.since(v.promised_by)),
            detail: format!(
                "delivery could come (P90) {:.1} days after the promised date",
                p90.since(v.promised_by) as f64 / 1440.0
            ),
        });
    }
    // Staging against the voyage's cutoff, for vehicles not staged yet.
    let staged = v.step(Stage::Yard).is_some_and(|s| s.start <= at);
    if !staged
        && let (Some(voyage), Some(load)) = (&v.voyage, v.step(Stage::Loading))
        && let Some(cutoff) = cutoff_at(net, plan, voyage, &load.location)
    {
        let expected = eta
            .and_then(|e| e.stages.iter().find(|(s, _)| *s == Stage::Yard))
            .map(|(_, q)| q.p90)
            .or_else(|| v.step(Stage::Yard).map(|s| s.start));
        if let Some(t) = expected.filter(|&t| t > cutoff) {
            out.push(Alert {
                kind: AlertKind::CutoffAtRisk,
                severity: "high",
                vin: v.vin.clone(),
                voyage: Some(voyage.clone()),
                due: Some(cutoff),
                expected: Some(t),
                late_minutes: Some(t.since(cutoff)),
                detail: format!(
                    "staging at {} could come (P90) {} minutes after the cutoff of {voyage}",
                    load.location,
                    t.since(cutoff)
                ),
            });
        }
    }
    out
}

impl Live {
    /// A snapshot, with its indexes and alerts.
    pub fn new(network: Arc<Network>, plan: Plan, etas: HashMap<String, Eta>) -> Live {
        let at = plan.created_at;
        let mut by_vin = HashMap::with_capacity(plan.vehicles.len());
        let mut by_tenant: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut by_resource: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut positions = Vec::with_capacity(plan.vehicles.len());
        let mut alerts: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        let mut at_risk = Vec::with_capacity(plan.vehicles.len());
        for (i, v) in plan.vehicles.iter().enumerate() {
            by_vin.insert(v.vin.clone(), i);
            by_tenant.entry(v.tenant.clone()).or_default().push(i);
            for (k, s) in v.steps.iter().enumerate() {
                by_resource
                    .entry(s.resource.clone())
                    .or_default()
                    .push((i as u32, k as u32));
            }
            positions.push(position(v, at));
            let a = alerts_for(&network, &plan, v, etas.get(&v.vin));
            at_risk.push(!a.is_empty());
            if !a.is_empty() {
                alerts.entry(v.tenant.clone()).or_default().extend(a);
            }
        }
        for ids in by_tenant.values_mut() {
            ids.sort_by(|&a, &b| plan.vehicles[a].vin.cmp(&plan.vehicles[b].vin));
        }
        let mut by_voyage: HashMap<String, Vec<usize>> = HashMap::new();
        for &i in by_tenant.values().flatten() {
            if let Some(v) = &plan.vehicles[i].voyage {
                by_voyage.entry(v.clone()).or_default().push(i);
            }
        }
        let mut summaries = BTreeMap::new();
        for (tenant, ids) in &by_tenant {
            let mut stages: BTreeMap<(Stage, &str), usize> = BTreeMap::new();
            let mut flows: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
            for &i in ids {
                let p = &positions[i];
                if !p.finished {
                    *stages.entry((p.stage, p.location.as_str())).or_default() += 1;
                }
                for w in plan.vehicles[i].steps.windows(2) {
                    if w[0].location != w[1].location {
                        let e = flows
                            .entry((w[0].location.as_str(), w[1].location.as_str()))
                            .or_default();
                        if w[1].start <= at {
                            e.0 += 1;
                        } else {
                            e.1 += 1;
                        }
                    }
                }
            }
            summaries.insert(
                tenant.clone(),
                TenantSummary {
                    by_stage: stages
                        .into_iter()
                        .map(|((s, l), n)| (s, l.to_string(), n))
                        .collect(),
                    flows: flows
                        .into_iter()
                        .map(|((a, b), (d, p))| (a.to_string(), b.to_string(), d, p))
                        .collect(),
                },
            );
        }
        for steps in by_resource.values_mut() {
            steps.sort_by_key(|&(v, k)| {
                let s = &plan.vehicles[v as usize].steps[k as usize];
                (s.start, s.end, v)
            });
        }
        for list in alerts.values_mut() {
            list.sort_by(|a, b| {
                (a.severity != "high", a.due, &a.vin, a.kind).cmp(&(
                    b.severity != "high",
                    b.due,
                    &b.vin,
                    b.kind,
                ))
            });
        }
        let rt43 = network
            .models
            .iter()
            .map(|m| (m.id.clone(), m.rt43))
            .collect();
        Live {
            version: 0,
            as_of: at,
            network,
            plan,
            etas,
            by_vin,
            by_tenant,
            by_resource,
            positions,
            alerts,
            at_risk,
            by_voyage,
            summaries,
            rt43,
        }
    }

    /// A model's footprint in RT43 (0 for an unknown model).
    pub fn rt43_of(&self, model: &str) -> f64 {
        self.rt43.get(model).copied().unwrap_or(0.0)
    }

    /// The tenant's vehicles planned on a voyage (indices, by VIN).
    pub fn on_voyage<'a>(
        &'a self,
        tenant: &'a str,
        voyage: &str,
    ) -> impl Iterator<Item = usize> + 'a {
        self.by_voyage
            .get(voyage)
            .map_or(&[][..], |v| v.as_slice())
            .iter()
            .copied()
            .filter(move |&i| self.plan.vehicles[i].tenant == tenant)
    }

    /// The tenant's vehicles by stage and location, and flows.
    pub fn summary_of(&self, tenant: &str) -> TenantSummary {
        self.summaries.get(tenant).cloned().unwrap_or_default()
    }

    /// An empty snapshot on a network: no vehicles planned yet.
    pub fn empty(network: Arc<Network>, as_of: Minute) -> Live {
        let plan = Plan {
            scenario: network.name.clone(),
            volume_scale: network.volume_scale,
            created_at: as_of,
            policy: String::new(),
            vehicles: Vec::new(),
            voyages: Vec::new(),
            outages: Vec::new(),
        };
        Live::new(network, plan, HashMap::new())
    }

    /// The tenant's vehicles (indices into `plan.vehicles`), sorted by VIN.
    pub fn vehicles_of(&self, tenant: &str) -> &[usize] {
        self.by_tenant.get(tenant).map_or(&[], |v| v.as_slice())
    }

    /// The vehicle with this VIN, if it is the tenant's; another tenant's
    /// VIN answers `None` exactly like an unknown one.
    pub fn vehicle(&self, tenant: &str, vin: &str) -> Option<usize> {
        self.by_vin
            .get(vin)
            .copied()
            .filter(|&i| self.plan.vehicles[i].tenant == tenant)
    }

    /// Where a vehicle is now, by the plan.
    pub fn position(&self, i: usize) -> &Position {
        &self.positions[i]
    }

    /// Whether the vehicle has an alert.
    pub fn is_at_risk(&self, i: usize) -> bool {
        self.at_risk[i]
    }

    /// The tenant's alerts, most urgent first.
    pub fn alerts_of(&self, tenant: &str) -> &[Alert] {
        self.alerts.get(tenant).map_or(&[], |v| v.as_slice())
    }

    /// The tenant's steps on a resource overlapping `[from, to)`, by start:
    /// (vehicle index, step index).
    pub fn steps_on<'a>(
        &'a self,
        tenant: &'a str,
        resource: &str,
        from: Minute,
        to: Minute,
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        let list = self.by_resource.get(resource).map_or(&[][..], |v| v);
        // Steps are sorted by start; all overlapping ones start before `to`.
        let end = list
            .partition_point(|&(v, k)| self.plan.vehicles[v as usize].steps[k as usize].start < to);
        list[..end]
            .iter()
            .map(|&(v, k)| (v as usize, k as usize))
            .filter(move |&(v, k)| {
                let veh = &self.plan.vehicles[v];
                veh.tenant == tenant && (veh.steps[k].end > from || veh.steps[k].start >= from)
            })
    }
}

/// What changed, for live updates (server-sent events).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A new plan snapshot (all tenants).
    Plan { version: u64, as_of: Minute },
    /// Events were stored for one tenant.
    Events {
        #[serde(skip)]
        tenant: String,
        n_stored: usize,
        n_retracted: usize,
    },
    /// The server is stopping: streams end.
    Closing,
}

impl Change {
    /// Whether a subscriber of `tenant` may see this change.
    pub fn visible_to(&self, tenant: &str) -> bool {
        match self {
            Change::Plan { .. } | Change::Closing => true,
            Change::Events { tenant: t, .. } => t == tenant,
        }
    }
}

/// The shared, swappable live view and its change feed.
pub struct LiveHandle {
    current: RwLock<Arc<Live>>,
    changes: broadcast::Sender<Change>,
    replan: AtomicBool,
}

impl LiveHandle {
    pub fn new(live: Live) -> LiveHandle {
        let (changes, _) = broadcast::channel(256);
        LiveHandle {
            current: RwLock::new(Arc::new(live)),
            changes,
            replan: AtomicBool::new(false),
        }
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Live> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the snapshot (its version becomes the previous one plus
    /// one) and tells subscribers.
    pub fn publish(&self, mut live: Live) {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        live.version = cur.version + 1;
        let change = Change::Plan {
            version: live.version,
            as_of: live.as_of,
        };
        let old = std::mem::replace(&mut *cur, Arc::new(live));
        drop(cur);
        // The last reference to a large snapshot is freed outside the
        // lock, so readers never wait for it.
        drop(old);
        let _ = self.changes.send(change);
    }

    /// Tells subscribers about something other than a new plan.
    pub fn notify(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    /// A receiver of changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Asks the driver for a new plan now.
    pub fn request_replan(&self) {
        self.replan.store(true, Ordering::SeqCst);
    }

    /// For the driver: whether a re-plan was asked for since the last call.
    pub fn take_replan_request(&self) -> bool {
        self.replan.swap(false, Ordering::SeqCst)
    }
}
