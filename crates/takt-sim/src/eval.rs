//! The ETA evaluation harness: simulate with ground truth, predict every
//! vehicle's delivery at regular instants with three predictors, and score
//! the predictions against what happened, by horizon.

use crate::forecast::{self, Draws, ForecastOptions};
use crate::world::{SimOptions, Simulation};
use serde::Serialize;
use std::collections::HashMap;
use takt_core::Minute;
use takt_core::network::Network;

/// Horizon buckets: days from the prediction to the actual delivery.
pub const BUCKETS: &[(&str, f64, f64)] = &[
    ("0-1d", 0.0, 1.0),
    ("1-3d", 1.0, 3.0),
    ("3-7d", 3.0, 7.0),
    ("7-14d", 7.0, 14.0),
    ("14d+", 14.0, f64::INFINITY),
];

/// Options of an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    pub seed: u64,
    pub volume_scale: f64,
    /// Predictions are made every this many hours, from `warmup_days` on,
    /// until the network's end.
    pub every_hours: i64,
    pub warmup_days: i64,
    /// The truth runs this many days past the network's end so that most
    /// predicted vehicles are delivered and can be scored.
    pub settle_days: i64,
    pub forecast: ForecastOptions,
}

/// One figure per predictor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PerPredictor {
    #[serde(rename = "static")]
    pub static_: f64,
    pub takt: f64,
    pub oracle: f64,
}

/// The scores of one horizon bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketScore {
    pub bucket: String,
    pub n_predictions: usize,
    pub mae_hours: PerPredictor,
    pub p90_abs_error_hours: PerPredictor,
    /// Share of takt's P10-P90 intervals that held the actual delivery.
    pub coverage_p10_p90: f64,
    /// The same for the oracle's intervals.
    pub oracle_coverage_p10_p90: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EtaEval {
    pub scenario: String,
    pub seed: u64,
    pub samples: usize,
    pub prediction_instants: usize,
    pub n_predictions: usize,
    /// Predictions of vehicles not delivered by the end of the truth run (not scored).
    pub censored: usize,
    pub by_horizon: Vec<BucketScore>,
    /// The at-risk flag, scored per vehicle, with two thresholds: takt's
    /// P90 after the promise (early warning) and P50 after it (likely late).
    pub at_risk: Vec<AtRisk>,
}

/// A vehicle is flagged at risk at a prediction instant before its promised
/// date when takt's P90 (or P50) delivery falls after the promise. Scored
/// per vehicle against what happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtRisk {
    pub rule: &'static str,
    /// Vehicles predicted at least once.
    pub vehicles: usize,
    /// Of those, delivered after their promise (or not delivered by the end of the truth run although promised before it).
    pub late: usize,
    pub flagged: usize,
    pub flagged_and_late: usize,
    pub precision: f64,
    pub recall: f64,
    /// How long before the promise the first flag fired, for late vehicles that were flagged.
    pub hours_ahead_p50: f64,
    pub hours_ahead_p10: f64,
}

struct Prediction {
    vehicle: usize,
    at: Minute,
    static_eta: Minute,
    takt: [Minute; 3],
    oracle: [Minute; 3],
}

