#!/usr/bin/env bash
# Two builds of the `stow_moves` example side by side on every OGC 2025
# problem, counted runs: one thread, MOVES annealing moves, one seed, so a
# build's plan does not depend on the machine's load and two builds that
# decide alike must print the same objective. For each problem both run at
# the same time (one core each), so both see the same load; prints a
# tab-separated row per problem (problem, both objectives, both user CPU
# seconds) and the CPU totals. For a change meant to make the search
# faster without changing it: the objectives must be equal.
#
# Usage: bench/stow/counted.sh BASELINE_STOW_MOVES NEW_STOW_MOVES [MOVES] [SEED] [DATA_DIR]
#   build each with `cargo build --release -p takt-stow --example stow_moves`
#   and copy target/release/examples/stow_moves away; MOVES defaults to
#   1000000, SEED to 1.
# Environment: PROBLEMS (only these, e.g. "stage2/prob2 stage2/prob9").
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="$1"
new="$2"
moves="${3:-1000000}"
seed="${4:-1}"
data="${5:-$repo/../shared/data/ogc2025}"
tmp="$(mktemp -d -t takt-stow-counted.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores; $moves moves, seed $seed; $(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1 /proc/loadavg)" >&2
printf "problem\tbaseline\tnew\tbaseline_cpu_s\tnew_cpu_s\n"
for stage in stage1 stage2; do
    for file in $(ls "$data/$stage"/*.json | sort -V); do
        name="$stage/$(basename "$file" .json)"
        if [[ -n "${PROBLEMS:-}" && " $PROBLEMS " != *" $name "* ]]; then
            continue
        fi
        /usr/bin/time -f "%U" -o "$tmp/b.t" "$base" "$file" "$moves" "$seed" > "$tmp/b.out" &
        /usr/bin/time -f "%U" -o "$tmp/n.t" "$new" "$file" "$moves" "$seed" > "$tmp/n.out"
        wait
        objective() { grep -o 'cost - LB [0-9]*' "$1" | grep -o '[0-9]*$'; }
        printf "%s\t%s\t%s\t%s\t%s\n" "$name" "$(objective "$tmp/b.out")" "$(objective "$tmp/n.out")" \
            "$(cat "$tmp/b.t")" "$(cat "$tmp/n.t")"
    done
done | tee "$tmp/rows.tsv"
awk -F'\t' '$2 != $3 { d++ } { b += $4; n += $5 }
    END { printf "CPU s: baseline %.2f, new %.2f (new/baseline %.3f); objectives differ on %d problems\n", b, n, n / b, d }' \
    "$tmp/rows.tsv" >&2
