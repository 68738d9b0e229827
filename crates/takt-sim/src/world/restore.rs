//! Rebuilding a world from a planning instance.
//!
//! [`Simulation::from_instance`] is the inverse of [`Simulation::instance`]:
//! it puts every vehicle of an instance back where the instance says it is
//! (frozen steps, voyage space and inland departure held, holds, work under
//! way on a server, queues), so the same world code that enforces every
//! capacity, calendar and cutoff in a simulation carries the instance's
//! vehicles to delivery under any policy. The rebuilt world is nominal (mean
//! durations, scheduled vessel times, no disruptions or releases): what a
//! planner assumes. A sequencer uses it as the decoder of its decisions.
//!
//! What an instance does not say is rebuilt by rule: delivery-truck bookings
//! are made again at `now`, a vehicle under way on a pool takes the first
//! free server that is not down, an outage under way takes the first server
//! not down, and a vehicle holding space takes its model's first deck class
//! with booked space left unless its voyage step names one.

use super::{Departure, Ev, Res, Route, SimOptions, SimStep, Simulation, Vehicle, Work};
use crate::policy::Policy;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use takt_core::Minute;
use takt_core::instance::{Instance, VehicleState};
use takt_core::network::{Network, ResourceKind};
use takt_core::plan::{Stage, Step};
use takt_core::vin::Vin;
use takt_stow::online::{Deck, Graph, Item};

/// Why an instance cannot be rebuilt against a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("instance is for scenario `{instance}`, the network is `{network}`")]
    ScenarioMismatch { instance: String, network: String },
    #[error("vehicle {vin}: {message}")]
    Vehicle { vin: String, message: String },
    #[error("voyage {voyage}: {message}")]
    Voyage { voyage: String, message: String },
    #[error("outage on {resource}: {message}")]
    Outage { resource: String, message: String },
}

fn bad(v: &VehicleState, message: impl Into<String>) -> RestoreError {
    RestoreError::Vehicle {
        vin: v.vin.clone(),
        message: message.into(),
    }
}

/// Which vehicles' bookings a sequencer may change: `Keep` rebuilds the
/// instance's bookings as they are; `Free(mask)` drops the voyage space and
/// inland departure of the vehicles marked `true` (in instance order) that
/// have not been loaded, and lets the policy route them again at `now`, in
/// order of promised date.
#[derive(Debug, Clone, Default)]
pub enum Rebook {
    #[default]
    Keep,
    Free(Vec<bool>),
}

impl Simulation {
    /// Rebuilds the world described by `inst` on `net` (compiled with the
    /// instance's volume scale), with `policy` deciding from `inst.now` on.
    /// Vehicles keep the instance's order: vehicle `i` of the instance is
    /// `sim.vehicles[i]`.
    pub fn from_instance(
        net: Network,
        inst: &Instance,
        policy: Box<dyn Policy>,
        rebook: &Rebook,
    ) -> Result<Simulation, RestoreError> {
        if net.name != inst.scenario {
            return Err(RestoreError::ScenarioMismatch {
                instance: inst.scenario.clone(),
                network: net.name.clone(),
            });
        }
        let now = inst.now;
        let mut sim = Simulation::new(
            net,
            policy,
            SimOptions {
                seed: 0,
                volume_scale: inst.volume_scale,
            },
        );
        sim.events = BinaryHeap::new();
        sim.counters = Default::default();
        sim.nominal = true;
        sim.record = false;
        sim.calls_known = true;
        sim.now = now;
        sim.restore_voyages(inst)?;
        for (svc, deps) in sim.net.inland.iter().zip(&mut sim.inland_deps) {
            for (d, dep) in deps.iter_mut().enumerate() {
                dep.departed = svc.departures[d] < now;
            }
        }
        for (t, term) in sim.net.import_terminals.iter().enumerate() {
            for (d, dep) in sim.delivery_deps[t].iter_mut().enumerate() {
                dep.departed = term.delivery_departures[d] < now;
            }
        }
        let free = |i: usize| match rebook {
            Rebook::Keep => false,
            Rebook::Free(mask) => mask.get(i).copied().unwrap_or(false),
        };
        for (i, vs) in inst.vehicles.iter().enumerate() {
            let v = sim.restore_vehicle(i, vs, free(i))?;
            // Space held is taken at once, so a vehicle whose deck class
            // the instance does not name (loaded, not yet sailed) takes one
            // with space left after the vehicles before it.
            if let Some(r) = v.route {
                let rt43 = sim.net.models[v.model].rt43;
                sim.voyages[r.voyage].space_left[v.tenant][r.deck] -= rt43;
            }
            sim.vehicles.push(v);
        }
        sim.restore_outages(inst)?;
        sim.restore_resources(inst)?;
        sim.schedule_voyage_events(now);
        // Vehicles to route again, most urgent first.
        let mut unrouted: Vec<usize> = (0..sim.vehicles.len())
            .filter(|&v| sim.vehicles[v].route.is_none() && sim.vehicles[v].delivered_at.is_none())
            .filter(|&v| sim.needs_route(v))
            .collect();
        unrouted.sort_by_key(|&v| (sim.vehicles[v].promised_by, v));
        for vid in unrouted {
            sim.route_vehicle(vid);
        }
        Ok(sim)
    }

