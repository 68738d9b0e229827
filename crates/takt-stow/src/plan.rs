//! The stowage planner: a randomised greedy that works the ports in order
//! gives a first feasible plan; simulated annealing over the whole voyage's
//! occupancy plan (module `anneal`) improves it.
//!
//! What makes the problem tick: a vehicle blocks nothing if every vehicle
//! between it and the gate leaves no later than it does. So the greedy
//! - unloads, at each port, the vehicles destined there nearest-first along
//!   shortest paths through empty slots; when every remaining one is cut
//!   off, it finds the one behind the fewest blockers (0-1 BFS from the
//!   gate) and clears the first blocker on that path, by relocating it
//!   (through empty slots, edges in listed orientation) to a slot where it
//!   blocks no more than before, or else by discharging it temporarily;
//! - makes room when the slots reachable from the gate are fewer than the
//!   vehicles to load, by discharging temporarily the vehicles that cut off
//!   empty slots (fewest first);
//! - loads the vehicles of the port (and the ones discharged temporarily)
//!   latest destination first, each into a slot chosen among the deepest
//!   reachable ones (BFS distance through empty slots) by a score: how many
//!   vehicles on board would then have no path to the gate through slots
//!   that leave no later than they do (a bottleneck-path sweep from the gate
//!   with a bucket queue), how many empty slots it would cut off, and depth.
//!
//! A slot's BFS distance from the gate only counts empty slots, so routes
//! are exact and every move is feasible when made.
//!
//! The deck after every port of the greedy plan is the annealer's start;
//! its best plan replaces the greedy one when cheaper. Only when the greedy
//! cannot place every vehicle (an infeasible instance) does the older
//! search run instead: it replans port suffixes from the incumbent's deck
//! with fresh random knobs and keeps a suffix when it costs no more. Each
//! thread searches with its own seed; the best plan wins, ties to the lower
//! thread index, so a run is deterministic for a seed and an iteration
//! count.

use crate::anneal::{Annealer, Budget, Occupancy, Schedule, table_cost, to_solution};
use crate::check::route_cost;
use crate::instance::{Demand, GATE, Instance};
use crate::repack::{Clock, RepackLimits, Repacker, plain};
use crate::solution::{Move, Solution};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

const EMPTY: u32 = u32::MAX;
const UNREACHED: usize = usize::MAX;

/// Search parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    /// Threads searching in parallel (at least one).
    pub threads: usize,
    /// Stop after this many improvement iterations per thread (annealing
    /// moves), if given (for reproducible runs); otherwise run until
    /// `should_stop`.
    pub max_iterations: Option<u64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            threads: 1,
            max_iterations: None,
        }
    }
}

/// The planner's result: the best plan found, its cost, and the vehicles it
/// could not place (the plan is then infeasible, and says why).
#[derive(Debug, Clone)]
pub struct Planned {
    pub solution: Solution,
    pub cost: u64,
    /// Improvement iterations, summed over threads.
    pub iterations: u64,
    /// One line per vehicle that could not be placed.
    pub unplaced: Vec<String>,
}

