//! Event semantics, pure (no I/O, no clock: the receipt time comes in as an
//! argument): the time policy, how a submission relates to what is stored
//! under its id (new, duplicate, conflict, retraction), and the state a
//! vehicle's or resource's events derive.
//!
//! State is a function of the *set* of stored events: events are ordered by
//! event time (then milestone rank, then id), never by arrival, and
//! retracted events are left out. So any permutation of the same events, with
//! or without duplicates, derives the same state and history.

use crate::model::{Body, Event, Flag, LogRow, ResourceEvent, differing_fields};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use takt_core::event::{EXTRA_MILESTONES, MILESTONES};
use takt_core::{Stage, Vin};

/// When an event's time is acceptable, and when it is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// An event more than this far ahead of its receipt is rejected.
    pub max_future: SignedDuration,
    /// An event ahead of its receipt by more than this (but within
    /// `max_future`) is accepted and flagged [`Flag::ClockSkew`].
    pub skew_tolerance: SignedDuration,
    /// An event received more than this after it happened is accepted and
    /// flagged [`Flag::Late`].
    pub late_after: SignedDuration,
}

/// The policy the store applies: reject more than 1 hour in the future
/// (a device clock can be off by minutes, not by hours; a planned time
/// sent as an actual one is an error), flag more than 5 minutes ahead as
/// clock skew, flag more than 24 hours after the fact as late (terminal
/// systems that batch a shift's scans still arrive within a day).
pub const DEFAULT_POLICY: TimePolicy = TimePolicy {
    max_future: SignedDuration::from_hours(1),
    skew_tolerance: SignedDuration::from_mins(5),
    late_after: SignedDuration::from_hours(24),
};

impl TimePolicy {
    /// The flags for an event received at `received_at`, or why it is rejected.
    pub fn check(&self, at: Timestamp, received_at: Timestamp) -> Result<Vec<Flag>, String> {
        let ahead = at.duration_since(received_at);
        if ahead > self.max_future {
            return Err(format!(
                "event time {at} is {} minutes after its receipt at {received_at}; more than {} minutes in the future is rejected (send actual times, not planned ones, and check the sender's clock)",
                ahead.as_mins(),
                self.max_future.as_mins()
            ));
        }
        let mut flags = Vec::new();
        if ahead > self.skew_tolerance {
            flags.push(Flag::ClockSkew);
        }
        if -ahead > self.late_after {
            flags.push(Flag::Late);
        }
        Ok(flags)
    }
}

/// How a submission relates to the rows already stored under its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not stored yet: store it.
    New,
    /// The same content is stored: store nothing, answer `duplicate`.
    Duplicate,
    /// The same id with different content; the differing fields as JSON
    /// pointers (`/errorDeclaration/...` for a different declaration).
    Conflict(Vec<String>),
}

/// Classifies `incoming` against the stored rows with the same id (at most
/// one plain event and one retraction).
///
/// A plain event conflicts with a stored event or retraction whose content
/// differs (an error declaration repeats the event it corrects). A
/// retraction is a duplicate of an equal stored retraction and conflicts
/// with a different one, or with a stored event of different content.
pub fn classify(stored: &[&Event], incoming: &Event) -> Outcome {
    let mut conflicts = BTreeSet::new();
    for s in stored {
        let same_kind = s.error_declaration.is_some() == incoming.error_declaration.is_some();
        if s.content.as_str() != incoming.content.as_str() {
            conflicts.extend(differing_fields(
                &s.content.value(),
                &incoming.content.value(),
            ));
        }
        if same_kind {
            if s.error_declaration != incoming.error_declaration {
                conflicts.insert("/errorDeclaration".to_string());
            }
            if conflicts.is_empty() {
                return Outcome::Duplicate;
            }
        }
    }
    if conflicts.is_empty() {
        Outcome::New
    } else {
        Outcome::Conflict(conflicts.into_iter().collect())
    }
}

/// Order of milestones at the same instant: journey milestones in journey
/// order, then the extras in their listed order (a hold placed before one
/// released), then anything else.
fn rank(milestone: &str) -> usize {
    MILESTONES
        .iter()
        .map(|(m, _)| *m)
        .chain(EXTRA_MILESTONES.iter().copied())
        .position(|m| m == milestone)
        .unwrap_or(usize::MAX)
}

