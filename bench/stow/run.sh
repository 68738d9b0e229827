#!/usr/bin/env bash
# Vessel stowage benchmark: `takt stow` on every OGC 2025 stage-1 and stage-2
# problem at the published time limit, each solution checked by
# `takt stow check`, wall time, CPU time (user + system) and the machine's
# load average before each run measured, a markdown table printed.
#
# Usage: bench/stow/run.sh [DATA_DIR] [OUT_DIR]
#   DATA_DIR defaults to ../shared/data/ogc2025 (relative to the repository),
#   OUT_DIR (solutions and logs) to a fresh temporary directory.
# Environment: SEED (default 1), THREADS (default 2), TAKT (use this binary
# instead of building one), PROBLEMS (only these, e.g. "stage2/prob2 stage2/prob9"),
# FEATURES (cargo features of the build, default "highs": the re-packing
# steps solved by HiGHS, which needs cmake, libclang and a C++ compiler;
# FEATURES= builds the pure-Rust default).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="${1:-$repo/../shared/data/ogc2025}"
out="${2:-$(mktemp -d -t takt-stow-bench.XXXXXX)}"
seed="${SEED:-1}"
threads="${THREADS:-2}"
mkdir -p "$out"

if [[ -z "${TAKT:-}" ]]; then
    features="${FEATURES-highs}"
    (cd "$repo" && cargo build --release -p takt ${features:+--features "$features"} >&2)
    # Run a private copy: other builds may replace target/release/takt meanwhile.
    cp "$repo/target/release/takt" "$out/takt"
    TAKT="$out/takt"
fi

echo "machine: $(nproc) cores, $(uname -sm); seed $seed, $threads threads; $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
echo "solutions and logs: $out" >&2

rows="$out/rows.tsv"
: > "$rows"
for stage in stage1 stage2; do
    for file in $(ls "$data/$stage"/*.json | sort -V); do
        name="$(basename "$file" .json)"
        if [[ -n "${PROBLEMS:-}" && " $PROBLEMS " != *" $stage/$name "* ]]; then
            continue
        fi
        read -r limit best winner < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]]
print(r["time_limit_s"], r["best_team_objective"], r["winner_objective"])
' "$data/results.json" "$stage" "$name")
        sol="$out/$stage-$name.solution.json"
        load=$(cut -d' ' -f1 /proc/loadavg)
        start=$(date +%s.%N)
        /usr/bin/time -f '%U %S' -o "$out/$stage-$name.time" \
            "$TAKT" stow --instance "$file" --time-limit "$limit" --out "$sol" \
            --seed "$seed" --threads "$threads" > "$out/$stage-$name.log" 2>&1 || true
        end=$(date +%s.%N)
        cpu=$(python3 -c 'import sys; u, s = open(sys.argv[1]).read().split()[-2:]; print(f"{float(u) + float(s):.1f}")' "$out/$stage-$name.time")
        wall=$(python3 -c "print(f'{$end - $start:.2f}')")
        if "$TAKT" stow check --instance "$file" --solution "$sol" > "$out/$stage-$name.check" 2>&1; then
            feasible=yes
        else
            feasible=no
        fi
        objective=$(sed -n 's/^cost - LB: //p' "$out/$stage-$name.check")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stage/$name" "$limit" "${objective:-none}" "$best" "$winner" "$wall" "$cpu" "$load" "$feasible" >> "$rows"
        echo "$stage/$name: cost - LB ${objective:-none} (best team $best), ${wall}s, cpu ${cpu}s, load $load, feasible $feasible" >&2
    done
done

python3 - "$rows" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
print("| problem | time limit s | takt objective (cost - LB), takt on 2 cores | best team (teams: up to 4 cores) | winner | ratio takt/best | wall s | takt CPU s | load before | feasible |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
ratios = {}
beat = {}
for problem, limit, obj, best, winner, wall, cpu, load, feasible in rows:
    ratio = f"{int(obj) / int(best):.2f}" if obj.lstrip("-").isdigit() and int(best) > 0 else "-"
    if ratio != "-":
        ratios.setdefault(problem.split("/")[0], []).append(int(obj) / int(best))
        beat.setdefault(problem.split("/")[0], []).append((int(obj) <= int(best), int(obj) < int(winner)))
    print(f"| {problem} | {limit} | {obj} | {best} | {winner} | {ratio} | {wall} | {cpu} | {load} | {feasible} |")
for stage, rs in sorted(ratios.items()):
    b = beat[stage]
    print(f"\n{stage}: mean ratio takt/best {sum(rs) / len(rs):.3f} over {len(rs)} problems; "
          f"equal to or better than the best team on {sum(x for x, _ in b)}, better than the winner on {sum(y for _, y in b)}")
PY
