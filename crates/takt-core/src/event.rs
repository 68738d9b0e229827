//! takt's own event format: one vehicle milestone per line of
//! `events.jsonl`. The simulator writes it; analysis (certification status,
//! and later the event store and insight) reads it.

use crate::plan::Stage;
use crate::time::Minute;
use serde::{Deserialize, Serialize};

/// A vehicle milestone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    /// Unique per run: the VIN and a sequence number.
    pub event_id: String,
    pub vin: String,
    pub tenant: String,
    pub model: String,
    /// One of [`MILESTONES`], or one of [`EXTRA_MILESTONES`].
    pub milestone: String,
    /// The stage the milestone belongs to.
    pub stage: Stage,
    /// RFC 3339, UTC.
    pub at: Minute,
    /// Location id (UN/LOCODE for ports).
    pub location: String,
    /// Resource id, inland service, voyage or dealer.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
    /// Why: a hold's or roll's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The certification checklist item done (`checklist_item_done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// For `routed`: the planned instant of each milestone the route fixes
    /// (`inland_departed`, `port_arrived`, `yard_staged`, `vessel_departed`,
    /// `discharged`), so plan and actual can be compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<std::collections::BTreeMap<String, Minute>>,
}

/// Journey milestones in order, with the stage each belongs to.
pub const MILESTONES: &[(&str, Stage)] = &[
    ("released", Stage::Released),
    ("inland_departed", Stage::Inland),
    ("port_arrived", Stage::PortArrival),
    ("processing_started", Stage::Processing),
    ("yard_staged", Stage::Yard),
    ("loading_started", Stage::Loading),
    ("vessel_departed", Stage::Voyage),
    ("discharged", Stage::Discharge),
    ("certification_started", Stage::Certification),
    ("delivery_departed", Stage::Delivery),
    ("delivered", Stage::Delivery),
];

/// Extra milestones, outside the journey order.
pub const EXTRA_MILESTONES: &[&str] = &[
    "routed",
    "hold_placed",
    "hold_released",
    "rolled",
    "checklist_item_done",
    "cert_hold_placed",
    "cert_hold_released",
];
