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

    /// The same table backwards in time (interval `i` becomes
    /// `intervals - 1 - i`): the plan of the reversed voyage.
    pub(crate) fn reversed(&self) -> Occupancy {
        let mut cells = Vec::with_capacity(self.cells.len());
        for i in (0..self.intervals).rev() {
            cells.extend_from_slice(&self.cells[i * self.n..(i + 1) * self.n]);
        }
        Occupancy {
            n: self.n,
            intervals: self.intervals,
            cells,
        }
    }

    #[inline]
    fn get(&self, interval: usize, v: usize) -> u32 {
        self.cells[interval * self.n + v]
    }

    /// Content of `v` before port `p` works.
    #[inline]
    pub(crate) fn before(&self, p: usize, v: usize) -> u32 {
        if p == 0 { EMPTY } else { self.get(p - 1, v) }
    }

    /// Content of `v` after port `p` works.
    #[inline]
    pub(crate) fn after(&self, p: usize, v: usize) -> u32 {
        if p >= self.intervals {
            EMPTY
        } else {
            self.get(p, v)
        }
    }

    /// The runs of slot `v`: each demand standing in it over consecutive
    /// intervals, as (demand, first interval, one past the last).
    pub(crate) fn runs(&self, v: usize) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < self.intervals && self.get(i, v) == EMPTY {
                i += 1;
            }
            if i == self.intervals {
                return None;
            }
            let (start, last) = self.run(v, i);
            i = last + 1;
            Some((self.get(start, v), start, i))
        })
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

    /// Whether the vehicle in `v` during interval `i` was there during
    /// `i - 1` too (it stays put through port `i`).
    #[inline]
    fn stays(&self, v: usize, i: usize) -> bool {
        let c = self.get(i, v);
        c != EMPTY && self.get(i - 1, v) == c
    }

    /// The smallest run of intervals around `i` over which swapping `v`
    /// and `w` moves whole stays: no vehicle of either slot is split
    /// between the two (a Kempe chain of the two slots over time).
    fn chain(&self, v: usize, w: usize, i: usize) -> (usize, usize) {
        let mut a = i;
        while a > 0 && (self.stays(v, a) || self.stays(w, a)) {
            a -= 1;
        }
        let mut b = i;
        while b + 1 < self.intervals && (self.stays(v, b + 1) || self.stays(w, b + 1)) {
            b += 1;
        }
        (a, b)
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

/// Adjacency lists in one array: the neighbours of `u` are
/// `to[start[u]..start[u + 1]]`.
struct Csr {
    start: Vec<u32>,
    to: Vec<u32>,
}

impl Csr {
    fn new(lists: &[Vec<usize>]) -> Csr {
        let mut start = Vec::with_capacity(lists.len() + 1);
        let mut to = Vec::new();
        start.push(0);
        for list in lists {
            to.extend(list.iter().map(|&v| v as u32));
            start.push(to.len() as u32);
        }
        Csr { start, to }
    }

    #[inline]
    fn of(&self, u: usize) -> &[u32] {
        &self.to[self.start[u] as usize..self.start[u + 1] as usize]
    }
}

/// A double-ended queue of node ids on a fixed ring. The searches here hold
/// at most two entries per node at once (a 0-1 BFS holds each node at most
/// once per cost, and only two costs are queued at a time), so a ring of
/// `2 n` never fills.
struct Ring {
    buf: Vec<u32>,
    head: usize,
    len: usize,
    mask: usize,
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        let size = capacity.next_power_of_two();
        Ring {
            buf: vec![0; size],
            head: 0,
            len: 0,
            mask: size - 1,
        }
    }

    #[inline]
    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    #[inline]
    fn push_back(&mut self, v: usize) {
        assert!(self.len < self.buf.len(), "ring full");
        self.buf[(self.head + self.len) & self.mask] = v as u32;
        self.len += 1;
    }

    #[inline]
    fn push_front(&mut self, v: usize) {
        assert!(self.len < self.buf.len(), "ring full");
        self.head = self.head.wrapping_sub(1) & self.mask;
        self.buf[self.head] = v as u32;
        self.len += 1;
    }

    #[inline]
    fn pop_front(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let v = self.buf[self.head];
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        Some(v as usize)
    }
}

