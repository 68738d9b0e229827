//! A planning instance: the network plus every vehicle's state at a moment
//! `now`. What a sequencer reads; the simulator makes one at any moment
//! (`Simulation::instance`), and `takt instance` writes one. The JSON format
//! is documented in docs/instance.md.

use crate::plan::{Hold, Outage, Step, VoyageTimes};
use crate::time::Minute;
use serde::{Deserialize, Serialize};

/// One vehicle's state at `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleState {
    pub vin: String,
    pub tenant: String,
    pub model: String,
    pub dealer: String,
    pub released_at: Minute,
    pub promised_by: Minute,
    /// Steps begun by `now`, in journey order. Finished ones have
    /// `done: true`; the last may be under way (`done: false`): its end is
    /// the planned end of its work, or `now` for a stay (plant yard, export
    /// yard) that goes on. Everything here is frozen: a plan keeps it.
    pub steps: Vec<Step>,
    /// Voyage whose space the vehicle holds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
    /// Inland departure the vehicle is booked on and has not left with yet:
    /// service id and scheduled departure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inland_booking: Option<(String, Minute)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Times rolled so far.
    #[serde(default)]
    pub rolls: u32,
    /// Why the vehicle cannot move on now, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

/// The whole instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Scenario name; the scenario file itself travels separately.
    pub scenario: String,
    pub volume_scale: f64,
    pub now: Minute,
    /// Vehicles released and not yet delivered.
    pub vehicles: Vec<VehicleState>,
    /// Port calls as known at `now`: actual for calls made, scheduled for the rest.
    pub voyages: Vec<VoyageTimes>,
    /// Station outages known at `now` (past and under way).
    #[serde(default)]
    pub outages: Vec<Outage>,
}