/// The order of events: event time, then milestone rank (see [`rank`];
/// 0 for resource events), then event id.
pub fn order_key(e: &Event) -> (Timestamp, usize, &str) {
    let r = match &e.body {
        Body::Vehicle(v) => rank(&v.milestone),
        _ => 0,
    };
    (e.at, r, e.event_id.as_str())
}

/// Splits rows into the effective events (not retracted, deduplicated,
/// in event order) and the retractions by id.
fn effective<'a>(
    rows: impl IntoIterator<Item = &'a LogRow>,
) -> (Vec<&'a Event>, BTreeMap<&'a str, &'a Event>) {
    let mut retractions: BTreeMap<&str, &Event> = BTreeMap::new();
    let mut events: BTreeMap<&str, &Event> = BTreeMap::new();
    for r in rows {
        if r.is_retraction() {
            retractions.insert(&r.event.event_id, &r.event);
        } else {
            events.insert(&r.event.event_id, &r.event);
        }
    }
    let mut live: Vec<&Event> = events
        .values()
        .filter(|e| !retractions.contains_key(e.event_id.as_str()))
        .copied()
        .collect();
    live.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    (live, retractions)
}

/// A hold in force on a vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldState {
    // Fields in key order: see `VehicleState`.
    /// `hold` or `cert_hold`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub since: Timestamp,
}

/// A vehicle's state, derived from its effective events. Its fields (and
/// `HoldState`'s) are declared in key order, so that it serializes
/// straight to the canonical JSON that is stored (sorted keys, as a
/// `serde_json::Value` would write it) without building a `Value` first;
/// `vehicle_state_serializes_straight_to_canonical_json` checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleState {
    /// Certification checklist items done.
    pub checklist_done: BTreeSet<String>,
    /// Holds in force, by reason.
    pub holds: BTreeMap<String, HoldState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The latest journey milestone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Effective (not retracted) events.
    pub n_events: usize,
    /// Retracted events.
    pub n_retracted: usize,
    /// Times the vehicle was rolled to a later voyage.
    pub n_rolls: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The stage of the latest journey milestone, by event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_since: Option<Timestamp>,
    pub vin: Vin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
}

/// One line of a vehicle's history: every stored event, retracted ones
/// included and marked, in event-time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub event_id: String,
    pub at: Timestamp,
    pub milestone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Retracted by an error declaration.
    pub retracted: bool,
    /// The corrective events the error declaration names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrected_by: Vec<String>,
}

impl VehicleState {
    /// The state of a vehicle with no effective event.
    pub fn empty(vin: Vin) -> VehicleState {
        VehicleState {
            vin,
            model: None,
            stage: None,
            milestone: None,
            stage_since: None,
            location: None,
            resource: None,
            voyage: None,
            holds: BTreeMap::new(),
            checklist_done: BTreeSet::new(),
            n_rolls: 0,
            n_events: 0,
            n_retracted: 0,
            last_event_at: None,
        }
    }

    /// Applies the next effective event in event order (see [`order_key`]).
    /// Deriving from all events and applying new events that come after
    /// every stored one to the stored state give the same state.
    pub fn apply(&mut self, e: &Event) {
        let Body::Vehicle(v) = &e.body else { return };
        let s = self;
        s.n_events += 1;
        s.last_event_at = Some(e.at);
        if v.model.is_some() {
            s.model.clone_from(&v.model);
        }
        if v.voyage.is_some() {
            s.voyage.clone_from(&v.voyage);
        }
        let reason = v.reason.clone().unwrap_or_default();
        match v.milestone.as_str() {
            "hold_placed" | "cert_hold_placed" => {
                let kind = v.milestone.trim_end_matches("_placed").to_string();
                s.holds.insert(
                    reason,
                    HoldState {
                        since: e.at,
                        location: v.location.clone(),
                        kind,
                    },
                );
            }
            "hold_released" | "cert_hold_released" => {
                s.holds.remove(&reason);
            }
            "checklist_item_done" => {
                if let Some(item) = &v.item {
                    s.checklist_done.insert(item.clone());
                }
            }
            "rolled" => {
                s.n_rolls += 1;
                s.voyage = None;
            }
            _ => {}
        }
        if let Some(stage) = v.stage {
            if s.milestone.as_deref() != Some(v.milestone.as_str()) || s.stage != Some(stage) {
                s.stage_since = Some(e.at);
            }
            s.stage = Some(stage);
            s.milestone = Some(v.milestone.clone());
            if v.location.is_some() {
                s.location.clone_from(&v.location);
            }
            if v.resource.is_some() {
                s.resource.clone_from(&v.resource);
            }
        }
    }
}

