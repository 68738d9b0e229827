//! Instants and durations at minute resolution.
//!
//! takt stores every instant as whole minutes since the Unix epoch, in UTC
//! ([`Minute`]). Local time exists only at the edges: calendars are declared
//! in a location's IANA time zone and turned into UTC windows once, when a
//! scenario is compiled into a [`crate::network::Network`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An instant in UTC, in whole minutes since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Minute(pub i64);

impl Minute {
    /// Minutes in an hour.
    pub const HOUR: i64 = 60;
    /// Minutes in a day.
    pub const DAY: i64 = 1440;

    /// Converts a jiff timestamp, truncating seconds.
    pub fn from_timestamp(ts: jiff::Timestamp) -> Minute {
        Minute(ts.as_second().div_euclid(60))
    }

    /// Parses an RFC 3339 instant (`2026-03-02T00:00:00Z`, or with an offset).
    pub fn parse_rfc3339(s: &str) -> Result<Minute, String> {
        s.parse::<jiff::Timestamp>()
            .map(Minute::from_timestamp)
            .map_err(|e| format!("`{s}` is not an RFC 3339 instant: {e}"))
    }

    /// The instant as a jiff timestamp.
    pub fn timestamp(self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.0 * 60).expect("minute within jiff's range")
    }

    /// RFC 3339 in UTC, e.g. `2026-03-02T06:30:00Z`.
    pub fn rfc3339(self) -> String {
        self.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// Local wall-clock time in a zone, e.g. `2026-03-02 01:30 EST`.
    pub fn local(self, tz: &jiff::tz::TimeZone) -> String {
        self.timestamp()
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// Calendar year in UTC.
    pub fn utc_year(self) -> i16 {
        self.timestamp().to_zoned(jiff::tz::TimeZone::UTC).year()
    }

    /// Adds whole minutes.
    pub fn plus(self, minutes: i64) -> Minute {
        Minute(self.0 + minutes)
    }

    /// Minutes from `earlier` to `self`.
    pub fn since(self, earlier: Minute) -> i64 {
        self.0 - earlier.0
    }

    /// Hours from `earlier` to `self`.
    pub fn hours_since(self, earlier: Minute) -> f64 {
        (self.0 - earlier.0) as f64 / 60.0
    }
}

impl fmt::Debug for Minute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl fmt::Display for Minute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Minute {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Minute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Minute::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339_in_utc() {
        let m = Minute::parse_rfc3339("2026-03-02T06:30:00Z").unwrap();
        assert_eq!(m.rfc3339(), "2026-03-02T06:30:00Z");
        let offset = Minute::parse_rfc3339("2026-03-02T15:30:00+09:00").unwrap();
        assert_eq!(offset, m);
    }

    #[test]
    fn shows_local_time() {
        let m = Minute::parse_rfc3339("2026-07-01T12:00:00Z").unwrap();
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(m.local(&tokyo), "2026-07-01 21:00 JST");
    }
}
