//! `takt serve --db URL --addr 127.0.0.1:PORT`: the HTTP API over the event
//! store (`takt-server`; routes, headers and problem codes in docs/api.md).
//! Runs until Ctrl-C or SIGTERM; every answered batch is durably stored.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::process::ExitCode;
use takt_server::{AppState, Limits};
use takt_store::Store;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub db: String,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Largest request body, bytes (larger answers 413).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Most events in one batch or capture document (more answers 413).
    #[arg(long, default_value_t = Limits::default().max_batch_events)]
    pub max_batch_events: usize,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let backend = store.backend_name();
    let state = AppState::new(store).with_limits(Limits {
        max_body_bytes: args.max_body_bytes,
        max_batch_events: args.max_batch_events,
    });
    takt_server::run(args.addr, state, |addr| {
        println!("takt serve: listening on http://{addr} ({backend})");
    })?;
    Ok(ExitCode::SUCCESS)
}
