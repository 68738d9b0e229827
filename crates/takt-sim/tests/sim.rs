//! The simulator end to end: determinism, VINs, journey order, and every
//! plan it makes passing the independent checker.

use proptest::prelude::*;
use std::collections::HashMap;
use takt_core::network::{CompileOptions, Network};
use takt_core::plan::Stage;
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_core::vin::Vin;
use takt_sim::world::MILESTONES;
use takt_sim::{Fifo, Milestone, SimOptions, Simulation, Summary};

const OTHER: &str = include_str!("data/other-network.toml");

fn network(text: &str, days: u32) -> Network {
    Network::load(
        text,
        CompileOptions {
            days,
            volume_scale: 1.0,
        },
    )
    .expect("valid scenario")
    .1
}

fn run(text: &str, days: u32, seed: u64) -> (Simulation, Vec<Milestone>) {
    let mut sim = Simulation::new(
        network(text, days),
        Box::new(Fifo),
        SimOptions {
            seed,
            volume_scale: 1.0,
        },
    );
    sim.run_to_end();
    let milestones = sim.drain_milestones();
    (sim, milestones)
}

fn jsonl(ms: &[Milestone]) -> String {
    ms.iter()
        .map(|m| serde_json::to_string(m).unwrap() + "\n")
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_events() {
    let (_, a) = run(BUILTIN_US_JAPAN, 21, 7);
    let (_, b) = run(BUILTIN_US_JAPAN, 21, 7);
    let (_, c) = run(BUILTIN_US_JAPAN, 21, 8);
    assert!(a.len() > 1000, "{} milestones", a.len());
    assert_eq!(jsonl(&a), jsonl(&b));
    assert_ne!(jsonl(&a), jsonl(&c));
}

#[test]
fn milestones_carry_valid_unique_vins_in_journey_order() {
    let (sim, ms) = run(BUILTIN_US_JAPAN, 56, 3);
    let order: HashMap<&str, usize> = MILESTONES
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    let mut last: HashMap<&str, (usize, takt_core::Minute)> = HashMap::new();
    let mut delivered = 0;
    for m in &ms {
        let vin = Vin::parse(&m.vin).unwrap_or_else(|e| panic!("{}: {e}", m.vin));
        assert!(vin.is_north_american());
        assert!(["4T1", "5TD", "5TF"].contains(&vin.wmi()), "{}", m.vin);
        // Milestones of the journey come in order; holds and rolls may come in between.
        if let Some(&i) = order.get(m.milestone) {
            if let Some(&(j, at)) = last.get(m.vin.as_str()) {
                assert!(
                    i > j,
                    "{}: {} after {}",
                    m.vin,
                    m.milestone,
                    MILESTONES[j].0
                );
                assert!(m.at >= at, "{}: {} goes back in time", m.vin, m.milestone);
            } else {
                assert_eq!(
                    m.milestone, "released",
                    "{} starts with {}",
                    m.vin, m.milestone
                );
            }
            last.insert(&m.vin, (i, m.at));
            delivered += usize::from(m.milestone == "delivered");
        } else {
            assert!(
                ["hold_placed", "hold_released", "rolled"].contains(&m.milestone),
                "{}",
                m.milestone
            );
        }
    }
    // One VIN per vehicle.
    assert_eq!(last.len(), sim.vehicles.len());
    assert!(delivered > 300, "{delivered} delivered in 8 weeks");
    // Instants are whole minutes in UTC.
    assert!(ms.iter().all(|m| m.at.rfc3339().ends_with(":00Z")));
}

#[test]
fn summary_figures_are_consistent() {
    let (sim, _) = run(BUILTIN_US_JAPAN, 56, 1);
    let s = Summary::of(&sim, 1);
    assert_eq!(
        s.vehicles_released,
        s.vehicles_delivered + s.vehicles_in_pipeline
    );
    assert!((0.0..=1.0).contains(&s.on_time_rate));
    assert!(
        s.vessel_utilization > 0.2 && s.vessel_utilization <= 1.0,
        "{}",
        s.vessel_utilization
    );
    assert!(
        s.port_dwell_hours_mean > 24.0,
        "{}",
        s.port_dwell_hours_mean
    );
    for stage in Stage::ALL {
        let q = &s.dwell_hours[stage.name()];
        assert!(q.n > 0 && q.p50 <= q.p90, "{stage}: {q:?}");
    }
    // Inland transit is days, not minutes; the voyage about 11-13 days.
    assert!(s.dwell_hours["inland"].p50 > 48.0);
    assert!(
        (240.0..400.0).contains(&s.dwell_hours["voyage"].p50),
        "{:?}",
        s.dwell_hours["voyage"]
    );
    // Per-model figures add up.
    assert_eq!(
        s.by_model.iter().map(|m| m.released).sum::<usize>(),
        s.vehicles_released
    );
}

#[test]
fn another_network_runs_without_code_changes() {
    let (sim, ms) = run(OTHER, 42, 5);
    let s = Summary::of(&sim, 5);
    assert!(s.vehicles_delivered > 100, "{s:?}");
    let tenants: std::collections::BTreeSet<&str> = ms.iter().map(|m| m.tenant.as_str()).collect();
    assert_eq!(tenants.into_iter().collect::<Vec<_>>(), ["acme", "zenith"]);
    assert!(ms.iter().any(|m| m.location == "BEZEE"));
    let plan = sim.plan(true);
    let report = takt_check::check(&sim.net, &plan);
    assert!(
        report.is_feasible(),
        "{}",
        takt_check::check_summary(&report)
    );
}

#[test]
fn approval_gates_certification() {
    // Camry approved only from 2026-04-06: no Camry starts certification before.
    let text = BUILTIN_US_JAPAN.replacen(
        "approved_on = \"2026-02-16\"",
        "approved_on = \"2026-04-06\"",
        1,
    );
    let (sim, ms) = run(&text, 70, 2);
    let approval = sim.net.models[sim.net.model_index("camry").unwrap()]
        .cert
        .approved_from
        .unwrap();
    let camry_certs: Vec<_> = ms
        .iter()
        .filter(|m| m.model == "camry" && m.milestone == "certification_started")
        .collect();
    assert!(!camry_certs.is_empty());
    assert!(camry_certs.iter().all(|m| m.at >= approval));
    let report = takt_check::check(&sim.net, &sim.plan(true));
    assert!(
        report.is_feasible(),
        "{}",
        takt_check::check_summary(&report)
    );
}

#[test]
fn plan_mid_run_marks_done_and_planned_steps() {
    let mut sim = Simulation::new(
        network(BUILTIN_US_JAPAN, 56),
        Box::new(Fifo),
        SimOptions {
            seed: 4,
            volume_scale: 1.0,
        },
    );
    let mid = sim.net.start.plus(30 * takt_core::Minute::DAY);
    sim.run_until(mid);
    let plan = sim.plan(false);
    assert_eq!(plan.created_at, mid);
    assert!(!plan.vehicles.is_empty());
    for v in &plan.vehicles {
        for s in &v.steps {
            if s.done {
                assert!(s.end <= mid, "{} {}", v.vin, s.stage);
            }
        }
    }
    // Most vehicles in the pipeline are planned through delivery.
    let complete = plan
        .vehicles
        .iter()
        .filter(|v| v.unplaced.is_none())
        .count();
    assert!(
        complete * 10 >= plan.vehicles.len() * 9,
        "{complete} of {}",
        plan.vehicles.len()
    );
    let report = takt_check::check(&sim.net, &plan);
    assert!(
        report.is_feasible(),
        "{}",
        takt_check::check_summary(&report)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the seed and however far the run has got, the simulator's
    /// plan (history plus projection) passes the independent checker.
    #[test]
    fn every_plan_passes_the_checker(seed in 0u64..1_000_000, days in 10u32..60, scale in prop::sample::select(vec![0.5, 1.0, 3.0])) {
        let net = Network::load(BUILTIN_US_JAPAN, CompileOptions { days, volume_scale: scale }).unwrap().1;
        let mut sim = Simulation::new(net, Box::new(Fifo), SimOptions { seed, volume_scale: scale });
        sim.run_to_end();
        let plan = sim.plan(true);
        let report = takt_check::check(&sim.net, &plan);
        prop_assert!(report.is_feasible(), "seed {seed}, {days} days, scale {scale}: {}\n{:?}", takt_check::check_summary(&report), report.violations.iter().take(5).collect::<Vec<_>>());
    }
}
