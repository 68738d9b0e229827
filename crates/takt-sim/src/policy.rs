//! Policies: who decides in the simulated world.
//!
//! The world (see [`crate::world`]) owns time, capacities and randomness and
//! asks a [`Policy`] at each decision point: which inland departure and
//! voyage a vehicle takes, in which order queues are served, and in which
//! order a voyage is loaded. The world enforces every hard rule itself
//! (capacity, calendars, cutoffs, stow order), so a better sequencer can
//! replace [`Fifo`] without touching the world.

use crate::world::Vehicle;
use takt_core::Minute;
use takt_core::network::{Network, ResourceKind};

/// A feasible way to send a vehicle to Japan, as the world offers it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOption {
    /// Inland service and index of its departure; `None` when the vehicle is already at the port.
    pub inland: Option<(usize, usize)>,
    /// Scheduled inland departure.
    pub departs_at: Option<Minute>,
    /// Export terminal index.
    pub terminal: usize,
    /// Voyage index and index of its export call.
    pub voyage: usize,
    pub call: usize,
    /// Deck class with space left for the vehicle.
    pub deck: usize,
    /// Vessel cutoff at the export port.
    pub cutoff_at: Minute,
    /// When the vehicle is expected processed and staged, at mean durations.
    pub expected_staged_at: Minute,
    /// The same with the inland transit at its 90th percentile: a planner's safe lead time.
    pub staged_p90_at: Minute,
    /// Scheduled berthing at the dealer's port in Japan.
    pub arrives_japan_at: Minute,
    pub inland_cost_usd: f64,
    /// For a latest-departure (just-in-time) option: the time left for the
    /// terminal's queues before the cutoff; `None` for the first departure
    /// with room.
    pub queue_allowance_minutes: Option<i64>,
}

impl RouteOption {
    /// Makes the cutoff even with a slow (90th percentile) inland move.
    pub fn is_safe(&self) -> bool {
        self.staged_p90_at <= self.cutoff_at
    }
}

/// The options in play, with their indices: with `prefer_safe`, only the
/// safe ones unless none is (a planner with standard lead times); all of
/// them otherwise.
pub fn eligible(
    options: &[RouteOption],
    prefer_safe: bool,
) -> impl Iterator<Item = (usize, &RouteOption)> + Clone {
    let safe = prefer_safe && options.iter().any(RouteOption::is_safe);
    options
        .iter()
        .enumerate()
        .filter(move |(_, o)| !safe || o.is_safe())
}

/// Decisions the world delegates.
pub trait Policy: Send + Sync {
    /// Short name, e.g. `fifo`.
    fn name(&self) -> &str;

    /// Picks one of the feasible options, or `None` to wait and be asked again later.
    fn choose_route(
        &mut self,
        net: &Network,
        vehicle: &Vehicle,
        options: &[RouteOption],
    ) -> Option<usize>;

    /// Priority of a vehicle joining the queue of a resource: lower is served first.
    fn queue_priority(
        &mut self,
        net: &Network,
        kind: ResourceKind,
        vehicle: &Vehicle,
        now: Minute,
    ) -> i64;

    /// Orders the vehicles a voyage loads at a port. The world then sorts
    /// them stably by stow order (later discharge port first), so a policy
    /// only chooses the order among vehicles for the same discharge port.
    fn load_order(&mut self, net: &Network, vehicles: &mut [&Vehicle]);

    /// A copy for planning ahead (the world projects the plan with a clone).
    fn clone_box(&self) -> Box<dyn Policy>;

    /// Asked when a queued vehicle is at the head of its queue and a server
    /// could start it now (`minutes` of work): a new priority sends it back
    /// into the queue instead (a vehicle that can no longer make its date
    /// yielding to those that still can); `None`, the default, serves it.
    /// `priority` is the one it queued with.
    fn requeue(
        &mut self,
        _net: &Network,
        _kind: ResourceKind,
        _vehicle: &Vehicle,
        _now: Minute,
        _minutes: i64,
        _priority: i64,
    ) -> Option<i64> {
        None
    }

    /// Whether the world should also offer the just-in-time departure that
    /// leaves only a few hours for the terminal's queues (for a planner that
    /// projects them); the others are not offered it.
    fn wants_snug(&self) -> bool {
        false
    }
}

