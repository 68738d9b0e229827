//! takt's own input formats: JSON Lines (or a JSON array) of milestones
//! (`takt_core::event::Milestone`, the lines `takt simulate` writes) and
//! resource events, and CSV with the milestone's columns.
//!
//! A milestone line may carry `"error_declaration": {"declaration_time",
//! "reason", "corrective_event_ids"}` to retract the milestone with the same
//! `event_id` (the line repeats the milestone, as an EPCIS error declaration
//! does). A resource event line is `{"event_id", "tenant", "at",
//! "resource_event": {"type": "vessel_eta" | "station_outage" |
//! "gang_shortage" | "rail_delay", ...}}`.

use crate::error::{BadItem, Code, Rejected};
use crate::model::{Body, Content, ErrorDeclaration, Event, ResourceEvent, VehicleFacts};
use serde_json::{Map, Value};
use takt_core::Vin;
use takt_core::event::{EXTRA_MILESTONES, MILESTONES, Milestone};

/// One parsed item with the tenant it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub tenant: Option<String>,
    pub event: Event,
}

const MILESTONE_FIELDS: &[&str] = &[
    "event_id",
    "vin",
    "tenant",
    "model",
    "milestone",
    "stage",
    "at",
    "location",
    "resource",
    "voyage",
    "reason",
    "item",
    "planned",
    "error_declaration",
];
const RESOURCE_FIELDS: &[&str] = &[
    "event_id",
    "tenant",
    "at",
    "resource_event",
    "error_declaration",
];

/// The CSV columns, in the order `takt` writes them; `event_id`, `vin`,
/// `tenant`, `model`, `milestone`, `stage`, `at`, `location` and `resource`
/// are required, the rest may be empty.
pub const CSV_COLUMNS: &[&str] = &[
    "event_id",
    "vin",
    "tenant",
    "model",
    "milestone",
    "stage",
    "at",
    "location",
    "resource",
    "voyage",
    "reason",
    "item",
];

/// Parses JSON Lines, or one JSON array of items. All or nothing: every bad
/// line is reported.
pub fn parse_json(text: &str) -> Result<Vec<Item>, Rejected> {
    let values: Vec<(usize, Result<Value, String>)> = if text.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<Value>>(text) {
            Ok(v) => v.into_iter().map(Ok).enumerate().collect(),
            Err(e) => {
                return Err(Rejected(vec![BadItem::new(
                    0,
                    Code::Syntax,
                    "",
                    format!("not a JSON array: {e}"),
                )]));
            }
        }
    } else {
        // When every line is a valid takt milestone with nothing else (the
        // usual case), the lines are read straight into their fields;
        // otherwise every line takes the general path, which reports each
        // problem.
        let fast: Option<Vec<Item>> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(fast_milestone)
            .collect();
        if let Some(items) = fast {
            return Ok(items);
        }
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).map_err(|e| format!("not JSON: {e}")))
            .enumerate()
            .collect()
    };
    let mut items = Vec::new();
    let mut bad = Vec::new();
    for (i, v) in values {
        match v
            .map_err(|e| vec![BadItem::new(i, Code::Syntax, "", e)])
            .and_then(|v| parse_value(i, v))
        {
            Ok(item) => items.push(item),
            Err(b) => bad.extend(b),
        }
    }
    if bad.is_empty() {
        Ok(items)
    } else {
        Err(Rejected(bad))
    }
}

/// Parses CSV with a header row naming [`CSV_COLUMNS`] (in any order).
pub fn parse_csv(text: &str) -> Result<Vec<Item>, Rejected> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(Rejected(vec![BadItem::new(
                0,
                Code::Syntax,
                "",
                format!("CSV header: {e}"),
            )]));
        }
    };
    let mut bad = Vec::new();
    for h in headers.iter() {
        if !CSV_COLUMNS.contains(&h) {
            bad.push(BadItem::new(
                0,
                Code::UnknownField,
                format!("/header/{h}"),
                format!(
                    "unknown column `{h}`; the columns are {}",
                    CSV_COLUMNS.join(",")
                ),
            ));
        }
    }
    let mut items = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push(BadItem::new(
                    i,
                    Code::Syntax,
                    format!("/{i}"),
                    format!("CSV record: {e}"),
                ));
                continue;
            }
        };
        let mut obj = Map::new();
        for (h, cell) in headers.iter().zip(rec.iter()) {
            if !cell.is_empty() && CSV_COLUMNS.contains(&h) {
                obj.insert(h.to_string(), Value::String(cell.to_string()));
            }
        }
        match parse_value(i, Value::Object(obj)) {
            Ok(item) => items.push(item),
            Err(b) => bad.extend(b.into_iter().map(|mut b| {
                b.pointer = format!("/{i}{}", b.pointer);
                b
            })),
        }
    }
    if bad.is_empty() {
        Ok(items)
    } else {
        Err(Rejected(bad))
    }
}

