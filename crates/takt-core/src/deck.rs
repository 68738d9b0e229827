//! A vessel's deck graph: the slots vehicles stand on and the lanes between
//! them, as the stowage planner (`takt-stow`) sees a car carrier.
//!
//! Node 0 is the gate (the stern ramp), the only way on and off; nodes
//! `1..n_nodes` are slots, each holding one vehicle and belonging to one
//! deck class (so a slot's clearance is its class's). A vehicle moves along
//! a path of edges through empty slots. Every voyage of a vessel service
//! shares the service's graph ([`crate::network::VoyageInfo::deck_graph`]).
//!
//! A scenario may draw the graph (`vessel_services[].deck_graph`); otherwise
//! it is generated from lanes ([`DeckGraph::lanes`]): each lane is a chain of
//! slots whose head is next to the gate, filled from the far end, so a
//! vehicle blocks the vehicles deeper in its lane.

use std::collections::VecDeque;

/// Slots per lane of a generated deck when the scenario gives no layout:
/// about a car deck's length over a vehicle's (assumed).
pub const DEFAULT_SLOTS_PER_LANE: u32 = 24;

/// Marks the gate in [`DeckGraph::slot_class`]: it belongs to no class.
pub const NO_CLASS: usize = usize::MAX;

/// The deck graph of a vessel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckGraph {
    /// Nodes `0..n_nodes`; node 0 is the gate.
    pub n_nodes: usize,
    /// Edges as listed (drawn) or generated (gate side first): the listed
    /// orientation is the one relocations follow.
    pub edges: Vec<(usize, usize)>,
    /// Deck class of each node (index into `Network::deck_classes`);
    /// [`NO_CLASS`] for the gate.
    pub slot_class: Vec<usize>,
    /// Undirected neighbours of each node, sorted.
    pub adjacent: Vec<Vec<usize>>,
    /// Neighbours along an edge in its listed orientation, sorted.
    pub forward: Vec<Vec<usize>>,
    /// Edges from the gate (BFS over all slots).
    pub gate_distance: Vec<usize>,
    /// Whether the scenario drew the graph (otherwise it was generated).
    pub drawn: bool,
}

impl DeckGraph {
    /// Generates a graph of lanes: for each `(deck class, lanes,
    /// slots_per_lane)`, that many chains of slots, each chain's first slot
    /// next to the gate. An empty layout gives a gate and no slots.
    pub fn lanes(layout: &[(usize, u32, u32)]) -> DeckGraph {
        let mut slot_class = vec![NO_CLASS];
        let mut edges = Vec::new();
        for &(class, lanes, per_lane) in layout {
            for _ in 0..lanes {
                let mut prev = 0;
                for _ in 0..per_lane {
                    let node = slot_class.len();
                    slot_class.push(class);
                    edges.push((prev, node));
                    prev = node;
                }
            }
        }
        DeckGraph::new(slot_class, edges, false).expect("generated lanes are a valid graph")
    }

    /// Builds a graph from slot classes (`slot_class[0]` is the gate's and
    /// ignored) and edges; the error says what is wrong with a drawing.
    pub fn new(
        mut slot_class: Vec<usize>,
        edges: Vec<(usize, usize)>,
        drawn: bool,
    ) -> Result<DeckGraph, String> {
        let n = slot_class.len();
        if n == 0 || (drawn && n < 2) {
            return Err("a deck graph needs at least one slot".into());
        }
        slot_class[0] = NO_CLASS;
        let mut adjacent = vec![Vec::new(); n];
        let mut forward = vec![Vec::new(); n];
        for (i, &(u, v)) in edges.iter().enumerate() {
            if u >= n || v >= n {
                return Err(format!(
                    "edge {i} ({u}, {v}) names a node outside 0..{n} (node 0 is the gate)"
                ));
            }
            if u == v {
                return Err(format!("edge {i} is a loop on node {u}"));
            }
            adjacent[u].push(v);
            adjacent[v].push(u);
            forward[u].push(v);
        }
        for list in adjacent.iter_mut().chain(forward.iter_mut()) {
            list.sort_unstable();
            list.dedup();
        }
        let mut gate_distance = vec![usize::MAX; n];
        gate_distance[0] = 0;
        let mut queue = VecDeque::from([0]);
        while let Some(u) = queue.pop_front() {
            for &v in &adjacent[u] {
                if gate_distance[v] == usize::MAX {
                    gate_distance[v] = gate_distance[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        if let Some(v) = gate_distance.iter().position(|&d| d == usize::MAX) {
            return Err(format!("slot {v} cannot be reached from the gate"));
        }
        Ok(DeckGraph {
            n_nodes: n,
            edges,
            slot_class,
            adjacent,
            forward,
            gate_distance,
            drawn,
        })
    }

    /// Number of slots of deck class `class`.
    pub fn slots_of(&self, class: usize) -> usize {
        self.slot_class.iter().filter(|&&c| c == class).count()
    }

    /// Number of slots (the gate excluded).
    pub fn n_slots(&self) -> usize {
        self.n_nodes - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_chains_from_the_gate() {
        let g = DeckGraph::lanes(&[(0, 2, 3), (1, 1, 2)]);
        assert_eq!(g.n_nodes, 1 + 6 + 2);
        assert_eq!(g.slots_of(0), 6);
        assert_eq!(g.slots_of(1), 2);
        assert_eq!(g.adjacent[0], vec![1, 4, 7]);
        assert_eq!(g.gate_distance[3], 3);
        assert_eq!(g.gate_distance[8], 2);
        assert_eq!(g.forward[1], vec![2]);
        assert!(!g.drawn);
    }

    #[test]
    fn a_drawing_with_an_unreachable_slot_is_rejected() {
        let err = DeckGraph::new(vec![0, 0, 0, 0], vec![(0, 1), (1, 2)], true).unwrap_err();
        assert!(err.contains("slot 3"), "{err}");
        let err = DeckGraph::new(vec![0, 0], vec![(0, 5)], true).unwrap_err();
        assert!(err.contains("outside"), "{err}");
    }
}
