//! GS1 EPCIS 2.0 capture (JSON / JSON-LD) with the CBV 2.0 vocabularies:
//! validation by the standard, and the mapping to takt's events (see
//! `docs/epcis.md`).
//!
//! A capture document is an `EPCISDocument` with `epcisBody.eventList`, or
//! one event object (`ObjectEvent`, `AggregationEvent`, `TransactionEvent`,
//! `TransformationEvent`, `AssociationEvent`) with its own `@context`.
//! Every problem in a document is reported (JSON pointer and reason), and a
//! document with any problem is rejected whole.
//!
//! Pure: no I/O, no clock.

use crate::error::{BadItem, Code, Rejected};
use crate::model::{Body, ErrorDeclaration, Event, VehicleFacts};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use takt_core::Vin;
use takt_core::event::MILESTONES;

/// CBV 2.0 business steps (section 7.1).
pub const CBV_BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
];

/// CBV 2.0 dispositions (section 7.2).
pub const CBV_DISPOSITIONS: &[&str] = &[
    "active",
    "available",
    "completeness_inferred",
    "completeness_verified",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
];

/// CBV 2.0 business transaction types.
pub const CBV_BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "upevt",
];

/// CBV 2.0 source/destination types.
pub const CBV_SOURCE_DEST_TYPES: &[&str] = &["owning_party", "possessing_party", "location"];

/// CBV 2.0 error reasons.
pub const CBV_ERROR_REASONS: &[&str] = &["did_not_occur", "incorrect_data"];

/// EPCIS 2.0 actions.
pub const ACTIONS: &[&str] = &["ADD", "OBSERVE", "DELETE"];

/// The event types of EPCIS 2.0.
pub const EVENT_TYPES: &[&str] = &[
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
];

/// Prefixes the standard EPCIS 2.0 JSON-LD context defines.
const STANDARD_PREFIXES: &[&str] = &[
    "epcis", "cbv", "cbvmda", "gs1", "rdf", "rdfs", "owl", "xsd", "dcterms", "schema", "sh",
];

/// takt's extension namespace: `{"takt": "urn:takt:epcis:"}` in
/// `@context`, then `takt:milestone`, `takt:model`, `takt:resource`,
/// `takt:voyage`, `takt:reason`, `takt:item`.
pub const TAKT_NAMESPACE: &str = "urn:takt:epcis:";

/// The takt-owned URN for a VIN: `urn:takt:vin:4T1DAACK4TU100001`.
pub const VIN_URN_PREFIX: &str = "urn:takt:vin:";

/// The takt-owned URN for a location by id (UN/LOCODE for ports): `urn:takt:loc:USLGB`.
pub const LOCATION_URN_PREFIX: &str = "urn:takt:loc:";

/// The default mapping of CBV business steps to takt milestones, for
/// vehicle events without `takt:milestone`.
pub const BIZ_STEP_MILESTONES: &[(&str, &str)] = &[
    ("commissioning", "released"),
    ("departing", "inland_departed"),
    ("arriving", "port_arrived"),
    ("inspecting", "processing_started"),
    ("repairing", "processing_started"),
    ("staging_outbound", "yard_staged"),
    ("loading", "loading_started"),
    ("shipping", "vessel_departed"),
    ("unloading", "discharged"),
    ("accepting", "delivered"),
    ("holding", "hold_placed"),
];

const COMMON_EVENT_KEYS: &[&str] = &[
    "type",
    "@context",
    "eventID",
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
    "errorDeclaration",
    "certificationInfo",
    "readPoint",
    "bizLocation",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
];

fn type_keys(t: &str) -> &'static [&'static str] {
    match t {
        "ObjectEvent" => &["action", "epcList", "quantityList", "ilmd"],
        "AggregationEvent" | "AssociationEvent" => {
            &["action", "parentID", "childEPCs", "childQuantityList"]
        }
        "TransactionEvent" => &["action", "parentID", "epcList", "quantityList"],
        "TransformationEvent" => &[
            "inputEPCList",
            "inputQuantityList",
            "outputEPCList",
            "outputQuantityList",
            "transformationID",
            "ilmd",
        ],
        _ => &[],
    }
}

const SENSOR_METADATA_KEYS: &[&str] = &[
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
];
const SENSOR_REPORT_KEYS: &[&str] = &[
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
    "bizRules",
];
const DOCUMENT_KEYS: &[&str] = &[
    "@context",
    "type",
    "schemaVersion",
    "creationDate",
    "epcisBody",
    "epcisHeader",
    "id",
    "instanceIdentifier",
    "sender",
    "receiver",
];

