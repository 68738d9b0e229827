//! The insight engine on simulated runs: a constrained resource is ranked
//! first, dwell agrees with the simulator's summary, the figures do not
//! depend on event order, and the OCEL export reads back in `process_mining`.

use std::collections::HashSet;
use takt_core::event::Milestone;
use takt_core::network::{CompileOptions, Network};
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_insight::{InsightError, Options, Report, analyze, html, ocel};
use takt_sim::{Fifo, SimOptions, Simulation, Summary};

/// The built-in scenario with `port`'s processing stations halved (6 to 3).
fn halve_processing(port: &str) -> String {
    let at = BUILTIN_US_JAPAN
        .find(&format!("location = \"{port}\"\nramp"))
        .expect("export terminal");
    let (head, tail) = BUILTIN_US_JAPAN.split_at(at);
    let tail = tail.replacen("processing = { count = 6,", "processing = { count = 3,", 1);
    assert_ne!(tail, &BUILTIN_US_JAPAN[at..], "the edit applied");
    format!("{head}{tail}")
}

fn simulate(text: &str, days: u32, seed: u64) -> (Network, Vec<Milestone>, Summary) {
    let (_, net) = Network::load(
        text,
        CompileOptions {
            days,
            volume_scale: 1.0,
        },
    )
    .expect("valid scenario");
    let mut sim = Simulation::new(
        net.clone(),
        Box::new(Fifo),
        SimOptions {
            seed,
            volume_scale: 1.0,
        },
    );
    sim.run_to_end();
    let events = sim.drain_milestones();
    let summary = Summary::of(&sim, seed);
    (net, events, summary)
}

fn opts_at(net: &Network) -> Options {
    Options {
        as_of: Some(net.end),
        ..Options::default()
    }
}

fn bottleneck<'a>(r: &'a Report, resource: &str) -> &'a takt_insight::Bottleneck {
    r.bottlenecks
        .iter()
        .find(|b| b.resource == resource)
        .expect("resource waited for")
}

#[test]
fn halving_a_resource_puts_it_first_and_says_what_it_cost() {
    // Long Beach takes most of the volume, so its processing is already the
    // worst queue in the built-in run; with half its stations (6 to 3) its
    // waiting more than doubles and dwarfs everything else.
    let (net, events, _) = simulate(BUILTIN_US_JAPAN, 42, 7);
    let base = analyze(&events, &net, &opts_at(&net)).unwrap();
    let base_hours = bottleneck(&base, "USLGB/processing").waiting_vehicle_hours;

    let (net, events, _) = simulate(&halve_processing("USLGB"), 42, 7);
    let r = analyze(&events, &net, &opts_at(&net)).unwrap();
    let top = &r.bottlenecks[0];
    assert_eq!(
        (
            top.rank,
            top.resource.as_str(),
            top.location.as_str(),
            top.kind.as_str()
        ),
        (1, "USLGB/processing", "USLGB", "queue")
    );
    assert!(
        top.waiting_vehicle_hours > 2.0 * base_hours,
        "{} vs {base_hours}",
        top.waiting_vehicle_hours
    );
    assert!(top.waiting_vehicle_hours > 3.0 * r.bottlenecks[1].waiting_vehicle_hours);
    assert_eq!(top.time_zone, "America/Los_Angeles");
    assert_eq!(top.peak_hours.len(), 3);
    let by_hour: f64 = top.waiting_by_hour_of_week.iter().sum();
    assert!(
        (by_hour - top.waiting_vehicle_hours).abs() < 1.0,
        "{by_hour}"
    );
    // The report says how many vehicle-hours it cost, and where.
    let html = html::render(&r, &net);
    let cost = format!(
        "USLGB/processing</b><span>top bottleneck: {} vehicle-hours",
        html::fmt_num(top.waiting_vehicle_hours, 1)
    );
    assert!(html.contains(&cost), "{cost}");
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    // The JSON has the documented keys.
    let json = serde_json::to_value(&r).unwrap();
    let b0 = &json["bottlenecks"][0];
    for key in ["resource", "location", "waiting_vehicle_hours"] {
        assert!(!b0[key].is_null(), "bottlenecks[0].{key}");
    }
    let d0 = &json["dwell_hours"][0];
    for key in ["stage", "location", "p50", "p90", "p95", "vehicle_hours"] {
        assert!(!d0[key].is_null(), "dwell_hours[0].{key}");
    }
}

