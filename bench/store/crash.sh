#!/usr/bin/env bash
# The long crash test: a client streams batches of 40 events with unique ids
# to `takt serve` while the server is SIGKILLed at random moments (50-400 ms
# after each start) and restarted, KILLS times, on SQLite and on
# PostgreSQL; then every acknowledged event must be stored exactly once, the
# integrity check pass, and state recomputed from the log equal the stored
# state (Store::verify). The short version is the test
# serve_survives_sigkill_with_every_acknowledged_event_stored_once.
# With CLIENTS > 1, that many clients stream at once (their own ids each),
# so the server stores the batches waiting together (group commit).
#   bench/store/crash.sh [KILLS] [SEED] [CLIENTS]   (defaults 120, 1 and 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
KILLS=${1:-120}
SEED=${2:-1}
CLIENTS=${3:-1}
cargo build --release --locked -q -p takt --bin takt
cargo build --release --locked -q -p takt-server --example store_bench
TAKT=target/release/takt
BENCH=target/release/examples/store_bench
source bench/store/pg.sh
TMP=$(mktemp -d /tmp/takt-crash-sqlite.XXXXXX)
echo "| backend | kills | events acknowledged | requests refused or cut | exactly once | state = log | integrity | median restart ms | wall s |"
echo "|---|---:|---:|---:|---|---|---|---:|---:|"
"$BENCH" crash --takt "$TAKT" --db "$TMP/crash" --kills "$KILLS" --seed "$SEED" --clients "$CLIENTS"
"$BENCH" crash --takt "$TAKT" --db "$PG_URL" --kills "$KILLS" --seed "$SEED" --clients "$CLIENTS"
rm -rf "$TMP"