/// Parses and validates a capture document; on success, the takt events of
/// its events in document order.
pub fn parse_capture(text: &str) -> Result<Vec<Event>, Rejected> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        Rejected(vec![BadItem::new(
            0,
            Code::Syntax,
            "",
            format!("not JSON: {e}"),
        )])
    })?;
    let mut v = Validator {
        bad: Vec::new(),
        index: 0,
    };
    let Some(obj) = doc.as_object() else {
        return Err(Rejected(vec![BadItem::new(
            0,
            Code::InvalidField,
            "",
            "a capture document is a JSON object",
        )]));
    };
    let mut ns = Namespaces::default();
    match obj.get("@context") {
        None => v.bad(Code::MissingField, "/@context",
            "`@context` is required and must include the EPCIS 2.0 context \"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\""),
        Some(c) => ns.add_context(c, "/@context", &mut v, true),
    }
    let events: Vec<(String, &Map<String, Value>)> = match obj.get("type").and_then(Value::as_str) {
        Some("EPCISDocument") => {
            v.check_keys(obj, "", DOCUMENT_KEYS, &ns);
            match obj.get("schemaVersion") {
                Some(Value::String(s)) if s == "2.0" || s == "2.0.0" => {}
                Some(other) => v.bad(
                    Code::InvalidField,
                    "/schemaVersion",
                    format!("`schemaVersion` is {other}; this capture interface takes \"2.0\""),
                ),
                None => v.bad(
                    Code::MissingField,
                    "/schemaVersion",
                    "`schemaVersion` is required (\"2.0\")",
                ),
            }
            v.date_time(obj, "", "creationDate", true);
            match obj.get("epcisBody").and_then(Value::as_object) {
                None => {
                    v.bad(
                        Code::MissingField,
                        "/epcisBody",
                        "`epcisBody` with `eventList` is required",
                    );
                    Vec::new()
                }
                Some(body) => {
                    v.check_keys(body, "/epcisBody", &["eventList"], &ns);
                    match body.get("eventList").and_then(Value::as_array) {
                        None => {
                            v.bad(
                                Code::MissingField,
                                "/epcisBody/eventList",
                                "`eventList` must be an array of events",
                            );
                            Vec::new()
                        }
                        Some(list) => list
                            .iter()
                            .enumerate()
                            .filter_map(|(i, e)| {
                                let p = format!("/epcisBody/eventList/{i}");
                                match e.as_object() {
                                    Some(o) => Some((p, o)),
                                    None => {
                                        v.index = i;
                                        v.bad(Code::InvalidField, &p, "an event is a JSON object");
                                        None
                                    }
                                }
                            })
                            .collect(),
                    }
                }
            }
        }
        Some(t) if EVENT_TYPES.contains(&t) => vec![(String::new(), obj)],
        Some(t) => {
            v.bad(
                Code::Vocabulary,
                "/type",
                format!(
                    "`type` is `{t}`; expected EPCISDocument or one of {}",
                    EVENT_TYPES.join(", ")
                ),
            );
            Vec::new()
        }
        None => {
            v.bad(
                Code::MissingField,
                "/type",
                "`type` is required (EPCISDocument, or an event type)",
            );
            Vec::new()
        }
    };
    let mut out = Vec::new();
    for (i, (p, e)) in events.into_iter().enumerate() {
        v.index = i;
        let before = v.bad.len();
        let mut ns = ns.clone();
        if let Some(c) = e.get("@context") {
            ns.add_context(c, &format!("{p}/@context"), &mut v, false);
        }
        v.event(e, &p, &ns);
        if v.bad.len() == before
            && let Some(ev) = to_takt(e, &p, &ns, &mut v)
        {
            out.push(ev);
        }
    }
    if v.bad.is_empty() {
        Ok(out)
    } else {
        Err(Rejected(v.bad))
    }
}

/// Prefixes declared in `@context` (document and event level), with the
/// IRIs they expand to.
#[derive(Debug, Clone, Default)]
struct Namespaces(BTreeMap<String, String>);