    /// Whether a vehicle without a route still has to be sent to a voyage.
    fn needs_route(&self, vid: usize) -> bool {
        self.vehicles[vid]
            .last_stage()
            .is_some_and(|s| s < Stage::Loading)
    }

    fn restore_voyages(&mut self, inst: &Instance) -> Result<(), RestoreError> {
        let now = inst.now;
        for (vi, voyage) in self.net.voyages.iter().enumerate() {
            let calls: Vec<(Minute, Minute)> =
                voyage.calls.iter().map(|c| (c.berth, c.depart)).collect();
            self.voyages[vi].calls = calls;
        }
        for vt in &inst.voyages {
            let Some(vi) = self.net.voyage_index(&vt.voyage) else {
                return Err(RestoreError::Voyage {
                    voyage: vt.voyage.clone(),
                    message: "not in the network".into(),
                });
            };
            let sched = &self.net.voyages[vi].calls;
            if vt.calls.len() != sched.len()
                || vt
                    .calls
                    .iter()
                    .zip(sched)
                    .any(|(c, s)| self.net.location_index(&c.port) != Some(s.location))
            {
                return Err(RestoreError::Voyage {
                    voyage: vt.voyage.clone(),
                    message: "calls differ from the network's ports".into(),
                });
            }
            self.voyages[vi].calls = vt.calls.iter().map(|c| (c.berth, c.depart)).collect();
        }
        for v in &mut self.voyages {
            v.berthed = v.calls.iter().map(|&(berth, _)| berth < now).collect();
        }
        Ok(())
    }

    fn sim_step(&self, vs: &VehicleState, s: &Step) -> Result<SimStep, RestoreError> {
        let net = &self.net;
        let location = net
            .location_index(&s.location)
            .ok_or_else(|| bad(vs, format!("unknown location `{}`", s.location)))?;
        let res = match s.stage {
            Stage::Inland => Res::Inland(
                net.inland_index(&s.resource)
                    .ok_or_else(|| bad(vs, format!("unknown inland service `{}`", s.resource)))?,
            ),
            Stage::Voyage => Res::Voyage(
                net.voyage_index(&s.resource)
                    .ok_or_else(|| bad(vs, format!("unknown voyage `{}`", s.resource)))?,
            ),
            Stage::Delivery => Res::Delivery(
                net.import_terminal_at(location)
                    .ok_or_else(|| bad(vs, format!("`{}` is not an import port", s.location)))?,
            ),
            _ => Res::Pool(
                net.resource_index(&s.resource)
                    .ok_or_else(|| bad(vs, format!("unknown resource `{}`", s.resource)))?,
            ),
        };
        let deck = match &s.deck_class {
            None => None,
            Some(d) => Some(
                net.deck_classes
                    .iter()
                    .position(|c| &c.id == d)
                    .ok_or_else(|| bad(vs, format!("unknown deck class `{d}`")))?,
            ),
        };
        // An open stay is shown ending at `now`; in the world it is open (end == start).
        let open = matches!(s.stage, Stage::Released | Stage::Yard) && !s.done;
        Ok(SimStep {
            stage: s.stage,
            location,
            res,
            start: s.start,
            end: if open { s.start } else { s.end },
            departure: s.departure,
            deck,
        })
    }