/// Plans the stowage of `instance`. Returns after `should_stop()` turns true
/// (polled every 32 annealing moves) or after `params.max_iterations`; the
/// first complete plan is always built.
pub fn solve(
    instance: &Instance,
    params: &Params,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Planned {
    let progress = || if should_stop() { 1.0 } else { 0.0 };
    run(instance, params, &progress, None)
}

/// Plans the stowage of `instance` within a time budget of `seconds`:
/// `progress()` is the fraction of it used so far (from the start of the
/// run), and the search returns once it reaches 1. Knowing how much time is
/// left, the annealing paces its cooling to end with the budget, and the
/// threads hand each other their best plans when they restart (so, unlike
/// [`solve`] with `max_iterations`, a run is not reproducible). `seconds`
/// serves only as the time limit handed to the solver of a re-packing step
/// (so a step ends with the budget); the clock is `progress`.
pub fn solve_within(
    instance: &Instance,
    params: &Params,
    seconds: f64,
    progress: &(dyn Fn() -> f64 + Sync),
) -> Planned {
    run(instance, params, progress, Some(seconds))
}

/// `seconds`: the length of a timed budget (`None`: counted, or stopped
/// by `should_stop`).
fn run(
    instance: &Instance,
    params: &Params,
    progress: &(dyn Fn() -> f64 + Sync),
    seconds: Option<f64>,
) -> Planned {
    let threads = params.threads.max(1);
    let shared: Mutex<Option<(u64, Occupancy)>> = Mutex::new(None);
    let timed = seconds.is_some();
    let budget = Budget {
        iterations: params.max_iterations,
        progress,
        seconds,
    };
    let results: Vec<(Incumbent, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let seed = params
                    .seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(t as u64);
                let (budget, shared) = (&budget, &shared);
                scope.spawn(move || {
                    // Only timed runs share: in counted runs the threads
                    // would meet at moments that depend on the machine.
                    let mut exchange = |best: &Occupancy, cost: u64| -> Option<Occupancy> {
                        if !timed || threads < 2 {
                            return None;
                        }
                        let mut slot = shared.lock().unwrap_or_else(|e| e.into_inner());
                        match slot.as_ref() {
                            Some((c, occ)) if *c < cost => Some(occ.clone()),
                            Some((c, _)) if *c == cost => None,
                            _ => {
                                *slot = Some((cost, best.clone()));
                                None
                            }
                        }
                    };
                    search(instance, seed, t, budget, &mut exchange)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("search thread panicked"))
            .collect()
    });
    let iterations = results.iter().map(|r| r.1).sum();
    let best = results
        .into_iter()
        .map(|r| r.0)
        .min_by_key(|inc| (inc.unplaced.len(), inc.cost()))
        .expect("at least one thread");
    Planned {
        cost: best.cost(),
        solution: Solution { ports: best.moves },
        iterations,
        unplaced: best.unplaced,
    }
}

/// Knobs of the greedy for one port.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    /// Deepest reachable slots considered per vehicle loaded.
    candidates: usize,
    /// Score weight of one blocked vehicle, in slots of depth.
    block_weight: f64,
    /// Score weight of one empty slot cut off, in slots of depth.
    cut_weight: f64,
    /// Uniform noise added to scores, in slots of depth.
    noise: f64,
    relocate: bool,
    /// Only the `remaining + window` slots nearest the gate are candidates
    /// (`None`: all): small windows keep routes short when there is room.
    window: Option<usize>,
    /// Leave this fraction of the vehicles that board later and leave after
    /// the one being loaded (they must go deeper) as the deepest slots.
    reserve: f64,
}

impl Knobs {
    const DEFAULT: Knobs = Knobs {
        candidates: 8,
        block_weight: 1000.0,
        cut_weight: 2.0,
        noise: 0.0,
        relocate: true,
        window: None,
        reserve: 0.0,
    };

    fn random(rng: &mut ChaCha8Rng) -> Knobs {
        Knobs {
            candidates: rng.random_range(1..=16),
            block_weight: if rng.random_bool(0.7) {
                1000.0
            } else {
                rng.random_range(2.0..40.0)
            },
            cut_weight: rng.random_range(0.0..6.0),
            noise: if rng.random_bool(0.3) {
                0.0
            } else {
                rng.random_range(0.0..4.0)
            },
            relocate: rng.random_bool(0.8),
            window: if rng.random_bool(0.5) {
                None
            } else {
                Some(rng.random_range(0..8))
            },
            reserve: if rng.random_bool(0.4) {
                0.0
            } else {
                rng.random_range(0.2..1.2)
            },
        }
    }
}

/// A complete plan with the deck at the start of every port.
#[derive(Debug, Clone)]
struct Incumbent {
    /// `decks[p]`: demand in each slot at the start of port `p`.
    decks: Vec<Vec<u32>>,
    moves: Vec<Vec<Move>>,
    port_cost: Vec<u64>,
    unplaced: Vec<String>,
    /// Unplaced vehicles per port (so suffixes can be replaced).
    port_unplaced: Vec<Vec<String>>,
}

impl Incumbent {
    fn cost(&self) -> u64 {
        self.port_cost.iter().sum()
    }
}

