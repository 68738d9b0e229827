//! The ETA evaluation harness: simulate with ground truth, predict every
//! vehicle's delivery at regular instants with three predictors, and score
//! the predictions against what happened, by horizon.

use crate::forecast::{self, Draws, ForecastOptions};
use crate::refresh::EtaBook;
use crate::world::{SimOptions, Simulation};
use serde::Serialize;
use std::collections::HashMap;
use takt_core::Minute;
use takt_core::network::Network;
use takt_core::plan::Stage;

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
    /// The `takt refreshed` predictor runs a full forecast at every this
    /// many prediction instants and, in between, conditions that
    /// forecast's runs on the milestones since ([`crate::refresh::EtaBook`]).
    pub full_every: usize,
}

/// One figure per predictor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PerPredictor {
    #[serde(rename = "static")]
    pub static_: f64,
    pub takt: f64,
    /// takt's runs from the last full forecast, conditioned on the events
    /// since ([`EvalOptions::full_every`]); over the predictions of
    /// vehicles that forecast had (`BucketScore::n_refreshed`).
    pub takt_refreshed: f64,
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
    /// Calibration of takt's P10-P90: the mean probability that the
    /// probability integral transform of the actual delivery falls between
    /// 0.1 and 0.9 ([`crate::forecast::VehicleForecast::pit_in`]); 0.8 for
    /// a calibrated predictor, below it when the intervals are too narrow
    /// (over-confident), above when too wide. Unlike the plain coverage it is not inflated when
    /// many runs deliver at the same instant.
    pub pit_coverage_p10_p90: f64,
    /// The same for the oracle.
    pub oracle_pit_coverage_p10_p90: f64,
    /// Coverage and calibration of `takt refreshed`.
    pub refreshed_coverage_p10_p90: f64,
    pub refreshed_pit_coverage_p10_p90: f64,
    /// Predictions `takt refreshed` made (vehicles in its last full
    /// forecast), and takt's MAE over the same predictions.
    pub n_refreshed: usize,
    pub takt_mae_hours_where_refreshed: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EtaEval {
    pub scenario: String,
    /// The first of `seeds`.
    pub seed: u64,
    /// The seeds whose predictions are pooled in every figure (one truth
    /// run each).
    pub seeds: Vec<u64>,
    pub samples: usize,
    /// Days of history takt's predictor learned from before the truth run
    /// began (0: a cold start, learning from the truth run alone).
    pub history_days: i64,
    /// Prediction instants, summed over the seeds.
    pub prediction_instants: usize,
    pub n_predictions: usize,
    /// Predictions of vehicles not delivered by the end of the truth run (not scored).
    pub censored: usize,
    /// Full forecasts are made every this many instants for `takt refreshed`.
    pub full_every: usize,
    /// Predictions `takt refreshed` could not make: the vehicle entered the
    /// pipeline after the last full forecast (not scored for it).
    pub refreshed_missing: usize,
    pub by_horizon: Vec<BucketScore>,
    /// The at-risk flag, scored per vehicle, with two thresholds: takt's
    /// P90 after the promise (early warning) and P50 after it (likely late).
    pub at_risk: Vec<AtRisk>,
    /// The cutoff flag, scored per vehicle routed on a voyage and not yet
    /// loaded: flagged when at least 10% (early warning) or half (likely)
    /// of takt's runs miss a voyage it is routed on; "late" here means the
    /// vehicle did miss one (a roll) after it was first predicted, and
    /// hours ahead count from the first flag to that roll.
    pub at_risk_cutoff: Vec<AtRisk>,
}

/// An at-risk flag, scored per vehicle against what happened. The promise
/// flag fires at a prediction instant before the vehicle's promised date
/// when takt's P90 (or P50) delivery falls after the promise; the cutoff
/// flag fires while the vehicle is routed on a voyage and not yet loaded
/// when at least 10% (or half) of takt's runs miss a voyage it is routed
/// on (a roll).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtRisk {
    pub rule: &'static str,
    /// Vehicles the rule looked at (predicted at least once; for the
    /// cutoff flag, while routed and not loaded).
    pub vehicles: usize,
    /// Of those, the ones the flagged event happened to: delivered after
    /// their promise (or not delivered by the end of the truth run although
    /// promised before it); for the cutoff flag, rolled after they were
    /// first predicted.
    pub late: usize,
    pub flagged: usize,
    /// Flagged before the event happened.
    pub flagged_and_late: usize,
    pub precision: f64,
    pub recall: f64,
    /// How long before the event (the promise; the roll) the first flag
    /// fired, for vehicles flagged before it.
    pub hours_ahead_p50: f64,
    pub hours_ahead_p10: f64,
}