#[test]
fn dwell_agrees_with_the_simulator_summary() {
    let (net, events, summary) = simulate(BUILTIN_US_JAPAN, 56, 11);
    let r = analyze(&events, &net, &opts_at(&net)).unwrap();
    // Stages whose ends the log carries exactly (inland and voyage end at an
    // arrival the log estimates; see the crate docs).
    for stage in [
        "released",
        "processing",
        "yard",
        "loading",
        "certification",
        "delivery",
    ] {
        let ours = r
            .dwell_hours_by_stage
            .iter()
            .find(|d| d.stage == stage)
            .unwrap();
        let theirs = &summary.dwell_hours[stage];
        assert_eq!(
            (ours.hours.n, ours.hours.p50, ours.hours.p90),
            (theirs.n, theirs.p50, theirs.p90),
            "{stage}"
        );
    }
    // Per location rows add up to the stage.
    for s in &r.dwell_hours_by_stage {
        let n: usize = r
            .dwell_hours
            .iter()
            .filter(|d| d.stage == s.stage)
            .map(|d| d.hours.n)
            .sum();
        assert_eq!(n, s.hours.n, "{}", s.stage);
    }
}

#[test]
fn figures_do_not_depend_on_event_order_or_repeats() {
    let (net, events, _) = simulate(&halve_processing("USLGB"), 28, 3);
    let opts = Options {
        late_threshold_minutes: 12 * 60,
        ..opts_at(&net)
    };
    let a = analyze(&events, &net, &opts).unwrap();
    // A deterministic shuffle, with every seventh event delivered twice.
    let mut shuffled = events.clone();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..shuffled.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        shuffled.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let repeats: Vec<_> = shuffled.iter().step_by(7).cloned().collect();
    shuffled.extend(repeats);
    let b = analyze(&shuffled, &net, &opts).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert_eq!(a.n_events, events.len());
    let oa = serde_json::to_string(&ocel::export(&events, &net)).unwrap();
    let ob = serde_json::to_string(&ocel::export(&shuffled, &net)).unwrap();
    assert_eq!(oa, ob);
}