impl Namespaces {
    fn add_context(&mut self, c: &Value, p: &str, v: &mut Validator, top: bool) {
        let items: Vec<&Value> = match c {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut has_epcis = false;
        for (j, item) in items.into_iter().enumerate() {
            match item {
                Value::String(s) => {
                    has_epcis |= s.starts_with("https://ref.gs1.org/standards/epcis/")
                        || s.starts_with("https://gs1.github.io/EPCIS/")
                }
                Value::Object(o) => {
                    for (k, iri) in o {
                        match iri {
                            Value::String(iri) => {
                                self.0.insert(k.clone(), iri.clone());
                            }
                            Value::Object(def) if def.contains_key("@id") => {
                                self.0.insert(
                                    k.clone(),
                                    def["@id"].as_str().unwrap_or_default().to_string(),
                                );
                            }
                            _ => v.bad(
                                Code::InvalidField,
                                &format!("{p}/{j}/{k}"),
                                "a namespace declaration maps a prefix to an IRI string",
                            ),
                        }
                    }
                }
                _ => v.bad(
                    Code::InvalidField,
                    &format!("{p}/{j}"),
                    "`@context` entries are context URLs or objects of prefix declarations",
                ),
            }
        }
        if top && !has_epcis {
            v.bad(Code::InvalidField, p, "`@context` must include the EPCIS 2.0 context \"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld\"");
        }
    }

    /// The IRI a namespaced key or value expands to, if its prefix is declared.
    fn expand(&self, term: &str) -> Option<String> {
        if is_absolute_iri(term) {
            return Some(term.to_string());
        }
        let (prefix, local) = term.split_once(':')?;
        if STANDARD_PREFIXES.contains(&prefix) && !self.0.contains_key(prefix) {
            return Some(format!("{prefix}:{local}"));
        }
        self.0.get(prefix).map(|iri| format!("{iri}{local}"))
    }
}

fn is_absolute_iri(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("urn:")
}

/// A URI (absolute, `ni:`, `urn:`) or a compact IRI: text with a scheme or prefix.
fn is_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A CBV vocabulary: its name in messages, its terms and its URI prefixes.
#[derive(Clone, Copy)]
struct Vocab {
    what: &'static str,
    terms: &'static [&'static str],
    urn: &'static str,
    web: &'static str,
}

const BIZ_STEP: Vocab = Vocab {
    what: "bizStep",
    terms: CBV_BIZ_STEPS,
    urn: "urn:epcglobal:cbv:bizstep:",
    web: "https://ref.gs1.org/cbv/BizStep-",
};
const DISPOSITION: Vocab = Vocab {
    what: "disposition",
    terms: CBV_DISPOSITIONS,
    urn: "urn:epcglobal:cbv:disp:",
    web: "https://ref.gs1.org/cbv/Disp-",
};
const BTT: Vocab = Vocab {
    what: "`type`",
    terms: CBV_BIZ_TRANSACTION_TYPES,
    urn: "urn:epcglobal:cbv:btt:",
    web: "https://ref.gs1.org/cbv/BTT-",
};
const SDT: Vocab = Vocab {
    what: "`type`",
    terms: CBV_SOURCE_DEST_TYPES,
    urn: "urn:epcglobal:cbv:sdt:",
    web: "https://ref.gs1.org/cbv/SDT-",
};
const ERROR_REASON: Vocab = Vocab {
    what: "error reason",
    terms: CBV_ERROR_REASONS,
    urn: "urn:epcglobal:cbv:er:",
    web: "https://ref.gs1.org/cbv/ER-",
};

struct Validator {
    bad: Vec<BadItem>,
    index: usize,
}

impl Validator {
    fn bad(&mut self, code: Code, pointer: &str, reason: impl Into<String>) {
        self.bad
            .push(BadItem::new(self.index, code, pointer, reason));
    }

    /// Standard keys, plus extension keys whose namespace prefix is declared.
    fn check_keys(&mut self, o: &Map<String, Value>, p: &str, known: &[&str], ns: &Namespaces) {
        for k in o.keys() {
            if known.contains(&k.as_str()) {
                continue;
            }
            self.extension_key(k, p, ns);
        }
    }

    fn extension_key(&mut self, k: &str, p: &str, ns: &Namespaces) {
        let at = format!("{p}/{k}");
        if !k.contains(':') {
            self.bad(Code::UnknownField, &at, format!(
                "`{k}` is not an EPCIS 2.0 field here; extension fields must be namespaced (`prefix:{k}` with the prefix declared in `@context`)"
            ));
        } else if ns.expand(k).is_none() {
            let prefix = k.split(':').next().unwrap_or_default();
            self.bad(Code::UnknownField, &at, format!(
                "extension field `{k}` uses the prefix `{prefix}`, which no `@context` declares; add {{\"{prefix}\": \"IRI\"}} to `@context`"
            ));
        }
    }

    fn date_time(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
        key: &str,
        required: bool,
    ) -> Option<jiff::Timestamp> {
        let at = format!("{p}/{key}");
        match o.get(key) {
            None if required => {
                self.bad(Code::MissingField, &at, format!("`{key}` is required (date and time with offset, e.g. 2026-03-02T06:30:00.000-05:00)"));
                None
            }
            None => None,
            Some(Value::String(s)) => match s.parse::<jiff::Timestamp>() {
                Ok(t) => Some(t),
                Err(_) => {
                    self.bad(Code::InvalidField, &at, format!(
                        "`{key}` is \"{s}\", not a date and time with a UTC offset (xsd:dateTime, e.g. 2026-03-02T06:30:00.000-05:00)"
                    ));
                    None
                }
            },
            Some(other) => {
                self.bad(
                    Code::InvalidField,
                    &at,
                    format!("`{key}` must be a date-time string, not {other}"),
                );
                None
            }
        }
    }

