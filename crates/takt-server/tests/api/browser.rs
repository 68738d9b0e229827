//! The dashboard in a real headless Chromium (Debian's `chromium`,
//! installed with apt-get when missing), driven over the Chrome DevTools
//! Protocol on a pipe (`--remote-debugging-pipe`: JSON messages ended by a
//! NUL byte, we write on the browser's fd 3 and read its fd 4). The server
//! runs on 127.0.0.1 on a free port over a simulated world. The test signs
//! in with a token, opens every view (by keyboard), checks each shows real
//! data, posts events and sees the live update arrive, and saves
//! screenshots in `target/screenshots/`.

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> std::path::PathBuf {
    let find = || {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.exists())
    };
    find().unwrap_or_else(|| {
        let ok = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "Chromium is not installed and `apt-get install chromium` failed");
        find().expect("chromium after installing it")
    })
}

struct Cdp {
    child: Child,
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next_id: u64,
    session: String,
    _profile: PathBuf,
}

impl Drop for Cdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._profile);
    }
}

impl Cdp {
    /// Starts Chromium; a browser that dies while starting (a loaded
    /// machine) is started again, three times at most.
    fn launch() -> Cdp {
        for attempt in 1..=3 {
            match std::panic::catch_unwind(Cdp::launch_once) {
                Ok(cdp) => return cdp,
                Err(e) if attempt < 3 => {
                    eprintln!("chromium did not start (attempt {attempt}): {e:?}; again");
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        unreachable!("three attempts")
    }

    fn launch_once() -> Cdp {
        let profile = std::env::temp_dir().join(format!("takt-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        // Pipes: the browser reads commands on fd 3 and writes answers on fd 4.
        let mut cmd_pipe = [0; 2];
        let mut ans_pipe = [0; 2];
        // SAFETY: plain pipe(2) calls into arrays of two descriptors.
        unsafe {
            assert_eq!(libc::pipe(cmd_pipe.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(ans_pipe.as_mut_ptr()), 0);
        }
        let (cmd_read, cmd_write) = (cmd_pipe[0], cmd_pipe[1]);
        let (ans_read, ans_write) = (ans_pipe[0], ans_pipe[1]);
        let mut command = Command::new(chromium());
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
                "--window-size=1440,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe fcntl/dup2/close between fork and exec.
        // The pipe ends are first copied above fd 10, so that placing them
        // on 3 and 4 cannot close one another when the pipe itself got fd 3
        // or 4 (other tests open and close files at the same time).
        unsafe {
            command.pre_exec(move || {
                let r = libc::fcntl(cmd_read, libc::F_DUPFD, 10);
                let w = libc::fcntl(ans_write, libc::F_DUPFD, 10);
                if r < 0 || w < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(cmd_write);
                libc::close(ans_read);
                if libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(r);
                libc::close(w);
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        // SAFETY: the descriptors are ours; the child holds its own copies.
        let (to, from) = unsafe {
            libc::close(cmd_read);
            libc::close(ans_write);
            (
                std::fs::File::from_raw_fd(cmd_write),
                std::fs::File::from_raw_fd(ans_read),
            )
        };
        let mut cdp = Cdp {
            child,
            to,
            from: BufReader::new(from),
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = cdp.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        cdp.session = attached["sessionId"].as_str().unwrap().to_string();
        cdp.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        cdp.call("Page.enable", json!({}));
        cdp
    }

    /// Sends a command (to the page's session once attached) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        loop {
            let mut buf = Vec::new();
            let n = self.from.read_until(0, &mut buf).unwrap();
            assert!(n > 0, "chromium closed the pipe");
            buf.pop();
            let v: Value = serde_json::from_slice(&buf).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    fn wait_for(&mut self, what: &str, expr: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.eval(expr) == json!(true) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "waited {timeout:?} for {what} ({expr}); page: {}",
                self.eval("document.body.innerText.slice(0, 600)")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn key(&mut self, key: &str) {
        for t in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": t, "key": key, "text": if t == "keyDown" { key } else { "" }}),
            );
        }
    }

    /// A full-page PNG in `target/screenshots/NAME.png`.
    fn screenshot(&mut self, name: &str) -> PathBuf {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let h = m["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(900.0)
            .clamp(600.0, 6000.0);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1440, "height": h, "scale": 1}}),
        );
        let png = base64_decode(shot["data"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

use std::path::Path;

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &c)| {
            acc | (u32::from(val(c)) << (18 - 6 * i))
        });
        let k = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=k]);
    }
    out
}

/// An HTTP/1.1 POST over a fresh connection: the status.
fn http_post(addr: std::net::SocketAddr, path: &str, token: &str, body: &str) -> u16 {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_dashboard_signs_in_shows_every_view_with_real_data_and_updates_live() {
    let w = super::live_routes::world_for_browser();
    let db = temp_db("browser");
    let url = db.to_str().unwrap().to_string();
    let live = Arc::new(LiveHandle::new(Live::new(
        w.0.clone(),
        w.1.clone(),
        super::live_routes::etas(&w.1),
    )));
    let at = w.1.created_at.timestamp();
    let state = AppState::new(
        Store::open(&url).unwrap(),
        AuthStore::open(&url).unwrap(),
        live.clone(),
    )
    .with_clock(Arc::new(move || at))
    .with_planner();
    let auth = AuthStore::open(&url).unwrap();
    let tenant = TenantId::parse("toyota").unwrap();
    let viewer = takt_server::auth::issue(&auth, &tenant, Role::Viewer, "browser", 0)
        .unwrap()
        .1;
    let planner = takt_server::auth::issue(&auth, &tenant, Role::Planner, "browser", 0)
        .unwrap()
        .1;
    let stop = takt_server::Shutdown::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            takt_server::run_until(
                "127.0.0.1:0".parse().unwrap(),
                state,
                move |a| tx.send(a).unwrap(),
                stop,
            )
        })
    };
    let addr = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    // The store has the world's events (the insight view reads them).
    let mine: Vec<Value> =
        w.2.iter()
            .filter(|m| m.tenant == "toyota")
            .map(|m| serde_json::to_value(m).unwrap())
            .collect();
    for chunk in mine.chunks(5_000) {
        assert_eq!(http_post(addr, "/v1/events", &planner, &lines(chunk)), 200);
    }

    let mut b = Cdp::launch();
    let t = Duration::from_secs(30);
    b.call("Page.navigate", json!({"url": format!("http://{addr}/")}));
    b.wait_for(
        "the login form",
        "!!document.querySelector('#token') && !document.querySelector('#login').hidden",
        t,
    );
    b.screenshot("0-login");
    // A wrong token is refused with a message.
    b.eval("document.querySelector('#token').value = 'takt_wrong'; document.querySelector('#login-form').requestSubmit(); true");
    b.wait_for(
        "the refusal",
        "document.querySelector('#login-error').textContent.includes('refused')",
        t,
    );
    b.eval(&format!(
        "document.querySelector('#token').value = {}; document.querySelector('#login-form').requestSubmit(); true",
        json!(viewer)
    ));
    b.wait_for("the network view", "document.querySelector('#view').dataset.view === 'network' && !!document.querySelector('#view svg circle')", t);
    b.wait_for(
        "the live stream",
        "document.querySelector('#status').textContent.includes('live')",
        t,
    );
    let n = b.eval("Number(document.querySelector('.kpi .v').textContent.replace(/,/g, ''))");
    let expected = w.1.vehicles.iter().filter(|v| v.tenant == "toyota").count();
    assert_eq!(n, json!(expected), "the vehicle count on the network view");
    b.screenshot("1-network");

    // Every view by keyboard, each with real data.
    let views = [
        (
            "2",
            "terminal",
            "document.querySelectorAll('#view rect.st-processing, #view rect.st-loading, #view rect.st-port_arrival').length > 0 && document.querySelector('#view').textContent.includes('America/Los_Angeles')",
        ),
        (
            "3",
            "vessels",
            "document.querySelectorAll('#view .card').length > 0 && document.querySelector('#view').textContent.includes('RT43')",
        ),
        (
            "4",
            "vehicle",
            "!!document.querySelector('#view rect.band') && /[0-9A-HJ-NPR-Z]{17}/.test(document.querySelector('#vin').value)",
        ),
        (
            "5",
            "insight",
            "document.querySelectorAll('#view table tbody tr').length > 2 && !!document.querySelector('#view svg rect.bar')",
        ),
        (
            "6",
            "alerts",
            "document.querySelectorAll('#view button[data-vin]').length > 0",
        ),
    ];
    for (key, view, ready) in views {
        b.key(key);
        b.wait_for(
            view,
            &format!("document.querySelector('#view').dataset.view === '{view}' && ({ready})"),
            t,
        );
        let n = views.iter().position(|v| v.1 == view).unwrap() + 2;
        b.screenshot(&format!("{n}-{view}"));
    }
    // The vessel view's stow order opens from the card.
    b.key("3");
    b.wait_for("vessels again", "document.querySelector('#view').dataset.view === 'vessels' && document.querySelectorAll('#view .card').length > 0", t);
    b.eval("document.querySelector('button[data-voyage]').click(); true");
    b.wait_for(
        "the stow order",
        "document.querySelectorAll('#stow tbody tr').length > 0",
        t,
    );

    // Live: events posted by a planner arrive without a reload.
    b.key("1");
    b.wait_for(
        "network again",
        "document.querySelector('#view').dataset.view === 'network'",
        t,
    );
    let before = b.eval("Number(document.body.dataset.eventsSeen || 0)");
    let at_event = w.1.created_at.plus(-10);
    let vin = takt_core::Vin::assemble("4T1", "DAACK", 2026, 'U', "777777")
        .unwrap()
        .to_string();
    let event = json!({"event_id": "browser-1", "vin": vin, "tenant": "toyota", "model": "camry",
        "milestone": "released", "stage": "released", "at": at_event.rfc3339(),
        "location": "georgetown", "resource": "georgetown/plant-yard"});
    assert_eq!(
        http_post(addr, "/v1/events", &planner, &lines(&[event])),
        200
    );
    b.wait_for(
        "the live event",
        &format!("Number(document.body.dataset.eventsSeen || 0) > {before} && document.querySelector('#toast').textContent.includes('1 new event')"),
        t,
    );
    b.screenshot("7-live-event");
    // A new plan arrives too: the status shows its version.
    live.publish(Live::new(
        w.0.clone(),
        w.1.clone(),
        super::live_routes::etas(&w.1),
    ));
    b.wait_for(
        "the new plan",
        "document.querySelector('#status').textContent.includes('plan v1')",
        t,
    );
    drop(b);
    stop.trigger();
    server.join().unwrap().unwrap();
}
