//! Local repair: one event re-times only the vehicles and resources it
//! reaches, on a plan held in memory.
//!
//! [`crate::repair::repair`] decodes the whole pipeline again with the same
//! decisions, which at 50,000 vehicles takes seconds. A live planner keeps
//! its plan; [`LocalRepair`] keeps, beside it, what the checker's rules need
//! to place one step without looking at the others: per pool the number of
//! steps at every minute, per (voyage, export port) the loading minutes by
//! discharge call (stow order), per voyage the space each tenant and deck
//! class uses, per delivery departure the vehicles by class, per model and
//! year the certifications. An event then
//!
//! 1. changes what it changes (an outage, a voyage's call times, a late
//!    train, a hold);
//! 2. takes out of those indexes the steps it displaces: the planned steps
//!    on a pool that lost servers and overlap the outage, a moved voyage's
//!    loading and onward steps, a late vehicle's steps at the port, a held
//!    vehicle's steps that would start during the hold;
//! 3. puts them back one vehicle at a time, in the order they were planned,
//!    each step at the earliest minute that every rule allows and no earlier
//!    than it was planned (so a step that still fits stays where it was, and
//!    the vehicle's later steps with it), rolling a vehicle to the next
//!    voyage with booked space when it can no longer make its own.
//!
//! Every other vehicle keeps its steps: the repair changes nothing it does
//! not have to. When a displaced vehicle cannot be placed by these rules
//! (a full yard, no later voyage with space, a certification cap, work
//! under way that an outage leaves without a server) the repair undoes
//! itself and says why, and the caller falls back to the full repair. The result goes through the same checker
//! as every plan; the tests check it after every event.

use crate::repair::{Diff, Disruption, RepairError, check_gang_pool, moved_calls, set_calls};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
use takt_core::Minute;
use takt_core::network::{Network, ResourceKind};
use takt_core::plan::{Hold, Outage, Plan, Stage, VehiclePlan};

/// One pool minute by minute over the planning horizon: how many steps
/// are on it, and how many servers it has (its calendar less outages).
/// Placing and taking out a step touch only its own minutes.
#[derive(Debug, Clone, Default)]
struct Timeline {
    base: i64,
    usage: Vec<i32>,
    cap: Vec<i32>,
    /// Per hour from `base`, the minutes with a server free, so a search
    /// skips a full hour at once.
    free: Vec<u16>,
    /// Minutes covered.
    len: usize,
    /// For yards, whose stays last days and move by hours: usage less
    /// capacity in a tree instead of the arrays, so a stay grows or
    /// shrinks in logarithmic time.
    tree: Option<MaxTree>,
}

/// Range add and range maximum over minutes (a segment tree whose nodes
/// hold their subtree's maximum including their own pending add).
#[derive(Debug, Clone, Default)]
struct MaxTree {
    n: usize,
    max: Vec<i32>,
    add: Vec<i32>,
}

impl MaxTree {
    fn new(values: &[i32]) -> MaxTree {
        let n = values.len().max(1);
        let mut t = MaxTree {
            n,
            max: vec![i32::MIN; 4 * n],
            add: vec![0; 4 * n],
        };
        t.build(1, 0, n, values);
        t
    }

    fn build(&mut self, node: usize, lo: usize, hi: usize, values: &[i32]) {
        if hi - lo == 1 {
            self.max[node] = values.get(lo).copied().unwrap_or(i32::MIN);
            return;
        }
        let mid = (lo + hi) / 2;
        self.build(2 * node, lo, mid, values);
        self.build(2 * node + 1, mid, hi, values);
        self.max[node] = self.max[2 * node].max(self.max[2 * node + 1]);
    }

    fn range_add(&mut self, l: usize, r: usize, d: i32) {
        if l < r {
            self.add_at(1, 0, self.n, l, r, d);
        }
    }

    fn add_at(&mut self, node: usize, lo: usize, hi: usize, l: usize, r: usize, d: i32) {
        if r <= lo || hi <= l {
            return;
        }
        if l <= lo && hi <= r {
            self.max[node] += d;
            self.add[node] += d;
            return;
        }
        let mid = (lo + hi) / 2;
        self.add_at(2 * node, lo, mid, l, r, d);
        self.add_at(2 * node + 1, mid, hi, l, r, d);
        self.max[node] = self.max[2 * node].max(self.max[2 * node + 1]) + self.add[node];
    }

    fn range_max(&self, l: usize, r: usize) -> i32 {
        if l >= r {
            return i32::MIN;
        }
        self.max_at(1, 0, self.n, l, r)
    }

    fn max_at(&self, node: usize, lo: usize, hi: usize, l: usize, r: usize) -> i32 {
        if r <= lo || hi <= l {
            return i32::MIN;
        }
        if l <= lo && hi <= r {
            return self.max[node];
        }
        let mid = (lo + hi) / 2;
        self.max_at(2 * node, lo, mid, l, r)
            .max(self.max_at(2 * node + 1, mid, hi, l, r))
            .saturating_add(self.add[node])
    }
}

impl Timeline {
    fn new(cal: &takt_core::network::Calendar, base: i64, len: usize) -> Timeline {
        let mut cap = vec![0; len];
        if cal.always_open {
            cap.fill(cal.full as i32);
        } else {
            for &(ws, we, n) in &cal.windows {
                let (a, b) = Timeline::clamp(base, len, ws.0, we.0);
                cap[a..b].fill(n as i32);
            }
        }
        let mut t = Timeline {
            base,
            usage: vec![0; len],
            cap,
            free: Vec::new(),
            len,
            tree: None,
        };
        t.count_free();
        t
    }

    fn count_free(&mut self) {
        self.free = vec![0; self.len / 60 + 1];
        for (k, (u, c)) in self.usage.iter().zip(&self.cap).enumerate() {
            if u < c {
                self.free[k / 60] += 1;
            }
        }
    }

    fn set(&mut self, k: usize, du: i32, dc: i32) {
        let was = self.usage[k] < self.cap[k];
        self.usage[k] += du;
        self.cap[k] += dc;
        let is = self.usage[k] < self.cap[k];
        if was != is {
            if is {
                self.free[k / 60] += 1;
            } else {
                self.free[k / 60] -= 1;
            }
        }
    }

    fn clamp(base: i64, len: usize, s: i64, e: i64) -> (usize, usize) {
        let f = |t: i64| (t - base).clamp(0, len as i64) as usize;
        (f(s), f(e).max(f(s)))
    }

    fn range(&self, s: i64, e: i64) -> (usize, usize) {
        Timeline::clamp(self.base, self.len, s, e)
    }

    fn add(&mut self, s: i64, e: i64, delta: i32) {
        let (a, b) = self.range(s, e);
        if let Some(t) = &mut self.tree {
            t.range_add(a, b, delta);
            return;
        }
        for k in a..b {
            self.set(k, delta, 0);
        }
    }

    fn outage(&mut self, s: i64, e: i64, servers: i32) {
        let (a, b) = self.range(s, e);
        if let Some(t) = &mut self.tree {
            t.range_add(a, b, servers);
            return;
        }
        for k in a..b {
            self.set(k, 0, -servers);
        }
    }

    /// Earliest start in `[lb, ub]` of a step of `dur` minutes that fits,
    /// not strictly inside a hold: one pass over the minutes from `lb`.
    fn fit(&self, lb: i64, dur: i64, ub: i64, holds: &[Hold]) -> Option<i64> {
        let end = self.base + self.len as i64;
        let mut s = lb.max(self.base);
        let mut x = s;
        while s <= ub {
            if let Some(h) = holds.iter().find(|h| h.from.0 < s && s < h.to.0) {
                s = h.to.0;
                x = s;
                continue;
            }
            if x >= s + dur {
                return Some(s);
            }
            if x >= end {
                return None;
            }
            let k = (x - self.base) as usize;
            if self.usage[k] >= self.cap[k] {
                // Skip the rest of an hour with no server free.
                x = if self.free[k / 60] == 0 {
                    self.base + ((k / 60 + 1) * 60) as i64
                } else {
                    x + 1
                };
                s = x;
            } else {
                x += 1;
            }
        }
        None
    }

    /// Whether more steps than servers are on the pool at some minute of `[s, e)`.
    fn over(&self, s: i64, e: i64) -> bool {
        let (a, b) = self.range(s, e);
        if let Some(t) = &self.tree {
            return t.range_max(a, b) > 0;
        }
        (a..b).any(|x| self.usage[x] > self.cap[x].max(0))
    }

    /// Whether one more step fits over `[s, e)`; if not, the minute after
    /// the first that is full (`i64::MAX` beyond the horizon).
    fn blocked(&self, s: i64, e: i64) -> Option<i64> {
        if s < self.base || e > self.base + self.len as i64 {
            return Some(i64::MAX);
        }
        let (a, b) = self.range(s, e);
        if let Some(t) = &self.tree {
            // The minute found is not reported: stays are never searched for.
            return (t.range_max(a, b) >= 0).then_some(self.base + b as i64);
        }
        (a..b)
            .find(|&x| self.usage[x] >= self.cap[x])
            .map(|x| self.base + x as i64 + 1)
    }
}