/// The state and history one vehicle's rows derive. Rows for other vehicles
/// are ignored; duplicates and arrival order do not matter.
pub fn derive_vehicle(vin: Vin, rows: &[LogRow]) -> (VehicleState, Vec<HistoryEntry>) {
    let mine: Vec<&LogRow> = rows
        .iter()
        .filter(|r| matches!(&r.event.body, Body::Vehicle(v) if v.vins.contains(&vin)))
        .collect();
    let (live, retractions) = effective(mine.iter().copied());
    let mut s = VehicleState::empty(vin);
    for e in &live {
        s.apply(e);
    }
    let mut all: Vec<&Event> = live.clone();
    for (id, r) in &retractions {
        s.n_retracted += 1;
        // The retracted event itself when stored, else the declaration's copy.
        let original = mine
            .iter()
            .find(|row| !row.is_retraction() && row.event.event_id == *id)
            .map_or(*r, |row| &row.event);
        all.push(original);
    }
    all.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let history = all
        .into_iter()
        .map(|e| {
            let v = match &e.body {
                Body::Vehicle(v) => v,
                _ => unreachable!("filtered to vehicle events"),
            };
            let decl = retractions.get(e.event_id.as_str());
            HistoryEntry {
                event_id: e.event_id.clone(),
                at: e.at,
                milestone: v.milestone.clone(),
                stage: v.stage,
                location: v.location.clone(),
                resource: v.resource.clone(),
                voyage: v.voyage.clone(),
                reason: v.reason.clone(),
                retracted: decl.is_some(),
                corrected_by: decl
                    .and_then(|d| d.error_declaration.as_ref())
                    .map(|d| d.corrective_event_ids.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    (s, history)
}

/// A resource's state: its latest effective event by event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<ResourceEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_at: Option<Timestamp>,
    pub n_events: usize,
    pub n_retracted: usize,
}

impl ResourceState {
    /// The state of a resource with no effective event.
    pub fn empty(key: &str) -> ResourceState {
        ResourceState {
            key: key.to_string(),
            latest: None,
            latest_event_id: None,
            latest_at: None,
            n_events: 0,
            n_retracted: 0,
        }
    }

    /// Applies the next effective event in event order.
    pub fn apply(&mut self, e: &Event) {
        let Body::Resource(r) = &e.body else { return };
        self.latest = Some(r.clone());
        self.latest_event_id = Some(e.event_id.clone());
        self.latest_at = Some(e.at);
        self.n_events += 1;
    }
}

/// The state one resource's rows derive.
pub fn derive_resource(key: &str, rows: &[LogRow]) -> ResourceState {
    let (live, retractions) = effective(
        rows.iter()
            .filter(|r| matches!(&r.event.body, Body::Resource(x) if x.key() == key)),
    );
    let mut s = ResourceState::empty(key);
    for e in &live {
        s.apply(e);
    }
    s.n_retracted = retractions.len();
    s
}

/// What the store keeps next to a subject's state (`subject_state.tail`)
/// so that a batch can be applied to the stored state instead of deriving
/// it again from every stored row: the latest stored event time (for the
/// out-of-order flag) and the order key of the last effective event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tail {
    /// The latest event time among the subject's stored events, retracted
    /// ones included, error declarations not (see [`latest_at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_at: Option<Timestamp>,
    /// The order key (see [`order_key`]) of the last effective event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<TailKey>,
}

/// An event's order key as stored: the milestone instead of its rank, so
/// a build with another milestone order compares correctly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailKey {
    pub at: Timestamp,
    /// The milestone of a vehicle event; `None` for a resource event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
    pub event_id: String,
}

impl TailKey {
    fn of(e: &Event) -> TailKey {
        TailKey {
            at: e.at,
            milestone: match &e.body {
                Body::Vehicle(v) => Some(v.milestone.clone()),
                _ => None,
            },
            event_id: e.event_id.clone(),
        }
    }

    /// True when `e` comes after this key in event order.
    pub fn precedes(&self, e: &Event) -> bool {
        let r = self.milestone.as_deref().map_or(0, rank);
        (self.at, r, self.event_id.as_str()) < order_key(e)
    }
}

/// A subject's derived state as stored (canonical JSON) and its tail.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub state: String,
    pub tail: Tail,
}

