//! Stowage port by port, as a voyage happens: a fast deterministic
//! construction for a simulator that learns what boards at each port only
//! when the vessel is there.
//!
//! It works the greedy of [`crate::plan`] on a live deck, with two
//! differences that a vessel in a network needs: vehicles are individual
//! items (an id, the port where they leave, a deck class), and a slot takes
//! only vehicles of its own deck class (its clearance), while any empty slot
//! may be driven through.
//!
//! - [`Deck::discharge`] drives off, nearest the gate first along shortest
//!   paths through empty slots (one peeling BFS), the vehicles leaving at the
//!   port; when the rest are cut off, it finds the one behind the fewest
//!   blockers (0-1 BFS from the gate) and discharges the first blocker on
//!   that way temporarily; at the end the vehicles discharged temporarily
//!   are loaded again.
//! - [`Deck::load`] drives on the vehicles of a port, latest leaving port
//!   first, each into a reachable empty slot of its class: slots that leave
//!   every empty slot reachable first (leaves of the BFS tree), then slots
//!   where it blocks nobody, the one whose vehicles behind it leave soonest
//!   after it (tight stacking keeps empty lanes for later ports), then the
//!   deepest. On a deck whose slots each have one way to the gate (lanes)
//!   that choice is exact; on a drawn deck the best few are checked against
//!   the number of blocked vehicles on board (a bottleneck sweep). When no
//!   slot of the class is reachable, the vehicles cutting the nearest one off
//!   are discharged temporarily and loaded again in their turn.
//!
//! Every move is feasible when made: routes are simple paths through empty
//! slots, so the [`crate::check`] checker accepts the plan.

use std::collections::{HashMap, VecDeque};

const EMPTY: u32 = u32::MAX;

/// How a candidate slot ranks, best first: whether it cuts empty slots off
/// (not a BFS-tree leaf), whether it blocks a vehicle behind it, how
/// tightly it fits, depth (deeper first), node.
type Rank = (bool, bool, usize, std::cmp::Reverse<usize>, usize);
const UNREACHED: usize = usize::MAX;

/// The deck graph, borrowed: node 0 is the gate.
#[derive(Debug, Clone, Copy)]
pub struct Graph<'a> {
    /// Undirected neighbours of each node.
    pub adjacent: &'a [Vec<usize>],
    /// Deck class of each slot (the gate's entry is ignored).
    pub slot_class: &'a [usize],
    /// Edges from the gate over all slots.
    pub gate_distance: &'a [usize],
}

/// A vehicle to stow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub id: u32,
    /// The port (call index) where it leaves the vessel.
    pub leave: usize,
    /// The deck class of the slots it may stand on.
    pub class: usize,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Driven on at its boarding port.
    Load,
    /// Driven off at its leaving port.
    Discharge,
    /// Driven off to clear the way for another, at a port where it stays on board.
    TemporaryDischarge,
    /// Driven on again after a temporary discharge.
    Reload,
}

impl Action {
    /// Moves that carry no vehicle to or from its own port: rehandling.
    pub fn is_rehandling(self) -> bool {
        matches!(self, Action::TemporaryDischarge | Action::Reload)
    }
}

/// One move of one vehicle, along `route` (gate first for loads, gate last
/// for discharges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub item: u32,
    pub action: Action,
    pub route: Vec<usize>,
}

/// The vehicles on board and where they stand.
#[derive(Debug, Clone)]
pub struct Deck {
    slot: Vec<u32>,
    leave: Vec<usize>,
    class: Vec<usize>,
    at: HashMap<u32, usize>,
}

struct Scratch {
    dist: Vec<usize>,
    parent: Vec<usize>,
    queue: VecDeque<usize>,
}

impl Scratch {
    fn new(n: usize) -> Scratch {
        Scratch {
            dist: vec![UNREACHED; n],
            parent: vec![UNREACHED; n],
            queue: VecDeque::new(),
        }
    }
}

