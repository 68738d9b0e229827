//! Load and overload tests of a running `takt demo` / `takt serve`
//! (bench/api/load.sh runs them; numbers go to BENCHMARKS.md).
//!
//! ```text
//! api_load read --url http://127.0.0.1:PORT --token TOKEN [--clients 8]
//!     [--seconds 60] [--max-requests 200000]
//!     the dashboard's reads (network, vehicle search pages, plan, ETA,
//!     state, terminal schedule, voyages, alerts, insight) from `clients`
//!     threads, each request on its own connection; latency percentiles
//!     per route and over all.
//! api_load overload --url URL --token VIEWER --planner PLANNER
//!     [--clients 256] [--seconds 20] [--max-requests 400000]
//!     readers flood the server while one writer posts batches of new
//!     events (unique VINs, tenant of PLANNER), resending a batch that got
//!     429/503 or no answer; counts answers by status, reads a sample of
//!     acknowledged vehicles back through the API, and writes every
//!     acknowledged event id to `--acked FILE` (checked in the database).
//! ```
//! Bounded by time and by requests. Uses only the standard library.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn need(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| panic!("{name} is required"))
}

/// Makes the k-th request path of a route.
type PathOf = Box<dyn Fn(usize) -> String + Send + Sync>;

struct Answer {
    status: u16,
    body: String,
    /// The server answered from its answer cache (`x-answer-cache: hit`).
    kept: bool,
}

fn request(addr: SocketAddr, method: &str, path: &str, token: &str, body: &str) -> Option<Answer> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.set_nodelay(true).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let kept = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("x-answer-cache: hit"));
    Some(Answer {
        status,
        body: body.to_string(),
        kept,
    })
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("--url http://HOST:PORT")
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[k]
}

