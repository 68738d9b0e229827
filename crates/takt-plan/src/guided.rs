//! The policy a sequencer steers: per-vehicle decisions (genes) that the
//! world reads at each decision point.
//!
//! A [`Gene`] does not name a voyage or a departure outright: it ranks the
//! options the world offers when the vehicle is routed (the first voyage to
//! reach the dealer's port, the next one, ...; the cheapest inland service or
//! the next; the first or the latest safe departure), and shifts the
//! vehicle's place in processing, certification and loading queues. So every
//! set of genes decodes to a plan the world has checked against every
//! capacity, calendar and cutoff, and the search never leaves the feasible
//! space.

use std::sync::{Arc, RwLock};
use takt_core::Minute;
use takt_core::network::{Network, ResourceKind};
use takt_sim::policy::{Policy, RouteOption};
use takt_sim::world::Vehicle;

/// The decisions for one vehicle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Gene {
    /// Keep the voyage space and inland departure the vehicle holds in the
    /// instance (when it holds any); the other fields apply only when it is
    /// routed again.
    pub keep: bool,
    /// Which voyage: 0 is the first to berth at the dealer's port among the
    /// options safe against a slow inland move, 1 the next, and so on
    /// (clamped to the last).
    pub voyage_rank: u8,
    /// Which inland service onto that voyage: 0 the cheapest, 1 the next.
    pub service_rank: u8,
    /// The latest safe departure of that service (just in time) instead of
    /// the first with room.
    pub late: bool,
    /// With `late`: the latest departure that leaves only a few hours for
    /// the terminal's queues rather than a day (the planner sees the queues
    /// in its projection).
    pub snug: bool,
    /// Consider every option that makes the cutoff at standard times, not
    /// only those safe against a slow (90th percentile) inland move.
    pub tight: bool,
    /// Hours added to the vehicle's deadline when it queues for processing
    /// (its voyage's cutoff) or certification (its promised date) and when
    /// its discharge port's vehicles are ordered for loading (its promised
    /// date): negative is sooner.
    pub urgency_hours: i16,
    /// Keep its place in the certification queue when it can no longer be
    /// on time, instead of yielding to the vehicles that still can
    /// ([`Policy::requeue`]): the rule maximizes the vehicles on time, the
    /// objective charges lateness by the day, and the search decides per
    /// vehicle which serves the objective.
    pub keep_place: bool,
}

impl Gene {
    /// The status quo: keep what is booked, otherwise the first voyage and departure.
    pub const KEEP: Gene = Gene {
        keep: true,
        voyage_rank: 0,
        service_rank: 0,
        late: false,
        snug: false,
        tight: false,
        urgency_hours: 0,
        keep_place: false,
    };

    fn key(&self, v: &Vehicle) -> i64 {
        v.promised_by.0 + self.urgency_hours as i64 * 60
    }
}

/// Where a policy reads its genes: fixed for a decode, shared with a
/// live planner that rewrites them while the world runs.
#[derive(Debug, Clone)]
pub enum Genes {
    Fixed(Arc<Vec<Gene>>),
    Shared(Arc<RwLock<Vec<Gene>>>),
}

/// The policy that follows genes; vehicles without one (released after the
/// genes were made) follow `fallback`.
#[derive(Debug, Clone)]
pub struct Guided {
    pub genes: Genes,
    pub fallback: Gene,
}

impl Guided {
    pub fn new(genes: Arc<Vec<Gene>>, fallback: Gene) -> Guided {
        Guided {
            genes: Genes::Fixed(genes),
            fallback,
        }
    }

    /// A policy whose genes a live planner updates (`takt simulate --policy takt`).
    pub fn shared(genes: Arc<RwLock<Vec<Gene>>>, fallback: Gene) -> Guided {
        Guided {
            genes: Genes::Shared(genes),
            fallback,
        }
    }

    fn gene(&self, vid: usize) -> Gene {
        let g = match &self.genes {
            Genes::Fixed(g) => g.get(vid).copied(),
            Genes::Shared(g) => g.read().expect("genes lock").get(vid).copied(),
        };
        g.unwrap_or(self.fallback)
    }
}

/// Added to the queue priority of a vehicle that can no longer be on time
/// (far above any minute a priority holds), so it is served after all others.
pub const CANNOT_BE_ON_TIME: i64 = 1 << 40;