struct Prediction {
    vehicle: usize,
    at: Minute,
    static_eta: Minute,
    takt: [Minute; 3],
    oracle: [Minute; 3],
    /// The runs' delivery distributions (for the transform of the actual).
    takt_runs: forecast::VehicleForecast,
    oracle_runs: forecast::VehicleForecast,
    /// `takt refreshed`, when its book had the vehicle.
    refreshed: Option<([Minute; 3], forecast::VehicleForecast)>,
}

/// What one truth run's predictions scored, before the figures are
/// made: runs of several seeds are pooled by adding these up.
#[derive(Debug, Default)]
struct Scored {
    instants: usize,
    n_predictions: usize,
    censored: usize,
    refreshed_missing: usize,
    /// Per bucket, per scored prediction: the absolute errors of static,
    /// takt, oracle, refreshed and takt where refreshed (NaN: none).
    errors: Vec<Vec<[f64; 5]>>,
    /// Per bucket: intervals holding the actual (takt, oracle, refreshed).
    covered: Vec<(usize, usize, usize)>,
    /// Per bucket: the summed PIT probabilities (takt, oracle, refreshed).
    pit: Vec<(f64, f64, f64)>,
    /// Per at-risk rule: vehicles predicted, late, flagged, flagged and
    /// late, and the hours ahead of each hit.
    at_risk: [RiskCounts; 2],
    /// The same for the cutoff flag (rolls).
    at_risk_cutoff: [RiskCounts; 2],
}

/// Vehicles predicted, with the event, flagged, flagged before the event,
/// and the hours ahead of each hit.
type RiskCounts = (usize, usize, usize, usize, Vec<f64>);

/// A vehicle followed for the cutoff flag: when it was first predicted
/// while routed and not loaded, when each rule first flagged it, and its
/// first roll after that.
#[derive(Debug, Clone, Copy)]
struct RollTrack {
    first_predicted: Minute,
    flagged: [Option<Minute>; 2],
    rolled_at: Option<Minute>,
}

/// Shares of takt's runs that roll the vehicle, from which the cutoff
/// flag's two rules fire.
const ROLL_SHARES: [f64; 2] = [0.1, 0.5];

impl Scored {
    fn add(&mut self, o: Scored) {
        self.instants += o.instants;
        self.n_predictions += o.n_predictions;
        self.censored += o.censored;
        self.refreshed_missing += o.refreshed_missing;
        for (mine, theirs) in self.errors.iter_mut().zip(o.errors) {
            mine.extend(theirs);
        }
        for (m, t) in self.covered.iter_mut().zip(o.covered) {
            *m = (m.0 + t.0, m.1 + t.1, m.2 + t.2);
        }
        for (m, t) in self.pit.iter_mut().zip(o.pit) {
            *m = (m.0 + t.0, m.1 + t.1, m.2 + t.2);
        }
        for (m, t) in self
            .at_risk
            .iter_mut()
            .chain(self.at_risk_cutoff.iter_mut())
            .zip(o.at_risk.into_iter().chain(o.at_risk_cutoff))
        {
            m.0 += t.0;
            m.1 += t.1;
            m.2 += t.2;
            m.3 += t.3;
            m.4.extend(t.4);
        }
    }
}

/// Runs the evaluation. takt's predictor learns from `history` (the same
/// scenario compiled for the history's days, simulated with the truth's
/// policy and its own seed) and from the truth run up to each prediction;
/// without it, from the truth run alone (a cold start). `progress(done,
/// total)` is called after each prediction instant.
pub fn evaluate_eta(
    net: Network,
    history: Option<&Network>,
    policy: Box<dyn crate::Policy>,
    options: EvalOptions,
    progress: impl FnMut(usize, usize),
) -> EtaEval {
    let scenario = net.name.clone();
    let scored = score_one(net, history, policy, options, progress);
    figures(scenario, &[options.seed], history, options, scored)
}

