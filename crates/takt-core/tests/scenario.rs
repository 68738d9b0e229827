//! Scenario parsing and validation: the built-in scenario compiles, and
//! broken scenarios fail with the field and its line.

use takt_core::network::{CompileOptions, Network};
use takt_core::scenario::{BUILTIN_US_JAPAN, Scenario};

fn opts() -> CompileOptions {
    CompileOptions {
        days: 56,
        volume_scale: 1.0,
    }
}

fn errors_of(text: &str) -> Vec<String> {
    match Network::load(text, opts()) {
        Ok(_) => panic!("scenario should be rejected"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn builtin_scenario_compiles() {
    let (s, n) = Network::load(BUILTIN_US_JAPAN, opts()).expect("built-in scenario is valid");
    assert_eq!(s.scenario.name, "us-japan");
    assert_eq!(n.models.len(), 3);
    assert_eq!(n.export_terminals.len(), 5);
    assert_eq!(n.import_terminals.len(), 4);
    assert!(
        n.voyages.len() >= 8,
        "voyages over 56 days plus tail: {}",
        n.voyages.len()
    );
    // Camry about 1.4 RT43, Tundra about 1.9.
    let camry = &n.models[n.model_index("camry").unwrap()];
    assert!((camry.rt43 - 1.41).abs() < 0.02, "{}", camry.rt43);
    let tundra = &n.models[n.model_index("tundra").unwrap()];
    assert!((1.85..2.1).contains(&tundra.rt43), "{}", tundra.rt43);
}

#[test]
fn export_round_trips() {
    let s = Scenario::builtin();
    let text = s.to_toml();
    Network::load(&text, opts()).expect("exported scenario compiles");
}

#[test]
fn every_entry_has_a_source() {
    let s = Scenario::builtin();
    assert!(s.locations.iter().all(|l| !l.source.is_empty()));
    assert!(s.models.iter().all(|m| m.source.contains("assumed")));
    assert!(s.sea_legs.iter().all(|l| !l.source.is_empty()));
}

#[test]
fn unknown_location_names_field_and_line() {
    let text = BUILTIN_US_JAPAN.replacen("to = \"USOAK\"", "to = \"USXXX\"", 1);
    let line = text.lines().position(|l| l.contains("USXXX")).unwrap() + 1;
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.starts_with(&format!(
            "line {line}: inland_services[1].to: unknown location `USXXX`"
        ))),
        "{errors:?}"
    );
}

#[test]
fn missing_field_names_field_and_line() {
    let text = BUILTIN_US_JAPAN.replacen("processing_minutes = 45\n", "", 1);
    let errors = errors_of(&text);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("missing field `processing_minutes`"),
        "{errors:?}"
    );
    assert!(errors[0].starts_with("line "), "{errors:?}");
}

#[test]
fn bad_time_zone_is_rejected() {
    let text = BUILTIN_US_JAPAN.replacen("America/Chicago", "America/Chicgo", 1);
    let line = text.lines().position(|l| l.contains("Chicgo")).unwrap() + 1;
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.starts_with(&format!(
            "line {line}: locations[1].time_zone: `America/Chicgo` is not an IANA time zone"
        ))),
        "{errors:?}"
    );
}

#[test]
fn zero_capacity_on_a_needed_flow_is_rejected() {
    let text = BUILTIN_US_JAPAN.replacen("units_per_departure = 8", "units_per_departure = 0", 1);
    let errors = errors_of(&text);
    assert!(errors.iter().any(|e| e.contains("inland_services[0].units_per_departure: units_per_departure is 0")), "{errors:?}");
    let text = BUILTIN_US_JAPAN
        .replace("pickup = 8 }", "pickup = 0 }")
        .replace("pickup = 6 }", "pickup = 0 }");
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.contains(
            "models[2].inland_class: no inland service from `san-antonio` carries class `pickup`"
        )),
        "{errors:?}"
    );
}

#[test]
fn syntax_error_has_a_line() {
    let text = BUILTIN_US_JAPAN.replacen("days = 56", "days = = 56", 1);
    let line = text.lines().position(|l| l.contains("= = 56")).unwrap() + 1;
    let errors = errors_of(&text);
    assert!(
        errors[0].starts_with(&format!("line {line}:")),
        "{errors:?}"
    );
}

