//! The sequencer on instances made by the simulator.

use takt_core::instance::Instance;
use takt_core::network::Network;
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_plan::{Params, bound, solve};
use takt_sim::{Fifo, SimOptions, Simulation};

mod common;
use common::{OTHER, feasible, instance, network};

fn solve_and_check(text: &str, days: u32, seed: u64, scale: f64, iterations: u64) {
    let (net, inst) = instance(text, days, seed, scale);
    let t = std::time::Instant::now();
    let params = Params {
        seed: 5,
        threads: 2,
        max_iterations: Some(iterations),
    };
    let solved = solve(&net, &inst, &params, &|| 0.0).unwrap();
    let lb = bound::lower_bound(&net, &inst);
    eprintln!(
        "{} vehicles: construction {} {:.0}, best {:.0}, bound {:.0} ({:.1}% gap), {} iterations in {:.1?}",
        inst.vehicles.len(),
        solved.construction_name,
        solved.construction.total_usd,
        solved.objective.total_usd,
        lb.total_usd,
        100.0 * (solved.objective.total_usd - lb.total_usd) / solved.objective.total_usd,
        solved.iterations,
        t.elapsed()
    );
    for (name, o) in &solved.constructions {
        eprintln!("{name}: {o:?}");
    }
    eprintln!("{}\n{:?}", solved.objective, lb);
    feasible(&net, &solved.plan, "the solved plan");
    assert!(solved.objective.total_usd <= solved.construction.total_usd);
    assert!(lb.total_usd <= solved.objective.total_usd + 1e-6);
}

#[test]
fn sequencer_improves_on_construction_and_stays_feasible() {
    solve_and_check(BUILTIN_US_JAPAN, 40, 1, 1.0, 30);
    solve_and_check(OTHER, 30, 3, 1.0, 30);
}

/// The time limit holds at any size: once the first construction is
/// decoded (the first feasible plan), a further construction runs only if
/// it fits in what is left. A clock already past the limit gets the first
/// plan and nothing more; a clock that never moves gets every construction.
#[test]
fn constructions_after_the_first_wait_for_time_left() {
    let (net, inst) = instance(BUILTIN_US_JAPAN, 30, 2, 1.0);
    let params = Params {
        seed: 1,
        threads: 2,
        max_iterations: None,
    };
    let late = solve(&net, &inst, &params, &|| 2.0).unwrap();
    assert_eq!(late.constructions.len(), 1, "{:?}", late.constructions);
    assert_eq!(late.construction_name, "keep bookings");
    assert_eq!(late.iterations, 0);
    assert_eq!(late.first_plan_progress, 2.0);
    assert!(takt_check::check(&net, &late.plan).is_feasible());
    let timeless = solve(
        &net,
        &inst,
        &Params {
            max_iterations: Some(1),
            ..params
        },
        &|| 0.0,
    )
    .unwrap();
    assert!(
        timeless.constructions.len() >= 4,
        "{:?}",
        timeless.constructions
    );
    assert_eq!(timeless.first_plan_progress, 0.0);
}

/// Whether the slow suite runs (`TAKT_SLOW_TESTS=1`, ideally with
/// `--release`); otherwise the slow tests say so and pass.
fn slow_tests(name: &str) -> bool {
    let on = std::env::var("TAKT_SLOW_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("skipped {name}: set TAKT_SLOW_TESTS=1 to run it");
    }
    on
}

/// A longer search on a larger instance: `TAKT_SLOW_TESTS=1 cargo test -p
/// takt-plan --release longer_search -- --nocapture`.
#[test]
fn longer_search() {
    if !slow_tests("longer_search") {
        return;
    }
    solve_and_check(BUILTIN_US_JAPAN, 56, 1, 2.174, 400);
}

mod repair {
    use super::*;
    use takt_core::Minute;
    use takt_core::plan::Stage;
    use takt_plan::Gene;
    use takt_plan::repair::{Disruption, repair};

    fn repaired_is_feasible(
        net: &Network,
        inst: &Instance,
        d: Disruption,
    ) -> takt_plan::repair::Repaired {
        let genes = vec![Gene::KEEP; inst.vehicles.len()];
        let params = Params {
            seed: 1,
            threads: 1,
            max_iterations: Some(10),
        };
        let t = std::time::Instant::now();
        let r = repair(net, inst, &genes, &d, &params, &|| 0.0).unwrap();
        feasible(net, &r.plan, &format!("{d:?}"));
        eprintln!(
            "{d:?}: before {:.0}, kept {:.0}, repaired {:.0}; {} voyages changed, {} deliveries moved, {} retimed, in {:.1?}",
            r.before_objective.total_usd,
            r.kept_objective.total_usd,
            r.objective.total_usd,
            r.diff.voyage_changed.len(),
            r.diff.delivery_moved.len(),
            r.diff.vehicles_retimed,
            t.elapsed()
        );
        assert!(
            r.objective.total_usd
                <= r.kept_objective.total_usd
                    + 1e-6
                    + 50.0 * r.diff.voyage_changed.len() as f64
                    + 0.5 * r.diff.delivery_moved.iter().map(|x| x.1.abs()).sum::<f64>()
        );
        r
    }

