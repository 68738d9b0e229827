//! The independent checker: replays a [`Solution`] move by move against an
//! [`Instance`], knowing nothing about how the solution was made.
//!
//! Rules, each with a [`ViolationCode`]:
//! - every route has at least two nodes ([`RouteTooShort`](ViolationCode::RouteTooShort)),
//!   names existing nodes ([`NodeOutOfRange`](ViolationCode::NodeOutOfRange)),
//!   repeats none ([`NonSimplePath`](ViolationCode::NonSimplePath)), and touches the
//!   gate only at an end ([`GateInsideRoute`](ViolationCode::GateInsideRoute));
//! - consecutive nodes are joined by an edge ([`MissingEdge`](ViolationCode::MissingEdge));
//!   a relocation (neither end at the gate) uses each edge in its listed
//!   orientation ([`AgainstEdgeOrientation`](ViolationCode::AgainstEdgeOrientation)),
//!   as the challenge's own checker did;
//! - the demand index exists ([`UnknownDemand`](ViolationCode::UnknownDemand)), and a
//!   loading happens at a port where the vehicle may be on board, from its
//!   origin up to the port before its destination
//!   ([`DemandNotAtPort`](ViolationCode::DemandNotAtPort));
//! - an unloading or relocation starts at a node holding a vehicle
//!   ([`NoVehicleAtStart`](ViolationCode::NoVehicleAtStart)) of that demand
//!   ([`WrongVehicleAtStart`](ViolationCode::WrongVehicleAtStart));
//! - every other node of a route is empty when the route executes:
//!   intermediate nodes ([`BlockedPath`](ViolationCode::BlockedPath)) and the final
//!   slot of a loading or relocation ([`NodeOccupied`](ViolationCode::NodeOccupied));
//! - after each port, exactly the demand travelling past it is on board
//!   ([`WrongDemandOnBoard`](ViolationCode::WrongDemandOnBoard)): everything
//!   destined there has left, everything from there has boarded, and every
//!   vehicle discharged temporarily has been reloaded;
//! - the solution names no port the vessel does not call at
//!   ([`UnknownPort`](ViolationCode::UnknownPort)).
//!
//! Replay stops at the first violation (the state after it is undefined);
//! the cost is summed over every route listed.

use crate::instance::{GATE, Instance};
use crate::solution::Solution;
use std::fmt;

/// Stable codes for the ways a solution can be infeasible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationCode {
    RouteTooShort,
    NodeOutOfRange,
    NonSimplePath,
    GateInsideRoute,
    MissingEdge,
    AgainstEdgeOrientation,
    UnknownDemand,
    DemandNotAtPort,
    NoVehicleAtStart,
    WrongVehicleAtStart,
    BlockedPath,
    NodeOccupied,
    WrongDemandOnBoard,
    UnknownPort,
}

impl ViolationCode {
    /// The code as written in reports, e.g. `blocked-path`.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationCode::RouteTooShort => "route-too-short",
            ViolationCode::NodeOutOfRange => "node-out-of-range",
            ViolationCode::NonSimplePath => "non-simple-path",
            ViolationCode::GateInsideRoute => "gate-inside-route",
            ViolationCode::MissingEdge => "missing-edge",
            ViolationCode::AgainstEdgeOrientation => "against-edge-orientation",
            ViolationCode::UnknownDemand => "unknown-demand",
            ViolationCode::DemandNotAtPort => "demand-not-at-port",
            ViolationCode::NoVehicleAtStart => "no-vehicle-at-start",
            ViolationCode::WrongVehicleAtStart => "wrong-vehicle-at-start",
            ViolationCode::BlockedPath => "blocked-path",
            ViolationCode::NodeOccupied => "node-occupied",
            ViolationCode::WrongDemandOnBoard => "wrong-demand-on-board",
            ViolationCode::UnknownPort => "unknown-port",
        }
    }
}

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason a solution is infeasible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: ViolationCode,
    pub port: usize,
    /// Index of the route within its port, when a route is at fault.
    pub move_index: Option<usize>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.move_index {
            Some(i) => write!(
                f,
                "[{}] port {} route {}: {}",
                self.code, self.port, i, self.message
            ),
            None => write!(f, "[{}] port {}: {}", self.code, self.port, self.message),
        }
    }
}

/// What the checker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub feasible: bool,
    pub violations: Vec<Violation>,
    /// Sum over routes of `F + edges`.
    pub cost: u64,
    /// `cost - LB`, the challenge's objective.
    pub objective: i64,
    pub n_loads: usize,
    pub n_unloads: usize,
    pub n_relocations: usize,
    /// Unloadings at a port other than the vehicle's destination.
    pub n_temporary_unloads: usize,
}

impl Report {
    /// The first violation's code, if any.
    pub fn first_code(&self) -> Option<ViolationCode> {
        self.violations.first().map(|v| v.code)
    }
}

/// Route cost: `F` plus the number of edges.
pub fn route_cost(instance: &Instance, route: &[usize]) -> u64 {
    instance.fixed_cost + route.len().saturating_sub(1) as u64
}

/// Replays `solution` against `instance`; see the module docs for the rules.
pub fn check(instance: &Instance, solution: &Solution) -> Report {
    let cost: u64 = solution
        .ports
        .iter()
        .flatten()
        .map(|m| route_cost(instance, &m.route))
        .sum();
    let mut report = Report {
        feasible: true,
        violations: Vec::new(),
        cost,
        objective: cost as i64 - instance.lower_bound,
        n_loads: 0,
        n_unloads: 0,
        n_relocations: 0,
        n_temporary_unloads: 0,
    };
    if let Err(v) = replay(instance, solution, &mut report) {
        report.violations.extend(v);
    }
    report.feasible = report.violations.is_empty();
    report
}