#[test]
fn unknown_certification_route_is_rejected() {
    let text = BUILTIN_US_JAPAN.replacen(
        "route = \"preferential_handling\"",
        "route = \"fast_track\"",
        1,
    );
    let line = text.lines().position(|l| l.contains("fast_track")).unwrap() + 1;
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.starts_with(&format!(
            "line {line}: certification[2].route: unknown certification route `fast_track`"
        ))),
        "{errors:?}"
    );
}

#[test]
fn model_without_certification_rule_is_rejected() {
    let start = BUILTIN_US_JAPAN
        .find("[[certification]]\nmodel = \"highlander\"")
        .unwrap();
    let end = start + BUILTIN_US_JAPAN[start..].find("\n\n").unwrap();
    let text = format!(
        "{}{}",
        &BUILTIN_US_JAPAN[..start],
        &BUILTIN_US_JAPAN[end + 2..]
    );
    let errors = errors_of(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("model `highlander` has no [[certification]] rule")),
        "{errors:?}"
    );
}

#[test]
fn required_marking_needs_its_minutes_and_inspection_its_minutes() {
    let text = BUILTIN_US_JAPAN.replacen("marking_minutes = 10", "marking_minutes = 0", 1);
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.contains(
            "certification[0].marking_minutes: route `us_certification2026` requires a marking"
        )),
        "{errors:?}"
    );
    let text = BUILTIN_US_JAPAN.replacen(
        "new_vehicle_inspection_minutes = 30",
        "new_vehicle_inspection_minutes = 0",
        1,
    );
    let errors = errors_of(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("certification_routes[1].new_vehicle_inspection_minutes")),
        "{errors:?}"
    );
}

#[test]
fn checklists_follow_the_routes() {
    let (_, n) = Network::load(BUILTIN_US_JAPAN, opts()).unwrap();
    let ids = |m: &str| -> Vec<String> {
        n.models[n.model_index(m).unwrap()]
            .cert
            .checklist
            .iter()
            .map(|c| c.id.clone())
            .collect()
    };
    assert_eq!(
        ids("camry"),
        ["fix:lamp-colour", "marking", "inspection_certificate"]
    );
    assert_eq!(
        ids("tundra"),
        ["new_vehicle_inspection", "inspection_certificate"]
    );
    // The US-port fix is processing time; the Japan marking is certification time.
    let camry = &n.models[n.model_index("camry").unwrap()];
    assert_eq!(camry.processing_minutes, 45 + 20);
    assert_eq!(camry.certification_minutes(40), 50);
    let tundra = &n.models[n.model_index("tundra").unwrap()];
    assert_eq!(tundra.cert.annual_cap, Some(5000));
    assert_eq!(tundra.certification_minutes(40), 70);
}

#[test]
fn insight_threshold_and_objective_weights_come_from_the_scenario() {
    let (_, n) = Network::load(BUILTIN_US_JAPAN, opts()).unwrap();
    assert_eq!(n.insight.late_threshold_hours, 24.0);
    assert_eq!(n.objective.lateness_usd_per_vehicle_day, 100.0);
    let text = BUILTIN_US_JAPAN.replacen(
        "late_threshold_hours = 24.0",
        "late_threshold_hours = 6.0",
        1,
    );
    assert_eq!(
        Network::load(&text, opts())
            .unwrap()
            .1
            .insight
            .late_threshold_hours,
        6.0
    );
    let text = BUILTIN_US_JAPAN.replacen(
        "late_threshold_hours = 24.0",
        "late_threshold_hours = -1.0",
        1,
    );
    assert!(
        errors_of(&text)
            .iter()
            .any(|e| e.contains("insight.late_threshold_hours"))
    );
    let text = BUILTIN_US_JAPAN.replacen(
        "roll_usd_per_vehicle = 250.0",
        "roll_usd_per_vehicle = -5.0",
        1,
    );
    assert!(
        errors_of(&text)
            .iter()
            .any(|e| e.contains("objective.roll_usd_per_vehicle: must be a number of at least 0"))
    );
    // The live sequencer's export-yard weight is checked the same way, and
    // the message names it (it used to say only "(file)").
    let text = BUILTIN_US_JAPAN.replacen(
        "export_yard_usd_per_vehicle_hour = 1.0",
        "export_yard_usd_per_vehicle_hour = -1.0",
        1,
    );
    let errors = errors_of(&text);
    assert!(
        errors.iter().any(|e| e.contains(
            "objective.export_yard_usd_per_vehicle_hour: must be a number of at least 0"
        )),
        "{errors:?}"
    );
}

