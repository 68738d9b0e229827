//! The tenant every read and write is scoped by.

use std::fmt;

/// A tenant id: 1 to 64 characters from `a-z`, `0-9`, `-`, `_` and `.`,
/// starting with a letter or digit. The only way to make one is
/// [`TenantId::parse`], and every method of [`crate::Store`] takes one, so
/// no read or write can forget its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a tenant id: use 1 to 64 characters from a-z, 0-9, '-', '_' and '.', starting with a letter or digit"
)]
pub struct TenantError(pub String);

impl TenantId {
    /// Parses and validates a tenant id.
    pub fn parse(s: &str) -> Result<TenantId, TenantError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if ok {
            Ok(TenantId(s.to_string()))
        } else {
            Err(TenantError(s.to_string()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(TenantId::parse("toyota").is_ok());
        assert!(TenantId::parse("nissan-na_1.x").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Toyota").is_err());
        assert!(TenantId::parse("-x").is_err());
        assert!(TenantId::parse("a b").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }
}