    fn uri(&mut self, v: &Value, at: &str, what: &str) {
        match v {
            Value::String(s) if is_uri(s) => {}
            other => self.bad(
                Code::InvalidField,
                at,
                format!("{what} must be a URI string, not {other}"),
            ),
        }
    }

    fn uri_list(&mut self, o: &Map<String, Value>, p: &str, key: &str) {
        let Some(v) = o.get(key) else { return };
        let at = format!("{p}/{key}");
        match v.as_array() {
            None => self.bad(
                Code::InvalidField,
                &at,
                format!("`{key}` must be an array of URIs"),
            ),
            Some(a) => {
                for (j, x) in a.iter().enumerate() {
                    self.uri(x, &format!("{at}/{j}"), "each identifier");
                }
            }
        }
    }

    /// A CBV term: a bare word from the vocabulary, its CBV URI forms, or
    /// any other URI / declared compact IRI (a user vocabulary).
    fn vocab(&mut self, v: &Value, at: &str, voc: &Vocab, ns: &Namespaces) {
        let Vocab {
            what,
            terms: vocab,
            urn: cbv_urn,
            web: cbv_web,
        } = *voc;
        let Value::String(s) = v else {
            self.bad(Code::InvalidField, at, format!("{what} must be a string"));
            return;
        };
        let bare = s
            .strip_prefix(cbv_urn)
            .or_else(|| s.strip_prefix(cbv_web))
            .or_else(|| {
                s.strip_prefix("cbv:").and_then(|r| {
                    r.strip_prefix(cbv_web.trim_start_matches("https://ref.gs1.org/cbv/"))
                })
            });
        if let Some(word) = bare {
            if !vocab.contains(&word) {
                self.bad(
                    Code::Vocabulary,
                    at,
                    format!("{what} `{s}` names `{word}`, which is not in the CBV 2.0 vocabulary"),
                );
            }
        } else if s.contains(':') {
            if !is_absolute_iri(s) && ns.expand(s).is_none() && !is_uri(s) {
                self.bad(
                    Code::Vocabulary,
                    at,
                    format!("{what} `{s}` is neither a CBV 2.0 term nor a URI"),
                );
            }
        } else if !vocab.contains(&s.as_str()) {
            let hint = closest(s, vocab)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            self.bad(Code::Vocabulary, at, format!(
                "{what} `{s}` is not in the CBV 2.0 vocabulary{hint}; use a CBV term or a URI of your own vocabulary"
            ));
        }
    }

    fn quantity_list(&mut self, o: &Map<String, Value>, p: &str, key: &str, ns: &Namespaces) {
        let Some(v) = o.get(key) else { return };
        let at = format!("{p}/{key}");
        let Some(a) = v.as_array() else {
            self.bad(
                Code::InvalidField,
                &at,
                format!("`{key}` must be an array of quantity elements"),
            );
            return;
        };
        for (j, q) in a.iter().enumerate() {
            let qp = format!("{at}/{j}");
            let Some(q) = q.as_object() else {
                self.bad(
                    Code::InvalidField,
                    &qp,
                    "a quantity element is an object {epcClass, quantity, uom}",
                );
                continue;
            };
            self.check_keys(q, &qp, &["epcClass", "quantity", "uom"], ns);
            match q.get("epcClass") {
                None => self.bad(
                    Code::MissingField,
                    &format!("{qp}/epcClass"),
                    "`epcClass` is required",
                ),
                Some(c) => self.uri(c, &format!("{qp}/epcClass"), "`epcClass`"),
            }
            match q.get("quantity") {
                None | Some(Value::Number(_)) => {}
                Some(other) => self.bad(
                    Code::InvalidField,
                    &format!("{qp}/quantity"),
                    format!("`quantity` must be a number, not {other}"),
                ),
            }
            match q.get("uom") {
                None | Some(Value::String(_)) => {}
                Some(other) => self.bad(
                    Code::InvalidField,
                    &format!("{qp}/uom"),
                    format!("`uom` must be a UN/CEFACT unit code string, not {other}"),
                ),
            }
            if q.contains_key("uom") && !q.contains_key("quantity") {
                self.bad(
                    Code::MissingField,
                    &format!("{qp}/quantity"),
                    "`uom` needs a `quantity`",
                );
            }
        }
    }