#[test]
fn plan_versus_actual_rolls_and_filters() {
    let (net, events, _) = simulate(&halve_processing("USLGB"), 42, 7);
    let r = analyze(&events, &net, &opts_at(&net)).unwrap();
    let sail = r
        .plan_vs_actual
        .iter()
        .find(|a| a.milestone == "vessel_departed")
        .unwrap();
    assert_eq!(sail.early + sail.on_time + sail.late, sail.n);
    assert!(sail.late > 0 && r.rolls.n_rolls > 0);
    assert!(
        r.late_milestones
            .windows(2)
            .all(|w| w[0].deviation_hours >= w[1].deviation_hours)
    );
    let rolled: usize = r.rolls.by_cause.iter().map(|c| c.n_rolls).sum();
    assert_eq!(rolled, r.rolls.n_rolls);
    assert!(
        !r.weekly.is_empty() && r.weekly.iter().map(|w| w.rolls).sum::<usize>() == r.rolls.n_rolls
    );

    // A window keeps only what ends inside it.
    let from = net.start.plus(14 * 1440);
    let to = net.start.plus(28 * 1440);
    let w = analyze(
        &events,
        &net,
        &Options {
            from: Some(from),
            to: Some(to),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(w.as_of, to);
    assert!(w.weekly.iter().all(|x| x.week_start < to));
    let released: usize = w.weekly.iter().map(|x| x.released).sum();
    let expected = {
        let mut vins: Vec<&str> = events
            .iter()
            .filter(|e| e.milestone == "released" && e.at >= from && e.at < to)
            .map(|e| e.vin.as_str())
            .collect();
        vins.dedup();
        vins.len()
    };
    assert_eq!(released, expected);

    // Tenants: unknown ones are an error, known ones filter.
    let err = analyze(
        &events,
        &net,
        &Options {
            tenant: Some("nobody".into()),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, InsightError::UnknownTenant { .. }), "{err}");
    let t = analyze(
        &events,
        &net,
        &Options {
            tenant: Some(net.tenants[0].id.clone()),
            ..opts_at(&net)
        },
    )
    .unwrap();
    assert_eq!(
        t.n_events,
        events
            .iter()
            .filter(|e| e.tenant == net.tenants[0].id)
            .count()
    );
}

#[test]
fn ocel_export_round_trips_through_process_mining() {
    let (net, events, _) = simulate(BUILTIN_US_JAPAN, 28, 5);
    let log = ocel::export(&events, &net);
    let json = serde_json::to_string(&log).unwrap();
    let back = process_mining::core::event_data::object_centric::ocel_json::import_ocel_json_slice(
        json.as_bytes(),
    )
    .expect("process_mining reads takt's OCEL 2.0 JSON");
    assert_eq!(back.events.len(), events.len());
    let ids: HashSet<&str> = back.events.iter().map(|e| e.id.as_str()).collect();
    assert!(events.iter().all(|e| ids.contains(e.event_id.as_str())));
    assert_eq!(back.objects.len(), log.objects.len());
    let objects: HashSet<(&str, &str)> = back
        .objects
        .iter()
        .map(|o| (o.id.as_str(), o.object_type.as_str()))
        .collect();
    let vins: HashSet<&str> = events.iter().map(|e| e.vin.as_str()).collect();
    assert!(vins.iter().all(|v| objects.contains(&(*v, "vehicle"))));
    // Every relation points at an object that exists.
    for e in &back.events {
        for r in e.relationships.iter() {
            assert!(
                objects.iter().any(|(id, _)| *id == r.object_id),
                "{}",
                r.object_id
            );
        }
        let ours = events.iter().find(|x| x.event_id == e.id).unwrap();
        assert_eq!(e.time.timestamp() / 60, ours.at.0);
        assert_eq!(e.event_type, ours.milestone);
    }
    // Every vehicle that departed inland rides its load.
    for o in back.objects.iter().filter(|o| o.object_type == "vehicle") {
        let departed = events
            .iter()
            .any(|e| e.vin == o.id && e.milestone == "inland_departed");
        let rides = o.relationships.iter().any(|r| r.qualifier == "rides");
        assert_eq!(departed, rides, "{}", o.id);
    }
    let shipped = back
        .objects
        .iter()
        .filter(|o| o.relationships.iter().any(|r| r.qualifier == "shipped_on"))
        .count();
    let sailed: HashSet<&str> = events
        .iter()
        .filter(|e| e.milestone == "vessel_departed")
        .map(|e| e.vin.as_str())
        .collect();
    assert_eq!(shipped, sailed.len());
    assert!(back.object_types.iter().any(|t| t.name == "inland_load"));
}

/// The scale check: an OCEL export of a simulation of at least one
/// million events reads back through `process_mining` with every event and
/// object. Slow (about a minute in release), so it runs only with
/// `TAKT_SLOW_TESTS=1`; run it with `--release`.
#[test]
fn a_million_event_ocel_export_round_trips_through_process_mining() {
    if std::env::var("TAKT_SLOW_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set TAKT_SLOW_TESTS=1 to run the one-million-event round trip");
        return;
    }
    let (days, scale) = (300, 10.0);
    let (_, net) = Network::load(
        BUILTIN_US_JAPAN,
        CompileOptions {
            days,
            volume_scale: scale,
        },
    )
    .unwrap();
    let mut sim = Simulation::new(
        net.clone(),
        Box::new(Fifo),
        SimOptions {
            seed: 3,
            volume_scale: scale,
        },
    );
    sim.run_to_end();
    let events = sim.drain_milestones();
    assert!(events.len() >= 1_000_000, "{} events", events.len());
    let started = std::time::Instant::now();
    let log = ocel::export(&events, &net);
    let json = serde_json::to_vec(&log).unwrap();
    let exported = started.elapsed();
    let back =
        process_mining::core::event_data::object_centric::ocel_json::import_ocel_json_slice(&json)
            .expect("process_mining reads takt's OCEL 2.0 JSON");
    eprintln!(
        "{} events, {} objects, {} MB of JSON; export {:.1} s, process_mining import {:.1} s",
        events.len(),
        log.objects.len(),
        json.len() / 1_000_000,
        exported.as_secs_f64(),
        (started.elapsed() - exported).as_secs_f64()
    );
    assert_eq!(back.events.len(), events.len());
    assert_eq!(back.objects.len(), log.objects.len());
    let ids: HashSet<&str> = back.events.iter().map(|e| e.id.as_str()).collect();
    assert!(events.iter().all(|e| ids.contains(e.event_id.as_str())));
    let objects: HashSet<&str> = back.objects.iter().map(|o| o.id.as_str()).collect();
    assert!(back.events.iter().all(|e| {
        e.relationships
            .iter()
            .all(|r| objects.contains(r.object_id.as_str()))
    }));
}