impl Deck {
    /// An empty deck of `n_nodes` nodes (the gate included).
    pub fn new(n_nodes: usize) -> Deck {
        Deck {
            slot: vec![EMPTY; n_nodes],
            leave: vec![0; n_nodes],
            class: vec![0; n_nodes],
            at: HashMap::new(),
        }
    }

    /// Where the vehicle `id` stands, if on board.
    pub fn position(&self, id: u32) -> Option<usize> {
        self.at.get(&id).copied()
    }

    /// The vehicle at `node`, if any.
    pub fn occupant(&self, node: usize) -> Option<u32> {
        self.slot.get(node).copied().filter(|&x| x != EMPTY)
    }

    /// Every vehicle on board with its slot, by slot.
    pub fn positions(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.slot
            .iter()
            .enumerate()
            .filter(|&(_, &x)| x != EMPTY)
            .map(|(v, &x)| (x, v))
    }

    /// Vehicles on board.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Takes a vehicle off the plan without a move (it was planned but
    /// never driven on). Returns whether it was on board.
    pub fn remove(&mut self, id: u32) -> bool {
        match self.at.remove(&id) {
            Some(v) => {
                self.slot[v] = EMPTY;
                true
            }
            None => false,
        }
    }

    fn put(&mut self, v: usize, item: Item) {
        self.slot[v] = item.id;
        self.leave[v] = item.leave;
        self.class[v] = item.class;
        self.at.insert(item.id, v);
    }

    fn take(&mut self, v: usize) -> Item {
        let item = Item {
            id: self.slot[v],
            leave: self.leave[v],
            class: self.class[v],
        };
        self.slot[v] = EMPTY;
        self.at.remove(&item.id);
        item
    }

    /// BFS from the gate through empty slots; occupied slots next to them
    /// get a distance and a parent too (as end points). Returns how many
    /// empty slots it reached.
    fn bfs(&self, g: &Graph<'_>, s: &mut Scratch) -> usize {
        s.dist.fill(UNREACHED);
        s.parent.fill(UNREACHED);
        s.dist[0] = 0;
        s.queue.clear();
        s.queue.push_back(0);
        let mut reached = 0;
        while let Some(u) = s.queue.pop_front() {
            for &v in &g.adjacent[u] {
                if v == 0 || s.dist[v] != UNREACHED {
                    continue;
                }
                s.dist[v] = s.dist[u] + 1;
                s.parent[v] = u;
                if self.slot[v] == EMPTY {
                    reached += 1;
                    s.queue.push_back(v);
                }
            }
        }
        reached
    }

    fn path_from_gate(s: &Scratch, v: usize) -> Vec<usize> {
        let mut path = vec![v];
        let mut u = v;
        while u != 0 {
            u = s.parent[u];
            path.push(u);
        }
        path.reverse();
        path
    }

    /// 0-1 BFS from the gate: entering an occupied slot costs 1 unless
    /// `free(leave)` holds for its vehicle. Fills `dist` (the cost) and
    /// `parent`.
    fn zero_one_bfs(&self, g: &Graph<'_>, s: &mut Scratch, free: impl Fn(usize) -> bool) {
        s.dist.fill(UNREACHED);
        s.parent.fill(UNREACHED);
        s.dist[0] = 0;
        s.queue.clear();
        s.queue.push_back(0);
        while let Some(u) = s.queue.pop_front() {
            let cu = s.dist[u];
            for &v in &g.adjacent[u] {
                if v == 0 {
                    continue;
                }
                let open = self.slot[v] == EMPTY || free(self.leave[v]);
                let c = cu + usize::from(!open);
                if c < s.dist[v] {
                    s.dist[v] = c;
                    s.parent[v] = u;
                    if open {
                        s.queue.push_front(v);
                    } else {
                        s.queue.push_back(v);
                    }
                }
            }
        }
    }