/// First in, first out at every stage; first voyage with space.
///
/// The status quo, made fair rather than a strawman: it takes the option
/// that reaches the dealer's port first among those that make the cutoff
/// even with a slow (90th percentile) inland move (then the cheaper inland service,
/// then the earlier departure), serves every queue in order of arrival, and
/// loads in stow order, first staged first within a discharge port.
#[derive(Debug, Clone, Default)]
pub struct Fifo;

impl Policy for Fifo {
    fn name(&self) -> &str {
        "fifo"
    }

    fn choose_route(
        &mut self,
        _net: &Network,
        _vehicle: &Vehicle,
        options: &[RouteOption],
    ) -> Option<usize> {
        // Like a planner with standard lead times: only options that make the
        // cutoff even with a slow (90th percentile) inland move, unless none does.
        eligible(options, true)
            .min_by(|(_, a), (_, b)| {
                a.arrives_japan_at
                    .cmp(&b.arrives_japan_at)
                    .then(a.inland_cost_usd.total_cmp(&b.inland_cost_usd))
                    .then(a.departs_at.cmp(&b.departs_at))
            })
            .map(|(i, _)| i)
    }

    fn queue_priority(
        &mut self,
        _net: &Network,
        _kind: ResourceKind,
        _vehicle: &Vehicle,
        now: Minute,
    ) -> i64 {
        now.0
    }

    fn load_order(&mut self, _net: &Network, vehicles: &mut [&Vehicle]) {
        vehicles.sort_by_key(|v| (v.staged_at, v.id));
    }

    fn clone_box(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
}

/// Just in time, earliest due date first.
///
/// Takes the same voyage as [`Fifo`] (the first that reaches the dealer's
/// port, safe against a slow inland move), but ships the vehicle on the
/// latest inland departure that still makes that voyage's cutoff with a
/// slow (90th percentile) move, so it waits at the plant rather than in the
/// export yard; serves processing and certification queues by promised
/// date, and loads a discharge port's vehicles by promised date.
#[derive(Debug, Clone, Default)]
pub struct JustInTime;

impl Policy for JustInTime {
    fn name(&self) -> &str {
        "jit"
    }

    fn choose_route(
        &mut self,
        _net: &Network,
        _vehicle: &Vehicle,
        options: &[RouteOption],
    ) -> Option<usize> {
        // The world offers the snug departure only to planners that ask
        // (`wants_snug`), so a day is kept for the terminal's queues.
        let eligible = || eligible(options, true);
        // The voyage: first to reach the dealer's port, then the cheaper inland service.
        let (_, best) = eligible().min_by(|(_, a), (_, b)| {
            a.arrives_japan_at
                .cmp(&b.arrives_japan_at)
                .then(a.inland_cost_usd.total_cmp(&b.inland_cost_usd))
        })?;
        // Among ways onto that voyage at that cost, the latest safe departure.
        eligible()
            .filter(|(_, o)| {
                o.voyage == best.voyage
                    && o.call == best.call
                    && o.inland_cost_usd == best.inland_cost_usd
            })
            .max_by_key(|(_, o)| o.departs_at)
            .map(|(i, _)| i)
    }

    fn queue_priority(
        &mut self,
        _net: &Network,
        kind: ResourceKind,
        vehicle: &Vehicle,
        now: Minute,
    ) -> i64 {
        match kind {
            ResourceKind::Processing | ResourceKind::Certification => vehicle.promised_by.0,
            _ => now.0,
        }
    }

    fn load_order(&mut self, _net: &Network, vehicles: &mut [&Vehicle]) {
        vehicles.sort_by_key(|v| (v.promised_by, v.id));
    }

    fn clone_box(&self) -> Box<dyn Policy> {
        Box::new(self.clone())
    }
}

/// Looks a policy up by name.
pub fn by_name(name: &str) -> Option<Box<dyn Policy>> {
    match name {
        "fifo" => Some(Box::new(Fifo)),
        "jit" => Some(Box::new(JustInTime)),
        _ => None,
    }
}

/// Names accepted by [`by_name`].
pub const POLICY_NAMES: &[&str] = &["fifo", "jit"];
