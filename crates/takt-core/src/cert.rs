//! Certification status derived from events: per model, where vehicles
//! stand on their checklist; per vehicle, what is missing; alerts for
//! vehicles blocked by certification.
//!
//! Order-insensitive: events are sorted by time before they are applied, so
//! any permutation of the same events gives the same status.

use crate::event::Milestone;
use crate::network::{CERTIFICATE_ITEM, Network};
use crate::time::Minute;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Where a model stands with its approval at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    Approved { since: Minute },
    Pending { from: Minute },
    NotApproved,
}

/// Per-model figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStatus {
    pub model: String,
    pub tenant: String,
    pub route: String,
    pub route_name: String,
    pub approval: Approval,
    /// The checklist, in order: `(item, where)`.
    pub checklist: Vec<(String, String)>,
    /// Vehicles discharged in the destination and not yet delivered.
    pub in_destination: usize,
    /// Of those, how many wait at each checklist item (their first missing one).
    pub waiting_at: BTreeMap<String, usize>,
    /// Vehicles under a certification hold, by reason.
    pub on_hold: BTreeMap<String, usize>,
    pub certified: usize,
    pub delivered: usize,
    pub annual_cap: Option<u32>,
    /// Certifications started per calendar year (what counts against the cap).
    pub cap_used: BTreeMap<i16, usize>,
}

/// One vehicle with something missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VehicleStatus {
    pub vin: String,
    pub model: String,
    pub tenant: String,
    /// Last journey milestone and where.
    pub last_milestone: String,
    pub location: String,
    pub done: Vec<String>,
    pub missing: Vec<String>,
    /// An open certification hold: its reason and since when.
    pub hold: Option<(String, Minute)>,
}

/// Something a planner must look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub vin: String,
    pub model: String,
    pub kind: &'static str,
    pub message: String,
    pub since: Minute,
}

/// The whole status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertStatus {
    /// Time of the last event taken into account.
    pub as_of: Minute,
    pub models: Vec<ModelStatus>,
    /// Vehicles in the destination (or blocked) with items missing.
    pub vehicles: Vec<VehicleStatus>,
    pub alerts: Vec<Alert>,
}

#[derive(Default)]
struct Track {
    model: usize,
    tenant: String,
    last: String,
    location: String,
    done: Vec<String>,
    hold: Option<(String, Minute)>,
    discharged: bool,
    delivered: bool,
}

