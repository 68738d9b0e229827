#!/usr/bin/env bash
# takt plan on instances of three sizes from two scenarios, 30 s each.
# Usage: bench/sequencer/static.sh [SECONDS] > table.md
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT=${1:-30}
cargo build --release --locked -q -p takt
T=target/release/takt
OUT=${OUT:-out/static}
mkdir -p "$OUT"
OTHER=crates/takt-sim/tests/data/other-network.toml
echo "| scenario | size | vehicles | construction USD | takt USD | lower bound USD | gap | candidates | wall s | feasible |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for name in us-japan other; do
  sargs=(); [ "$name" = other ] && sargs=(--scenario "$OTHER")
  for size in 200 2000 30000; do
    inst="$OUT/$name-$size.json"
    [ -f "$inst" ] || "$T" instance "${sargs[@]}" --vehicles "$size" --seed 1 --out "$inst" > /dev/null
    start=$(date +%s.%N)
    "$T" plan "${sargs[@]}" --instance "$inst" --time-limit "$LIMIT" --out "$OUT/$name-$size.plan.json" --json "$OUT/$name-$size.figures.json" > /dev/null || true
    end=$(date +%s.%N)
    python3 - "$OUT/$name-$size.figures.json" "$name" "$size" "$start" "$end" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
wall = float(sys.argv[5]) - float(sys.argv[4])
print(f"| {sys.argv[2]} | {sys.argv[3]} | {f['vehicles']} | {f['construction_usd']:,.0f} | {f['objective_usd']:,.0f} | {f['lower_bound_usd']:,.0f} | {100*f['gap']:.1f}% | {f['iterations']} | {wall:.1f} | {'yes' if f['feasible'] else 'NO'} |")
PY
  done
done
