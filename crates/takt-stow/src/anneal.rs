//! The planner's main search: simulated annealing over *occupancy plans*.
//!
//! An occupancy plan says, for every port interval (after port `p`, before
//! port `p + 1`), which demand stands in every slot; each demand has exactly
//! its quantity on board in every interval of its voyage. Vehicles of one
//! demand are interchangeable, so the plan fixes everything the cost depends
//! on. At port `p` the slots whose content is the same before and after the
//! port hold *through* vehicles that stay put; every other slot is worked:
//! its old vehicle (if any) is driven off, then its new one (if any) driven
//! on. All unloadings come first, nearest the gate first, then all loadings,
//! farthest first, each along a shortest path in the deck graph without the
//! through slots. Such a path only passes slots nearer the gate than its
//! end, which are empty at that moment, so every route is feasible and the
//! port costs exactly `F + distance` per worked slot end. When a worked slot
//! cannot be reached without crossing through slots, the through vehicles
//! on the way behind the fewest of them (0-1 BFS) are discharged temporarily
//! and reloaded into the same slot; repeated until everything is reachable.
//!
//! A vehicle that changes slot while on board (its demand leaves one worked
//! slot and appears in another) is relocated when that is cheaper: it stays
//! put while the others are discharged around it, then moves along listed
//! edge orientations through empty slots, then the loads go around it.
//! Otherwise it is discharged and reloaded (a temporary discharge). Staying
//! put is free. The whole voyage is planned at once, with every future port
//! known.
//!
//! The search swaps the contents of two slots over a run of intervals (the
//! run of one slot's content, or the union with the other's, or a part of
//! it): a swap keeps every demand's count, so every neighbour is a valid
//! plan, and only the ports at the ends of and inside the run change cost.
//! Moves are accepted by the Metropolis rule under a temperature that
//! decays geometrically over cycles of iterations counted (no clock), each
//! twice as long as the one before, each restarting from the best plan.

use crate::check::route_cost;
use crate::instance::{GATE, Instance};
use crate::solution::{Move, Solution};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

pub(crate) const EMPTY: u32 = u32::MAX;
const UNREACHED: usize = usize::MAX;
/// Cost of a port whose worked slots cannot be reached at all (a deck graph
/// not connected to the gate).
const UNREACHABLE_PENALTY: u64 = 1 << 40;

/// Demand per slot per interval: `cells[i * n + v]`, intervals `0..P-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Occupancy {
    pub n: usize,
    pub intervals: usize,
    pub cells: Vec<u32>,
}

impl Occupancy {
    /// The deck after every port of a feasible solution.
    pub(crate) fn from_solution(inst: &Instance, sol: &Solution) -> Occupancy {
        let n = inst.n_nodes;
        let intervals = inst.n_ports.saturating_sub(1);
        let mut deck = vec![EMPTY; n];
        let mut cells = Vec::with_capacity(intervals * n);
        for p in 0..intervals {
            if let Some(moves) = sol.ports.get(p) {
                for m in moves {
                    let first = m.route[0];
                    let last = *m.route.last().expect("routes have nodes");
                    if first != GATE {
                        deck[first] = EMPTY;
                    }
                    if last != GATE {
                        deck[last] = m.demand as u32;
                    }
                }
            }
            cells.extend_from_slice(&deck);
        }
        Occupancy {
            n,
            intervals,
            cells,
        }
    }

    #[inline]
    fn get(&self, interval: usize, v: usize) -> u32 {
        self.cells[interval * self.n + v]
    }

    /// Content of `v` before port `p` works.
    #[inline]
    fn before(&self, p: usize, v: usize) -> u32 {
        if p == 0 { EMPTY } else { self.get(p - 1, v) }
    }

    /// Content of `v` after port `p` works.
    #[inline]
    fn after(&self, p: usize, v: usize) -> u32 {
        if p >= self.intervals {
            EMPTY
        } else {
            self.get(p, v)
        }
    }

    /// Whether `v` holds a vehicle staying put through port `p`.
    #[inline]
    fn through(&self, p: usize, v: usize) -> bool {
        let b = self.before(p, v);
        b != EMPTY && b == self.after(p, v)
    }