/// A takt milestone line with only milestone fields (and perhaps an error
/// declaration): the fields of [`Milestone`], read without building a
/// JSON value first.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MilestoneLine {
    event_id: String,
    vin: String,
    tenant: String,
    model: String,
    milestone: String,
    stage: takt_core::Stage,
    at: takt_core::Minute,
    location: String,
    resource: String,
    #[serde(default)]
    voyage: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    planned: Option<std::collections::BTreeMap<String, takt_core::Minute>>,
    /// Present means a declaration (`null` is not one: such a line takes
    /// the general path, which rejects it).
    #[serde(default, deserialize_with = "present")]
    error_declaration: Option<TaktDeclaration>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TaktDeclaration>, D::Error> {
    <TaktDeclaration as serde::Deserialize>::deserialize(d).map(Some)
}

/// The item a valid milestone line gives, read straight from the text;
/// `None` for anything else (another kind of line, or one with a problem),
/// which [`parse_value`] then reads and reports. For a line both read, the
/// two give the same item.
fn fast_milestone(line: &str) -> Option<Item> {
    let l: MilestoneLine = serde_json::from_str(line).ok()?;
    if l.event_id.trim().is_empty() {
        return None;
    }
    let decl = l.error_declaration.map(|d| ErrorDeclaration {
        declaration_time: d.declaration_time,
        reason: d.reason,
        corrective_event_ids: d.corrective_event_ids,
    });
    let m = Milestone {
        event_id: l.event_id,
        vin: l.vin,
        tenant: l.tenant,
        model: l.model,
        milestone: l.milestone,
        stage: l.stage,
        at: l.at,
        location: l.location,
        resource: l.resource,
        voyage: l.voyage,
        reason: l.reason,
        item: l.item,
        planned: l.planned,
    };
    let event_id = m.event_id.clone();
    let (tenant, at, body, content) = milestone_parts(0, m).ok()?;
    Some(Item {
        tenant,
        event: Event {
            event_id,
            at,
            body,
            content,
            error_declaration: decl,
        },
    })
}

