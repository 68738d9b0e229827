//! The event store's benchmarks and long crash test, run by
//! `bench/store/run.sh` (not part of the test suite).
//!
//! ```text
//! store_bench ingest --takt BIN --db URL --events N --batch B [--rounds R] [--pg-pid PID]
//!                    [--http-clients C[,C...]] [--raw-group G]
//!     sustained ingest over HTTP (`takt serve`), via `takt ingest`, and the
//!     raw limit: plain batched INSERTs of the same log rows (one INSERT per
//!     row, and one per batch), with the same durability settings, each on a
//!     fresh database; one markdown row each, with the CPU time of the path
//!     (PID: the PostgreSQL postmaster, whose CPU time then counts too);
//!     with R rounds of all paths, the medians over the rounds. Two more
//!     rows: HTTP with C clients at once (`--http-clients C[,C...]`, a row
//!     for each, default 4 and 16; the server stores the batches waiting
//!     together, group commit), and
//!     (not part of the raw limit) raw INSERTs of G batches per
//!     transaction (`--raw-group G`, default 4, the most `takt ingest`
//!     stores in one transaction), the reference for group commit. Each
//!     HTTP client keeps its connection open between requests (HTTP/1.1
//!     keep-alive, as a pooled client does).
//! store_bench crash --takt BIN --db URL --kills K [--seed S] [--clients C]
//!     the crash test of the suite with K kills, on any backend; with C
//!     clients streaming at once (default 1), so that the server stores
//!     waiting batches together (group commit).
//! ```
//!
//! `--db` is a SQLite path prefix (`/tmp/x` gives `/tmp/x-http.db`, ...)
//! or a PostgreSQL server URL without a database
//! (`postgres://postgres@127.0.0.1:PORT`); each run creates its databases.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use takt_store::{Store, TenantId, takt_format};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn need(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| panic!("missing {name}"))
}

/// Event `i`: 11 journey milestones per vehicle, 20 events a minute from
/// 60 days before `base_minute`.
fn event_line(i: usize, base: takt_core::Minute) -> String {
    event_line_at(i, i, base)
}

/// Event `i` at the time of event `t` (see [`event_line`]).
fn event_line_at(i: usize, t: usize, base: takt_core::Minute) -> String {
    let vin = takt_core::Vin::assemble("4T1", "DAACK", 2026, 'U', &format!("{:06}", i / 11))
        .expect("a valid VIN")
        .to_string();
    let (m, stage) = takt_core::event::MILESTONES[i % 11];
    serde_json::json!({"event_id": format!("ev-{i:08}"), "vin": vin, "tenant": "toyota",
        "model": "camry", "milestone": m, "stage": stage.name(),
        "at": base.plus(t as i64 / 20).rfc3339(), "location": "USLGB", "resource": "USLGB/processing"})
    .to_string()
}

fn base() -> takt_core::Minute {
    takt_core::Minute::from_timestamp(jiff::Timestamp::now()).plus(-60 * 24 * 60)
}

