//! Small statistics: nearest-rank quantiles, rounding, hours of the week.

use jiff::tz::TimeZone;
use serde::Serialize;
use takt_core::Minute;

/// Nearest-rank quantiles of a sample, in hours (the rule `summary.json` uses).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Quantiles {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub mean: f64,
    /// Sum of the sample: vehicle-hours.
    pub vehicle_hours: f64,
}

impl Quantiles {
    /// Quantiles of `xs`, sorted in place.
    pub fn of(xs: &mut [f64]) -> Quantiles {
        xs.sort_by(f64::total_cmp);
        let sum: f64 = xs.iter().sum();
        Quantiles {
            n: xs.len(),
            p50: round2(nearest_rank(xs, 0.5)),
            p90: round2(nearest_rank(xs, 0.9)),
            p95: round2(nearest_rank(xs, 0.95)),
            mean: if xs.is_empty() {
                0.0
            } else {
                round2(sum / xs.len() as f64)
            },
            vehicle_hours: round2(sum),
        }
    }
}

/// The nearest-rank `p` quantile of a sorted sample (0 when empty).
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Hours in a week.
pub const HOURS_OF_WEEK: usize = 168;

/// Day names, Monday first, as hours of the week count them.
pub const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// UTC offset of `tz` at `t`, in minutes.
pub fn offset_minutes(tz: &TimeZone, t: Minute) -> i64 {
    i64::from(tz.to_offset(t.timestamp()).seconds()) / 60
}

/// Hour of the week (0 = Monday 00:00–01:00) of a local minute count.
fn hour_of_week(local_minute: i64) -> usize {
    // 1970-01-01 was a Thursday: 72 hours after Monday 00:00.
    ((local_minute.div_euclid(60) + 72).rem_euclid(HOURS_OF_WEEK as i64)) as usize
}

/// Hour of the week of instant `t` in `tz`.
pub fn local_hour_of_week(tz: &TimeZone, t: Minute) -> usize {
    hour_of_week(t.0 + offset_minutes(tz, t))
}

/// Local hour of the day of instant `t` in `tz`.
pub fn local_hour(tz: &TimeZone, t: Minute) -> u32 {
    ((t.0 + offset_minutes(tz, t)).div_euclid(60).rem_euclid(24)) as u32
}

/// Spreads the interval `[a, b)` over local hours of the week in `tz`,
/// adding `weight` times the hours it covers in each (1 per vehicle
/// waiting; -1 takes an interval out again).
pub fn spread_over_week(
    tz: &TimeZone,
    a: Minute,
    b: Minute,
    weight: f64,
    into: &mut [f64; HOURS_OF_WEEK],
) {
    if b <= a {
        return;
    }
    let mut start = a.0;
    let week = HOURS_OF_WEEK as i64 * 60;
    let full_weeks = (b.0 - a.0) / week;
    if full_weeks > 0 {
        for h in into.iter_mut() {
            *h += weight * full_weeks as f64;
        }
        start += full_weeks * week;
    }
    // The offset at both ends: equal unless the interval crosses a DST
    // change, when it is looked up hour by hour.
    let off_a = offset_minutes(tz, Minute(start));
    let constant = off_a == offset_minutes(tz, b);
    let mut t = start;
    while t < b.0 {
        let off = if constant {
            off_a
        } else {
            offset_minutes(tz, Minute(t))
        };
        let local = t + off;
        let next = (local.div_euclid(60) + 1) * 60 - off;
        let end = next.min(b.0);
        into[hour_of_week(local)] += weight * (end - t) as f64 / 60.0;
        t = end;
    }
}

/// `Mon 14:00` for an hour of the week.
pub fn hour_of_week_label(how: usize) -> String {
    format!("{} {:02}:00", DAYS[how / 24 % 7], how % 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_of_week_are_local_and_start_on_monday() {
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        // Monday 2026-01-05 08:00 UTC is Monday 00:00 PST.
        let t = Minute::parse_rfc3339("2026-01-05T08:00:00Z").unwrap();
        assert_eq!(local_hour_of_week(&la, t), 0);
        let mut w = [0.0; HOURS_OF_WEEK];
        spread_over_week(&la, t.plus(30), t.plus(150), 1.0, &mut w);
        assert_eq!((w[0], w[1], w[2]), (0.5, 1.0, 0.5));
        let mut w = [0.0; HOURS_OF_WEEK];
        spread_over_week(&la, t, t.plus(2 * 7 * 1440 + 60), 1.0, &mut w);
        assert_eq!((w[0], w[1]), (3.0, 2.0));
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let q = Quantiles::of(&mut [4.0, 1.0, 3.0, 2.0]);
        assert_eq!(
            (q.p50, q.p90, q.p95, q.vehicle_hours),
            (2.0, 4.0, 4.0, 10.0)
        );
    }
}