    fn typed_list(
        &mut self,
        o: &Map<String, Value>,
        p: &str,
        key: &str,
        item: &str,
        ns: &Namespaces,
    ) {
        let Some(v) = o.get(key) else { return };
        let at = format!("{p}/{key}");
        let Some(a) = v.as_array() else {
            self.bad(Code::InvalidField, &at, format!("`{key}` must be an array"));
            return;
        };
        for (j, x) in a.iter().enumerate() {
            let xp = format!("{at}/{j}");
            let Some(x) = x.as_object() else {
                self.bad(
                    Code::InvalidField,
                    &xp,
                    format!("each element of `{key}` is an object {{type, {item}}}"),
                );
                continue;
            };
            self.check_keys(x, &xp, &["type", item], ns);
            match x.get(item) {
                None => self.bad(
                    Code::MissingField,
                    &format!("{xp}/{item}"),
                    format!("`{item}` is required"),
                ),
                Some(u) => self.uri(u, &format!("{xp}/{item}"), &format!("`{item}`")),
            }
            if let Some(t) = x.get("type") {
                let voc = if key == "bizTransactionList" {
                    &BTT
                } else {
                    &SDT
                };
                self.vocab(t, &format!("{xp}/type"), voc, ns);
            } else if key != "bizTransactionList" {
                self.bad(
                    Code::MissingField,
                    &format!("{xp}/type"),
                    "`type` is required (owning_party, possessing_party, location)",
                );
            }
        }
    }

    fn location(&mut self, o: &Map<String, Value>, p: &str, key: &str, ns: &Namespaces) {
        let Some(v) = o.get(key) else { return };
        let at = format!("{p}/{key}");
        match v.as_object() {
            None => self.bad(
                Code::InvalidField,
                &at,
                format!("`{key}` must be an object {{\"id\": URI}}"),
            ),
            Some(l) => {
                self.check_keys(l, &at, &["id"], ns);
                match l.get("id") {
                    None => self.bad(Code::MissingField, &format!("{at}/id"), "`id` is required"),
                    Some(id) => self.uri(id, &format!("{at}/id"), "`id`"),
                }
            }
        }
    }

    fn event(&mut self, e: &Map<String, Value>, p: &str, ns: &Namespaces) {
        let Some(t) = e.get("type").and_then(Value::as_str) else {
            self.bad(
                Code::MissingField,
                &format!("{p}/type"),
                format!("`type` is required: one of {}", EVENT_TYPES.join(", ")),
            );
            return;
        };
        if !EVENT_TYPES.contains(&t) {
            self.bad(
                Code::Vocabulary,
                &format!("{p}/type"),
                format!(
                    "`type` is `{t}`; expected one of {}",
                    EVENT_TYPES.join(", ")
                ),
            );
            return;
        }
        let specific = type_keys(t);
        for k in e.keys() {
            if !COMMON_EVENT_KEYS.contains(&k.as_str()) && !specific.contains(&k.as_str()) {
                self.extension_key(k, p, ns);
            }
        }
        self.date_time(e, p, "eventTime", true);
        self.date_time(e, p, "recordTime", false);
        match e.get("eventTimeZoneOffset") {
            None => self.bad(
                Code::MissingField,
                &format!("{p}/eventTimeZoneOffset"),
                "`eventTimeZoneOffset` is required (e.g. \"-05:00\")",
            ),
            Some(Value::String(s)) if is_offset(s) => {}
            Some(other) => self.bad(
                Code::InvalidField,
                &format!("{p}/eventTimeZoneOffset"),
                format!("`eventTimeZoneOffset` is {other}; expected ±hh:mm, e.g. \"-05:00\""),
            ),
        }
        if let Some(id) = e.get("eventID") {
            self.uri(id, &format!("{p}/eventID"), "`eventID`");
        }
        if t != "TransformationEvent" {
            match e.get("action") {
                None => self.bad(
                    Code::MissingField,
                    &format!("{p}/action"),
                    "`action` is required: ADD, OBSERVE or DELETE",
                ),
                Some(Value::String(a)) if ACTIONS.contains(&a.as_str()) => {}
                Some(other) => self.bad(
                    Code::Vocabulary,
                    &format!("{p}/action"),
                    format!("`action` is {other}; expected ADD, OBSERVE or DELETE"),
                ),
            }
        }
        if let Some(b) = e.get("bizStep") {
            self.vocab(b, &format!("{p}/bizStep"), &BIZ_STEP, ns);
        }
        if let Some(d) = e.get("disposition") {
            self.vocab(d, &format!("{p}/disposition"), &DISPOSITION, ns);
        }
        if let Some(pd) = e.get("persistentDisposition") {
            let pp = format!("{p}/persistentDisposition");
            match pd.as_object() {
                None => self.bad(
                    Code::InvalidField,
                    &pp,
                    "`persistentDisposition` must be an object {set, unset}",
                ),
                Some(o) => {
                    self.check_keys(o, &pp, &["set", "unset"], ns);
                    for k in ["set", "unset"] {
                        match o.get(k) {
                            None => {}
                            Some(Value::Array(a)) => {
                                for (j, d) in a.iter().enumerate() {
                                    self.vocab(d, &format!("{pp}/{k}/{j}"), &DISPOSITION, ns);
                                }
                            }
                            Some(_) => self.bad(
                                Code::InvalidField,
                                &format!("{pp}/{k}"),
                                format!("`{k}` must be an array of dispositions"),
                            ),
                        }
                    }
                }
            }
        }
        self.location(e, p, "readPoint", ns);
        self.location(e, p, "bizLocation", ns);
        self.typed_list(e, p, "bizTransactionList", "bizTransaction", ns);
        self.typed_list(e, p, "sourceList", "source", ns);
        self.typed_list(e, p, "destinationList", "destination", ns);
        for k in ["epcList", "childEPCs", "inputEPCList", "outputEPCList"] {
            self.uri_list(e, p, k);
        }
        for k in [
            "quantityList",
            "childQuantityList",
            "inputQuantityList",
            "outputQuantityList",
        ] {
            self.quantity_list(e, p, k, ns);
        }
        for k in ["parentID", "transformationID"] {
            if let Some(x) = e.get(k) {
                self.uri(x, &format!("{p}/{k}"), &format!("`{k}`"));
            }
        }
        if let Some(c) = e.get("certificationInfo") {
            let ok = match c {
                Value::String(s) => is_uri(s),
                Value::Array(a) => a.iter().all(|x| x.as_str().is_some_and(is_uri)),
                _ => false,
            };
            if !ok {
                self.bad(
                    Code::InvalidField,
                    &format!("{p}/certificationInfo"),
                    "`certificationInfo` must be a certificate URI or an array of certificate URIs",
                );
            }
        }
        if let Some(ilmd) = e.get("ilmd") {
            match ilmd.as_object() {
                None => self.bad(
                    Code::InvalidField,
                    &format!("{p}/ilmd"),
                    "`ilmd` must be an object of namespaced master-data fields",
                ),
                Some(o) => self.check_keys(o, &format!("{p}/ilmd"), &[], ns),
            }
        }
        if let Some(d) = e.get("errorDeclaration") {
            let dp = format!("{p}/errorDeclaration");
            match d.as_object() {
                None => self.bad(Code::InvalidField, &dp, "`errorDeclaration` must be an object {declarationTime, reason, correctiveEventIDs}"),
                Some(o) => {
                    self.check_keys(o, &dp, &["declarationTime", "reason", "correctiveEventIDs"], ns);
                    self.date_time(o, &dp, "declarationTime", true);
                    if let Some(r) = o.get("reason") {
                        self.vocab(r, &format!("{dp}/reason"), &ERROR_REASON, ns);
                    }
                    self.uri_list(o, &dp, "correctiveEventIDs");
                }
            }
        }
        self.sensors(e, p, ns);
        self.identifiers(e, p, t);
    }