/// A fresh database URL for one run.
fn fresh_db(db: &str, name: &str) -> String {
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(&format!("{db}/postgres"), postgres::NoTls)
            .expect("PostgreSQL server");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            c.batch_execute(&sql).expect("create database");
        }
        format!("{db}/{name}")
    } else {
        let path = format!("{db}-{name}.db");
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{ext}"));
        }
        path
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The planner token the HTTP client sends (made by `start_server` for
/// the database it serves).
static TOKEN: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn start_server(takt: &str, db: &str) -> (Server, SocketAddr) {
    // A token for this database (each run starts on a fresh one).
    {
        let out = Command::new(takt)
            .args(["token", "create", "--db", db, "--tenant", "toyota"])
            .args(["--role", "planner"])
            .output()
            .expect("takt token create runs");
        let text = String::from_utf8_lossy(&out.stdout);
        *TOKEN.lock().unwrap() = text.lines().last().expect("a token").to_string();
    }
    let mut child = Command::new(takt)
        .args(["serve", "--db", db, "--addr", "127.0.0.1:0"])
        .args(["--rate-per-second", "1000000", "--rate-burst", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("takt serve starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("takt serve prints its address");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"));
    (Server(child), addr)
}

/// One client's persistent HTTP/1.1 connection (keep-alive), as an
/// ingest client with a connection pool holds it: the sustained paths
/// measure requests, not TCP set-up. The crash test makes one per request.
struct KeepAlive {
    addr: SocketAddr,
    conn: Option<std::io::BufReader<TcpStream>>,
}

impl KeepAlive {
    fn new(addr: SocketAddr) -> KeepAlive {
        KeepAlive { addr, conn: None }
    }

    /// Posts a batch; the status and body, or `None` when the connection
    /// fails (it is opened again for the next request).
    fn post(&mut self, body: &str) -> Option<(u16, String)> {
        let answer = self.try_post(body);
        if answer.is_none() {
            self.conn = None;
        }
        answer
    }

    fn try_post(&mut self, body: &str) -> Option<(u16, String)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
            s.set_nodelay(true).ok()?;
            self.conn = Some(std::io::BufReader::new(s));
        }
        let conn = self.conn.as_mut()?;
        let req = format!(
            "POST /v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            TOKEN.lock().unwrap(),
            body.len()
        );
        conn.get_mut().write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        conn.read_line(&mut line).ok()?;
        let status = line.split(' ').nth(1)?.parse().ok()?;
        let mut length = None;
        loop {
            line.clear();
            conn.read_line(&mut line).ok()?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut out = vec![0; length?];
        conn.read_exact(&mut out).ok()?;
        Some((status, String::from_utf8(out).ok()?))
    }
}

/// events/s, p50/p99 of per-batch acknowledgement latency (ms), and the
/// CPU seconds the path used (see [`cpu_seconds`]).
struct Figures {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_s: f64,
}

fn figures(n: usize, wall: Duration, mut lat: Vec<f64>) -> Figures {
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    Figures {
        events_per_s: n as f64 / wall.as_secs_f64(),
        p50_ms: q(0.50),
        p99_ms: q(0.99),
        cpu_s: 0.0,
    }
}

/// (user + system, waited-for children's user + system) clock ticks of a
/// process, from `/proc/PID/stat`; `None` when it is gone.
fn ticks(pid: &str) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state is field 3, utime 14 ... cstime 17.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let n = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some((n(14) + n(15), n(16) + n(17)))
}

fn ppid(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .to_string(),
    )
}

/// CPU seconds used so far by this process and the children it waited for
/// (`takt ingest`, `takt serve`), plus, for PostgreSQL (`--pg-pid`), the
/// server: the postmaster, its live processes and the ones it reaped (the
/// backends of closed connections). Differences of two readings give a
/// path's CPU time, which the other engineers' load on the shared cores
/// does not inflate the way it inflates wall time.
fn cpu_seconds(pg_pid: Option<&str>) -> f64 {
    let hz: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let (own, children) = ticks("self").unwrap_or_default();
    let mut total = own + children;
    if let Some(pg) = pg_pid {
        let (p, reaped) = ticks(pg).unwrap_or_default();
        total += p + reaped;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().to_string();
            if pid.bytes().all(|b| b.is_ascii_digit()) && ppid(&pid).as_deref() == Some(pg) {
                let (t, c) = ticks(&pid).unwrap_or_default();
                total += t + c;
            }
        }
    }
    total as f64 / hz
}

/// One client posting one batch at a time.
fn bench_http(takt: &str, db: &str, batches: &[String], n: usize) -> Figures {
    bench_http_clients(takt, db, batches, n, 1)
}

/// Sustained ingest over HTTP with `clients` clients at once, each posting every
/// `clients`-th batch in turn (so up to `clients` batches are in flight,
/// and the server may store the waiting ones in one transaction).
fn bench_http_clients(
    takt: &str,
    db: &str,
    batches: &[String],
    n: usize,
    clients: usize,
) -> Figures {
    let (server, addr) = start_server(takt, db);
    let t0 = Instant::now();
    let lat: Vec<f64> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|k| {
                scope.spawn(move || {
                    let mut lat = Vec::new();
                    let mut conn = KeepAlive::new(addr);
                    for b in batches.iter().skip(k).step_by(clients) {
                        let t = Instant::now();
                        let (status, body) = conn.post(b).expect("the server answers");
                        assert_eq!(status, 200, "{body}");
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    lat
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("client"))
            .collect()
    });
    let f = figures(n, t0.elapsed(), lat);
    // Killed and reaped, so its CPU time counts for this path.
    drop(server);
    f
}

fn bench_cli(takt: &str, db: &str, batches: &[String], n: usize, dir: &std::path::Path) -> Figures {
    let files: Vec<String> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p = dir.join(format!("batch-{i:05}.jsonl"));
            std::fs::write(&p, b).expect("write batch");
            p.display().to_string()
        })
        .collect();
    let t0 = Instant::now();
    let mut child = Command::new(takt)
        .args(["ingest", "--db", db, "--tenant", "toyota"])
        .args(&files)
        .stdout(Stdio::piped())
        .spawn()
        .expect("takt ingest starts");
    // Each document's acknowledgement is its line on standard output; the
    // first one's latency includes start-up and opening the database.
    let mut lat = Vec::new();
    let mut last = t0;
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.expect("ingest output");
        assert!(line.contains("accepted"), "{line}");
        let now = Instant::now();
        lat.push((now - last).as_secs_f64() * 1e3);
        last = now;
    }
    assert!(child.wait().expect("ingest exits").success());
    assert_eq!(lat.len(), batches.len());
    figures(n, t0.elapsed(), lat)
}

