#!/usr/bin/env python3
"""Runs takt's sequencer and the CP-SAT peer on the same instances and
writes the comparison table (markdown and JSON).

    bench/cpsat/setup.sh                      # once: the venv with ortools
    cargo build --release
    python3 bench/cpsat/compare.py [--sizes small,medium,large] [--time-limit 30]

For each scenario (the built-in `us-japan` and
crates/takt-sim/tests/data/other-network.toml) and size (small about 200
vehicles, medium about 2,000, large about 30,000) it makes one instance with
`takt instance --vehicles N --seed S`, then, one after the other (never
side by side: the two share the machine's cores):

- takt: `takt plan --instance ... --time-limit T --out ... --json ...` when
  that subcommand exists (otherwise the column says `missing`), then
  `takt check` on its plan;
- CP-SAT: bench/cpsat/solve.py with the same time limit and 2 workers, which
  scores its plan with `takt check` too.

Every objective in the table is the one `takt check` prints for the plan
file; the lower bound is the one `takt plan` prints. Nothing is filled in
that was not measured: a missing or failed run is shown as such.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCENARIOS = {
    "us-japan": None,
    "atlantic-test": os.path.join(ROOT, "crates/takt-sim/tests/data/other-network.toml"),
}
SIZES = {"small": 200, "medium": 2000, "large": 30000}


def run(cmd, **kw):
    t = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return r, time.monotonic() - t


def check(takt, scenario, plan):
    cmd = [takt, "check", "--plan", plan, "--max-violations", "5"]
    if scenario:
        cmd[2:2] = ["--scenario", scenario]
    r, _ = run(cmd)
    mo = re.search(r"objective ([0-9.]+) USD", r.stdout)
    mu = re.search(r"unplaced .*\((\d+) vehicles\)", r.stdout)
    return {
        "feasible": r.returncode == 0,
        "objective_usd": float(mo.group(1)) if mo else None,
        "unplaced": int(mu.group(1)) if mu else None,
        "summary": next((line for line in r.stdout.splitlines() if line.startswith(("feasible", "infeasible"))), r.stdout[-300:]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--takt", default=os.path.join(ROOT, "target/release/takt"))
    ap.add_argument("--python", default=os.path.join(HERE, ".venv/bin/python"))
    ap.add_argument("--sizes", default="small,medium,large")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "out/cpsat"))
    ap.add_argument("--cpsat-args", default="", help="extra arguments for solve.py, e.g. '--no-warm-start'")
    ap.add_argument("--no-takt", action="store_true", help="run CP-SAT only (takt's column says `not run`)")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    if not os.path.exists(a.python):
        sys.exit(f"{a.python} is missing: run bench/cpsat/setup.sh first")
    has_plan = run([a.takt, "plan", "--help"])[0].returncode == 0 and not a.no_takt
    rows = []
    for sc in a.scenarios.split(","):
        scenario = SCENARIOS[sc]
        for size in a.sizes.split(","):
            n = SIZES[size]
            stem = os.path.join(a.out_dir, f"{sc}-{size}-s{a.seed}")
            inst = stem + ".instance.json"
            if not os.path.exists(inst):
                cmd = [a.takt, "instance", "--vehicles", str(n), "--seed", str(a.seed), "--out", inst]
                if scenario:
                    cmd[2:2] = ["--scenario", scenario]
                r, _ = run(cmd)
                if r.returncode != 0:
                    sys.exit(r.stderr)
            vehicles = len(json.load(open(inst))["vehicles"])
            row = {"scenario": sc, "size": size, "vehicles": vehicles, "seed": a.seed, "time_limit_s": a.time_limit}
            # takt
            if has_plan:
                plan = stem + ".takt.json"
                fig = stem + ".takt.figures.json"
                cmd = [a.takt, "plan", "--instance", inst, "--time-limit", str(a.time_limit), "--out", plan, "--json", fig]
                if scenario:
                    cmd[2:2] = ["--scenario", scenario]
                r, wall = run(cmd)
                t = {"wall_s": round(wall, 2), "exit": r.returncode}
                if r.returncode == 0 and os.path.exists(plan):
                    t.update(check(a.takt, scenario, plan))
                    lb = None
                    if os.path.exists(fig):
                        lb = json.load(open(fig)).get("lower_bound_usd")
                    if lb is None:
                        mo = re.search(r"lower bound ([0-9.]+) USD", r.stdout)
                        lb = float(mo.group(1)) if mo else None
                    t["lower_bound_usd"] = lb
                else:
                    t["error"] = (r.stderr or r.stdout)[-300:]
                row["takt"] = t
            else:
                row["takt"] = None
            # CP-SAT
            plan = stem + ".cpsat.json"
            rep = stem + ".cpsat.report.json"
            cmd = [a.python, os.path.join(HERE, "solve.py"), "--takt", a.takt, "--instance", inst,
                   "--time-limit", str(a.time_limit), "--workers", "2", "--seed", str(a.seed),
                   "--out", plan, "--report", rep] + a.cpsat_args.split()
            if scenario:
                cmd[cmd.index("--instance"):cmd.index("--instance")] = ["--scenario", scenario]
            for f in (plan, rep):
                if os.path.exists(f):
                    os.unlink(f)
            r, wall = run(cmd)
            c = {"wall_s_outside": round(wall, 2), "exit": r.returncode}
            if os.path.exists(rep):
                c.update(json.load(open(rep)))
            else:
                c["error"] = (r.stderr or r.stdout)[-500:]
            row["cpsat"] = c
            rows.append(row)
            print(json.dumps(summary(row)), flush=True)
            json.dump(rows, open(os.path.join(a.out_dir, "table.json"), "w"), indent=2)
            open(os.path.join(a.out_dir, "table.md"), "w").write(markdown(rows, a))
    print(markdown(rows, a))


def summary(row):
    t, c = row["takt"] or {}, row["cpsat"]
    return {"scenario": row["scenario"], "size": row["size"], "vehicles": row["vehicles"],
            "takt": t.get("objective_usd"), "cpsat": c.get("objective_usd"), "lb": t.get("lower_bound_usd"),
            "cpsat_status": c.get("status"), "takt_wall": t.get("wall_s"), "cpsat_wall": c.get("wall_s")}


def usd(x):
    return "–" if x is None else f"{x:,.0f}"


def markdown(rows, a):
    out = [
        "| scenario | size | vehicles | takt objective (USD) | CP-SAT objective (USD) | CP-SAT warm start (USD) "
        "| lower bound (USD) | takt gap | CP-SAT gap | CP-SAT / takt | feasible: takt / CP-SAT "
        "| unplaced: takt / CP-SAT | wall s: takt / CP-SAT |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        t, c = row["takt"], row["cpsat"]
        lb = t.get("lower_bound_usd") if t else None
        to = t.get("objective_usd") if t else None
        co = c.get("objective_usd")
        ws = (c.get("warm_start") or {}).get("objective_usd")

        def gap(x):
            return "–" if x is None or lb is None or x <= 0 else f"{(x - lb) / x:.1%}"

        if t is None:
            tf, tu, tw, tos = "missing", "–", "–", ("not run" if a.no_takt else "missing (no `takt plan`)")
        elif "error" in t:
            tf, tu, tw, tos = "failed", "–", f"{t['wall_s']:.1f}", "failed"
        else:
            tf = "yes" if t["feasible"] else "NO"
            tu, tw, tos = str(t.get("unplaced")), f"{t['wall_s']:.1f}", usd(to)
        status = c.get("status", "error")
        if co is None:
            cf = {"UNKNOWN": "no solution in the limit",
                  "NO_SOLUTION_MODEL_NOT_BUILT_WITHIN_LIMIT": "no solution: model not built in the limit",
                  "NOT_SOLVED_BUILD_EXCEEDED_LIMIT": "no solution: limit spent before the search"}.get(status, status)
            cos = "none"
        else:
            cf = "yes" if c.get("feasible") else "NO"
            cos = usd(co)
        cw = c.get("wall_s")
        ratio = f"{co / to:.3f}" if co and to else "–"
        out.append(
            f"| {row['scenario']} | {row['size']} | {row['vehicles']:,} | {tos} | {cos} | {usd(ws)} | {usd(lb)} "
            f"| {gap(to)} | {gap(co)} | {ratio} | {tf} / {cf} | {tu} / {c.get('unplaced', '–')} "
            f"| {tw} / {cw if cw is not None else '–'} |"
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
