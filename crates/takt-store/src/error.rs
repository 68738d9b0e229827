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
    // The driver's error and its causes are written into the message (not
    // given as a source), so that a message shown alone (an HTTP problem)
    // has them and one shown with its causes (the CLI) says them once.
    #[error("SQLite: {}", with_causes(.0))]
    Sqlite(rusqlite::Error),
    #[error("PostgreSQL: {}", with_causes(.0))]
    Postgres(postgres::Error),
    /// The database does not give the durability the store requires.
    #[error("durability check failed: {0}")]
    Durability(String),
    /// Stored data that does not parse, or a schema newer than this build.
    #[error("corrupt or incompatible database: {0}")]
    Corrupt(String),
    /// An unusable database URL.
    #[error("database URL: {0}")]
    Url(String),
    /// The store's writer failed (panicked) while storing a group of
    /// batches, which was rolled back (see [`crate::Store::submit`]).
    #[error("{0}")]
    Interrupted(String),
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

impl From<rusqlite::Error> for BackendError {
    fn from(e: rusqlite::Error) -> Self {
        BackendError::Sqlite(e)
    }
}

impl From<postgres::Error> for BackendError {
    fn from(e: postgres::Error) -> Self {
        BackendError::Postgres(e)
    }
}

/// An error and its causes, joined by `: ` (a cause its error already
/// ends with is not repeated).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cause = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver error reads in full, once, whether its message is shown
    /// alone or with its causes.
    #[test]
    fn a_driver_error_is_said_once_with_its_causes() {
        let e = rusqlite::Connection::open("/nonexistent-takt-dir/x.db").unwrap_err();
        let cause = std::error::Error::source(&e).map(|c| c.to_string());
        let b = BackendError::from(e);
        let text = b.to_string();
        assert!(
            text.starts_with("SQLite: unable to open database file"),
            "{text}"
        );
        assert_eq!(
            text.matches("unable to open database file:").count(),
            1,
            "{text}"
        );
        if let Some(cause) = cause {
            assert!(text.ends_with(&cause), "{text} should end with {cause}");
        }
        assert!(std::error::Error::source(&b).is_none());
    }
}
