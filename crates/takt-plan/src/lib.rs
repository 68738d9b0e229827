//! takt's sequencer: plans every vehicle of an instance to delivery, by the
//! minute, and repairs the plan when the world changes.
//!
//! - [`guided`]: the per-vehicle decisions (genes) and the policy that
//!   follows them in the world;
//! - [`search`]: constructions and large-neighbourhood search, decoded by
//!   the world rebuilt from the instance, scored by the one objective;
//! - [`bound`]: a lower bound on the objective of any feasible plan;
//! - [`repair`]: one event in, a feasible plan out that changes as little
//!   as the objective allows, and what changed.
//!
//! Pure: no I/O, no clock. Time limits come in as a progress closure.

pub mod bound;
pub mod guided;
pub mod live;
pub mod local;
pub mod repair;
pub mod search;

pub use guided::{Gene, Guided};
pub use search::{Params, Solved, decode, solve};