/// VINs and voyages to read, from the API itself.
fn sample(addr: SocketAddr, token: &str) -> (Vec<String>, Vec<String>, u64) {
    let mut vins = Vec::new();
    let mut cursor = String::new();
    let mut n = 0;
    while vins.len() < 4_000 {
        let path = if cursor.is_empty() {
            "/v1/vehicles?limit=500".to_string()
        } else {
            format!("/v1/vehicles?limit=500&cursor={cursor}")
        };
        let a = request(addr, "GET", &path, token, "").expect("the server answers");
        assert_eq!(a.status, 200, "{}", a.body);
        let v = json(&a.body);
        n = v["n_matching"].as_u64().unwrap_or(0);
        for item in v["items"].as_array().into_iter().flatten() {
            vins.push(item["vin"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        // Jump ahead so the sample spans the whole VIN range.
        for _ in 0..20 {
            let p = format!("/v1/vehicles?limit=500&cursor={cursor}");
            let a = request(addr, "GET", &p, token, "").expect("the server answers");
            match json(&a.body)["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
    }
    let a = request(addr, "GET", "/v1/voyages?limit=20", token, "").expect("answers");
    let voyages = json(&a.body)["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["voyage"].as_str().unwrap().to_string())
        .collect();
    (vins, voyages, n)
}

fn read(args: &[String]) {
    let addr = addr_of(&need(args, "--url"));
    let token = need(args, "--token");
    let clients: usize = arg(args, "--clients").map_or(8, |s| s.parse().unwrap());
    let seconds: u64 = arg(args, "--seconds").map_or(60, |s| s.parse().unwrap());
    let max_requests: usize = arg(args, "--max-requests").map_or(200_000, |s| s.parse().unwrap());
    let (vins, voyages, n_vehicles) = sample(addr, &token);
    let net = json(
        &request(addr, "GET", "/v1/network", &token, "")
            .expect("GET /v1/network answers")
            .body,
    );
    // Warm the insight report (its first computation is not a read).
    let t = Instant::now();
    loop {
        let a = request(addr, "GET", "/v1/insight", &token, "");
        if a.as_ref().is_some_and(|a| a.status == 200) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(900),
            "no insight report in 15 minutes"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    println!(
        "insight report over the whole log: ready after {:.1} s (503 insight_pending until then)",
        t.elapsed().as_secs_f64()
    );
    println!(
        "read load: {n_vehicles} vehicles in the plan (version {}), {} sampled VINs, {clients} clients, {seconds} s or {max_requests} requests",
        net["plan_version"],
        vins.len()
    );
    let routes: Vec<(&str, PathOf)> = vec![
        ("network", Box::new(|_| "/v1/network".into())),
        (
            "vehicles page",
            Box::new(|_| "/v1/vehicles?limit=50".into()),
        ),
        (
            "vehicles by stage",
            Box::new(|_| "/v1/vehicles?stage=yard&limit=50".into()),
        ),
        (
            "vehicles at risk",
            Box::new(|_| "/v1/vehicles?at_risk=true&limit=50".into()),
        ),
        ("vehicle search by VIN prefix", {
            let vins = vins.clone();
            Box::new(move |k| format!("/v1/vehicles?vin={}&limit=10", &vins[k % vins.len()][..11]))
        }),
        ("vehicle plan", {
            let vins = vins.clone();
            Box::new(move |k| format!("/v1/vehicles/{}/plan", vins[k % vins.len()]))
        }),
        ("vehicle eta", {
            let vins = vins.clone();
            Box::new(move |k| format!("/v1/vehicles/{}/eta", vins[k % vins.len()]))
        }),
        ("vehicle state (store)", {
            let vins = vins.clone();
            Box::new(move |k| format!("/v1/vehicles/{}", vins[k % vins.len()]))
        }),
        (
            "terminal schedule 12 h",
            Box::new(|k| {
                let t = ["USLGB", "USOAK", "USSAN", "JPNGO", "JPYOK"][k % 5];
                format!("/v1/terminals/{t}/schedule")
            }),
        ),
        ("voyages", Box::new(|_| "/v1/voyages?limit=12".into())),
        ("voyage stow order", {
            let voyages = voyages.clone();
            Box::new(move |k| format!("/v1/voyages/{}", voyages[k % voyages.len().max(1)]))
        }),
        ("alerts", Box::new(|_| "/v1/alerts?limit=200".into())),
        ("insight", Box::new(|_| "/v1/insight".into())),
    ];
    let routes = Arc::new(routes);
    let lat: Arc<Mutex<BTreeMap<&'static str, Vec<f64>>>> = Arc::default();
    let statuses: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let kept: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    std::thread::scope(|s| {
        for c in 0..clients {
            let (routes, lat, statuses, kept, sent, token) = (
                routes.clone(),
                lat.clone(),
                statuses.clone(),
                kept.clone(),
                sent.clone(),
                token.clone(),
            );
            s.spawn(move || {
                let mut mine: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
                let mut hits: BTreeMap<&'static str, usize> = BTreeMap::new();
                let mut st: BTreeMap<u16, usize> = BTreeMap::new();
                let mut k = c * 7919;
                while Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::SeqCst) < max_requests
                {
                    let (name, path) = &routes[k % routes.len()];
                    let path = path(k / routes.len());
                    let t = Instant::now();
                    let a = request(addr, "GET", &path, &token, "");
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    *st.entry(a.as_ref().map_or(0, |a| a.status)).or_default() += 1;
                    *hits.entry(name).or_default() +=
                        usize::from(a.as_ref().is_some_and(|a| a.kept));
                    mine.entry(name).or_default().push(ms);
                    k += 1;
                }
                let mut l = lat.lock().unwrap();
                for (n, v) in mine {
                    l.entry(n).or_default().extend(v);
                }
                let mut s = statuses.lock().unwrap();
                for (code, n) in st {
                    *s.entry(code).or_default() += n;
                }
                let mut h = kept.lock().unwrap();
                for (n, k) in hits {
                    *h.entry(n).or_default() += k;
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let lat = lat.lock().unwrap();
    let mut all: Vec<f64> = lat.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    println!(
        "{} requests in {elapsed:.1} s ({:.0}/s); answers by status: {:?}",
        all.len(),
        all.len() as f64 / elapsed,
        statuses.lock().unwrap()
    );
    let kept = kept.lock().unwrap();
    println!(
        "| route | requests | kept answers | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, v) in lat.iter() {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {:.0}% | {:.1} | {:.1} | {:.1} | {:.1} |",
            v.len(),
            100.0 * kept.get(name).copied().unwrap_or(0) as f64 / v.len().max(1) as f64,
            quantile(&v, 0.5),
            quantile(&v, 0.9),
            quantile(&v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "| all reads | {} | {:.0}% | {:.1} | {:.1} | {:.1} | {:.1} |",
        all.len(),
        100.0 * kept.values().sum::<usize>() as f64 / all.len().max(1) as f64,
        quantile(&all, 0.5),
        quantile(&all, 0.9),
        quantile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN)
    );
}

fn overload(args: &[String]) {
    let addr = addr_of(&need(args, "--url"));
    let viewer = need(args, "--token");
    let planner = need(args, "--planner");
    let tenant = arg(args, "--tenant").unwrap_or_else(|| "loadtest".into());
    let clients: usize = arg(args, "--clients").map_or(256, |s| s.parse().unwrap());
    let seconds: u64 = arg(args, "--seconds").map_or(20, |s| s.parse().unwrap());
    let max_requests: usize = arg(args, "--max-requests").map_or(400_000, |s| s.parse().unwrap());
    let net = json(
        &request(addr, "GET", "/v1/network", &viewer, "")
            .unwrap()
            .body,
    );
    let as_of: jiff::Timestamp = net["as_of"].as_str().unwrap().parse().unwrap();
    let at = (as_of - jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:00Z")
        .to_string();
    let statuses: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let acked_ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let run = format!(
        "{:x}",
        start.elapsed().as_nanos() ^ std::process::id() as u128
    );
    std::thread::scope(|s| {
        // The writer: batches of 100 new vehicles, each batch resent until
        // it is acknowledged (stored or duplicate).
        {
            let (statuses, acked, acked_ids, stop, planner, tenant, at, run) = (
                statuses.clone(),
                acked.clone(),
                acked_ids.clone(),
                stop.clone(),
                planner.clone(),
                tenant.clone(),
                at.clone(),
                run.clone(),
            );
            s.spawn(move || {
                let mut serial = 0u32;
                let mut batch_no = 0;
                while Instant::now() < deadline {
                    let mut vins = Vec::new();
                    let mut ids = Vec::new();
                    let mut body = String::new();
                    for _ in 0..100 {
                        serial += 1;
                        let vin = takt_core::Vin::assemble("4T1", "DAACK", 2026, 'Z', &format!("{serial:06}"))
                            .unwrap()
                            .to_string();
                        body.push_str(&serde_json::json!({
                            "event_id": format!("load-{run}-{serial}"), "vin": vin, "tenant": tenant,
                            "model": "camry", "milestone": "released", "stage": "released", "at": at,
                            "location": "georgetown", "resource": "georgetown/plant-yard"}).to_string());
                        body.push('\n');
                        ids.push(format!("load-{run}-{serial}"));
                        vins.push(vin);
                    }
                    batch_no += 1;
                    loop {
                        let a = request(addr, "POST", "/v1/events", &planner, &body);
                        let key = format!("write {}", a.as_ref().map_or(0, |a| a.status));
                        *statuses.lock().unwrap().entry(key).or_default() += 1;
                        match a {
                            Some(a) if a.status == 200 => {
                                acked.lock().unwrap().extend(vins.iter().cloned());
                                acked_ids.lock().unwrap().extend(ids.iter().cloned());
                                break;
                            }
                            Some(a) if a.status != 429 && a.status != 503 => {
                                panic!("batch {batch_no}: unexpected {}: {}", a.status, a.body)
                            }
                            _ => std::thread::sleep(Duration::from_millis(50)),
                        }
                    }
                }
                stop.store(true, Ordering::SeqCst);
            });
        }
        for c in 0..clients {
            let (statuses, sent, stop, viewer) =
                (statuses.clone(), sent.clone(), stop.clone(), viewer.clone());
            s.spawn(move || {
                let paths = [
                    "/v1/network",
                    "/v1/vehicles?limit=200",
                    "/v1/alerts?limit=200",
                    "/v1/voyages?limit=12",
                    "/v1/terminals/USLGB/schedule",
                ];
                let mut k = c;
                let mut st: BTreeMap<String, usize> = BTreeMap::new();
                while !stop.load(Ordering::SeqCst)
                    && Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::SeqCst) < max_requests
                {
                    let a = request(addr, "GET", paths[k % paths.len()], &viewer, "");
                    *st.entry(format!("read {}", a.map_or(0, |a| a.status)))
                        .or_default() += 1;
                    k += 1;
                }
                let mut s = statuses.lock().unwrap();
                for (code, n) in st {
                    *s.entry(code).or_default() += n;
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let acked = acked.lock().unwrap().clone();
    println!(
        "overload: {clients} reader threads and 1 writer for {elapsed:.1} s; answers (status 0: no answer): {:?}",
        statuses.lock().unwrap()
    );
    // Acknowledged events: a sample read back through the API now; the
    // whole list written to --acked FILE for a check in the database once
    // the server stopped (bench/api/load.sh).
    std::thread::sleep(Duration::from_secs(2));
    let mut missing = 0;
    let step = (acked.len() / 200).max(1);
    let sample: Vec<&String> = acked.iter().step_by(step).collect();
    for vin in &sample {
        loop {
            match request(addr, "GET", &format!("/v1/vehicles/{vin}"), &planner, "") {
                Some(a) if a.status == 200 => break,
                Some(a) if a.status == 404 => {
                    missing += 1;
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    println!(
        "acknowledged events: {}; a sample of {} read back through the API: {missing} missing",
        acked.len(),
        sample.len()
    );
    if let Some(path) = arg(args, "--acked") {
        let ids: String = acked_ids
            .lock()
            .unwrap()
            .iter()
            .map(|i| format!("{i}\n"))
            .collect();
        std::fs::write(&path, ids).expect("writing --acked");
    }
    if missing > 0 {
        std::process::exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("read") => read(&args),
        Some("overload") => overload(&args),
        _ => {
            eprintln!("usage: api_load read|overload --url URL --token TOKEN ... (see the source)");
            std::process::exit(2);
        }
    }
}