fn violation(code: ViolationCode, port: usize, i: usize, message: String) -> Vec<Violation> {
    vec![Violation {
        code,
        port,
        move_index: Some(i),
        message,
    }]
}

fn replay(
    instance: &Instance,
    solution: &Solution,
    report: &mut Report,
) -> Result<(), Vec<Violation>> {
    use ViolationCode as C;
    let n = instance.n_nodes;
    let mut slot: Vec<Option<usize>> = vec![None; n];
    let mut on_board = vec![0usize; instance.demands.len()];
    let mut seen = vec![usize::MAX; n];
    let mut stamp = 0usize;
    if solution.ports.len() > instance.n_ports {
        for p in instance.n_ports..solution.ports.len() {
            if !solution.ports[p].is_empty() {
                return Err(vec![Violation {
                    code: C::UnknownPort,
                    port: p,
                    move_index: None,
                    message: format!("the vessel calls at ports 0..{} only", instance.n_ports),
                }]);
            }
        }
    }
    let empty = Vec::new();
    for port in 0..instance.n_ports {
        let moves = solution.ports.get(port).unwrap_or(&empty);
        for (i, m) in moves.iter().enumerate() {
            let r = &m.route;
            if r.len() < 2 {
                return Err(violation(
                    C::RouteTooShort,
                    port,
                    i,
                    format!("route {r:?} has no edge"),
                ));
            }
            if let Some(&bad) = r.iter().find(|&&v| v >= n) {
                return Err(violation(
                    C::NodeOutOfRange,
                    port,
                    i,
                    format!("node {bad} does not exist (N = {n})"),
                ));
            }
            stamp += 1;
            for &v in r {
                if seen[v] == stamp {
                    return Err(violation(
                        C::NonSimplePath,
                        port,
                        i,
                        format!("route {r:?} visits node {v} twice"),
                    ));
                }
                seen[v] = stamp;
            }
            if r[1..r.len() - 1].contains(&GATE) {
                return Err(violation(
                    C::GateInsideRoute,
                    port,
                    i,
                    format!("route {r:?} passes through the gate"),
                ));
            }
            let k = m.demand;
            if k >= instance.demands.len() {
                return Err(violation(
                    C::UnknownDemand,
                    port,
                    i,
                    format!("demand {k} does not exist (K = {})", instance.demands.len()),
                ));
            }
            let first = r[0];
            let last = r[r.len() - 1];
            let relocation = first != GATE && last != GATE;
            for w in r.windows(2) {
                let (a, b) = (w[0], w[1]);
                if relocation {
                    if !instance.has_forward_edge(a, b) {
                        if instance.has_edge(a, b) {
                            return Err(violation(
                                C::AgainstEdgeOrientation,
                                port,
                                i,
                                format!(
                                    "relocation uses edge ({b}, {a}) from {a} to {b}, against its listed orientation"
                                ),
                            ));
                        }
                        return Err(violation(
                            C::MissingEdge,
                            port,
                            i,
                            format!("no edge between {a} and {b}"),
                        ));
                    }
                } else if !instance.has_edge(a, b) {
                    return Err(violation(
                        C::MissingEdge,
                        port,
                        i,
                        format!("no edge between {a} and {b}"),
                    ));
                }
            }
            for &v in &r[1..r.len() - 1] {
                if let Some(other) = slot[v] {
                    return Err(violation(
                        C::BlockedPath,
                        port,
                        i,
                        format!("node {v} on the route holds a vehicle of demand {other}"),
                    ));
                }
            }
            if first == GATE {
                let d = instance.demands[k];
                if !(d.origin <= port && port < d.destination) {
                    return Err(violation(
                        C::DemandNotAtPort,
                        port,
                        i,
                        format!(
                            "demand {k} travels {} -> {}, it cannot be loaded at port {port}",
                            d.origin, d.destination
                        ),
                    ));
                }
                if let Some(other) = slot[last] {
                    return Err(violation(
                        C::NodeOccupied,
                        port,
                        i,
                        format!("target node {last} holds a vehicle of demand {other}"),
                    ));
                }
                slot[last] = Some(k);
                on_board[k] += 1;
                report.n_loads += 1;
            } else {
                match slot[first] {
                    None => {
                        return Err(violation(
                            C::NoVehicleAtStart,
                            port,
                            i,
                            format!("node {first} is empty"),
                        ));
                    }
                    Some(other) if other != k => {
                        return Err(violation(
                            C::WrongVehicleAtStart,
                            port,
                            i,
                            format!("node {first} holds demand {other}, not {k}"),
                        ));
                    }
                    Some(_) => {}
                }
                if last == GATE {
                    slot[first] = None;
                    on_board[k] -= 1;
                    report.n_unloads += 1;
                    if instance.demands[k].destination != port {
                        report.n_temporary_unloads += 1;
                    }
                } else {
                    if let Some(other) = slot[last] {
                        return Err(violation(
                            C::NodeOccupied,
                            port,
                            i,
                            format!("target node {last} holds a vehicle of demand {other}"),
                        ));
                    }
                    slot[first] = None;
                    slot[last] = Some(k);
                    report.n_relocations += 1;
                }
            }
        }
        let wrong: Vec<Violation> = (0..instance.demands.len())
            .filter(|&k| on_board[k] != instance.on_board_after(k, port))
            .map(|k| Violation {
                code: C::WrongDemandOnBoard,
                port,
                move_index: None,
                message: format!(
                    "after port {port}, {} vehicles of demand {k} are on board, {} should be",
                    on_board[k],
                    instance.on_board_after(k, port)
                ),
            })
            .collect();
        if !wrong.is_empty() {
            return Err(wrong);
        }
    }
    Ok(())
}
