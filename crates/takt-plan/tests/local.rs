//! Local repair: every event leaves a plan the checker accepts, changes
//! only what the event reaches, and a refused or unplaceable event leaves
//! the plan as it was.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use takt_core::instance::Instance;
use takt_core::network::Network;
use takt_core::plan::{Plan, Stage};
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_plan::local::{LocalError, LocalRepair, random_event};
use takt_plan::repair::Disruption;
use takt_plan::{Gene, decode};

mod common;
use common::{OTHER, TWO_BY_THREE, feasible, instance};

fn planned(text: &str, days: u32, seed: u64) -> (Network, Instance, Plan) {
    let (net, inst) = instance(text, days, seed, 1.0);
    let genes = vec![Gene::KEEP; inst.vehicles.len()];
    let (plan, _) = decode(&net, &inst, &genes).unwrap();
    (net, inst, plan)
}

/// A stream of random events, each repaired on the plan the last one left.
fn stream(text: &str, days: u32, seed: u64, events: usize) -> (usize, usize) {
    let (net, _, plan) = planned(text, days, seed);
    feasible(&net, &plan, "the decoded plan");
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
                // The kept indexes against a rebuild (every few events: a
                // rebuild costs a pass over the whole plan).
                if (k % 7 == 0 || matches!(d, Disruption::VesselMoved { .. }))
                    && let Err(e) = lr.verify_indexes()
                {
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
    lr.verify_indexes().unwrap();
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

/// The vehicles whose steps differ between two plans of the same vehicles.
fn changed(a: &Plan, b: &Plan) -> Vec<usize> {
    (0..a.vehicles.len())
        .filter(|&i| a.vehicles[i] != b.vehicles[i])
        .collect()
}

#[test]
fn a_station_outage_moves_only_the_steps_it_overlaps_and_their_sequels() {
    let (net, _, plan) = planned(BUILTIN_US_JAPAN, 40, 1);
    feasible(&net, &plan, "the decoded plan");
    let now = plan.created_at;
    // The busiest planned minute of Long Beach processing in the next days.
    let pool = "USLGB/processing";
    let steps: Vec<(usize, takt_core::Minute, takt_core::Minute)> = plan
        .vehicles
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            v.steps
                .iter()
                .find(|s| s.resource == pool && !s.done && s.start >= now)
                .map(|s| (i, s.start, s.end))
        })
        .collect();
    assert!(!steps.is_empty(), "planned processing at {pool}");
    let from = steps.iter().map(|s| s.1).min().unwrap();
    // Every server out for two hours.
    let servers = net.resources[net.resource_index(pool).unwrap()]
        .calendar
        .full
        .max(1);
    let to = from.plus(120);
    let mut lr = LocalRepair::new(&net, plan.clone());
    let out = lr
        .repair(&Disruption::StationDown {
            resource: pool.into(),
            from,
            hours: 2.0,
            servers,
        })
        .unwrap();
    let after = lr.plan();
    feasible(&net, after, "station down");
    let hit: Vec<usize> = steps
        .iter()
        .filter(|s| s.2 > from && s.1 < to)
        .map(|s| s.0)
        .collect();
    assert!(!hit.is_empty());
    assert_eq!(out.displaced, hit.len());
    for &i in &hit {
        let s = after.vehicles[i].step(Stage::Processing).unwrap();
        assert!(
            s.start >= to || s.end <= from,
            "{} still in the outage",
            after.vehicles[i].vin
        );
    }
    for i in changed(&plan, after) {
        assert!(
            hit.contains(&i),
            "{} changed but was not hit",
            plan.vehicles[i].vin
        );
    }
    assert!(
        after
            .outages
            .iter()
            .any(|o| o.resource == pool && o.from == from && o.to == to)
    );
}

#[test]
fn a_late_vessel_moves_its_own_vehicles_and_no_others() {
    let (net, _, plan) = planned(BUILTIN_US_JAPAN, 40, 1);
    let at_sea = plan
        .vehicles
        .iter()
        .find(|v| {
            v.step(Stage::Voyage)
                .is_some_and(|s| !s.done && s.start < plan.created_at)
        })
        .expect("a vehicle at sea");
    let voyage = at_sea.step(Stage::Voyage).unwrap().resource.clone();
    let mut lr = LocalRepair::new(&net, plan.clone());
    let out = lr
        .repair(&Disruption::VesselMoved {
            voyage: voyage.clone(),
            hours: 18.0,
            from_port: None,
        })
        .unwrap();
    let after = lr.plan();
    feasible(&net, after, "vessel moved");
    let v = after.vehicles.iter().find(|v| v.vin == at_sea.vin).unwrap();
    assert!(
        v.step(Stage::Discharge).unwrap().start
            >= at_sea.step(Stage::Discharge).unwrap().start.plus(17 * 60)
    );
    assert!(out.diff.vehicles_retimed > 0);
    for i in changed(&plan, after) {
        let rode = |p: &Plan| {
            p.vehicles[i]
                .step(Stage::Voyage)
                .is_some_and(|s| s.resource == voyage)
        };
        assert!(
            rode(&plan),
            "{} changed but was not on {voyage}",
            plan.vehicles[i].vin
        );
    }
}

