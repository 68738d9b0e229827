//! Exact re-packing of a region of the deck: a large-neighbourhood step
//! solved as a small integer program.
//!
//! The annealing changes two slots at a time. Some improvements need many
//! slots to change at once: a near slot freed for a stay that now stands
//! deeper only pays once the stay that held it finds a place, and that one
//! another. This step frees every slot of a *region* (a ball of slots around
//! one, or a band of gate distances) and packs the *runs* they held (a
//! demand standing in one slot over a run of intervals) back into the same
//! slots, optimally under a model of the cost:
//!
//! - `y[s, c]` (0/1): slot `s` of the region holds one run of class `c`
//!   (same demand, same first and last interval); every class keeps its
//!   count, and a slot holds at most one run at a time; with a *band*, a
//!   class may only take slots within that many steps of the gate
//!   distances it holds now (how the whole deck of a small ship is
//!   re-packed in one step);
//! - a run costs twice its slot's gate distance (driven on and off along a
//!   shortest path);
//! - `r[s, p]` (0..1): slot `s` has a shortest path to the gate at port `p`
//!   through slots *open* there (no vehicle stays put through the port): a
//!   slot through at `p` has `r = 0`, a slot at distance two or more needs
//!   `r` from its parents (neighbours one step nearer the gate), and a slot
//!   worked at `p` needs `r = 1`, whether it is in the region or outside it
//!   and reached by a shortest path today. With the `y` integral, any
//!   positive `r` leads back to the gate through open slots, so `r` need
//!   not be integral.
//!
//! The model only approximates the annealer's cost (it ignores the detours
//! and rehandling of slots outside it that had no shortest path before), so
//! the caller prices the new table exactly and keeps it only when it costs
//! no more. The current packing is the solver's warm start, so a step never
//! returns a worse model cost. The solver is microlp (pure Rust), or HiGHS
//! with the feature `highs`, with a node limit, so a counted step is
//! deterministic; on a clock, HiGHS also gets the time left as its limit.

use crate::anneal::{EMPTY, Occupancy, table_cost};
use crate::instance::{GATE, Instance};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};

/// What one step looks at, and how long it may search.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RepackLimits {
    /// Slots freed per step.
    pub region: usize,
    /// Branch-and-bound nodes per step.
    pub nodes: u64,
    /// The solver's time limit for a step, in seconds (HiGHS only; microlp
    /// has none).
    pub seconds: Option<f64>,
    /// How long the caller waits for a step's solve before giving it up,
    /// in seconds: the time left in the budget, so a solve that overruns
    /// its own limit (HiGHS does not check it everywhere) still counts
    /// when it ends before the budget does. `None`: its time limit.
    pub patience: Option<f64>,
    /// Each class of runs may move only to gate distances within `band` of
    /// the nearest and farthest it holds now (`None`: anywhere in the
    /// region).
    pub band: Option<usize>,
    /// The first step frees the whole deck, with `STEP_BAND` and all the
    /// time left (on a clock; its nodes otherwise), before the regions.
    pub whole_first: bool,
    /// Every second region step is *banded*: each class within
    /// `STEP_BAND` of the gate distances it holds, on a region
    /// `BANDED_REGION_SCALE` times as large.
    pub banded_every_other: bool,
}

/// Decks of at most this many slots (no more than the largest region) get
/// a whole-deck first step (`RepackLimits::for_instance`).
pub(crate) const WHOLE_DECK_SLOTS: usize = 100;

/// The band of a whole-deck step and of a banded region step. Confined so, the program of OGC stage 1
/// prob2's whole deck (88 slots) has about 830 binaries instead of 2,024,
/// and HiGHS found the best team's 822 from tables at 824-848 in 23-36 s
/// (one thread) where the whole deck unconfined took 20-80 s, and regions
/// of 44-78 slots stopped at 826-828 (BENCHMARKS.md).
const STEP_BAND: usize = 1;

/// How much larger a banded region step's region is than an unconfined
/// one's.
const BANDED_REGION_SCALE: f64 = 1.5;

impl RepackLimits {
    /// A region of up to 100 slots (half the deck on small decks) and 1,000
    /// nodes. On stage 1 prob5 of the OGC files (278 slots, 25 demands),
    /// steps from the same half-annealed plans went further with 80 slots
    /// and 1,000 nodes than with 60 and 100, and the planner's runs with 100
    /// slots reached 1,711 more often than with 80 (BENCHMARKS.md); most
    /// steps take a fraction of a second, a few several.
    ///
    /// On a deck of at most `WHOLE_DECK_SLOTS` slots the first step frees
    /// the whole deck (`whole_first`): on OGC stage 1 prob2 (88 slots),
    /// 44-slot regions found nothing from plain tables at 826-848 in 30 s
    /// while a whole-deck step found the best team's 822; on prob1 and
    /// prob3 the step ends within 0.1-5.5 s, finding nothing better, and the
    /// regions take the rest.
    ///
    /// Every second region step is banded (`banded_every_other`): each
    /// class within `STEP_BAND` of the gate distances it holds, on a region
    /// half as large again. On stage 1 prob5, runs of unconfined steps stop
    /// at 1,715-1,719 in about half the runs; from three such plans (1,715
    /// and 1,717), banded steps on 150-slot regions reached the best team's
    /// 1,711 in 4 of 9 runs of 30 s and unconfined ones in none of 3, and
    /// planner runs of 60 s (seeds 1-18) reached 1,711 in 15 of 18 against
    /// 8 of 18 (BENCHMARKS.md).
    pub(crate) fn for_instance(inst: &Instance) -> RepackLimits {
        RepackLimits {
            region: (inst.n_nodes / 2).clamp(1, WHOLE_DECK_SLOTS),
            nodes: 1_000,
            seconds: None,
            patience: None,
            band: None,
            whole_first: inst.n_nodes.saturating_sub(1) <= WHOLE_DECK_SLOTS,
            banded_every_other: true,
        }
    }