    fn swap_range(&mut self, v: usize, w: usize, from: usize, to: usize) {
        for i in from..=to {
            self.cells.swap(i * self.n + v, i * self.n + w);
        }
    }

    /// The maximal run of intervals around `i` in which `v` holds the same.
    fn run(&self, v: usize, i: usize) -> (usize, usize) {
        let c = self.get(i, v);
        let mut a = i;
        while a > 0 && self.get(a - 1, v) == c {
            a -= 1;
        }
        let mut b = i;
        while b + 1 < self.intervals && self.get(b + 1, v) == c {
            b += 1;
        }
        (a, b)
    }
}

/// Port evaluation with scratch buffers.
pub(crate) struct Evaluator<'a> {
    inst: &'a Instance,
    through: Vec<bool>,
    rehandled: Vec<bool>,
    want: Vec<bool>,
    blocked: Vec<bool>,
    moving: Vec<bool>,
    dist2: Vec<usize>,
    parent2: Vec<usize>,
    /// Relocation candidates at the current port: (from, to, demand).
    pairs: Vec<(usize, usize, u32)>,
    dist: Vec<usize>,
    parent: Vec<usize>,
    cost01: Vec<usize>,
    queue: VecDeque<usize>,
    worked: Vec<usize>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(inst: &'a Instance) -> Evaluator<'a> {
        let n = inst.n_nodes;
        Evaluator {
            inst,
            through: vec![false; n],
            rehandled: vec![false; n],
            want: vec![false; n],
            blocked: vec![false; n],
            moving: vec![false; n],
            dist2: vec![UNREACHED; n],
            parent2: vec![UNREACHED; n],
            pairs: Vec::new(),
            dist: vec![UNREACHED; n],
            parent: vec![UNREACHED; n],
            cost01: vec![UNREACHED; n],
            queue: VecDeque::new(),
            worked: Vec::new(),
        }
    }

    /// BFS from the gate avoiding through slots; stops once every worked
    /// slot is reached.
    fn bfs(&mut self) {
        self.dist.fill(UNREACHED);
        self.dist[GATE] = 0;
        for &v in &self.worked {
            self.want[v] = true;
        }
        let mut missing = self.worked.len();
        self.queue.clear();
        if missing > 0 {
            self.queue.push_back(GATE);
        }
        'search: while let Some(u) = self.queue.pop_front() {
            let du = self.dist[u] + 1;
            for &v in &self.inst.adjacent[u] {
                if self.dist[v] == UNREACHED && !self.through[v] {
                    self.dist[v] = du;
                    self.parent[v] = u;
                    self.queue.push_back(v);
                    if self.want[v] {
                        missing -= 1;
                        if missing == 0 {
                            break 'search;
                        }
                    }
                }
            }
        }
        for &v in &self.worked {
            self.want[v] = false;
        }
    }

    /// Through slots of port `p`, forced rehandles, and distances. Returns
    /// false when some worked slot cannot be reached at all.
    fn settle(&mut self, occ: &Occupancy, p: usize) -> bool {
        let n = self.inst.n_nodes;
        self.worked.clear();
        for v in 1..n {
            let (b, a) = (occ.before(p, v), occ.after(p, v));
            self.rehandled[v] = false;
            self.through[v] = b == a && b != EMPTY;
            if b != a {
                self.worked.push(v);
            }
        }
        loop {
            self.bfs();
            if self.worked.iter().all(|&v| self.dist[v] != UNREACHED) {
                return true;
            }
            // 0-1 BFS: entering a through slot costs 1.
            self.cost01.fill(UNREACHED);
            self.cost01[GATE] = 0;
            self.queue.clear();
            self.queue.push_back(GATE);
            while let Some(u) = self.queue.pop_front() {
                let cu = self.cost01[u];
                for &v in &self.inst.adjacent[u] {
                    if v == GATE {
                        continue;
                    }
                    let step = usize::from(self.through[v]);
                    if cu + step < self.cost01[v] {
                        self.cost01[v] = cu + step;
                        self.parent[v] = u;
                        if step == 0 {
                            self.queue.push_front(v);
                        } else {
                            self.queue.push_back(v);
                        }
                    }
                }
            }
            let target = self
                .worked
                .iter()
                .copied()
                .filter(|&v| self.dist[v] == UNREACHED)
                .min_by_key(|&v| (self.cost01[v], v))
                .expect("some worked slot is unreachable");
            if self.cost01[target] == UNREACHED {
                return false;
            }
            let mut u = target;
            while u != GATE {
                if self.through[u] {
                    self.through[u] = false;
                    self.rehandled[u] = true;
                    self.worked.push(u);
                }
                u = self.parent[u];
            }
        }
    }

    /// Exact cost of port `p` under the rules in the module docs.
    fn base_cost(&mut self, occ: &Occupancy, p: usize) -> u64 {
        let f = self.inst.fixed_cost;
        let mut cost = 0;
        for &v in &self.worked {
            let d = self.dist[v] as u64;
            if self.rehandled[v] {
                cost += 2 * (f + d);
            } else {
                if occ.before(p, v) != EMPTY {
                    cost += f + d;
                }
                if occ.after(p, v) != EMPTY {
                    cost += f + d;
                }
            }
        }
        cost
    }

    /// Exact cost of port `p` (the cheaper of the plain plan and the one
    /// with relocations, see [`Evaluator::relocation_pass`]).
    pub(crate) fn port_cost(&mut self, occ: &Occupancy, p: usize) -> u64 {
        self.port(occ, p, None)
    }

    /// The routes of port `p`, in execution order, as costed by
    /// [`Evaluator::port_cost`].
    pub(crate) fn port_moves(&mut self, occ: &Occupancy, p: usize) -> Vec<Move> {
        let mut moves = Vec::new();
        self.port(occ, p, Some(&mut moves));
        moves
    }

    fn port(&mut self, occ: &Occupancy, p: usize, emit: Option<&mut Vec<Move>>) -> u64 {
        if !self.settle(occ, p) {
            return UNREACHABLE_PENALTY;
        }
        let base = self.base_cost(occ, p);
        self.find_pairs(occ, p);
        let mut best: Option<u64> = None;
        while !self.pairs.is_empty() {
            match self.relocation_pass(occ, p, None) {
                Ok(c) => {
                    best = Some(c);
                    break;
                }
                Err(Some(i)) => {
                    self.pairs.remove(i);
                }
                Err(None) => {
                    self.pairs.clear();
                }
            }
        }
        match best {
            Some(c) if c < base => {
                if let Some(out) = emit {
                    let done = self.relocation_pass(occ, p, Some(out));
                    debug_assert_eq!(done, Ok(c));
                }
                c
            }
            _ => {
                if let Some(out) = emit {
                    self.settle(occ, p);
                    *out = self.base_moves(occ, p);
                }
                base
            }
        }
    }

    /// Vehicles that change slot at port `p` without leaving (a worked slot
    /// loses a demand that another worked slot gains): candidates for a
    /// relocation instead of a discharge and reload.
    fn find_pairs(&mut self, occ: &Occupancy, p: usize) {
        self.pairs.clear();
        let mut from: Vec<(u32, usize)> = Vec::new();
        let mut to: Vec<(u32, usize)> = Vec::new();
        for &v in &self.worked {
            if self.rehandled[v] {
                continue;
            }
            let (b, a) = (occ.before(p, v), occ.after(p, v));
            if b != EMPTY && self.inst.demands[b as usize].destination > p {
                from.push((b, v));
            }
            if a != EMPTY && self.inst.demands[a as usize].origin < p {
                to.push((a, v));
            }
        }
        if from.is_empty() || to.is_empty() {
            return;
        }
        from.sort_unstable();
        to.sort_unstable();
        let (mut i, mut j) = (0, 0);
        while i < from.len() && j < to.len() {
            match from[i].0.cmp(&to[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    self.pairs.push((from[i].1, to[j].1, from[i].0));
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// BFS from the gate avoiding `blocked` slots (full, into `dist2`,
    /// `parent2`).
    fn bfs_avoiding(&mut self) {
        self.dist2.fill(UNREACHED);
        self.dist2[GATE] = 0;
        self.queue.clear();
        self.queue.push_back(GATE);
        while let Some(u) = self.queue.pop_front() {
            let du = self.dist2[u] + 1;
            for &v in &self.inst.adjacent[u] {
                if self.dist2[v] == UNREACHED && !self.blocked[v] {
                    self.dist2[v] = du;
                    self.parent2[v] = u;
                    self.queue.push_back(v);
                }
            }
        }
    }

    fn route2(&self, v: usize) -> Vec<usize> {
        let mut path = vec![v];
        let mut u = v;
        while u != GATE {
            u = self.parent2[u];
            path.push(u);
        }
        path.reverse();
        path
    }

    /// Port `p` worked with the vehicles of `pairs` relocated: (1) every
    /// other vehicle leaving a worked slot is discharged, nearest first,
    /// avoiding the through slots and the relocating vehicles; (2) each
    /// relocating vehicle moves along listed edge orientations through
    /// empty slots to its new slot; (3) every other vehicle is loaded,
    /// farthest first, avoiding the through slots and the relocated
    /// vehicles. `Err(Some(i))`: pair `i` cannot be relocated;
    /// `Err(None)`: the plan fails otherwise.
    fn relocation_pass(
        &mut self,
        occ: &Occupancy,
        p: usize,
        mut emit: Option<&mut Vec<Move>>,
    ) -> Result<u64, Option<usize>> {
        let f = self.inst.fixed_cost;
        let mut cost = 0;
        // (1) discharge
        self.blocked.copy_from_slice(&self.through);
        for &(a, _, _) in &self.pairs {
            self.blocked[a] = true;
            self.moving[a] = true;
        }
        self.bfs_avoiding();
        let mut off: Vec<(usize, usize, u32)> = Vec::new();
        for &v in &self.worked {
            if self.moving[v] {
                continue;
            }
            let k = occ.before(p, v);
            if k != EMPTY {
                off.push((self.dist2[v], v, k));
            }
        }
        for &(a, _, _) in &self.pairs {
            self.moving[a] = false;
        }
        if off.iter().any(|o| o.0 == UNREACHED) {
            return Err(None);
        }
        off.sort_unstable();
        for &(d, v, k) in &off {
            cost += f + d as u64;
            if let Some(out) = emit.as_deref_mut() {
                let mut route = self.route2(v);
                route.reverse();
                out.push(Move {
                    route,
                    demand: k as usize,
                });
            }
        }
        // (2) relocate: occupied now are the through slots and the pending
        // relocating vehicles (`blocked`).
        let mut done = vec![false; self.pairs.len()];
        let mut left = self.pairs.len();
        while left > 0 {
            let mut progress = false;
            for (i, is_done) in done.iter_mut().enumerate() {
                if *is_done {
                    continue;
                }
                let (a, b, k) = self.pairs[i];
                if self.blocked[b] {
                    continue; // its vehicle has not moved yet
                }
                // Directed BFS from a through empty slots.
                self.dist2.fill(UNREACHED);
                self.dist2[a] = 0;
                self.queue.clear();
                self.queue.push_back(a);
                'bfs: while let Some(u) = self.queue.pop_front() {
                    for &v in &self.inst.forward[u] {
                        if v == GATE || self.dist2[v] != UNREACHED || self.blocked[v] {
                            continue;
                        }
                        self.dist2[v] = self.dist2[u] + 1;
                        self.parent2[v] = u;
                        if v == b {
                            break 'bfs;
                        }
                        self.queue.push_back(v);
                    }
                }
                if self.dist2[b] == UNREACHED {
                    return Err(Some(i));
                }
                cost += f + self.dist2[b] as u64;
                if let Some(out) = emit.as_deref_mut() {
                    let mut route = vec![b];
                    let mut u = b;
                    while u != a {
                        u = self.parent2[u];
                        route.push(u);
                    }
                    route.reverse();
                    out.push(Move {
                        route,
                        demand: k as usize,
                    });
                }
                self.blocked[a] = false;
                self.blocked[b] = true;
                *is_done = true;
                left -= 1;
                progress = true;
            }
            if !progress {
                let i = (0..self.pairs.len()).find(|&i| !done[i]).unwrap_or(0);
                return Err(Some(i));
            }
        }
        // (3) load
        self.bfs_avoiding();
        let mut on: Vec<(usize, usize, u32)> = Vec::new();
        for &(_, b, _) in &self.pairs {
            self.moving[b] = true;
        }
        for &v in &self.worked {
            if self.moving[v] {
                continue;
            }
            let k = if self.rehandled[v] {
                occ.before(p, v)
            } else {
                occ.after(p, v)
            };
            if k != EMPTY {
                on.push((self.dist2[v], v, k));
            }
        }
        for &(_, b, _) in &self.pairs {
            self.moving[b] = false;
        }
        if on.iter().any(|o| o.0 == UNREACHED) {
            return Err(None);
        }
        on.sort_unstable_by(|x, y| y.cmp(x));
        for &(d, v, k) in &on {
            cost += f + d as u64;
            if let Some(out) = emit.as_deref_mut() {
                out.push(Move {
                    route: self.route2(v),
                    demand: k as usize,
                });
            }
        }
        Ok(cost)
    }

    fn route_to(&self, v: usize) -> Vec<usize> {
        let mut path = vec![v];
        let mut u = v;
        while u != GATE {
            u = self.parent[u];
            path.push(u);
        }
        path.reverse();
        path
    }

    /// The routes of port `p`, in execution order.
    fn base_moves(&mut self, occ: &Occupancy, p: usize) -> Vec<Move> {
        let mut off: Vec<(usize, usize, u32)> = Vec::new();
        let mut on: Vec<(usize, usize, u32)> = Vec::new();
        for &v in &self.worked {
            let d = self.dist[v];
            if self.rehandled[v] {
                let k = occ.before(p, v);
                off.push((d, v, k));
                on.push((d, v, k));
                continue;
            }
            let (b, a) = (occ.before(p, v), occ.after(p, v));
            if b != EMPTY {
                off.push((d, v, b));
            }
            if a != EMPTY {
                on.push((d, v, a));
            }
        }
        off.sort_unstable();
        on.sort_unstable_by(|x, y| y.cmp(x));
        let mut moves = Vec::with_capacity(off.len() + on.len());
        for &(_, v, k) in &off {
            let mut route = self.route_to(v);
            route.reverse();
            moves.push(Move {
                route,
                demand: k as usize,
            });
        }
        for &(_, v, k) in &on {
            moves.push(Move {
                route: self.route_to(v),
                demand: k as usize,
            });
        }
        moves
    }
}

/// Writes the plan's routes.
pub(crate) fn to_solution(inst: &Instance, occ: &Occupancy) -> (Solution, u64) {
    let mut ev = Evaluator::new(inst);
    let ports: Vec<Vec<Move>> = (0..inst.n_ports).map(|p| ev.port_moves(occ, p)).collect();
    let cost = ports
        .iter()
        .flatten()
        .map(|m| route_cost(inst, &m.route))
        .sum();
    (Solution { ports }, cost)
}

/// Annealing knobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub t_start: f64,
    pub t_end: f64,
    pub cycle: u64,
}

impl Schedule {
    /// Starting temperature about `0.3 F` on even threads and `0.15 F` on
    /// odd ones (neither is better everywhere); cycles start at 40
    /// iterations per slot and port.
    pub(crate) fn for_instance(inst: &Instance, thread: usize) -> Schedule {
        let f = inst.fixed_cost.max(1) as f64;
        let size = (inst.n_nodes * inst.n_ports.max(2)) as u64;
        let factor = if thread.is_multiple_of(2) { 0.3 } else { 0.15 };
        Schedule {
            t_start: factor * f + 2.0,
            t_end: 0.5,
            cycle: (size * 40).max(10_000),
        }
    }
}

/// The annealer's state.
pub(crate) struct Annealer<'a> {
    inst: &'a Instance,
    ev: Evaluator<'a>,
    pub occ: Occupancy,
    port_cost: Vec<u64>,
    pub cost: u64,
    pub best: Occupancy,
    pub best_cost: u64,
    scratch: Vec<u64>,
}

