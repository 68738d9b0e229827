//! The `takt` binary end to end, as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn takt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_takt"))
        .args(args)
        .output()
        .expect("takt runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("takt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn simulate(dir: &Path, seed: &str, days: &str) -> Output {
    takt(&[
        "simulate",
        "--days",
        days,
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn simulate_writes_events_plan_and_summary_deterministically() {
    let a = temp_dir("a");
    let b = temp_dir("b");
    let c = temp_dir("c");
    for (dir, seed) in [(&a, "9"), (&b, "9"), (&c, "10")] {
        let o = simulate(dir, seed, "35");
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let ea = std::fs::read(a.join("events.jsonl")).unwrap();
    assert_eq!(
        ea,
        std::fs::read(b.join("events.jsonl")).unwrap(),
        "same seed, same bytes"
    );
    assert_ne!(
        ea,
        std::fs::read(c.join("events.jsonl")).unwrap(),
        "another seed, other events"
    );

    // Each line carries the documented fields; `at` is RFC 3339 in UTC.
    let text = String::from_utf8(ea).unwrap();
    for line in text.lines().take(500) {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "event_id",
            "vin",
            "tenant",
            "milestone",
            "at",
            "location",
            "resource",
        ] {
            assert!(
                e.get(key).is_some_and(|v| v.is_string()),
                "{key} missing in {line}"
            );
        }
        assert!(e["at"].as_str().unwrap().ends_with('Z'));
    }

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    for key in [
        "vehicles_released",
        "vehicles_delivered",
        "vehicles_in_pipeline",
        "on_time_rate",
        "port_dwell_hours_mean",
        "dwell_hours",
        "vessel_utilization",
        "vehicles_rolled",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }
    assert!(summary["dwell_hours"]["processing"]["p50"].is_number());
    assert!(summary["dwell_hours"]["processing"]["p90"].is_number());
    let u = summary["vessel_utilization"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&u));

    // The plan passes the checker through the CLI.
    let o = takt(&["check", "--plan", a.join("plan.json").to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("feasible"), "{}", stdout(&o));
}

#[test]
fn check_rejects_a_broken_plan_with_its_violations() {
    let dir = temp_dir("broken");
    assert!(simulate(&dir, "3", "28").status.success());
    let path = dir.join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Move one vehicle's processing to an hour before it arrives at the port.
    let v = plan["vehicles"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["steps"].as_array().unwrap().len() == 10)
        .expect("a vehicle planned through delivery");
    let arrival = v["steps"][2]["start"].as_str().unwrap().to_string();
    let ts: jiff::Timestamp = arrival.parse().unwrap();
    let earlier = (ts - jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    v["steps"][3]["start"] = serde_json::Value::String(earlier);
    let broken = dir.join("broken.json");
    std::fs::write(&broken, serde_json::to_vec(&plan).unwrap()).unwrap();
    let o = takt(&["check", "--plan", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("infeasible"), "{}", stdout(&o));
}

#[test]
fn vin_validates_and_decodes() {
    let o = takt(&["vin", "1M8GDM9AXKP042788"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("valid"));
    let o = takt(&["vin", "1M8GDM9AYKP042788"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("check digit"), "{}", stdout(&o));
    let o = takt(&["vin", "WVWZZZ1JZXW000001"]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("Europe"));
    // A VIN the simulator issues names the manufacturer and plant from the scenario.
    let o = takt(&["vin", "4T1DAACK4TU100001"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Toyota") && out.contains("Georgetown") && out.contains("2026"),
        "{out}"
    );
}

#[test]
fn scenario_export_round_trips_and_broken_scenarios_name_field_and_line() {
    let dir = temp_dir("scenario");
    let file = dir.join("s.toml");
    let o = takt(&["scenario", "export", "--out", file.to_str().unwrap()]);
    assert!(o.status.success());
    let o = takt(&["scenario", "show", "--scenario", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("USNTD") && stdout(&o).contains("valid"));

    let text = std::fs::read_to_string(&file).unwrap();
    let bad = text.replacen(
        "time_zone = \"Asia/Tokyo\"",
        "time_zone = \"Asia/Tokio\"",
        1,
    );
    let line = bad.lines().position(|l| l.contains("Asia/Tokio")).unwrap() + 1;
    std::fs::write(&file, bad).unwrap();
    let out_dir = dir.join("out");
    let o = takt(&[
        "simulate",
        "--scenario",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("line {line}:"))
            && err.contains("time_zone")
            && err.contains("Asia/Tokio"),
        "{err}"
    );
    assert!(!out_dir.exists(), "nothing runs, nothing is written");
}

#[test]
fn demo_prints_a_summary() {
    let o = takt(&["demo", "--days", "21"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("vehicles released") && out.contains("on time"),
        "{out}"
    );
    assert!(out.contains("journey of"), "{out}");
}

#[test]
fn cert_status_reports_models_vehicles_and_alerts() {
    let dir = temp_dir("cert");
    assert!(simulate(&dir, "5", "49").status.success());
    let json = dir.join("cert.json");
    let o = takt(&[
        "cert",
        "status",
        "--events",
        dir.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "camry",
        "us_certification2026",
        "preferential_handling",
        "checklist",
        "annual cap",
        "alerts:",
    ] {
        assert!(out.contains(needle), "{needle} missing in:\n{out}");
    }
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(s["models"].as_array().unwrap().len(), 3);
    assert!(s["models"][0]["waiting_at"].is_object());
    // An unknown tenant is an error, not an empty report.
    let o = takt(&[
        "cert",
        "status",
        "--events",
        dir.to_str().unwrap(),
        "--tenant",
        "nobody",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown tenant `nobody`"));
}
