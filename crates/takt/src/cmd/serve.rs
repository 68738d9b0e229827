//! `takt serve --db URL --addr 127.0.0.1:PORT`: the HTTP API and the
//! dashboard over the event store (`takt-server`; routes, headers and
//! problem codes in docs/api.md). Runs until Ctrl-C or SIGTERM; every
//! answered batch is durably stored. Requests need a bearer token from
//! `takt token create`. Without a planner attached the live view holds the
//! scenario's network and no plan (`takt demo` attaches one).

use crate::load::ScenarioArgs;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use takt_server::live::{Live, LiveHandle};
use takt_server::{AppState, Limits, RateLimit};
use takt_store::Store;
use takt_store::auth::AuthStore;

/// Options shared by `serve` and `demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Largest request body, bytes (larger answers 413).
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Most events in one batch or capture document (more answers 413).
    #[arg(long, default_value_t = Limits::default().max_batch_events)]
    pub max_batch_events: usize,
    /// Most requests handled at once (more answer 503 `overloaded`).
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    pub max_in_flight: usize,
    /// Requests per second per token (more answer 429 with Retry-After).
    #[arg(long, default_value_t = RateLimit::default().per_second)]
    pub rate_per_second: f64,
    /// Burst of requests per token above the rate.
    #[arg(long, default_value_t = RateLimit::default().burst)]
    pub rate_burst: f64,
    /// MiB of live-view answers kept per plan version (0: every read is
    /// computed afresh).
    #[arg(long, default_value_t = (takt_server::cache::DEFAULT_MAX_BYTES >> 20) as u64)]
    pub answer_cache_mb: u64,
}

impl ServerArgs {
    pub fn apply(&self, state: AppState) -> AppState {
        state
            .with_limits(Limits {
                max_body_bytes: self.max_body_bytes,
                max_batch_events: self.max_batch_events,
                max_in_flight: self.max_in_flight,
            })
            .with_rate_limit(RateLimit {
                per_second: self.rate_per_second,
                burst: self.rate_burst,
            })
            .with_answer_cache_bytes((self.answer_cache_mb as usize).saturating_mul(1 << 20))
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Database: a SQLite file path, sqlite://PATH, or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub db: String,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let (_, net) = crate::load::network(&args.scenario, None)?;
    let store = Store::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let auth = AuthStore::open(&args.db).with_context(|| format!("opening {}", args.db))?;
    let backend = store.backend_name();
    let start = net.start;
    let live = Arc::new(LiveHandle::new(Live::empty(Arc::new(net), start)));
    let open = || Store::open(&args.db).with_context(|| format!("opening {}", args.db));
    // Two reading connections: vehicle reads take them in turn.
    let state = args
        .server
        .apply(AppState::new(store, auth, live))
        .with_reader(open()?)
        .with_reader(open()?)
        .with_analyst(open()?);
    takt_server::run(args.addr, state, |addr| {
        println!("takt serve: listening on http://{addr} ({backend})");
    })?;
    Ok(ExitCode::SUCCESS)
}