/// Runs the evaluation. `progress(done, total)` is called after each prediction instant.
pub fn evaluate_eta(
    net: Network,
    policy: Box<dyn crate::Policy>,
    options: EvalOptions,
    mut progress: impl FnMut(usize, usize),
) -> EtaEval {
    let scenario = net.name.clone();
    let start = net.start;
    let end = net.end;
    let mut sim = Simulation::new(
        net,
        policy,
        SimOptions {
            seed: options.seed,
            volume_scale: options.volume_scale,
        },
    );
    let mut instants = Vec::new();
    let mut t = start.plus(options.warmup_days * Minute::DAY);
    while t < end {
        instants.push(t);
        t = t.plus(options.every_hours * 60);
    }
    let mut predictions = Vec::new();
    // Per vehicle predicted: first instant flagged by the P90 rule and by the P50 rule.
    let mut predicted: HashMap<usize, [Option<Minute>; 2]> = HashMap::new();
    for (i, &at) in instants.iter().enumerate() {
        sim.run_until(at);
        sim.drain_milestones();
        let targets = sim.pipeline();
        let means = forecast::stage_means(&sim);
        let learned = Draws::Learned(std::sync::Arc::new(sim.learned()));
        let fo = ForecastOptions {
            seed: options.forecast.seed ^ (i as u64).wrapping_mul(0x1000_0001),
            ..options.forecast
        };
        let takt = forecast::forecast(&sim, &learned, fo, Some(&targets));
        let oracle = forecast::forecast(&sim, &Draws::Truth, fo, Some(&targets));
        for ((&vid, tk), or) in targets.iter().zip(&takt).zip(&oracle) {
            let promised = sim.vehicles[vid].promised_by;
            let first = predicted.entry(vid).or_insert([None, None]);
            for (k, quantile) in [(0, 2), (1, 1)] {
                let flag = at < promised && tk.delivered.is_none_or(|q| q[quantile] > promised);
                if flag && first[k].is_none() {
                    first[k] = Some(at);
                }
            }
            if let (Some(tq), Some(oq)) = (tk.delivered, or.delivered) {
                predictions.push(Prediction {
                    vehicle: vid,
                    at,
                    static_eta: forecast::static_eta(&sim, vid, &means),
                    takt: tq,
                    oracle: oq,
                });
            }
        }
        progress(i + 1, instants.len());
    }
    sim.run_until(end.plus(options.settle_days * Minute::DAY));
    sim.drain_milestones();
    let mut errors: HashMap<usize, Vec<[f64; 3]>> = HashMap::new();
    let mut covered: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut censored = 0;
    for p in &predictions {
        let Some(actual) = sim.vehicles[p.vehicle].delivered_at else {
            censored += 1;
            continue;
        };
        let horizon_days = actual.since(p.at) as f64 / Minute::DAY as f64;
        let Some(b) = BUCKETS
            .iter()
            .position(|&(_, lo, hi)| horizon_days >= lo && horizon_days < hi)
        else {
            continue;
        };
        let err = |m: Minute| (m.since(actual) as f64 / 60.0).abs();
        errors
            .entry(b)
            .or_default()
            .push([err(p.static_eta), err(p.takt[1]), err(p.oracle[1])]);
        let c = covered.entry(b).or_default();
        c.0 += usize::from(p.takt[0] <= actual && actual <= p.takt[2]);
        c.1 += usize::from(p.oracle[0] <= actual && actual <= p.oracle[2]);
    }
    let truth_end = sim.now;
    let at_risk = [
        "takt P90 delivery after the promised date, before that date",
        "takt P50 delivery after the promised date, before that date",
    ]
    .into_iter()
    .enumerate()
    .map(|(k, rule)| {
        let mut late = 0;
        let mut flagged = 0;
        let mut hit = 0;
        let mut ahead = Vec::new();
        for (&vid, firsts) in &predicted {
            let v = &sim.vehicles[vid];
            let was_late = match v.delivered_at {
                Some(d) => d > v.promised_by,
                None => v.promised_by < truth_end,
            };
            late += usize::from(was_late);
            if let Some(at) = firsts[k] {
                flagged += 1;
                if was_late {
                    hit += 1;
                    ahead.push(v.promised_by.since(at) as f64 / 60.0);
                }
            }
        }
        ahead.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if ahead.is_empty() {
                0.0
            } else {
                round2(
                    ahead[((p * (ahead.len() - 1) as f64).round() as usize).min(ahead.len() - 1)],
                )
            }
        };
        AtRisk {
            rule,
            vehicles: predicted.len(),
            late,
            flagged,
            flagged_and_late: hit,
            precision: if flagged == 0 {
                0.0
            } else {
                round3(hit as f64 / flagged as f64)
            },
            recall: if late == 0 {
                0.0
            } else {
                round3(hit as f64 / late as f64)
            },
            hours_ahead_p50: q(0.5),
            hours_ahead_p10: q(0.1),
        }
    })
    .collect();
    let by_horizon = BUCKETS
        .iter()
        .enumerate()
        .map(|(b, &(name, _, _))| {
            let rows = errors.remove(&b).unwrap_or_default();
            let n = rows.len();
            let column = |k: usize| -> Vec<f64> { rows.iter().map(|r| r[k]).collect() };
            let mae = |k: usize| {
                if n == 0 {
                    0.0
                } else {
                    round2(column(k).iter().sum::<f64>() / n as f64)
                }
            };
            let p90 = |k: usize| {
                let mut xs = column(k);
                xs.sort_by(f64::total_cmp);
                if xs.is_empty() {
                    0.0
                } else {
                    round2(xs[((0.9 * (xs.len() - 1) as f64).round() as usize).min(xs.len() - 1)])
                }
            };
            let (ct, co) = covered.get(&b).copied().unwrap_or((0, 0));
            BucketScore {
                bucket: name.to_string(),
                n_predictions: n,
                mae_hours: PerPredictor {
                    static_: mae(0),
                    takt: mae(1),
                    oracle: mae(2),
                },
                p90_abs_error_hours: PerPredictor {
                    static_: p90(0),
                    takt: p90(1),
                    oracle: p90(2),
                },
                coverage_p10_p90: if n == 0 {
                    0.0
                } else {
                    round3(ct as f64 / n as f64)
                },
                oracle_coverage_p10_p90: if n == 0 {
                    0.0
                } else {
                    round3(co as f64 / n as f64)
                },
            }
        })
        .collect();
    EtaEval {
        scenario,
        seed: options.seed,
        samples: options.forecast.samples,
        prediction_instants: instants.len(),
        n_predictions: predictions.len(),
        censored,
        by_horizon,
        at_risk,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