/// Why a local repair could not place what the event displaced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LocalError {
    /// The event itself is wrong (unknown vehicle, resource or voyage, bad hours).
    #[error(transparent)]
    Bad(#[from] RepairError),
    /// The event is valid but the local rules cannot place a displaced
    /// vehicle; the plan is as it was and the full repair should run.
    #[error("{vin}: {reason}")]
    CannotPlace { vin: String, reason: String },
    /// An event this repair does not handle locally.
    #[error("{0}")]
    NotLocal(String),
}

/// What one local repair did.
#[derive(Debug, Clone, Default)]
pub struct LocalOutcome {
    /// Vehicles whose steps were taken out and put back (changed or not).
    pub displaced: usize,
    /// Vehicles moved to a later voyage.
    pub rolled: usize,
    pub diff: Diff,
}

/// What a repair may change of a vehicle's plan, kept to undo it and to
/// say what changed: step times, the voyage and deck class, holds, rolls.
struct Saved {
    v: usize,
    times: Vec<(Minute, Minute, Option<Minute>)>,
    voyage: Option<String>,
    voyage_step: Option<(String, Option<String>)>,
    holds: Vec<Hold>,
    rolls: u32,
}

impl Saved {
    fn of(v: usize, p: &VehiclePlan) -> Saved {
        Saved {
            v,
            times: p
                .steps
                .iter()
                .map(|s| (s.start, s.end, s.departure))
                .collect(),
            voyage: p.voyage.clone(),
            voyage_step: p
                .step(Stage::Voyage)
                .map(|s| (s.resource.clone(), s.deck_class.clone())),
            holds: p.holds.clone(),
            rolls: p.rolls,
        }
    }

    fn restore(self, p: &mut VehiclePlan) {
        for (s, (start, end, dep)) in p.steps.iter_mut().zip(self.times) {
            s.start = start;
            s.end = end;
            s.departure = dep;
        }
        if let (Some(s), Some((resource, deck))) = (
            p.steps.iter_mut().find(|s| s.stage == Stage::Voyage),
            self.voyage_step,
        ) {
            s.resource = resource;
            s.deck_class = deck;
        }
        p.voyage = self.voyage;
        p.holds = self.holds;
        p.rolls = self.rolls;
    }

    /// Adds what changed from this to `p` to `d`, as
    /// `crate::repair::diff_vehicle` would from the whole plan before.
    fn diff(&self, p: &VehiclePlan, d: &mut Diff) {
        let before = self
            .voyage_step
            .as_ref()
            .map(|x| x.0.as_str())
            .or(self.voyage.as_deref());
        let after = p
            .step(Stage::Voyage)
            .map(|s| s.resource.as_str())
            .or(p.voyage.as_deref());
        if before != after {
            d.voyage_changed.push(p.vin.clone());
        }
        if let Some(k) = p.steps.iter().position(|s| s.stage == Stage::Delivery) {
            let h = p.steps[k].end.since(self.times[k].1) as f64 / 60.0;
            if h.abs() >= 1.0 {
                d.delivery_moved.push((p.vin.clone(), h));
            }
        }
        let retimed = before != after
            || p.steps
                .iter()
                .zip(&self.times)
                .any(|(s, t)| (s.start, s.end, s.departure) != *t)
            || p.step(Stage::Voyage).map(|s| s.deck_class.as_ref())
                != self.voyage_step.as_ref().map(|x| x.1.as_ref());
        if retimed {
            d.vehicles_retimed += 1;
        }
    }
}

/// A step's times and stage, before it is placed again.
#[derive(Clone, Copy)]
struct Orig {
    stage: Stage,
    start: Minute,
    end: Minute,
    done: bool,
}

impl Orig {
    fn of(s: &takt_core::plan::Step) -> Orig {
        Orig {
            stage: s.stage,
            start: s.start,
            end: s.end,
            done: s.done,
        }
    }
}

/// What a loading placement starts from: the earliest minute, whether to
/// keep the planned minute (shifted by how far the export call moved), and
/// whether the yard stay before it is still in the indexes.
struct LoadingAsk {
    t: i64,
    keep: bool,
    shift: i64,
    yard_indexed: bool,
}

/// A vehicle whose plan the repair takes apart, and from which step.
struct Displaced {
    v: usize,
    /// Index of the first step to place again.
    from: usize,
    /// Place no earlier than planned (false: as early as the rules allow).
    keep: bool,
    /// Its steps are out of the indexes already.
    taken_out: bool,
}

/// A plan and the indexes that let one event re-time only what it reaches.
pub struct LocalRepair<'n> {
    net: &'n Network,
    plan: Plan,
    /// Per pool (none for plant yards, where nothing is placed again).
    usage: Vec<Timeline>,
    /// While the indexes are built: per pool, +1 at each step's start and
    /// -1 at its end, summed into the timelines at the end.
    bulk: Option<Vec<Vec<i32>>>,
    /// Per pool (not yards) and hour of start, the vehicles with a step
    /// starting then; entries of steps moved since are dropped when read.
    on_pool: Vec<Vec<Vec<u32>>>,
    /// First minute and length of the timelines.
    horizon: (i64, usize),
    /// Per vehicle and step, the pool it is on (`u16::MAX`: none).
    pool_of: Vec<[u16; 10]>,
    longest: Vec<i64>,
    /// (voyage, export location) → per discharge call index, loading starts.
    stow: HashMap<(usize, usize), Vec<BTreeMap<i64, u32>>>,
    space: HashMap<(usize, usize, usize), f64>,
    trucks: HashMap<(usize, i64), Vec<u32>>,
    certified: HashMap<(usize, i16), u32>,
    /// Vehicles booked on or carried by each voyage.
    on_voyage: Vec<BTreeSet<u32>>,
    vins: HashMap<String, u32>,
    /// Port-call times the plan assumes, per voyage: (berth, depart) per call.
    calls: Vec<Vec<(Minute, Minute)>>,
    /// During a `vessel_moved` repair: the voyage and how far each call's
    /// berth moved, so its vehicles keep their sequence, shifted.
    moved: Option<(usize, Vec<i64>)>,
    /// During a `vessel_moved` repair, per (export port, import port), the
    /// voyages that reach the import port at least 12 h before the moved one.
    earlier: HashMap<(usize, usize), Vec<usize>>,
    /// Voyages whose later calls moved because a call stayed longer.
    extended: BTreeSet<usize>,
    /// Per vehicle, its model and dealer (`usize::MAX` when unknown).
    md: Vec<(usize, usize)>,
    /// Per location, the starts of calendar years there (UTC minute, year).
    years: HashMap<usize, Vec<(i64, i16)>>,
    /// Per vehicle, the repair that last backed it up (`epoch`).
    backed: Vec<u32>,
    epoch: u32,
}

const FAR: i64 = 2 * 366 * 24 * 60;