    /// What each event type must identify.
    fn identifiers(&mut self, e: &Map<String, Value>, p: &str, t: &str) {
        let nonempty = |k: &str| {
            e.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        let action = e.get("action").and_then(Value::as_str);
        match t {
            "ObjectEvent" if !e.contains_key("epcList") && !e.contains_key("quantityList") => self
                .bad(
                    Code::MissingField,
                    &format!("{p}/epcList"),
                    "an ObjectEvent names its objects: `epcList` or `quantityList` is required",
                ),
            "AggregationEvent" if action != Some("OBSERVE") && !e.contains_key("parentID") => self
                .bad(
                    Code::MissingField,
                    &format!("{p}/parentID"),
                    "an AggregationEvent with action ADD or DELETE requires `parentID`",
                ),
            "AssociationEvent" if !e.contains_key("parentID") => self.bad(
                Code::MissingField,
                &format!("{p}/parentID"),
                "an AssociationEvent requires `parentID`",
            ),
            "TransactionEvent" if !nonempty("bizTransactionList") => self.bad(
                Code::MissingField,
                &format!("{p}/bizTransactionList"),
                "a TransactionEvent requires a non-empty `bizTransactionList`",
            ),
            "TransformationEvent"
                if !e.contains_key("transformationID")
                    && !((nonempty("inputEPCList") || nonempty("inputQuantityList"))
                        && (nonempty("outputEPCList") || nonempty("outputQuantityList"))) =>
            {
                self.bad(
                    Code::MissingField,
                    &format!("{p}/inputEPCList"),
                    "a TransformationEvent requires a `transformationID`, or inputs and outputs",
                )
            }
            _ => {}
        }
    }

    fn sensors(&mut self, e: &Map<String, Value>, p: &str, ns: &Namespaces) {
        let Some(list) = e.get("sensorElementList") else {
            return;
        };
        let sp = format!("{p}/sensorElementList");
        let Some(list) = list.as_array() else {
            self.bad(
                Code::InvalidField,
                &sp,
                "`sensorElementList` must be an array",
            );
            return;
        };
        for (j, el) in list.iter().enumerate() {
            let ep = format!("{sp}/{j}");
            let Some(el) = el.as_object() else {
                self.bad(
                    Code::InvalidField,
                    &ep,
                    "a sensor element is an object {sensorMetadata, sensorReport}",
                );
                continue;
            };
            self.check_keys(el, &ep, &["sensorMetadata", "sensorReport"], ns);
            if let Some(m) = el.get("sensorMetadata") {
                let mp = format!("{ep}/sensorMetadata");
                match m.as_object() {
                    None => self.bad(
                        Code::InvalidField,
                        &mp,
                        "`sensorMetadata` must be an object",
                    ),
                    Some(m) => {
                        self.check_keys(m, &mp, SENSOR_METADATA_KEYS, ns);
                        for k in ["time", "startTime", "endTime"] {
                            self.date_time(m, &mp, k, false);
                        }
                    }
                }
            }
            match el.get("sensorReport").and_then(Value::as_array) {
                None => self.bad(
                    Code::MissingField,
                    &format!("{ep}/sensorReport"),
                    "`sensorReport` (an array of reports) is required",
                ),
                Some(reports) => {
                    for (r, rep) in reports.iter().enumerate() {
                        let rp = format!("{ep}/sensorReport/{r}");
                        let Some(rep) = rep.as_object() else {
                            self.bad(Code::InvalidField, &rp, "a sensor report is an object");
                            continue;
                        };
                        self.check_keys(rep, &rp, SENSOR_REPORT_KEYS, ns);
                        self.date_time(rep, &rp, "time", false);
                        for k in [
                            "value",
                            "minValue",
                            "maxValue",
                            "meanValue",
                            "sDev",
                            "percRank",
                            "percValue",
                        ] {
                            if let Some(x) = rep.get(k)
                                && !x.is_number()
                            {
                                self.bad(
                                    Code::InvalidField,
                                    &format!("{rp}/{k}"),
                                    format!("`{k}` must be a number, not {x}"),
                                );
                            }
                        }
                        if let Some(x) = rep.get("booleanValue")
                            && !x.is_boolean()
                        {
                            self.bad(
                                Code::InvalidField,
                                &format!("{rp}/booleanValue"),
                                format!("`booleanValue` must be true or false, not {x}"),
                            );
                        }
                    }
                }
            }
        }
    }
}

fn is_offset(s: &str) -> bool {
    let b = s.as_bytes();
    s == "Z"
        || (b.len() == 6
            && (b[0] == b'+' || b[0] == b'-')
            && b[1..3].iter().all(u8::is_ascii_digit)
            && b[3] == b':'
            && b[4..6].iter().all(u8::is_ascii_digit)
            && s[1..3].parse::<u8>().is_ok_and(|h| h <= 14)
            && s[4..6].parse::<u8>().is_ok_and(|m| m < 60))
}

/// The vocabulary term nearest to `s` by edit distance, if close.
fn closest<'a>(s: &str, vocab: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    vocab
        .iter()
        .map(|v| (dist(s, v), *v))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, v)| v)
}