    /// The limits of step `done` (counted from 0) of a run of steps, and
    /// whether it frees the whole deck: the first step with `whole_first`
    /// (its node limit lifted when `unbounded`), every second one banded
    /// with `banded_every_other`, the others as they are.
    fn for_step(self, done: u64, unbounded: bool) -> (RepackLimits, bool) {
        let mut limits = self;
        let whole = self.whole_first && done == 0;
        if whole {
            limits.band = Some(STEP_BAND);
            if unbounded {
                limits.nodes = u64::MAX;
            }
        } else if self.banded_every_other && done % 2 == 1 {
            limits.band = Some(STEP_BAND);
            limits.region = (self.region as f64 * BANDED_REGION_SCALE).round() as usize;
        }
        (limits, whole)
    }
}

/// How long steps go on: `steps` of them when counted, otherwise until
/// `progress()` (the fraction of the budget used) reaches 1. With the
/// budget's length in `seconds`, each step's solver gets the time left
/// (at most `STEP_SHARE` of the budget) as its limit, so the last step ends
/// with the budget; without it a step is bounded by its nodes only.
pub(crate) struct Clock<'c> {
    pub progress: &'c dyn Fn() -> f64,
    pub seconds: Option<f64>,
    pub steps: Option<u64>,
}

/// The most of a timed budget one step may take, and what a step leaves
/// before the budget's end (for pricing its table).
const STEP_SHARE: f64 = 0.05;
const STEP_MARGIN_SECONDS: f64 = 0.02;

/// How long past its patience (or its time limit, whichever is later) a
/// solve is waited for before it is given up (HiGHS only).
#[cfg(any(test, feature = "highs"))]
const SOLVE_GRACE_SECONDS: f64 = 0.3;

/// How long a step's solve is waited for: its patience (the time left in
/// the budget) or its time limit, whichever is longer, and the grace; `None`
/// without a time limit (the solve runs on the caller's thread).
#[cfg(any(test, feature = "highs"))]
fn watchdog_seconds(limits: RepackLimits) -> Option<f64> {
    let seconds = limits.seconds?;
    Some(limits.patience.map_or(seconds, |p| p.max(seconds)) + SOLVE_GRACE_SECONDS)
}

/// `run()` on a thread of its own, waited for at most `seconds`: a run that
/// takes longer is given up (its answer dropped, the thread left to finish;
/// it ends with the process at the latest) and `gave_up` is set, so the
/// caller makes no more steps.
#[cfg(any(test, feature = "highs"))]
fn within<T: Send + 'static>(
    seconds: f64,
    gave_up: &Cell<bool>,
    run: impl FnOnce() -> Option<T> + Send + 'static,
) -> Option<T> {
    let (answer, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = answer.send(run());
    });
    match wait.recv_timeout(std::time::Duration::from_secs_f64(seconds)) {
        Ok(values) => values,
        Err(_) => {
            gave_up.set(true);
            None
        }
    }
}

/// The deck's fixed facts for re-packing steps.
pub(crate) struct Repacker<'a> {
    inst: &'a Instance,
    /// Slots reachable from the gate, nearest first.
    slots: Vec<usize>,
    /// Neighbours one step nearer the gate (never the gate itself).
    parents: Vec<Vec<usize>>,
    max_distance: usize,
    /// Set when a solve outlasted the budget and was given up: no more
    /// steps are made.
    gave_up: Cell<bool>,
}

/// A slot's reach to the gate at a port, as the model sees it.
#[derive(Debug, Clone, Copy)]
enum Reach {
    Zero,
    One,
    Var(usize),
}

/// One class of runs: demand, first interval, one past the last interval.
type Class = (u32, usize, usize);