/// Derives the certification status from milestones, for one tenant or all.
pub fn status(
    net: &Network,
    events: &[Milestone],
    tenant: Option<&str>,
) -> Result<CertStatus, String> {
    let mut sorted: Vec<&Milestone> = events
        .iter()
        .filter(|e| tenant.is_none_or(|t| e.tenant == t))
        .collect();
    sorted.sort_by_key(|e| e.at);
    let mut tracks: HashMap<&str, Track> = HashMap::new();
    let mut cap_used: HashMap<(usize, i16), usize> = HashMap::new();
    let mut as_of = Minute(i64::MIN);
    for e in &sorted {
        let model = net.model_index(&e.model).ok_or_else(|| {
            format!(
                "event {}: model `{}` is not in scenario `{}`",
                e.event_id, e.model, net.name
            )
        })?;
        as_of = as_of.max(e.at);
        let t = tracks.entry(e.vin.as_str()).or_default();
        t.model = model;
        t.tenant = e.tenant.clone();
        match e.milestone.as_str() {
            "checklist_item_done" => {
                if let Some(item) = &e.item
                    && !t.done.contains(item)
                {
                    t.done.push(item.clone());
                }
            }
            "cert_hold_placed" => {
                t.hold = Some((
                    e.reason.clone().unwrap_or_else(|| "unspecified".into()),
                    e.at,
                ))
            }
            "cert_hold_released" => t.hold = None,
            "routed" | "hold_placed" | "hold_released" | "rolled" => {}
            m => {
                t.last = m.to_string();
                t.location = e.location.clone();
                match m {
                    "discharged" => t.discharged = true,
                    "delivered" => t.delivered = true,
                    "certification_started" => {
                        if let Some(loc) = net.location_index(&e.location) {
                            *cap_used.entry((model, net.year_at(loc, e.at))).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    let mut models: Vec<ModelStatus> = net
        .models
        .iter()
        .enumerate()
        .filter(|(_, m)| tenant.is_none_or(|t| net.tenants[m.tenant].id == t))
        .map(|(i, m)| {
            let route = &net.cert_routes[m.cert.route];
            let approval = match m.cert.approved_from {
                Some(a) if a <= as_of => Approval::Approved { since: a },
                Some(a) => Approval::Pending { from: a },
                None => Approval::NotApproved,
            };
            let mut used: BTreeMap<i16, usize> = BTreeMap::new();
            for (&(mi, year), &n) in &cap_used {
                if mi == i {
                    used.insert(year, n);
                }
            }
            ModelStatus {
                model: m.id.clone(),
                tenant: net.tenants[m.tenant].id.clone(),
                route: route.id.clone(),
                route_name: route.name.clone(),
                approval,
                checklist: m
                    .cert
                    .checklist
                    .iter()
                    .map(|c| (c.id.clone(), c.at.name().to_string()))
                    .collect(),
                in_destination: 0,
                waiting_at: BTreeMap::new(),
                on_hold: BTreeMap::new(),
                certified: 0,
                delivered: 0,
                annual_cap: m.cert.annual_cap,
                cap_used: used,
            }
        })
        .collect();
    let mut vehicles = Vec::new();
    let mut alerts = Vec::new();
    let mut vins: Vec<&&str> = tracks.keys().collect();
    vins.sort();
    for vin in vins {
        let t = &tracks[*vin];
        let m = &net.models[t.model];
        let Some(ms) = models.iter_mut().find(|s| s.model == m.id) else {
            continue;
        };
        let missing: Vec<String> = m
            .cert
            .checklist
            .iter()
            .map(|c| c.id.clone())
            .filter(|id| !t.done.contains(id))
            .collect();
        if t.done.iter().any(|d| d == CERTIFICATE_ITEM) {
            ms.certified += 1;
        }
        if t.delivered {
            ms.delivered += 1;
            if !missing.is_empty() {
                alerts.push(Alert {
                    vin: vin.to_string(),
                    model: m.id.clone(),
                    kind: "delivered_incomplete",
                    message: format!(
                        "delivered with checklist items missing: {}",
                        missing.join(", ")
                    ),
                    since: as_of,
                });
            }
            continue;
        }
        if t.discharged {
            ms.in_destination += 1;
            if let Some(first) = missing.first() {
                *ms.waiting_at.entry(first.clone()).or_default() += 1;
            }
        }
        if let Some((reason, since)) = &t.hold {
            *ms.on_hold.entry(reason.clone()).or_default() += 1;
            alerts.push(Alert {
                vin: vin.to_string(),
                model: m.id.clone(),
                kind: "certification_hold",
                message: format!("held at certification since {since}: {reason}"),
                since: *since,
            });
        }
        if (t.discharged || t.hold.is_some()) && !missing.is_empty() {
            vehicles.push(VehicleStatus {
                vin: vin.to_string(),
                model: m.id.clone(),
                tenant: t.tenant.clone(),
                last_milestone: t.last.clone(),
                location: t.location.clone(),
                done: t.done.clone(),
                missing,
                hold: t.hold.clone(),
            });
        }
    }
    alerts.sort_by(|a, b| a.since.cmp(&b.since).then(a.vin.cmp(&b.vin)));
    models.sort_by(|a, b| a.model.cmp(&b.model));
    Ok(CertStatus {
        as_of,
        models,
        vehicles,
        alerts,
    })
}