    /// The first occupied slot (from the gate) on the last 0-1 BFS's way to
    /// `target` whose vehicle does not satisfy `free`.
    fn first_blocker(&self, s: &Scratch, target: usize, free: impl Fn(usize) -> bool) -> usize {
        let mut first = None;
        let mut u = target;
        while u != 0 {
            if u != target && self.slot[u] != EMPTY && !free(self.leave[u]) {
                first = Some(u);
            }
            u = s.parent[u];
        }
        first.expect("a cut-off slot has a blocker")
    }

    /// Drives off the vehicle at `v` along the last BFS's path.
    fn drive_off(&mut self, s: &Scratch, v: usize, action: Action, steps: &mut Vec<Step>) -> Item {
        let mut route = Self::path_from_gate(s, v);
        route.reverse();
        let item = self.take(v);
        steps.push(Step {
            item: item.id,
            action,
            route,
        });
        item
    }

    /// Works the discharge of port `port`: every vehicle leaving there is
    /// driven off; vehicles in their way are discharged temporarily and
    /// loaded again afterwards. Returns the vehicles that could not be
    /// loaded again (none while the deck has an empty slot of their class).
    pub fn discharge(&mut self, g: &Graph<'_>, port: usize, steps: &mut Vec<Step>) -> Vec<u32> {
        let n = self.slot.len();
        let mut s = Scratch::new(n);
        let mut pending: Vec<Item> = Vec::new();
        loop {
            // Peel: BFS from the gate; a vehicle leaving here that the BFS
            // reaches drives off along the BFS path and its slot opens.
            s.dist.fill(UNREACHED);
            s.parent.fill(UNREACHED);
            s.dist[0] = 0;
            s.queue.clear();
            s.queue.push_back(0);
            while let Some(u) = s.queue.pop_front() {
                for i in 0..g.adjacent[u].len() {
                    let v = g.adjacent[u][i];
                    if v == 0 || s.dist[v] != UNREACHED {
                        continue;
                    }
                    if self.slot[v] != EMPTY && self.leave[v] != port {
                        continue;
                    }
                    s.dist[v] = s.dist[u] + 1;
                    s.parent[v] = u;
                    if self.slot[v] != EMPTY {
                        self.drive_off(&s, v, Action::Discharge, steps);
                    }
                    s.queue.push_back(v);
                }
            }
            let mut left = (1..n).filter(|&v| self.slot[v] != EMPTY && self.leave[v] == port);
            if left.next().is_none() {
                break;
            }
            // Every one left is cut off: clear the first blocker on the
            // cheapest way to one of them.
            self.zero_one_bfs(g, &mut s, |l| l == port);
            let target = (1..n)
                .filter(|&v| self.slot[v] != EMPTY && self.leave[v] == port)
                .min_by_key(|&v| (s.dist[v], v))
                .expect("some are left");
            let blocker = self.first_blocker(&s, target, |l| l == port);
            self.bfs(g, &mut s);
            pending.push(self.drive_off(&s, blocker, Action::TemporaryDischarge, steps));
        }
        self.load_as(g, &pending, Action::Reload, steps)
    }

    /// Loads `items` at a port, latest leaving port first (ties in the
    /// order given). Returns the vehicles for which no slot of their class
    /// was left.
    pub fn load(&mut self, g: &Graph<'_>, items: &[Item], steps: &mut Vec<Step>) -> Vec<u32> {
        self.load_as(g, items, Action::Load, steps)
    }