impl<'a> Repacker<'a> {
    pub(crate) fn new(inst: &'a Instance) -> Repacker<'a> {
        let d = &inst.gate_distance;
        let mut slots: Vec<usize> = (1..inst.n_nodes).filter(|&v| d[v] != usize::MAX).collect();
        slots.sort_by_key(|&v| d[v]);
        let parents = (0..inst.n_nodes)
            .map(|v| {
                inst.adjacent[v]
                    .iter()
                    .copied()
                    .filter(|&u| u != GATE && d[v] != usize::MAX && d[u] + 1 == d[v])
                    .collect()
            })
            .collect();
        let max_distance = slots.last().map_or(0, |&v| d[v]);
        Repacker {
            inst,
            slots,
            parents,
            max_distance,
            gave_up: Cell::new(false),
        }
    }

    /// A region to free: a ball around a random slot (breadth first over
    /// the deck graph; 4 in 10), the slots from a random gate distance
    /// outwards (3 in 10), or slots drawn at random (3 in 10).
    pub(crate) fn region(&self, rng: &mut ChaCha8Rng, size: usize) -> Vec<usize> {
        let size = size.min(self.slots.len());
        if size == 0 {
            return Vec::new();
        }
        let kind = rng.random_range(0..10);
        if kind >= 7 {
            // Slots anywhere: stays can trade places across the deck.
            let mut slots = self.slots.clone();
            for j in 0..size {
                let pick = rng.random_range(j..slots.len());
                slots.swap(j, pick);
            }
            slots.truncate(size);
            return slots;
        }
        if kind < 4 {
            let centre = self.slots[rng.random_range(0..self.slots.len())];
            let mut seen = vec![false; self.inst.n_nodes];
            seen[centre] = true;
            seen[GATE] = true;
            let mut region = vec![centre];
            let mut queue = VecDeque::from([centre]);
            while let Some(u) = queue.pop_front() {
                for &v in &self.inst.adjacent[u] {
                    if region.len() >= size {
                        return region;
                    }
                    if !seen[v] && self.inst.gate_distance[v] != usize::MAX {
                        seen[v] = true;
                        region.push(v);
                        queue.push_back(v);
                    }
                }
            }
            region
        } else {
            let from = rng.random_range(1..=self.max_distance.max(1));
            let first = self
                .slots
                .iter()
                .position(|&v| self.inst.gate_distance[v] >= from)
                .unwrap_or(0)
                .min(self.slots.len() - size);
            self.slots[first..first + size].to_vec()
        }
    }

    /// Steps from `table` for as long as `clock` says: each step's table
    /// is priced exactly and kept when it costs no more, and `on_gain(step,
    /// cost)` hears of every lower cost. Returns the last table kept and
    /// its cost when a step lowered the cost. With `whole_first`, the first
    /// step frees every slot, each class within `STEP_BAND` of the gate
    /// distances it holds, and on a clock it may take all the time left
    /// (regions get at most `STEP_SHARE` of the budget a step).
    pub(crate) fn steps(
        &self,
        limits: RepackLimits,
        table: &Occupancy,
        cost: u64,
        rng: &mut ChaCha8Rng,
        clock: &Clock<'_>,
        on_gain: &mut dyn FnMut(u64, u64),
    ) -> Option<(Occupancy, u64)> {
        let mut kept: Option<(Occupancy, u64)> = None;
        let mut current = cost;
        let mut done = 0u64;
        // Only HiGHS has a time limit to stop an unbounded search.
        let unbounded = clock.steps.is_none() && cfg!(feature = "highs");
        while !self.gave_up.get() {
            let at = (clock.progress)();
            let (mut limits, whole) = limits.for_step(done, unbounded);
            match (clock.steps, clock.seconds) {
                (Some(n), _) if done >= n => break,
                (Some(_), _) => {}
                (None, _) if at >= 1.0 => break,
                (None, Some(seconds)) => {
                    let left = (1.0 - at) * seconds - STEP_MARGIN_SECONDS;
                    if left < STEP_MARGIN_SECONDS {
                        break;
                    }
                    let share = if whole { 1.0 } else { STEP_SHARE };
                    limits.seconds = Some(left.min(share * seconds));
                    limits.patience = Some(left);
                }
                (None, None) => {}
            }
            done += 1;
            let region = if whole {
                self.slots.clone()
            } else {
                self.region(rng, limits.region)
            };
            let from = kept.as_ref().map_or(table, |(t, _)| t);
            if let Some((next, _)) = self.step(from, &region, limits) {
                let c = table_cost(self.inst, &next);
                if c <= current {
                    if c < current {
                        on_gain(done, c);
                    }
                    current = c;
                    kept = Some((next, c));
                }
            }
        }
        kept.filter(|(_, c)| *c < cost)
    }

    /// Re-packs the runs held by the slots of `region` into them, optimally
    /// under the model (module docs). Returns the new table and how much
    /// lower its model cost is, when the solver found one lower than the
    /// current packing's; `None` when it found nothing better within its
    /// nodes (or failed).
    pub(crate) fn step(
        &self,
        occ: &Occupancy,
        region: &[usize],
        limits: RepackLimits,
    ) -> Option<(Occupancy, u64)> {
        let inst = self.inst;
        let n = occ.n;
        let intervals = occ.intervals;
        let ports = inst.n_ports;
        let dist = &inst.gate_distance;
        let mut in_region = vec![false; n];
        for &s in region {
            in_region[s] = true;
        }

        // The runs the region holds, by class.
        let mut classes: Vec<Class> = Vec::new();
        let mut count: HashMap<Class, usize> = HashMap::new();
        let mut current: Vec<(usize, Class)> = Vec::new();
        for &s in region {
            for class in occ.runs(s) {
                let c = count.entry(class).or_insert(0);
                if *c == 0 {
                    classes.push(class);
                }
                *c += 1;
                current.push((s, class));
            }
        }
        if classes.is_empty() {
            return None;
        }
        // A run loaded at port a (its first interval is a) and unloaded at
        // port b (its last interval is b - 1) stays put through the ports
        // strictly between.
        let mut problem = Mip::default();
        let mut y: HashMap<(usize, usize), usize> = HashMap::new();
        // With a band, the gate distances each class holds now.
        let mut span: HashMap<Class, (usize, usize)> = HashMap::new();
        if limits.band.is_some() {
            for (s, class) in &current {
                let (near, far) = span.entry(*class).or_insert((usize::MAX, 0));
                *near = (*near).min(dist[*s]);
                *far = (*far).max(dist[*s]);
            }
        }
        for &s in region {
            for (ci, class) in classes.iter().enumerate() {
                if let Some(band) = limits.band {
                    let (near, far) = span[class];
                    if dist[s] + band < near || dist[s] > far + band {
                        continue;
                    }
                }
                y.insert((s, ci), problem.col(2.0 * dist[s] as f64, 1.0, true));
            }
        }
        // r[s, p]: a constant where the region cannot change it (a slot
        // outside the region reached without passing the region, or not
        // reached even with the whole region open), a variable otherwise.
        let mut r: Vec<Reach> = vec![Reach::Zero; ports * n];
        let mut now = vec![false; n];
        let mut sure = vec![false; n];
        let mut maybe = vec![false; n];
        for p in 0..ports {
            for &s in &self.slots {
                let (b, a) = (occ.before(p, s), occ.after(p, s));
                let open = !(b == a && b != EMPTY);
                let fixed = !in_region[s];
                let from =
                    |reach: &[bool]| dist[s] == 1 || self.parents[s].iter().any(|&u| reach[u]);
                now[s] = open && from(&now);
                sure[s] = fixed && open && from(&sure);
                maybe[s] = (!fixed || open) && from(&maybe);
                let cell = &mut r[p * n + s];
                if sure[s] {
                    *cell = Reach::One;
                } else if maybe[s] {
                    let v = problem.col(0.0, 1.0, false);
                    problem.hint[v] = if now[s] { 1.0 } else { 0.0 };
                    *cell = Reach::Var(v);
                    // A slot outside the region, worked here and reached by
                    // a shortest path today, must stay so.
                    if fixed && b != a && now[s] {
                        problem.row(vec![(v, 1.0)], 1.0, f64::INFINITY);
                    }
                    let parent_sure = self.parents[s].iter().any(|&u| sure[u]);
                    if dist[s] >= 2 && !parent_sure {
                        let mut row = vec![(v, 1.0)];
                        for &u in &self.parents[s] {
                            if let Reach::Var(w) = r[p * n + u] {
                                row.push((w, -1.0));
                            }
                        }
                        problem.row(row, f64::NEG_INFINITY, 0.0);
                    }
                }
            }
        }
        for (ci, class) in classes.iter().enumerate() {
            let row: Vec<(usize, f64)> = region
                .iter()
                .filter_map(|&s| y.get(&(s, ci)).map(|&v| (v, 1.0)))
                .collect();
            problem.row(row, count[class] as f64, count[class] as f64);
        }
        for &s in region {
            for i in 0..intervals {
                let row: Vec<(usize, f64)> = classes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.1 <= i && i < c.2)
                    .filter_map(|(ci, _)| y.get(&(s, ci)).map(|&v| (v, 1.0)))
                    .collect();
                if row.len() > 1 {
                    problem.row(row, f64::NEG_INFINITY, 1.0);
                }
            }
            for p in 0..ports {
                let reach = r[p * n + s];
                if let Reach::Var(v) = reach {
                    let mut row: Vec<(usize, f64)> = classes
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.1 < p && p < c.2)
                        .filter_map(|(ci, _)| y.get(&(s, ci)).map(|&v| (v, 1.0)))
                        .collect();
                    if !row.is_empty() {
                        row.push((v, 1.0));
                        problem.row(row, f64::NEG_INFINITY, 1.0);
                    }
                }
                for (ci, c) in classes.iter().enumerate() {
                    if c.1 != p && c.2 != p {
                        continue;
                    }
                    let Some(&worked) = y.get(&(s, ci)) else {
                        continue;
                    };
                    let worked = (worked, 1.0);
                    match reach {
                        Reach::One => {}
                        Reach::Zero => problem.row(vec![worked], f64::NEG_INFINITY, 0.0),
                        Reach::Var(v) => {
                            problem.row(vec![worked, (v, -1.0)], f64::NEG_INFINITY, 0.0)
                        }
                    }
                }
            }
        }

