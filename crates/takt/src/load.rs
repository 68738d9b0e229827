//! Reading scenarios and plans from files (or the built-in scenario).

use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use takt_core::network::{CompileOptions, Network};
use takt_core::scenario::{BUILTIN_US_JAPAN, Scenario};

/// Arguments shared by every command that reads a scenario.
#[derive(clap::Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Scenario file (TOML, see docs/scenario.md); the built-in `us-japan` when omitted.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Multiplies demand and every capacity of the scenario (e.g. 10 for ten times the volume).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub volume_scale: f64,
}

/// The scenario's text and where it came from.
pub fn scenario_text(path: Option<&Path>) -> Result<(String, String)> {
    match path {
        None => Ok((
            BUILTIN_US_JAPAN.to_string(),
            "built-in us-japan".to_string(),
        )),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read scenario {}", p.display()))?;
            Ok((text, p.display().to_string()))
        }
    }
}

/// Loads, validates and compiles a scenario; `days` defaults to the scenario's own.
pub fn network(args: &ScenarioArgs, days: Option<u32>) -> Result<(Scenario, Network)> {
    let (text, origin) = scenario_text(args.scenario.as_deref())?;
    let days = match days {
        Some(d) => d,
        None => Scenario::from_toml(&text)
            .map(|s| s.scenario.days)
            .unwrap_or(1),
    };
    Network::load(
        &text,
        CompileOptions {
            days,
            volume_scale: args.volume_scale,
        },
    )
    .map_err(|e| anyhow!("{origin}: {e}"))
}
