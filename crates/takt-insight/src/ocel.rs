//! The milestone log as an OCEL 2.0 object-centric event log (JSON format).
//!
//! Object types and their ids:
//! - `vehicle`: the VIN; attributes `model`, `tenant`.
//! - `inland_load`: one departure of an inland service, `SERVICE@DEPARTURE`
//!   (departure in RFC 3339 UTC); attributes `service`, `carrier`, `mode`,
//!   `departure`.
//! - `voyage`: the voyage id; attribute `service`.
//! - `terminal_resource`: a resource id such as `USLGB/processing`, or
//!   `PORT/delivery` for the car-hauler departures of a Japanese port;
//!   attributes `kind`, `location`.
//! - `dealer`: `dealer/ID`; attribute `location` (the port it is served from).
//!
//! Every milestone is one event: id the milestone's `event_id`, type the
//! milestone name, time its instant; attributes `stage`, `location` and,
//! when present, `reason` and `item`. Event-to-object relations are
//! qualified: `vehicle`; `resource` (the terminal resource it used or was
//! waiting for); `departs_on` and `unloaded_from` (the inland load);
//! `staged_for`, `loaded_onto`, `departs_on`, `discharged_from`,
//! `routed_on`, `rolled_from` (the voyage); `delivered_to` (the dealer).
//! Object-to-object relations: vehicle `rides` inland load, vehicle
//! `shipped_on` voyage (the one it sailed on), vehicle `rolled_from`
//! voyage, vehicle `delivered_to` dealer, inland load `unloaded_at` ramp,
//! voyage `loaded_by` the loading resource of each US port it loaded at.
//!
//! Static attributes carry the time `1970-01-01T00:00:00Z`, as OCEL 2.0
//! does for values that never changed.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use takt_core::Minute;
use takt_core::event::Milestone;
use takt_core::network::Network;

/// An OCEL 2.0 log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ocel {
    #[serde(rename = "objectTypes")]
    pub object_types: Vec<Type>,
    #[serde(rename = "eventTypes")]
    pub event_types: Vec<Type>,
    pub objects: Vec<Object>,
    pub events: Vec<Event>,
}

