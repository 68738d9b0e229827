//! Counted annealing runs, for measuring the planner's speed apart from the
//! machine's load: `cargo run --release -p takt-stow --example stow_moves --
//! FILE MOVES [SEED]` plans FILE on one thread with MOVES annealing moves
//! (deterministic for a seed) and prints the cost and the process's CPU
//! seconds. Run it under `/usr/bin/time` or compare the printed figures.
//! With a fourth argument OUT, the plan is written there too.

use std::time::Instant;
use takt_stow::{Instance, Params, check, solve};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: stow_moves FILE MOVES [SEED [OUT]]");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[1]).expect("readable instance");
    let instance = Instance::parse(&text).expect("a stowage instance");
    let moves: u64 = args[2].parse().expect("MOVES is a number");
    let seed: u64 = args
        .get(3)
        .map_or(1, |s| s.parse().expect("SEED is a number"));
    let params = Params {
        seed,
        threads: 1,
        max_iterations: Some(moves),
    };
    let started = Instant::now();
    let planned = solve(&instance, &params, &|| false);
    let wall = started.elapsed().as_secs_f64();
    let report = check(&instance, &planned.solution);
    if let Some(out) = args.get(4) {
        std::fs::write(out, planned.solution.to_json()).expect("writable OUT");
    }
    println!(
        "{}: cost - LB {}, feasible {}, {} moves, {:.2} s wall",
        args[1], report.objective, report.feasible, planned.iterations, wall
    );
}