/// The evaluation over several seeds, each its own truth run (the policy
/// from `policy()`, the forecasts seeded by the seed), with every
/// prediction pooled into one set of figures. One seed's truth is a few
/// dozen voyages, and the errors of the vehicles on one voyage move
/// together, so a bucket of thousands of predictions from one run says
/// less about calibration than its size suggests; pooling runs says more.
/// `progress(seed_index, done, total)` is called after each instant.
pub fn evaluate_eta_seeds(
    net: &Network,
    history: Option<&Network>,
    policy: impl Fn() -> Box<dyn crate::Policy>,
    options: EvalOptions,
    seeds: &[u64],
    mut progress: impl FnMut(usize, usize, usize),
) -> EtaEval {
    let mut pooled = Scored::default();
    for (i, &seed) in seeds.iter().enumerate() {
        let o = EvalOptions {
            seed,
            forecast: ForecastOptions {
                seed,
                ..options.forecast
            },
            ..options
        };
        let scored = score_one(net.clone(), history, policy(), o, |d, t| progress(i, d, t));
        if i == 0 {
            pooled = scored;
        } else {
            pooled.add(scored);
        }
    }
    figures(net.name.clone(), seeds, history, options, pooled)
}

/// One truth run: its predictions, scored.
fn score_one(
    net: Network,
    history: Option<&Network>,
    policy: Box<dyn crate::Policy>,
    options: EvalOptions,
    mut progress: impl FnMut(usize, usize),
) -> Scored {
    let start = net.start;
    let end = net.end;
    let history = history.map(|h| {
        forecast::Learned::from_history(
            h.clone(),
            policy.clone_box(),
            SimOptions {
                seed: options.seed,
                volume_scale: options.volume_scale,
            },
        )
    });
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
    let mut book: Option<EtaBook> = None;
    let mut by_vin: HashMap<String, usize> = HashMap::new();
    let mut refreshed_missing = 0;
    let mut rolls: HashMap<usize, RollTrack> = HashMap::new();
    // The first roll after a followed vehicle's first prediction.
    let note_rolls = |events: &[crate::Milestone],
                      by_vin: &HashMap<String, usize>,
                      rolls: &mut HashMap<usize, RollTrack>| {
        for m in events.iter().filter(|m| m.milestone == "rolled") {
            if let Some(t) = by_vin.get(&m.vin).and_then(|v| rolls.get_mut(v))
                && t.rolled_at.is_none()
                && m.at > t.first_predicted
            {
                t.rolled_at = Some(m.at);
            }
        }
    };
    for (i, &at) in instants.iter().enumerate() {
        sim.run_until(at);
        let events = sim.drain_milestones();
        for v in &sim.vehicles[by_vin.len()..] {
            by_vin.insert(v.vin.to_string(), v.id);
        }
        note_rolls(&events, &by_vin, &mut rolls);
        if let Some(book) = book.as_mut() {
            for m in &events {
                if let Some(&vid) = by_vin.get(&m.vin) {
                    book.milestone(vid, &m.milestone, m.at);
                }
            }
        }
        let targets = sim.pipeline();
        let means = forecast::stage_means(&sim);
        let learned = Draws::Learned(std::sync::Arc::new(sim.learned_with(history.as_ref())));
        let fo = ForecastOptions {
            seed: options.forecast.seed ^ (i as u64).wrapping_mul(0x1000_0001),
            ..options.forecast
        };
        let runs = forecast::sample_runs(&sim, &learned, fo, &targets);
        let takt = forecast::summarize(&targets, &runs);
        if options.full_every <= 1 || i % options.full_every == 0 {
            book = Some(EtaBook::new(at, &targets, &runs, |v| {
                sim.vehicles[v].route.map(|r| r.voyage)
            }));
        }
        drop(runs);
        let oracle = forecast::forecast(&sim, &Draws::Truth, fo, Some(&targets));
        for ((&vid, tk), or) in targets.iter().zip(&takt).zip(&oracle) {
            let v = &sim.vehicles[vid];
            let routed_not_loaded =
                v.route.is_some() && v.steps.last().is_none_or(|s| s.stage < Stage::Loading);
            if routed_not_loaded {
                let t = rolls.entry(vid).or_insert(RollTrack {
                    first_predicted: at,
                    flagged: [None, None],
                    rolled_at: None,
                });
                if t.rolled_at.is_none() {
                    for (k, share) in ROLL_SHARES.into_iter().enumerate() {
                        if tk.roll_share >= share && t.flagged[k].is_none() {
                            t.flagged[k] = Some(at);
                        }
                    }
                }
            }
            let promised = v.promised_by;
            let first = predicted.entry(vid).or_insert([None, None]);
            for (k, quantile) in [(0, 2), (1, 1)] {
                let flag = at < promised && tk.delivered.is_none_or(|q| q[quantile] > promised);
                if flag && first[k].is_none() {
                    first[k] = Some(at);
                }
            }
            if let (Some(tq), Some(oq)) = (tk.delivered, or.delivered) {
                let static_eta = forecast::static_eta(&sim, vid, &means);
                let refreshed = book
                    .as_ref()
                    .and_then(|b| b.forecast(vid))
                    .filter(|f| f.delivered.is_some());
                let refreshed = refreshed.map(|f| (f.delivered.expect("filtered"), slim(&f)));
                refreshed_missing += usize::from(refreshed.is_none());
                predictions.push(Prediction {
                    vehicle: vid,
                    at,
                    static_eta,
                    takt: tq,
                    oracle: oq,
                    takt_runs: slim(tk),
                    oracle_runs: slim(or),
                    refreshed,
                });
            }
        }
        progress(i + 1, instants.len());
    }
    sim.run_until(end.plus(options.settle_days * Minute::DAY));
    note_rolls(&sim.drain_milestones(), &by_vin, &mut rolls);
    // static, takt, oracle, refreshed and takt where refreshed (NaN: none).
    let mut errors: Vec<Vec<[f64; 5]>> = vec![Vec::new(); BUCKETS.len()];
    let mut covered = vec![(0, 0, 0); BUCKETS.len()];
    let mut pit = vec![(0.0, 0.0, 0.0); BUCKETS.len()];
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
        errors[b].push([
            err(p.static_eta),
            err(p.takt[1]),
            err(p.oracle[1]),
            p.refreshed.as_ref().map_or(f64::NAN, |r| err(r.0[1])),
            p.refreshed.as_ref().map_or(f64::NAN, |_| err(p.takt[1])),
        ]);
        let c = &mut covered[b];
        c.0 += usize::from(p.takt[0] <= actual && actual <= p.takt[2]);
        c.1 += usize::from(p.oracle[0] <= actual && actual <= p.oracle[2]);
        if let Some((q, _)) = &p.refreshed {
            c.2 += usize::from(q[0] <= actual && actual <= q[2]);
        }
        let c = &mut pit[b];
        c.0 += p.takt_runs.pit_in(actual, 0.1, 0.9).unwrap_or(0.0);
        c.1 += p.oracle_runs.pit_in(actual, 0.1, 0.9).unwrap_or(0.0);
        if let Some((_, runs)) = &p.refreshed {
            c.2 += runs.pit_in(actual, 0.1, 0.9).unwrap_or(0.0);
        }
    }
    let truth_end = sim.now;
    let at_risk = [0, 1].map(|k| {
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
        (predicted.len(), late, flagged, hit, ahead)
    });
    let at_risk_cutoff = [0, 1].map(|k| {
        let mut counts: RiskCounts = (rolls.len(), 0, 0, 0, Vec::new());
        for t in rolls.values() {
            counts.1 += usize::from(t.rolled_at.is_some());
            if let Some(at) = t.flagged[k] {
                counts.2 += 1;
                // Before the roll: a roll in the very minute of the
                // prediction (the next event to run) is not foreseen.
                if let Some(rolled) = t.rolled_at.filter(|&r| r > at) {
                    counts.3 += 1;
                    counts.4.push(rolled.since(at) as f64 / 60.0);
                }
            }
        }
        counts
    });
    Scored {
        instants: instants.len(),
        n_predictions: predictions.len(),
        censored,
        refreshed_missing,
        errors,
        covered,
        pit,
        at_risk,
        at_risk_cutoff,
    }
}

