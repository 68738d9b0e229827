//! `takt-stow`: stowage of vehicles on a car carrier's deck graph.
//!
//! A vessel calls at ports `0..P` in order. Inside, slots are the nodes
//! `1..N` of an undirected deck graph; node 0 is the single gate. Demand is
//! a list of (origin, destination, quantity). Every vehicle movement is a
//! *route*, a simple path of edges costing `F + edges`: loading (from the
//! gate through empty slots to an empty slot), unloading (from the vehicle's
//! slot through empty slots to the gate) and relocation (from the vehicle's
//! slot through empty slots to an empty slot, along edges in their listed
//! orientation). This is the problem of the Optimization Grand Challenge
//! 2025; the formats here are the challenge's, unchanged.
//!
//! - [`instance`]: the problem ([`Instance`]) and its parser from the
//!   challenge's JSON text.
//! - [`solution`]: the plan ([`Solution`]: per port, the routes in order)
//!   and its reader and writer.
//! - [`check`](mod@check): the independent checker, replaying move by move.
//! - [`plan`]: the planner (a greedy construction, then simulated annealing
//!   over the whole voyage's occupancy plan).
//! - [`online`]: stowage port by port on a live deck with deck classes, the
//!   fast construction the simulator uses at every call.
//!
//! The crate is pure: no files, no clock. Time limits come in as a closure:
//! `should_stop` ([`solve`]) or `progress`, the fraction of the budget used
//! ([`solve_within`]).

mod anneal;
pub mod check;
pub mod instance;
pub mod online;
pub mod plan;
mod repack;
pub mod solution;

pub use check::{Report, Violation, ViolationCode, check};
pub use instance::{Demand, Instance, ParseError};
pub use plan::{Params, Planned, solve, solve_within};
#[doc(hidden)]
pub use repack::repack_solution;
pub use solution::{Move, Solution, SolutionError};