fn search(
    instance: &Instance,
    seed: u64,
    thread: usize,
    budget: &Budget<'_>,
    exchange: &mut dyn FnMut(&Occupancy, u64) -> Option<Occupancy>,
) -> (Incumbent, u64) {
    let max_iterations = budget.iterations;
    let should_stop = || (budget.progress)() >= 1.0;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut planner = Planner::new(instance);
    let first_knobs = if thread.is_multiple_of(2) {
        Knobs::DEFAULT
    } else {
        Knobs {
            window: Some(0),
            ..Knobs::DEFAULT
        }
    };
    let mut best = planner
        .plan_suffix(
            0,
            vec![EMPTY; instance.n_nodes],
            &mut rng,
            Some(first_knobs),
            &|| false,
        )
        .expect("the first plan is never interrupted");
    if best.unplaced.is_empty() {
        // More starts while they are cheap (a few in counted runs, up to
        // 3 % of the budget in timed ones), with random knobs, forwards and
        // backwards in time (on the voyage reversed, loading and discharge
        // swap roles, so deep slots go to the vehicles that board early
        // rather than to those that leave late). The annealing starts from
        // the cheapest table, costed by the annealer's own rules.
        let mut start = Occupancy::from_solution(
            instance,
            &Solution {
                ports: best.moves.clone(),
            },
        );
        let mut start_cost = table_cost(instance, &start);
        // Every distinct start, for the independent exploration runs.
        let mut pool: Vec<(u64, Occupancy)> = vec![(start_cost, start.clone())];
        let reversed = reversed_instance(instance);
        let mut back = Planner::new(&reversed);
        let mut tries = 0;
        while if budget.timed() {
            tries < 128 && (budget.progress)() < 0.03
        } else {
            tries < 4
        } {
            let backwards = tries % 2 == 0;
            let knobs = (tries == 0).then_some(first_knobs);
            tries += 1;
            let plan = if backwards {
                back.plan_suffix(
                    0,
                    vec![EMPTY; instance.n_nodes],
                    &mut rng,
                    knobs,
                    &should_stop,
                )
            } else {
                planner.plan_suffix(
                    0,
                    vec![EMPTY; instance.n_nodes],
                    &mut rng,
                    knobs,
                    &should_stop,
                )
            };
            let Some(plan) = plan else { break };
            if !plan.unplaced.is_empty() {
                continue;
            }
            let table = if backwards {
                Occupancy::from_solution(
                    &reversed,
                    &Solution {
                        ports: plan.moves.clone(),
                    },
                )
                .reversed()
            } else {
                Occupancy::from_solution(
                    instance,
                    &Solution {
                        ports: plan.moves.clone(),
                    },
                )
            };
            let cost = table_cost(instance, &table);
            if !backwards && plan.cost() < best.cost() {
                best = plan;
            }
            if !pool.iter().any(|(_, t)| *t == table) {
                pool.push((cost, table.clone()));
            }
            if cost < start_cost {
                start = table;
                start_cost = cost;
            }
        }
        // Cheapest first (the sort is stable, so the first is `start`).
        pool.sort_by_key(|(c, _)| *c);
        debug_assert!(pool[0].1 == start);
        let starts = pool.into_iter().map(|(_, t)| t).collect();
        return anneal_from(instance, best, starts, &mut rng, thread, budget, exchange);
    }
    let mut iterations = 0u64;
    let n_ports = instance.n_ports;
    while max_iterations.is_none_or(|m| iterations < m) && !should_stop() {
        iterations += 1;
        let start = rng.random_range(0..n_ports.saturating_sub(1).max(1));
        let Some(suffix) = planner.plan_suffix(
            start,
            best.decks[start].clone(),
            &mut rng,
            None,
            &should_stop,
        ) else {
            break;
        };
        let prefix_cost: u64 = best.port_cost[..start].iter().sum();
        let prefix_unplaced: usize = best.port_unplaced[..start].iter().map(Vec::len).sum();
        let new_key = (
            prefix_unplaced + suffix.unplaced.len(),
            prefix_cost + suffix.cost(),
        );
        if new_key <= (best.unplaced.len(), best.cost()) {
            best.decks.truncate(start);
            best.decks.extend(suffix.decks);
            best.moves.truncate(start);
            best.moves.extend(suffix.moves);
            best.port_cost.truncate(start);
            best.port_cost.extend(suffix.port_cost);
            best.port_unplaced.truncate(start);
            best.port_unplaced.extend(suffix.port_unplaced);
            best.unplaced = best.port_unplaced.iter().flatten().cloned().collect();
        }
    }
    (best, iterations)
}

/// The share of a timed budget (from the start of the run) after which the
/// annealing stops; the descent of [`Annealer::polish`] takes the rest (it
/// needed about 0.3 s on stage 1 prob5, against 1.2 s left of 60), and
/// what it leaves goes to cold moves and a second descent
/// ([`anneal_from`]).
const ANNEAL_SHARE: f64 = 0.98;

/// The share of a timed budget left, after the annealing and its descents,
/// to re-packing steps ([`crate::repack`]) when a plain table near the best
/// one is found.
/// Steps from a half-annealed plan go further than the same time spent
/// annealing: on stage 1 prob5 of the OGC files, 60-second runs with seeds
/// 1-6 ended at 1,711-1,719 (mean 1,713.7) against 1,711-1,729 (mean
/// 1,719.7) with 15 % of the budget for steps (BENCHMARKS.md).
const REPACK_SHARE: f64 = 0.6;

/// How much dearer than the best table (in its objective, cost - LB) a
/// plain table may be for the steps to start from it.
const PLAIN_MARGIN: f64 = 0.01;

/// Whether a plain table of `cost` is near enough to the best, of
/// `best_cost`, to start the steps from (`PLAIN_MARGIN`).
fn near_enough(instance: &Instance, cost: u64, best_cost: u64) -> bool {
    let objective = (best_cost as i64 - instance.lower_bound).max(0) as f64;
    cost as f64 <= best_cost as f64 + PLAIN_MARGIN * objective
}

/// Whether the planner makes re-packing steps: only with HiGHS (feature
/// `highs`), which takes a time limit, so a step ends with the budget. A
/// microlp step takes about 0.5 s on a region of 60 slots in a release
/// build (seconds in a test build) and cannot be stopped. Without HiGHS
/// the planner is the annealing alone.
const STEPS_IN_PLANNER: bool = cfg!(feature = "highs");