/// An object or event type with its attribute names and types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Type {
    pub name: String,
    pub attributes: Vec<TypeAttribute>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeAttribute {
    pub name: String,
    #[serde(rename = "type")]
    pub value_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub id: String,
    #[serde(rename = "type")]
    pub object_type: String,
    pub attributes: Vec<ObjectAttribute>,
    pub relationships: Vec<Relationship>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectAttribute {
    pub name: String,
    pub time: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: String,
    pub attributes: Vec<EventAttribute>,
    pub relationships: Vec<Relationship>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAttribute {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Relationship {
    #[serde(rename = "objectId")]
    pub object_id: String,
    pub qualifier: String,
}

const EPOCH: &str = "1970-01-01T00:00:00Z";

fn string_attrs(names: &[&str]) -> Vec<TypeAttribute> {
    names
        .iter()
        .map(|n| TypeAttribute {
            name: n.to_string(),
            value_type: "string".to_string(),
        })
        .collect()
}

fn rel(id: &str, q: &str) -> Relationship {
    Relationship {
        object_id: id.to_string(),
        qualifier: q.to_string(),
    }
}

fn load_id(service: &str, departure: Minute) -> String {
    format!("{service}@{departure}")
}

/// The log as OCEL 2.0. Events keep the order of the log sorted by
/// (instant, VIN, event id); an event id repeated counts once.
pub fn export(events: &[Milestone], net: &Network) -> Ocel {
    let mut order: Vec<&Milestone> = events.iter().collect();
    order.sort_by(|a, b| (a.at, &a.vin, &a.event_id).cmp(&(b.at, &b.vin, &b.event_id)));
    order.dedup_by(|a, b| a.event_id == b.event_id);

    let inland: HashMap<&str, usize> = net
        .inland
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let voyages: HashMap<&str, usize> = net
        .voyages
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.as_str(), i))
        .collect();
    let resources: HashMap<&str, usize> = net
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();

    // Objects, collected in first-seen order per type, then sorted by id.
    let mut vehicles: BTreeMap<&str, (&str, &str, BTreeSet<Relationship>)> = BTreeMap::new();
    let mut loads: BTreeMap<String, (&str, Minute, BTreeSet<Relationship>)> = BTreeMap::new();
    let mut voyage_objs: BTreeMap<&str, BTreeSet<Relationship>> = BTreeMap::new();
    let mut terminal: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    let mut dealers: BTreeMap<&str, &str> = BTreeMap::new();
    // The inland load each vehicle rides, for its `port_arrived`.
    let mut riding: HashMap<&str, String> = HashMap::new();
    let mut out = Vec::with_capacity(order.len());

    for e in &order {
        let v = vehicles.entry(e.vin.as_str()).or_insert((
            e.model.as_str(),
            e.tenant.as_str(),
            BTreeSet::new(),
        ));
        let mut rels = vec![rel(&e.vin, "vehicle")];
        let m = e.milestone.as_str();
        let is_voyage = voyages.contains_key(e.resource.as_str());
        if m == "inland_departed" {
            let id = load_id(&e.resource, e.at);
            loads
                .entry(id.clone())
                .or_insert((e.resource.as_str(), e.at, BTreeSet::new()));
            v.2.insert(rel(&id, "rides"));
            rels.push(rel(&id, "departs_on"));
            riding.insert(e.vin.as_str(), id);
        } else if m == "delivered" {
            dealers.insert(e.resource.as_str(), e.location.as_str());
            v.2.insert(rel(&e.resource, "delivered_to"));
            rels.push(rel(&e.resource, "delivered_to"));
        } else if !is_voyage && !e.resource.is_empty() {
            // A terminal resource: a pool, a yard or a port's delivery trucks.
            let kind = match resources.get(e.resource.as_str()) {
                Some(&r) => net.resources[r].kind.name().to_string(),
                None => e.resource.rsplit('/').next().unwrap_or("").to_string(),
            };
            terminal
                .entry(e.resource.as_str())
                .or_insert((kind, e.location.as_str()));
            rels.push(rel(&e.resource, "resource"));
        }
        if m == "port_arrived"
            && let Some(id) = riding.get(e.vin.as_str())
        {
            rels.push(rel(id, "unloaded_from"));
            if let Some(l) = loads.get_mut(id) {
                l.2.insert(rel(&e.resource, "unloaded_at"));
            }
        }
        let voyage = if is_voyage {
            Some(e.resource.as_str())
        } else {
            e.voyage.as_deref()
        };
        if let Some(voy) = voyage.filter(|id| voyages.contains_key(id)) {
            voyage_objs.entry(voy).or_default();
            let q = match m {
                "routed" => Some("routed_on"),
                "rolled" => Some("rolled_from"),
                "yard_staged" => Some("staged_for"),
                "loading_started" => Some("loaded_onto"),
                "vessel_departed" => Some("departs_on"),
                "discharged" => Some("discharged_from"),
                _ => None,
            };
            if let Some(q) = q {
                rels.push(rel(voy, q));
            }
            if m == "vessel_departed" {
                v.2.insert(rel(voy, "shipped_on"));
            }
            if m == "rolled" {
                v.2.insert(rel(voy, "rolled_from"));
            }
            if m == "loading_started" {
                voyage_objs
                    .get_mut(voy)
                    .expect("inserted")
                    .insert(rel(&e.resource, "loaded_by"));
            }
        }
        let mut attributes = vec![
            EventAttribute {
                name: "stage".into(),
                value: e.stage.name().into(),
            },
            EventAttribute {
                name: "location".into(),
                value: e.location.clone(),
            },
        ];
        if let Some(r) = &e.reason {
            attributes.push(EventAttribute {
                name: "reason".into(),
                value: r.clone(),
            });
        }
        if let Some(i) = &e.item {
            attributes.push(EventAttribute {
                name: "item".into(),
                value: i.clone(),
            });
        }
        out.push(Event {
            id: e.event_id.clone(),
            event_type: e.milestone.clone(),
            time: e.at.rfc3339(),
            attributes,
            relationships: rels,
        });
    }

    let attr = |name: &str, value: &str| ObjectAttribute {
        name: name.to_string(),
        time: EPOCH.to_string(),
        value: value.to_string(),
    };
    let mut objects = Vec::new();
    for (vin, (model, tenant, rels)) in vehicles {
        objects.push(Object {
            id: vin.to_string(),
            object_type: "vehicle".into(),
            attributes: vec![attr("model", model), attr("tenant", tenant)],
            relationships: rels.into_iter().collect(),
        });
    }
    for (id, (service, departure, rels)) in loads {
        let (carrier, mode) = inland
            .get(service)
            .map(|&s| {
                let s = &net.inland[s];
                (s.carrier.clone(), format!("{:?}", s.mode).to_lowercase())
            })
            .unwrap_or_default();
        objects.push(Object {
            id,
            object_type: "inland_load".into(),
            attributes: vec![
                attr("service", service),
                attr("carrier", &carrier),
                attr("mode", &mode),
                attr("departure", &departure.rfc3339()),
            ],
            relationships: rels.into_iter().collect(),
        });
    }
    for (id, rels) in voyage_objs {
        let service = &net.voyages[voyages[id]].service;
        objects.push(Object {
            id: id.to_string(),
            object_type: "voyage".into(),
            attributes: vec![attr("service", service)],
            relationships: rels.into_iter().collect(),
        });
    }
    for (id, (kind, location)) in terminal {
        objects.push(Object {
            id: id.to_string(),
            object_type: "terminal_resource".into(),
            attributes: vec![attr("kind", &kind), attr("location", location)],
            relationships: Vec::new(),
        });
    }
    for (id, location) in dealers {
        objects.push(Object {
            id: id.to_string(),
            object_type: "dealer".into(),
            attributes: vec![attr("location", location)],
            relationships: Vec::new(),
        });
    }

    let mut event_types: Vec<&str> = takt_core::event::MILESTONES
        .iter()
        .map(|(m, _)| *m)
        .chain(takt_core::event::EXTRA_MILESTONES.iter().copied())
        .collect();
    event_types.dedup();
    Ocel {
        object_types: vec![
            Type {
                name: "vehicle".into(),
                attributes: string_attrs(&["model", "tenant"]),
            },
            Type {
                name: "inland_load".into(),
                attributes: string_attrs(&["service", "carrier", "mode", "departure"]),
            },
            Type {
                name: "voyage".into(),
                attributes: string_attrs(&["service"]),
            },
            Type {
                name: "terminal_resource".into(),
                attributes: string_attrs(&["kind", "location"]),
            },
            Type {
                name: "dealer".into(),
                attributes: string_attrs(&["location"]),
            },
        ],
        event_types: event_types
            .into_iter()
            .map(|name| Type {
                name: name.to_string(),
                attributes: string_attrs(&["stage", "location", "reason", "item"]),
            })
            .collect(),
        objects,
        events: out,
    }
}