    fn restore_vehicle(
        &self,
        id: usize,
        vs: &VehicleState,
        free: bool,
    ) -> Result<Vehicle, RestoreError> {
        let net = &self.net;
        let vin = Vin::parse(&vs.vin).map_err(|e| bad(vs, e.to_string()))?;
        let model = net
            .model_index(&vs.model)
            .ok_or_else(|| bad(vs, format!("unknown model `{}`", vs.model)))?;
        let tenant = net
            .tenant_index(&vs.tenant)
            .ok_or_else(|| bad(vs, format!("unknown tenant `{}`", vs.tenant)))?;
        let dealer = net
            .dealer_index(&vs.dealer)
            .ok_or_else(|| bad(vs, format!("unknown dealer `{}`", vs.dealer)))?;
        if vs.steps.is_empty() {
            return Err(bad(
                vs,
                "no steps: a vehicle in an instance has been released",
            ));
        }
        let steps = vs
            .steps
            .iter()
            .map(|s| self.sim_step(vs, s))
            .collect::<Result<Vec<_>, _>>()?;
        let step = |stage: Stage| steps.iter().find(|s| s.stage == stage);
        let loaded = step(Stage::Loading).is_some();
        // The export terminal: where the vehicle went, or where its booking goes.
        let inland_step = step(Stage::Inland).and_then(|s| match s.res {
            Res::Inland(si) => {
                let k = net.inland[si]
                    .departures
                    .binary_search(&s.departure.unwrap_or(s.start))
                    .ok()?;
                Some((si, k))
            }
            _ => None,
        });
        let booking = match &vs.inland_booking {
            None => None,
            Some((svc, dep)) => {
                let si = net
                    .inland_index(svc)
                    .ok_or_else(|| bad(vs, format!("unknown inland service `{svc}`")))?;
                let k = net.inland[si]
                    .departures
                    .binary_search(dep)
                    .map_err(|_| bad(vs, format!("`{svc}` has no departure at {dep}")))?;
                Some((si, k))
            }
        };
        let terminal = match inland_step.or(booking) {
            Some((si, _)) => Some(net.inland[si].terminal),
            None => step(Stage::PortArrival).and_then(|s| net.export_terminal_at(s.location)),
        };
        let keep = !free || loaded;
        let route = match (&vs.voyage, terminal) {
            (Some(voyage), Some(term)) if keep => {
                let vi = net
                    .voyage_index(voyage)
                    .ok_or_else(|| bad(vs, format!("unknown voyage `{voyage}`")))?;
                let vo = &net.voyages[vi];
                let call = vo
                    .call_at(net.export_terminals[term].location)
                    .filter(|&c| c < vo.n_export_calls)
                    .ok_or_else(|| bad(vs, format!("voyage `{voyage}` does not load there")))?;
                let discharge_call = vo
                    .call_at(net.dealers[dealer].port)
                    .filter(|&c| c >= vo.n_export_calls)
                    .ok_or_else(|| {
                        bad(
                            vs,
                            format!("voyage `{voyage}` does not call at the dealer's port"),
                        )
                    })?;
                let deck = match step(Stage::Voyage).and_then(|s| s.deck) {
                    Some(d) => d,
                    None => {
                        let m = &net.models[model];
                        m.deck_classes
                            .iter()
                            .copied()
                            .find(|&d| self.voyages[vi].space_left[tenant][d] + 1e-9 >= m.rt43)
                            .or_else(|| m.deck_classes.first().copied())
                            .ok_or_else(|| bad(vs, "model fits no deck class"))?
                    }
                };
                let inland = inland_step.or(booking);
                Some(Route {
                    inland,
                    terminal: term,
                    voyage: vi,
                    call,
                    discharge_call,
                    deck,
                })
            }
            (Some(_), None) if keep => {
                return Err(bad(
                    vs,
                    "holds voyage space but neither an inland departure nor an export port",
                ));
            }
            _ => {
                // No route (or a route to choose again): an inland step
                // already made stays in the history.
                None
            }
        };
        let staged_at = step(Stage::Yard).map(|s| s.start);
        Ok(Vehicle {
            id,
            vin,
            model,
            tenant,
            dealer,
            released_at: vs.released_at,
            promised_by: vs.promised_by,
            route,
            terminal,
            steps,
            holds: vs.holds.clone(),
            staged_at,
            loaded,
            rolls: vs.rolls,
            delivered_at: None,
            blocked: None,
            ticket: 0,
            queued: None,
        })
    }