/// Annealing moves a counted run adds one re-packing step for.
const MOVES_PER_REPACK_STEP: u64 = 100_000;

/// Anneals from `starts` (distinct tables, cheapest first, the first at
/// least as cheap as the greedy plan's: the independent runs take them in
/// turn); keeps whichever of the annealed plan and the greedy one is
/// cheaper.
fn anneal_from(
    instance: &Instance,
    mut greedy: Incumbent,
    starts: Vec<Occupancy>,
    rng: &mut ChaCha8Rng,
    thread: usize,
    budget: &Budget<'_>,
    exchange: &mut dyn FnMut(&Occupancy, u64) -> Option<Occupancy>,
) -> (Incumbent, u64) {
    let mut annealer = Annealer::new(instance, starts[0].clone());
    let schedule = Schedule::for_instance(instance, thread);
    // Re-packing steps run only from a plain table (`repack::plain`: no
    // vehicle rehandled, every worked slot reached by a shortest path),
    // where the steps' model prices a table exactly; elsewhere the search
    // is the annealing alone. No start table is plain, so the tables the
    // independent runs end with and the best table at every restart of the
    // annealing are asked, and the cheapest plain one is kept
    // (`plain_seen`). The steps start from it when it is the best table or
    // near enough (`near_enough`): on stage 1 prob5 of the OGC files the
    // best table at the first restart was sometimes not plain (a detour or
    // a rehandle), and those runs made no steps at all and ended at
    // 1,717-1,723, while the independent runs had ended with plain tables
    // a few units dearer (BENCHMARKS.md).
    let plain_seen: RefCell<Option<(u64, Occupancy)>> = RefCell::new(None);
    let see = |table: &Occupancy| {
        if !STEPS_IN_PLANNER {
            return;
        }
        let Some(cost) = plain(instance, table) else {
            return;
        };
        let mut seen = plain_seen.borrow_mut();
        if seen.as_ref().is_none_or(|(c, _)| cost < *c) {
            *seen = Some((cost, table.clone()));
        }
    };
    let mut fresh = |k: usize, ended: &Occupancy| {
        see(ended);
        Some(starts[k % starts.len()].clone())
    };
    // Once the steps have a table to start from, on a clock, the last
    // `REPACK_SHARE` of the budget is kept for the steps, and the annealing
    // paces what is left of its schedule to end before it: its clock runs
    // on from where it was (`decided`: the budget's progress and the
    // annealing's when the answer came) instead of jumping. The first
    // restart comes after the independent runs, at about 49 % of the budget
    // on the OGC files, past the 40 %: there the annealing ends at once and
    // the steps take the rest of the budget.
    let repacking = AtomicBool::new(false);
    let decided: Mutex<Option<(f64, f64)>> = Mutex::new(None);
    let search_end = || {
        if budget.timed() && repacking.load(Relaxed) {
            1.0 - REPACK_SHARE
        } else {
            1.0
        }
    };
    let search_progress = || (budget.progress)() / search_end();
    // The annealing's clock ends a little before the search's, leaving the
    // rest for the descent that polishes its best plan.
    let anneal_progress = || {
        let at = (budget.progress)();
        let end = search_end() * ANNEAL_SHARE;
        match *decided.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((from, was)) if at < end => was + (1.0 - was) * (at - from) / (end - from),
            Some(_) => 1.0,
            None => at / end,
        }
    };
    let anneal_budget = Budget {
        iterations: budget.iterations,
        progress: &anneal_progress,
        seconds: budget.seconds,
    };
    let mut at_restart = |best: &Occupancy, cost: u64| -> Option<Occupancy> {
        if STEPS_IN_PLANNER && !repacking.load(Relaxed) {
            see(best);
        }
        let near = |(c, _): &(u64, Occupancy)| near_enough(instance, *c, cost);
        if STEPS_IN_PLANNER
            && !repacking.load(Relaxed)
            && plain_seen.borrow().as_ref().is_some_and(near)
        {
            if budget.timed() {
                let at = (budget.progress)();
                *decided.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, at / ANNEAL_SHARE));
            }
            repacking.store(true, Relaxed);
        }
        exchange(best, cost)
    };
    let mut iterations = annealer.run(rng, schedule, &anneal_budget, &mut at_restart, &mut fresh);
    let before = search_progress();
    annealer.polish(&search_progress);
    // The descent usually needs a fraction of its share (at most about
    // 0.7 s of 1.2-4.8 s on the OGC files): on a clock, the time it leaves goes to
    // moves at the schedule's last temperature from the best plan, and
    // then the descent again, with twice the time it took.
    if budget.timed() {
        let took = (search_progress() - before).max(0.001);
        let stop_cold = 1.0 - 2.0 * took;
        if search_progress() < stop_cold {
            iterations += annealer.cold(rng, schedule.t_end, &|| search_progress() >= stop_cold);
            annealer.polish(&search_progress);
        }
    }
    // Re-packing steps: on a clock until the budget ends, counted in
    // proportion to the annealing moves otherwise.
    let steps = budget.iterations.map(|m| m / MOVES_PER_REPACK_STEP);
    // The steps start from the best table when it is plain, otherwise from
    // the cheapest plain table seen when it is nearly as cheap.
    if STEPS_IN_PLANNER {
        see(&annealer.best);
    }
    let step_from = plain_seen
        .into_inner()
        .filter(|(c, _)| near_enough(instance, *c, annealer.best_cost));
    if repacking.load(Relaxed) && step_from.is_none() {
        // No plain table is near the best any more: the share kept for the
        // steps goes to cold moves and a descent.
        repacking.store(false, Relaxed);
        if budget.timed() {
            iterations += annealer.cold(rng, schedule.t_end, &|| (budget.progress)() >= 0.97);
            annealer.polish(budget.progress);
        }
    }
    if let Some((from_cost, from)) = step_from.filter(|_| repacking.load(Relaxed)) {
        let repacker = Repacker::new(instance);
        // Drawn only where steps are made, so that a build without them
        // keeps the annealing's random stream.
        let mut repack_rng = ChaCha8Rng::seed_from_u64(rng.random());
        if let Some((table, _)) = repacker.steps(
            RepackLimits::for_instance(instance),
            &from,
            from_cost,
            &mut repack_rng,
            &Clock {
                progress: budget.progress,
                seconds: budget.seconds,
                steps,
            },
            &mut |_, _| {},
        ) {
            let mut stepped = Annealer::new(instance, table);
            stepped.polish(budget.progress);
            if stepped.best_cost < annealer.best_cost {
                annealer = stepped;
            }
        }
    }
    let (solution, cost) = to_solution(instance, &annealer.best);
    debug_assert_eq!(cost, annealer.best_cost);
    if cost < greedy.cost() {
        greedy.port_cost = solution
            .ports
            .iter()
            .map(|moves| moves.iter().map(|m| route_cost(instance, &m.route)).sum())
            .collect();
        greedy.moves = solution.ports;
    }
    (greedy, iterations)
}

