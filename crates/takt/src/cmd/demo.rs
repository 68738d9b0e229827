//! `takt demo`: the main job, live. It starts the HTTP API and dashboard on
//! the built-in scenario (or `--scenario`) over an embedded SQLite database
//! (a temporary file, or `--db`), runs the simulated network in accelerated
//! time, posts every milestone to its own `POST /v1/events` with a planner
//! token (the capture path real systems use: validation, the store's
//! ingest, the audit log, the live feed), re-plans (`Simulation::plan`, the
//! `--policy`'s decisions plus projection), forecasts ETAs (Monte Carlo
//! with durations learned from `--eta-history-days` of simulated history
//! and the run so far) and refreshes a vehicle's
//! ETA from that forecast's runs whenever a milestone touches it
//! (`takt_sim::refresh::EtaBook`), and publishes the live view
//! the dashboard reads. It prints the dashboard URL and a viewer token and
//! runs until stopped.
//!
//! When neither standard input nor standard output is a terminal (a
//! script, CI) and no `--speed` is given, it runs as fast as it can and
//! stops after the simulated days, as `--speed 0 --exit-after` would, and
//! prints the summary.

use crate::load::ScenarioArgs;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use takt_core::Minute;
use takt_core::network::Network;
use takt_core::plan::Stage;
use takt_server::live::{Eta, Live, LiveHandle, Quantiles};
use takt_server::{AppState, Shutdown};
use takt_sim::forecast::{self, Draws, ForecastOptions, VehicleForecast};
use takt_sim::refresh::EtaBook;
use takt_sim::{Milestone, SimOptions, Simulation, Summary};
use takt_store::auth::{AuthStore, Role};
use takt_store::{Store, TenantId};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Simulated days (default: the scenario's `days`).
    #[arg(long)]
    pub days: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per wall-clock second (default 3600: an hour a
    /// second); 0 runs as fast as the machine can.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Who decides: takt (the sequencer re-plans once a simulated day),
    /// fifo (the status quo) or jit.
    #[arg(long, default_value = "takt")]
    pub policy: String,
    /// Database (default: a new SQLite file in a temporary directory).
    #[arg(long)]
    pub db: Option<String>,
    /// Address of the API and dashboard (if the default port is taken, any free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Stop after the simulated days (default: keep serving until Ctrl-C).
    #[arg(long)]
    pub exit_after: bool,
    /// Print only the dashboard URL and the token (for scripts; no browser is ever opened).
    #[arg(long, alias = "no-browser")]
    pub quiet: bool,
    /// Monte Carlo runs per ETA forecast (0: no ETAs).
    #[arg(long, default_value_t = 16)]
    pub eta_samples: usize,
    /// Simulated hours between full ETA forecasts (in between, each
    /// milestone refreshes its vehicle's ETA from the last forecast's runs).
    #[arg(long, default_value_t = 12)]
    pub eta_every_hours: i64,
    /// Days of earlier operation the ETA models learn from before the run
    /// (the scenario simulated with FIFO and a seed of its own); 0: from
    /// the run alone.
    #[arg(long, default_value_t = 365)]
    pub eta_history_days: u32,
    /// Simulated minutes between re-plans (a re-plan is also made when
    /// events arrive and a planner asks for one).
    #[arg(long, default_value_t = 60)]
    pub replan_every_minutes: i64,
    #[command(flatten)]
    pub server: super::serve::ServerArgs,
}

/// What the demo's loop publishes: a plan (all vehicles, delivered ones
/// included, so a VIN answers after delivery) with the latest ETAs.
fn publish(
    live: &LiveHandle,
    net: &Arc<Network>,
    sim: &Simulation,
    etas: &HashMap<String, Eta>,
) -> Duration {
    let t = Instant::now();
    let plan = sim.plan(true);
    live.publish(Live::new(net.clone(), plan, etas.clone()));
    t.elapsed()
}

/// A forecast's quantiles as the live view shows them.
fn to_eta(f: &VehicleForecast) -> Eta {
    let q = |x: [Minute; 3]| Quantiles {
        p10: x[0],
        p50: x[1],
        p90: x[2],
    };
    Eta {
        stages: f.stages.iter().map(|&(s, x)| (s, q(x))).collect(),
        delivered: f.delivered.map(q),
        delivered_share: f.delivered_share,
    }
}

/// The demo's ETAs: a full forecast (Monte Carlo with durations learned
/// from `--eta-history-days` of history and the run so far) every
/// `--eta-every-hours`, its runs kept in an
/// [`EtaBook`], and between forecasts every milestone refreshes the ETA of
/// the vehicle it is about from that vehicle's runs (a delivered vehicle
/// loses its ETA).
#[derive(Default)]
struct Etas {
    /// What the history taught, pooled with the run's observations at
    /// every forecast.
    history: Option<takt_sim::forecast::Learned>,
    book: EtaBook,
    /// The book's vehicles by VIN.
    vids: HashMap<String, usize>,
    by_vin: HashMap<String, Eta>,
    /// ETAs refreshed from the book since the start.
    refreshed: usize,
}

impl Etas {
    /// A new full forecast replaces the book and every ETA.
    fn forecast(&mut self, sim: &Simulation, samples: usize, seed: u64) {
        let targets = sim.pipeline();
        if samples == 0 || targets.is_empty() {
            self.book = EtaBook::default();
            self.vids.clear();
            self.by_vin.clear();
            return;
        }
        let draws = Draws::Learned(Arc::new(sim.learned_with(self.history.as_ref())));
        let options = ForecastOptions {
            samples,
            seed,
            horizon_days: 90,
            threads: 1,
        };
        let runs = forecast::sample_runs(sim, &draws, options, &targets);
        self.book = EtaBook::new(sim.now, &targets, &runs, |v| {
            sim.vehicles[v].route.map(|r| r.voyage)
        });
        self.vids = targets
            .iter()
            .map(|&v| (sim.vehicles[v].vin.to_string(), v))
            .collect();
        let book = &self.book;
        self.by_vin = self
            .vids
            .iter()
            .filter_map(|(vin, &v)| Some((vin.clone(), to_eta(&book.forecast(v)?))))
            .collect();
    }

    /// Conditions the vehicle's runs on the milestone and replaces its ETA.
    fn milestone(&mut self, m: &Milestone) {
        let Some(&vid) = self.vids.get(&m.vin) else {
            return;
        };
        if self.book.milestone(vid, &m.milestone, m.at).vehicles == 0 {
            return;
        }
        match self.book.forecast(vid) {
            Some(f) => {
                self.by_vin.insert(m.vin.clone(), to_eta(&f));
            }
            None => {
                self.by_vin.remove(&m.vin);
                self.vids.remove(&m.vin);
            }
        }
        self.refreshed += 1;
    }
}

/// One POST of takt JSON Lines to the demo's own server; the answer's
/// status and body.
fn post_events(addr: SocketAddr, token: &str, body: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let req = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| anyhow!("no HTTP status in the answer"))?;
    let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    Ok((status, body))
}

