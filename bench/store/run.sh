#!/usr/bin/env bash
# Sustained ingest into the event store: over HTTP (`takt serve`, one client
# on one kept-alive connection, one batch per request, answered after commit), via `takt ingest` (one
# document per batch), and the raw limit measured in the same run (plain
# INSERTs of the same log rows with the same durability, one transaction per
# batch: one INSERT per row, and one multi-row INSERT per batch; the limit is
# the faster), for SQLite and PostgreSQL, with the CPU time of each path
# (PostgreSQL: the client's plus the server's). More rows: HTTP with 4 and
# with 16 clients at once (the server's writer thread stores the batches
# waiting together, group commit, as `takt ingest` does with the documents
# it has read ahead), and raw INSERTs of 4 batches per transaction, the
# reference for group commit (not part of the raw limit). Loopback only;
# bounded by the event count.
#   bench/store/run.sh [EVENTS] [BATCH] [ROUNDS]   (defaults 20000, 100 and 3)
# Each round runs every path once, on fresh databases; the figures are the
# medians over the rounds (the ratio: the median of each round's ratio).
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-20000}
BATCH=${2:-100}
ROUNDS=${3:-3}
cargo build --release --locked -q -p takt --bin takt
cargo build --release --locked -q -p takt-server --example store_bench
TAKT=target/release/takt
BENCH=target/release/examples/store_bench
source bench/store/pg.sh
TMP=$(mktemp -d /tmp/takt-bench-sqlite.XXXXXX)
echo "| backend | path | events | batch | events/s | p50 ack ms | p99 ack ms | CPU ms per 1k events | ratio to raw limit |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
"$BENCH" ingest --takt "$TAKT" --db "$TMP/bench" --events "$EVENTS" --batch "$BATCH" --rounds "$ROUNDS"
"$BENCH" ingest --takt "$TAKT" --db "$PG_URL" --events "$EVENTS" --batch "$BATCH" --rounds "$ROUNDS" \
  --pg-pid "$(head -1 "$PG_DATA/postmaster.pid")"
rm -rf "$TMP"