impl<'n> LocalRepair<'n> {
    /// Indexes `plan` (one pass over its steps).
    pub fn new(net: &'n Network, plan: Plan) -> LocalRepair<'n> {
        let nr = net.resources.len();
        let mut calls: Vec<Vec<(Minute, Minute)>> = net
            .voyages
            .iter()
            .map(|v| v.calls.iter().map(|c| (c.berth, c.depart)).collect())
            .collect();
        for t in &plan.voyages {
            if let Some(vi) = net.voyage_index(&t.voyage)
                && t.calls.len() == calls[vi].len()
            {
                calls[vi] = t.calls.iter().map(|c| (c.berth, c.depart)).collect();
            }
        }
        let mut lr = LocalRepair {
            net,
            usage: Vec::new(),
            bulk: None,
            on_pool: vec![Vec::new(); nr],
            horizon: (0, 1),
            pool_of: plan
                .vehicles
                .iter()
                .map(|p| {
                    let mut a = [u16::MAX; 10];
                    for (i, st) in p.steps.iter().enumerate().take(10) {
                        if let Some(r) = net.resource_index(&st.resource) {
                            a[i] = r as u16;
                        }
                    }
                    a
                })
                .collect(),
            longest: vec![0; nr],
            stow: HashMap::default(),
            space: HashMap::default(),
            trucks: HashMap::default(),
            certified: HashMap::default(),
            on_voyage: vec![BTreeSet::new(); net.voyages.len()],
            vins: HashMap::default(),
            calls,
            moved: None,
            earlier: HashMap::default(),
            extended: BTreeSet::new(),
            md: plan
                .vehicles
                .iter()
                .map(|p| {
                    (
                        net.model_index(&p.model).unwrap_or(usize::MAX),
                        net.dealer_index(&p.dealer).unwrap_or(usize::MAX),
                    )
                })
                .collect(),
            years: net
                .dealers
                .iter()
                .map(|d| d.port)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|l| {
                    let y0 = net.year_at(l, net.start) - 2;
                    let starts = (y0..y0 + 12).map(|y| (net.year_start(l, y).0, y)).collect();
                    (l, starts)
                })
                .collect(),
            backed: vec![0; plan.vehicles.len()],
            epoch: 0,
            plan,
        };
        // The horizon: from the first step to 60 days after the last one or
        // the network's end.
        let (mut lo, mut hi) = (net.start.0, net.end.0);
        for p in &lr.plan.vehicles {
            for st in &p.steps {
                lo = lo.min(st.start.0);
                hi = hi.max(st.end.0);
            }
        }
        let base = lo - Minute::DAY;
        let len = (hi + 60 * Minute::DAY - base) as usize;
        lr.usage = net
            .resources
            .iter()
            .map(|res| match res.kind {
                ResourceKind::PlantYard => Timeline::default(),
                _ => Timeline::new(&res.calendar, base, len),
            })
            .collect();
        lr.horizon = (base, len);
        let hours = len / 60 + 1;
        lr.on_pool = net
            .resources
            .iter()
            .map(|res| match res.kind {
                ResourceKind::PlantYard | ResourceKind::Yard => Vec::new(),
                _ => vec![Vec::new(); hours],
            })
            .collect();
        lr.bulk = Some(lr.usage.iter().map(|t| vec![0; t.len + 1]).collect());
        for o in &lr.plan.outages {
            if let Some(r) = net.resource_index(&o.resource) {
                lr.usage[r].outage(o.from.0, o.to.0, o.servers as i32);
            }
        }
        for v in 0..lr.plan.vehicles.len() {
            lr.vins
                .insert(lr.plan.vehicles[v].vin.to_ascii_uppercase(), v as u32);
            if let Some(vi) = lr.voyage_of(v) {
                lr.on_voyage[vi].insert(v as u32);
            }
            for i in 0..lr.plan.vehicles[v].steps.len() {
                lr.index(v, i, 1);
            }
        }
        for (t, d) in lr.usage.iter_mut().zip(lr.bulk.take().expect("building")) {
            let mut level = 0;
            for (u, x) in t.usage.iter_mut().zip(d) {
                level += x;
                *u = level;
            }
            t.count_free();
        }
        // Yards keep their usage in a tree.
        for (t, res) in lr.usage.iter_mut().zip(&net.resources) {
            if res.kind == ResourceKind::Yard {
                let slack: Vec<i32> = t.usage.iter().zip(&t.cap).map(|(u, c)| u - c).collect();
                t.tree = Some(MaxTree::new(&slack));
                t.usage = Vec::new();
                t.cap = Vec::new();
                t.free = Vec::new();
            }
        }
        lr
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether the indexes kept through the repairs equal the ones built
    /// afresh from the plan (for tests): the first difference, if any.
    pub fn verify_indexes(&self) -> Result<(), String> {
        let fresh = LocalRepair::new(self.net, self.plan.clone());
        for (r, (a, b)) in self.usage.iter().zip(&fresh.usage).enumerate() {
            if a.base != b.base {
                return Err(format!(
                    "{}: timelines start apart",
                    self.net.resources[r].id
                ));
            }
            if let (Some(x), Some(y)) = (&a.tree, &b.tree) {
                let n = a.len.min(b.len);
                if let Some(h) = (0..n / 60).find(|&h| {
                    let (lo, hi) = (h * 60, h * 60 + 60);
                    x.range_max(lo, hi) != y.range_max(lo, hi)
                }) {
                    return Err(format!(
                        "{}: yard usage differs in hour {h}",
                        self.net.resources[r].id
                    ));
                }
                continue;
            }
            let n = a.usage.len().min(b.usage.len());
            if let Some(x) = (0..n).find(|&x| a.usage[x] != b.usage[x] || a.cap[x] != b.cap[x]) {
                return Err(format!(
                    "{} at {}: {} on it of {} kept, {} of {} afresh",
                    self.net.resources[r].id,
                    Minute(a.base + x as i64),
                    a.usage[x],
                    a.cap[x],
                    b.usage[x],
                    b.cap[x]
                ));
            }
            // The horizon follows the plan's last step; compare what both cover.
            let hours = a.usage.len().min(b.usage.len()) / 60;
            if a.free[..hours] != b.free[..hours] {
                let h = (0..hours).find(|&h| a.free[h] != b.free[h]).unwrap_or(0);
                let recount = (h * 60..(h * 60 + 60).min(a.usage.len()))
                    .filter(|&k| a.usage[k] < a.cap[k])
                    .count();
                return Err(format!(
                    "free minutes of {} differ at hour {h}: {} kept, {} afresh, {recount} counted",
                    self.net.resources[r].id, a.free[h], b.free[h]
                ));
            }
        }
        for (v, p) in self.plan.vehicles.iter().enumerate() {
            for (i, st) in p.steps.iter().enumerate() {
                let r = self.pool_of[v].get(i).copied().unwrap_or(u16::MAX);
                if r == u16::MAX || self.on_pool[r as usize].is_empty() {
                    continue;
                }
                let h = self.hour(st.start.0);
                if !self.on_pool[r as usize][h].contains(&(v as u32)) {
                    return Err(format!("{} step {i} missing from its pool's hour", p.vin));
                }
            }
        }
        let norm = |m: &HashMap<(usize, usize), Vec<BTreeMap<i64, u32>>>| {
            let mut v: Vec<_> = m
                .iter()
                .filter(|(_, g)| g.iter().any(|x| !x.is_empty()))
                .map(|(k, g)| (*k, g.clone()))
                .collect();
            v.sort();
            v
        };
        if norm(&self.stow) != norm(&fresh.stow) {
            return Err("stow groups differ".into());
        }
        let nz = |m: &HashMap<(usize, i64), Vec<u32>>| {
            let mut v: Vec<_> = m
                .iter()
                .filter(|(_, c)| c.iter().any(|&n| n > 0))
                .map(|(k, c)| (*k, c.clone()))
                .collect();
            v.sort();
            v
        };
        if nz(&self.trucks) != nz(&fresh.trucks) {
            return Err("delivery loads differ".into());
        }
        let space = |m: &HashMap<(usize, usize, usize), f64>| {
            let mut v: Vec<_> = m
                .iter()
                .filter(|(_, x)| x.abs() > 1e-6)
                .map(|(k, x)| (*k, *x))
                .collect();
            v.sort_by_key(|x| x.0);
            v
        };
        let (sa, sb) = (space(&self.space), space(&fresh.space));
        if sa.len() != sb.len()
            || sa
                .iter()
                .zip(&sb)
                .any(|(x, y)| x.0 != y.0 || (x.1 - y.1).abs() > 1e-6)
        {
            return Err("space by voyage, tenant and deck class differs".into());
        }
        let certs = |m: &HashMap<(usize, i16), u32>| {
            let mut v: Vec<_> = m
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (*k, *n))
                .collect();
            v.sort();
            v
        };
        if certs(&self.certified) != certs(&fresh.certified) {
            return Err("certifications by model and year differ".into());
        }
        if self.on_voyage != fresh.on_voyage {
            return Err("vehicles by voyage differ".into());
        }
        Ok(())
    }

    pub fn into_plan(self) -> Plan {
        self.plan
    }

    fn voyage_of(&self, v: usize) -> Option<usize> {
        let p = &self.plan.vehicles[v];
        p.step(Stage::Voyage)
            .map(|s| s.resource.as_str())
            .or(p.voyage.as_deref())
            .and_then(|id| self.net.voyage_index(id))
    }