/// The figures of pooled scores.
fn figures(
    scenario: String,
    seeds: &[u64],
    history: Option<&Network>,
    options: EvalOptions,
    scored: Scored,
) -> EtaEval {
    let Scored {
        instants,
        n_predictions,
        censored,
        refreshed_missing,
        mut errors,
        covered,
        pit,
        at_risk,
        at_risk_cutoff,
    } = scored;
    let at_risk = risk_figures(
        at_risk,
        [
            "takt P90 delivery after the promised date, before that date",
            "takt P50 delivery after the promised date, before that date",
        ],
    );
    let at_risk_cutoff = risk_figures(
        at_risk_cutoff,
        [
            "at least 10% of takt's runs miss a voyage the vehicle is routed on, before it is loaded",
            "at least half of takt's runs miss a voyage the vehicle is routed on, before it is loaded",
        ],
    );
    let by_horizon = BUCKETS
        .iter()
        .enumerate()
        .map(|(b, &(name, _, _))| {
            let rows = std::mem::take(&mut errors[b]);
            let n = rows.len();
            // A column's errors, leaving out predictions it did not make (NaN).
            let column = |k: usize| -> Vec<f64> {
                rows.iter().map(|r| r[k]).filter(|x| !x.is_nan()).collect()
            };
            let n_refreshed = column(3).len();
            let mae = |k: usize| {
                let xs = column(k);
                if xs.is_empty() {
                    0.0
                } else {
                    round2(xs.iter().sum::<f64>() / xs.len() as f64)
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
            let (ct, co, cr) = covered[b];
            let (pt, po, pr) = pit[b];
            let share = |x: f64| share_of(x, n);
            BucketScore {
                bucket: name.to_string(),
                n_predictions: n,
                mae_hours: PerPredictor {
                    static_: mae(0),
                    takt: mae(1),
                    takt_refreshed: mae(3),
                    oracle: mae(2),
                },
                p90_abs_error_hours: PerPredictor {
                    static_: p90(0),
                    takt: p90(1),
                    takt_refreshed: p90(3),
                    oracle: p90(2),
                },
                coverage_p10_p90: share(ct as f64),
                oracle_coverage_p10_p90: share(co as f64),
                pit_coverage_p10_p90: share(pt),
                oracle_pit_coverage_p10_p90: share(po),
                refreshed_coverage_p10_p90: share_of(cr as f64, n_refreshed),
                refreshed_pit_coverage_p10_p90: share_of(pr, n_refreshed),
                n_refreshed,
                takt_mae_hours_where_refreshed: mae(4),
            }
        })
        .collect();
    EtaEval {
        scenario,
        seed: seeds[0],
        seeds: seeds.to_vec(),
        samples: options.forecast.samples,
        history_days: history.map_or(0, |h| h.end.since(h.start) / Minute::DAY),
        prediction_instants: instants,
        n_predictions,
        censored,
        full_every: options.full_every,
        refreshed_missing,
        by_horizon,
        at_risk,
        at_risk_cutoff,
    }
}

/// The figures of an at-risk flag's two rules.
fn risk_figures(counts: [RiskCounts; 2], rules: [&'static str; 2]) -> Vec<AtRisk> {
    counts
        .into_iter()
        .zip(rules)
        .map(|((vehicles, late, flagged, hit, mut ahead), rule)| {
            ahead.sort_by(f64::total_cmp);
            let q = |p: f64| {
                if ahead.is_empty() {
                    0.0
                } else {
                    round2(
                        ahead[((p * (ahead.len() - 1) as f64).round() as usize)
                            .min(ahead.len() - 1)],
                    )
                }
            };
            AtRisk {
                rule,
                vehicles,
                late,
                flagged,
                flagged_and_late: hit,
                precision: share_of(hit as f64, flagged),
                recall: share_of(hit as f64, late),
                hours_ahead_p50: q(0.5),
                hours_ahead_p10: q(0.1),
            }
        })
        .collect()
}

/// The part of a forecast the transform needs: its delivery runs.
fn slim(f: &forecast::VehicleForecast) -> forecast::VehicleForecast {
    forecast::VehicleForecast {
        vehicle: f.vehicle,
        stages: Vec::new(),
        delivered: f.delivered,
        delivered_share: f.delivered_share,
        delivered_runs: f.delivered_runs.clone(),
        runs_weight: f.runs_weight,
        effective_runs: f.effective_runs,
        roll_share: f.roll_share,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `x / n` to three decimals; 0 when `n` is 0.
fn share_of(x: f64, n: usize) -> f64 {
    if n == 0 { 0.0 } else { round3(x / n as f64) }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
