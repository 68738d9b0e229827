//! The sequencer on instances made by the simulator.

use takt_core::instance::Instance;
use takt_core::network::{CompileOptions, Network};
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_plan::{Params, bound, solve};
use takt_sim::{Fifo, SimOptions, Simulation};

const OTHER: &str = include_str!("../../takt-sim/tests/data/other-network.toml");

fn instance(text: &str, days: u32, seed: u64, scale: f64) -> (Network, Instance) {
    let net = Network::load(
        text,
        CompileOptions {
            days,
            volume_scale: scale,
        },
    )
    .unwrap()
    .1;
    let mut sim = Simulation::new(
        net.clone(),
        Box::new(Fifo),
        SimOptions {
            seed,
            volume_scale: scale,
        },
    );
    sim.run_to_end();
    (net, sim.instance())
}

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
    let report = takt_check::check(&net, &solved.plan);
    assert!(
        report.is_feasible(),
        "{}",
        takt_check::check_summary(&report)
    );
    assert!(solved.objective.total_usd <= solved.construction.total_usd);
    assert!(lb.total_usd <= solved.objective.total_usd + 1e-6);
}

#[test]
fn sequencer_improves_on_construction_and_stays_feasible() {
    solve_and_check(BUILTIN_US_JAPAN, 40, 1, 1.0, 30);
    solve_and_check(OTHER, 30, 3, 1.0, 30);
}

#[test]
#[ignore = "measurement: cargo test -p takt-plan --release -- --ignored --nocapture"]
fn longer_search() {
    solve_and_check(BUILTIN_US_JAPAN, 56, 1, 2.174, 400);
}
