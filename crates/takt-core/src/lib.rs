//! The pure core of takt: time, VINs, the scenario file, the compiled
//! network, and plans. Nothing here does I/O or reads the clock.

pub mod cert;
pub mod deck;
pub mod event;
pub mod instance;
pub mod network;
pub mod objective;
pub mod plan;
pub mod scenario;
pub mod time;
pub mod vin;

pub use network::{CompileOptions, Network, ScenarioError, ScenarioErrors};
pub use plan::{Plan, Stage, Step, VehiclePlan};
pub use scenario::Scenario;
pub use time::Minute;
pub use vin::Vin;