    #[test]
    fn every_kind_of_event_gives_a_feasible_plan_and_says_what_changed() {
        let (net, inst) = instance(BUILTIN_US_JAPAN, 40, 1, 1.0);
        let now = inst.now;
        let find = |stage: Stage| {
            inst.vehicles
                .iter()
                .find(|v| v.steps.last().is_some_and(|s| s.stage == stage && !s.done))
                .map(|v| v.vin.clone())
                .unwrap_or_else(|| panic!("a vehicle in {stage}"))
        };
        // A train arrives a day late.
        let late = find(Stage::Inland);
        let r = repaired_is_feasible(
            &net,
            &inst,
            Disruption::ArrivedLate {
                vin: late.clone(),
                hours: 24.0,
            },
        );
        let v = r.instance.vehicles.iter().find(|v| v.vin == late).unwrap();
        let was = inst.vehicles.iter().find(|v| v.vin == late).unwrap();
        assert_eq!(
            v.steps.last().unwrap().end,
            was.steps.last().unwrap().end.plus(24 * 60)
        );
        // A processing station down for two hours from now: the plan knows it.
        let r = repaired_is_feasible(
            &net,
            &inst,
            Disruption::StationDown {
                resource: "USLGB/processing".into(),
                from: now,
                hours: 2.0,
                servers: 1,
            },
        );
        assert!(
            r.plan
                .outages
                .iter()
                .any(|o| o.resource == "USLGB/processing" && o.from == now)
        );
        // The same announced for tomorrow.
        let r = repaired_is_feasible(
            &net,
            &inst,
            Disruption::StationDown {
                resource: "USLGB/processing".into(),
                from: now.plus(Minute::DAY),
                hours: 2.0,
                servers: 1,
            },
        );
        assert!(
            r.plan
                .outages
                .iter()
                .any(|o| o.resource == "USLGB/processing" && o.from >= now.plus(Minute::DAY))
        );
        // A gang missing for a shift.
        repaired_is_feasible(
            &net,
            &inst,
            Disruption::GangShort {
                resource: "USLGB/loading".into(),
                from: now,
                hours: 8.0,
                gangs: 1,
            },
        );
        // A vessel 18 hours late: vehicles aboard berth later.
        let at_sea = inst
            .vehicles
            .iter()
            .find(|v| v.steps.last().is_some_and(|s| s.stage == Stage::Voyage))
            .unwrap();
        let voyage = at_sea.steps.last().unwrap().resource.clone();
        let r = repaired_is_feasible(
            &net,
            &inst,
            Disruption::VesselMoved {
                voyage,
                hours: 18.0,
                from_port: None,
            },
        );
        let after = r
            .plan
            .vehicles
            .iter()
            .find(|v| v.vin == at_sea.vin)
            .unwrap();
        let before = r
            .before
            .vehicles
            .iter()
            .find(|v| v.vin == at_sea.vin)
            .unwrap();
        assert!(
            after.step(Stage::Discharge).unwrap().start
                >= before.step(Stage::Discharge).unwrap().start.plus(17 * 60)
        );
        // A hold on a staged vehicle for two days, then released.
        let staged = find(Stage::Yard);
        let r = repaired_is_feasible(
            &net,
            &inst,
            Disruption::HoldPlaced {
                vin: staged.clone(),
                reason: "damage".into(),
                hours: 48.0,
            },
        );
        let held = r.plan.vehicles.iter().find(|v| v.vin == staged).unwrap();
        assert!(
            held.step(Stage::Loading)
                .is_none_or(|s| s.start >= now.plus(48 * 60))
        );
        let r2 = repaired_is_feasible(
            &net,
            &r.instance,
            Disruption::HoldReleased {
                vin: staged.clone(),
            },
        );
        assert!(
            r2.instance
                .vehicles
                .iter()
                .find(|v| v.vin == staged)
                .unwrap()
                .holds
                .iter()
                .all(|h| h.to <= now)
        );
        // Bad events are refused with a reason, nothing applied.
        let genes = vec![Gene::KEEP; inst.vehicles.len()];
        let params = Params {
            seed: 1,
            threads: 1,
            max_iterations: Some(1),
        };
        for bad in [
            Disruption::ArrivedLate {
                vin: staged.clone(),
                hours: 3.0,
            },
            Disruption::StationDown {
                resource: "nowhere".into(),
                from: now,
                hours: 2.0,
                servers: 1,
            },
            Disruption::GangShort {
                resource: "USLGB/processing".into(),
                from: now,
                hours: 8.0,
                gangs: 1,
            },
            Disruption::HoldReleased { vin: late.clone() },
            Disruption::VesselMoved {
                voyage: "nope".into(),
                hours: 1.0,
                from_port: None,
            },
        ] {
            let e = repair(&net, &inst, &genes, &bad, &params, &|| 0.0).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
    }
}

/// What one decode costs, printed: `TAKT_SLOW_TESTS=1 cargo test -p
/// takt-plan --release decode_cost -- --nocapture`.
#[test]
fn decode_cost() {
    if !slow_tests("decode_cost") {
        return;
    }
    let (net, inst) = instance(BUILTIN_US_JAPAN, 56, 1, 2.174);
    let t = std::time::Instant::now();
    for _ in 0..10 {
        std::hint::black_box(net.clone());
    }
    eprintln!("network clone {:?}", t.elapsed() / 10);
    let t = std::time::Instant::now();
    let mut sims = Vec::new();
    for _ in 0..10 {
        sims.push(
            Simulation::from_instance(
                net.clone(),
                &inst,
                Box::new(Fifo),
                &takt_sim::world::Rebook::Keep,
            )
            .unwrap(),
        );
    }
    eprintln!("from_instance {:?}", t.elapsed() / 10);
    let t = std::time::Instant::now();
    for s in &sims {
        std::hint::black_box(s.plan(false));
    }
    eprintln!("plan {:?}", t.elapsed() / 10);
    let t = std::time::Instant::now();
    for s in &sims {
        std::hint::black_box(s.clone());
    }
    eprintln!("sim clone {:?}", t.elapsed() / 10);
}

/// The sequencer in the loop: deterministic for a seed, every vehicle
/// planned feasibly, and the world's rules still hold after re-routing and
/// repairing.
#[test]
fn live_replanning_is_deterministic_and_feasible() {
    use takt_plan::live::Live;
    let run = || {
        let net = network(BUILTIN_US_JAPAN, 28, 1.0);
        let mut live = Live::new(Params {
            seed: 3,
            threads: 2,
            max_iterations: Some(3),
        });
        let mut sim = Simulation::new(
            net,
            live.policy(),
            SimOptions {
                seed: 3,
                volume_scale: 1.0,
            },
        );
        let start = sim.net.start;
        let mut events = Vec::new();
        for day in 1..=28 {
            let until = start.plus(day * takt_core::Minute::DAY);
            live.advance(&mut sim, until, &|| 0.0).unwrap();
            events.extend(sim.drain_milestones());
        }
        (sim, live, events)
    };
    let (sim, live, a) = run();
    let (_, live_b, b) = run();
    assert_eq!(a, b, "same seed, same events");
    assert_eq!(live.replans, 28);
    assert_eq!(live.repairs, live_b.repairs);
    assert!(
        live.repairs.values().sum::<u64>() > 0,
        "disruptions were repaired: {:?}",
        live.repairs
    );
    assert!(a.iter().any(|m| m.milestone == "delivered"));
    feasible(&sim.net, &sim.plan(true), "the live plan");
}

/// A repair changes the routes of the vehicles its notice reaches that
/// have left their plant, and of no other: the late train's, the vehicle
/// put on hold, those booked on the late vessel, those heading to or at
/// the terminal whose station went down. Over six weeks some repairs do
/// re-route vehicles.
#[test]
fn repairs_reroute_only_the_vehicles_their_notice_reaches() {
    use takt_plan::live::Live;
    use takt_sim::world::Notice;
    let net = network(BUILTIN_US_JAPAN, 42, 1.0);
    let mut live = Live::new(Params {
        seed: 5,
        threads: 2,
        max_iterations: Some(2),
    });
    let mut sim = Simulation::new(
        net,
        live.policy(),
        SimOptions {
            seed: 5,
            volume_scale: 1.0,
        },
    );
    sim.watch = true;
    let start = sim.net.start;
    let (mut repairs, mut changed_total) = (0, 0);
    for day in 1..=42 {
        let until = start.plus(day * takt_core::Minute::DAY);
        while sim.run_until_notice(until) {
            let notices = sim.take_notices();
            let before: Vec<_> = sim.vehicles.iter().map(|v| v.route).collect();
            let reached = |vid: usize| {
                let v = &sim.vehicles[vid];
                let at_plant = v.last_stage() == Some(takt_core::plan::Stage::Released);
                !at_plant
                    && notices.iter().any(|n| match n {
                        Notice::ArrivedLate { vids, .. } => vids.contains(&vid),
                        Notice::HoldPlaced { vid: held } => *held == vid,
                        Notice::VesselLate { voyage, .. } => {
                            before[vid].is_some_and(|r| r.voyage == *voyage)
                        }
                        Notice::StationDown { terminal, .. } => v.terminal == Some(*terminal),
                    })
            };
            let reached: Vec<bool> = (0..sim.vehicles.len()).map(reached).collect();
            if live.repair(&mut sim, &notices).unwrap() {
                repairs += 1;
            }
            for (vid, v) in sim.vehicles.iter().enumerate().take(before.len()) {
                if v.route != before[vid] {
                    changed_total += 1;
                    assert!(
                        reached[vid],
                        "vehicle {vid} re-routed by a repair of {notices:?} it was not reached by"
                    );
                }
            }
        }
        live.replan(&mut sim).unwrap();
    }
    assert!(repairs > 10, "{repairs} repairs");
    assert_eq!(live.repairs.values().sum::<u64>(), repairs);
    assert!(changed_total > 0, "no repair re-routed anything");
    // The counter counts vehicles routed again, some of which choose the
    // route they had.
    assert!(live.repair_rerouted as usize >= changed_total);
}

/// In the certification queue the sequencer's policy sends a vehicle that
/// can no longer reach its dealer by its promised date behind those that
/// still can, once: an overloaded queue served by promised date alone made
/// nearly every vehicle late (the Atlantic network's on-time rate was set
/// by it, below FIFO's).
#[test]
fn certification_serves_first_the_vehicles_that_can_still_be_on_time() {
    use takt_core::network::ResourceKind;
    use takt_plan::guided::{CANNOT_BE_ON_TIME, Guided, can_deliver_on_time};
    use takt_plan::live::FALLBACK;
    use takt_sim::Policy;
    let net = network(OTHER, 28, 1.0);
    let mut sim = Simulation::new(
        net.clone(),
        Box::new(Fifo),
        SimOptions {
            seed: 1,
            volume_scale: 1.0,
        },
    );
    sim.run_until(net.start.plus(7 * takt_core::Minute::DAY));
    let mut v = sim.vehicles[0].clone();
    let now = sim.now;
    let mut policy = Guided::new(std::sync::Arc::new(Vec::new()), FALLBACK);
    let priority = v.promised_by.0;
    let mut requeue = |v: &takt_sim::Vehicle, priority: i64| {
        policy.requeue(&net, ResourceKind::Certification, v, now, 30, priority)
    };
    // Promised a month from now: served in its turn.
    v.promised_by = now.plus(30 * takt_core::Minute::DAY);
    assert!(can_deliver_on_time(&net, &v, now.plus(30)));
    assert_eq!(requeue(&v, priority), None);
    // Promised an hour from now: no delivery departure makes it.
    v.promised_by = now.plus(60);
    assert!(!can_deliver_on_time(&net, &v, now.plus(30)));
    assert_eq!(requeue(&v, priority), Some(priority + CANNOT_BE_ON_TIME));
    // Sent back once only, or the queue would loop.
    assert_eq!(requeue(&v, priority + CANNOT_BE_ON_TIME), None);
    // Other queues keep their order.
    assert_eq!(
        policy.requeue(&net, ResourceKind::Processing, &v, now, 30, priority),
        None
    );
    // A vehicle whose gene keeps its place is served in its turn, hopeless
    // or not: the search decides per vehicle.
    let genes = vec![
        takt_plan::Gene {
            keep_place: true,
            ..FALLBACK
        };
        v.id + 1
    ];
    let mut keeping = Guided::new(std::sync::Arc::new(genes), FALLBACK);
    assert_eq!(
        keeping.requeue(&net, ResourceKind::Certification, &v, now, 30, priority),
        None
    );
}

/// `takt plan` tries the best construction again with every vehicle keeping
/// its place in the certification queue, and the search may change it
/// vehicle by vehicle.
#[test]
fn the_search_decides_whether_hopeless_vehicles_yield() {
    let (net, inst) = instance(OTHER, 30, 3, 1.0);
    let params = Params {
        seed: 1,
        threads: 2,
        max_iterations: Some(10),
    };
    let solved = solve(&net, &inst, &params, &|| 0.0).unwrap();
    assert!(
        solved
            .constructions
            .iter()
            .any(|(name, _)| *name == "best construction, keeping places"),
        "{:?}",
        solved.constructions
    );
    assert!(takt_check::check(&net, &solved.plan).is_feasible());
}
