#!/usr/bin/env bash
# Sustained ingest into the event store: over HTTP (`takt serve`, one client,
# one batch per request, answered after commit), via `takt ingest` (one
# document per batch), and the raw limit measured in the same run (plain
# batched INSERTs of the same log rows with the same durability), for SQLite
# and PostgreSQL. Loopback only; bounded by the event count.
#   bench/store/run.sh [EVENTS] [BATCH]      (defaults 20000 and 100)
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-20000}
BATCH=${2:-100}
cargo build --release --locked -q -p takt --bin takt
cargo build --release --locked -q -p takt-server --example store_bench
TAKT=target/release/takt
BENCH=target/release/examples/store_bench
source bench/store/pg.sh
TMP=$(mktemp -d /tmp/takt-bench-sqlite.XXXXXX)
echo "| backend | path | events | batch | events/s | p50 ack ms | p99 ack ms | ratio to raw |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
"$BENCH" ingest --takt "$TAKT" --db "$TMP/bench" --events "$EVENTS" --batch "$BATCH"
"$BENCH" ingest --takt "$TAKT" --db "$PG_URL" --events "$EVENTS" --batch "$BATCH"
rm -rf "$TMP"
