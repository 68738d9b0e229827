//! Re-packing steps alone on a given plan: `stow_repack FILE PLAN SECONDS
//! REGION NODES SEED [OUT]` prints every improvement (step, cost - LB).
//! Each step's solver gets the time left as its limit, as in the planner
//! (HiGHS builds); `TIMED=0` bounds the steps by their nodes only.
//! `WHOLE=1` makes the first step the planner's whole-deck step (every
//! class within one gate distance of where it stands, all the time left).
//! `BANDED=1` makes every second step a banded one, as in the planner (each
//! class within one gate distance, on a region half as large again).

use std::time::Instant;
use takt_stow::{Instance, Solution, check, repack_solution};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!("usage: stow_repack FILE PLAN SECONDS REGION NODES SEED [OUT]");
        std::process::exit(2);
    }
    let instance = Instance::parse(&std::fs::read_to_string(&args[1]).unwrap()).unwrap();
    let plan = Solution::parse(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let seconds: f64 = args[3].parse().unwrap();
    let region: usize = args[4].parse().unwrap();
    let nodes: u64 = args[5].parse().unwrap();
    let seed: u64 = args[6].parse().unwrap();
    let started = Instant::now();
    let polls = std::cell::Cell::new(0u64);
    let timed = std::env::var("TIMED").map_or(true, |v| v != "0");
    let whole = std::env::var("WHOLE").is_ok_and(|v| v == "1");
    let lb = instance.lower_bound;
    println!("start {}", check(&instance, &plan).objective);
    let (solution, _) = repack_solution(
        &instance,
        &plan,
        seed,
        region,
        nodes,
        &|| {
            polls.set(polls.get() + 1);
            started.elapsed().as_secs_f64() / seconds
        },
        timed.then_some(seconds),
        whole,
        std::env::var("BANDED").is_ok_and(|v| v == "1"),
        &mut |step, cost| {
            println!(
                "{:.1} s step {step}: {}",
                started.elapsed().as_secs_f64(),
                cost as i64 - lb
            )
        },
    );
    let report = check(&instance, &solution);
    println!(
        "end {} feasible {}, {} steps in {:.1} s",
        report.objective,
        report.feasible,
        polls.get() - 1,
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = args.get(7) {
        std::fs::write(out, solution.to_json()).unwrap();
    }
}
