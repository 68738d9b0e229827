//! takt's durable multi-tenant event store.
//!
//! - [`Store`] appends batches of [`model::Event`]s for one [`TenantId`],
//!   all or nothing, and answers each vehicle's state and history. Every
//!   method that reads or writes events takes the tenant.
//! - [`semantics`] is the pure part: time policy, duplicate / conflict /
//!   retraction classification, state derived by event time.
//! - [`takt_format`] and [`epcis`] turn takt JSON Lines, CSV and GS1 EPCIS
//!   2.0 capture documents into events (pure).
//! - [`backend`] is the storage trait with [`sqlite`] (default) and
//!   [`postgres`] implementations.
//!
//! See `docs/store.md` and `docs/epcis.md`.

pub mod auth;
pub mod backend;
pub mod epcis;
pub mod error;
pub mod model;
pub mod postgres;
pub mod semantics;
pub mod sqlite;
pub mod store;
pub mod takt_format;
pub mod tenant;

pub use error::{BackendError, BadItem, Code, Rejected, StoreError};
pub use model::{Body, Event, Flag, ResourceEvent};
pub use store::{
    Announced, Answer, AppendReport, AuditOf, EncodedBatch, Pending, Store, VehicleView,
};
pub use tenant::TenantId;