    /// Index of the call where `v` leaves its voyage (0 when it has none).
    fn discharge_call(&self, v: usize) -> usize {
        let (_, d) = self.model_dealer(v);
        match (self.voyage_of(v), d) {
            (Some(vi), Some(d)) => self.net.voyages[vi]
                .call_at(self.net.dealers[d].port)
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// The calendar year at `t` in location `l`'s time zone.
    fn year(&self, l: usize, t: Minute) -> i16 {
        match self.years.get(&l) {
            Some(starts)
                if starts.first().is_some_and(|f| f.0 <= t.0)
                    && starts.last().is_some_and(|x| t.0 < x.0) =>
            {
                let k = starts.partition_point(|x| x.0 <= t.0);
                starts[k - 1].1
            }
            _ => self.net.year_at(l, t),
        }
    }

    fn model_dealer(&self, v: usize) -> (Option<usize>, Option<usize>) {
        let (m, d) = self.md[v];
        (
            (m != usize::MAX).then_some(m),
            (d != usize::MAX).then_some(d),
        )
    }

    /// Adds (`sign` 1) or removes (-1) step `i` of vehicle `v` from the indexes.
    fn index(&mut self, v: usize, i: usize, sign: i32) {
        let net = self.net;
        let p = &self.plan.vehicles[v];
        let s = &p.steps[i];
        match s.stage {
            Stage::Voyage => {
                let (Some(vi), (Some(mi), _)) =
                    (net.voyage_index(&s.resource), self.model_dealer(v))
                else {
                    return;
                };
                let m = &net.models[mi];
                let deck = s
                    .deck_class
                    .as_deref()
                    .and_then(|d| net.deck_classes.iter().position(|x| x.id == d));
                if let Some(d) = deck {
                    *self.space.entry((vi, m.tenant, d)).or_insert(0.0) += sign as f64 * m.rt43;
                }
                let (Some(at), Some(load)) = (
                    net.location_index(&s.location),
                    p.step(Stage::Loading).map(|l| l.start.0),
                ) else {
                    return;
                };
                let Some(j) = self
                    .model_dealer(v)
                    .1
                    .and_then(|d| net.voyages[vi].call_at(net.dealers[d].port))
                else {
                    return;
                };
                let n_calls = net.voyages[vi].calls.len();
                let group = self
                    .stow
                    .entry((vi, at))
                    .or_insert_with(|| vec![BTreeMap::new(); n_calls]);
                let e = group[j].entry(load).or_insert(0);
                if sign > 0 {
                    *e += 1;
                } else {
                    *e -= 1;
                    if *e == 0 {
                        group[j].remove(&load);
                    }
                }
            }
            Stage::Delivery => {
                let ((Some(mi), Some(d)), Some(dep)) = (self.model_dealer(v), s.departure) else {
                    return;
                };
                let ti = net.dealers[d].terminal;
                let class = net.models[mi].inland_class;
                let n = net.inland_classes.len();
                let counts = self.trucks.entry((ti, dep.0)).or_insert_with(|| vec![0; n]);
                counts[class] = (counts[class] as i64 + sign as i64).max(0) as u32;
            }
            _ => {}
        }
        if s.stage == Stage::Certification
            && let (Some(mi), Some(d)) = self.model_dealer(v)
            && net.models[mi].cert.annual_cap.is_some()
        {
            let year = self.year(net.dealers[d].port, s.start);
            let c = self.certified.entry((mi, year)).or_insert(0);
            *c = (*c as i64 + sign as i64).max(0) as u32;
        }
        let r = self.pool_of[v].get(i).copied().unwrap_or(u16::MAX);
        if r != u16::MAX && self.usage[r as usize].len > 0 {
            let r = r as usize;
            let (a, b) = (s.start.0, s.end.0);
            match &mut self.bulk {
                Some(d) if b > a => {
                    let (x, y) = self.usage[r].range(a, b);
                    d[r][x] += sign;
                    d[r][y] -= sign;
                }
                Some(_) => {}
                None => self.usage[r].add(a, b, sign),
            }
            if sign > 0 {
                self.longest[r] = self.longest[r].max(b - a);
                if !self.on_pool[r].is_empty() {
                    let h = self.hour(a);
                    self.on_pool[r][h].push(v as u32);
                }
            }
        }
    }

    /// The hour bucket of minute `t` (clamped to the horizon).
    fn hour(&self, t: i64) -> usize {
        let (base, len) = self.horizon;
        ((t - base).clamp(0, len as i64 - 1) / 60) as usize
    }

    /// Whether one more step on `r` fits over `[s, e)`; if not, the minute
    /// after the first that is full.
    fn blocked(&self, r: usize, s: i64, e: i64) -> Option<i64> {
        self.usage[r].blocked(s, e)
    }

    /// Earliest start in `[lb, ub]` for a step of `dur` minutes on pool
    /// `r`, outside the holds' interiors.
    fn fit(&self, r: usize, lb: i64, dur: i64, ub: i64, holds: &[Hold]) -> Option<i64> {
        self.usage[r].fit(lb, dur, ub, holds)
    }

    fn cannot(&self, v: usize, reason: impl Into<String>) -> LocalError {
        LocalError::CannotPlace {
            vin: self.plan.vehicles[v].vin.clone(),
            reason: reason.into(),
        }
    }

    fn vehicle(&self, vin: &str) -> Result<usize, LocalError> {
        self.vins
            .get(&vin.to_ascii_uppercase())
            .map(|&v| v as usize)
            .ok_or_else(|| RepairError::Bad(format!("no vehicle {vin} in the plan")).into())
    }

    fn now(&self) -> Minute {
        self.plan.created_at
    }

    /// Index of the first planned step (not begun at `now`), if any.
    fn first_planned(&self, v: usize) -> Option<usize> {
        let now = self.now();
        self.plan.vehicles[v]
            .steps
            .iter()
            .position(|s| !s.done && s.start >= now)
    }

    /// Applies `d` and re-times what it reaches. On error the plan and the
    /// indexes are as they were.
    pub fn repair(&mut self, d: &Disruption) -> Result<LocalOutcome, LocalError> {
        let saved_voyages = self.plan.voyages.clone();
        let saved_outages = self.plan.outages.clone();
        let mut backups: Vec<Saved> = Vec::new();
        self.epoch += 1;
        let result = self.repair_inner(d, &mut backups);
        self.moved = None;
        self.earlier.clear();
        self.extended.clear();
        match result {
            Ok(mut out) => {
                for b in &backups {
                    b.diff(&self.plan.vehicles[b.v], &mut out.diff);
                }
                Ok(out)
            }
            Err(e) => {
                // Put back what was changed and index it again.
                self.plan.voyages = saved_voyages;
                self.plan.outages = saved_outages;
                for b in backups.into_iter().rev() {
                    let v = b.v;
                    b.restore(&mut self.plan.vehicles[v]);
                }
                let plan = std::mem::replace(&mut self.plan, empty_plan());
                *self = LocalRepair::new(self.net, plan);
                Err(e)
            }
        }
    }

    fn backup(&mut self, backups: &mut Vec<Saved>, v: usize) {
        if self.backed[v] != self.epoch {
            self.backed[v] = self.epoch;
            backups.push(Saved::of(v, &self.plan.vehicles[v]));
        }
    }

    fn repair_inner(
        &mut self,
        d: &Disruption,
        backups: &mut Vec<Saved>,
    ) -> Result<LocalOutcome, LocalError> {
        let net = self.net;
        let now = self.now();
        let mut displaced: Vec<Displaced> = Vec::new();
        match d {
            Disruption::StationDown {
                resource,
                from,
                hours,
                servers,
            }
            | Disruption::GangShort {
                resource,
                from,
                hours,
                gangs: servers,
            } => {
                if matches!(d, Disruption::GangShort { .. }) {
                    check_gang_pool(net, resource)?;
                }
                let o = crate::repair::outage_of(net, now, resource, *from, *hours, *servers)?;
                let r = net.resource_index(resource).expect("checked");
                if matches!(
                    net.resources[r].kind,
                    ResourceKind::Yard | ResourceKind::PlantYard
                ) {
                    return Err(RepairError::Bad(format!(
                        "`{resource}` is a {} (slots), not a pool with servers: it has no outage",
                        net.resources[r].kind.name()
                    ))
                    .into());
                }
                self.usage[r].outage(o.from.0, o.to.0, o.servers as i32);
                self.plan.outages.push(o.clone());
                // Planned steps on the pool overlapping the outage.
                let lo = o.from.0 - self.longest[r];
                let mut hits: Vec<(i64, u32)> = Vec::new();
                for h in self.hour(lo)..=self.hour(o.to.0) {
                    let mut bucket = std::mem::take(&mut self.on_pool[r][h]);
                    bucket.sort_unstable();
                    bucket.dedup();
                    // Keep the vehicles whose step on the pool still starts in this hour.
                    bucket.retain(|&v| {
                        let p = &self.plan.vehicles[v as usize];
                        p.steps.iter().enumerate().any(|(i, st)| {
                            self.pool_of[v as usize].get(i) == Some(&(r as u16))
                                && self.hour(st.start.0) == h
                        })
                    });
                    for &v in &bucket {
                        let p = &self.plan.vehicles[v as usize];
                        if let Some((_, st)) =
                            p.steps.iter().enumerate().find(|(i, _)| {
                                self.pool_of[v as usize].get(*i) == Some(&(r as u16))
                            })
                            && st.start.0 >= lo
                            && st.start.0 < o.to.0
                        {
                            hits.push((st.start.0, v));
                        }
                    }
                    self.on_pool[r][h] = bucket;
                }
                hits.sort_unstable();
                // The latest-starting planned steps give way, until the pool
                // is within its servers again over the outage.
                for &(start, v) in hits.iter().rev() {
                    let v = v as usize;
                    let p = &self.plan.vehicles[v];
                    let Some(i) = p
                        .steps
                        .iter()
                        .position(|s| s.start.0 == start && s.resource == net.resources[r].id)
                    else {
                        continue;
                    };
                    let s = &p.steps[i];
                    if s.end.0 <= o.from.0 || s.done || s.start < now {
                        continue;
                    }
                    let (a, b) = (s.start.0.max(o.from.0), s.end.0.min(o.to.0));
                    if !self.usage[r].over(a, b) {
                        continue;
                    }
                    self.backup(backups, v);
                    self.take_out(v, i);
                    displaced.push(Displaced {
                        v,
                        from: i,
                        keep: true,
                        taken_out: true,
                    });
                }
                // Work under way cannot give way.
                if self.usage[r].over(o.from.0, o.to.0) {
                    return Err(LocalError::NotLocal(format!(
                        "work under way on {resource} needs more servers than the outage leaves"
                    )));
                }
            }
            Disruption::ArrivedLate { vin, hours } => {
                let v = self.vehicle(vin)?;
                let m = crate::repair::minutes(*hours)?;
                let p = &self.plan.vehicles[v];
                let Some(i) = p.steps.iter().position(|s| {
                    s.stage == Stage::Inland && !s.done && s.start < now && s.end >= now
                }) else {
                    return Err(RepairError::Bad(format!(
                        "{vin} is not on a train or truck under way"
                    ))
                    .into());
                };
                self.backup(backups, v);
                self.index(v, i, -1);
                let s = &mut self.plan.vehicles[v].steps[i];
                s.end = s.end.plus(m).max(now);
                self.index(v, i, 1);
                if i + 1 < self.plan.vehicles[v].steps.len() {
                    displaced.push(Displaced {
                        v,
                        from: i + 1,
                        keep: true,
                        taken_out: false,
                    });
                }
            }
            Disruption::VesselMoved {
                voyage,
                hours,
                from_port,
            } => {
                let m = crate::repair::minutes(*hours)?;
                let Some(vi) = net.voyage_index(voyage) else {
                    return Err(
                        RepairError::Bad(format!("no voyage `{voyage}` in the network")).into(),
                    );
                };
                let calls = moved_calls(net, vi, &self.plan.voyages, now, m, from_port.as_deref())?;
                let deltas = calls
                    .iter()
                    .zip(&self.calls[vi])
                    .map(|(new, old)| new.berth.since(old.0))
                    .collect();
                self.moved = Some((vi, deltas));
                self.calls[vi] = calls.iter().map(|c| (c.berth, c.depart)).collect();
                set_calls(&mut self.plan.voyages, voyage, calls);
                // Every vehicle on it, from its first step the voyage times
                // reach (put back below in planned order).
                let riders: Vec<u32> = self.on_voyage[vi].iter().copied().collect();
                for v in riders {
                    let v = v as usize;
                    let p = &self.plan.vehicles[v];
                    let at = |st: Stage| p.steps.iter().position(|s| s.stage == st);
                    let planned = |i: usize| !p.steps[i].done && p.steps[i].start >= now;
                    let (l, x, dis) = (at(Stage::Loading), at(Stage::Voyage), at(Stage::Discharge));
                    let berth = self
                        .model_dealer(v)
                        .1
                        .and_then(|d| net.voyages[vi].call_at(net.dealers[d].port))
                        .map(|j| self.calls[vi][j].0);
                    let from = match (l, x, dis) {
                        (Some(l), _, _) if planned(l) => Some(l),
                        (_, Some(x), _) if planned(x) => Some(x),
                        (_, Some(x), dis) if !p.steps[x].done => {
                            // At sea: it berths when the vessel does.
                            let dis = dis.filter(|&i| planned(i));
                            if let Some(berth) = berth {
                                self.backup(backups, v);
                                self.plan.vehicles[v].steps[x].end = berth;
                            }
                            dis
                        }
                        (_, _, Some(i)) if planned(i) => Some(i),
                        _ => None,
                    };
                    if let Some(from) = from {
                        displaced.push(Displaced {
                            v,
                            from,
                            keep: true,
                            taken_out: false,
                        });
                    }
                }
            }
            Disruption::HoldPlaced { vin, reason, hours } => {
                let v = self.vehicle(vin)?;
                let m = crate::repair::minutes(*hours)?;
                if m <= 0 {
                    return Err(RepairError::Bad("hours must be positive".into()).into());
                }
                let current = current_stage(&self.plan.vehicles[v], now);
                if !current.is_some_and(at_terminal) {
                    return Err(RepairError::Bad(format!(
                        "{vin} is not at a terminal (it is in stage {}): holds apply at export and import terminals",
                        current.map(|s| s.name()).unwrap_or("none")
                    ))
                    .into());
                }
                self.backup(backups, v);
                let to = now.plus(m);
                self.plan.vehicles[v].holds.push(Hold {
                    reason: reason.clone(),
                    from: now,
                    to,
                });
                if let Some(i) = self.plan.vehicles[v]
                    .steps
                    .iter()
                    .position(|s| !s.done && s.start > now && s.start < to)
                {
                    displaced.push(Displaced {
                        v,
                        from: i,
                        keep: true,
                        taken_out: false,
                    });
                }
            }
            Disruption::HoldReleased { vin } => {
                let v = self.vehicle(vin)?;
                let released = self.plan.vehicles[v]
                    .holds
                    .iter()
                    .filter(|h| h.from <= now && now < h.to)
                    .count();
                if released == 0 {
                    return Err(RepairError::Bad(format!("{vin} has no hold in force")).into());
                }
                self.backup(backups, v);
                for h in &mut self.plan.vehicles[v].holds {
                    if h.from <= now && now < h.to {
                        h.to = now;
                    }
                }
                // Free to go as early as the rules allow, on the same voyage.
                if let Some(i) = self.first_planned(v) {
                    displaced.push(Displaced {
                        v,
                        from: i,
                        keep: false,
                        taken_out: false,
                    });
                }
            }
        }
        // Take every displaced vehicle's steps out first, then place them
        // again in the order they were planned.
        displaced.sort_by_key(|x| (x.v, x.from));
        displaced.dedup_by_key(|x| x.v);
        // In planned order; at the same minute, the vehicle that discharges
        // later first, as stow order wants it.
        // (Keys computed once per vehicle: a voyage's lookup by id is not
        // free, and a vessel move sorts thousands.)
        displaced.sort_by_cached_key(|x| {
            (
                self.plan.vehicles[x.v].steps[x.from].start,
                std::cmp::Reverse(self.discharge_call(x.v)),
                x.v,
            )
        });
        let mut out = LocalOutcome {
            displaced: displaced.len(),
            ..LocalOutcome::default()
        };
        for x in displaced.iter().filter(|x| !x.taken_out) {
            self.backup(backups, x.v);
            self.take_out(x.v, x.from);
        }
        for x in &displaced {
            if self.place(x.v, x.from, x.keep)? {
                out.rolled += 1;
            }
        }
        self.settle(backups)?;
        Ok(out)
    }

    /// Removes steps `from..` of `v` from the indexes. A yard stay before a
    /// loading step stays in: only its end moves, with the loading, and the
    /// loading's placement changes the indexes by the difference.
    fn take_out(&mut self, v: usize, from: usize) {
        for i in from..self.plan.vehicles[v].steps.len() {
            self.index(v, i, -1);
        }
    }

    fn with_yard(&self, v: usize, from: usize) -> usize {
        let p = &self.plan.vehicles[v];
        if p.steps[from].stage == Stage::Loading
            && from > 0
            && p.steps[from - 1].stage == Stage::Yard
        {
            from - 1
        } else {
            from
        }
    }

    /// Places steps `from..` of `v` again (taken out before). Returns
    /// whether the vehicle rolled to another voyage.
    fn place(&mut self, v: usize, from: usize, keep: bool) -> Result<bool, LocalError> {
        let net = self.net;
        let now = self.now().0;
        let first = self.with_yard(v, from);
        // The yard stay is still indexed when the repair starts at the loading.
        let yard_indexed = first < from;
        let n = self.plan.vehicles[v].steps.len();
        let (Some(mi), Some(di)) = self.model_dealer(v) else {
            return Err(self.cannot(v, "unknown model or dealer"));
        };
        // A hold the plan itself begins after an unplaced vehicle's last
        // step (waiting for what it lacks, e.g. a certification cap) moves
        // with that step's end; the others bind.
        let last = self.plan.vehicles[v].steps.last().map(|x| (x.start, x.end));
        let own_hold = |h: &Hold| {
            self.plan.vehicles[v].unplaced.is_some()
                && h.from > self.now()
                && last.is_some_and(|(start, _)| h.from > start)
        };
        let holds: Vec<Hold> = self.plan.vehicles[v]
            .holds
            .iter()
            .filter(|h| !own_hold(h))
            .cloned()
            .collect();
        let moves_with_end: Vec<usize> = self.plan.vehicles[v]
            .holds
            .iter()
            .enumerate()
            .filter(|(_, h)| own_hold(h))
            .map(|(k, _)| k)
            .collect();
        // How far the vehicle's export and import calls moved (vessel_moved).
        let (ex_shift, im_shift) = match (&self.moved, self.voyage_of(v)) {
            (Some((mv, deltas)), Some(vi)) if *mv == vi => {
                let p = &self.plan.vehicles[v];
                let ex = p
                    .step(Stage::Loading)
                    .and_then(|s| net.location_index(&s.location))
                    .and_then(|l| net.voyages[vi].call_at(l));
                let im = net.voyages[vi].call_at(net.dealers[di].port);
                (
                    ex.map(|c| deltas[c]).unwrap_or(0),
                    im.map(|c| deltas[c]).unwrap_or(0),
                )
            }
            _ => (0, 0),
        };
        let mut rolled = false;
        let mut t = if first == 0 {
            now
        } else {
            self.plan.vehicles[v].steps[first - 1].end.0
        };
        let mut i = first;
        while i < n {
            let orig = Orig::of(&self.plan.vehicles[v].steps[i]);
            let begun = orig.done || orig.start.0 < now;
            let shift = match orig.stage {
                Stage::Discharge | Stage::Certification | Stage::Delivery if !rolled => im_shift,
                _ => 0,
            };
            let lb_keep = |lb: i64| {
                if keep {
                    lb.max(orig.start.0 + shift)
                } else {
                    lb
                }
            };
            match orig.stage {
                Stage::Yard => {
                    // Starts when processing ends (or as it did); ends at
                    // the loading, placed next.
                    if !begun && !yard_indexed {
                        // Staged when processing ends, or when a hold then ends.
                        let mut ys = t.max(now);
                        if let Some(h) = holds.iter().find(|h| h.from.0 < ys && ys < h.to.0) {
                            ys = h.to.0;
                        }
                        let s = &mut self.plan.vehicles[v].steps[i];
                        s.start = Minute(ys);
                        s.end = s.start;
                    }
                    t = self.plan.vehicles[v].steps[i].start.0;
                    let loading_next = self.plan.vehicles[v]
                        .steps
                        .get(i + 1)
                        .is_some_and(|x| x.stage == Stage::Loading);
                    if !loading_next {
                        // A stay with no loading planned keeps its end.
                        let s = &mut self.plan.vehicles[v].steps[i];
                        s.end = s.end.max(s.start);
                        self.index(v, i, 1);
                    }
                    i += 1;
                    continue;
                }
                Stage::Loading => {
                    let did_roll = self.place_loading(
                        v,
                        i,
                        mi,
                        di,
                        LoadingAsk {
                            t,
                            keep,
                            shift: ex_shift,
                            yard_indexed,
                        },
                    )?;
                    rolled |= did_roll;
                    t = self.plan.vehicles[v].steps[i].end.0;
                    i += 1;
                    continue;
                }
                Stage::Voyage => {
                    let vi = net
                        .voyage_index(&self.plan.vehicles[v].steps[i].resource)
                        .ok_or_else(|| self.cannot(v, "unknown voyage"))?;
                    let ex = net
                        .location_index(&self.plan.vehicles[v].steps[i].location)
                        .and_then(|l| net.voyages[vi].call_at(l));
                    let im = net.voyages[vi].call_at(net.dealers[di].port);
                    let (Some(ex), Some(im)) = (ex, im) else {
                        return Err(self.cannot(v, "voyage does not call at its ports"));
                    };
                    let depart = self.calls[vi][ex].1;
                    if !begun && holds.iter().any(|h| h.from < depart && depart < h.to) {
                        return Err(self.cannot(v, "on hold when its vessel sails"));
                    }
                    let s = &mut self.plan.vehicles[v].steps[i];
                    if !begun {
                        s.start = depart;
                    }
                    s.end = self.calls[vi][im].0;
                }
                Stage::PortArrival
                | Stage::Processing
                | Stage::Discharge
                | Stage::Certification => {
                    if begun {
                        return Err(self.cannot(v, format!("{} under way cannot move", orig.stage)));
                    }
                    let r = net
                        .resource_index(&self.plan.vehicles[v].steps[i].resource)
                        .ok_or_else(|| self.cannot(v, "unknown resource"))?;
                    let dur = orig.end.0 - orig.start.0;
                    let mut lb = t.max(now);
                    let mut ub = now + FAR;
                    // At the discharge port: within the call, which may
                    // stay longer (up to the next call less the sailing).
                    let mut stay: Option<(usize, usize, i64)> = None;
                    if orig.stage == Stage::Discharge {
                        let vi = self
                            .voyage_of(v)
                            .ok_or_else(|| self.cannot(v, "discharge without a voyage"))?;
                        let j = net.voyages[vi]
                            .call_at(net.dealers[di].port)
                            .ok_or_else(|| {
                                self.cannot(v, "voyage does not call at the dealer's port")
                            })?;
                        let (berth, depart) = self.calls[vi][j];
                        lb = lb.max(berth.0);
                        ub = depart.0 - dur;
                        let sched = &net.voyages[vi].calls;
                        let limit = match sched.get(j + 1) {
                            Some(next) => {
                                self.calls[vi][j + 1].0.0 - next.berth.since(sched[j].depart)
                            }
                            None => depart.0 + 3 * 24 * 60,
                        };
                        stay = Some((vi, j, limit));
                    }
                    if orig.stage == Stage::Certification {
                        match net.models[mi].cert.approved_from {
                            Some(a) => lb = lb.max(a.0),
                            None => return Err(self.cannot(v, "model not approved")),
                        }
                    }
                    let s = self
                        .fit(r, lb_keep(lb), dur, ub, &holds)
                        .or_else(|| {
                            if keep {
                                self.fit(r, lb, dur, ub, &holds)
                            } else {
                                None
                            }
                        })
                        .or_else(|| {
                            // The vessel stays until it is discharged.
                            let (vi, j, limit) = stay?;
                            let s = self.fit(r, lb, dur, limit - dur, &holds)?;
                            self.extend_stay(vi, j, Minute(s + dur));
                            Some(s)
                        })
                        .ok_or_else(|| {
                            self.cannot(
                                v,
                                format!(
                                    "no room on {} between {} and {} for {dur} minutes",
                                    net.resources[r].id,
                                    Minute(lb),
                                    Minute(ub)
                                ),
                            )
                        })?;
                    if orig.stage == Stage::Certification
                        && let Some(cap) = net.models[mi].cert.annual_cap
                    {
                        let year = self.year(net.dealers[di].port, Minute(s));
                        if self.certified.get(&(mi, year)).copied().unwrap_or(0) >= cap {
                            return Err(
                                self.cannot(v, format!("certification cap of {year} reached"))
                            );
                        }
                    }
                    let st = &mut self.plan.vehicles[v].steps[i];
                    st.start = Minute(s);
                    st.end = Minute(s + dur);
                }
                Stage::Delivery => {
                    if begun {
                        return Err(self.cannot(v, "delivery under way cannot move"));
                    }
                    let s = self
                        .place_delivery(mi, di, lb_keep(t.max(now)), &holds)
                        .or_else(|| {
                            if keep {
                                self.place_delivery(mi, di, t.max(now), &holds)
                            } else {
                                None
                            }
                        })
                        .ok_or_else(|| self.cannot(v, "no delivery departure with room"))?;
                    let st = &mut self.plan.vehicles[v].steps[i];
                    st.start = Minute(s);
                    st.departure = Some(Minute(s));
                    st.end = Minute(s + net.dealers[di].delivery_minutes);
                }
                Stage::Released | Stage::Inland => {
                    return Err(self.cannot(v, "plant and inland steps are not re-planned locally"));
                }
            }
            self.index(v, i, 1);
            t = self.plan.vehicles[v].steps[i].end.0;
            i += 1;
        }
        let end = self.plan.vehicles[v].steps.last().map(|x| x.end);
        if let (Some(end), Some((_, was))) = (end, last) {
            for k in moves_with_end {
                let h = &mut self.plan.vehicles[v].holds[k];
                h.from = h.from.plus(end.since(was)).max(end);
                h.to = h.to.max(h.from);
            }
        }
        Ok(rolled)
    }

    /// The voyages other than `except` that load at `at` and later call at
    /// `dport`: (voyage, export call, import call).
    fn voyages_between(
        &self,
        at: usize,
        dport: usize,
        except: usize,
    ) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.net
            .voyages
            .iter()
            .enumerate()
            .filter(move |&(vi, _)| vi != except)
            .filter_map(move |(vi, vo)| {
                let c = vo.call_at(at).filter(|&c| c < vo.n_export_calls)?;
                let j = vo.call_at(dport).filter(|&j| j >= vo.n_export_calls)?;
                Some((vi, c, j))
            })
    }

    /// Call `j` of voyage `vi` departs no earlier than `at`; later calls
    /// berth no earlier than the departure before plus the scheduled
    /// sailing, and keep their scheduled stay.
    fn extend_stay(&mut self, vi: usize, j: usize, at: Minute) {
        if self.calls[vi][j].1 >= at {
            return;
        }
        let net = self.net;
        let sched = &net.voyages[vi].calls;
        self.calls[vi][j].1 = at;
        for c in j + 1..sched.len() {
            let sail = sched[c].berth.since(sched[c - 1].depart);
            let berth = self.calls[vi][c].0.max(self.calls[vi][c - 1].1.plus(sail));
            if berth == self.calls[vi][c].0 {
                break;
            }
            let stay = sched[c].depart.since(sched[c].berth);
            self.calls[vi][c] = (berth, self.calls[vi][c].1.max(berth.plus(stay)));
            self.extended.insert(vi);
        }
        let id = &net.voyages[vi].id;
        let calls: Vec<takt_core::plan::CallTimes> = sched
            .iter()
            .zip(&self.calls[vi])
            .map(|(c, &(berth, depart))| takt_core::plan::CallTimes {
                port: net.locations[c.location].id.clone(),
                berth,
                depart,
            })
            .collect();
        set_calls(&mut self.plan.voyages, id, calls);
    }

    /// After calls moved because one stayed longer: every vehicle of those
    /// voyages berths when its call does, and is discharged again if its
    /// discharge no longer fits the call.
    fn settle(&mut self, backups: &mut Vec<Saved>) -> Result<(), LocalError> {
        let net = self.net;
        let now = self.now();
        for _round in 0..8 {
            let Some(vi) = self.extended.pop_first() else {
                return Ok(());
            };
            let riders: Vec<u32> = self.on_voyage[vi].iter().copied().collect();
            let mut again: Vec<(i64, usize, usize)> = Vec::new();
            for v in riders {
                let v = v as usize;
                let p = &self.plan.vehicles[v];
                let Some(im) = self
                    .model_dealer(v)
                    .1
                    .and_then(|d| net.voyages[vi].call_at(net.dealers[d].port))
                else {
                    continue;
                };
                let Some(x) = p.steps.iter().position(|s| s.stage == Stage::Voyage) else {
                    continue;
                };
                let (berth, depart) = self.calls[vi][im];
                if p.steps[x].done || p.steps[x].end == berth {
                    continue;
                }
                self.backup(backups, v);
                self.plan.vehicles[v].steps[x].end = berth;
                let p = &self.plan.vehicles[v];
                if let Some(i) = p.steps.iter().position(|s| s.stage == Stage::Discharge) {
                    let s = &p.steps[i];
                    if s.done || s.start < now {
                        return Err(self.cannot(v, "discharge under way on a call that moved"));
                    }
                    if s.start < berth || s.end > depart {
                        again.push((s.start.0, v, i));
                    }
                }
            }
            again.sort_unstable();
            for &(_, v, i) in &again {
                self.take_out(v, i);
            }
            for &(_, v, i) in &again {
                self.place(v, i, true)?;
            }
        }
        Err(LocalError::NotLocal("calls kept moving one another".into()))
    }

    /// First delivery departure at or after `lb` with a truck for the model's class.
    fn place_delivery(&self, mi: usize, di: usize, lb: i64, holds: &[Hold]) -> Option<i64> {
        let net = self.net;
        let ti = net.dealers[di].terminal;
        let it = &net.import_terminals[ti];
        let class = net.models[mi].inland_class;
        if it.vehicles_per_truck[class] == 0 {
            return None;
        }
        let k = it.delivery_departures.partition_point(|d| d.0 < lb);
        for dep in &it.delivery_departures[k..] {
            let d = dep.0;
            if holds.iter().any(|h| h.from.0 < d && d < h.to.0) {
                continue;
            }
            let mut trucks = 0u64;
            let counts = self.trucks.get(&(ti, d));
            for c in 0..net.inland_classes.len() {
                let n = counts.map(|x| x[c]).unwrap_or(0) + u32::from(c == class);
                if n > 0 {
                    let per = it.vehicles_per_truck[c].max(1);
                    trucks += (n as u64).div_ceil(per as u64);
                }
            }
            if trucks <= it.trucks_per_departure as u64 {
                return Some(d);
            }
        }
        None
    }

    /// Places the loading step `i` of `v` (and sets the yard stay before it
    /// to end there): on its voyage if it still makes the cutoff and the
    /// loading window, else on the next voyage from the same port to the
    /// same port with booked space. Returns whether it rolled.
    fn place_loading(
        &mut self,
        v: usize,
        i: usize,
        mi: usize,
        di: usize,
        ask: LoadingAsk,
    ) -> Result<bool, LocalError> {
        let LoadingAsk {
            t,
            keep,
            shift,
            yard_indexed,
        } = ask;
        let net = self.net;
        let now = self.now().0;
        let orig = Orig::of(&self.plan.vehicles[v].steps[i]);
        let holds = self.plan.vehicles[v].holds.clone();
        let r = net
            .resource_index(&self.plan.vehicles[v].steps[i].resource)
            .ok_or_else(|| self.cannot(v, "unknown loading pool"))?;
        let at = net
            .location_index(&self.plan.vehicles[v].steps[i].location)
            .ok_or_else(|| self.cannot(v, "unknown port"))?;
        let ti = net
            .export_terminal_at(at)
            .ok_or_else(|| self.cannot(v, "no export terminal"))?;
        let cutoff = net.export_terminals[ti].cutoff_minutes;
        let dur = orig.end.0 - orig.start.0;
        let yard =
            (i > 0 && self.plan.vehicles[v].steps[i - 1].stage == Stage::Yard).then(|| i - 1);
        let staged = yard
            .map(|y| self.plan.vehicles[v].steps[y].start.0)
            .unwrap_or(t);
        let current = self
            .voyage_of(v)
            .ok_or_else(|| self.cannot(v, "loading without a voyage"))?;
        let dport = net.dealers[di].port;
        let m = &net.models[mi];
        let deck_now = self.plan.vehicles[v]
            .step(Stage::Voyage)
            .and_then(|s| s.deck_class.as_deref())
            .and_then(|d| net.deck_classes.iter().position(|x| x.id == d));
        // Candidate voyages: the current one, then later ones by departure.
        let cur_depart = self.calls[current]
            .get(net.voyages[current].call_at(at).unwrap_or(0))
            .map(|c| c.1)
            .unwrap_or(Minute(0));
        // A vessel delayed by this event: first the voyages from the same
        // port that now reach the dealer's port at least half a day
        // earlier, by arrival (a re-plan would re-book onto them).
        let mut order = Vec::new();
        if let Some((mv, deltas)) = &self.moved
            && *mv == current
            && net.voyages[current]
                .call_at(at)
                .is_some_and(|c| deltas[c] > 0)
            && let Some(j0) = net.voyages[current].call_at(dport)
        {
            if !self.earlier.contains_key(&(at, dport)) {
                let arrives = self.calls[current][j0].0;
                let mut earlier: Vec<(Minute, usize)> = self
                    .voyages_between(at, dport, current)
                    .filter_map(|(vi, c, j)| {
                        let b = self.calls[vi][j].0;
                        (self.calls[vi][c].1.0 >= now && b.0 + 12 * 60 <= arrives.0)
                            .then_some((b, vi))
                    })
                    .collect();
                earlier.sort_unstable();
                let list = earlier.into_iter().take(4).map(|(_, vi)| vi).collect();
                self.earlier.insert((at, dport), list);
            }
            order.extend(self.earlier[&(at, dport)].iter().copied());
        }
        // Later voyages are listed only when the current one fails.
        order.push(current);
        let mut k = 0;
        let mut listed = false;
        loop {
            if k == order.len() {
                if listed {
                    break;
                }
                listed = true;
                let mut cands: Vec<(Minute, usize)> = self
                    .voyages_between(at, dport, current)
                    .filter_map(|(vi, c, _)| {
                        let dep = self.calls[vi][c].1;
                        (dep >= cur_depart && dep.0 >= now).then_some((dep, vi))
                    })
                    .collect();
                cands.sort_unstable();
                cands.truncate(8);
                order.extend(cands.into_iter().map(|(_, vi)| vi));
                continue;
            }
            let vi = order[k];
            k += 1;
            let vo = &net.voyages[vi];
            let (Some(c), Some(j)) = (vo.call_at(at), vo.call_at(dport)) else {
                continue;
            };
            let (berth, depart) = self.calls[vi][c];
            if staged > berth.0 - cutoff || holds.iter().any(|h| h.from < depart && depart < h.to) {
                continue;
            }
            // Deck class: the one held, if it has room on this voyage, else
            // the smallest the model fits with room.
            // (The vehicle's own space was given back when it was taken out,
            // and a vehicle rolled in before it may have taken it.)
            let room = |d: usize| {
                let booked = vo
                    .booked
                    .get(m.tenant)
                    .and_then(|b| b.get(d))
                    .copied()
                    .unwrap_or(0.0);
                let used = self.space.get(&(vi, m.tenant, d)).copied().unwrap_or(0.0);
                used + m.rt43 <= booked + 1e-6
            };
            let deck = if vi == current {
                deck_now.filter(|&d| room(d))
            } else {
                m.deck_classes.iter().copied().find(|&d| room(d))
            };
            let Some(deck) = deck else { continue };
            // Stow order: after every vehicle that discharges later, before
            // every one that discharges earlier.
            let (mut lo, mut hi) = (i64::MIN, i64::MAX);
            if let Some(group) = self.stow.get(&(vi, at)) {
                for (jj, starts) in group.iter().enumerate() {
                    if jj > j {
                        if let Some((&last, _)) = starts.iter().next_back() {
                            lo = lo.max(last);
                        }
                    } else if jj < j
                        && let Some((&firstk, _)) = starts.iter().next()
                    {
                        hi = hi.min(firstk);
                    }
                }
            }
            let lb = t.max(now).max(berth.0).max(lo);
            let ub = (depart.0 - dur).min(hi);
            let keep_lb = if keep && vi == current {
                lb.max(orig.start.0 + shift)
            } else {
                lb
            };
            let Some(s) = self.fit(r, keep_lb, dur, ub, &holds).or_else(|| {
                if keep_lb != lb {
                    self.fit(r, lb, dur, ub, &holds)
                } else {
                    None
                }
            }) else {
                continue;
            };
            // The yard stay up to the loading must fit the yard.
            if let Some(y) = yard {
                let (ys, ye) = {
                    let st = &self.plan.vehicles[v].steps[y];
                    (st.start.0, st.end.0)
                };
                let yr = net
                    .resource_index(&self.plan.vehicles[v].steps[y].resource)
                    .ok_or_else(|| self.cannot(v, "unknown yard"))?;
                if yard_indexed {
                    // Only the stretch the stay grows by must fit.
                    if s > ye && self.blocked(yr, ye.max(ys), s).is_some() {
                        continue;
                    }
                    if s > ye {
                        self.usage[yr].add(ye.max(ys), s, 1);
                    } else {
                        self.usage[yr].add(s.max(ys), ye, -1);
                    }
                    self.longest[yr] = self.longest[yr].max(s - ys);
                    self.plan.vehicles[v].steps[y].end = Minute(s.max(ys));
                } else {
                    if self.blocked(yr, ys, s).is_some() {
                        continue;
                    }
                    self.plan.vehicles[v].steps[y].end = Minute(s);
                    self.index(v, y, 1);
                }
            }
            let p = &mut self.plan.vehicles[v];
            let st = &mut p.steps[i];
            st.start = Minute(s);
            st.end = Minute(s + dur);
            // Rolled: moved to a voyage that sails later than its own.
            let rolled = vi != current && depart > cur_depart;
            if vi != current {
                let id = vo.id.clone();
                p.voyage = Some(id.clone());
                if rolled {
                    p.rolls += 1;
                }
                if let Some(x) = p.steps.iter_mut().find(|x| x.stage == Stage::Voyage) {
                    x.resource = id;
                    x.deck_class = Some(net.deck_classes[deck].id.clone());
                }
                self.on_voyage[current].remove(&(v as u32));
                self.on_voyage[vi].insert(v as u32);
            }
            self.index(v, i, 1);
            return Ok(rolled);
        }
        Err(self.cannot(
            v,
            "no voyage with space and a loading slot before its cutoff",
        ))
    }
}

/// The stage a vehicle is in at `now`: its last step done or begun.
fn current_stage(p: &VehiclePlan, now: Minute) -> Option<Stage> {
    p.steps
        .iter()
        .rev()
        .find(|s| s.done || s.start < now)
        .map(|s| s.stage)
}

/// Stages at an export or import terminal, where a hold applies.
fn at_terminal(stage: Stage) -> bool {
    matches!(
        stage,
        Stage::PortArrival
            | Stage::Processing
            | Stage::Yard
            | Stage::Loading
            | Stage::Discharge
            | Stage::Certification
    )
}

fn empty_plan() -> Plan {
    Plan {
        scenario: String::new(),
        volume_scale: 1.0,
        created_at: Minute(0),
        policy: String::new(),
        vehicles: Vec::new(),
        voyages: Vec::new(),
        outages: Vec::<Outage>::new(),
    }
}

/// A random event of one of the six kinds, drawn from the state of `plan`
/// at its `created_at` (for benchmarks and property tests): a vehicle under
/// way inland 1–48 hours late; a ramp, processing, discharge or
/// certification pool losing a server for 1–8 hours within the next three
/// days; a gang short for a shift; a voyage with a call not yet made moved
/// by −12 to +48 hours; a hold of 4–96 hours on a vehicle at a terminal;
/// the release of a hold in force (another kind when there is none).
/// `None` when the plan offers nothing to disrupt.
pub fn random_event(net: &Network, plan: &Plan, rng: &mut impl rand::Rng) -> Option<Disruption> {
    for _ in 0..10 {
        let kind = rng.random_range(0..6);
        if let Some(d) = event_of_kind(net, plan, rng, kind) {
            return Some(d);
        }
    }
    None
}

/// The kinds of [`random_event`] (as [`Disruption::kind`] names them), in
/// the order of `kind` in [`event_of_kind`].
pub const EVENT_KINDS: [&str; 6] = [
    "arrived_late",
    "station_down",
    "gang_short",
    "vessel_moved",
    "hold_placed",
    "hold_released",
];

/// A random event of kind `kind` (an index into [`EVENT_KINDS`]), drawn as
/// [`random_event`] draws it; `None` when the plan offers none of that kind.
pub fn event_of_kind(
    net: &Network,
    plan: &Plan,
    rng: &mut impl rand::Rng,
    kind: usize,
) -> Option<Disruption> {
    let now = plan.created_at;
    let n = plan.vehicles.len();
    let pick = |rng: &mut dyn rand::RngCore, ok: &dyn Fn(&VehiclePlan) -> bool| {
        use rand::Rng as _;
        if n == 0 {
            return None;
        }
        (0..20_000)
            .map(|_| &plan.vehicles[rng.random_range(0..n)])
            .find(|v| ok(v))
            .map(|v| v.vin.clone())
    };
    let pools = |kinds: &[ResourceKind]| -> Vec<String> {
        net.resources
            .iter()
            .filter(|r| kinds.contains(&r.kind))
            .map(|r| r.id.clone())
            .collect()
    };
    let hours = |rng: &mut dyn rand::RngCore, lo: f64, hi: f64| {
        use rand::Rng as _;
        (rng.random_range(lo..hi) * 4.0).round() / 4.0
    };
    match kind {
        0 => pick(rng, &|v| {
            v.steps
                .iter()
                .any(|s| s.stage == Stage::Inland && !s.done && s.start < now && s.end >= now)
        })
        .map(|vin| Disruption::ArrivedLate {
            vin,
            hours: hours(rng, 1.0, 48.0),
        }),
        1 | 2 => {
            let ids = if kind == 1 {
                pools(&[
                    ResourceKind::Ramp,
                    ResourceKind::Processing,
                    ResourceKind::Discharge,
                    ResourceKind::Certification,
                ])
            } else {
                pools(&[ResourceKind::Loading])
            };
            if ids.is_empty() {
                None
            } else {
                let resource = ids[rng.random_range(0..ids.len())].clone();
                let from = now.plus(rng.random_range(0..72 * 4) * 15);
                Some(if kind == 1 {
                    Disruption::StationDown {
                        resource,
                        from,
                        hours: hours(rng, 1.0, 8.0),
                        servers: 1,
                    }
                } else {
                    Disruption::GangShort {
                        resource,
                        from,
                        hours: 8.0,
                        gangs: 1,
                    }
                })
            }
        }
        3 => {
            let open: Vec<&str> = plan
                .vehicles
                .iter()
                .filter_map(|v| v.step(Stage::Voyage).filter(|s| !s.done))
                .map(|s| s.resource.as_str())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            (!open.is_empty()).then(|| Disruption::VesselMoved {
                voyage: open[rng.random_range(0..open.len())].to_string(),
                hours: hours(rng, -12.0, 48.0),
                from_port: None,
            })
        }
        4 => pick(rng, &|v| {
            v.unplaced.is_none()
                && current_stage(v, now).is_some_and(|st| at_terminal(st) && st != Stage::Loading)
        })
        .map(|vin| Disruption::HoldPlaced {
            vin,
            reason: "damage".into(),
            hours: hours(rng, 4.0, 96.0),
        }),
        _ => {
            // Any vehicle with a hold in force, uniformly (holds are few, so
            // drawing vehicles until one is held could miss them all).
            let held: Vec<&VehiclePlan> = plan
                .vehicles
                .iter()
                .filter(|v| v.holds.iter().any(|h| h.from <= now && now < h.to))
                .collect();
            (!held.is_empty()).then(|| Disruption::HoldReleased {
                vin: held[rng.random_range(0..held.len())].vin.clone(),
            })
        }
    }
}