    fn restore_outages(&mut self, inst: &Instance) -> Result<(), RestoreError> {
        let now = inst.now;
        for o in &inst.outages {
            let Some(r) = self.net.resource_index(&o.resource) else {
                return Err(RestoreError::Outage {
                    resource: o.resource.clone(),
                    message: "not in the network".into(),
                });
            };
            let Some(&pool) = self.pool_of_resource.get(&r) else {
                return Err(RestoreError::Outage {
                    resource: o.resource.clone(),
                    message: "not a pool with servers".into(),
                });
            };
            if o.from > now {
                // Announced for later: it starts when the server is next free.
                let minutes = o.to.since(o.from).max(1);
                for server in 0..(o.servers as usize).min(self.pools[pool].busy_until.len()) {
                    self.push(
                        o.from,
                        Ev::Outage {
                            pool,
                            server,
                            minutes,
                            known: true,
                        },
                    );
                }
                continue;
            }
            self.outages.push(o.clone());
            if o.to <= now {
                continue;
            }
            let p = &mut self.pools[pool];
            for _ in 0..o.servers {
                if let Some(s) = (0..p.down_until.len()).find(|&s| p.down_until[s] <= now) {
                    p.down_until[s] = o.to;
                }
            }
            self.wake(pool, o.to);
        }
        Ok(())
    }

    fn pool_of(&self, res: Res) -> Option<usize> {
        match res {
            Res::Pool(r) => self.pool_of_resource.get(&r).copied(),
            _ => None,
        }
    }