impl<'a> Annealer<'a> {
    pub(crate) fn new(inst: &'a Instance, occ: Occupancy) -> Annealer<'a> {
        let mut ev = Evaluator::new(inst);
        let port_cost: Vec<u64> = (0..inst.n_ports).map(|p| ev.port_cost(&occ, p)).collect();
        let cost = port_cost.iter().sum();
        Annealer {
            inst,
            ev,
            best: occ.clone(),
            occ,
            port_cost,
            cost,
            best_cost: cost,
            scratch: Vec::new(),
        }
    }

    /// Runs up to `iterations` moves (polling `should_stop` every few);
    /// returns the number made.
    pub(crate) fn run(
        &mut self,
        rng: &mut ChaCha8Rng,
        schedule: Schedule,
        iterations: u64,
        should_stop: &dyn Fn() -> bool,
    ) -> u64 {
        let n = self.inst.n_nodes;
        let intervals = self.occ.intervals;
        if intervals == 0 || n < 3 {
            return 0;
        }
        let mut done = 0u64;
        let ratio = (schedule.t_end / schedule.t_start).ln();
        // Cycles double in length: whatever the time limit, the last
        // complete cycle had at least a third of the run.
        let mut cycle = schedule.cycle;
        let mut phase = 0u64;
        while done < iterations {
            if done.is_multiple_of(32) && should_stop() {
                break;
            }
            if phase == cycle {
                self.restore_best();
                phase = 0;
                cycle = cycle.saturating_mul(2);
            }
            let temp = schedule.t_start * (ratio * phase as f64 / cycle as f64).exp();
            done += 1;
            phase += 1;
            self.step(rng, temp);
        }
        done
    }

    fn restore_best(&mut self) {
        if self.cost != self.best_cost {
            self.occ.clone_from(&self.best);
            for p in 0..self.inst.n_ports {
                self.port_cost[p] = self.ev.port_cost(&self.occ, p);
            }
            self.cost = self.port_cost.iter().sum();
        }
    }

    fn step(&mut self, rng: &mut ChaCha8Rng, temp: f64) {
        let n = self.inst.n_nodes;
        let intervals = self.occ.intervals;
        let i = rng.random_range(0..intervals);
        let mut v = rng.random_range(1..n);
        let mut tries = 0;
        while self.occ.get(i, v) == EMPTY && tries < 8 {
            v = rng.random_range(1..n);
            tries += 1;
        }
        let w = match rng.random_range(0..3) {
            0 => {
                // A slot near v: a neighbour's neighbour.
                let a = &self.inst.adjacent[v];
                let u = a[rng.random_range(0..a.len())];
                let b = &self.inst.adjacent[u];
                b[rng.random_range(0..b.len())]
            }
            1 => rng.random_range(1..n),
            _ => {
                // An empty slot, if one turns up soon.
                let mut w = rng.random_range(1..n);
                for _ in 0..8 {
                    if self.occ.get(i, w) == EMPTY {
                        break;
                    }
                    w = rng.random_range(1..n);
                }
                w
            }
        };
        if w == GATE || w == v || self.occ.get(i, v) == self.occ.get(i, w) {
            return;
        }
        let (mut a, mut b) = self.occ.run(v, i);
        match rng.random_range(0..10) {
            0..=5 => {}
            6..=7 => {
                let (c, d) = self.occ.run(w, i);
                a = a.min(c);
                b = b.max(d);
            }
            8 => a = i,
            _ => b = i,
        }
        self.occ.swap_range(v, w, a, b);
        let last_port = (b + 1).min(self.inst.n_ports - 1);
        self.scratch.clear();
        let mut new_sum = 0;
        let mut old_sum = 0;
        for p in a..=last_port {
            // Inside the run, two slots that both hold a vehicle staying put
            // leave the port's through and worked slots as they were.
            let both_through = p > a && p <= b && self.occ.through(p, v) && self.occ.through(p, w);
            let c = if both_through {
                self.port_cost[p]
            } else {
                self.ev.port_cost(&self.occ, p)
            };
            self.scratch.push(c);
            new_sum += c;
            old_sum += self.port_cost[p];
        }
        let accept = new_sum <= old_sum
            || rng.random::<f64>() < (-((new_sum - old_sum) as f64) / temp).exp();
        if accept {
            for (j, p) in (a..=last_port).enumerate() {
                self.port_cost[p] = self.scratch[j];
            }
            self.cost = self.cost + new_sum - old_sum;
            if self.cost < self.best_cost {
                self.best_cost = self.cost;
                self.best.clone_from(&self.occ);
            }
        } else {
            self.occ.swap_range(v, w, a, b);
        }
    }
}
