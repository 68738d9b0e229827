//! `takt network`: the compiled network as JSON, for solvers outside takt
//! (the CP-SAT peer in `bench/cpsat/`). Everything a plan is checked
//! against: calendars in UTC with server counts, service minutes,
//! departures with capacities, voyages with calls and booked space,
//! certification approvals and caps, objective weights. The format is
//! documented in docs/network-json.md.

use crate::load::{self, ScenarioArgs};
use anyhow::Result;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use takt_core::Minute;
use takt_core::network::{Calendar, Network, Pool};
use takt_sim::dist::mean_minutes;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Simulated days to compile for (default: the scenario's `days`).
    #[arg(long, conflicts_with = "at")]
    pub days: Option<u32>,
    /// Compile for the days up to this instant (RFC 3339), as `takt check`
    /// does for a plan made at it (e.g. an instance's `now`).
    #[arg(long, value_name = "INSTANT")]
    pub at: Option<String>,
    /// JSON file to write (see docs/network-json.md).
    #[arg(long, value_name = "FILE")]
    pub json: PathBuf,
}

fn calendar(c: &Calendar) -> Value {
    json!({
        "always_open": c.always_open,
        "full": c.full,
        "windows": c.windows.iter().map(|&(s, e, n)| json!([s, e, n])).collect::<Vec<_>>(),
    })
}

fn pool(net: &Network, p: &Pool) -> Value {
    json!({
        "resource": net.resources[p.resource].id,
        "count": p.count,
        "minutes_per_vehicle": p.minutes_per_vehicle,
        "calendar": calendar(&p.calendar),
    })
}

