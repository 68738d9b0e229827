//! A by-the-minute plan: for every vehicle, one step per stage of the
//! journey, each with its resource and its start and end minute.
//!
//! A plan is what any policy or sequencer produces and what the checker
//! (crate `takt-check`) verifies. Steps already carried out are marked
//! `done`; the rest are the plan for the remaining stages. A vehicle the
//! policy could not place keeps the steps it has and says why in `unplaced`.

use crate::time::Minute;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Stages of the journey, in order. A vehicle skips none; a stage may take zero minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Off the line, released to logistics, waiting in the plant yard.
    Released,
    /// On a railcar or truck from the plant to the export terminal.
    Inland,
    /// Rail ramp unload or truck gate-in at the export terminal.
    PortArrival,
    /// Wash, accessories, Japan-specific work, inspection.
    Processing,
    /// Staged in the terminal yard for a voyage.
    Yard,
    /// Driven onto the vessel by a stevedore.
    Loading,
    /// At sea, from the export port's departure to the discharge port's berthing.
    Voyage,
    /// Driven off in Japan.
    Discharge,
    /// Japan certification: marking, fixes, inspection certificate.
    Certification,
    /// Car-hauler to the dealer.
    Delivery,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::Released,
        Stage::Inland,
        Stage::PortArrival,
        Stage::Processing,
        Stage::Yard,
        Stage::Loading,
        Stage::Voyage,
        Stage::Discharge,
        Stage::Certification,
        Stage::Delivery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Released => "released",
            Stage::Inland => "inland",
            Stage::PortArrival => "port_arrival",
            Stage::Processing => "processing",
            Stage::Yard => "yard",
            Stage::Loading => "loading",
            Stage::Voyage => "voyage",
            Stage::Discharge => "discharge",
            Stage::Certification => "certification",
            Stage::Delivery => "delivery",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One stage of one vehicle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub stage: Stage,
    /// Location id where the step starts.
    pub location: String,
    /// Resource id: `LOCATION/kind` for pools and yards, the inland
    /// service id, the voyage id, or `LOCATION/delivery`.
    pub resource: String,
    pub start: Minute,
    pub end: Minute,
    /// Scheduled departure the vehicle rides (inland and delivery steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departure: Option<Minute>,
    /// Deck class the vehicle is stowed in (voyage step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deck_class: Option<String>,
    /// Carried out already (true) or planned (false).
    pub done: bool,
}

/// A hold on a vehicle: it may not start a new stage between `from` and `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub reason: String,
    pub from: Minute,
    pub to: Minute,
}

/// One vehicle's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehiclePlan {
    pub vin: String,
    pub tenant: String,
    pub model: String,
    pub dealer: String,
    pub released_at: Minute,
    pub promised_by: Minute,
    /// Voyage the vehicle is planned on, if any.
    #[serde(default)]
    pub voyage: Option<String>,
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Times the vehicle has been rolled past a voyage it was planned on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rolls: u32,
    /// Why the remaining stages could not be planned, if they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unplaced: Option<String>,
}

impl VehiclePlan {
    pub fn step(&self, stage: Stage) -> Option<&Step> {
        self.steps.iter().find(|s| s.stage == stage)
    }
}

/// A port call as the plan assumes it (scheduled, or as delayed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTimes {
    pub port: String,
    pub berth: Minute,
    pub depart: Minute,
}

/// A voyage's port calls as the plan assumes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoyageTimes {
    pub voyage: String,
    pub calls: Vec<CallTimes>,
}

/// Capacity taken away from a resource for a while (an outage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub resource: String,
    pub from: Minute,
    pub to: Minute,
    /// Servers out of service.
    pub servers: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn one() -> f64 {
    1.0
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub scenario: String,
    /// Volume scale the network was compiled with (demand and capacities).
    #[serde(default = "one")]
    pub volume_scale: f64,
    /// The instant the plan was made; steps ending before it are `done`.
    pub created_at: Minute,
    pub policy: String,
    pub vehicles: Vec<VehiclePlan>,
    pub voyages: Vec<VoyageTimes>,
    #[serde(default)]
    pub outages: Vec<Outage>,
}