    fn load_as(
        &mut self,
        g: &Graph<'_>,
        items: &[Item],
        action: Action,
        steps: &mut Vec<Step>,
    ) -> Vec<u32> {
        let n = self.slot.len();
        let mut s = Scratch::new(n);
        // A deck where every slot has one way to the gate: the local test
        // of blocking is exact there.
        let lanes = (1..n).all(|v| {
            g.adjacent[v]
                .iter()
                .filter(|&&u| g.gate_distance[u] + 1 == g.gate_distance[v])
                .count()
                == 1
                && g.adjacent[v]
                    .iter()
                    .all(|&u| g.gate_distance[u] != g.gate_distance[v])
        });
        let mut work: Vec<(Item, Action)> = items.iter().map(|&i| (i, action)).collect();
        work.sort_by_key(|(i, _)| std::cmp::Reverse(i.leave));
        let mut unplaced = Vec::new();
        let mut next = 0;
        let mut sweep = Sweep::new(n);
        // The BFS tree of empty slots and its leaves, kept up to date while
        // vehicles fill leaves (filling a leaf changes no other distance);
        // rebuilt after any other change.
        let mut valid = false;
        let mut children = vec![0u32; n];
        let mut leaves: Vec<usize> = Vec::new();
        let mut rounds = 0usize;
        while next < work.len() {
            rounds += 1;
            let (item, act) = work[next];
            if rounds > 4 * (n + items.len()) {
                // Clearing ways keeps undoing itself (a drawing whose
                // classes interleave): restow everything at once.
                unplaced.extend(self.restow(g, &mut s, &work[next..], steps));
                break;
            }
            if !valid {
                self.bfs(g, &mut s);
                children.fill(0);
                for v in 1..n {
                    if self.slot[v] == EMPTY && s.dist[v] != UNREACHED {
                        children[s.parent[v]] += 1;
                    }
                }
                leaves.clear();
                leaves.extend((1..n).filter(|&v| {
                    self.slot[v] == EMPTY && s.dist[v] != UNREACHED && children[v] == 0
                }));
                valid = true;
            }
            let rank = |v: usize, leaf: bool| -> (Rank, usize) {
                let mut under = usize::MAX;
                for &u in &g.adjacent[v] {
                    if u != 0 && self.slot[u] != EMPTY && g.gate_distance[u] > g.gate_distance[v] {
                        under = under.min(self.leave[u]);
                    }
                }
                if !leaf {
                    // Filling it cuts slots off: the deepest cuts off least.
                    return ((true, false, 0, std::cmp::Reverse(s.dist[v]), v), v);
                }
                let blocks = under < item.leave;
                let fit = if blocks { usize::MAX - under } else { under };
                ((false, blocks, fit, std::cmp::Reverse(s.dist[v]), v), v)
            };
            // Leaves of the BFS tree first: filling one cuts no empty slot off.
            let mut candidates: Vec<(Rank, usize)> = leaves
                .iter()
                .filter(|&&v| g.slot_class[v] == item.class)
                .map(|&v| rank(v, true))
                .collect();
            if candidates.is_empty() {
                candidates.extend(
                    (1..n)
                        .filter(|&v| {
                            self.slot[v] == EMPTY
                                && s.dist[v] != UNREACHED
                                && g.slot_class[v] == item.class
                        })
                        .map(|v| rank(v, false)),
                );
            }
            if candidates.is_empty() {
                // No slot of the class reachable: discharge temporarily the
                // first vehicle on the cheapest way to the nearest one.
                self.zero_one_bfs(g, &mut s, |_| false);
                let target = (1..n)
                    .filter(|&v| {
                        self.slot[v] == EMPTY
                            && g.slot_class[v] == item.class
                            && s.dist[v] != UNREACHED
                    })
                    .min_by_key(|&v| (s.dist[v], v));
                let Some(target) = target else {
                    unplaced.push(item.id);
                    next += 1;
                    continue;
                };
                // Every vehicle on that way, nearest the gate first, so the
                // slot is reachable once they are off (clearing only the
                // first could let the vehicle take its place, and the two
                // would clear each other's way for ever).
                let mut way = Vec::new();
                let mut u = s.parent[target];
                while u != 0 {
                    if self.slot[u] != EMPTY {
                        way.push(u);
                    }
                    u = s.parent[u];
                }
                let mut at = next + 1;
                for &blocker in way.iter().rev() {
                    self.bfs(g, &mut s);
                    let moved = self.drive_off(&s, blocker, Action::TemporaryDischarge, steps);
                    // It boards again in its turn among the vehicles still to load.
                    let pos = at
                        + work[at..]
                            .iter()
                            .take_while(|(i, _)| i.leave >= moved.leave)
                            .count();
                    work.insert(pos, (moved, Action::Reload));
                    at = next + 1;
                }
                valid = false;
                continue;
            }
            candidates.sort_unstable();
            let chosen = if lanes || !candidates[0].0.1 && candidates.len() == 1 {
                candidates[0].1
            } else {
                // Check the best few against the vehicles blocked on board.
                let mut best: Option<(usize, usize)> = None;
                for &(_, v) in candidates.iter().take(4) {
                    self.slot[v] = item.id;
                    self.leave[v] = item.leave;
                    let blocked = sweep.blocked(self, g);
                    self.slot[v] = EMPTY;
                    if best.is_none_or(|(b, _)| blocked < b) {
                        best = Some((blocked, v));
                    }
                }
                best.expect("candidates").1
            };
            let route = Self::path_from_gate(&s, chosen);
            self.put(chosen, item);
            match leaves.iter().position(|&v| v == chosen) {
                Some(i) => {
                    leaves.swap_remove(i);
                    let p = s.parent[chosen];
                    if p != 0 {
                        children[p] -= 1;
                        if children[p] == 0 {
                            leaves.push(p);
                        }
                    }
                }
                None => valid = false,
            }
            steps.push(Step {
                item: item.id,
                action: act,
                route,
            });
            next += 1;
        }
        unplaced
    }
}