fn parse_value(i: usize, v: Value) -> Result<Item, Vec<BadItem>> {
    let Value::Object(mut obj) = v else {
        return Err(vec![BadItem::new(
            i,
            Code::InvalidField,
            "",
            "each item must be a JSON object",
        )]);
    };
    let event_id = obj
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let tag = |mut b: BadItem| {
        b.event_id.clone_from(&event_id);
        b
    };
    let is_resource = obj.contains_key("resource_event");
    let known = if is_resource {
        RESOURCE_FIELDS
    } else {
        MILESTONE_FIELDS
    };
    let mut bad: Vec<BadItem> = obj
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            tag(BadItem::new(
                i,
                Code::UnknownField,
                format!("/{k}"),
                format!("unknown field `{k}`; the fields are {}", known.join(", ")),
            ))
        })
        .collect();
    let decl = match obj.remove("error_declaration") {
        None => None,
        Some(d) => match serde_json::from_value::<TaktDeclaration>(d) {
            Ok(d) => Some(ErrorDeclaration {
                declaration_time: d.declaration_time,
                reason: d.reason,
                corrective_event_ids: d.corrective_event_ids,
            }),
            Err(e) => {
                bad.push(tag(BadItem::new(i, Code::InvalidField, "/error_declaration",
                    format!("{e}; expected {{\"declaration_time\": RFC 3339, \"reason\": text, \"corrective_event_ids\": [ids]}}"))));
                None
            }
        },
    };
    if event_id.as_deref().is_none_or(|s| s.trim().is_empty()) {
        bad.push(tag(BadItem::new(
            i,
            Code::MissingField,
            "/event_id",
            "`event_id` is required and must be non-empty text",
        )));
    }
    let parsed = if is_resource {
        parse_resource(i, obj)
    } else {
        parse_milestone(i, obj)
    };
    match parsed {
        Ok((tenant, at, body, content)) if bad.is_empty() => Ok(Item {
            tenant,
            event: Event {
                event_id: event_id.unwrap_or_default(),
                at,
                body,
                content,
                error_declaration: decl,
            },
        }),
        Ok(_) => Err(bad),
        Err(more) => {
            bad.extend(more.into_iter().map(tag));
            Err(bad)
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TaktDeclaration {
    declaration_time: jiff::Timestamp,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    corrective_event_ids: Vec<String>,
}

/// Tenant, event time, body and canonical content (the same for a
/// milestone read from JSON or from CSV).
type Parsed = (Option<String>, jiff::Timestamp, Body, Content);

/// The serde error's field, when it names one (`missing field `vin``).
fn pointer_of(e: &serde_json::Error) -> String {
    let s = e.to_string();
    s.split('`')
        .nth(1)
        .map(|f| format!("/{f}"))
        .unwrap_or_default()
}

fn parse_milestone(i: usize, obj: Map<String, Value>) -> Result<Parsed, Vec<BadItem>> {
    let m: Milestone = serde_json::from_value(Value::Object(obj)).map_err(|e| {
        let code = if e.to_string().starts_with("missing field") {
            Code::MissingField
        } else {
            Code::InvalidField
        };
        vec![BadItem::new(
            i,
            code,
            pointer_of(&e),
            format!("not a takt milestone: {e}"),
        )]
    })?;
    milestone_parts(i, m)
}

/// What a milestone says, checked: VIN, milestone and its stage.
fn milestone_parts(i: usize, m: Milestone) -> Result<Parsed, Vec<BadItem>> {
    let mut bad = Vec::new();
    let vin =
        Vin::parse(&m.vin).map_err(|e| BadItem::new(i, Code::InvalidField, "/vin", e.to_string()));
    let journey = MILESTONES.iter().find(|(name, _)| *name == m.milestone);
    if journey.is_none() && !EXTRA_MILESTONES.contains(&m.milestone.as_str()) {
        bad.push(BadItem::new(
            i,
            Code::Vocabulary,
            "/milestone",
            format!(
                "unknown milestone `{}`; known: {}, {}",
                m.milestone,
                MILESTONES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
                EXTRA_MILESTONES.join(", ")
            ),
        ));
    }
    if let Some((_, stage)) = journey
        && *stage != m.stage
    {
        bad.push(BadItem::new(
            i,
            Code::InvalidField,
            "/stage",
            format!(
                "milestone `{}` belongs to stage `{stage}`, not `{}`",
                m.milestone, m.stage
            ),
        ));
    }
    let vin = match vin {
        Ok(v) => Some(v),
        Err(b) => {
            bad.push(b);
            None
        }
    };
    if !bad.is_empty() {
        return Err(bad);
    }
    let content = milestone_content(&m);
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let facts = VehicleFacts {
        vins: vin.into_iter().collect(),
        stage: journey.map(|(_, s)| *s),
        milestone: m.milestone,
        model: nonempty(&m.model),
        location: nonempty(&m.location),
        resource: nonempty(&m.resource),
        voyage: m.voyage,
        reason: m.reason,
        item: m.item,
        reported_stage: Some(m.stage),
        planned: m.planned,
    };
    Ok((
        Some(m.tenant),
        m.at.timestamp(),
        Body::Vehicle(facts),
        content,
    ))
}

/// A milestone's content: the canonical text of `serde_json::to_value(m)`
/// (its fields in key order, the absent options left out), written
/// straight from the milestone without building the `Value`;
/// `fast_and_general_paths_read_a_milestone_line_alike` checks it.
fn milestone_content(m: &Milestone) -> Content {
    #[derive(serde::Serialize)]
    struct InKeyOrder<'a> {
        at: &'a takt_core::Minute,
        event_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<&'a str>,
        location: &'a str,
        milestone: &'a str,
        model: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        planned: Option<&'a std::collections::BTreeMap<String, takt_core::Minute>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        resource: &'a str,
        stage: takt_core::Stage,
        tenant: &'a str,
        vin: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        voyage: Option<&'a str>,
    }
    Content::canonical_of(&InKeyOrder {
        at: &m.at,
        event_id: &m.event_id,
        item: m.item.as_deref(),
        location: &m.location,
        milestone: &m.milestone,
        model: &m.model,
        planned: m.planned.as_ref(),
        reason: m.reason.as_deref(),
        resource: &m.resource,
        stage: m.stage,
        tenant: &m.tenant,
        vin: &m.vin,
        voyage: m.voyage.as_deref(),
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceLine {
    #[allow(dead_code)]
    event_id: String,
    #[serde(default)]
    tenant: Option<String>,
    at: jiff::Timestamp,
    resource_event: ResourceEvent,
}

fn parse_resource(i: usize, obj: Map<String, Value>) -> Result<Parsed, Vec<BadItem>> {
    // A map writes its keys sorted, as its `Value` would.
    let content = Content::canonical_of(&obj);
    let r: ResourceLine = serde_json::from_value(Value::Object(obj)).map_err(|e| {
        vec![BadItem::new(i, Code::InvalidField, pointer_of(&e), format!(
            "not a resource event: {e}; types: vessel_eta {{voyage, port, eta}}, station_outage {{location, resource, from, until?}}, gang_shortage {{location, n_gangs_short, from, until}}, rail_delay {{service, delay_minutes}}"
        ))]
    })?;
    Ok((r.tenant, r.at, Body::Resource(r.resource_event), content))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path alone, for comparison with the fast one.
    fn general(line: &str) -> Result<Item, Vec<BadItem>> {
        parse_value(0, serde_json::from_str(line).expect("JSON"))
    }

    #[test]
    fn fast_and_general_paths_read_a_milestone_line_alike() {
        let lines = [
            r#"{"event_id":"e1","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"released","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"USLGB/processing"}"#,
            r#"{"event_id":"e2","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"","milestone":"hold_placed","stage":"yard","at":"2026-10-06T10:52Z","location":"","resource":"","reason":"damage","voyage":null,"item":null}"#,
            r#"{"event_id":"e3","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"routed","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r","voyage":"V1","planned":{"port_arrived":"2026-10-07T00:00:00Z"}}"#,
            r#"{"event_id":"e4","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"released","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r","error_declaration":{"declaration_time":"2026-10-06T11:00:00Z","reason":"did_not_occur","corrective_event_ids":["e5"]}}"#,
            r#"{"event_id":"e5","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"checklist_item_done","stage":"certification","at":"2026-10-06T10:52:00Z","location":"JPNGO","resource":"r","item":"marking","reason":"\"quoted\" \u00e9"}"#,
        ];
        for line in lines {
            let m: Milestone = serde_json::from_str(line).expect("a milestone");
            // The text a `Value` of the milestone writes, byte for byte.
            assert_eq!(
                milestone_content(&m).as_str(),
                crate::model::canonical(&serde_json::to_value(&m).expect("serializes")),
                "{line}"
            );
            let fast = fast_milestone(line).expect("the fast path takes it");
            assert_eq!(Ok(fast), general(line), "{line}");
        }
        // Lines the fast path leaves to the general one, which reports them.
        let others = [
            r#"{"event_id":"e1","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"released","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r","colour":"red"}"#,
            r#"{"event_id":"e1","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"released","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r","error_declaration":null}"#,
            r#"{"event_id":"","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"released","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r"}"#,
            r#"{"event_id":"e1","vin":"4T1DAACK6TU000001","tenant":"toyota","model":"camry","milestone":"released","stage":"released","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r"}"#,
            r#"{"event_id":"e1","vin":"4T1DAACK6TU000000","tenant":"toyota","model":"camry","milestone":"released","stage":"yard","at":"2026-10-06T10:52:00Z","location":"USLGB","resource":"r"}"#,
            r#"{"event_id":"e1","tenant":"toyota","at":"2026-10-06T10:52:00Z","resource_event":{"type":"rail_delay","service":"KY-LGB","delay_minutes":30}}"#,
        ];
        for line in others {
            assert!(fast_milestone(line).is_none(), "{line}");
        }
        // A resource event's content is its line's canonical text too.
        let resource = r#"{"tenant":"toyota","event_id":"r1","resource_event":{"type":"rail_delay","service":"KY-LGB","delay_minutes":30},"at":"2026-10-06T10:52:00Z"}"#;
        let item = general(resource).expect("a resource event");
        assert_eq!(
            item.event.content.as_str(),
            crate::model::canonical(&serde_json::from_str(resource).expect("JSON"))
        );
        // A batch with one such line is read by the general path throughout.
        let text = format!("{}\n{}\n", lines[0], others[0]);
        let err = parse_json(&text).expect_err("an unknown field");
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].index, 1);
    }
}
