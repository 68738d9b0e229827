//! `takt`: the command-line interface. A thin layer over the pure crates:
//! it reads files, parses arguments, draws progress bars and writes output.

mod cmd;
mod load;

use clap::{Parser, Subcommand};

/// takt sequences and schedules finished vehicles by the minute, from the
/// plant to the dealer abroad, predicts when each will arrive and shows where
/// time is lost.
#[derive(Parser)]
#[command(name = "takt", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job on the built-in scenario: simulate several weeks and print a summary.
    Demo(cmd::demo::Args),
    /// Simulate the network and write events.jsonl, plan.json and summary.json.
    Simulate(cmd::simulate::Args),
    /// Verify a plan against a scenario, independently of how it was made.
    Check(cmd::check::Args),
    /// Export or summarize a scenario.
    #[command(subcommand)]
    Scenario(cmd::scenario::Command),
    /// Japan certification: status per model and per vehicle from an event log.
    #[command(subcommand)]
    Cert(cmd::cert::Command),
    /// Validate a VIN and decode what can be decoded.
    Vin(cmd::vin::Args),
    /// Measure simulation speed and memory at large volume.
    Bench(cmd::bench::Args),
}

/// Dies quietly on a closed pipe (`takt demo | head`), as command-line tools do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal to its default disposition at start-up,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Scenario(c) => cmd::scenario::run(c),
        Command::Cert(c) => cmd::cert::run(c),
        Command::Vin(a) => cmd::vin::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
