#!/usr/bin/env python3
"""Cross-check takt's insight figures with pm4py, and time both.

1. `takt simulate` at a volume giving >= 1 million events (the 1M log), and
   again at >= 10 million events (the 10M log).
2. `takt export ocel` of the 1M log.
3. pm4py reads the OCEL 2.0 JSON; per object type it flattens the log and
   computes the waiting time between consecutive activities (performance
   DFG: mean and median per edge). For vehicles (journey milestones only)
   this is compared with takt's own figures on the same log: the
   `transitions` of `takt insight --json` (start-to-start between
   consecutive milestones) and the dwell of the stays (`released`: released
   to inland_departed; `yard`: yard_staged to loading_started).
4. Times pm4py reading 1M events against takt computing the full insight
   report (reading events.jsonl included) on 10M events.

Usage: bench/insight/run.py [--takt target/release/takt] [--work DIR]
Results: DIR/results.json and a Markdown summary on standard output.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

JOURNEY = [
    "released", "inland_departed", "port_arrived", "processing_started",
    "yard_staged", "loading_started", "vessel_departed", "discharged",
    "certification_started", "delivery_departed", "delivered",
]


def run(cmd):
    """Runs a command; returns (seconds, stdout, peak RSS in MB)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return dt, p.stdout, rss_kb / 1024


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def simulate(takt, out, days, scale, seed):
    if not os.path.exists(os.path.join(out, "summary.json")):
        dt, _, rss = run([takt, "simulate", "--days", str(days), "--volume-scale", str(scale),
                          "--seed", str(seed), "--out", out])
        print(f"simulated {out}: {dt:.1f} s, {rss:.0f} MB", file=sys.stderr)
    return count_lines(os.path.join(out, "events.jsonl"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--takt", default="target/release/takt")
    ap.add_argument("--work", default="/tmp/takt-insight-bench")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days-1m", type=int, default=182)
    ap.add_argument("--scale-1m", type=float, default=24)
    ap.add_argument("--days-10m", type=int, default=365)
    ap.add_argument("--scale-10m", type=float, default=110)
    args = ap.parse_args()
    takt = os.path.abspath(args.takt)
    os.makedirs(args.work, exist_ok=True)
    res = {"seed": args.seed}

    # 1. Logs.
    d1 = os.path.join(args.work, "log1m")
    n1 = simulate(takt, d1, args.days_1m, args.scale_1m, args.seed)
    res["log_1m"] = {"days": args.days_1m, "volume_scale": args.scale_1m, "events": n1}
    d10 = os.path.join(args.work, "log10m")
    n10 = simulate(takt, d10, args.days_10m, args.scale_10m, args.seed)
    res["log_10m"] = {"days": args.days_10m, "volume_scale": args.scale_10m, "events": n10}

    # 2. OCEL export and takt's figures on the 1M log.
    ocel_path = os.path.join(args.work, "log1m.ocel.json")
    dt, out, rss = run([takt, "export", "ocel", "--volume-scale", str(args.scale_1m),
                        "--events", d1, "--out", ocel_path])
    res["takt_export_1m"] = {"seconds": round(dt, 2), "peak_rss_mb": round(rss)}
    ins1 = os.path.join(args.work, "insight1m.json")
    dt, _, rss = run([takt, "insight", "--volume-scale", str(args.scale_1m), "--events", d1,
                      "--json", ins1])
    res["takt_insight_1m"] = {"seconds": round(dt, 2), "peak_rss_mb": round(rss)}
    takt_report = json.load(open(ins1))

    # 3. pm4py on the same log.
    import pm4py
    res["pm4py_version"] = pm4py.__version__
    t0 = time.perf_counter()
    ocel = pm4py.read_ocel2_json(ocel_path)
    res["pm4py_read_1m"] = {"seconds": round(time.perf_counter() - t0, 2)}
    res["pm4py_events"] = int(len(ocel.events))
    res["pm4py_objects"] = int(len(ocel.objects))

    per_type = {}
    vehicle_dfg = None
    for otype in ["vehicle", "inland_load", "voyage", "terminal_resource", "dealer"]:
        t0 = time.perf_counter()
        o = ocel
        if otype == "vehicle":
            o = pm4py.filter_ocel_event_attribute(ocel, "ocel:activity", JOURNEY, positive=True)
        flat = pm4py.ocel_flattening(o, otype)
        dfg, _, _ = pm4py.discover_performance_dfg(
            flat, case_id_key="case:concept:name", activity_key="concept:name",
            timestamp_key="time:timestamp")
        edges = sorted(dfg.items(), key=lambda kv: -kv[1]["count"] if "count" in kv[1] else 0)
        per_type[otype] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "cases": int(flat["case:concept:name"].nunique()),
            "edges": len(dfg),
            "top_edges": [
                {"from": a, "to": b, "mean_hours": round(v["mean"] / 3600, 4),
                 "median_hours": round(v["median"] / 3600, 4)}
                for (a, b), v in list(dfg.items())[:8]
            ],
        }
        if otype == "vehicle":
            vehicle_dfg = dfg
    res["pm4py_per_object_type"] = per_type

    # Compare vehicle edges with takt's transitions (means: same definition;
    # medians: pm4py averages the two middle values, takt takes the nearest
    # rank, so medians may differ by half a gap).
    rows = []
    for t in takt_report["transitions"]:
        v = vehicle_dfg.get((t["from"], t["to"]))
        if v is None:
            rows.append({"edge": f"{t['from']}->{t['to']}", "takt_n": t["n"], "pm4py": None})
            continue
        rows.append({
            "edge": f"{t['from']}->{t['to']}",
            "takt_n": t["n"],
            "takt_mean_hours": t["mean_hours"],
            "pm4py_mean_hours": round(v["mean"] / 3600, 4),
            "mean_diff_hours": round(abs(t["mean_hours"] - v["mean"] / 3600), 4),
            "takt_p50_hours": t["p50_hours"],
            "pm4py_median_hours": round(v["median"] / 3600, 4),
            "median_diff_hours": round(abs(t["p50_hours"] - v["median"] / 3600), 4),
        })
    missing = [e for e in vehicle_dfg if f"{e[0]}->{e[1]}" not in {r["edge"] for r in rows}]
    # Dwell of the stays against the matching edges.
    dwell = {d["stage"]: d for d in takt_report["dwell_hours_by_stage"]}
    stays = []
    for stage, edge in [("released", ("released", "inland_departed")),
                        ("yard", ("yard_staged", "loading_started"))]:
        v = vehicle_dfg.get(edge)
        if v and stage in dwell:
            stays.append({"stage": stage, "takt_mean_hours": dwell[stage]["mean"],
                          "pm4py_mean_hours": round(v["mean"] / 3600, 4),
                          "diff_hours": round(abs(dwell[stage]["mean"] - v["mean"] / 3600), 4),
                          "takt_n": dwell[stage]["n"]})
    res["comparison"] = {
        "edges": rows,
        "pm4py_edges_not_in_takt": [f"{a}->{b}" for a, b in missing],
        "largest_mean_diff_hours": max((r.get("mean_diff_hours", 0) for r in rows), default=None),
        "largest_median_diff_hours": max((r.get("median_diff_hours", 0) for r in rows), default=None),
        "stays": stays,
        "largest_stay_mean_diff_hours": max((s["diff_hours"] for s in stays), default=None),
    }
    del ocel

    # 4. takt's full report on the 10M log.
    ins10 = os.path.join(args.work, "insight10m.json")
    dt, _, rss = run([takt, "insight", "--volume-scale", str(args.scale_10m), "--events", d10,
                      "--json", ins10, "--html", os.path.join(args.work, "insight10m.html")])
    res["takt_insight_10m"] = {"seconds": round(dt, 2), "peak_rss_mb": round(rss)}
    res["ratio_pm4py_read_1m_over_takt_insight_10m"] = round(
        res["pm4py_read_1m"]["seconds"] / res["takt_insight_10m"]["seconds"], 2)
    json.dump(res, open(os.path.join(args.work, "results.json"), "w"), indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
