#!/usr/bin/env bash
# API load and overload tests against a running `takt demo`.
#
#   bench/api/load.sh [VOLUME_SCALE] [DAYS]
#
# 1. Read load: `takt demo` on the built-in scenario scaled so the plan
#    holds at least 100,000 vehicles (default --volume-scale 75, 56 days,
#    as fast as possible, rate limit raised so the clients measure latency,
#    not the limiter; the FIFO policy by default, POLICY=takt to re-plan
#    with the sequencer, which at this scale needs far longer to reach
#    100,000 vehicles; CACHE_MB=0 turns the server's answer cache off, so
#    every read is computed afresh). When /v1/network reports >= 100,000 vehicles,
#    `api_load read` sends the dashboard's reads from 8 clients for 45 s (at
#    most 200,000 requests) and prints latency percentiles per route: (a)
#    while the simulation still runs, (b) once the simulated days are over
#    and the demo serves the final plan.
# 2. Overload: the same demo restarted with the default rate limit and
#    --max-in-flight 32; `api_load overload` floods it from 256 reader
#    threads for 20 s while one writer posts batches of new events and
#    resends any batch answered 429/503 or not at all; a sample is read back
#    through the API, and after the server stops every acknowledged event id
#    is looked up in the database. Exit status 1 if one is missing.
# Bounded in time (each phase) and in requests. Results go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE="${1:-75}"
DAYS="${2:-56}"
cargo build --release -q -p takt -p takt-server --example api_load
TAKT=target/release/takt
LOAD=target/release/examples/api_load
WORK="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; cp "$WORK/demo.err" /tmp/takt-load-demo.err 2>/dev/null || true; rm -rf "$WORK"' EXIT

start_demo() { # extra args...
  rm -f "$WORK/takt.db"*
  "$TAKT" demo --volume-scale "$SCALE" --days "$DAYS" --speed 0 --quiet --eta-samples 0 --policy "${POLICY:-fifo}" \
    --addr 127.0.0.1:0 --db "$WORK/takt.db" "$@" > "$WORK/demo.out" 2> "$WORK/demo.err" &
  PID=$!
  for _ in $(seq 1 100); do [ "$(wc -l < "$WORK/demo.out")" -ge 2 ] && break; sleep 0.2; done
  URL="$(sed -n 1p "$WORK/demo.out" | awk '{print $2}')"
  TOKEN="$(sed -n 2p "$WORK/demo.out")"
}

wait_for_vehicles() { # N: until the plan has N vehicles (at most 20 minutes)
  for _ in $(seq 1 1200); do
    n="$(curl -s -m 30 -H "Authorization: Bearer $TOKEN" "${URL}v1/network" | python3 -c 'import json,sys; print(json.load(sys.stdin)["n_vehicles"])' 2>/dev/null || echo 0)"
    [ "$n" -ge "$1" ] && { echo "plan holds $n vehicles"; return 0; }
    sleep 1
  done
  echo "the plan never reached $1 vehicles" >&2; return 1
}

echo "== read load: takt demo --volume-scale $SCALE --days $DAYS --speed 0 --policy ${POLICY:-fifo} --answer-cache-mb ${CACHE_MB:-64} ($(nproc) cores, $(date -u +%F))"
start_demo --rate-per-second 1000000 --rate-burst 1000000 --answer-cache-mb "${CACHE_MB:-64}"
wait_for_vehicles 100000
echo "-- (a) while the simulation still runs at full speed (one core busy simulating and re-planning)"
"$LOAD" read --url "$URL" --token "$TOKEN" --clients 8 --seconds 45 --max-requests 200000
as_of() { curl -s -m 30 -H "Authorization: Bearer $TOKEN" "${URL}v1/network" | python3 -c 'import json,sys; print(json.load(sys.stdin)["as_of"])'; }
last=""; for _ in $(seq 1 600); do now="$(as_of)"; [ "$now" = "$last" ] && break; last="$now"; sleep 15; done
echo "-- (b) after the simulated days: the demo serves the final plan (as of $last)"
"$LOAD" read --url "$URL" --token "$TOKEN" --clients 8 --seconds 45 --max-requests 200000
kill "$PID"; wait "$PID" 2>/dev/null || true

echo "== overload: default rate limit (50/s, burst 200 per token), --max-in-flight 32"
start_demo --max-in-flight 32
wait_for_vehicles 20000
PLANNER="$("$TAKT" token create --db "$WORK/takt.db" --tenant loadtest --role planner | tail -1)"
"$LOAD" overload --url "$URL" --token "$TOKEN" --planner "$PLANNER" --tenant loadtest \
  --clients 256 --seconds 20 --max-requests 400000 --acked "$WORK/acked.txt"
kill -0 "$PID" && echo "the server is still up after the overload"
kill "$PID"; wait "$PID" 2>/dev/null || true
# Every acknowledged event id is in the database, once.
python3 - "$WORK/takt.db" "$WORK/acked.txt" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
stored = [r[0] for r in db.execute("SELECT event_id FROM event_log WHERE tenant = 'loadtest' AND kind = 'event'")]
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
missing = set(acked) - set(stored)
print(f"database check: {len(acked)} acknowledged events, {len(stored)} stored for the tenant, {len(missing)} acknowledged but missing, {len(stored) - len(set(stored))} stored twice")
sys.exit(1 if missing or len(stored) != len(set(stored)) else 0)
PY