#[test]
fn every_voyage_has_a_deck_graph_with_a_slot_for_every_vehicle_its_booked_space_holds() {
    for scale in [0.1, 1.0, 10.424] {
        let options = CompileOptions {
            days: 56,
            volume_scale: scale,
        };
        let (_, n) = Network::load(BUILTIN_US_JAPAN, options).unwrap();
        for v in &n.voyages {
            let g = &v.deck_graph;
            assert!(!g.drawn);
            for (d, deck) in n.deck_classes.iter().enumerate() {
                let space: f64 = v.booked.iter().map(|b| b[d]).sum();
                let smallest = n
                    .models
                    .iter()
                    .filter(|m| m.height_mm <= deck.clearance_mm)
                    .map(|m| m.rt43)
                    .fold(f64::INFINITY, f64::min);
                let holds = if space > 0.0 {
                    (space / smallest).floor() as usize
                } else {
                    0
                };
                assert!(
                    g.slots_of(d) >= holds,
                    "{} at scale {scale}: {} slots of `{}` for {holds} vehicles",
                    v.id,
                    g.slots_of(d),
                    deck.id
                );
            }
            // Lanes: every slot has at most one neighbour nearer the gate.
            for s in 1..g.n_nodes {
                let nearer = g.adjacent[s]
                    .iter()
                    .filter(|&&u| g.gate_distance[u] + 1 == g.gate_distance[s])
                    .count();
                assert_eq!(nearer, 1);
            }
        }
    }
}

#[test]
fn deck_layout_and_drawing_are_read_and_checked() {
    let service = "id = \"WCJ-N\"";
    let layout = BUILTIN_US_JAPAN.replacen(
        "source = \"18 kn service speed (MOL Turquoise Ace); 4,000-8,500",
        "decks = [{ deck_class = \"car\", lanes = 5, slots_per_lane = 20 }, { deck_class = \"high\", lanes = 4, slots_per_lane = 12 }]\nsource = \"18 kn service speed (MOL Turquoise Ace); 4,000-8,500",
        1,
    );
    assert_ne!(layout, BUILTIN_US_JAPAN);
    let (_, n) = Network::load(&layout, opts()).unwrap();
    let v = n.voyages.iter().find(|v| v.service == "WCJ-N").unwrap();
    let car = n.deck_classes.iter().position(|d| d.id == "car").unwrap();
    assert_eq!(v.deck_graph.slots_of(car), 100);
    assert_eq!(v.deck_graph.n_slots(), 148);
    // Too few slots for the booked space (110 RT43 of cars, 60 of high).
    let small = layout.replacen(
        "lanes = 4, slots_per_lane = 12",
        "lanes = 1, slots_per_lane = 12",
        1,
    );
    let errors = errors_of(&small);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("vessel_services[1].decks: 12 slots of deck class `high`")),
        "{errors:?}"
    );
    // A drawing: a gate, two slots of `high` in a row and a fork of `car`.
    let mut slots = vec!["\"high\""; 2];
    slots.extend(vec!["\"car\""; 100]);
    let mut edges = vec!["[0, 1]".to_string(), "[1, 2]".to_string()];
    for s in 3..=102 {
        edges.push(format!("[{}, {s}]", if s == 3 { 0 } else { s - 1 }));
    }
    let drawing = format!(
        "deck_graph = {{ slots = [{}], edges = [{}] }}\nsource = \"18 kn service speed (MOL Turquoise Ace); 4,000-8,500",
        slots.join(", "),
        edges.join(", ")
    );
    let drawn = BUILTIN_US_JAPAN.replacen(
        "source = \"18 kn service speed (MOL Turquoise Ace); 4,000-8,500",
        &drawing,
        1,
    );
    let errors = errors_of(&drawn);
    assert!(
        errors.iter().any(|e| e.contains(
            "vessel_services[1].deck_graph: 2 slots of deck class `high`, but the space booked in it holds"
        )),
        "{errors:?}"
    );
    assert!(drawn.contains(service));
    let unknown = drawn.replacen("slots = [\"high\"", "slots = [\"hgh\"", 1);
    let errors = errors_of(&unknown);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("vessel_services[1].deck_graph.slots[0]: unknown deck class `hgh`")),
        "{errors:?}"
    );
}