        // The current packing as the warm start (r as it is today, above).
        let index: HashMap<Class, usize> =
            classes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut held = vec![false; region.len() * classes.len()];
        for (s, class) in &current {
            let pos = region.iter().position(|x| x == s).expect("in region");
            held[pos * classes.len() + index[class]] = true;
        }
        let mut current_cost = 0.0;
        for (pos, &s) in region.iter().enumerate() {
            for ci in 0..classes.len() {
                let on = held[pos * classes.len() + ci];
                if on {
                    current_cost += 2.0 * dist[s] as f64;
                }
                if let Some(&col) = y.get(&(s, ci)) {
                    problem.hint[col] = if on { 1.0 } else { 0.0 };
                }
            }
        }

        // The answer's own cost, not the solver's report of it (HiGHS
        // stopped by its node limit can report another figure).
        let values = problem.solve(limits, &self.gave_up)?;
        if !problem.holds(&values) {
            return None;
        }
        let objective: f64 = problem
            .cols
            .iter()
            .zip(&values)
            .map(|(&(cost, _, integral), &x)| cost * if integral { x.round() } else { x })
            .sum();
        if objective > current_cost - 0.5 {
            return None;
        }
        let mut next = occ.clone();
        for &s in region {
            for i in 0..intervals {
                next.cells[i * n + s] = EMPTY;
            }
        }
        for &s in region {
            for (ci, c) in classes.iter().enumerate() {
                if y.get(&(s, ci)).is_some_and(|&col| values[col] > 0.5) {
                    for i in c.1..c.2 {
                        debug_assert_eq!(next.cells[i * n + s], EMPTY);
                        next.cells[i * n + s] = c.0;
                    }
                }
            }
        }
        Some((next, (current_cost - objective).round() as u64))
    }
}

