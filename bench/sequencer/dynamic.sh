#!/usr/bin/env bash
# Dynamic comparison of policies: same scenario, seeds and disruptions.
# Usage: bench/sequencer/dynamic.sh [DAYS] > table.md
# Writes one row per (scenario, scale, seed) with FIFO, jit and takt side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
DAYS=${1:-84}
cargo build --release --locked -q -p takt
T=target/release/takt
OUT=${OUT:-out/dynamic}
mkdir -p "$OUT"
OTHER=crates/takt-sim/tests/data/other-network.toml
rows=()
for spec in "us-japan::1" "us-japan::3" "other:$OTHER:1"; do
  name=${spec%%:*}; rest=${spec#*:}; file=${rest%%:*}; scale=${rest##*:}
  for seed in 1 2; do
    for policy in fifo jit takt; do
      dir="$OUT/$name-$scale-$seed-$policy"
      args=(simulate --policy "$policy" --volume-scale "$scale" --days "$DAYS" --seed "$seed" --out "$dir")
      [ -n "$file" ] && args+=(--scenario "$file")
      /usr/bin/time -f "%e %U" -o "$dir.time" "$T" "${args[@]}" > /dev/null 2>&1 || { mkdir -p "$dir"; /usr/bin/time -f "%e %U" -o "$dir.time" "$T" "${args[@]}" > /dev/null; }
    done
    rows+=("$name $scale $seed")
  done
done
python3 - "$OUT" "${rows[@]}" <<'PY'
import json, sys
out = sys.argv[1]
print("| scenario | scale | seed | port dwell h mean fifo / jit / takt | takt vs fifo | on time fifo / jit / takt | rolled fifo / jit / takt | vessel utilization fifo / jit / takt | takt wall s |")
print("|---|---|---|---|---|---|---|---|---|")
for row in sys.argv[2:]:
    name, scale, seed = row.split()
    s = {p: json.load(open(f"{out}/{name}-{scale}-{seed}-{p}/summary.json")) for p in ("fifo", "jit", "takt")}
    wall = open(f"{out}/{name}-{scale}-{seed}-takt.time").read().split()[0]
    d = lambda p: s[p]["port_dwell_hours_mean"]
    print(f"| {name} | {scale} | {seed} | {d('fifo'):.1f} / {d('jit'):.1f} / {d('takt'):.1f} | {100*(d('takt')/d('fifo')-1):+.0f}% | "
          + " / ".join(f"{100*s[p]['on_time_rate']:.1f}%" for p in ("fifo","jit","takt")) + " | "
          + " / ".join(str(s[p]["vehicles_rolled"]) for p in ("fifo","jit","takt")) + " | "
          + " / ".join(f"{s[p]['vessel_utilization']:.3f}" for p in ("fifo","jit","takt")) + f" | {wall} |")
PY
