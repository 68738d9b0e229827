//! Construction and large-neighbourhood search over genes.
//!
//! Every candidate is decoded by the world rebuilt from the instance
//! ([`takt_sim::Simulation::from_instance`]) and projected to delivery, then
//! scored by the one objective ([`takt_core::objective::evaluate`]). A move
//! ruins the decisions of a few related vehicles (those on one voyage, the
//! late ones, those at one export port, or a random handful) and recreates
//! them with new ranks, departures and queue urgency; the search accepts a
//! candidate no worse than the current one plus a threshold that shrinks to
//! zero as the budget runs out, and keeps the best. One search per thread,
//! each from its own seed; the best of them wins (ties: the lower thread).

use crate::guided::{Gene, Guided};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use takt_core::instance::Instance;
use takt_core::network::Network;
use takt_core::objective::{Objective, evaluate};
use takt_core::plan::{Plan, Stage};
use takt_sim::Simulation;
use takt_sim::world::{Rebook, RestoreError};

/// How long and how wide to search.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub seed: u64,
    /// Independent searches run in parallel (at least 1).
    pub threads: usize,
    /// Stop after this many candidates per thread (for runs that must be
    /// reproducible whatever the machine's speed).
    pub max_iterations: Option<u64>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            threads: 2,
            max_iterations: None,
        }
    }
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct Solved {
    pub plan: Plan,
    pub objective: Objective,
    pub genes: Vec<Gene>,
    /// The best construction (before improvement) and its name.
    pub construction: Objective,
    pub construction_name: &'static str,
    /// Every construction tried, with its objective.
    pub constructions: Vec<(&'static str, Objective)>,
    /// The caller's progress reading when the first plan (the first
    /// construction, feasible as every decoded plan is) was ready: with
    /// a progress of elapsed time over the limit, the time to a first plan
    /// is this times the limit.
    pub first_plan_progress: f64,
    /// Candidates decoded, over all threads.
    pub iterations: u64,
    /// Accepted candidates that improved the thread's best.
    pub improvements: u64,
}

/// Decodes genes into a plan and its objective.
pub fn decode(
    net: &Network,
    inst: &Instance,
    genes: &[Gene],
) -> Result<(Plan, Objective), RestoreError> {
    let mask = genes.iter().map(|g| !g.keep).collect();
    let policy = Guided::new(Arc::new(genes.to_vec()), Gene::KEEP);
    let sim = Simulation::from_instance(net.clone(), inst, Box::new(policy), &Rebook::Free(mask))?;
    let mut plan = sim.plan(false);
    plan.policy = "takt".into();
    let objective = evaluate(net, &plan);
    Ok((plan, objective))
}

/// What the search knows of each vehicle in the current plan.
#[derive(Debug, Clone, Copy)]
struct Info {
    voyage: Option<usize>,
    terminal_location: Option<usize>,
    late: bool,
}

fn infos(net: &Network, plan: &Plan) -> Vec<Info> {
    plan.vehicles
        .iter()
        .map(|v| {
            let voyage = v
                .voyage
                .as_deref()
                .or_else(|| v.step(Stage::Voyage).map(|s| s.resource.as_str()))
                .and_then(|id| net.voyage_index(id));
            let terminal_location = v
                .step(Stage::PortArrival)
                .and_then(|s| net.location_index(&s.location));
            let late = v.unplaced.is_some()
                || v.step(Stage::Delivery)
                    .is_some_and(|d| d.end > v.promised_by);
            Info {
                voyage,
                terminal_location,
                late,
            }
        })
        .collect()
}

/// Rounds of the backed-off just-in-time construction (each one decode).
const BACKOFF_ROUNDS: usize = 2;

/// Constructions tried before the search: the status quo and three full re-routings.
fn constructions(n: usize) -> Vec<(&'static str, Vec<Gene>)> {
    let first = Gene {
        keep: false,
        ..Gene::KEEP
    };
    let late = Gene {
        late: true,
        ..first
    };
    let snug = Gene { snug: true, ..late };
    vec![
        ("keep bookings", vec![Gene::KEEP; n]),
        ("reroute by promised date", vec![first; n]),
        ("reroute just in time", vec![late; n]),
        ("reroute just in time, snug", vec![snug; n]),
    ]
}

struct Search {
    movable: Vec<usize>,
    rng: ChaCha8Rng,
}

impl Search {
    /// Vehicles whose decisions the next move changes.
    fn select(&mut self, info: &[Info]) -> Vec<usize> {
        let n = self.movable.len();
        if n == 0 {
            return Vec::new();
        }
        let k = (n / 40).clamp(3, 60).min(n);
        let pivot = self.movable[self.rng.random_range(0..n)];
        let mut out: Vec<usize> = match self.rng.random_range(0..4) {
            // Vehicles on the pivot's voyage.
            0 => self
                .movable
                .iter()
                .copied()
                .filter(|&v| info[v].voyage.is_some() && info[v].voyage == info[pivot].voyage)
                .collect(),
            // Late (or unplaced) vehicles.
            1 => self
                .movable
                .iter()
                .copied()
                .filter(|&v| info[v].late)
                .collect(),
            // Vehicles through the pivot's export port.
            2 => self
                .movable
                .iter()
                .copied()
                .filter(|&v| {
                    info[v].terminal_location.is_some()
                        && info[v].terminal_location == info[pivot].terminal_location
                })
                .collect(),
            _ => Vec::new(),
        };
        if out.is_empty() {
            out = (0..k)
                .map(|_| self.movable[self.rng.random_range(0..n)])
                .collect();
        }
        // A random part of the group.
        while out.len() > k {
            let i = self.rng.random_range(0..out.len());
            out.swap_remove(i);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn mutate(&mut self, genes: &mut [Gene], chosen: &[usize], info: &[Info]) {
        let kind = self.rng.random_range(0..4);
        for &v in chosen {
            let g = &mut genes[v];
            match kind {
                // Another voyage, near the current one.
                0 => {
                    g.keep = false;
                    if self.rng.random_bool(0.3) {
                        g.tight = !g.tight;
                    }
                    g.voyage_rank = match g.voyage_rank {
                        0 => self.rng.random_range(0..2),
                        r => (r as i32 + self.rng.random_range(-1..=1)).clamp(0, 3) as u8,
                    };
                }
                // Earlier or later inland departure, or the other service.
                1 => {
                    g.keep = false;
                    let r: f64 = self.rng.random();
                    if r < 0.25 {
                        g.service_rank = 1 - g.service_rank.min(1);
                    } else if r < 0.5 {
                        g.snug = !g.snug;
                    } else {
                        g.late = !g.late;
                    }
                }
                // Queue urgency: sooner for the late, random otherwise; now
                // and then, whether the vehicle yields its certification
                // station when it can no longer be on time.
                2 => {
                    let shift = if info[v].late {
                        -self.rng.random_range(12..96)
                    } else {
                        self.rng.random_range(-48..=48)
                    };
                    g.urgency_hours = (g.urgency_hours as i32 + shift).clamp(-2000, 2000) as i16;
                    if self.rng.random_bool(0.2) {
                        g.keep_place = !g.keep_place;
                    }
                }
                // Back to the first voyage with a fresh route.
                _ => {
                    g.keep = false;
                    g.voyage_rank = 0;
                    g.late = self.rng.random_bool(0.5);
                }
            }
        }
    }
}

/// The search's score of a plan: its objective plus a penalty (zero when
/// planning from scratch; the cost of changes when repairing).
pub type Penalty<'a> = &'a (dyn Fn(&Plan) -> f64 + Sync);

/// What [`improve`] returns.
pub struct Improved {
    pub genes: Vec<Gene>,
    pub plan: Plan,
    pub objective: Objective,
    /// Objective plus penalty.
    pub score: f64,
    pub iterations: u64,
    pub improvements: u64,
}

/// The most vehicles the search threads decode at the same time. Each
/// candidate is a world and a plan of the whole pipeline: two candidates
/// at once at 100,000 vehicles took `takt plan` to
/// 1.2 GB (BENCHMARKS.md), and there a candidate costs seconds, so the
/// second thread bought little search.
pub const MAX_VEHICLES_DECODED_AT_ONCE: usize = 120_000;

/// Threads the search runs for `vehicles`: `requested` (at least one), fewer
/// when that many decodes at once would exceed
/// [`MAX_VEHICLES_DECODED_AT_ONCE`].
pub fn search_threads(requested: usize, vehicles: usize) -> usize {
    let by_memory = MAX_VEHICLES_DECODED_AT_ONCE / vehicles.max(1);
    requested.max(1).min(by_memory.max(1))
}

/// Large-neighbourhood search from `start` (genes, their plan and
/// objective), minimizing objective plus `penalty`. `decode_step` is the
/// progress one decode is known to take (0 when unknown): no candidate,
/// the first one included, starts unless it fits before progress reaches
/// one. The threads share the start plan and keep a plan of their own only
/// once they improve on it, so a search that finds nothing better holds
/// one plan, not one per thread.
pub fn improve(
    net: &Network,
    inst: &Instance,
    start: (Vec<Gene>, Plan, Objective),
    params: &Params,
    progress: &(dyn Fn() -> f64 + Sync),
    penalty: Penalty,
    decode_step: f64,
) -> Improved {
    improve_among(
        net,
        inst,
        start,
        params,
        progress,
        penalty,
        decode_step,
        None,
    )
}

/// [`improve`], changing the decisions of the vehicles in `among` only
/// (indexes into the instance; all of them when `None`).
#[allow(clippy::too_many_arguments)]
pub fn improve_among(
    net: &Network,
    inst: &Instance,
    start: (Vec<Gene>, Plan, Objective),
    params: &Params,
    progress: &(dyn Fn() -> f64 + Sync),
    penalty: Penalty,
    decode_step: f64,
    among: Option<&[usize]>,
) -> Improved {
    // Vehicles whose decisions can still change: not yet loaded.
    let loaded = |i: usize| {
        inst.vehicles[i]
            .steps
            .iter()
            .any(|s| s.stage >= Stage::Loading)
    };
    let movable: Vec<usize> = match among {
        Some(among) => {
            let mut m: Vec<usize> = among.iter().copied().filter(|&i| !loaded(i)).collect();
            m.sort_unstable();
            m.dedup();
            m
        }
        None => (0..inst.vehicles.len()).filter(|&i| !loaded(i)).collect(),
    };
    let threads = search_threads(params.threads, inst.vehicles.len());
    let (genes0, plan0, obj0) = start;
    let score0 = obj0.total_usd + penalty(&plan0);
    let info0 = infos(net, &plan0);
    /// A thread's best: its genes, score and (once improved) plan and objective.
    struct Best {
        genes: Vec<Gene>,
        score: f64,
        found: Option<(Plan, Objective)>,
        iterations: u64,
        improvements: u64,
    }
    let results: Vec<Best> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (genes0, info0, movable) = (genes0.clone(), info0.clone(), movable.clone());
                scope.spawn(move || {
                    let mut s = Search {
                        movable,
                        rng: ChaCha8Rng::seed_from_u64(params.seed.wrapping_add(t as u64 * 0x9e37)),
                    };
                    let mut cur = (genes0.clone(), score0, info0);
                    let mut best = Best {
                        genes: genes0,
                        score: score0,
                        found: None,
                        iterations: 0,
                        improvements: 0,
                    };
                    // Progress one candidate takes (the longest seen), so the
                    // search stops before a candidate would overrun the limit.
                    let mut step = decode_step.max(0.0);
                    loop {
                        let p = match params.max_iterations {
                            Some(0) => 1.0,
                            Some(m) => (best.iterations as f64 / m as f64).max(progress()),
                            None => progress(),
                        };
                        if p + step >= 1.0 || s.movable.is_empty() {
                            break;
                        }
                        let before = progress();
                        best.iterations += 1;
                        let chosen = s.select(&cur.2);
                        let mut cand = cur.0.clone();
                        s.mutate(&mut cand, &chosen, &cur.2);
                        let decoded = decode(net, inst, &cand);
                        step = step.max(progress() - before);
                        let Ok((plan, obj)) = decoded else {
                            continue;
                        };
                        let score = obj.total_usd + penalty(&plan);
                        let threshold = 0.0005 * cur.1.abs() * (1.0 - p);
                        if score <= cur.1 + threshold {
                            cur = (cand.clone(), score, infos(net, &plan));
                            if score < best.score - 1e-6 {
                                best.improvements += 1;
                                best.genes = cand;
                                best.score = score;
                                best.found = Some((plan, obj));
                            }
                        }
                    }
                    best
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("search thread"))
            .collect()
    });
    let iterations = results.iter().map(|r| r.iterations).sum();
    let improvements = results.iter().map(|r| r.improvements).sum();
    let best = results
        .into_iter()
        .reduce(|a, b| if b.score < a.score { b } else { a })
        .expect("at least one thread");
    let (plan, objective) = best.found.unwrap_or((plan0, obj0));
    Improved {
        genes: best.genes,
        plan,
        objective,
        score: best.score,
        iterations,
        improvements,
    }
}

/// Plans an instance: the best of the constructions, improved until
/// `progress()` reaches 1 (the caller's clock: elapsed over the time
/// limit) or `params.max_iterations` candidates per thread.
pub fn solve(
    net: &Network,
    inst: &Instance,
    params: &Params,
    progress: &(dyn Fn() -> f64 + Sync),
) -> Result<Solved, RestoreError> {
    solve_with(net, inst, params, progress, &|_| 0.0)
}

/// [`solve`], minimizing the objective plus `penalty` (constructions too).
pub fn solve_with(
    net: &Network,
    inst: &Instance,
    params: &Params,
    progress: &(dyn Fn() -> f64 + Sync),
    penalty: Penalty,
) -> Result<Solved, RestoreError> {
    let n = inst.vehicles.len();
    type Best = Option<(Vec<Gene>, Plan, Objective, &'static str, f64)>;
    let mut best: Best = None;
    let mut tried = Vec::new();
    let consider = |best: &mut Best,
                    tried: &mut Vec<(&'static str, Objective)>,
                    name: &'static str,
                    genes: Vec<Gene>,
                    plan: Plan,
                    obj: Objective| {
        tried.push((name, obj.clone()));
        let score = obj.total_usd + penalty(&plan);
        if best.as_ref().is_none_or(|b| score < b.4) {
            *best = Some((genes, plan, obj, name, score));
        }
    };
    // The first construction always runs: it is the first plan. Each
    // further one only when it fits in what is left of the limit (the
    // longest decode so far as its estimate), so that the limit holds at
    // any size: at 100,000 vehicles one decode takes seconds.
    let mut first_plan_progress = None;
    let mut step = 0.0f64;
    let fits = |first: bool, step: f64| first || progress() + step < 1.0;
    let mut snug = None;
    for (name, genes) in constructions(n) {
        if !fits(first_plan_progress.is_none(), step) {
            break;
        }
        let before = progress();
        let (plan, obj) = decode(net, inst, &genes)?;
        let after = progress();
        step = step.max(after - before);
        first_plan_progress.get_or_insert(after);
        if genes.first().is_some_and(|g| g.snug) {
            snug = Some((genes.clone(), plan.clone()));
        }
        consider(&mut best, &mut tried, name, genes, plan, obj);
    }
    // Just in time, backed off where the terminal cannot keep up: from the
    // snug departures, a vehicle still at the plant that the projected plan
    // rolls (its train lands in a queue that cannot be worked by the
    // cutoff) takes the departure that leaves a day for the terminal's
    // queues instead, and if it still rolls, its first departure.
    if let Some((mut genes, mut plan)) = snug {
        for _ in 0..BACKOFF_ROUNDS {
            let mut changed = false;
            for (i, v) in inst.vehicles.iter().enumerate() {
                let at_plant = v.steps.iter().all(|s| s.stage < Stage::Inland);
                if !at_plant || plan.vehicles[i].rolls <= v.rolls {
                    continue;
                }
                let g = &mut genes[i];
                if g.snug {
                    g.snug = false;
                } else if g.late {
                    g.late = false;
                } else {
                    continue;
                }
                changed = true;
            }
            if !changed || !fits(false, step) {
                break;
            }
            let (p, obj) = decode(net, inst, &genes)?;
            plan = p.clone();
            consider(
                &mut best,
                &mut tried,
                "just in time, backed off",
                genes.clone(),
                p,
                obj,
            );
        }
    }
    // The best construction again with every vehicle keeping its place in
    // the certification queue (served by promised date, none yielding):
    // where few vehicles are hopeless, yielding costs more days late than
    // it saves.
    let keeping: Option<Vec<Gene>> = best.as_ref().filter(|_| fits(false, step)).map(|b| {
        b.0.iter()
            .map(|g| Gene {
                keep_place: true,
                ..*g
            })
            .collect()
    });
    if let Some(genes) = keeping {
        let (plan, obj) = decode(net, inst, &genes)?;
        consider(
            &mut best,
            &mut tried,
            "best construction, keeping places",
            genes,
            plan,
            obj,
        );
    }
    let (genes0, plan0, obj0, name0, _) = best.expect("constructions");
    let construction = obj0.clone();
    let out = improve(
        net,
        inst,
        (genes0, plan0, obj0),
        params,
        progress,
        penalty,
        step,
    );
    Ok(Solved {
        plan: out.plan,
        objective: out.objective,
        genes: out.genes,
        construction,
        construction_name: name0,
        constructions: tried,
        first_plan_progress: first_plan_progress.unwrap_or(0.0),
        iterations: out.iterations,
        improvements: out.improvements,
    })
}

#[cfg(test)]
mod tests {
    use super::search_threads;

    #[test]
    fn large_instances_search_on_fewer_threads() {
        assert_eq!(search_threads(2, 200), 2);
        assert_eq!(search_threads(2, 50_000), 2);
        assert_eq!(search_threads(2, 60_000), 2);
        assert_eq!(search_threads(2, 100_000), 1);
        assert_eq!(search_threads(2, 1_000_000), 1);
        assert_eq!(search_threads(0, 10), 1);
        assert_eq!(search_threads(4, 40_000), 3);
    }
}