/// Posts milestones in batches of at most 5,000 (all or nothing each;
/// a batch that fails at the transport is resent: stored events answer
/// `duplicate`).
fn capture(addr: SocketAddr, token: &str, milestones: &[Milestone]) -> Result<usize> {
    let mut stored = 0;
    for chunk in milestones.chunks(5_000) {
        let mut body = String::new();
        for m in chunk {
            body.push_str(&serde_json::to_string(m)?);
            body.push('\n');
        }
        let mut tries = 0;
        loop {
            tries += 1;
            match post_events(addr, token, &body) {
                Ok((200, answer)) => {
                    let v: serde_json::Value = serde_json::from_str(&answer)?;
                    stored += v["n_stored"].as_u64().unwrap_or(0) as usize;
                    break;
                }
                Ok((status @ (429 | 503), _)) if tries < 50 => {
                    let _ = status;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Ok((status, answer)) => {
                    bail!("the server refused a batch ({status}): {answer:.400}")
                }
                Err(_) if tries < 50 => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(stored)
}

pub fn run(args: Args) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal() || std::io::stdout().is_terminal();
    // A script that gives no speed gets the run at full speed, then the summary.
    let (speed, exit_after) = match args.speed {
        Some(s) => (s, args.exit_after),
        None if interactive => (3600.0, args.exit_after),
        None => (0.0, true),
    };
    anyhow::ensure!(speed >= 0.0, "--speed must be 0 or positive");
    // `takt`: the sequencer re-plans the pipeline once a simulated day.
    let (mut sequencer, policy_box) = super::policy_for(&args.policy, args.seed)?;
    let mut replanned_day = 0;
    let (scenario, net) = crate::load::network(&args.scenario, args.days)?;
    let net_shared = Arc::new(net.clone());
    let (db, _tmp) = match &args.db {
        Some(db) => (db.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("takt-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let db = dir.join("takt.db");
            let _ = std::fs::remove_file(&db);
            (db.to_string_lossy().into_owned(), Some(TempDir(dir)))
        }
    };
    let store = Store::open(&db).with_context(|| format!("opening {db}"))?;
    let auth = AuthStore::open(&db).with_context(|| format!("opening {db}"))?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let tenant_ids: Vec<String> = net.tenants.iter().map(|t| t.id.clone()).collect();
    let mut viewer = Vec::new();
    let mut planner = HashMap::new();
    for t in &tenant_ids {
        let tenant = TenantId::parse(t)?;
        let (_, v) = takt_server::auth::issue(&auth, &tenant, Role::Viewer, "demo viewer", now_ms)?;
        let (_, p) =
            takt_server::auth::issue(&auth, &tenant, Role::Planner, "demo simulator", now_ms)?;
        viewer.push((t.clone(), v));
        planner.insert(t.clone(), p);
    }
    // The server's receipt clock is the simulated clock.
    let sim_now = Arc::new(AtomicI64::new(net.start.timestamp().as_millisecond()));
    let clock_now = sim_now.clone();
    let live = Arc::new(LiveHandle::new(Live::empty(net_shared.clone(), net.start)));
    let state = args
        .server
        .apply(AppState::new(store, auth, live.clone()))
        .with_reader(Store::open(&db).with_context(|| format!("opening {db}"))?)
        .with_reader(Store::open(&db).with_context(|| format!("opening {db}"))?)
        .with_analyst(Store::open(&db).with_context(|| format!("opening {db}"))?)
        .with_planner()
        .with_clock(Arc::new(move || {
            jiff::Timestamp::from_millisecond(clock_now.load(Ordering::SeqCst))
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        }));
    let addr = if std::net::TcpListener::bind(args.addr).is_ok() {
        args.addr
    } else {
        SocketAddr::new(args.addr.ip(), 0)
    };
    let stop = Shutdown::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            takt_server::run_until(
                addr,
                state,
                move |a| {
                    let _ = tx.send(a);
                },
                stop,
            )
        })
    };
    let Ok(bound) = rx.recv() else {
        return match server.join() {
            Ok(Err(e)) => Err(e.into()),
            _ => Err(anyhow!("the server did not start")),
        };
    };
    let days = net.end.since(net.start) / Minute::DAY;
    if !args.quiet {
        println!(
            "takt demo — scenario {} ({}), {days} simulated days from {}, policy {}, seed {}, {}",
            net.name,
            scenario.scenario.description,
            net.start,
            args.policy,
            args.seed,
            if speed == 0.0 {
                "as fast as possible".to_string()
            } else {
                format!("{speed}× real time")
            }
        );
        println!("database: {db}");
        println!("dashboard: http://{bound}/  (Ctrl-C stops)");
    } else {
        println!("dashboard: http://{bound}/");
    }
    for (t, v) in &viewer {
        if args.quiet {
            println!("{v}");
        } else {
            println!("viewer token for tenant {t} (paste it into the dashboard):\n{v}");
        }
    }
    std::io::stdout().flush()?;

    let mut sim = Simulation::new(
        net,
        policy_box,
        SimOptions {
            seed: args.seed,
            volume_scale: args.scenario.volume_scale,
        },
    );
    let start = sim.net.start;
    let end = sim.net.end;
    let mut etas = Etas {
        history: if args.eta_samples > 0 {
            super::eta::history_learned(&args.scenario, args.eta_history_days, args.seed)?
        } else {
            None
        },
        ..Etas::default()
    };
    let mut last_plan = Minute(i64::MIN / 4);
    let mut last_eta = Minute(i64::MIN / 4);
    let mut last_plan_wall = Instant::now() - Duration::from_secs(3600);
    let wall0 = Instant::now();
    let tick = Duration::from_millis(250);
    let (mut n_events, mut n_plans) = (0usize, 0usize);
    let mut plan_time = Duration::ZERO;
    let mut finished_reported = false;
    loop {
        if server.is_finished() {
            break; // Ctrl-C or SIGTERM stopped the server.
        }
        let target = if speed == 0.0 {
            sim.now.plus(6 * Minute::HOUR).min(end)
        } else {
            let simulated = wall0.elapsed().as_secs_f64() * speed / 60.0;
            start.plus(simulated as i64).min(end)
        };
        let advanced = target > sim.now;
        if advanced {
            match &mut sequencer {
                // The sequencer repairs its plan at every disruption on the way.
                Some(seq) => {
                    seq.run_until(&mut sim, target, &|| 0.0)
                        .map_err(|e| anyhow!("repairing: {e}"))?;
                }
                None => sim.run_until(target),
            }
            if let Some(seq) = &mut sequencer {
                let day = sim.now.since(start) / Minute::DAY;
                if day > replanned_day {
                    replanned_day = day;
                    seq.replan(&mut sim)
                        .map_err(|e| anyhow!("re-planning on day {day}: {e}"))?;
                }
            }
            sim_now.store(sim.now.timestamp().as_millisecond(), Ordering::SeqCst);
            let ms = sim.drain_milestones();
            for m in &ms {
                etas.milestone(m);
            }
            let mut by_tenant: HashMap<&str, Vec<Milestone>> = HashMap::new();
            for m in ms {
                let t = tenant_ids
                    .iter()
                    .find(|t| **t == m.tenant)
                    .map(String::as_str)
                    .unwrap_or_default();
                by_tenant.entry(t).or_default().push(m);
            }
            for (t, ms) in by_tenant {
                let token = planner
                    .get(t)
                    .ok_or_else(|| anyhow!("a milestone of unknown tenant `{t}`"))?;
                n_events += capture(bound, token, &ms)?;
            }
        }
        let replan_asked = live.take_replan_request();
        let plan_due = sim.now.since(last_plan) >= args.replan_every_minutes
            && last_plan_wall.elapsed()
                >= Duration::from_millis(if speed == 0.0 { 2_000 } else { 1_000 });
        if replan_asked || plan_due || (sim.now >= end && last_plan < sim.now) {
            if args.eta_samples > 0
                && sim.now.since(last_eta) >= args.eta_every_hours * Minute::HOUR
            {
                etas.forecast(&sim, args.eta_samples, args.seed ^ sim.now.0 as u64);
                last_eta = sim.now;
            }
            plan_time += publish(&live, &net_shared, &sim, &etas.by_vin);
            n_plans += 1;
            last_plan = sim.now;
            last_plan_wall = Instant::now();
        }
        if sim.now >= end {
            if !finished_reported {
                finished_reported = true;
                if !args.quiet {
                    println!(
                        "takt demo: {days} simulated days done in {:.1} s: {n_events} events captured, {n_plans} plans published ({:.0} ms each on average), {} ETAs refreshed by milestones between forecasts",
                        wall0.elapsed().as_secs_f64(),
                        plan_time.as_secs_f64() * 1000.0 / n_plans.max(1) as f64,
                        etas.refreshed
                    );
                }
                if exit_after {
                    break;
                }
                if !args.quiet {
                    println!(
                        "takt demo: still serving the final state at http://{bound}/ (Ctrl-C stops)"
                    );
                }
            }
            std::thread::sleep(tick);
            continue;
        }
        if speed > 0.0 && !advanced {
            std::thread::sleep(tick);
        } else if speed > 0.0 {
            std::thread::sleep(tick.saturating_sub(Duration::from_millis(1)));
        }
    }
    stop.trigger();
    match server.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => bail!("the server thread panicked"),
    }
    if exit_after && !args.quiet {
        let summary = Summary::of(&sim, args.seed);
        println!();
        print_summary(&scenario.scenario.description, &summary, &sim);
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the demo's temporary database directory at the end.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn print_summary(description: &str, s: &Summary, sim: &Simulation) {
    let days = s.end.since(s.start) / takt_core::Minute::DAY;
    println!("takt demo — scenario {} ({description})", s.scenario);
    println!(
        "{days} simulated days from {} to {}, policy {}, seed {}\n",
        s.start, s.end, s.policy, s.seed
    );
    println!("  vehicles released        {:>8}", s.vehicles_released);
    println!("  vehicles delivered       {:>8}", s.vehicles_delivered);
    println!("  in the pipeline          {:>8}", s.vehicles_in_pipeline);
    println!(
        "  on time (by promise)     {:>7.1}%",
        s.on_time_rate * 100.0
    );
    println!(
        "  lead time, days p50/p90  {:>5.1} / {:.1}",
        s.lead_time_days.p50, s.lead_time_days.p90
    );
    println!(
        "  port dwell, hours mean   {:>8.1}",
        s.port_dwell_hours_mean
    );
    println!(
        "  vessel utilization       {:>7.1}%  ({} voyages departed)",
        s.vessel_utilization * 100.0,
        s.voyages_departed
    );
    println!("  vehicles rolled          {:>8}", s.vehicles_rolled);
    println!(
        "  disruptions              {} inland delays, {} vessel delays, {} station outages, {} holds",
        s.disruptions.inland_delays,
        s.disruptions.vessel_delays,
        s.disruptions.station_outages,
        s.disruptions.holds_placed
    );
    println!(
        "\n  {:<15} {:>10} {:>10} {:>8}",
        "stage", "p50 hours", "p90 hours", "n"
    );
    for stage in Stage::ALL {
        if let Some(q) = s.dwell_hours.get(stage.name()) {
            println!(
                "  {:<15} {:>10.1} {:>10.1} {:>8}",
                stage.name(),
                q.p50,
                q.p90,
                q.n
            );
        }
    }
    println!(
        "\n  {:<12} {:>9} {:>10} {:>8} {:>14}",
        "model", "released", "delivered", "on time", "lead days p50"
    );
    for m in &s.by_model {
        println!(
            "  {:<12} {:>9} {:>10} {:>7.1}% {:>14.1}",
            m.model,
            m.released,
            m.delivered,
            m.on_time_rate * 100.0,
            m.lead_time_days.p50
        );
    }
    // One delivered vehicle's journey, in local time at each place.
    // The first delivered vehicle, or else the one furthest along.
    let shown = sim
        .vehicles
        .iter()
        .find(|v| v.delivered_at.is_some() && v.rolls == 0)
        .or_else(|| {
            sim.vehicles
                .iter()
                .max_by_key(|v| (v.steps.len(), std::cmp::Reverse(v.id)))
        });
    if let Some(v) = shown {
        let net = &sim.net;
        println!(
            "\n  journey of {} ({}, to {}), local times:",
            v.vin, net.models[v.model].name, net.dealers[v.dealer].name
        );
        for step in &v.steps {
            let tz = &net.locations[step.location].tz;
            println!(
                "    {:<14} {:<8} {}",
                step.stage.name(),
                net.locations[step.location].id,
                step.start.local(tz)
            );
        }
        if let Some(d) = v.delivered_at {
            println!(
                "    {:<14} {:<8} {}",
                "delivered",
                net.dealers[v.dealer].id,
                d.local(&net.dealers[v.dealer].tz)
            );
        }
    }
}
