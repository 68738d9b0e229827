//! `takt vin VIN`: validate and decode.

use crate::load::{self, ScenarioArgs};
use anyhow::Result;
use std::process::ExitCode;
use takt_core::vin::{Vin, check_digit};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The 17-character VIN.
    pub vin: String,
    /// Names the manufacturer, model and plant from a scenario's models (the built-in one by default).
    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

/// Region of manufacture from the first character (ISO 3780).
fn region(c: char) -> &'static str {
    match c {
        '1'..='5' => "North America",
        '6' | '7' => "Oceania",
        '8' | '9' => "South America",
        'A'..='H' => "Africa",
        'J'..='R' => "Asia",
        'S'..='Z' => "Europe",
        _ => "unknown",
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    let vin = match Vin::parse(&args.vin) {
        Ok(v) => v,
        Err(e) => {
            println!("{}: invalid: {e}", args.vin.trim());
            return Ok(ExitCode::from(1));
        }
    };
    let (_, net) = load::network(&args.scenario, Some(1))?;
    let wmi = vin.wmi();
    let model = net
        .models
        .iter()
        .find(|m| m.wmi == wmi && m.vin_plant_code == vin.plant_code());
    let maker = net.models.iter().find(|m| m.wmi == wmi);
    println!("VIN            {vin}: valid");
    println!(
        "region         {}",
        region(vin.as_str().chars().next().unwrap_or('?'))
    );
    match maker {
        Some(m) => println!(
            "manufacturer   {} (WMI {wmi}, tenant {})",
            net.tenants[m.tenant].name, net.tenants[m.tenant].id
        ),
        None => println!("manufacturer   WMI {wmi} (not in the scenario)"),
    }
    println!("descriptor     {}", vin.vds());
    let years = vin.model_years();
    if years[0] > 0 {
        println!(
            "model year     {} or {} (code {})",
            years[0],
            years[1],
            vin.model_year_code()
        );
    } else {
        println!(
            "model year     not coded (position 10 is {})",
            vin.model_year_code()
        );
    }
    match model {
        Some(m) => println!(
            "plant code     {} — {} at {}",
            vin.plant_code(),
            m.name,
            net.locations[net.plants[m.plant].location].name
        ),
        None => println!("plant code     {}", vin.plant_code()),
    }
    println!("serial         {}", vin.serial());
    if vin.is_north_american() {
        let bytes: [u8; 17] = vin.as_str().as_bytes().try_into().expect("17 ASCII bytes");
        println!(
            "check digit    {} (49 CFR 565.15: correct, computed {})",
            vin.check_char(),
            check_digit(&bytes)
        );
    } else {
        println!(
            "check digit    not applied outside North America (position 9 is {})",
            vin.check_char()
        );
    }
    Ok(ExitCode::SUCCESS)
}