/// A subject key: `vin:VIN` or `res:KEY`.
enum Subject<'a> {
    Vehicle(Vin),
    Resource(&'a str),
}

fn subject(key: &str) -> Option<Subject<'_>> {
    if let Some(vin) = key.strip_prefix("vin:") {
        Vin::parse(vin).ok().map(Subject::Vehicle)
    } else {
        key.strip_prefix("res:").map(Subject::Resource)
    }
}

fn stored<T: Serialize>(state: &T) -> String {
    crate::model::canonical(&serde_json::to_value(state).expect("a state serializes"))
}

/// The state of a subject (`vin:...` or `res:...`) derived from its rows,
/// and its tail; `None` for a subject key takt does not know.
pub fn derive_subject(key: &str, rows: &[LogRow]) -> Option<Derived> {
    let state = match subject(key)? {
        Subject::Vehicle(vin) => derive_vehicle(vin, rows).0.stored(),
        Subject::Resource(k) => derive_resource(k, rows).stored(),
    };
    let mine: Vec<&LogRow> = rows
        .iter()
        .filter(|r| crate::model::subjects(&r.event).iter().any(|s| s == key))
        .collect();
    let (live, _) = effective(mine.iter().copied());
    Some(Derived {
        state,
        tail: Tail {
            latest_at: latest_at(mine.iter().copied()),
            last: live.last().map(|e| TailKey::of(e)),
        },
    })
}

/// A state that effective events are applied to one at a time, in event order.
trait Apply: Serialize + serde::de::DeserializeOwned {
    fn apply(&mut self, e: &Event);

    /// The state as stored (canonical JSON).
    fn stored(&self) -> String {
        stored(self)
    }
}

impl Apply for VehicleState {
    fn apply(&mut self, e: &Event) {
        VehicleState::apply(self, e);
    }

    /// Straight to JSON: its fields are declared in key order.
    fn stored(&self) -> String {
        serde_json::to_string(self).expect("a state serializes")
    }
}

impl Apply for ResourceState {
    fn apply(&mut self, e: &Event) {
        ResourceState::apply(self, e);
    }
}

/// The stored state (or `empty`) with `events` applied, as stored JSON;
/// `None` when the stored state does not parse.
fn applied<T: Apply>(
    state: Option<&str>,
    empty: impl FnOnce() -> T,
    events: &[&Event],
) -> Option<String> {
    let mut s = match state {
        Some(text) => serde_json::from_str(text).ok()?,
        None => empty(),
    };
    events.iter().for_each(|e| s.apply(e));
    Some(s.stored())
}

/// Applies new effective events to a subject's stored state: the events
/// must all come after `tail.last` (see [`TailKey::precedes`]), none
/// retracted. Gives what [`derive_subject`] gives on the stored rows plus
/// the new ones; `None` when the subject key is unknown or the stored
/// state does not parse (derive it from the rows then).
pub fn apply_subject(
    key: &str,
    state: Option<&str>,
    tail: &Tail,
    events: &[&Event],
) -> Option<Derived> {
    let mut events = events.to_vec();
    events.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let state = match subject(key)? {
        Subject::Vehicle(vin) => applied(state, || VehicleState::empty(vin), &events)?,
        Subject::Resource(k) => applied(state, || ResourceState::empty(k), &events)?,
    };
    Some(Derived {
        state,
        tail: Tail {
            latest_at: tail.latest_at.max(events.iter().map(|e| e.at).max()),
            last: events.last().map(|e| TailKey::of(e)).or(tail.last.clone()),
        },
    })
}