/// A row of a [`Mip`]: its terms (column, coefficient), lower and upper
/// bound.
type Row = (Vec<(usize, f64)>, f64, f64);

/// A small mixed-integer program, kept as plain data so that either solver
/// can take it: minimise the columns' costs subject to every row's bounds;
/// `hint` is a feasible point (the current packing).
#[derive(Debug, Default)]
struct Mip {
    /// Cost, upper bound (every lower bound is 0), integral.
    cols: Vec<(f64, f64, bool)>,
    rows: Vec<Row>,
    hint: Vec<f64>,
}

impl Mip {
    fn col(&mut self, cost: f64, upper: f64, integral: bool) -> usize {
        self.cols.push((cost, upper, integral));
        self.hint.push(0.0);
        self.cols.len() - 1
    }

    fn row(&mut self, terms: Vec<(usize, f64)>, lower: f64, upper: f64) {
        self.rows.push((terms, lower, upper));
    }

    /// Whether `values` meet every bound, integrality and row (within
    /// 1e-6): a solver's answer is used only then.
    fn holds(&self, values: &[f64]) -> bool {
        const TOL: f64 = 1e-6;
        values.len() == self.cols.len()
            && self
                .cols
                .iter()
                .zip(values)
                .all(|(&(_, upper, integral), &x)| {
                    x >= -TOL && x <= upper + TOL && (!integral || (x - x.round()).abs() <= TOL)
                })
            && self.rows.iter().all(|(terms, lower, upper)| {
                let sum: f64 = terms
                    .iter()
                    .map(|&(c, a)| {
                        a * if self.cols[c].2 {
                            values[c].round()
                        } else {
                            values[c]
                        }
                    })
                    .sum();
                sum >= lower - TOL && sum <= upper + TOL
            })
    }

    /// The best point found within the node limit; `None` when the solver
    /// failed or found no point.
    #[cfg(not(feature = "highs"))]
    fn solve(&self, limits: RepackLimits, _gave_up: &Cell<bool>) -> Option<Vec<f64>> {
        use microlp::{ComparisonOp, OptimizationDirection, Problem, SolveOptions};
        let mut problem = Problem::new(OptimizationDirection::Minimize);
        let vars: Vec<_> = self
            .cols
            .iter()
            .map(|&(cost, upper, integral)| {
                if integral {
                    problem.add_integer_var(cost, (0, upper as i32))
                } else {
                    problem.add_var(cost, (0.0, upper))
                }
            })
            .collect();
        for (terms, lower, upper) in &self.rows {
            let expr: Vec<_> = terms.iter().map(|&(c, a)| (vars[c], a)).collect();
            if lower == upper {
                problem.add_constraint(expr, ComparisonOp::Eq, *lower);
            } else {
                if lower.is_finite() {
                    problem.add_constraint(expr.clone(), ComparisonOp::Ge, *lower);
                }
                if upper.is_finite() {
                    problem.add_constraint(expr, ComparisonOp::Le, *upper);
                }
            }
        }
        let mut options = SolveOptions::default();
        options.node_limit = Some(limits.nodes);
        options.warm_start = Some(
            vars.iter()
                .copied()
                .zip(self.hint.iter().copied())
                .collect(),
        );
        let outcome = problem.solve_with(options).ok()?;
        let solution = outcome.solution()?;
        Some(vars.iter().map(|&v| solution.var_value(v)).collect())
    }

    /// The same with HiGHS (feature `highs`), which also takes the time
    /// limit of `limits`.
    #[cfg(feature = "highs")]
    fn solve(&self, limits: RepackLimits, gave_up: &Cell<bool>) -> Option<Vec<f64>> {
        use highs::{HighsModelStatus, RowProblem, Sense};
        let mut problem = RowProblem::default();
        let cols: Vec<_> = self
            .cols
            .iter()
            .map(|&(cost, upper, integral)| {
                problem.add_column_with_integrality(cost, 0.0..=upper, integral)
            })
            .collect();
        for (terms, lower, upper) in &self.rows {
            let factors = terms.iter().map(|&(c, a)| (cols[c], a));
            problem.add_row(*lower..=*upper, factors);
        }
        let hint = self.hint.clone();
        let run = move || {
            let mut model = problem.optimise(Sense::Minimise);
            model.make_quiet();
            model.set_option("threads", 1);
            model.set_option("mip_max_nodes", limits.nodes.min(i32::MAX as u64) as i32);
            // A restart re-runs presolve, where HiGHS was once seen cycling
            // (below); steps made no fewer gains without restarts.
            model.set_option("mip_allow_restart", false);
            if let Some(seconds) = limits.seconds {
                model.set_option("time_limit", seconds);
            }
            model.try_set_solution(Some(&hint), None, None, None).ok()?;
            let solved = model.try_solve().ok()?;
            match solved.status() {
                HighsModelStatus::Optimal | HighsModelStatus::ReachedIterationLimit => {}
                _ if solved.primal_solution_status() == highs::HighsSolutionStatus::Feasible => {}
                _ => return None,
            }
            Some(solved.get_solution().columns().to_vec())
        };
        match watchdog_seconds(limits) {
            // HiGHS does not check its time limit everywhere: in one
            // 60-second run its presolve (`strengthenInequalities`, in a
            // restart) ran on for over ten minutes.
            Some(wait) => within(wait, gave_up, run),
            None => run(),
        }
    }
}