/// Whether a vehicle certified at `certified_at` reaches its dealer by its
/// promised date on the first delivery departure after (capacity aside).
pub fn can_deliver_on_time(net: &Network, vehicle: &Vehicle, certified_at: Minute) -> bool {
    let dealer = &net.dealers[vehicle.dealer];
    let departures = &net.import_terminals[dealer.terminal].delivery_departures;
    let k = departures.partition_point(|&d| d < certified_at);
    departures
        .get(k)
        .is_some_and(|d| d.plus(dealer.delivery_minutes) <= vehicle.promised_by)
}

/// Picks the option a gene ranks: voyage, then service, then departure.
pub fn pick(gene: Gene, options: &[RouteOption]) -> Option<usize> {
    let eligible = || takt_sim::policy::eligible(options, !gene.tight);
    // Distinct (voyage, call), first to reach Japan first.
    let mut voyages: Vec<(Minute, Minute, usize, usize)> = eligible()
        .map(|(_, o)| (o.arrives_japan_at, o.cutoff_at, o.voyage, o.call))
        .collect();
    voyages.sort();
    voyages.dedup();
    let &(_, _, voyage, call) =
        voyages.get((gene.voyage_rank as usize).min(voyages.len().checked_sub(1)?))?;
    let on_voyage = || eligible().filter(move |(_, o)| o.voyage == voyage && o.call == call);
    // Distinct inland services by cost (none when already at the port).
    let mut services: Vec<(u64, Option<usize>)> = on_voyage()
        .map(|(_, o)| (o.inland_cost_usd.to_bits(), o.inland.map(|(s, _)| s)))
        .collect();
    services.sort();
    services.dedup();
    let service = services[(gene.service_rank as usize).min(services.len() - 1)].1;
    let candidates = on_voyage().filter(|(_, o)| {
        o.inland.map(|(s, _)| s) == service
            && (gene.snug
                || o.queue_allowance_minutes
                    .is_none_or(|a| a >= takt_sim::world::JIT_QUEUE_ALLOWANCE_MINUTES))
    });
    if gene.late {
        candidates.max_by_key(|(i, o)| (o.departs_at, std::cmp::Reverse(*i)))
    } else {
        candidates.min_by_key(|(i, o)| (o.departs_at, *i))
    }
    .map(|(i, _)| i)
}

impl Policy for Guided {
    fn name(&self) -> &str {
        "takt"
    }

    fn choose_route(
        &mut self,
        _net: &Network,
        vehicle: &Vehicle,
        options: &[RouteOption],
    ) -> Option<usize> {
        pick(self.gene(vehicle.id), options)
    }

    fn queue_priority(
        &mut self,
        net: &Network,
        kind: ResourceKind,
        vehicle: &Vehicle,
        now: Minute,
    ) -> i64 {
        match kind {
            // The export terminal works first the vehicles whose vessel
            // closes first: the cutoff of the voyage a vehicle is booked on
            // is its deadline there (its promised date when it has none).
            ResourceKind::Processing => {
                let urgency = self.gene(vehicle.id).urgency_hours as i64 * 60;
                let deadline = vehicle.route.map_or(vehicle.promised_by, |r| {
                    let cutoff = net.export_terminals[r.terminal].cutoff_minutes;
                    net.voyages[r.voyage].calls[r.call].berth.plus(-cutoff)
                });
                deadline.0 + urgency
            }
            ResourceKind::Certification => self.gene(vehicle.id).key(vehicle),
            _ => now.0,
        }
    }

    /// In the certification queue, a vehicle that can no longer reach its
    /// dealer by its promised date (certified from now, on the first
    /// delivery departure after) goes behind every vehicle that still can
    /// (Moore and Hodgson's rule for the most jobs on time: an overloaded
    /// queue served by earliest due date otherwise makes nearly every
    /// vehicle a little late); among themselves such vehicles keep their
    /// order by promised date.
    fn requeue(
        &mut self,
        net: &Network,
        kind: ResourceKind,
        vehicle: &Vehicle,
        now: Minute,
        minutes: i64,
        priority: i64,
    ) -> Option<i64> {
        if kind != ResourceKind::Certification
            || priority >= CANNOT_BE_ON_TIME
            || self.gene(vehicle.id).keep_place
        {
            return None;
        }
        (!can_deliver_on_time(net, vehicle, now.plus(minutes)))
            .then_some(priority + CANNOT_BE_ON_TIME)
    }

    fn load_order(&mut self, _net: &Network, vehicles: &mut [&Vehicle]) {
        vehicles.sort_by_key(|v| (self.gene(v.id).key(v), v.id));
    }

    fn clone_box(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }

    fn wants_snug(&self) -> bool {
        true
    }
}
