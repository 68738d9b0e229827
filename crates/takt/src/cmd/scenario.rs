//! `takt scenario export|show`.

use crate::load::{self, ScenarioArgs};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use takt_core::Minute;
use takt_core::scenario::BUILTIN_US_JAPAN;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the built-in scenario (with its comments and sources) so you can edit it.
    Export {
        /// File to write; standard output when omitted.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Validate a scenario and summarize it.
    Show {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Export { out: None } => print!("{BUILTIN_US_JAPAN}"),
        Command::Export { out: Some(path) } => {
            std::fs::write(&path, BUILTIN_US_JAPAN)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote the built-in scenario to {}", path.display());
        }
        Command::Show { scenario } => show(&scenario)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: &ScenarioArgs) -> Result<()> {
    let (s, net) = load::network(args, None)?;
    println!("scenario {} — {}", s.scenario.name, s.scenario.description);
    println!(
        "starts {} for {} days; volume scale {}",
        net.start, s.scenario.days, args.volume_scale
    );
    println!(
        "\ntenants: {}",
        net.tenants
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "\n{:<12} {:<10} {:<14} {:>8} {:>6} {:>10}",
        "model", "tenant", "plant", "per year", "RT43", "height mm"
    );
    for m in &net.models {
        println!(
            "{:<12} {:<10} {:<14} {:>8.0} {:>6.2} {:>10}",
            m.id,
            net.tenants[m.tenant].id,
            net.locations[net.plants[m.plant].location].id,
            m.annual_volume,
            m.rt43,
            m.height_mm
        );
    }
    println!("\n{:<12} {:<14} {:<20}", "location", "kind", "time zone");
    for l in &net.locations {
        println!(
            "{:<12} {:<14} {:<20}",
            l.id,
            format!("{:?}", l.kind),
            l.tz.iana_name().unwrap_or("?")
        );
    }
    println!(
        "\n{:<14} {:<6} {:<12} {:<8} {:>11} {:>9}",
        "inland", "mode", "from", "to", "deps/week", "units"
    );
    for sv in &net.inland {
        let week_end = net.start.plus(7 * Minute::DAY);
        let per_week = sv
            .departures
            .iter()
            .filter(|&&d| d >= net.start && d < week_end)
            .count();
        println!(
            "{:<14} {:<6} {:<12} {:<8} {:>11} {:>9}",
            sv.id,
            format!("{:?}", sv.mode).to_lowercase(),
            net.locations[sv.from].id,
            net.locations[sv.to].id,
            per_week,
            sv.units_per_departure
        );
    }
    println!("\nvessel services:");
    for vs in &s.vessel_services {
        let n = net
            .voyages
            .iter()
            .filter(|v| v.service == vs.id && v.calls[0].berth < net.end)
            .count();
        println!(
            "  {:<8} every {} days, {} voyages in the run: {}",
            vs.id,
            vs.every_days,
            n,
            vs.rotation.join(" → ")
        );
    }
    if let Some(v) = net.voyages.first() {
        println!("\nfirst voyage {} (local times):", v.id);
        for c in &v.calls {
            let tz = &net.locations[c.location].tz;
            println!(
                "  {:<6} berth {}  depart {}",
                net.locations[c.location].id,
                c.berth.local(tz),
                c.depart.local(tz)
            );
        }
    }
    println!("\ncertification (approval instants in UTC):");
    for m in &net.models {
        let route = &net.cert_routes[m.cert.route];
        let approved = m
            .cert
            .approved_from
            .map(|a| format!("approved from {a}"))
            .unwrap_or_else(|| "not approved".into());
        let cap = m
            .cert
            .annual_cap
            .map(|c| format!(", cap {c} a year"))
            .unwrap_or_default();
        println!("  {:<12} route {}, {approved}{cap}", m.id, route.id);
        let items: Vec<String> = m
            .cert
            .checklist
            .iter()
            .map(|i| format!("{} ({}, {} min)", i.id, i.at.name(), i.minutes))
            .collect();
        println!("  {:<12} checklist: {}", "", items.join(" → "));
    }
    println!(
        "\ndealers: {}",
        net.dealers
            .iter()
            .map(|d| format!("{} ({})", d.id, net.locations[d.port].id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("\nthe scenario is valid.");
    Ok(())
}