/// The VIN an EPC URI carries, if it is one of the documented forms.
/// `Err` for a `urn:takt:vin:` URI whose VIN is invalid.
pub fn vin_of(uri: &str) -> Result<Option<Vin>, String> {
    if let Some(v) = uri.strip_prefix(VIN_URN_PREFIX) {
        return Vin::parse(v).map(Some).map_err(|e| format!("`{uri}`: {e}"));
    }
    if let Some(rest) = uri.strip_prefix("urn:epc:id:giai:") {
        // urn:epc:id:giai:CompanyPrefix.IndividualAssetReference
        let asset = rest.split_once('.').map_or("", |(_, a)| a);
        return Ok(if asset.len() == 17 {
            Vin::parse(asset).ok()
        } else {
            None
        });
    }
    // GS1 Digital Link, AI 8004 (GIAI) = company prefix + asset reference
    // (the VIN): the VIN is the last 17 characters.
    if let Some(pos) = uri.find("/8004/")
        && uri.starts_with("https://")
    {
        let giai = uri[pos + 6..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if giai.len() > 17 {
            return Ok(Vin::parse(&giai[giai.len() - 17..]).ok());
        }
    }
    Ok(None)
}

fn location_of(id: &str) -> String {
    id.strip_prefix(LOCATION_URN_PREFIX)
        .unwrap_or(id)
        .to_string()
}

/// The bare CBV word of a term (`shipping` for `shipping`,
/// `urn:epcglobal:cbv:bizstep:shipping` or `https://ref.gs1.org/cbv/BizStep-shipping`).
fn cbv_word<'a>(s: &'a str, urn: &str, web: &str) -> &'a str {
    s.strip_prefix(urn)
        .or_else(|| s.strip_prefix(web))
        .unwrap_or(s)
}

