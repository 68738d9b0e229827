//! Sampling the scenario's duration distributions from a seeded source.

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Triangular};
use takt_core::scenario::HoursDist;

/// Draws a duration in whole minutes.
pub fn sample_minutes<R: Rng + ?Sized>(d: &HoursDist, rng: &mut R) -> i64 {
    let hours = match *d {
        HoursDist::Fixed { hours } => hours,
        HoursDist::Lognormal {
            median_hours,
            p90_hours,
        } => {
            let (mu, sigma) = HoursDist::lognormal_params(median_hours, p90_hours);
            LogNormal::new(mu, sigma).expect("validated").sample(rng)
        }
        HoursDist::Triangular {
            min_hours,
            mode_hours,
            max_hours,
        } => Triangular::new(min_hours, max_hours, mode_hours)
            .expect("validated")
            .sample(rng),
    };
    (hours * 60.0).round() as i64
}

/// The mean duration in whole minutes: what a planner assumes when it does not draw.
pub fn mean_minutes(d: &HoursDist) -> i64 {
    d.mean_minutes()
}

/// The 90th percentile in whole minutes.
pub fn p90_minutes(d: &HoursDist) -> i64 {
    d.p90_minutes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lognormal_hits_its_median_and_p90() {
        let d = HoursDist::Lognormal {
            median_hours: 100.0,
            p90_hours: 150.0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut xs: Vec<i64> = (0..20_000).map(|_| sample_minutes(&d, &mut rng)).collect();
        xs.sort();
        let median = xs[10_000] as f64 / 60.0;
        let p90 = xs[18_000] as f64 / 60.0;
        assert!((median - 100.0).abs() < 3.0, "median {median}");
        assert!((p90 - 150.0).abs() < 5.0, "p90 {p90}");
        assert!(mean_minutes(&d) > 100 * 60);
    }
}
