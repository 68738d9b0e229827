#!/usr/bin/env bash
# Property-based API testing of takt's OpenAPI document with schemathesis,
# against a running `takt demo` (built-in scenario, 14 simulated days, then
# serving the final state), with an admin token so every operation is
# reachable. Checks: no server error, every answer conforms to the schema
# (status code documented, content type, body), plus schemathesis' other
# checks. /v1/stream (server-sent events, never ends) is left out.
#
#   bench/api/setup.sh          # once: the venv
#   bench/api/schemathesis.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-100}"
[ -x bench/api/.venv/bin/schemathesis ] || bench/api/setup.sh
cargo build --release -q -p takt
TAKT=target/release/takt
WORK="$(mktemp -d)"
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$TAKT" demo --days 14 --speed 0 --quiet --eta-samples 8 --addr 127.0.0.1:0 --db "$WORK/takt.db" \
  --rate-per-second 1000000 --rate-burst 1000000 > "$WORK/demo.out" 2> "$WORK/demo.err" &
PID=$!
for _ in $(seq 1 100); do [ "$(wc -l < "$WORK/demo.out")" -ge 2 ] && break; sleep 0.2; done
URL="$(sed -n 1p "$WORK/demo.out" | awk '{print $2}')"
sleep 3 # let the simulated days run and the plan be published
ADMIN="$("$TAKT" token create --db "$WORK/takt.db" --tenant toyota --role admin --label schemathesis | tail -1)"
echo "schemathesis $(bench/api/.venv/bin/schemathesis --version | awk '{print $NF}') against ${URL}openapi.json, $N examples per operation ($(nproc) cores, $(date -u +%F))"
bench/api/.venv/bin/schemathesis run "${URL}openapi.json" \
  -H "Authorization: Bearer $ADMIN" \
  --checks all --max-examples "$N" --seed 7 --workers 2 \
  --exclude-path /v1/stream --request-timeout 30 \
  --report junit --report-dir "$WORK/report" --warnings off
