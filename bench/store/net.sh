#!/usr/bin/env bash
# Sustained ingest into PostgreSQL across an emulated network: the same
# paths as run.sh, with every byte between takt (and the raw INSERTs) and
# the server held DELAY seconds each way by bench/store/delay_proxy.py
# (the kernel here has no netem). Loopback only; bounded by the event count.
#   bench/store/net.sh [DELAY] [EVENTS] [ROUNDS]   (defaults 0.00025, 20000 and 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
DELAY=${1:-0.00025}
EVENTS=${2:-20000}
ROUNDS=${3:-3}
cargo build --release --locked -q -p takt --bin takt
cargo build --release --locked -q -p takt-server --example store_bench
source bench/store/pg.sh
PROXY=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 bench/store/delay_proxy.py "$PROXY" "$PG_PORT" "$DELAY" &
PROXY_PID=$!
trap 'kill $PROXY_PID; as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null; rm -rf "$PG_DATA"' EXIT
sleep 0.5
echo "| backend | path | events | batch | events/s | p50 ack ms | p99 ack ms | CPU ms per 1k events | ratio to raw limit |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
target/release/examples/store_bench ingest --takt target/release/takt \
  --db "postgres://postgres@127.0.0.1:$PROXY" --events "$EVENTS" --batch 100 --rounds "$ROUNDS" \
  --pg-pid "$(head -1 "$PG_DATA/postmaster.pid")"
