//! The store's event model: what one accepted event says, independent of
//! the format it came in (takt JSON Lines, CSV or GS1 EPCIS 2.0).
//!
//! Pure: no I/O, no clock.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use takt_core::{Minute, Stage, Vin};

/// One event as submitted, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The id idempotence and corrections key on, unique per tenant. For
    /// EPCIS events without an `eventID`, a content hash (see `docs/epcis.md`).
    pub event_id: String,
    /// When it happened (UTC; EPCIS keeps milliseconds).
    pub at: Timestamp,
    /// What it says about vehicles or resources.
    pub body: Body,
    /// The event as submitted, canonical JSON (object keys sorted), without
    /// its error declaration. Two submissions with the same id are the same
    /// event exactly when their contents are equal.
    pub content: Content,
    /// Present when this submission retracts the event with the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_declaration: Option<ErrorDeclaration>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A milestone of one or more vehicles.
    Vehicle(VehicleFacts),
    /// A change to a resource: vessel, station, gang, rail service.
    Resource(ResourceEvent),
    /// An EPCIS event that names no vehicle (e.g. trade items by GTIN):
    /// kept in the log, derives no state.
    Other,
}

/// A vehicle milestone, in takt's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleFacts {
    pub vins: Vec<Vin>,
    /// One of takt's milestones (`takt_core::event::MILESTONES` or
    /// `EXTRA_MILESTONES`), or `observed` when an EPCIS event maps to none.
    pub milestone: String,
    /// The journey stage the vehicle is in after this milestone, if it moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voyage: Option<String>,
    /// A hold's or roll's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A certification checklist item done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The stage the sender filed the milestone under. takt's format
    /// carries one on every milestone, extras (holds, rolls, ...) included;
    /// EPCIS does not, and an extra milestone from EPCIS is read back in the
    /// stage the vehicle was in. Unlike `stage`, it never moves the vehicle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_stage: Option<Stage>,
    /// For `routed`: the planned instant of each milestone the route fixes
    /// (takt format), for plan versus actual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<BTreeMap<String, Minute>>,
}

/// A resource event: what changed about a vessel, station, gang or rail
/// service. `key()` names the resource whose state it updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResourceEvent {
    /// A vessel's new estimated arrival at a port of its rotation.
    VesselEta {
        voyage: String,
        port: String,
        eta: Minute,
    },
    /// A processing (or other) station out of service from `from` until
    /// `until` (open-ended when absent).
    StationOutage {
        location: String,
        resource: String,
        from: Minute,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Minute>,
    },
    /// Fewer stevedore gangs than planned at a terminal.
    GangShortage {
        location: String,
        n_gangs_short: u32,
        from: Minute,
        until: Minute,
    },
    /// An inland rail service running late.
    RailDelay { service: String, delay_minutes: i64 },
}

impl ResourceEvent {
    /// The resource whose state this event updates, e.g. `voyage:V12@JPNGO`,
    /// `station:USLGB/processing`, `gangs:USLGB`, `rail:KY-LGB`.
    pub fn key(&self) -> String {
        match self {
            ResourceEvent::VesselEta { voyage, port, .. } => format!("voyage:{voyage}@{port}"),
            ResourceEvent::StationOutage { resource, .. } => format!("station:{resource}"),
            ResourceEvent::GangShortage { location, .. } => format!("gangs:{location}"),
            ResourceEvent::RailDelay { service, .. } => format!("rail:{service}"),
        }
    }
}

/// An EPCIS error declaration (or takt's equivalent): the event with the
/// same id did not happen as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDeclaration {
    pub declaration_time: Timestamp,
    /// CBV error reason (`did_not_occur`, `incorrect_data`) or a URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The events that replace the retracted one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrective_event_ids: Vec<String>,
}

/// What the store flags on an accepted event, by policy
/// ([`crate::semantics::TimePolicy`]). Flags are facts about the receipt,
/// not about the event, so they never change derived state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The event happened more than `late_after` before it was received.
    Late,
    /// The event time is ahead of the receipt time by more than the skew
    /// tolerance (but not so far that it is rejected).
    ClockSkew,
    /// An event for the same vehicle or resource with a later time was
    /// already stored.
    OutOfOrder,
}

/// One stored row of the append-only log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub event: Event,
    pub received_at: Timestamp,
    pub flags: Vec<Flag>,
}

impl Event {
    /// True for an error declaration (it retracts the event with its id).
    pub fn is_retraction(&self) -> bool {
        self.error_declaration.is_some()
    }

    /// `event` or `retraction`: the log keeps at most one of each per id.
    pub fn log_kind(&self) -> &'static str {
        if self.is_retraction() {
            "retraction"
        } else {
            "event"
        }
    }
}

impl LogRow {
    /// True for an error-declaration row.
    pub fn is_retraction(&self) -> bool {
        self.event.is_retraction()
    }

    /// `event` or `retraction` ([`Event::log_kind`]).
    pub fn kind(&self) -> &'static str {
        self.event.log_kind()
    }
}

/// What a subject's state is derived from: the subject keys of an event
/// (`vin:...` for every vehicle it names, `res:...` for a resource event).
pub fn subjects(event: &Event) -> Vec<String> {
    match &event.body {
        Body::Vehicle(v) => v.vins.iter().map(|vin| format!("vin:{vin}")).collect(),
        Body::Resource(r) => vec![format!("res:{}", r.key())],
        Body::Other => Vec::new(),
    }
}

/// An event's content as canonical JSON text (compact, object keys
/// sorted, as [`canonical`] writes a `Value`), kept as text: it is written
/// into the log record as it is and read back without building a `Value`,
/// which only a conflict's differing fields need ([`Content::value`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Content(Box<serde_json::value::RawValue>);

impl Content {
    /// The canonical text of a JSON value.
    pub fn of(value: &serde_json::Value) -> Content {
        Content::canonical_of(value)
    }

    /// The text `value` serializes to, which the caller makes canonical
    /// (compact, every object's keys in sorted order, as a `Value` writes
    /// them): a struct whose fields are declared in key order.
    pub(crate) fn canonical_of<T: Serialize + ?Sized>(value: &T) -> Content {
        Content(serde_json::value::to_raw_value(value).expect("content serializes"))
    }

    /// The canonical JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The content as a JSON value.
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).expect("content is JSON")
    }
}

impl PartialEq for Content {
    /// Equal texts, or (for text written otherwise, e.g. by an older
    /// build) equal values.
    fn eq(&self, other: &Content) -> bool {
        self.as_str() == other.as_str() || self.value() == other.value()
    }
}

/// Canonical JSON: serde_json's default map keeps keys sorted, so a
/// round trip through `Value` is canonical.
pub fn canonical(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("a JSON value serializes")
}

/// The fields in which two contents differ, as JSON pointers (`/location`,
/// `/readPoint/id`, `/epcList/1`), sorted.
pub fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(a, b, String::new(), &mut out);
    out.sort();
    out
}

fn diff_into(a: &serde_json::Value, b: &serde_json::Value, path: String, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff_into(u, v, p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff_into(u, v, format!("{path}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(if path.is_empty() { "/".into() } else { path }),
    }
}

/// Every state a vehicle's stored events derive, keyed by subject.
pub type States = BTreeMap<String, serde_json::Value>;
