//! Typed errors of the store and of the input formats.

use serde::Serialize;
use std::fmt;

/// Stable codes for what is wrong with an item (the HTTP API's problem
/// codes and the CLI's messages use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// Not parseable (JSON, CSV) at all.
    Syntax,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong type or form.
    InvalidField,
    /// A field not in the format, or an extension field without a declared namespace.
    UnknownField,
    /// A bizStep, disposition, action or other code outside its vocabulary.
    Vocabulary,
    /// The event time is further in the future than the policy allows.
    FutureEvent,
    /// The same event id is stored with different content.
    Conflict,
    /// The item's tenant differs from the tenant of the request.
    TenantMismatch,
}

impl Code {
    /// The code as text, e.g. `missing_field`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::MissingField => "missing_field",
            Code::InvalidField => "invalid_field",
            Code::UnknownField => "unknown_field",
            Code::Vocabulary => "vocabulary",
            Code::FutureEvent => "future_event",
            Code::Conflict => "conflict",
            Code::TenantMismatch => "tenant_mismatch",
        }
    }
}

/// One thing wrong with one item of a batch or document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadItem {
    /// 0-based index of the item (event, line or CSV record) in its batch or document.
    pub index: usize,
    /// The item's event id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub code: Code,
    /// JSON pointer of the bad field in the submitted document (for CSV:
    /// `/RECORD/COLUMN`).
    pub pointer: String,
    /// What is wrong and what to do.
    pub reason: String,
}

impl BadItem {
    /// A bad item without an event id.
    pub fn new(
        index: usize,
        code: Code,
        pointer: impl Into<String>,
        reason: impl Into<String>,
    ) -> BadItem {
        BadItem {
            index,
            event_id: None,
            code,
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BadItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {}", self.index)?;
        if let Some(id) = &self.event_id {
            write!(f, " ({id})")?;
        }
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, " at {at}: [{}] {}", self.code.as_str(), self.reason)
    }
}

/// Every bad item of one rejected batch or document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Rejected(pub Vec<BadItem>);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rejected, nothing stored: {} problem(s)", self.0.len())?;
        for b in &self.0 {
            write!(f, "\n  {b}")?;
        }
        Ok(())
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// The database does not give the durability the store requires.
    #[error("durability check failed: {0}")]
    Durability(String),
    /// Stored data that does not parse, or a schema newer than this build.
    #[error("corrupt or incompatible database: {0}")]
    Corrupt(String),
    /// An unusable database URL.
    #[error("database URL: {0}")]
    Url(String),
}

/// Why an append or a read failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The batch has bad items; nothing was stored.
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.into())
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Backend(e.into())
    }
}