/// Whether every run of the table is a whole stay (a demand from its
/// origin to its destination in one slot) and every port costs `F +
/// distance` per worked slot end: what the model prices exactly. The
/// planner re-packs only when its start table is plain: elsewhere the model
/// is far from the cost, and on OGC stage 2, whose plans rehandle, steps on
/// every plan took the annealing's time for worse results (BENCHMARKS.md).
/// Returns the table's cost when it is plain, `None` otherwise.
pub(crate) fn plain(inst: &Instance, occ: &Occupancy) -> Option<u64> {
    let mut model = 0;
    for v in 1..occ.n {
        for (k, start, end) in occ.runs(v) {
            let d = &inst.demands[k as usize];
            if (start, end) != (d.origin, d.destination) {
                return None;
            }
            model += 2 * (inst.fixed_cost + inst.gate_distance[v] as u64);
        }
    }
    (table_cost(inst, occ) == model).then_some(model)
}

/// Improves a feasible plan by re-packing steps alone, until `progress()`
/// (the fraction of the budget used, polled between steps) reaches 1; with
/// the budget's length in `seconds`, each step's solver gets the time left
/// (at most 5 % of the budget) as its limit, as in the planner. Each step's
/// table is priced exactly and kept when it costs no more. With
/// `whole_first`, the first step is the planner's whole-deck step; with
/// `banded_every_other`, every second step is banded as in the planner. For
/// measuring the steps apart from the annealing.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn repack_solution(
    inst: &Instance,
    solution: &crate::Solution,
    seed: u64,
    region: usize,
    nodes: u64,
    progress: &dyn Fn() -> f64,
    seconds: Option<f64>,
    whole_first: bool,
    banded_every_other: bool,
    log: &mut dyn FnMut(usize, u64),
) -> (crate::Solution, u64) {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let occ = Occupancy::from_solution(inst, solution);
    let cost = table_cost(inst, &occ);
    let found = Repacker::new(inst).steps(
        RepackLimits {
            region,
            nodes,
            seconds: None,
            patience: None,
            band: None,
            whole_first,
            banded_every_other,
        },
        &occ,
        cost,
        &mut rng,
        &Clock {
            progress,
            seconds,
            steps: None,
        },
        &mut |step, c| log(step as usize, c),
    );
    let table = found.map_or(occ, |(table, _)| table);
    crate::anneal::to_solution(inst, &table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anneal::{table_cost, tests::random_case, to_solution};
    use crate::plan::{Params, solve};
    use rand::SeedableRng;

    /// A random case's planned table, worsened, with the random stream
    /// that worsened it, when the planner placed everything on a plain
    /// table.
    fn worsened_case(seed: u64) -> Option<(Instance, Occupancy, ChaCha8Rng)> {
        let (inst, _) = random_case(seed);
        let params = Params {
            seed,
            threads: 1,
            max_iterations: Some(2_000),
        };
        let planned = solve(&inst, &params, &|| false);
        if !planned.unplaced.is_empty() {
            return None;
        }
        let occ = Occupancy::from_solution(&inst, &planned.solution);
        plain(&inst, &occ)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let occ = worsened(&inst, occ, &mut rng);
        Some((inst, occ, rng))
    }

    /// The planner's plain table with stays moved to other slots empty
    /// all their stay, each move kept when the table stays plain: a plain
    /// table with room to improve.
    fn worsened(inst: &Instance, mut occ: Occupancy, rng: &mut ChaCha8Rng) -> Occupancy {
        let n = occ.n;
        for _ in 0..30 {
            let (v, i) = (rng.random_range(1..n), rng.random_range(0..occ.intervals));
            let k = occ.cells[i * n + v];
            if k == EMPTY {
                continue;
            }
            let d = &inst.demands[k as usize];
            let w = rng.random_range(1..n);
            if (d.origin..d.destination).any(|j| occ.cells[j * n + w] != EMPTY) {
                continue;
            }
            let mut moved = occ.clone();
            for j in d.origin..d.destination {
                moved.cells[j * n + v] = EMPTY;
                moved.cells[j * n + w] = k;
            }
            if plain(inst, &moved).is_some() {
                occ = moved;
            }
        }
        occ
    }

    /// On a table the model prices exactly, a step's table costs exactly
    /// what the model says (so the reach constraints hold for every slot
    /// worked), keeps every demand's count in every interval, and is a
    /// feasible plan.
    #[test]
    fn a_step_on_a_plain_table_costs_what_the_model_says() {
        let (mut cases, mut steps, mut gains) = (0, 0, 0);
        for seed in 0..400 {
            let Some((inst, occ, mut rng)) = worsened_case(seed) else {
                continue;
            };
            cases += 1;
            let repacker = Repacker::new(&inst);
            let cost = table_cost(&inst, &occ);
            for _ in 0..8 {
                let size = rng.random_range(2..=inst.n_nodes.max(3) - 1);
                let region = repacker.region(&mut rng, size);
                let limits = RepackLimits {
                    region: size,
                    nodes: 1_000,
                    seconds: None,
                    patience: None,
                    band: None,
                    whole_first: false,
                    banded_every_other: false,
                };
                steps += 1;
                let Some((next, gain)) = repacker.step(&occ, &region, limits) else {
                    continue;
                };
                gains += 1;
                assert!(
                    gain > 0,
                    "seed {seed}: a step returns only lower model costs"
                );
                assert_eq!(
                    table_cost(&inst, &next),
                    cost - gain,
                    "seed {seed} region {region:?}"
                );
                for i in 0..occ.intervals {
                    for k in 0..inst.demands.len() as u32 {
                        let count = |t: &Occupancy| {
                            t.cells[i * t.n..(i + 1) * t.n]
                                .iter()
                                .filter(|&&c| c == k)
                                .count()
                        };
                        assert_eq!(
                            count(&next),
                            count(&occ),
                            "seed {seed} interval {i} demand {k}"
                        );
                    }
                }
                let (solution, c) = to_solution(&inst, &next);
                let report = crate::check(&inst, &solution);
                assert!(report.feasible, "seed {seed}: {:?}", report.violations);
                assert_eq!(report.cost, c);
            }
        }
        assert!(
            cases > 100 && gains > 20,
            "{cases} plain tables, {steps} steps, {gains} lowered the cost"
        );
    }

    /// A step with a band over the whole deck moves no stay to a gate
    /// distance more than the band away from those its class held, and its
    /// table costs what the model says; on these worsened tables some such
    /// steps lower the cost.
    #[test]
    fn a_band_step_keeps_every_class_within_its_band() {
        let (mut cases, mut gains) = (0, 0);
        for seed in 0..300 {
            let Some((inst, occ, mut rng)) = worsened_case(seed) else {
                continue;
            };
            cases += 1;
            let repacker = Repacker::new(&inst);
            let band = rng.random_range(0..=1);
            let limits = RepackLimits {
                region: inst.n_nodes,
                nodes: 1_000,
                seconds: None,
                patience: None,
                band: Some(band),
                whole_first: false,
                banded_every_other: false,
            };
            let Some((next, gain)) = repacker.step(&occ, &repacker.slots, limits) else {
                continue;
            };
            gains += 1;
            assert_eq!(table_cost(&inst, &next), table_cost(&inst, &occ) - gain);
            let dist = &inst.gate_distance;
            let spans = |t: &Occupancy| {
                let mut spans: HashMap<Class, (usize, usize)> = HashMap::new();
                for (v, &d) in dist.iter().enumerate().take(t.n).skip(1) {
                    for class in t.runs(v) {
                        let (near, far) = spans.entry(class).or_insert((usize::MAX, 0));
                        *near = (*near).min(d);
                        *far = (*far).max(d);
                    }
                }
                spans
            };
            let (before, after) = (spans(&occ), spans(&next));
            for (class, (near, far)) in &after {
                let (was_near, was_far) = before[class];
                assert!(
                    *near + band >= was_near && *far <= was_far + band,
                    "seed {seed} band {band}: class {class:?} at {near}..={far}, was {was_near}..={was_far}"
                );
            }
            let (solution, _) = to_solution(&inst, &next);
            let report = crate::check(&inst, &solution);
            assert!(report.feasible, "seed {seed}: {:?}", report.violations);
        }
        assert!(
            cases > 200 && gains > 50,
            "{cases} plain tables, {gains} gains"
        );
    }

    /// The first step of a run frees the whole deck when asked (its node
    /// limit lifted only when unbounded), every second step is banded on a
    /// region half as large again, and the others are as given.
    #[test]
    fn steps_alternate_between_unconfined_and_banded_regions() {
        let limits = RepackLimits {
            region: 100,
            nodes: 1_000,
            seconds: None,
            patience: None,
            band: None,
            whole_first: false,
            banded_every_other: true,
        };
        let kinds = |limits: RepackLimits, unbounded: bool| {
            (0..5)
                .map(|done| {
                    let (l, whole) = limits.for_step(done, unbounded);
                    (whole, l.band, l.region, l.nodes)
                })
                .collect::<Vec<_>>()
        };
        let unconfined = (false, None, 100, 1_000);
        let banded = (false, Some(STEP_BAND), 150, 1_000);
        assert_eq!(
            kinds(limits, true),
            vec![unconfined, banded, unconfined, banded, unconfined]
        );
        let whole = RepackLimits {
            whole_first: true,
            ..limits
        };
        assert_eq!(
            kinds(whole, true)[0],
            (true, Some(STEP_BAND), 100, u64::MAX)
        );
        assert_eq!(kinds(whole, false)[0], (true, Some(STEP_BAND), 100, 1_000));
        assert_eq!(kinds(whole, true)[1..], kinds(limits, true)[1..]);
        let never = RepackLimits {
            banded_every_other: false,
            ..limits
        };
        assert_eq!(kinds(never, true), vec![unconfined; 5]);
    }

    /// Counted steps as the planner makes them (a whole-deck first step on
    /// small decks, banded steps between unconfined ones), from worsened
    /// plain tables: what they keep is cheaper than the start, costs what
    /// they say, and is a feasible plan; on these tables most runs of steps
    /// lower the cost.
    #[test]
    fn the_planners_steps_keep_feasible_cheaper_tables() {
        let (mut cases, mut gains) = (0, 0);
        for seed in 0..150 {
            let Some((inst, occ, mut rng)) = worsened_case(seed) else {
                continue;
            };
            cases += 1;
            let cost = table_cost(&inst, &occ);
            let limits = RepackLimits::for_instance(&inst);
            assert!(limits.banded_every_other);
            let clock = Clock {
                progress: &|| 0.0,
                seconds: None,
                steps: Some(6),
            };
            let Some((table, c)) =
                Repacker::new(&inst).steps(limits, &occ, cost, &mut rng, &clock, &mut |_, _| {})
            else {
                continue;
            };
            gains += 1;
            assert!(c < cost, "seed {seed}: {c} against {cost}");
            assert_eq!(table_cost(&inst, &table), c, "seed {seed}");
            let (solution, total) = to_solution(&inst, &table);
            let report = crate::check(&inst, &solution);
            assert!(report.feasible, "seed {seed}: {:?}", report.violations);
            assert_eq!(report.cost, total, "seed {seed}");
        }
        assert!(
            cases > 80 && gains > cases / 2,
            "{cases} plain tables, {gains} lowered"
        );
    }

    /// A solve that overruns is given up at the watchdog's time, and one
    /// that answers in time is used.
    #[test]
    fn a_solve_past_the_watchdog_is_given_up() {
        use std::time::{Duration, Instant};
        let gave_up = Cell::new(false);
        let started = Instant::now();
        let answer = within(0.2, &gave_up, || {
            std::thread::sleep(Duration::from_secs(5));
            Some(1)
        });
        assert_eq!(answer, None);
        assert!(gave_up.get());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let gave_up = Cell::new(false);
        assert_eq!(within(5.0, &gave_up, || Some(2)), Some(2));
        assert!(!gave_up.get());
    }

    /// A solve that overruns its own time limit (HiGHS does not check it
    /// everywhere) is waited for while the budget lasts (its patience), and
    /// its answer used; without patience it is given up at its limit and
    /// the grace.
    #[test]
    fn a_solve_past_its_limit_is_waited_for_while_the_budget_lasts() {
        use std::time::Duration;
        let limits = RepackLimits {
            region: 10,
            nodes: 1_000,
            seconds: Some(0.05),
            patience: Some(3.0),
            band: None,
            whole_first: false,
            banded_every_other: false,
        };
        let slow = || {
            std::thread::sleep(Duration::from_millis(800));
            Some(3)
        };
        assert_eq!(watchdog_seconds(limits), Some(3.0 + SOLVE_GRACE_SECONDS));
        let gave_up = Cell::new(false);
        assert_eq!(
            within(watchdog_seconds(limits).unwrap(), &gave_up, slow),
            Some(3)
        );
        assert!(!gave_up.get());
        let impatient = RepackLimits {
            patience: None,
            ..limits
        };
        assert_eq!(
            watchdog_seconds(impatient),
            Some(0.05 + SOLVE_GRACE_SECONDS)
        );
        assert_eq!(
            within(watchdog_seconds(impatient).unwrap(), &gave_up, slow),
            None
        );
        assert!(gave_up.get());
        let untimed = RepackLimits {
            seconds: None,
            ..limits
        };
        assert_eq!(watchdog_seconds(untimed), None);
    }

    /// On a clock, HiGHS gets the time left as its limit, so steps end with
    /// the budget even when one step alone would take minutes: here the
    /// whole deck of OGC stage 1 prob5 (278 slots) freed at once, with no
    /// node limit to speak of (a step took 200 s with 200 nodes).
    #[cfg(feature = "highs")]
    #[test]
    fn timed_steps_end_with_the_budget() {
        use std::time::{Duration, Instant};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/ogc2025/stage1/prob5.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipping: {} not found", path.display());
            return;
        };
        let inst = Instance::parse(&text).unwrap();
        let params = Params {
            seed: 1,
            threads: 1,
            max_iterations: Some(20_000),
        };
        let planned = solve(&inst, &params, &|| false);
        let occ = Occupancy::from_solution(&inst, &planned.solution);
        let limits = RepackLimits {
            region: inst.n_nodes,
            nodes: u64::MAX,
            seconds: None,
            patience: None,
            band: None,
            whole_first: false,
            banded_every_other: false,
        };
        let budget = Duration::from_millis(600);
        let started = Instant::now();
        let progress = || started.elapsed().as_secs_f64() / budget.as_secs_f64();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let repacker = Repacker::new(&inst);
        let found = repacker.steps(
            limits,
            &occ,
            table_cost(&inst, &occ),
            &mut rng,
            &Clock {
                progress: &progress,
                seconds: Some(budget.as_secs_f64()),
                steps: None,
            },
            &mut |_, _| {},
        );
        let took = started.elapsed();
        assert!(
            took < budget + Duration::from_millis(300),
            "steps took {took:?} of a {budget:?} budget"
        );
        // Ended by HiGHS's own time limit, not by the watchdog.
        assert!(!repacker.gave_up.get(), "a solve overran its time limit");
        if let Some((table, _)) = found {
            let (solution, _) = to_solution(&inst, &table);
            assert!(crate::check(&inst, &solution).feasible);
        }
    }
}