/// The raw limit: the same log rows (tenant, event id, kind, times, flags,
/// the record as the store writes it) as plain INSERTs, one transaction per
/// batch, same durability (SQLite WAL + synchronous=FULL; PostgreSQL
/// synchronous commit); no reads, no derived state, no subject index.
/// `multi_row`: one INSERT per batch (PostgreSQL: `unnest` of arrays;
/// SQLite: a multi-row VALUES list), else one prepared INSERT per row.
/// `group`: batches per transaction (1 for the raw limit; more for the
/// reference that `takt ingest`'s group commit is compared with too); a
/// batch's latency runs from its group's start to the commit.
fn bench_raw(db: &str, batches: &[String], n: usize, multi_row: bool, group: usize) -> Figures {
    let rows: Vec<Vec<(String, i64, String)>> = batches
        .iter()
        .map(|b| {
            takt_format::parse_json(b)
                .expect("valid batch")
                .into_iter()
                .map(|i| {
                    let e = i.event;
                    let at = e.at.as_millisecond();
                    (
                        e.event_id.clone(),
                        at,
                        serde_json::to_string(&e).expect("serializes"),
                    )
                })
                .collect()
        })
        .collect();
    let schema = "CREATE TABLE raw_log (seq BIGINT, tenant TEXT NOT NULL, event_id TEXT NOT NULL,
        kind TEXT NOT NULL, event_time_ms BIGINT NOT NULL, received_at_ms BIGINT NOT NULL,
        flags TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (tenant, event_id, kind))";
    let mut lat = Vec::new();
    let t0 = Instant::now();
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(db, postgres::NoTls).expect("connect");
        c.batch_execute(schema).expect("schema");
        let one = c
            .prepare("INSERT INTO raw_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record) VALUES ('toyota', $1, 'event', $2, $2, '[]', $3)")
            .expect("prepare");
        let many = c
            .prepare("INSERT INTO raw_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record)
                      SELECT 'toyota', u.id, 'event', u.at, u.at, '[]', u.rec
                      FROM unnest($1::text[], $2::int8[], $3::text[]) AS u(id, at, rec)")
            .expect("prepare");
        for batches in rows.chunks(group) {
            let t = Instant::now();
            let mut tx = c.transaction().expect("begin");
            for batch in batches {
                if multi_row {
                    let ids: Vec<&str> = batch.iter().map(|r| r.0.as_str()).collect();
                    let ats: Vec<i64> = batch.iter().map(|r| r.1).collect();
                    let recs: Vec<&str> = batch.iter().map(|r| r.2.as_str()).collect();
                    tx.execute(&many, &[&ids, &ats, &recs]).expect("insert");
                } else {
                    for (id, at, rec) in batch {
                        tx.execute(&one, &[id, at, rec]).expect("insert");
                    }
                }
            }
            tx.commit().expect("commit");
            lat.extend(std::iter::repeat_n(
                t.elapsed().as_secs_f64() * 1e3,
                batches.len(),
            ));
        }
    } else {
        let mut c = rusqlite::Connection::open(db).expect("open");
        c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .expect("wal");
        c.execute_batch("PRAGMA synchronous=FULL").expect("sync");
        c.execute_batch(schema).expect("schema");
        for batches in rows.chunks(group) {
            let t = Instant::now();
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .expect("begin");
            for batch in batches {
                if multi_row {
                    let values: Vec<String> = (0..batch.len())
                        .map(|i| {
                            format!(
                                "('toyota', ?{}, 'event', ?{}, ?{}, '[]', ?{})",
                                3 * i + 1,
                                3 * i + 2,
                                3 * i + 2,
                                3 * i + 3
                            )
                        })
                        .collect();
                    let mut stmt = tx
                        .prepare_cached(&format!("INSERT INTO raw_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record) VALUES {}", values.join(", ")))
                        .expect("prepare");
                    let params: Vec<&dyn rusqlite::ToSql> = batch
                        .iter()
                        .flat_map(|(id, at, rec)| [id as &dyn rusqlite::ToSql, at, rec])
                        .collect();
                    stmt.execute(params.as_slice()).expect("insert");
                } else {
                    let mut stmt = tx
                        .prepare_cached("INSERT INTO raw_log (tenant, event_id, kind, event_time_ms, received_at_ms, flags, record) VALUES ('toyota', ?1, 'event', ?2, ?2, '[]', ?3)")
                        .expect("prepare");
                    for (id, at, rec) in batch {
                        stmt.execute(rusqlite::params![id, at, rec])
                            .expect("insert");
                    }
                }
            }
            tx.commit().expect("commit");
            lat.extend(std::iter::repeat_n(
                t.elapsed().as_secs_f64() * 1e3,
                batches.len(),
            ));
        }
    }
    figures(n, t0.elapsed(), lat)
}