/// Breadth-first search from the gate through slots not `blocked`, into
/// `dist` and `parent`; stops as soon as `reached(v)` says so for a slot
/// just reached.
fn bfs_from_gate(
    adj: &Csr,
    blocked: &[bool],
    dist: &mut [usize],
    parent: &mut [usize],
    queue: &mut Ring,
    mut reached: impl FnMut(usize) -> bool,
) {
    dist.fill(UNREACHED);
    dist[GATE] = 0;
    queue.clear();
    queue.push_back(GATE);
    while let Some(u) = queue.pop_front() {
        let du = dist[u] + 1;
        for &v in adj.of(u) {
            let v = v as usize;
            if dist[v] == UNREACHED && !blocked[v] {
                dist[v] = du;
                parent[v] = u;
                queue.push_back(v);
                if reached(v) {
                    return;
                }
            }
        }
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
    pending: Vec<bool>,
    dist2: Vec<usize>,
    parent2: Vec<usize>,
    /// Relocation candidates at the current port: (from, to, demand).
    pairs: Vec<(usize, usize, u32)>,
    dist: Vec<usize>,
    parent: Vec<usize>,
    cost01: Vec<usize>,
    queue: Ring,
    /// The deck graph's adjacency and listed edge orientations, flat.
    adj: Csr,
    fwd: Csr,
    worked: Vec<usize>,
    targets: Vec<(usize, usize)>,
    /// Reused lists: relocation sources and targets, vehicles to drive off
    /// and on, relocations done.
    from: Vec<(u32, usize)>,
    to: Vec<(u32, usize)>,
    off: Vec<(usize, usize, u32)>,
    on: Vec<(usize, usize, u32)>,
    done: Vec<bool>,
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
            pending: vec![false; n],
            dist2: vec![UNREACHED; n],
            parent2: vec![UNREACHED; n],
            pairs: Vec::new(),
            dist: vec![UNREACHED; n],
            parent: vec![UNREACHED; n],
            cost01: vec![UNREACHED; n],
            queue: Ring::new(2 * n + 4),
            adj: Csr::new(&inst.adjacent),
            fwd: Csr::new(&inst.forward),
            worked: Vec::new(),
            targets: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            off: Vec::new(),
            on: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Every slot's distance from the gate at port `p` around the port's
    /// through slots, into `out` (`u32::MAX` where cut off); returns
    /// whether the port is *plain*: every worked slot reached, and none
    /// holds, before or after the port, a vehicle that stays on board
    /// across it. A plain port rehandles nothing and has no relocation
    /// candidates, so its cost is its worked slots' routes at these
    /// distances, and it stays so while its through slots do not change
    /// and its worked slots stay reached and plain. When a worked slot's
    /// vehicle stays across, `out` is left as it was. (Uses the relocation
    /// passes' search and its scratch, which nothing keeps between passes.)
    pub(crate) fn plain_distances(&mut self, occ: &Occupancy, p: usize, out: &mut [u32]) -> bool {
        let n = self.inst.n_nodes;
        self.blocked[GATE] = false;
        for v in 1..n {
            let (b, a) = (occ.before(p, v), occ.after(p, v));
            if b != a && (self.stays_after(p, b) || self.stays_before(p, a)) {
                return false;
            }
            self.blocked[v] = b == a && b != EMPTY;
        }
        self.bfs_avoiding();
        let mut plain = true;
        for (v, (o, &d)) in out.iter_mut().zip(&self.dist2).enumerate() {
            *o = u32::try_from(d).unwrap_or(u32::MAX);
            if v != GATE && *o == u32::MAX && occ.before(p, v) != occ.after(p, v) {
                plain = false;
            }
        }
        plain
    }

    /// Whether a worked slot's content `b` before port `p` stays on board
    /// after it (a relocation candidate's source).
    #[inline]
    fn stays_after(&self, p: usize, b: u32) -> bool {
        b != EMPTY && self.inst.demands[b as usize].destination > p
    }

    /// Whether a worked slot's content `a` after port `p` was on board
    /// before it (a relocation candidate's target).
    #[inline]
    fn stays_before(&self, p: usize, a: u32) -> bool {
        a != EMPTY && self.inst.demands[a as usize].origin < p
    }

    /// BFS from the gate avoiding through slots; stops once every worked
    /// slot is reached.
    fn bfs(&mut self) {
        let (through, want) = (&self.through[..], &mut self.want[..]);
        let (dist, parent) = (&mut self.dist[..], &mut self.parent[..]);
        for &v in &self.worked {
            want[v] = true;
        }
        let mut missing = self.worked.len();
        if missing == 0 {
            dist.fill(UNREACHED);
            dist[GATE] = 0;
        } else {
            bfs_from_gate(&self.adj, through, dist, parent, &mut self.queue, |v| {
                if want[v] {
                    missing -= 1;
                }
                missing == 0
            });
        }
        for &v in &self.worked {
            want[v] = false;
        }
    }

    /// Through slots of port `p`, forced rehandles, and distances. Returns
    /// false when some worked slot cannot be reached at all.
    fn settle(&mut self, occ: &Occupancy, p: usize) -> bool {
        self.settle_unless(occ, p, &|| false)
            .expect("settling is only given up when asked")
    }

    /// [`Evaluator::settle`], or `None` when some worked slot is cut off
    /// around the through slots (so some through vehicle will be
    /// discharged and reloaded) and `cut_off_rejects()` says to give up.
    fn settle_unless(
        &mut self,
        occ: &Occupancy,
        p: usize,
        cut_off_rejects: &dyn Fn() -> bool,
    ) -> Option<bool> {
        let n = self.inst.n_nodes;
        self.worked.clear();
        {
            let (through, rehandled) = (&mut self.through[..], &mut self.rehandled[..]);
            let before: &[u32] = if p == 0 {
                &[]
            } else {
                &occ.cells[(p - 1) * n..p * n]
            };
            let after: &[u32] = if p >= occ.intervals {
                &[]
            } else {
                &occ.cells[p * n..(p + 1) * n]
            };
            for v in 1..n {
                let b = before.get(v).copied().unwrap_or(EMPTY);
                let a = after.get(v).copied().unwrap_or(EMPTY);
                rehandled[v] = false;
                through[v] = b == a && b != EMPTY;
                if b != a {
                    self.worked.push(v);
                }
            }
        }
        let mut first = true;
        loop {
            self.bfs();
            if self.worked.iter().all(|&v| self.dist[v] != UNREACHED) {
                return Some(true);
            }
            if first && cut_off_rejects() {
                return None;
            }
            first = false;
            let adj = &self.adj;
            let (through, rehandled) = (&mut self.through[..], &mut self.rehandled[..]);
            let (dist, parent, cost01) = (
                &mut self.dist[..],
                &mut self.parent[..],
                &mut self.cost01[..],
            );
            let (queue, want) = (&mut self.queue, &mut self.want[..]);
            // 0-1 BFS: entering a through slot costs 1. A node's cost is
            // final when it is first taken from the queue, and no later
            // step changes the parent of a node whose cost is final, so the
            // search stops once every cut-off worked slot has been taken.
            let mut missing = 0;
            for &v in &self.worked {
                if dist[v] == UNREACHED && !want[v] {
                    want[v] = true;
                    missing += 1;
                }
            }
            cost01.fill(UNREACHED);
            cost01[GATE] = 0;
            queue.clear();
            queue.push_back(GATE);
            while let Some(u) = queue.pop_front() {
                if want[u] {
                    want[u] = false;
                    missing -= 1;
                    if missing == 0 {
                        break;
                    }
                }
                let cu = cost01[u];
                for &v in adj.of(u) {
                    let v = v as usize;
                    if v == GATE {
                        continue;
                    }
                    let step = usize::from(through[v]);
                    if cu + step < cost01[v] {
                        cost01[v] = cu + step;
                        parent[v] = u;
                        if step == 0 {
                            queue.push_front(v);
                        } else {
                            queue.push_back(v);
                        }
                    }
                }
            }
            for &v in &self.worked {
                want[v] = false;
            }
            // Open the cheapest paths, cheapest first, to every worked slot
            // still cut off; a slot reached through an earlier opening is
            // skipped (`dist` marks what is reachable, exact distances come
            // from the next BFS).
            self.targets.clear();
            for &v in &self.worked {
                if dist[v] == UNREACHED {
                    if cost01[v] == UNREACHED {
                        return Some(false);
                    }
                    self.targets.push((cost01[v], v));
                }
            }
            self.targets.sort_unstable();
            for &(_, target) in &self.targets {
                if dist[target] != UNREACHED {
                    continue;
                }
                let mut u = target;
                queue.clear();
                while u != GATE {
                    if through[u] {
                        through[u] = false;
                        rehandled[u] = true;
                        self.worked.push(u);
                    }
                    if dist[u] == UNREACHED {
                        dist[u] = 0;
                        queue.push_back(u);
                    }
                    u = parent[u];
                }
                while let Some(x) = queue.pop_front() {
                    for &y in adj.of(x) {
                        let y = y as usize;
                        if dist[y] == UNREACHED && !through[y] {
                            dist[y] = 0;
                            queue.push_back(y);
                        }
                    }
                }
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

    /// The through vehicles the last costed port discharged temporarily
    /// (their slots).
    fn blockers_into(&self, out: &mut Vec<u32>) {
        out.clear();
        out.extend(
            self.worked
                .iter()
                .filter(|&&v| self.rehandled[v])
                .map(|&v| v as u32),
        );
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

    /// [`Evaluator::port_cost`], or `None` as soon as a lower bound of it
    /// makes `rejects` true: before the relocation passes, the plain plan's
    /// cost less what relocating every candidate pair could save at most
    /// (a pair's discharge and load, `2 F` plus both distances, become one
    /// relocation of at least `F + 1`; every other route of a relocation
    /// plan avoids more occupied slots, so it is no shorter).
    ///
    /// `floor` is a lower bound of the port's cost known beforehand (half
    /// its [`slot_bound`] sum, which counts nothing for through slots):
    /// when a worked slot is cut off around the through slots, some
    /// through vehicle will be discharged and reloaded, at least
    /// `2 (F + 1)` more, and when `floor` plus that rejects, the port is
    /// not settled further.
    pub(crate) fn port_cost_unless(
        &mut self,
        occ: &Occupancy,
        p: usize,
        floor: u64,
        rejects: &dyn Fn(u64) -> bool,
    ) -> Option<u64> {
        let f = self.inst.fixed_cost;
        if !self.settle_unless(occ, p, &|| rejects(floor + 2 * (f + 1)))? {
            return Some(UNREACHABLE_PENALTY);
        }
        let base = self.base_cost(occ, p);
        self.find_pairs(occ, p);
        if !self.pairs.is_empty() {
            let saving: u64 = self
                .pairs
                .iter()
                .map(|&(a, b, _)| f + self.dist[a] as u64 + self.dist[b] as u64 - 1)
                .sum();
            if rejects(base.saturating_sub(saving)) {
                return None;
            }
        }
        Some(self.port_relocated(occ, p, base, None))
    }

    fn port(&mut self, occ: &Occupancy, p: usize, emit: Option<&mut Vec<Move>>) -> u64 {
        if !self.settle(occ, p) {
            return UNREACHABLE_PENALTY;
        }
        let base = self.base_cost(occ, p);
        self.find_pairs(occ, p);
        self.port_relocated(occ, p, base, emit)
    }

    /// The cheaper of the plain plan (`base`, settled) and the relocation
    /// passes over the pairs found.
    fn port_relocated(
        &mut self,
        occ: &Occupancy,
        p: usize,
        base: u64,
        emit: Option<&mut Vec<Move>>,
    ) -> u64 {
        let mut best: Option<u64> = None;
        while !self.pairs.is_empty() {
            match self.relocation_pass(occ, p, None) {
                Ok(c) => {
                    best = Some(c);
                    break;
                }
                Err(true) => {}
                Err(false) => {
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
        self.from.clear();
        self.to.clear();
        for &v in &self.worked {
            if self.rehandled[v] {
                continue;
            }
            let (b, a) = (occ.before(p, v), occ.after(p, v));
            if self.stays_after(p, b) {
                self.from.push((b, v));
            }
            if self.stays_before(p, a) {
                self.to.push((a, v));
            }
        }
        let (from, to) = (&mut self.from, &mut self.to);
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
        bfs_from_gate(
            &self.adj,
            &self.blocked,
            &mut self.dist2,
            &mut self.parent2,
            &mut self.queue,
            |_| false,
        );
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
    /// vehicles. `Err(true)`: some pairs could not be relocated and were
    /// dropped (try again); `Err(false)`: the plan fails otherwise.
    fn relocation_pass(
        &mut self,
        occ: &Occupancy,
        p: usize,
        mut emit: Option<&mut Vec<Move>>,
    ) -> Result<u64, bool> {
        let f = self.inst.fixed_cost;
        let mut cost = 0;
        // `blocked`: slots holding a vehicle that stays on board now (through
        // slots, relocating vehicles not yet moved, relocated ones);
        // `pending`: slots whose vehicle still has to be driven off.
        self.blocked.copy_from_slice(&self.through);
        for &(a, _, _) in &self.pairs {
            self.blocked[a] = true;
            self.moving[a] = true;
        }
        let mut off = std::mem::take(&mut self.off);
        off.clear();
        for &v in &self.worked {
            if self.moving[v] {
                continue;
            }
            let k = occ.before(p, v);
            if k != EMPTY {
                self.pending[v] = true;
                off.push((0, v, k));
            }
        }
        for &(a, _, _) in &self.pairs {
            self.moving[a] = false;
        }
        let mut done = std::mem::take(&mut self.done);
        done.clear();
        done.resize(self.pairs.len(), false);
        let mut left = self.pairs.len();
        let result = loop {
            // (1) discharge, nearest first, every vehicle that can leave
            // around the blocked slots: a shortest path only passes slots
            // nearer the gate, emptied before it.
            let mut progress = false;
            if !off.is_empty() {
                self.bfs_avoiding();
                for o in off.iter_mut() {
                    o.0 = self.dist2[o.1];
                }
                off.sort_unstable();
                let reachable = off.partition_point(|o| o.0 != UNREACHED);
                for &(d, v, k) in &off[..reachable] {
                    cost += f + d as u64;
                    self.pending[v] = false;
                    if let Some(out) = emit.as_deref_mut() {
                        let mut route = self.route2(v);
                        route.reverse();
                        out.push(Move {
                            route,
                            demand: k as usize,
                        });
                    }
                }
                progress |= reachable > 0;
                off.drain(..reachable);
            }
            // (2) relocate, through empty slots along listed edge
            // orientations, every vehicle whose new slot is empty now.
            for (i, is_done) in done.iter_mut().enumerate() {
                if *is_done {
                    continue;
                }
                let (a, b, k) = self.pairs[i];
                if self.blocked[b] || self.pending[b] {
                    continue; // its vehicle has not left yet
                }
                // Directed BFS from a through empty slots.
                self.dist2.fill(UNREACHED);
                self.dist2[a] = 0;
                self.queue.clear();
                self.queue.push_back(a);
                'bfs: while let Some(u) = self.queue.pop_front() {
                    for &v in self.fwd.of(u) {
                        let v = v as usize;
                        if v == GATE
                            || self.dist2[v] != UNREACHED
                            || self.blocked[v]
                            || self.pending[v]
                        {
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
                    continue;
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
            if off.is_empty() && left == 0 {
                break Ok(());
            }
            if !progress {
                // Drop the pairs that cannot move now (their vehicles are
                // discharged and reloaded instead) and let the caller retry.
                break if left > 0 {
                    let mut i = 0;
                    self.pairs.retain(|_| {
                        i += 1;
                        done[i - 1]
                    });
                    Err(true)
                } else {
                    Err(false)
                };
            }
        };
        for &(_, v, _) in &off {
            self.pending[v] = false;
        }
        self.off = off;
        self.done = done;
        result?;
        // (3) load
        self.bfs_avoiding();
        let mut on = std::mem::take(&mut self.on);
        on.clear();
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
            self.on = on;
            return Err(false);
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
        self.on = on;
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

/// Exact cost of a table (every port's routes).
pub(crate) fn table_cost(inst: &Instance, occ: &Occupancy) -> u64 {
    let mut ev = Evaluator::new(inst);
    (0..inst.n_ports).map(|p| ev.port_cost(occ, p)).sum()
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

/// Where, as fractions of the budget, the annealing restarts from the best
/// plan (the last segment is the longest, so the final cooling is slow),
/// after the independent exploration runs (see [`segments`]).
const SEGMENTS: [f64; 4] = [0.1, 0.3, 0.6, 1.0];

/// Independent runs at the start of a sized budget (move count or clock),
/// each an eighth of it from its own start table and none sharing with
/// other threads, before the rest anneals from the best plan they found.
/// Where a run has many moves for its size, the result depends far more on
/// the basin it settles in than on its length (stage 2 prob9: 1,000,000-move
/// runs over eight seeds ranged 591–1,109), so several shorter runs find a
/// better basin than one; where moves are scarce, the one longer run is
/// better. So the independent runs are made only when each gets at least
/// [`Schedule::explore_moves_per_cell`] moves per slot and port.
const EXPLORE_RUNS: usize = 4;
/// The share of the budget each independent run takes.
const EXPLORE_RUN_SHARE: f64 = 0.125;
/// On a clock, the moves of the whole budget are estimated from those of
/// its first hundredth, made hot: nearly every move then is costed in
/// full, while later most are rejected by the bound before any costing
/// (see [`Annealer::swap_within`]), so a run's mean rate is several times
/// its first hundredth's. Measured: 6.9–9.8 times on stage 1 prob5 and
/// 7.4–8.3 on stage 2 prob10 (60 and 240 s, two threads each; each
/// thread's estimate against half the run's moves); the estimate is
/// scaled by less than either.
const HOT_RATE_RATIO: f64 = 6.0;

/// Segment ends, fractions of the budget: `explore` equal runs over the
/// first `explore_share` of it, each from its own start, then the tail of
/// [`SEGMENTS`] scaled to the rest, each from the best plan so far.
pub(crate) fn segments(explore: usize, explore_share: f64) -> Vec<f64> {
    let explore = explore.max(1);
    let mut ends: Vec<f64> = (1..=explore)
        .map(|k| explore_share * k as f64 / explore as f64)
        .collect();
    let first = SEGMENTS[0];
    for &s in &SEGMENTS[1..] {
        ends.push(explore_share + (1.0 - explore_share) * (s - first) / (1.0 - first));
    }
    ends
}

/// How long the search may run.
pub(crate) struct Budget<'b> {
    /// Annealing moves allowed (per thread), if counted.
    pub iterations: Option<u64>,
    /// Fraction of the time budget used; the search stops at 1.
    pub progress: &'b (dyn Fn() -> f64 + Sync),
    /// The length of a timed budget in seconds (`None` when `progress`
    /// jumps from 0 to 1 when told to stop), for solvers that keep their
    /// own time limit (the re-packing steps').
    pub seconds: Option<f64>,
}

impl Budget<'_> {
    /// Whether `progress` measures time (rises steadily) rather than
    /// jumping from 0 to 1 when told to stop.
    pub(crate) fn timed(&self) -> bool {
        self.seconds.is_some()
    }
}

/// Annealing knobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub t_start: f64,
    pub t_end: f64,
    pub cycle: u64,
    /// Slots times ports: the size moves are counted against.
    pub cells: u64,
    /// The moves per cell each independent run needs (see [`EXPLORE_RUNS`]).
    pub explore_moves_per_cell: u64,
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
            cells: size,
            explore_moves_per_cell: 1_000,
        }
    }

    /// Independent runs for a budget of `moves` per thread: all of
    /// [`EXPLORE_RUNS`] when each gets enough moves, otherwise one (the
    /// first segment, from the start table).
    pub(crate) fn explore_runs(&self, moves: f64) -> usize {
        let per_run = moves * EXPLORE_RUN_SHARE / self.cells.max(1) as f64;
        if per_run >= self.explore_moves_per_cell as f64 {
            EXPLORE_RUNS
        } else {
            1
        }
    }

    /// [`Schedule::explore_runs`] on a clock: `done` moves made in the
    /// first `spent` of the budget (hot), `left` of it still to come; the
    /// moves to come are estimated at [`HOT_RATE_RATIO`] times that rate.
    pub(crate) fn explore_runs_on_clock(&self, done: u64, spent: f64, left: f64) -> usize {
        self.explore_runs(done as f64 / spent.max(1e-9) * left * HOT_RATE_RATIO)
    }
}

/// Segment ends for `explore` independent runs: an eighth each, or, for
/// one, the plain [`SEGMENTS`].
fn segments_for(explore: usize) -> Vec<f64> {
    if explore <= 1 {
        SEGMENTS.to_vec()
    } else {
        segments(explore, EXPLORE_RUN_SHARE * explore as f64)
    }
}

/// The annealer's state.
pub(crate) struct Annealer<'a> {
    inst: &'a Instance,
    ev: Evaluator<'a>,
    pub occ: Occupancy,
    port_cost: Vec<u64>,
    /// Per port, twice a lower bound of its cost ([`Annealer::slot_bound`]
    /// summed over slots): lets a move be rejected before it is costed.
    port_bound: Vec<u64>,
    pub cost: u64,
    pub best: Occupancy,
    pub best_cost: u64,
    scratch: Vec<u64>,
    bound_delta: Vec<u64>,
    /// The order in which a move's ports are costed: (costed, gap, port).
    order: Vec<(bool, std::cmp::Reverse<u64>, usize)>,
    /// Per port, the slots of through vehicles discharged temporarily
    /// (targets of the blocker move).
    blockers: Vec<Vec<u32>>,
    scratch_blockers: Vec<Vec<u32>>,
    /// Slots by distance from the gate, nearest first (gate excluded).
    by_depth: Vec<u32>,
    /// Per port, whether it is plain ([`Evaluator::plain_distances`]),
    /// `None` until asked after a change, and its slots' distances around
    /// its through slots (ports × slots), valid when plain.
    plain: Vec<Option<bool>>,
    plain_dist: Vec<u32>,
    /// Per port of the move being costed, whether its cost came from
    /// [`Annealer::plain_port_cost`], and the distances it changed.
    costed_plain: Vec<Option<[(u32, u32); 2]>>,
}

impl<'a> Annealer<'a> {
    pub(crate) fn new(inst: &'a Instance, occ: Occupancy) -> Annealer<'a> {
        let mut ev = Evaluator::new(inst);
        let mut blockers = vec![Vec::new(); inst.n_ports];
        let port_cost: Vec<u64> = (0..inst.n_ports)
            .map(|p| {
                let c = ev.port_cost(&occ, p);
                ev.blockers_into(&mut blockers[p]);
                c
            })
            .collect();
        let cost = port_cost.iter().sum();
        let port_bound = (0..inst.n_ports)
            .map(|p| {
                (1..inst.n_nodes)
                    .map(|v| slot_bound(inst, &occ, v, p))
                    .sum()
            })
            .collect();
        Annealer {
            inst,
            ev,
            best: occ.clone(),
            occ,
            port_cost,
            port_bound,
            cost,
            best_cost: cost,
            scratch: Vec::new(),
            bound_delta: Vec::new(),
            order: Vec::new(),
            scratch_blockers: vec![Vec::new(); inst.n_ports],
            blockers,
            by_depth: {
                let mut slots: Vec<u32> = (1..inst.n_nodes as u32).collect();
                slots.sort_by_key(|&v| (inst.gate_distance[v as usize], v));
                slots
            },
            plain: vec![None; inst.n_ports],
            plain_dist: vec![u32::MAX; inst.n_ports * inst.n_nodes],
            costed_plain: Vec::new(),
        }
    }

    /// Whether port `p` is plain for the current table, with its distances
    /// (see [`Evaluator::plain_distances`]), found when first asked after a
    /// change.
    fn is_plain(&mut self, p: usize) -> bool {
        if let Some(plain) = self.plain[p] {
            return plain;
        }
        let n = self.inst.n_nodes;
        let out = &mut self.plain_dist[p * n..(p + 1) * n];
        let plain = self.ev.plain_distances(&self.occ, p, out);
        self.plain[p] = Some(plain);
        debug_assert!(!plain || self.port_cost[p] == self.plain_routes(p));
        plain
    }

    /// The routes of a plain port at its distances: `F` plus the distance
    /// for each vehicle driven off or on a worked slot.
    fn plain_routes(&self, p: usize) -> u64 {
        let n = self.inst.n_nodes;
        let dist = &self.plain_dist[p * n..(p + 1) * n];
        (1..n)
            .map(|v| {
                let (b, a) = (self.occ.before(p, v), self.occ.after(p, v));
                if b == a {
                    return 0;
                }
                let routes = u64::from(b != EMPTY) + u64::from(a != EMPTY);
                routes * (self.inst.fixed_cost + u64::from(dist[v]))
            })
            .sum()
    }

    /// The exact cost of port `p` once `v` and `w` have swapped contents
    /// over intervals `a..=b` (the table already swapped), without a
    /// search, when the port was plain and stays plain, and its ways are
    /// known without one: either its through slots are those of before, or
    /// the move opens one slot `o` (a through vehicle leaves it) and closes
    /// another `c` (one comes to stay put), and
    ///
    /// - every slot one step beyond `c` has another way one step nearer
    ///   the gate than itself, so no slot's distance depended on `c` (by
    ///   induction over the distances beyond it);
    /// - `o` is reached from an open neighbour at distance `d`, and no open
    ///   neighbour of it is farther than `d + 1` (or unreached), so no way
    ///   through `o` is shorter than one already there.
    ///
    /// Then every other slot keeps its distance, `o` gets `d + 1` and `c`
    /// none, and only the routes of `v` and `w` change. Returns the cost and
    /// those two new distances (slot, distance; `u32::MAX` for none), or
    /// `None` when the port must be costed in full.
    fn plain_port_cost(
        &mut self,
        p: usize,
        v: usize,
        w: usize,
        a: usize,
        b: usize,
    ) -> Option<(u64, [(u32, u32); 2])> {
        if self.plain[p].is_none() {
            // Found for the table before the move.
            self.occ.swap_range(v, w, a, b);
            self.is_plain(p);
            self.occ.swap_range(v, w, a, b);
        }
        if self.plain[p] != Some(true) {
            return None;
        }
        let n = self.inst.n_nodes;
        let dist = &self.plain_dist[p * n..(p + 1) * n];
        let f = self.inst.fixed_cost;
        let occ = &self.occ;
        // Slot `s`'s content over interval `i` before the swap.
        let old = |s: usize, i: usize| {
            if (a..=b).contains(&i) {
                occ.get(i, if s == v { w } else { v })
            } else {
                occ.get(i, s)
            }
        };
        let mut contents = [(EMPTY, EMPTY, EMPTY, EMPTY); 2];
        let (mut opened, mut closed) = (None, None);
        for (k, s) in [v, w].into_iter().enumerate() {
            let (nb, na) = (occ.before(p, s), occ.after(p, s));
            let ob = if p == 0 { EMPTY } else { old(s, p - 1) };
            let oa = if p >= occ.intervals { EMPTY } else { old(s, p) };
            contents[k] = (ob, oa, nb, na);
            match (ob != EMPTY && ob == oa, nb != EMPTY && nb == na) {
                (true, false) => opened = Some(s),
                (false, true) => closed = Some(s),
                _ => {}
            }
        }
        let mut new_dist = [(u32::MAX, u32::MAX); 2];
        match (opened, closed) {
            (None, None) => {}
            (Some(o), Some(c)) => {
                let adj = &self.ev.adj;
                let dc = dist[c];
                if dc != u32::MAX {
                    for &u in adj.of(c) {
                        let u = u as usize;
                        if u != GATE && dist[u] == dc + 1 {
                            let other = adj
                                .of(u)
                                .iter()
                                .any(|&x| x as usize != c && dist[x as usize] == dc);
                            if !other {
                                return None;
                            }
                        }
                    }
                }
                let reach = adj
                    .of(o)
                    .iter()
                    .filter(|&&x| x as usize != c)
                    .map(|&x| dist[x as usize])
                    .min()
                    .unwrap_or(u32::MAX);
                let d_o = reach.saturating_add(1);
                if reach != u32::MAX {
                    for &u in adj.of(o) {
                        let u = u as usize;
                        if u == c || u == GATE || occ.through(p, u) {
                            continue;
                        }
                        if dist[u] == u32::MAX || dist[u] > d_o + 1 {
                            return None;
                        }
                    }
                }
                new_dist = [
                    (o as u32, if reach == u32::MAX { u32::MAX } else { d_o }),
                    (c as u32, u32::MAX),
                ];
            }
            _ => return None,
        }
        // The distance of `v` or `w` after the move.
        let dist_of = |s: usize| {
            new_dist
                .iter()
                .find(|&&(x, _)| x as usize == s)
                .map_or(dist[s], |&(_, nd)| nd)
        };
        let mut cost = self.port_cost[p];
        for (k, s) in [v, w].into_iter().enumerate() {
            let (ob, oa, nb, na) = contents[k];
            if ob != oa {
                let d = u64::from(dist[s]);
                cost -= (u64::from(ob != EMPTY) + u64::from(oa != EMPTY)) * (f + d);
            }
            if nb != na {
                let nd = dist_of(s);
                if nd == u32::MAX || self.ev.stays_after(p, nb) || self.ev.stays_before(p, na) {
                    return None;
                }
                cost += (u64::from(nb != EMPTY) + u64::from(na != EMPTY)) * (f + u64::from(nd));
            }
        }
        Some((cost, new_dist))
    }

    /// Runs moves until the budget is spent (polling it every 32 moves);
    /// returns the number made.
    ///
    /// When the budget's size is known (a move count, or a clock giving
    /// the fraction of the time used), the run is cut into segments of
    /// [`SEGMENTS`] (fractions of the budget), each cooling geometrically
    /// from `t_start` to `t_end` and starting from the best plan so far
    /// (offered to `exchange` first, which may hand back a better one,
    /// another thread's), except the first ones, the independent runs,
    /// each from the start `fresh(k, ended)` gives (`ended`: the table the
    /// run before ended with). Otherwise cycles of `schedule.cycle` moves,
    /// doubling, do the same.
    pub(crate) fn run(
        &mut self,
        rng: &mut ChaCha8Rng,
        schedule: Schedule,
        budget: &Budget<'_>,
        exchange: &mut dyn FnMut(&Occupancy, u64) -> Option<Occupancy>,
        fresh: &mut dyn FnMut(usize, &Occupancy) -> Option<Occupancy>,
    ) -> u64 {
        let n = self.inst.n_nodes;
        let intervals = self.occ.intervals;
        let iterations = budget.iterations.unwrap_or(u64::MAX);
        if intervals == 0 || n < 3 {
            return 0;
        }
        let mut done = 0u64;
        let ratio = (schedule.t_end / schedule.t_start).ln();
        if budget.iterations.is_some() || budget.timed() {
            // How many independent runs: from the move count, or, on a
            // clock, from the moves made in the first hundredth of the
            // budget spent here (until then, the plain segments; the first
            // ends later than that).
            let started = (budget.progress)();
            let mut explore = budget.iterations.map(|m| schedule.explore_runs(m as f64));
            let mut ends = segments_for(explore.unwrap_or(1));
            let mut segment = 0;
            let mut temp = schedule.t_start;
            while done < iterations {
                if done.is_multiple_of(32) {
                    let clock = (budget.progress)();
                    if clock >= 1.0 {
                        break;
                    }
                    let f = match budget.iterations {
                        Some(m) => (done as f64 / m as f64).max(clock),
                        None => clock,
                    };
                    if explore.is_none() && f >= started + 0.01 {
                        let runs = schedule.explore_runs_on_clock(done, f - started, 1.0 - started);
                        explore = Some(runs);
                        ends = segments_for(runs);
                    }
                    let explore = explore.unwrap_or(1);
                    let s = ends.partition_point(|&b| b <= f).min(ends.len() - 1);
                    if s != segment {
                        segment = s;
                        match (s < explore).then(|| fresh(s, &self.occ)).flatten() {
                            Some(start) => self.reset_to(start),
                            None => self.restart(exchange),
                        }
                    }
                    let (s0, s1) = (if s == 0 { 0.0 } else { ends[s - 1] }, ends[s]);
                    let x = ((f - s0) / (s1 - s0)).clamp(0.0, 1.0);
                    temp = schedule.t_start * (ratio * x).exp();
                }
                done += 1;
                self.step(rng, temp);
            }
            return done;
        }
        // Cycles double in length: whatever the time limit, the last
        // complete cycle had at least a third of the run.
        let mut cycle = schedule.cycle;
        let mut phase = 0u64;
        while done < iterations {
            if done.is_multiple_of(32) && (budget.progress)() >= 1.0 {
                break;
            }
            if phase == cycle {
                self.restart(exchange);
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

    /// Back to the best plan, or to a better one `exchange` offers.
    fn restart(&mut self, exchange: &mut dyn FnMut(&Occupancy, u64) -> Option<Occupancy>) {
        if let Some(better) = exchange(&self.best, self.best_cost) {
            self.best = better;
            self.best_cost = u64::MAX;
            self.cost = 0;
        }
        self.restore_best();
        self.best_cost = self.cost;
    }

    /// Continues from `occ` (an independent run); the best plan is kept.
    fn reset_to(&mut self, occ: Occupancy) {
        self.occ = occ;
        self.recost();
    }

    fn recost(&mut self) {
        for p in 0..self.inst.n_ports {
            self.port_cost[p] = self.ev.port_cost(&self.occ, p);
            self.ev.blockers_into(&mut self.blockers[p]);
            self.port_bound[p] = (1..self.inst.n_nodes)
                .map(|v| slot_bound(self.inst, &self.occ, v, p))
                .sum();
            self.plain[p] = None;
        }
        self.cost = self.port_cost.iter().sum();
        if self.cost < self.best_cost {
            self.best_cost = self.cost;
            self.best.clone_from(&self.occ);
        }
    }

    fn restore_best(&mut self) {
        if self.cost != self.best_cost {
            self.occ.clone_from(&self.best);
            self.recost();
        }
    }

    /// Moves at temperature `temp` from the best plan until `stop()`
    /// (asked every 32 moves); returns the number made. The best plan is
    /// kept the cheapest seen.
    pub(crate) fn cold(&mut self, rng: &mut ChaCha8Rng, temp: f64, stop: &dyn Fn() -> bool) -> u64 {
        self.restore_best();
        let mut done = 0u64;
        while !(done.is_multiple_of(32) && stop()) {
            done += 1;
            self.step(rng, temp);
        }
        done
    }

    fn step(&mut self, rng: &mut ChaCha8Rng, temp: f64) {
        let proposal = if rng.random_range(0..8) == 0 {
            self.propose_blocker(rng)
        } else {
            self.propose(rng)
        };
        if let Some((v, w, a, b)) = proposal {
            self.try_swap(rng, temp, v, w, a, b);
        }
    }

    /// Moves a through vehicle that some port discharges temporarily (a
    /// blocker) to an empty slot: for its whole stay, or from that port on.
    fn propose_blocker(&self, rng: &mut ChaCha8Rng) -> Option<(usize, usize, usize, usize)> {
        let n = self.inst.n_nodes;
        let ports = self.inst.n_ports;
        let mut p = rng.random_range(1..ports);
        let mut tries = 0;
        while self.blockers[p].is_empty() {
            tries += 1;
            if tries > 8 {
                return None;
            }
            p = rng.random_range(1..ports);
        }
        let list = &self.blockers[p];
        let v = list[rng.random_range(0..list.len())] as usize;
        // The vehicle stands in v through port p: intervals p - 1 and p.
        if p >= self.occ.intervals {
            return None;
        }
        let mut w = rng.random_range(1..n);
        for _ in 0..16 {
            if self.occ.get(p, w) == EMPTY && w != v {
                break;
            }
            w = rng.random_range(1..n);
        }
        if w == v || self.occ.get(p, w) != EMPTY {
            return None;
        }
        let (a, b) = self.occ.chain(v, w, p);
        if rng.random_bool(0.5) {
            Some((v, w, a, b))
        } else {
            Some((v, w, p, b))
        }
    }

    fn propose(&self, rng: &mut ChaCha8Rng) -> Option<(usize, usize, usize, usize)> {
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
            return None;
        }
        let (mut a, mut b) = self.occ.run(v, i);
        match rng.random_range(0..12) {
            0..=4 => {}
            5..=6 => {
                let (c, d) = self.occ.run(w, i);
                a = a.min(c);
                b = b.max(d);
            }
            7 => a = i,
            8 => b = i,
            _ => (a, b) = self.occ.chain(v, w, i),
        }
        Some((v, w, a, b))
    }

    fn try_swap(
        &mut self,
        rng: &mut ChaCha8Rng,
        temp: f64,
        v: usize,
        w: usize,
        a: usize,
        b: usize,
    ) {
        // Metropolis: accept iff the change in cost is at most 0 or below
        // `threshold`.
        let threshold = -temp * rng.random::<f64>().ln();
        self.swap_within(threshold, v, w, a, b);
    }

    /// Swaps `v` and `w` over intervals `a..=b` if the cost rises by less
    /// than `threshold` (or not at all); a negative `threshold` asks for a
    /// strict fall instead. Returns whether it swapped.
    fn swap_within(&mut self, threshold: f64, v: usize, w: usize, a: usize, b: usize) -> bool {
        let last_port = (b + 1).min(self.inst.n_ports - 1);
        // Cheap filter first: twice a lower bound of the new cost of the
        // ports touched (only slots v and w change) against twice their
        // exact old cost.
        self.bound_delta.clear();
        let mut bound_sum = 0;
        let mut old_sum = 0;
        for p in a..=last_port {
            let before =
                slot_bound(self.inst, &self.occ, v, p) + slot_bound(self.inst, &self.occ, w, p);
            self.bound_delta.push(before);
            old_sum += self.port_cost[p];
        }
        self.occ.swap_range(v, w, a, b);
        for (j, p) in (a..=last_port).enumerate() {
            let after =
                slot_bound(self.inst, &self.occ, v, p) + slot_bound(self.inst, &self.occ, w, p);
            let bound = self.port_bound[p] + after - self.bound_delta[j];
            self.bound_delta[j] = bound;
            bound_sum += bound;
        }
        // Whether twice a lower bound of the new cost of the ports touched
        // already rejects the move.
        let rejects_twice =
            |twice: u64| twice > 2 * old_sum && (twice - 2 * old_sum) as f64 >= 2.0 * threshold;
        if rejects_twice(bound_sum) {
            self.occ.swap_range(v, w, a, b);
            return false;
        }
        let mut new_sum = 0;
        // Twice (exact new costs so far + bounds of the ports left): stop
        // costing as soon as it says reject. The ports are costed where the
        // bound was furthest below the exact cost first (twice the old cost
        // less twice the old bound: a port that rehandles), since those
        // raise the running sum most and so decide a rejection soonest; the
        // decision is the same in any order, only the work differs (on
        // stage 2 prob2, 1,000,000 moves: 1.9 ports costed a move against
        // 4.2 in run order). Ports that keep their cost come first: free.
        let mut running = bound_sum;
        self.scratch.clear();
        self.scratch.resize(last_port + 1 - a, 0);
        self.costed_plain.clear();
        self.costed_plain.resize(last_port + 1 - a, None);
        self.order.clear();
        for p in a..=last_port {
            // Inside the run, two slots that both hold a vehicle staying put
            // leave the port's through and worked slots as they were.
            let both_through = p > a && p <= b && self.occ.through(p, v) && self.occ.through(p, w);
            let gap = (2 * self.port_cost[p]).saturating_sub(self.port_bound[p]);
            // Ports that keep their cost (`false`) sort first.
            self.order.push((!both_through, std::cmp::Reverse(gap), p));
        }
        self.order.sort_unstable();
        for i in 0..self.order.len() {
            let (costed, _, p) = self.order[i];
            let both_through = !costed;
            let j = p - a;
            let c = if both_through {
                let (src, dst) = (&self.blockers[p], &mut self.scratch_blockers[j]);
                dst.clone_from(src);
                self.port_cost[p]
            } else if let Some((c, changed)) = self.plain_port_cost(p, v, w, a, b) {
                debug_assert_eq!(c, self.ev.port_cost(&self.occ, p), "port {p}");
                self.scratch_blockers[j].clear();
                self.costed_plain[j] = Some(changed);
                c
            } else {
                let rest = running - self.bound_delta[j];
                let rejects = |lb: u64| rejects_twice(rest + 2 * lb);
                let floor = self.bound_delta[j] / 2;
                let Some(c) = self.ev.port_cost_unless(&self.occ, p, floor, &rejects) else {
                    self.occ.swap_range(v, w, a, b);
                    return false;
                };
                self.ev.blockers_into(&mut self.scratch_blockers[j]);
                c
            };
            self.scratch[j] = c;
            new_sum += c;
            running = running + 2 * c - self.bound_delta[j];
            if rejects_twice(running) {
                self.occ.swap_range(v, w, a, b);
                return false;
            }
        }
        let accept = if threshold < 0.0 {
            new_sum < old_sum
        } else {
            new_sum <= old_sum || ((new_sum - old_sum) as f64) < threshold
        };
        if accept {
            for (j, p) in (a..=last_port).enumerate() {
                self.port_cost[p] = self.scratch[j];
                self.port_bound[p] = self.bound_delta[j];
                std::mem::swap(&mut self.blockers[p], &mut self.scratch_blockers[j]);
                // A port costed in full may have changed its ways; one
                // whose two slots both stay put has not, and one that stayed
                // plain changed the distances it says.
                let n = self.inst.n_nodes;
                if let Some(changed) = self.costed_plain[j] {
                    for (x, d) in changed {
                        if x != u32::MAX {
                            self.plain_dist[p * n + x as usize] = d;
                        }
                    }
                    #[cfg(debug_assertions)]
                    {
                        let mut fresh = vec![0; n];
                        assert!(self.ev.plain_distances(&self.occ, p, &mut fresh));
                        assert_eq!(&fresh[..], &self.plain_dist[p * n..(p + 1) * n]);
                        assert_eq!(self.port_cost[p], self.plain_routes(p));
                    }
                } else if !(p > a && p <= b && self.occ.through(p, v) && self.occ.through(p, w)) {
                    // Found when next asked; a port that rehandles is not.
                    self.plain[p] = if self.blockers[p].is_empty() {
                        None
                    } else {
                        Some(false)
                    };
                }
            }
            self.cost = self.cost + new_sum - old_sum;
            if self.cost < self.best_cost {
                self.best_cost = self.cost;
                self.best.clone_from(&self.occ);
            }
        } else {
            self.occ.swap_range(v, w, a, b);
        }
        accept
    }

    /// Descent from the best plan, for the end of a run: for every run of
    /// a slot's content (a vehicle's stay there) and every slot nearer the
    /// gate, a *fill* (the slot is empty all that time: the vehicle moves
    /// there) made when it does not raise the cost, otherwise the Kempe
    /// chain of the two slots around the stay ([`Occupancy::chain`]: whole
    /// stays exchanged) made when it lowers the cost; pass after pass until
    /// a pass changes nothing or `progress` reaches 1. The best plan is
    /// kept the cheapest seen. On a large deck the annealing's random
    /// second slot rarely is the one slot that pays, so its last cold
    /// moves leave such changes behind (stage 1 prob5: 12–46 improving
    /// fills alone in plans of 3,000,000 moves). A fill moves a vehicle
    /// strictly nearer the gate without raising the cost and an exchange
    /// lowers it, so the passes end. Returns the number of changes made.
    pub(crate) fn polish(&mut self, progress: &dyn Fn() -> f64) -> usize {
        self.restore_best();
        let n = self.inst.n_nodes;
        let mut made = 0;
        'passes: loop {
            let before = made;
            for t in 1..n {
                let depth = self.inst.gate_distance[t];
                let nearer = self
                    .by_depth
                    .partition_point(|&u| self.inst.gate_distance[u as usize] < depth);
                let mut i = 0;
                while i < self.occ.intervals {
                    if self.occ.get(i, t) == EMPTY {
                        i += 1;
                        continue;
                    }
                    let (a, b) = self.occ.run(t, i);
                    for k in 0..nearer {
                        let s = self.by_depth[k] as usize;
                        let fill = (a..=b).all(|j| self.occ.get(j, s) == EMPTY);
                        if progress() >= 1.0 {
                            break 'passes;
                        }
                        let done = if fill {
                            self.swap_within(0.0, t, s, a, b)
                        } else {
                            let (c, d) = self.occ.chain(t, s, a);
                            self.swap_within(-1.0, t, s, c, d)
                        };
                        if done {
                            made += 1;
                            break;
                        }
                    }
                    i = b + 1;
                }
            }
            if made == before {
                break;
            }
        }
        // Out of time or out of changes: what was made is kept (each
        // change left the cost where it was or lowered it).
        if self.cost <= self.best_cost {
            self.best_cost = self.cost;
            self.best.clone_from(&self.occ);
        }
        made
    }
}

/// Twice a lower bound of what slot `v` adds to the cost of port `p`: a
/// vehicle driven off here or driven on here costs at least `F` plus the
/// slot's distance from the gate; a vehicle staying on board that leaves or
/// enters the slot is relocated or discharged and reloaded, at least `F + 1`
/// for its two ends (so `(F + 1) / 2` each, doubled to stay whole).
#[inline]
fn slot_bound(inst: &Instance, occ: &Occupancy, v: usize, p: usize) -> u64 {
    let (b, a) = (occ.before(p, v), occ.after(p, v));
    if b == a {
        return 0;
    }
    let f = inst.fixed_cost;
    // A slot cut off from the gate costs a penalty anyway.
    let depth = match inst.gate_distance[v] {
        usize::MAX => 0,
        d => d as u64,
    };
    let full = 2 * (f + depth);
    let mut bound = 0;
    if b != EMPTY {
        bound += if inst.demands[b as usize].destination == p {
            full
        } else {
            f + 1
        };
    }
    if a != EMPTY {
        bound += if inst.demands[a as usize].origin == p {
            full
        } else {
            f + 1
        };
    }
    bound
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::instance::Demand;
    use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};
    use rand::{Rng, SeedableRng};

    /// A slot's runs: each demand over its consecutive intervals, a demand
    /// back after a gap as a run of its own, an empty slot none.
    #[test]
    fn a_slots_runs_are_its_demands_over_consecutive_intervals() {
        const E: u32 = EMPTY;
        // Two slots (the gate, 0, and slot 1) over six intervals.
        let slot1 = [E, 3, 3, 5, E, 5];
        let occ = Occupancy {
            n: 2,
            intervals: 6,
            cells: slot1.iter().flat_map(|&k| [E, k]).collect(),
        };
        assert_eq!(
            occ.runs(1).collect::<Vec<_>>(),
            vec![(3, 1, 3), (5, 3, 4), (5, 5, 6)]
        );
        assert_eq!(occ.runs(0).count(), 0);
    }

    /// A random connected deck, demand that fits it, and a random table
    /// (each interval's vehicles in random slots, so vehicles change slot
    /// and block each other freely).
    pub(crate) fn random_case(seed: u64) -> (Instance, Occupancy) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = rng.random_range(3..24);
        let mut edges = Vec::new();
        for v in 1..n {
            let u = rng.random_range(0..v);
            edges.push(if rng.random_bool(0.5) { (u, v) } else { (v, u) });
        }
        for _ in 0..rng.random_range(0..n) {
            let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
            if a != b && !edges.contains(&(a, b)) && !edges.contains(&(b, a)) {
                edges.push((a, b));
            }
        }
        let ports = rng.random_range(2..7);
        let mut on_board = vec![0usize; ports];
        let mut demands = Vec::new();
        for _ in 0..rng.random_range(1..8) {
            let origin = rng.random_range(0..ports - 1);
            let destination = rng.random_range(origin + 1..ports);
            let room = (origin..destination)
                .map(|p| n - 1 - on_board[p])
                .min()
                .unwrap_or(0);
            let quantity = rng.random_range(1..4).min(room);
            if quantity == 0 {
                continue;
            }
            for p in &mut on_board[origin..destination] {
                *p += quantity;
            }
            demands.push(Demand {
                origin,
                destination,
                quantity,
            });
        }
        let f = rng.random_range(1..120);
        let inst = Instance::new(n, edges, ports, demands, f, 0).expect("valid instance");
        let occ = random_table(&inst, &mut rng);
        (inst, occ)
    }

    /// Each interval's vehicles in random slots.
    fn random_table(inst: &Instance, rng: &mut ChaCha8Rng) -> Occupancy {
        let (n, intervals) = (inst.n_nodes, inst.n_ports - 1);
        let mut cells = vec![EMPTY; intervals * n];
        for i in 0..intervals {
            let mut slots: Vec<usize> = (1..n).collect();
            for j in (1..slots.len()).rev() {
                slots.swap(j, rng.random_range(0..=j));
            }
            let mut next = slots.into_iter();
            for (k, d) in inst.demands.iter().enumerate() {
                if d.origin <= i && i < d.destination {
                    for _ in 0..d.quantity {
                        cells[i * n + next.next().expect("demand fits")] = k as u32;
                    }
                }
            }
        }
        Occupancy {
            n,
            intervals,
            cells,
        }
    }

    #[test]
    fn segments_cover_the_budget_in_order() {
        // One exploration run over a tenth: the plain restarts.
        let plain = segments(1, SEGMENTS[0]);
        assert_eq!(plain.len(), SEGMENTS.len());
        assert!(
            plain
                .iter()
                .zip(SEGMENTS)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
        assert_eq!(segments_for(1), SEGMENTS.to_vec());
        let ends = segments_for(EXPLORE_RUNS);
        let share = EXPLORE_RUN_SHARE * EXPLORE_RUNS as f64;
        assert_eq!(ends.len(), EXPLORE_RUNS + SEGMENTS.len() - 1);
        assert!(ends.windows(2).all(|w| w[0] < w[1]), "{ends:?}");
        assert!((ends[0] - EXPLORE_RUN_SHARE).abs() < 1e-12);
        assert!((ends[EXPLORE_RUNS - 1] - share).abs() < 1e-12);
        assert!((ends[ends.len() - 1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn independent_runs_only_when_each_has_the_moves() {
        let (inst, _) = random_case(7);
        let schedule = Schedule::for_instance(&inst, 0);
        let enough = (schedule.cells * schedule.explore_moves_per_cell) as f64 / EXPLORE_RUN_SHARE;
        assert_eq!(schedule.explore_runs(enough), EXPLORE_RUNS);
        assert_eq!(schedule.explore_runs(enough * 0.99), 1);
        assert_eq!(schedule.explore_runs(0.0), 1);
        // On a clock, the first hundredth's moves are made hot, at a
        // fraction of the run's mean rate: a hundredth with a sixth of the
        // hundredth of `enough` is enough.
        let hot = (enough / 100.0 / HOT_RATE_RATIO).ceil() as u64;
        assert_eq!(schedule.explore_runs_on_clock(hot, 0.01, 1.0), EXPLORE_RUNS);
        assert_eq!(schedule.explore_runs_on_clock(hot * 99 / 100, 0.01, 1.0), 1);
    }

    /// The bounds `port_cost_unless` gives up by (a worked slot cut off,
    /// and the relocation passes' most saving) never exceed the port's
    /// exact cost, and when it does not give up it returns that cost.
    /// Checked on random tables, some of whose ports have relocation
    /// candidates and some a worked slot cut off.
    #[test]
    fn the_bounds_a_port_is_given_up_by_never_exceed_its_cost() {
        let (mut cut_off, mut relocating) = (0, 0);
        for seed in 0..300 {
            let (inst, occ) = random_case(seed);
            let f = inst.fixed_cost;
            let mut ev = Evaluator::new(&inst);
            for p in 0..inst.n_ports {
                let cost = ev.port_cost(&occ, p);
                let bound: u64 = (1..inst.n_nodes)
                    .map(|v| slot_bound(&inst, &occ, v, p))
                    .sum();
                let floor = bound / 2;
                let seen = std::cell::RefCell::new(Vec::new());
                let got = ev.port_cost_unless(&occ, p, floor, &|lb| {
                    seen.borrow_mut().push(lb);
                    false
                });
                assert_eq!(got, Some(cost), "seed {seed} port {p}");
                for &lb in seen.borrow().iter() {
                    if lb == floor + 2 * (f + 1) {
                        cut_off += 1;
                    } else {
                        relocating += 1;
                    }
                    assert!(lb <= cost, "seed {seed} port {p}: bound {lb} > cost {cost}");
                    assert_eq!(ev.port_cost_unless(&occ, p, floor, &|b| b >= lb), None);
                }
            }
        }
        assert!(
            cut_off > 20 && relocating > 20,
            "only {cut_off} ports with a cut-off slot and {relocating} with relocation candidates"
        );
    }

    /// A port costed from its plain distances costs what the full costing
    /// says, over random moves on random tables, with the through slots
    /// unchanged and with one slot opened and one closed; and the
    /// distances kept after the moves made are the port's own.
    #[test]
    fn a_plain_ports_quick_cost_is_its_full_cost() {
        let (mut same, mut open_close) = (0, 0);
        for seed in 0..200 {
            let (inst, occ) = random_case(seed);
            let mut annealer = Annealer::new(&inst, occ);
            let mut ev = Evaluator::new(&inst);
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x91a1);
            for _ in 0..300 {
                let Some((v, w, a, b)) = annealer.propose(&mut rng) else {
                    continue;
                };
                let last_port = (b + 1).min(inst.n_ports - 1);
                annealer.occ.swap_range(v, w, a, b);
                for p in a..=last_port {
                    if let Some((c, changed)) = annealer.plain_port_cost(p, v, w, a, b) {
                        assert_eq!(c, ev.port_cost(&annealer.occ, p), "seed {seed} port {p}");
                        if changed[0].0 == u32::MAX {
                            same += 1;
                        } else {
                            open_close += 1;
                        }
                    }
                }
                annealer.occ.swap_range(v, w, a, b);
                annealer.try_swap(&mut rng, inst.fixed_cost as f64, v, w, a, b);
            }
            let n = inst.n_nodes;
            for p in 0..inst.n_ports {
                if annealer.plain[p] == Some(true) {
                    let mut fresh = vec![0; n];
                    assert!(ev.plain_distances(&annealer.occ, p, &mut fresh));
                    assert_eq!(&fresh[..], &annealer.plain_dist[p * n..(p + 1) * n]);
                }
            }
        }
        assert!(
            same > 100 && open_close > 100,
            "quick costings: {same} with the same through slots, {open_close} opening and closing one"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        /// The bound the annealer rejects moves by never exceeds a port's
        /// exact cost, so it never rejects a move the Metropolis rule would
        /// accept.
        #[test]
        fn the_slot_bound_never_exceeds_a_ports_cost(seed in any::<u64>()) {
            let (inst, occ) = random_case(seed);
            let mut ev = Evaluator::new(&inst);
            for p in 0..inst.n_ports {
                let bound: u64 = (1..inst.n_nodes).map(|v| slot_bound(&inst, &occ, v, p)).sum();
                let cost = ev.port_cost(&occ, p);
                prop_assert!(bound <= 2 * cost, "port {p}: bound {bound} > 2 * cost {cost}");
            }
        }

        /// After any number of moves, restarts from other tables and from
        /// the best one, the annealer's running costs and bounds are those
        /// of its table, its best table costs what it says, and it is no
        /// worse than any table it was given.
        #[test]
        fn the_annealers_bookkeeping_matches_its_table(seed in any::<u64>()) {
            let (inst, occ) = random_case(seed);
            let mut given = vec![table_cost(&inst, &occ)];
            let mut annealer = Annealer::new(&inst, occ);
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
            let mut starts = ChaCha8Rng::seed_from_u64(seed ^ 0x57a7);
            let mut asked = Vec::new();
            let mut fresh = |k: usize, _: &Occupancy| {
                asked.push(k);
                let table = random_table(&inst, &mut starts);
                given.push(table_cost(&inst, &table));
                Some(table)
            };
            let progress = || 0.0;
            let budget = Budget { iterations: Some(2_000), progress: &progress, seconds: None };
            // Every budget is enough for the independent runs here.
            let schedule = Schedule { explore_moves_per_cell: 0, ..Schedule::for_instance(&inst, 0) };
            annealer.run(&mut rng, schedule, &budget, &mut |_, _| None, &mut fresh);
            if inst.n_nodes >= 3 {
                // One independent run from each start after the first.
                prop_assert_eq!(asked, (1..EXPLORE_RUNS).collect::<Vec<_>>());
            }
            prop_assert!(annealer.best_cost <= *given.iter().min().expect("a start"));
            prop_assert_eq!(annealer.cost, table_cost(&inst, &annealer.occ));
            prop_assert_eq!(annealer.best_cost, table_cost(&inst, &annealer.best));
            for p in 0..inst.n_ports {
                let bound: u64 = (1..inst.n_nodes).map(|v| slot_bound(&inst, &annealer.occ, v, p)).sum();
                prop_assert_eq!(annealer.port_bound[p], bound);
            }
        }

        #[test]
        fn the_polish_leaves_no_fill_that_pays_and_keeps_the_demand(seed in any::<u64>()) {
            let (inst, occ) = random_case(seed);
            let counts = |occ: &Occupancy| -> Vec<Vec<usize>> {
                (0..occ.intervals)
                    .map(|i| {
                        let mut c = vec![0; inst.demands.len()];
                        for v in 1..inst.n_nodes {
                            if occ.get(i, v) != EMPTY {
                                c[occ.get(i, v) as usize] += 1;
                            }
                        }
                        c
                    })
                    .collect()
            };
            let demand = counts(&occ);
            let given = table_cost(&inst, &occ);
            let mut annealer = Annealer::new(&inst, occ);
            annealer.polish(&|| 0.0);
            prop_assert!(annealer.best_cost <= given);
            prop_assert_eq!(annealer.best_cost, table_cost(&inst, &annealer.best));
            prop_assert_eq!(annealer.cost, annealer.best_cost);
            prop_assert!(annealer.occ == annealer.best);
            prop_assert_eq!(counts(&annealer.best), demand);
            for p in 0..inst.n_ports {
                let bound: u64 = (1..inst.n_nodes).map(|v| slot_bound(&inst, &annealer.occ, v, p)).sum();
                prop_assert_eq!(annealer.port_bound[p], bound);
            }
            // No fill left that would not raise the cost.
            let mut occ = annealer.best.clone();
            for t in 1..inst.n_nodes {
                for i in 0..occ.intervals {
                    if occ.get(i, t) == EMPTY {
                        continue;
                    }
                    let (a, b) = occ.run(t, i);
                    for s in 1..inst.n_nodes {
                        if inst.gate_distance[s] >= inst.gate_distance[t]
                            || !(a..=b).all(|j| occ.get(j, s) == EMPTY)
                        {
                            continue;
                        }
                        occ.swap_range(t, s, a, b);
                        prop_assert!(table_cost(&inst, &occ) > annealer.best_cost);
                        occ.swap_range(t, s, a, b);
                    }
                }
            }
        }
    }

    /// Cold moves start from the best plan, keep the best the cheapest seen
    /// and the running cost exact, and stop when told (checked every 32
    /// moves).
    #[test]
    fn cold_moves_keep_the_best_and_stop_when_told() {
        for seed in 0..40 {
            let (inst, occ) = random_case(seed);
            let given = table_cost(&inst, &occ);
            let mut annealer = Annealer::new(&inst, occ);
            // Away from the best plan first: the cold moves must go back to it.
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..200 {
                annealer.step(&mut rng, 1e9);
            }
            let best_before = annealer.best_cost;
            // Told to stop at once: back at the best plan (or one as
            // cheap), no move made.
            assert_eq!(annealer.cold(&mut rng, 0.5, &|| true), 0);
            assert_eq!(annealer.cost, annealer.best_cost, "seed {seed}");
            assert_eq!(annealer.cost, table_cost(&inst, &annealer.occ));
            for _ in 0..200 {
                annealer.step(&mut rng, 1e9);
            }
            let asked = std::cell::Cell::new(0);
            let made = annealer.cold(&mut rng, 0.5, &|| {
                asked.set(asked.get() + 1);
                asked.get() > 10
            });
            assert_eq!(made, 10 * 32, "seed {seed}");
            assert!(annealer.best_cost <= best_before && best_before <= given);
            assert_eq!(annealer.cost, table_cost(&inst, &annealer.occ));
            assert_eq!(annealer.best_cost, table_cost(&inst, &annealer.best));
        }
    }

    /// A vehicle standing deep while a slot nearer the gate is empty all
    /// its stay is moved there by the polish.
    #[test]
    fn the_polish_moves_a_vehicle_nearer_the_gate() {
        // A line 0 - 1 - 2 - 3; one vehicle from port 0 to port 1, in slot 3.
        let inst = Instance::new(
            4,
            vec![(0, 1), (1, 2), (2, 3)],
            2,
            vec![Demand {
                origin: 0,
                destination: 1,
                quantity: 1,
            }],
            100,
            0,
        )
        .expect("valid instance");
        let occ = Occupancy {
            n: 4,
            intervals: 1,
            cells: vec![EMPTY, EMPTY, EMPTY, 0],
        };
        let mut annealer = Annealer::new(&inst, occ);
        assert_eq!(annealer.best_cost, 2 * (100 + 3));
        assert_eq!(annealer.polish(&|| 0.0), 1);
        assert_eq!(annealer.best.cells, vec![EMPTY, 0, EMPTY, EMPTY]);
        assert_eq!(annealer.best_cost, 2 * (100 + 1));
    }
}
