#!/usr/bin/env bash
# Dynamic comparison of policies: same scenario, seeds and disruptions.
# Usage: [SEEDS="1 2"] [OUT=out/dynamic] [RENDER_ONLY=1] bench/sequencer/dynamic.sh [DAYS] > table.md
# (RENDER_ONLY=1 writes the table from the runs already in OUT.)
# Writes one row per (scenario, scale, seed) with FIFO, jit and takt side by side.
# Port dwell (port arrival to vessel departure) p50/p90 come from events.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
DAYS=${1:-84}
[ -n "${RENDER_ONLY:-}" ] || cargo build --release --locked -q -p takt
T=target/release/takt
OUT=${OUT:-out/dynamic}
mkdir -p "$OUT"
OTHER=crates/takt-sim/tests/data/other-network.toml
rows=()
for spec in "us-japan::1" "us-japan::3" "other:$OTHER:1"; do
  name=${spec%%:*}; rest=${spec#*:}; file=${rest%%:*}; scale=${rest##*:}
  for seed in ${SEEDS:-1 2}; do
    for policy in fifo jit takt; do
      [ -n "${RENDER_ONLY:-}" ] && continue
      dir="$OUT/$name-$scale-$seed-$policy"
      args=(simulate --policy "$policy" --volume-scale "$scale" --days "$DAYS" --seed "$seed" --out "$dir")
      [ -n "$file" ] && args+=(--scenario "$file")
      /usr/bin/time -f "%e %U" -o "$dir.time" "$T" "${args[@]}" > /dev/null 2>&1 || { mkdir -p "$dir"; /usr/bin/time -f "%e %U" -o "$dir.time" "$T" "${args[@]}" > /dev/null; }
    done
    rows+=("$name $scale $seed")
  done
done
python3 - "$OUT" "${rows[@]}" <<'PY'
import json, math, sys
out = sys.argv[1]

def dwell_quantiles(run):
    # Hours from each vehicle's port arrival to its vessel's departure.
    arrived, departed = {}, {}
    for line in open(f"{out}/{run}/events.jsonl"):
        m = json.loads(line)
        if m["milestone"] == "port_arrived":
            arrived.setdefault(m["vin"], m["at"])
        elif m["milestone"] == "vessel_departed":
            departed.setdefault(m["vin"], m["at"])
    from datetime import datetime
    t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() / 3600
    xs = sorted(t(departed[v]) - t(a) for v, a in arrived.items() if v in departed)
    q = lambda p: xs[max(1, math.ceil(p * len(xs))) - 1] if xs else float("nan")
    return q(0.5), q(0.9)

print("| scenario | scale | seed | port dwell h mean fifo / jit / takt | takt vs fifo | port dwell h p50 / p90 fifo; jit; takt | on time fifo / jit / takt | rolled fifo / jit / takt | vessel utilization fifo / jit / takt | takt wall s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for row in sys.argv[2:]:
    name, scale, seed = row.split()
    s = {p: json.load(open(f"{out}/{name}-{scale}-{seed}-{p}/summary.json")) for p in ("fifo", "jit", "takt")}
    wall = open(f"{out}/{name}-{scale}-{seed}-takt.time").read().split()[0]
    d = lambda p: s[p]["port_dwell_hours_mean"]
    qs = "; ".join("%.0f / %.0f" % dwell_quantiles(f"{name}-{scale}-{seed}-{p}") for p in ("fifo", "jit", "takt"))
    print(f"| {name} | {scale} | {seed} | {d('fifo'):.1f} / {d('jit'):.1f} / {d('takt'):.1f} | {100*(d('takt')/d('fifo')-1):+.0f}% | {qs} | "
          + " / ".join(f"{100*s[p]['on_time_rate']:.2f}%" for p in ("fifo","jit","takt")) + " | "
          + " / ".join(str(s[p]["vehicles_rolled"]) for p in ("fifo","jit","takt")) + " | "
          + " / ".join(f"{s[p]['vessel_utilization']:.3f}" for p in ("fifo","jit","takt")) + f" | {wall} |")
PY