/// Runs one path and adds the CPU seconds it used.
fn measured(pg_pid: Option<&str>, path: impl FnOnce() -> Figures) -> Figures {
    let cpu0 = cpu_seconds(pg_pid);
    let mut f = path();
    f.cpu_s = cpu_seconds(pg_pid) - cpu0;
    f
}

fn ingest(args: &[String]) {
    let takt = need(args, "--takt");
    let db = need(args, "--db");
    let n: usize = need(args, "--events").parse().expect("--events N");
    let b: usize = need(args, "--batch").parse().expect("--batch B");
    let base = base();
    let batches: Vec<String> = (0..n)
        .collect::<Vec<_>>()
        .chunks(b)
        .map(|c| c.iter().map(|&i| event_line(i, base) + "\n").collect())
        .collect();
    let dir = std::env::temp_dir().join(format!("takt-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let backend = if db.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let pg_pid = arg(args, "--pg-pid");
    let pg = pg_pid.as_deref();
    let rounds: usize = arg(args, "--rounds").map_or(1, |r| r.parse().expect("--rounds R"));
    // The reference for `takt ingest`'s group commit: raw INSERTs with as
    // many batches per transaction as `takt ingest` stores at most in one
    // (it stores fewer when fewer are waiting). Not part of the raw limit,
    // which is measured one transaction per batch.
    let group: usize = arg(args, "--raw-group").map_or(4, |g| g.parse().expect("--raw-group G"));
    let grouped = format!("raw INSERTs, {group} batches per transaction");
    // Several HTTP clients at once (`--http-clients C[,C...]`, default 4
    // and 16): a row for each count.
    let clients: Vec<usize> = arg(args, "--http-clients")
        .unwrap_or_else(|| "4,16".into())
        .split(',')
        .map(|c| c.parse().expect("--http-clients C[,C...]"))
        .collect();
    let mut paths: Vec<String> = [
        "raw INSERTs, one per row",
        "raw INSERTs, one per batch",
        "HTTP (takt serve)",
        "takt ingest",
    ]
    .map(String::from)
    .to_vec();
    paths.extend(
        clients
            .iter()
            .map(|c| format!("HTTP (takt serve), {c} clients")),
    );
    paths.push(grouped);
    // Every round runs every path on fresh databases, one after the other,
    // so that each round's ratios compare paths measured under the same
    // load; the figures reported are medians over the rounds.
    let mut runs: Vec<Vec<Figures>> = paths.iter().map(|_| Vec::new()).collect();
    let mut ratios: Vec<Vec<f64>> = paths.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        let mut round = vec![
            measured(pg, || {
                bench_raw(&fresh_db(&db, "bench_raw"), &batches, n, false, 1)
            }),
            measured(pg, || {
                bench_raw(&fresh_db(&db, "bench_raw_multi"), &batches, n, true, 1)
            }),
            measured(pg, || {
                bench_http(&takt, &fresh_db(&db, "bench_http"), &batches, n)
            }),
            measured(pg, || {
                bench_cli(&takt, &fresh_db(&db, "bench_cli"), &batches, n, &dir)
            }),
        ];
        for &c in &clients {
            round.push(measured(pg, || {
                let name = format!("bench_http_c{c}");
                bench_http_clients(&takt, &fresh_db(&db, &name), &batches, n, c)
            }));
        }
        round.push(measured(pg, || {
            bench_raw(&fresh_db(&db, "bench_raw_group"), &batches, n, true, group)
        }));
        // The raw limit is the faster of the two raw paths.
        let limit = round[0].events_per_s.max(round[1].events_per_s);
        for (i, f) in round.into_iter().enumerate() {
            ratios[i].push(f.events_per_s / limit);
            runs[i].push(f);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for ((path, fs), rs) in paths.iter().zip(runs).zip(ratios) {
        let m = |g: fn(&Figures) -> f64| median(fs.iter().map(g).collect());
        println!(
            "| {backend} | {path} | {n} | {b} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            m(|f| f.events_per_s),
            m(|f| f.p50_ms),
            m(|f| f.p99_ms),
            m(|f| f.cpu_s) * 1e6 / n as f64,
            median(rs)
        );
    }
}

fn crash(args: &[String]) {
    let takt = need(args, "--takt");
    let db = fresh_db(&need(args, "--db"), "crash");
    let kills: usize = need(args, "--kills").parse().expect("--kills K");
    let n_clients: usize = arg(args, "--clients").map_or(1, |c| c.parse().expect("--clients C"));
    let mut rng: u64 = arg(args, "--seed").map_or(1, |s| s.parse().expect("--seed S")) | 1;
    let mut next = move |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    const BATCH: usize = 40;
    // 1,500,000 events are 52 days at 20 a minute, within the 60 days
    // before now that the times start from; six clients' ids keep the VIN
    // serials (id / 11) within six digits.
    const CLIENT_IDS: usize = 1_500_000;
    assert!(n_clients <= 6, "at most 6 clients");
    let base = base();
    let addr = std::sync::Arc::new(std::sync::Mutex::new(None::<SocketAddr>));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t0 = Instant::now();
    // Each client streams its own ids (client k from k * CLIENT_IDS on) at
    // times of its own count, so that event times stay within the time
    // policy whatever the number of clients.
    let clients: Vec<_> = (0..n_clients)
        .map(|k| {
            let (addr, done) = (addr.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut acked, mut failed) = (0usize, 0usize);
                let first = k * CLIENT_IDS;
                loop {
                    let body: String = (acked..acked + BATCH)
                        .map(|n| event_line_at(first + n, n, base) + "\n")
                        .collect();
                    loop {
                        let Some(a) = *addr.lock().expect("lock") else {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        };
                        // A connection per request: a kill cuts it.
                        match KeepAlive::new(a).post(&body) {
                            Some((200, _)) => break,
                            Some((s, b)) => panic!("unexpected answer {s}: {b}"),
                            None => failed += 1,
                        }
                    }
                    acked += BATCH;
                    assert!(acked < CLIENT_IDS, "client {k} ran into the next one's ids");
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        return (acked, failed);
                    }
                }
            })
        })
        .collect();
    let mut restart_ms = Vec::new();
    for _ in 0..kills {
        let t = Instant::now();
        let (server, a) = start_server(&takt, &db);
        restart_ms.push(t.elapsed().as_secs_f64() * 1e3);
        *addr.lock().expect("lock") = Some(a);
        std::thread::sleep(Duration::from_millis(next(50, 400)));
        drop(server); // SIGKILL
        *addr.lock().expect("lock") = None;
        assert!(clients.iter().all(|c| !c.is_finished()), "a client stopped");
    }
    let (server, a) = start_server(&takt, &db);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    *addr.lock().expect("lock") = Some(a);
    let (n_acked, failed) = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .fold((0, 0), |(a, f), (a2, f2)| (a + a2, f + f2));
    drop(server);
    let wall = t0.elapsed().as_secs_f64();
    let store = Store::open(&db).expect("open");
    let t = TenantId::parse("toyota").expect("tenant");
    let v = store.verify(&t).expect("integrity check");
    let exactly_once = v.n_rows as usize == n_acked;
    restart_ms.sort_by(f64::total_cmp);
    println!(
        "| {} | {kills} | {n_acked} | {failed} | {} | {} | ok | {:.0} | {wall:.0} |",
        store.backend_name(),
        if exactly_once { "yes" } else { "NO" },
        if v.mismatched.is_empty() { "yes" } else { "NO" },
        restart_ms[restart_ms.len() / 2],
    );
    assert!(exactly_once && v.mismatched.is_empty());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("ingest") => ingest(&args),
        Some("crash") => crash(&args),
        _ => {
            eprintln!("usage: store_bench ingest|crash ... (see the file's documentation)");
            std::process::exit(2);
        }
    }
}