    /// Occupancy, bookings, work under way and queues from the vehicles' states.
    fn restore_resources(&mut self, inst: &Instance) -> Result<(), RestoreError> {
        let now = inst.now;
        let n = self.vehicles.len();
        // Space held and vehicles assigned or aboard.
        let mut aboard: HashMap<usize, Vec<(Minute, usize)>> = HashMap::new();
        for vid in 0..n {
            let v = &self.vehicles[vid];
            let Some(r) = v.route else { continue };
            let rt43 = self.net.models[v.model].rt43;
            let vo = &mut self.voyages[r.voyage];
            match v.step(Stage::Loading) {
                Some(l) => {
                    if v.step(Stage::Discharge).is_none() {
                        aboard.entry(r.voyage).or_default().push((l.start, vid));
                        vo.loaded_rt43 += rt43;
                    }
                    if v.step(Stage::Voyage).is_none() {
                        vo.assigned[r.call].push(vid);
                    }
                }
                None => vo.assigned[r.call].push(vid),
            }
        }
        for (vi, mut list) in aboard {
            list.sort();
            self.voyages[vi].aboard = list.into_iter().map(|(_, v)| v).collect();
        }
        self.restore_decks();
        // Certifications counted per model and Japanese year, for caps.
        for vid in 0..n {
            let v = &self.vehicles[vid];
            if let Some(s) = v.step(Stage::Certification) {
                let year = self.net.year_at(s.location, s.start);
                *self.cert_count.entry((v.model, year)).or_insert(0) += 1;
            }
        }
        let mut to_enqueue: Vec<(usize, usize, i64)> = Vec::new();
        for vid in 0..n {
            let v = &self.vehicles[vid];
            let last = *v.steps.last().expect("checked: steps not empty");
            let hold_until = v
                .holds
                .iter()
                .filter(|h| h.from <= now && now < h.to)
                .map(|h| (h.to, h.reason.clone()))
                .max();
            match last.stage {
                Stage::Released => {
                    let plant = self.net.models[v.model].plant;
                    self.plant_yard_used[plant] += 1;
                    if let Some((si, k)) = v.route.and_then(|r| r.inland) {
                        let class = self.net.models[v.model].inland_class;
                        let at = self.net.inland[si].departures[k];
                        if at < now {
                            return Err(bad(
                                &inst.vehicles[vid],
                                format!(
                                    "booked on a departure at {at}, before now, and still at the plant"
                                ),
                            ));
                        }
                        let dep = &mut self.inland_deps[si][k];
                        dep.by_class[class] += 1;
                        dep.vehicles.push(vid);
                        if !dep.scheduled {
                            dep.scheduled = true;
                            self.push(at, Ev::InlandDeparture { svc: si, dep: k });
                        }
                    }
                }
                Stage::Inland => {
                    let Res::Inland(si) = last.res else {
                        unreachable!()
                    };
                    let k = self.net.inland[si]
                        .departures
                        .binary_search(&last.departure.unwrap_or(last.start))
                        .map_err(|_| {
                            bad(
                                &inst.vehicles[vid],
                                "inland step names no scheduled departure",
                            )
                        })?;
                    let term = self.net.inland[si].terminal;
                    if last.end >= now {
                        let dep: &mut Departure = &mut self.inland_deps[si][k];
                        dep.departed = true;
                        dep.vehicles.push(vid);
                        if dep.arrival.is_none() {
                            dep.arrival = Some(last.end);
                            self.push(last.end, Ev::InlandArrival { svc: si, dep: k });
                        }
                    } else {
                        let pool =
                            self.pool_of_resource[&self.net.export_terminals[term].ramp.resource];
                        to_enqueue.push((pool, vid, last.end.0));
                    }
                }
                Stage::PortArrival
                | Stage::Processing
                | Stage::Loading
                | Stage::Discharge
                | Stage::Certification => {
                    let pool = self.pool_of(last.res).ok_or_else(|| {
                        bad(&inst.vehicles[vid], "step on a resource that is not a pool")
                    })?;
                    if last.stage == Stage::Processing {
                        let t = self.pools[pool].terminal.expect("export pool");
                        self.export_yard_used[t] += 1;
                    }
                    if last.end >= now {
                        // Under way: a server is busy until the step ends,
                        // one that is not down (outages are restored first,
                        // and the world takes a server down only when it is
                        // free, so the work was not on a server down now).
                        let p = &mut self.pools[pool];
                        let free = |s: &usize| p.busy_until[*s] <= now;
                        let server = (0..p.busy_until.len())
                            .find(|s| free(s) && p.down_until[*s] <= now)
                            .or_else(|| (0..p.busy_until.len()).find(free))
                            .unwrap_or_else(|| {
                                (0..p.busy_until.len())
                                    .min_by_key(|&s| p.busy_until[s])
                                    .expect("pools have servers")
                            });
                        p.busy_until[server] = p.busy_until[server].max(last.end);
                        self.push(last.end, Ev::ServiceEnd { pool, server, vid });
                        continue;
                    }
                    self.after_service(vid, pool, last, hold_until, &mut to_enqueue);
                }
                Stage::Yard => {
                    let t = self.net.export_terminal_at(last.location).ok_or_else(|| {
                        bad(&inst.vehicles[vid], "yard step not at an export port")
                    })?;
                    self.export_yard_used[t] += 1;
                }
                Stage::Voyage => {
                    if let Some(r) = v.route
                        && self.voyages[r.voyage].berthed[r.discharge_call]
                    {
                        let (berth, _) = self.voyages[r.voyage].calls[r.discharge_call];
                        let it = self
                            .net
                            .import_terminal_at(
                                self.net.voyages[r.voyage].calls[r.discharge_call].location,
                            )
                            .expect("validated");
                        if let Some(s) = self.vehicles[vid].steps.last_mut() {
                            s.end = berth;
                        }
                        let pool = self.pool_of_resource
                            [&self.net.import_terminals[it].discharge.resource];
                        to_enqueue.push((pool, vid, berth.0));
                    }
                }
                Stage::Delivery => {
                    let end = last.end.max(now);
                    self.push(end, Ev::Delivered { vid });
                }
            }
        }
        // Staged vehicles whose call has berthed load in stow order.
        for vi in 0..self.voyages.len() {
            for c in 0..self.net.voyages[vi].n_export_calls {
                if !self.voyages[vi].berthed[c] || self.voyages[vi].calls[c].1 < now {
                    continue;
                }
                let mut list: Vec<usize> = self.voyages[vi].assigned[c]
                    .iter()
                    .copied()
                    .filter(|&v| self.vehicles[v].staged_at.is_some() && !self.vehicles[v].loaded)
                    .collect();
                if list.is_empty() {
                    continue;
                }
                {
                    let mut refs: Vec<&Vehicle> = list.iter().map(|&v| &self.vehicles[v]).collect();
                    self.policy.0.load_order(&self.net, &mut refs);
                    refs.sort_by_key(|v| Reverse(v.route.map(|r| r.discharge_call).unwrap_or(0)));
                    list = refs.iter().map(|v| v.id).collect();
                }
                let term = self
                    .net
                    .export_terminal_at(self.net.voyages[vi].calls[c].location)
                    .expect("validated");
                let pool = self.pool_of_resource[&self.net.export_terminals[term].loading.resource];
                let base = self.voyages[vi].calls[c].0.0 * 100_000;
                // In the order of the call's stowage plan; rehandling that
                // plan asks for before them is not replayed.
                let work = self.stow(vi, c, &list);
                let order = work.into_iter().filter_map(|w| match w {
                    Work::Vehicle(v) => Some(v),
                    Work::Rehandle(_) => None,
                });
                for (i, vid) in order.enumerate() {
                    to_enqueue.push((pool, vid, base + i as i64));
                }
            }
        }
        // Discharge: last loaded, first off.
        let mut discharge: Vec<(usize, usize, i64)> = Vec::new();
        to_enqueue.retain(|&(pool, vid, base)| {
            if self.pools[pool].kind == ResourceKind::Discharge {
                let r = self.vehicles[vid].route.expect("at sea on a route");
                let pos = self.voyages[r.voyage]
                    .aboard
                    .iter()
                    .position(|&x| x == vid)
                    .unwrap_or(0);
                discharge.push((pool, vid, base * 100_000 - pos as i64));
                false
            } else {
                true
            }
        });
        to_enqueue.extend(discharge);
        to_enqueue.sort_by_key(|&(_, vid, priority)| (priority, vid));
        for (pool, vid, priority) in to_enqueue {
            match self.pools[pool].kind {
                ResourceKind::Loading | ResourceKind::Discharge => {
                    self.enqueue_with(pool, vid, priority)
                }
                _ => self.enqueue(pool, vid),
            }
        }
        // Routes whose cutoff or departure has passed are rolled.
        for vid in 0..n {
            let v = &self.vehicles[vid];
            let Some(r) = v.route else { continue };
            if v.loaded {
                continue;
            }
            let call = self.net.voyages[r.voyage].calls[r.call];
            let cutoff = call
                .berth
                .plus(-self.net.export_terminals[r.terminal].cutoff_minutes);
            let missed_cutoff = v.staged_at.is_none_or(|s| s > cutoff) && cutoff < now;
            let gone = self.voyages[r.voyage].calls[r.call].1 < now;
            if missed_cutoff || gone {
                self.roll(vid, "missed its voyage before the instance");
            }
        }
        Ok(())
    }