/// The same voyage backwards: ports `P - 1 - p`, demand `(o, d)` becoming
/// `(P - 1 - d, P - 1 - o)` (demand indices kept).
fn reversed_instance(instance: &Instance) -> Instance {
    let last = instance.n_ports - 1;
    let demands = instance
        .demands
        .iter()
        .map(|d| Demand {
            origin: last - d.destination,
            destination: last - d.origin,
            quantity: d.quantity,
        })
        .collect();
    Instance::new(
        instance.n_nodes,
        instance.edges.clone(),
        instance.n_ports,
        demands,
        instance.fixed_cost,
        instance.lower_bound,
    )
    .expect("the reversed voyage is a valid instance")
}

/// The greedy, with its scratch buffers.
struct Planner<'a> {
    inst: &'a Instance,
    /// Destination port of each demand.
    dest: Vec<usize>,
    slot: Vec<u32>,
    dist: Vec<usize>,
    parent: Vec<usize>,
    queue: VecDeque<usize>,
    need: Vec<usize>,
    buckets: Vec<Vec<usize>>,
    deque01: VecDeque<usize>,
    cost01: Vec<usize>,
}

impl<'a> Planner<'a> {
    fn new(inst: &'a Instance) -> Planner<'a> {
        let n = inst.n_nodes;
        Planner {
            inst,
            dest: inst.demands.iter().map(|d| d.destination).collect(),
            slot: vec![EMPTY; n],
            dist: vec![UNREACHED; n],
            parent: vec![UNREACHED; n],
            queue: VecDeque::new(),
            need: vec![UNREACHED; n],
            buckets: vec![Vec::new(); inst.n_ports + 1],
            deque01: VecDeque::new(),
            cost01: vec![UNREACHED; n],
        }
    }

    /// Plans ports `start..P` from `deck`. `fixed` knobs for every port, or
    /// fresh random ones per port. `None` when stopped.
    fn plan_suffix(
        &mut self,
        start: usize,
        deck: Vec<u32>,
        rng: &mut ChaCha8Rng,
        fixed: Option<Knobs>,
        should_stop: &dyn Fn() -> bool,
    ) -> Option<Incumbent> {
        self.slot = deck;
        let n_ports = self.inst.n_ports;
        let mut out = Incumbent {
            decks: Vec::with_capacity(n_ports - start),
            moves: Vec::with_capacity(n_ports - start),
            port_cost: Vec::with_capacity(n_ports - start),
            unplaced: Vec::new(),
            port_unplaced: Vec::new(),
        };
        for port in start..n_ports {
            if port > start && should_stop() {
                return None;
            }
            out.decks.push(self.slot.clone());
            let knobs = fixed.unwrap_or_else(|| Knobs::random(rng));
            let mut moves = Vec::new();
            let mut unplaced = Vec::new();
            self.work_port(port, knobs, rng, &mut moves, &mut unplaced);
            out.port_cost.push(
                moves
                    .iter()
                    .map(|m: &Move| route_cost(self.inst, &m.route))
                    .sum(),
            );
            out.moves.push(moves);
            out.port_unplaced.push(unplaced);
        }
        out.unplaced = out.port_unplaced.iter().flatten().cloned().collect();
        Some(out)
    }

    /// Vehicles boarding after `port` and before `dest` that leave after
    /// `dest`: they will have to sit behind a vehicle leaving at `dest`.
    fn boarding_beyond(&self, port: usize, dest: usize) -> usize {
        self.inst
            .demands
            .iter()
            .filter(|d| port < d.origin && d.origin < dest && d.destination > dest)
            .map(|d| d.quantity)
            .sum()
    }

    fn label(&self, v: usize) -> usize {
        match self.slot[v] {
            EMPTY => 0,
            k => self.dest[k as usize],
        }
    }

    /// BFS from the gate through empty slots. `dist[v]` is set for empty
    /// slots reached and for occupied slots next to them (as end points).
    /// Returns the number of empty slots reached.
    fn bfs_from_gate(&mut self) -> usize {
        self.dist.fill(UNREACHED);
        self.parent.fill(UNREACHED);
        self.dist[GATE] = 0;
        self.queue.clear();
        self.queue.push_back(GATE);
        let mut reached = 0;
        while let Some(u) = self.queue.pop_front() {
            for &v in &self.inst.adjacent[u] {
                if v == GATE || self.dist[v] != UNREACHED {
                    continue;
                }
                self.dist[v] = self.dist[u] + 1;
                self.parent[v] = u;
                if self.slot[v] == EMPTY {
                    reached += 1;
                    self.queue.push_back(v);
                }
            }
        }
        reached
    }

    /// Number of empty slots reachable from the gate (no paths kept).
    fn reachable_empty(&mut self) -> usize {
        self.bfs_from_gate()
    }

    /// Path gate→`v` from the last BFS.
    fn path_from_gate(&self, v: usize) -> Vec<usize> {
        let mut path = vec![v];
        let mut u = v;
        while u != GATE {
            u = self.parent[u];
            path.push(u);
        }
        path.reverse();
        path
    }

    /// Vehicles on board with no path to the gate through slots whose
    /// vehicles leave no later than they do (empty slots leave at 0).
    fn blocked_count(&mut self) -> usize {
        let n_ports = self.inst.n_ports;
        self.need.fill(UNREACHED);
        self.need[GATE] = 0;
        for b in &mut self.buckets {
            b.clear();
        }
        self.buckets[0].push(GATE);
        for level in 0..=n_ports {
            while let Some(u) = self.buckets[level].pop() {
                if self.need[u] != level {
                    continue;
                }
                let through = if u == GATE {
                    0
                } else {
                    level.max(self.label(u))
                };
                for &v in &self.inst.adjacent[u] {
                    if through < self.need[v] {
                        self.need[v] = through;
                        self.buckets[through].push(v);
                    }
                }
            }
        }
        (1..self.inst.n_nodes)
            .filter(|&v| self.slot[v] != EMPTY && self.need[v] > self.label(v))
            .count()
    }

    /// 0-1 BFS from the gate: entering an occupied slot not in `free_label`
    /// costs 1; slots whose vehicles leave at `free_label` and empty slots
    /// cost 0. Fills `cost01` and `parent`.
    fn zero_one_bfs(&mut self, free_label: Option<usize>) {
        self.cost01.fill(UNREACHED);
        self.parent.fill(UNREACHED);
        self.cost01[GATE] = 0;
        self.deque01.clear();
        self.deque01.push_back(GATE);
        while let Some(u) = self.deque01.pop_front() {
            let cu = self.cost01[u];
            for &v in &self.inst.adjacent[u] {
                if v == GATE {
                    continue;
                }
                let free = self.slot[v] == EMPTY || Some(self.label(v)) == free_label;
                let c = cu + usize::from(!free);
                if c < self.cost01[v] {
                    self.cost01[v] = c;
                    self.parent[v] = u;
                    if free {
                        self.deque01.push_front(v);
                    } else {
                        self.deque01.push_back(v);
                    }
                }
            }
        }
    }

    fn record(&mut self, route: Vec<usize>, k: u32, moves: &mut Vec<Move>) {
        moves.push(Move {
            route,
            demand: k as usize,
        });
    }

    /// Discharges the vehicle at `v` along the last BFS's path.
    fn unload(&mut self, v: usize, moves: &mut Vec<Move>) -> u32 {
        let mut route = self.path_from_gate(v);
        route.reverse();
        let k = self.slot[v];
        self.slot[v] = EMPTY;
        self.record(route, k, moves);
        k
    }

    fn work_port(
        &mut self,
        port: usize,
        knobs: Knobs,
        rng: &mut ChaCha8Rng,
        moves: &mut Vec<Move>,
        unplaced: &mut Vec<String>,
    ) {
        let n = self.inst.n_nodes;
        let mut pool: Vec<u32> = Vec::new();
        let mut relocations_left = 2 * n;
        // 1. Discharge everything destined here.
        loop {
            let mut remaining = 0;
            self.bfs_from_gate();
            let mut best: Option<(usize, usize)> = None;
            for v in 1..n {
                if self.slot[v] != EMPTY && self.label(v) == port {
                    remaining += 1;
                    if self.dist[v] != UNREACHED && best.is_none_or(|(d, _)| self.dist[v] < d) {
                        best = Some((self.dist[v], v));
                    }
                }
            }
            if remaining == 0 {
                break;
            }
            if let Some((_, v)) = best {
                self.unload(v, moves);
                continue;
            }
            // Every one is cut off: clear the first blocker on the cheapest way in.
            self.zero_one_bfs(Some(port));
            let target = (1..n)
                .filter(|&v| self.slot[v] != EMPTY && self.label(v) == port)
                .min_by_key(|&v| (self.cost01[v], v))
                .expect("remaining > 0");
            let mut way = vec![target];
            let mut u = target;
            while u != GATE {
                u = self.parent[u];
                way.push(u);
            }
            way.reverse();
            let blocker = *way[1..]
                .iter()
                .find(|&&v| self.slot[v] != EMPTY)
                .expect("a cut-off vehicle has a blocker");
            debug_assert_ne!(self.label(blocker), port);
            if knobs.relocate
                && relocations_left > 0
                && self.try_relocate(blocker, &way, knobs, rng, moves)
            {
                relocations_left -= 1;
                continue;
            }
            self.bfs_from_gate();
            pool.push(self.unload(blocker, moves));
        }
        // 2. Make room: the slots reachable from the gate must hold the load.
        let n_new: usize = self
            .inst
            .demands
            .iter()
            .filter(|d| d.origin == port)
            .map(|d| d.quantity)
            .sum();
        loop {
            let reach = self.reachable_empty();
            if reach >= n_new + pool.len() {
                break;
            }
            self.zero_one_bfs(None);
            let Some(target) = (1..n)
                .filter(|&v| {
                    self.slot[v] == EMPTY && self.cost01[v] != UNREACHED && self.cost01[v] > 0
                })
                .min_by_key(|&v| (self.cost01[v], v))
            else {
                break; // no more room anywhere: the loading below reports it
            };
            let mut u = target;
            let mut first_blocker = None;
            while u != GATE {
                if self.slot[u] != EMPTY {
                    first_blocker = Some(u);
                }
                u = self.parent[u];
            }
            let blocker = first_blocker.expect("a cut-off slot has a blocker");
            self.bfs_from_gate();
            pool.push(self.unload(blocker, moves));
        }
        // 3. Load, latest destination first.
        for (k, d) in self.inst.demands.iter().enumerate() {
            if d.origin == port {
                pool.extend(std::iter::repeat_n(k as u32, d.quantity));
            }
        }
        // Shuffle, then a stable sort: ties in random order.
        for i in (1..pool.len()).rev() {
            let j = rng.random_range(0..=i);
            pool.swap(i, j);
        }
        pool.sort_by_key(|&k| std::cmp::Reverse(self.dest[k as usize]));
        let total = pool.len();
        for (i, &k) in pool.iter().enumerate() {
            let after = total - i - 1;
            let reach = self.bfs_from_gate();
            let mut reachable: Vec<(usize, usize)> = (1..n)
                .filter(|&v| self.slot[v] == EMPTY && self.dist[v] != UNREACHED)
                .map(|v| (self.dist[v], v))
                .collect();
            if reachable.is_empty() {
                unplaced.push(format!(
                    "demand {k} (to port {}) at port {port}: no empty slot reachable from the gate",
                    self.dest[k as usize]
                ));
                continue;
            }
            if knobs.reserve > 0.0 {
                let later = self.boarding_beyond(port, self.dest[k as usize]);
                let skip = ((later as f64 * knobs.reserve) as usize)
                    .min(reachable.len().saturating_sub(after + 1));
                if skip > 0 {
                    reachable.sort_unstable_by(|a, b| b.cmp(a));
                    reachable.drain(..skip);
                }
            }
            if let Some(w) = knobs.window {
                let keep = (after + 1 + w).min(reachable.len());
                reachable.sort_unstable();
                reachable.truncate(keep);
            }
            reachable.sort_unstable_by(|a, b| b.cmp(a));
            let deepest = reachable[0].0;
            let dist_snapshot: Vec<usize> = reachable.iter().map(|&(d, _)| d).collect();
            let mut best: Option<(f64, usize)> = None;
            for (idx, &(d, v)) in reachable.iter().take(knobs.candidates.max(1)).enumerate() {
                self.slot[v] = k;
                let cut = if d < deepest {
                    let r = self.reachable_empty();
                    if r < after {
                        self.slot[v] = EMPTY;
                        continue;
                    }
                    reach - 1 - r
                } else {
                    0
                };
                let blocked = self.blocked_count();
                self.slot[v] = EMPTY;
                let noise = if knobs.noise > 0.0 {
                    rng.random_range(0.0..knobs.noise)
                } else {
                    0.0
                };
                let score = knobs.block_weight * blocked as f64 + knobs.cut_weight * cut as f64
                    - dist_snapshot[idx] as f64
                    + noise;
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, v));
                }
            }
            let v = best.map_or(reachable[0].1, |(_, v)| v);
            self.bfs_from_gate();
            let route = self.path_from_gate(v);
            self.slot[v] = k;
            self.record(route, k, moves);
        }
    }

    /// Tries to move `blocker` off `way` to a slot where it blocks no more
    /// vehicles than if it left the ship, cutting off no empty slot.
    fn try_relocate(
        &mut self,
        blocker: usize,
        way: &[usize],
        knobs: Knobs,
        rng: &mut ChaCha8Rng,
        moves: &mut Vec<Move>,
    ) -> bool {
        let k = self.slot[blocker];
        // Forward BFS from the blocker through empty slots.
        self.dist.fill(UNREACHED);
        self.parent.fill(UNREACHED);
        self.dist[blocker] = 0;
        self.queue.clear();
        self.queue.push_back(blocker);
        let mut targets = Vec::new();
        while let Some(u) = self.queue.pop_front() {
            for &v in &self.inst.forward[u] {
                if v == GATE || self.dist[v] != UNREACHED || self.slot[v] != EMPTY {
                    continue;
                }
                self.dist[v] = self.dist[u] + 1;
                self.parent[v] = u;
                self.queue.push_back(v);
                if !way.contains(&v) {
                    targets.push(v);
                }
            }
        }
        if targets.is_empty() {
            return false;
        }
        let route_dist = self.dist.clone();
        let route_parent = self.parent.clone();
        let gate_distance = &self.inst.gate_distance;
        targets.sort_unstable_by_key(|&v| (std::cmp::Reverse(gate_distance[v]), route_dist[v], v));
        self.slot[blocker] = EMPTY;
        let base_blocked = self.blocked_count();
        let base_reach = self.reachable_empty();
        let mut best: Option<(f64, usize)> = None;
        for &w in targets.iter().take(knobs.candidates.max(4)) {
            self.slot[w] = k;
            let reach = self.reachable_empty();
            let blocked = self.blocked_count();
            self.slot[w] = EMPTY;
            if blocked > base_blocked || reach + 1 < base_reach {
                continue;
            }
            let noise = if knobs.noise > 0.0 {
                rng.random_range(0.0..knobs.noise)
            } else {
                0.0
            };
            let score = route_dist[w] as f64 - self.inst.gate_distance[w] as f64 + noise;
            if best.is_none_or(|(s, _)| score < s) {
                best = Some((score, w));
            }
        }
        let Some((_, w)) = best else {
            self.slot[blocker] = k;
            return false;
        };
        let mut route = vec![w];
        let mut u = w;
        while u != blocker {
            u = route_parent[u];
            route.push(u);
        }
        route.reverse();
        self.slot[w] = k;
        self.record(route, k, moves);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain table is near enough to the best when it is dearer by at
    /// most 1 % of the best's objective (cost - LB), and never when the
    /// best is at the bound and the plain table is not.
    #[test]
    fn a_plain_table_near_the_best_is_one_within_a_hundredth_of_its_objective() {
        let text = r#"{"N": 3, "E": [[0,1],[1,2]], "P": 2, "K": [[[0,1],1]], "F": 10, "LB": 1000}"#;
        let inst = Instance::parse(text).unwrap();
        // Best 1,200: objective 200, margin 2.
        assert!(near_enough(&inst, 1_200, 1_200));
        assert!(near_enough(&inst, 1_202, 1_200));
        assert!(!near_enough(&inst, 1_203, 1_200));
        // A plain table cheaper than the best is always near.
        assert!(near_enough(&inst, 1_150, 1_200));
        // Best at the bound: only as cheap.
        assert!(near_enough(&inst, 1_000, 1_000));
        assert!(!near_enough(&inst, 1_001, 1_000));
    }
}
