//! takt's simulator: the whole network as a discrete-event digital twin,
//! the policies that decide in it, and the summary of a run.
//!
//! Pure: no I/O, no clock. Time advances only through
//! [`Simulation::run_until`]; randomness comes from the seed in
//! [`SimOptions`].

pub mod dist;
pub mod eval;
pub mod forecast;
pub mod policy;
pub mod refresh;
pub mod summary;
pub mod world;

pub use policy::{Fifo, Policy, RouteOption};
pub use summary::{PlannerSummary, Summary};
pub use world::{Milestone, SimOptions, Simulation, Vehicle};