    /// The decks of voyages under way: the vehicles on board (not yet at
    /// a discharge call that has berthed) stowed again call by call in
    /// loading order. Where the original world had them may differ (its
    /// rehandling so far is not known to an instance).
    fn restore_decks(&mut self) {
        for vi in 0..self.voyages.len() {
            let last = self.net.voyages[vi].calls.len() - 1;
            if !self.voyages[vi].berthed[0] || self.voyages[vi].berthed[last] {
                continue;
            }
            let graph = self.net.voyages[vi].deck_graph.clone();
            let g = Graph {
                adjacent: &graph.adjacent,
                slot_class: &graph.slot_class,
                gate_distance: &graph.gate_distance,
            };
            let mut deck = Deck::new(graph.n_nodes);
            let mut steps = Vec::new();
            for c in 0..self.net.voyages[vi].n_export_calls {
                let items: Vec<Item> = self.voyages[vi]
                    .aboard
                    .iter()
                    .filter_map(|&vid| {
                        let r = self.vehicles[vid].route?;
                        (r.call == c && !self.voyages[vi].berthed[r.discharge_call]).then_some(
                            Item {
                                id: vid as u32,
                                leave: r.discharge_call,
                                class: r.deck,
                            },
                        )
                    })
                    .collect();
                let unplaced = deck.load(&g, &items, &mut steps);
                self.unstowed += unplaced.len() as u64;
            }
            self.voyages[vi].deck = Some(Box::new(deck));
        }
    }