#[test]
fn a_hold_keeps_the_vehicle_still_and_its_release_lets_it_go() {
    let (net, _, plan) = planned(BUILTIN_US_JAPAN, 40, 2);
    let now = plan.created_at;
    let staged = plan
        .vehicles
        .iter()
        .find(|v| {
            v.unplaced.is_none()
                && v.step(Stage::Yard).is_some_and(|s| s.start < now)
                && v.step(Stage::Loading).is_some_and(|s| s.start > now)
        })
        .expect("a staged vehicle")
        .vin
        .clone();
    let mut lr = LocalRepair::new(&net, plan.clone());
    lr.repair(&Disruption::HoldPlaced {
        vin: staged.clone(),
        reason: "damage".into(),
        hours: 48.0,
    })
    .unwrap();
    feasible(&net, lr.plan(), "hold placed");
    let v = lr.plan().vehicles.iter().find(|v| v.vin == staged).unwrap();
    let held_from = v.step(Stage::Loading).unwrap().start;
    assert!(
        v.steps
            .iter()
            .all(|s| s.start <= now || s.start >= now.plus(48 * 60))
    );
    lr.repair(&Disruption::HoldReleased {
        vin: staged.clone(),
    })
    .unwrap();
    feasible(&net, lr.plan(), "hold released");
    let v = lr.plan().vehicles.iter().find(|v| v.vin == staged).unwrap();
    assert!(v.holds.iter().all(|h| h.to <= now));
    assert!(v.step(Stage::Loading).unwrap().start <= held_from);
}

#[test]
fn refused_events_say_why_and_change_nothing() {
    let (net, _, plan) = planned(BUILTIN_US_JAPAN, 40, 1);
    let now = plan.created_at;
    let staged = plan
        .vehicles
        .iter()
        .find(|v| {
            v.step(Stage::Yard)
                .is_some_and(|s| s.start < now && s.end > now)
        })
        .unwrap()
        .vin
        .clone();
    let mut lr = LocalRepair::new(&net, plan.clone());
    for (bad, local) in [
        (
            Disruption::ArrivedLate {
                vin: staged.clone(),
                hours: 3.0,
            },
            false,
        ),
        (
            Disruption::ArrivedLate {
                vin: "NOPE".into(),
                hours: 3.0,
            },
            false,
        ),
        (
            Disruption::StationDown {
                resource: "nowhere".into(),
                from: now,
                hours: 2.0,
                servers: 1,
            },
            false,
        ),
        (
            Disruption::GangShort {
                resource: "USLGB/processing".into(),
                from: now,
                hours: 8.0,
                gangs: 1,
            },
            false,
        ),
        (
            Disruption::HoldReleased {
                vin: staged.clone(),
            },
            false,
        ),
        (
            Disruption::VesselMoved {
                voyage: "nope".into(),
                hours: 1.0,
                from_port: None,
            },
            false,
        ),
        (
            Disruption::StationDown {
                resource: "USLGB/processing".into(),
                from: now,
                hours: f64::NAN,
                servers: 1,
            },
            false,
        ),
        // A yard has slots, not servers.
        (
            Disruption::StationDown {
                resource: "USLGB/yard".into(),
                from: now,
                hours: 2.0,
                servers: 1,
            },
            false,
        ),
    ] {
        let e = lr.repair(&bad).unwrap_err();
        match (&e, local) {
            (LocalError::Bad(_), false) | (LocalError::NotLocal(_), true) => {}
            _ => panic!("{bad:?}: {e:?}"),
        }
        assert!(!e.to_string().is_empty());
        assert_eq!(lr.plan(), &plan, "{bad:?} changed the plan");
    }
    lr.verify_indexes().unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 4, ..Default::default() })]

    /// Random instances (network, seed, length of the run before) and random
    /// event streams: every local repair leaves a plan the checker accepts.
    #[test]
    fn any_stream_of_events_leaves_feasible_plans(
        network in 0usize..3,
        seed in 1u64..10_000,
        days in 30u32..50,
    ) {
        let text = [BUILTIN_US_JAPAN, OTHER, TWO_BY_THREE][network];
        let (net, _, plan) = planned(text, days, seed);
        feasible(&net, &plan, "the decoded plan");
        let (done, refused) = stream(text, days, seed, 25);
        proptest::prop_assert!(done + refused > 0);
    }
}