/// Maps one validated EPCIS event to takt's model.
fn to_takt(e: &Map<String, Value>, p: &str, ns: &Namespaces, v: &mut Validator) -> Option<Event> {
    let at = e
        .get("eventTime")?
        .as_str()?
        .parse::<jiff::Timestamp>()
        .ok()?;
    let mut content = e.clone();
    let decl = content.remove("errorDeclaration").and_then(|d| {
        let d = d.as_object()?;
        Some(ErrorDeclaration {
            declaration_time: d.get("declarationTime")?.as_str()?.parse().ok()?,
            reason: d.get("reason").and_then(Value::as_str).map(|r| {
                cbv_word(r, "urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-").to_string()
            }),
            corrective_event_ids: d
                .get("correctiveEventIDs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    });
    // recordTime is the capturing repository's, not the event's.
    content.remove("recordTime");
    let content = Value::Object(content);
    let event_id = match e.get("eventID").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => {
            let hash = Sha256::digest(crate::model::canonical(&content).as_bytes());
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            format!("ni:///sha-256;{hex}?ver=takt1")
        }
    };
    // VINs: every identifier the event names.
    let mut vins = Vec::new();
    let mut ids: Vec<(String, &str)> = Vec::new();
    for k in ["epcList", "childEPCs", "inputEPCList", "outputEPCList"] {
        if let Some(a) = e.get(k).and_then(Value::as_array) {
            for (j, x) in a.iter().enumerate() {
                if let Some(s) = x.as_str() {
                    ids.push((format!("{p}/{k}/{j}"), s));
                }
            }
        }
    }
    if let Some(s) = e.get("parentID").and_then(Value::as_str) {
        ids.push((format!("{p}/parentID"), s));
    }
    for (ptr, s) in ids {
        match vin_of(s) {
            Ok(Some(vin)) if !vins.contains(&vin) => vins.push(vin),
            Ok(_) => {}
            Err(msg) => v.bad(Code::InvalidField, &ptr, msg),
        }
    }
    let ext = |name: &str| -> Option<String> {
        e.iter()
            .find(|(k, _)| ns.expand(k).as_deref() == Some(&format!("{TAKT_NAMESPACE}{name}")))
            .and_then(|(_, x)| x.as_str().map(str::to_string))
    };
    let body = if vins.is_empty() {
        Body::Other
    } else {
        let biz_step = e.get("bizStep").and_then(Value::as_str).map(|b| {
            cbv_word(
                b,
                "urn:epcglobal:cbv:bizstep:",
                "https://ref.gs1.org/cbv/BizStep-",
            )
        });
        let milestone = ext("milestone").or_else(|| {
            let b = biz_step?;
            BIZ_STEP_MILESTONES
                .iter()
                .find(|(s, _)| *s == b)
                .map(|(_, m)| m.to_string())
        });
        let milestone = milestone.unwrap_or_else(|| "observed".to_string());
        if milestone != "observed"
            && !MILESTONES.iter().any(|(m, _)| *m == milestone)
            && !takt_core::event::EXTRA_MILESTONES.contains(&milestone.as_str())
        {
            v.bad(
                Code::Vocabulary,
                &format!("{p}/takt:milestone"),
                format!("`{milestone}` is not a takt milestone"),
            );
            return None;
        }
        let stage = MILESTONES
            .iter()
            .find(|(m, _)| *m == milestone)
            .map(|(_, s)| *s);
        let loc = ["bizLocation", "readPoint"]
            .iter()
            .find_map(|k| e.get(*k).and_then(|l| l.get("id")).and_then(Value::as_str))
            .map(location_of);
        let disposition = e.get("disposition").and_then(Value::as_str).map(|d| {
            cbv_word(
                d,
                "urn:epcglobal:cbv:disp:",
                "https://ref.gs1.org/cbv/Disp-",
            )
            .to_string()
        });
        let reason = ext("reason").or_else(|| {
            (milestone.contains("hold_") || milestone == "rolled")
                .then(|| disposition.unwrap_or_else(|| "hold".into()))
        });
        Body::Vehicle(VehicleFacts {
            vins,
            milestone,
            stage,
            model: ext("model"),
            location: loc,
            resource: ext("resource"),
            voyage: ext("voyage"),
            reason,
            item: ext("item"),
            reported_stage: None,
            planned: None,
        })
    };
    Some(Event {
        event_id,
        at,
        body,
        content: crate::model::Content::of(&content),
        error_declaration: decl,
    })
}