impl Deck {
    /// The last resort of a port: every vehicle on board is discharged
    /// temporarily (nearest first), then they and `rest` are loaded, each
    /// class into its own slots, the latest leaving deepest, farthest slot
    /// first. The shortest way to the farthest slot still to fill passes
    /// only slots nearer the gate, all empty then, so every vehicle whose
    /// class has a slot left is stowed. Returns those whose class has none.
    fn restow(
        &mut self,
        g: &Graph<'_>,
        s: &mut Scratch,
        rest: &[(Item, Action)],
        steps: &mut Vec<Step>,
    ) -> Vec<u32> {
        let n = self.slot.len();
        let mut all: Vec<(Item, Action)> = Vec::new();
        while !self.at.is_empty() {
            self.bfs(g, s);
            // The BFS runs through empty slots only, so the way off of every
            // vehicle it reached stays open while the others drive off.
            let reached: Vec<usize> = (1..n)
                .filter(|&v| self.slot[v] != EMPTY && s.dist[v] != UNREACHED)
                .collect();
            assert!(!reached.is_empty(), "a deck connected to its gate");
            for v in reached {
                let item = self.drive_off(s, v, Action::TemporaryDischarge, steps);
                all.push((item, Action::Reload));
            }
        }
        all.extend_from_slice(rest);
        // Latest leaving first; by id among equals, for a stable plan.
        all.sort_by_key(|(i, _)| (std::cmp::Reverse(i.leave), i.id));
        let mut slots: Vec<usize> = (1..n).collect();
        slots.sort_by_key(|&v| (std::cmp::Reverse(g.gate_distance[v]), v));
        let mut taken = vec![false; n];
        let mut plan: Vec<(usize, Item, Action)> = Vec::new();
        let mut unplaced = Vec::new();
        for &(item, action) in &all {
            match slots
                .iter()
                .copied()
                .find(|&v| !taken[v] && g.slot_class[v] == item.class)
            {
                Some(v) => {
                    taken[v] = true;
                    plan.push((v, item, action));
                }
                None => unplaced.push(item.id),
            }
        }
        plan.sort_by_key(|&(v, _, _)| (std::cmp::Reverse(g.gate_distance[v]), v));
        for (v, item, action) in plan {
            self.bfs(g, s);
            let route = Self::path_from_gate(s, v);
            self.put(v, item);
            steps.push(Step {
                item: item.id,
                action,
                route,
            });
        }
        unplaced
    }
}

/// The bottleneck sweep: vehicles on board with no way to the gate through
/// slots whose vehicles leave no later than they do.
struct Sweep {
    need: Vec<usize>,
    buckets: Vec<Vec<usize>>,
}