/// Per inland class id, from a vector indexed by class.
fn by_class(net: &Network, v: &[u32]) -> Value {
    net.inland_classes
        .iter()
        .zip(v)
        .map(|(k, &n)| (k.clone(), json!(n)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The compiled network as JSON.
pub fn to_json(net: &Network) -> Value {
    let loc = |i: usize| net.locations[i].id.clone();
    let w = &net.objective;
    json!({
        "name": net.name,
        "start": net.start,
        "end": net.end,
        "horizon_end": net.end.plus(takt_core::network::PLANNING_TAIL_DAYS * Minute::DAY),
        "volume_scale": net.volume_scale,
        "rt43_area_m2": net.rt43_area_m2,
        "tenants": net.tenants.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        "locations": net.locations.iter().map(|l| json!({
            "id": l.id,
            "kind": l.kind.name(),
            "time_zone": l.tz.iana_name(),
        })).collect::<Vec<_>>(),
        "deck_classes": net.deck_classes.iter().map(|d| json!({
            "id": d.id, "clearance_mm": d.clearance_mm,
        })).collect::<Vec<_>>(),
        "inland_classes": net.inland_classes,
        "models": net.models.iter().map(|m| json!({
            "id": m.id,
            "tenant": net.tenants[m.tenant].id,
            "plant": loc(net.plants[m.plant].location),
            "height_mm": m.height_mm,
            "rt43": m.rt43,
            "inland_class": net.inland_classes[m.inland_class],
            "processing_minutes": m.processing_minutes,
            "promised_lead_minutes": m.promised_lead_minutes,
            "deck_classes": m.deck_classes.iter().map(|&d| net.deck_classes[d].id.clone()).collect::<Vec<_>>(),
            "cert_route": net.cert_routes[m.cert.route].id,
            "cert_approved_from": m.cert.approved_from,
            "cert_annual_cap": m.cert.annual_cap,
            "certification_minutes": net.import_terminals.iter().map(|t| {
                (loc(t.location), json!(m.certification_minutes(t.certification.minutes_per_vehicle)))
            }).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "plants": net.plants.iter().map(|p| json!({
            "location": loc(p.location),
            "yard": net.resources[p.yard].id,
            "yard_slots": p.yard_slots,
        })).collect::<Vec<_>>(),
        "inland_services": net.inland.iter().map(|s| json!({
            "id": s.id,
            "mode": match s.mode { takt_core::scenario::Mode::Rail => "rail", takt_core::scenario::Mode::Truck => "truck" },
            "from": loc(s.from),
            "to": loc(s.to),
            "departures": s.departures,
            "units_per_departure": s.units_per_departure,
            "vehicles_per_unit": by_class(net, &s.vehicles_per_unit),
            "transit_mean_minutes": mean_minutes(&s.transit),
            "cost_per_vehicle_usd": s.cost_per_vehicle_usd,
        })).collect::<Vec<_>>(),
        "export_terminals": net.export_terminals.iter().map(|t| json!({
            "location": loc(t.location),
            "ramp": pool(net, &t.ramp),
            "processing": pool(net, &t.processing),
            "yard": net.resources[t.yard].id,
            "yard_slots": t.yard_slots,
            "loading": pool(net, &t.loading),
            "cutoff_minutes": t.cutoff_minutes,
        })).collect::<Vec<_>>(),
        "import_terminals": net.import_terminals.iter().map(|t| json!({
            "location": loc(t.location),
            "discharge": pool(net, &t.discharge),
            "certification": pool(net, &t.certification),
            "delivery_departures": t.delivery_departures,
            "trucks_per_departure": t.trucks_per_departure,
            "vehicles_per_truck": by_class(net, &t.vehicles_per_truck),
        })).collect::<Vec<_>>(),
        "voyages": net.voyages.iter().map(|v| json!({
            "id": v.id,
            "service": v.service,
            "calls": v.calls.iter().map(|c| json!({
                "port": loc(c.location), "berth": c.berth, "depart": c.depart,
            })).collect::<Vec<_>>(),
            "n_export_calls": v.n_export_calls,
            "booked_rt43": v.booked.iter().enumerate().map(|(t, decks)| {
                (net.tenants[t].id.clone(), decks.iter().enumerate().map(|(d, &x)| {
                    (net.deck_classes[d].id.clone(), json!(x))
                }).collect::<serde_json::Map<_, _>>().into())
            }).collect::<serde_json::Map<String, Value>>(),
            "capacity_ceu": v.capacity_ceu,
        })).collect::<Vec<_>>(),
        "dealers": net.dealers.iter().map(|d| json!({
            "id": d.id,
            "tenant": net.tenants[d.tenant].id,
            "port": loc(d.port),
            "delivery_minutes": d.delivery_minutes,
        })).collect::<Vec<_>>(),
        "resources": net.resources.iter().map(|r| json!({
            "id": r.id,
            "kind": r.kind.name(),
            "location": loc(r.location),
            "calendar": calendar(&r.calendar),
        })).collect::<Vec<_>>(),
        "objective": {
            "lateness_usd_per_vehicle_day": w.lateness_usd_per_vehicle_day,
            "dwell_usd_per_vehicle_hour": w.dwell_usd_per_vehicle_hour,
            "roll_usd_per_vehicle": w.roll_usd_per_vehicle,
            "unused_space_usd_per_rt43": w.unused_space_usd_per_rt43,
            "transport_cost_weight": w.transport_cost_weight,
            "unplaced_usd_per_vehicle": w.unplaced_usd_per_vehicle,
        },
    })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let days = match &args.at {
        None => args.days,
        Some(at) => {
            // The same days as `takt check` compiles for a plan made at `at`.
            let at = Minute::parse_rfc3339(at).map_err(anyhow::Error::msg)?;
            let (scenario, _) = load::network(&args.scenario, None)?;
            let start =
                Minute::parse_rfc3339(&scenario.scenario.start).map_err(anyhow::Error::msg)?;
            Some((at.since(start) / Minute::DAY + 1).max(1) as u32)
        }
    };
    let (_, net) = load::network(&args.scenario, days)?;
    super::simulate::write_json(&args.json, &to_json(&net))?;
    println!(
        "network {} (volume scale {}, {} voyages, {} resources) written to {}",
        net.name,
        net.volume_scale,
        net.voyages.len(),
        net.resources.len(),
        args.json.display()
    );
    Ok(ExitCode::SUCCESS)
}
