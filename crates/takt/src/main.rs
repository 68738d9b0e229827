//! `takt`: the command-line interface. A thin layer over the pure crates:
//! it reads files, parses arguments, draws progress bars and writes output.

mod cmd;
mod load;

/// The simulated world, its forecasts and the sequencer's decodes allocate
/// and free many small vectors; with the system allocator, `takt bench`
/// spent about half its time in malloc and free (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// The main job, live: the API and dashboard over a simulated network in accelerated time.
    Demo(cmd::demo::Args),
    /// Simulate the network and write events.jsonl, plan.json and summary.json.
    Simulate(cmd::simulate::Args),
    /// Write a planning instance: every vehicle's state at a moment, for a sequencer.
    Instance(cmd::instance::Args),
    /// Write the compiled network as JSON, for solvers outside takt (docs/network-json.md).
    Network(cmd::network::Args),
    /// Plan an instance with takt's sequencer: the best plan within a time limit, with a lower bound.
    Plan(cmd::plan::Args),
    /// Repair a plan after one event (late arrival, station or gang out, vessel moved, hold): what changed.
    Repair(cmd::repair::Args),
    /// Verify a plan against a scenario, independently of how it was made, and score it.
    Check(cmd::check::Args),
    /// Export or summarize a scenario.
    #[command(subcommand)]
    Scenario(cmd::scenario::Command),
    /// Japan certification: status per model and per vehicle from an event log.
    #[command(subcommand)]
    Cert(cmd::cert::Command),
    /// When will vehicles arrive: P10/P50/P90 for every remaining stage.
    Eta(cmd::eta::Args),
    /// Evaluate predictors against simulated ground truth.
    #[command(subcommand)]
    Eval(cmd::eta::EvalCommand),
    /// Validate a VIN and decode what can be decoded.
    Vin(cmd::vin::Args),
    /// Where time is lost: dwell, bottlenecks, plan versus actual, rolls; JSON and HTML reports.
    Insight(cmd::insight::Args),
    /// Export the event log for other tools (OCEL 2.0 for process mining).
    #[command(subcommand)]
    Export(cmd::export::Command),
    /// Measure simulation speed and memory at large volume.
    Bench(cmd::bench::Args),
    /// Plan a vessel's stowage (OGC 2025 RoRo format), or check a stowage solution.
    Stow(cmd::stow::Args),
    /// Store events (takt JSON Lines, CSV, GS1 EPCIS 2.0 capture documents) in the event store.
    Ingest(cmd::ingest::Args),
    /// A vehicle's state and history from the event store.
    History(cmd::history::Args),
    /// Store a simulated run's events.jsonl as if it arrived live.
    Replay(cmd::replay::Args),
    /// Serve the HTTP API and the live dashboard over the event store.
    Serve(cmd::serve::Args),
    /// API tokens: create (printed once), list, revoke.
    #[command(subcommand)]
    Token(cmd::token::Command),
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
        Command::Instance(a) => cmd::instance::run(a),
        Command::Network(a) => cmd::network::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Repair(a) => cmd::repair::run(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Scenario(c) => cmd::scenario::run(c),
        Command::Cert(c) => cmd::cert::run(c),
        Command::Eta(a) => cmd::eta::run(a),
        Command::Eval(c) => cmd::eta::run_eval(c),
        Command::Vin(a) => cmd::vin::run(a),
        Command::Insight(a) => cmd::insight::run(a),
        Command::Export(c) => cmd::export::run(c),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Stow(a) => cmd::stow::run(a),
        Command::Ingest(a) => cmd::ingest::run(a),
        Command::History(a) => cmd::history::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Token(c) => cmd::token::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