impl Sweep {
    fn new(n: usize) -> Sweep {
        Sweep {
            need: vec![UNREACHED; n],
            buckets: Vec::new(),
        }
    }

    fn blocked(&mut self, deck: &Deck, g: &Graph<'_>) -> usize {
        let n = deck.slot.len();
        let label = |v: usize| {
            if deck.slot[v] == EMPTY {
                0
            } else {
                deck.leave[v] + 1
            }
        };
        let levels = (1..n).map(label).max().unwrap_or(0) + 1;
        if self.buckets.len() < levels {
            self.buckets.resize(levels, Vec::new());
        }
        for b in &mut self.buckets {
            b.clear();
        }
        self.need.fill(UNREACHED);
        self.need[0] = 0;
        self.buckets[0].push(0);
        for level in 0..levels {
            while let Some(u) = self.buckets[level].pop() {
                if self.need[u] != level {
                    continue;
                }
                let through = if u == 0 { 0 } else { level.max(label(u)) };
                for &v in &g.adjacent[u] {
                    if through < self.need[v] {
                        self.need[v] = through;
                        self.buckets[through].push(v);
                    }
                }
            }
        }
        (1..n)
            .filter(|&v| deck.slot[v] != EMPTY && self.need[v] > label(v))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lanes of `per_lane` slots, heads next to the gate, all of class 0.
    fn lanes(n_lanes: usize, per_lane: usize) -> (Vec<Vec<usize>>, Vec<usize>, Vec<usize>) {
        let n = 1 + n_lanes * per_lane;
        let mut adjacent = vec![Vec::new(); n];
        let mut dist = vec![0; n];
        for l in 0..n_lanes {
            let mut prev = 0;
            for k in 0..per_lane {
                let v = 1 + l * per_lane + k;
                adjacent[prev].push(v);
                adjacent[v].push(prev);
                dist[v] = k + 1;
                prev = v;
            }
        }
        (adjacent, vec![0; n], dist)
    }

    fn item(id: u32, leave: usize) -> Item {
        Item {
            id,
            leave,
            class: 0,
        }
    }

    #[test]
    fn later_ports_go_deeper_and_nothing_is_rehandled_when_lanes_allow() {
        let (adjacent, class, dist) = lanes(2, 3);
        let g = Graph {
            adjacent: &adjacent,
            slot_class: &class,
            gate_distance: &dist,
        };
        let mut deck = Deck::new(adjacent.len());
        let mut steps = Vec::new();
        // Port 0 loads for ports 2 and 3; port 1 loads for 3.
        deck.load(&g, &[item(1, 2), item(2, 3), item(3, 2)], &mut steps);
        deck.load(&g, &[item(4, 3), item(5, 3)], &mut steps);
        for port in 2..=3 {
            deck.discharge(&g, port, &mut steps);
        }
        assert!(deck.is_empty());
        assert!(steps.iter().all(|s| !s.action.is_rehandling()), "{steps:?}");
    }

    #[test]
    fn a_full_lane_forces_a_temporary_discharge() {
        let (adjacent, class, dist) = lanes(1, 3);
        let g = Graph {
            adjacent: &adjacent,
            slot_class: &class,
            gate_distance: &dist,
        };
        let mut deck = Deck::new(adjacent.len());
        let mut steps = Vec::new();
        deck.load(&g, &[item(1, 2)], &mut steps);
        // Boards later but leaves later: it must stand in front of vehicle 1.
        deck.load(&g, &[item(2, 3)], &mut steps);
        deck.discharge(&g, 2, &mut steps);
        let kinds: Vec<(u32, Action)> = steps.iter().map(|s| (s.item, s.action)).collect();
        assert_eq!(
            kinds,
            vec![
                (1, Action::Load),
                (2, Action::Load),
                (2, Action::TemporaryDischarge),
                (1, Action::Discharge),
                (2, Action::Reload),
            ]
        );
        assert_eq!(deck.position(2), Some(3));
    }
}