    /// What a vehicle whose last pool step has ended does next.
    fn after_service(
        &mut self,
        vid: usize,
        pool: usize,
        last: SimStep,
        hold_until: Option<(Minute, String)>,
        to_enqueue: &mut Vec<(usize, usize, i64)>,
    ) {
        let now = self.now;
        match last.stage {
            Stage::PortArrival => {
                let t = self.pools[pool].terminal.expect("export pool");
                match hold_until {
                    Some((until, _)) => self.push(until.max(now), Ev::HoldEnd { vid }),
                    None => {
                        let proc = self.pool_of_resource
                            [&self.net.export_terminals[t].processing.resource];
                        to_enqueue.push((proc, vid, last.end.0));
                    }
                }
            }
            Stage::Processing => {
                // Staging opens when processing ends.
                let yard =
                    self.net.export_terminals[self.pools[pool].terminal.expect("export")].yard;
                let v = &mut self.vehicles[vid];
                v.steps.push(SimStep {
                    stage: Stage::Yard,
                    location: last.location,
                    res: Res::Pool(yard),
                    start: last.end,
                    end: last.end,
                    departure: None,
                    deck: None,
                });
                v.staged_at = Some(last.end);
            }
            Stage::Loading => {}
            Stage::Discharge => {
                let m = self.vehicles[vid].model;
                let it = self.pools[pool].import_terminal.expect("import pool");
                let cert_pool =
                    self.pool_of_resource[&self.net.import_terminals[it].certification.resource];
                match (self.net.models[m].cert.approved_from, hold_until) {
                    (None, _) => self.vehicles[vid].blocked = Some("model not approved"),
                    (_, Some((until, _))) => {
                        self.vehicles[vid].blocked = Some("on a certification hold");
                        self.push(
                            until.max(now),
                            Ev::CertRelease {
                                pool: cert_pool,
                                vid,
                            },
                        );
                    }
                    (Some(at), None) if at > now => {
                        self.vehicles[vid].blocked = Some("awaiting the model's approval");
                        self.push(
                            at,
                            Ev::CertRelease {
                                pool: cert_pool,
                                vid,
                            },
                        );
                    }
                    (Some(_), None) => to_enqueue.push((cert_pool, vid, last.end.0)),
                }
            }
            Stage::Certification => match hold_until {
                Some((until, _)) => self.push(until.max(now), Ev::CertCheckCleared { vid }),
                None => self.book_delivery(vid),
            },
            _ => {}
        }
    }
}
