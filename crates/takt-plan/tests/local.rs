//! Local repair: every event leaves a plan the checker accepts, changes
//! only what the event reaches, and a refused or unplaceable event leaves
//! the plan as it was.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use takt_core::instance::Instance;
use takt_core::network::{CompileOptions, Network};
use takt_core::plan::{Plan, Stage};
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_plan::local::{LocalError, LocalRepair, random_event};
use takt_plan::repair::Disruption;
use takt_plan::{Gene, decode};
use takt_sim::{Fifo, SimOptions, Simulation};

const OTHER: &str = include_str!("../../takt-sim/tests/data/other-network.toml");
const TWO_BY_THREE: &str = include_str!("../../takt-sim/tests/data/two-by-three.toml");

fn planned(text: &str, days: u32, seed: u64) -> (Network, Instance, Plan) {
    let net = Network::load(
        text,
        CompileOptions {
            days,
            volume_scale: 1.0,
        },
    )
    .unwrap()
    .1;
    let mut sim = Simulation::new(
        net.clone(),
        Box::new(Fifo),
        SimOptions {
            seed,
            volume_scale: 1.0,
        },
    );
    sim.run_to_end();
    let inst = sim.instance();
    let genes = vec![Gene::KEEP; inst.vehicles.len()];
    let (plan, _) = decode(&net, &inst, &genes).unwrap();
    assert!(takt_check::check(&net, &plan).is_feasible());
    (net, inst, plan)
}

fn feasible(net: &Network, plan: &Plan, what: &str) {
    let report = takt_check::check(net, plan);
    assert!(
        report.is_feasible(),
        "{what}: {}\n{:#?}",
        takt_check::check_summary(&report),
        report.violations.iter().take(5).collect::<Vec<_>>()
    );
}

/// A stream of random events, each repaired on the plan the last one left.
fn stream(text: &str, days: u32, seed: u64, events: usize) -> (usize, usize) {
    let (net, _, plan) = planned(text, days, seed);
    let mut lr = LocalRepair::new(&net, plan);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut done, mut refused) = (0, 0);
    for k in 0..events {
        let Some(d) = random_event(&net, lr.plan(), &mut rng) else {
            break;
        };
        let before = lr.plan().clone();
        match lr.repair(&d) {
            Ok(out) => {
                feasible(&net, lr.plan(), &format!("event {k}: {d:?}"));
                if let Err(e) = lr.verify_indexes() {
                    panic!("event {k}: {d:?}: {e}");
                }
                assert!(out.diff.vehicles_retimed <= out.displaced + 1, "{d:?}");
                done += 1;
            }
            Err(e) => {
                assert_eq!(
                    lr.plan(),
                    &before,
                    "event {k} {d:?} refused ({e}) but changed the plan"
                );
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    (done, refused)
}

#[test]
fn random_events_on_the_builtin_network_leave_feasible_plans() {
    for seed in 1..=2 {
        let (done, refused) = stream(BUILTIN_US_JAPAN, 40, seed, 60);
        eprintln!("us-japan seed {seed}: {done} repaired, {refused} left to the full repair");
        assert!(done >= 50, "{done} of 60 repaired locally");
    }
}

#[test]
fn random_events_on_other_networks_leave_feasible_plans() {
    let (done, refused) = stream(OTHER, 40, 3, 60);
    eprintln!("other network: {done} repaired, {refused} left to the full repair");
    assert!(done >= 50, "{done} of 60 repaired locally");
    let (done, refused) = stream(TWO_BY_THREE, 40, 4, 60);
    eprintln!("two-by-three: {done} repaired, {refused} left to the full repair");
    assert!(done >= 50, "{done} of 60 repaired locally");
}
