//! The stowage problem: deck graph, port rotation, demand, route cost.
//!
//! Parsed from the Optimization Grand Challenge 2025 JSON text:
//! `{"N": nodes, "E": [[u, v], ...], "P": ports, "K": [[[origin, destination], quantity], ...],
//! "F": fixed cost per route, "LB": lower bound, "grid_graph": drawing aid (ignored)}`.

use serde::Deserialize;
use std::collections::VecDeque;
use thiserror::Error;

/// The gate: the only way on and off the vessel. No vehicle may stand on it.
pub const GATE: usize = 0;

/// One line of demand: `quantity` identical vehicles board at port `origin`
/// and leave at port `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    pub origin: usize,
    pub destination: usize,
    pub quantity: usize,
}

/// A stowage problem, validated, with the derived graph data the checker and
/// planner share (adjacency, listed orientation, distance from the gate).
#[derive(Debug, Clone)]
pub struct Instance {
    /// Nodes `0..n_nodes`; node 0 is the gate.
    pub n_nodes: usize,
    /// Edges as listed in the file; the listed orientation matters for
    /// relocation routes.
    pub edges: Vec<(usize, usize)>,
    pub n_ports: usize,
    pub demands: Vec<Demand>,
    /// Cost of every route on top of its number of edges.
    pub fixed_cost: u64,
    /// The file's lower bound (`LB`).
    pub lower_bound: i64,
    /// Undirected neighbours of each node, sorted.
    pub adjacent: Vec<Vec<usize>>,
    /// Neighbours reachable along an edge in its listed orientation, sorted.
    pub forward: Vec<Vec<usize>>,
    /// Edges from the gate (BFS), `usize::MAX` when unreachable.
    pub gate_distance: Vec<usize>,
}

/// Why an instance text was rejected.
#[derive(Debug, Error)]
pub enum ParseError {
    #[error("not JSON of the challenge format")]
    Json(#[from] serde_json::Error),
    #[error("N must be at least 2 (a gate and one slot), got {0}")]
    TooFewNodes(usize),
    #[error("edge {index} ({u}, {v}) names a node outside 0..{n_nodes}")]
    EdgeOutOfRange {
        index: usize,
        u: usize,
        v: usize,
        n_nodes: usize,
    },
    #[error("edge {index} is a loop on node {node}")]
    SelfLoop { index: usize, node: usize },
    #[error(
        "demand {index} ({origin} -> {destination}) needs 0 <= origin < destination < P = {n_ports}"
    )]
    BadDemand {
        index: usize,
        origin: usize,
        destination: usize,
        n_ports: usize,
    },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "N")]
    n: usize,
    #[serde(rename = "E")]
    e: Vec<(usize, usize)>,
    #[serde(rename = "P")]
    p: usize,
    #[serde(rename = "K")]
    k: Vec<((usize, usize), usize)>,
    #[serde(rename = "F")]
    f: u64,
    #[serde(rename = "LB", default)]
    lb: i64,
}

impl Instance {
    /// Parses the challenge's JSON text.
    pub fn parse(text: &str) -> Result<Instance, ParseError> {
        let raw: Raw = serde_json::from_str(text)?;
        let demands = raw
            .k
            .iter()
            .map(|&((origin, destination), quantity)| Demand {
                origin,
                destination,
                quantity,
            })
            .collect();
        Instance::new(raw.n, raw.e, raw.p, demands, raw.f, raw.lb)
    }

    /// Builds and validates an instance.
    pub fn new(
        n_nodes: usize,
        edges: Vec<(usize, usize)>,
        n_ports: usize,
        demands: Vec<Demand>,
        fixed_cost: u64,
        lower_bound: i64,
    ) -> Result<Instance, ParseError> {
        if n_nodes < 2 {
            return Err(ParseError::TooFewNodes(n_nodes));
        }
        let mut adjacent = vec![Vec::new(); n_nodes];
        let mut forward = vec![Vec::new(); n_nodes];
        for (index, &(u, v)) in edges.iter().enumerate() {
            if u >= n_nodes || v >= n_nodes {
                return Err(ParseError::EdgeOutOfRange {
                    index,
                    u,
                    v,
                    n_nodes,
                });
            }
            if u == v {
                return Err(ParseError::SelfLoop { index, node: u });
            }
            adjacent[u].push(v);
            adjacent[v].push(u);
            forward[u].push(v);
        }
        for list in adjacent.iter_mut().chain(forward.iter_mut()) {
            list.sort_unstable();
            list.dedup();
        }
        for (index, d) in demands.iter().enumerate() {
            if d.origin >= d.destination || d.destination >= n_ports {
                return Err(ParseError::BadDemand {
                    index,
                    origin: d.origin,
                    destination: d.destination,
                    n_ports,
                });
            }
        }
        let mut gate_distance = vec![usize::MAX; n_nodes];
        gate_distance[GATE] = 0;
        let mut queue = VecDeque::from([GATE]);
        while let Some(u) = queue.pop_front() {
            for &v in &adjacent[u] {
                if gate_distance[v] == usize::MAX {
                    gate_distance[v] = gate_distance[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        Ok(Instance {
            n_nodes,
            edges,
            n_ports,
            demands,
            fixed_cost,
            lower_bound,
            adjacent,
            forward,
            gate_distance,
        })
    }

    /// Whether `u`-`v` is an edge, in either orientation.
    pub fn has_edge(&self, u: usize, v: usize) -> bool {
        self.adjacent[u].binary_search(&v).is_ok()
    }

    /// Whether `u`→`v` is an edge in its listed orientation.
    pub fn has_forward_edge(&self, u: usize, v: usize) -> bool {
        self.forward[u].binary_search(&v).is_ok()
    }

    /// Vehicles of demand `k` that must be on board after port `port` is
    /// worked.
    pub fn on_board_after(&self, k: usize, port: usize) -> usize {
        let d = self.demands[k];
        if d.origin <= port && port < d.destination {
            d.quantity
        } else {
            0
        }
    }

    /// Total number of vehicles carried.
    pub fn n_vehicles(&self) -> usize {
        self.demands.iter().map(|d| d.quantity).sum()
    }

    /// The largest number of vehicles on board at once (after some port).
    pub fn peak_on_board(&self) -> usize {
        (0..self.n_ports)
            .map(|p| {
                (0..self.demands.len())
                    .map(|k| self.on_board_after(k, p))
                    .sum()
            })
            .max()
            .unwrap_or(0)
    }
}
