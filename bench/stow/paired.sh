#!/usr/bin/env bash
# Two takt binaries side by side on every OGC 2025 problem: for each problem
# both run at the same time, each with the published time limit and the
# same threads, so both see the same machine load; every solution is
# checked by the second binary's `takt stow check`. Prints a markdown table
# of both objectives. Meant for comparing a change with the version before
# it on a shared machine, where timed results of separate runs are not
# comparable.
#
# Usage: bench/stow/paired.sh BASELINE_TAKT NEW_TAKT [DATA_DIR] [OUT_DIR]
# Environment: SEED (default 1), THREADS (default 2), PROBLEMS (only these,
# e.g. "stage2/prob2 stage2/prob9").
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="$1"
new="$2"
data="${3:-$repo/../shared/data/ogc2025}"
out="${4:-$(mktemp -d -t takt-stow-paired.XXXXXX)}"
seed="${SEED:-1}"
threads="${THREADS:-2}"
mkdir -p "$out"
echo "machine: $(nproc) cores, $(uname -sm); seed $seed, $threads threads each; $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
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
        load=$(cut -d' ' -f1 /proc/loadavg)
        for which in base new; do
            bin="$base"
            [[ "$which" == new ]] && bin="$new"
            "$bin" stow --instance "$file" --time-limit "$limit" \
                --out "$out/$stage-$name.$which.json" --seed "$seed" --threads "$threads" \
                > "$out/$stage-$name.$which.log" 2>&1 &
        done
        wait || true
        objs=()
        for which in base new; do
            if "$new" stow check --instance "$file" --solution "$out/$stage-$name.$which.json" \
                > "$out/$stage-$name.$which.check" 2>&1; then
                objs+=("$(sed -n 's/^cost - LB: //p' "$out/$stage-$name.$which.check")")
            else
                objs+=("infeasible")
            fi
        done
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stage/$name" "$limit" "${objs[0]}" "${objs[1]}" "$best" "$winner" "$load" >> "$rows"
        echo "$stage/$name: baseline ${objs[0]}, new ${objs[1]} (best team $best), load $load" >&2
    done
done

python3 - "$rows" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
print("| problem | time limit s | baseline | new | best team | winner | baseline/best | new/best | load before |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios = {}
for problem, limit, base, new, best, winner, load in rows:
    def r(x):
        return int(x) / int(best) if x.lstrip("-").isdigit() and int(best) > 0 else None
    rb, rn = r(base), r(new)
    if rb is not None and rn is not None:
        ratios.setdefault(problem.split("/")[0], []).append((rb, rn))
    f = lambda x: "-" if x is None else f"{x:.2f}"
    print(f"| {problem} | {limit} | {base} | {new} | {best} | {winner} | {f(rb)} | {f(rn)} | {load} |")
for stage, rs in sorted(ratios.items()):
    mb = sum(b for b, _ in rs) / len(rs)
    mn = sum(n for _, n in rs) / len(rs)
    print(f"\n{stage}: mean ratio to the best team, baseline {mb:.3f}, new {mn:.3f} over {len(rs)} problems")
PY