/// A tenant's effective vehicle milestones as takt milestones
/// (`takt_core::event::Milestone`, what analysis reads), in event-time
/// order (then milestone rank and event id; VINs in the event's order): retracted events are left
/// out, an event naming several vehicles gives one milestone per VIN, and
/// EPCIS events that map to no takt milestone (`observed`) are left out.
///
/// Every field the store kept comes back: a takt milestone stored from
/// takt JSON or CSV comes back equal. For EPCIS events, fields they do not
/// carry are filled from the vehicle: `model` from its other events (the
/// latest known, else empty), `stage` of an extra milestone (a hold, say)
/// the stage the vehicle was in at that moment (`released` before any),
/// `location` and `resource` empty when absent. Times are truncated to the
/// minute.
pub fn milestones(tenant: &str, rows: &[LogRow]) -> Vec<takt_core::event::Milestone> {
    let (live, _) = effective(rows);
    let mut model: BTreeMap<Vin, &str> = BTreeMap::new();
    for e in &live {
        if let Body::Vehicle(v) = &e.body
            && let Some(m) = &v.model
        {
            for vin in &v.vins {
                model.insert(*vin, m);
            }
        }
    }
    let mut stage: BTreeMap<Vin, Stage> = BTreeMap::new();
    let mut out = Vec::new();
    for e in &live {
        let Body::Vehicle(v) = &e.body else { continue };
        for vin in &v.vins {
            if let Some(s) = v.stage {
                stage.insert(*vin, s);
            }
            if v.milestone == "observed" {
                continue;
            }
            out.push(takt_core::event::Milestone {
                event_id: e.event_id.clone(),
                vin: vin.to_string(),
                tenant: tenant.to_string(),
                model: v
                    .model
                    .as_deref()
                    .or_else(|| model.get(vin).copied())
                    .unwrap_or_default()
                    .to_string(),
                milestone: v.milestone.clone(),
                stage: v
                    .reported_stage
                    .or(v.stage)
                    .or_else(|| stage.get(vin).copied())
                    .unwrap_or(Stage::Released),
                at: takt_core::Minute::from_timestamp(e.at),
                location: v.location.clone().unwrap_or_default(),
                resource: v.resource.clone().unwrap_or_default(),
                voyage: v.voyage.clone(),
                reason: v.reason.clone(),
                item: v.item.clone(),
                planned: v.planned.clone(),
            });
        }
    }
    out
}

/// The latest event time among rows (for the out-of-order flag): error
/// declarations do not count, retracted events do.
pub fn latest_at<'a>(rows: impl IntoIterator<Item = &'a LogRow>) -> Option<Timestamp> {
    rows.into_iter()
        .filter(|r| !r.is_retraction())
        .map(|r| r.event.at)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field set (each optional one `Some`, holds with and without a
    /// location): serialized straight, a vehicle's state is exactly the
    /// canonical JSON (sorted keys) stored before, so stored states and
    /// states derived again compare equal as text. A field added out of
    /// key order fails here.
    #[test]
    fn vehicle_state_serializes_straight_to_canonical_json() {
        let at: Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
        let hold = |location: Option<&str>| HoldState {
            kind: "hold".into(),
            location: location.map(String::from),
            since: at,
        };
        let state = VehicleState {
            checklist_done: ["emissions", "lighting"].map(String::from).into(),
            holds: [
                ("damage".to_string(), hold(Some("USLGB"))),
                ("customs".to_string(), hold(None)),
            ]
            .into(),
            last_event_at: Some(at),
            location: Some("USLGB".into()),
            milestone: Some("port_arrival".into()),
            model: Some("camry".into()),
            n_events: 7,
            n_retracted: 1,
            n_rolls: 2,
            resource: Some("USLGB/processing".into()),
            stage: Some(Stage::PortArrival),
            stage_since: Some(at),
            vin: Vin::parse("4T1DAACK4TU100001").unwrap(),
            voyage: Some("V001".into()),
        };
        assert_eq!(state.stored(), stored(&state));
        let empty = VehicleState::empty(Vin::parse("4T1DAACK4TU100001").unwrap());
        assert_eq!(empty.stored(), stored(&empty));
    }
}
