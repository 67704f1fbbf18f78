#!/usr/bin/env bash
# The decision service over HTTP in each of its deployments, in one run on this machine, the
# same load as run.sh (wrk, 100,000 keys, requests to media on mastodon judging 7 buckets):
#   in-memory   one server, buckets in process (SQLite)
#   redis x1    one server, buckets in a private Redis, PostgreSQL for the rest
#   redis x2    two servers sharing that Redis and PostgreSQL, each driven by its own wrk
#               (-t1 -c32, so the load is the same 64 connections in all)
# then how long a change on one server takes to govern the other (bench/src/bin/propagation.rs).
# Usage: bench/load/several.sh [SECONDS=20] [ROUNDS=3]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
ensure_apt wrk wrk
ensure_apt redis-server redis-server
SECS=${1:-20} ROUNDS=${2:-3}
cd "$ROOT"
cargo build --release -p flowgate-server --bin flowgate-server -p flowgate-bench --bin propagation
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
BIN="$TARGET/flowgate-server"
source "$ROOT/bench/load/server.sh"

start_postgres
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$services_dir/redis.pid" --dir "$services_dir" >/dev/null
stop_all() {
  stop_server
  if [ -n "${PID_B:-}" ]; then kill "$PID_B" 2>/dev/null || true; wait "$PID_B" 2>/dev/null || true; fi
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  stop_services
}
trap stop_all EXIT
REDIS="redis://127.0.0.1:$REDIS_PORT"
KEY=$(head -c 32 /dev/urandom | base64)
# The propagation probe polls the API every millisecond: lift the servers' own API limits
# (the decision service is not under them anyway).
UNLIMITED_API=(FLOWGATE_API_REQUESTS_PER_MINUTE=100000000 FLOWGATE_API_REQUESTS_PER_HOUR=100000000
  FLOWGATE_API_REQUESTS_PER_DAY=100000000 FLOWGATE_API_MAX_BURST=100000000)

# rate p50 p99 of a wrk report
summary() { awk '/Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 } END { print r, p50, p99 }' "$1"; }

database() { # a new database in the private cluster; prints its URL
  local name="fg_bench_$RANDOM$RANDOM"
  psql -q "$FLOWGATE_TEST_POSTGRES" -c "CREATE DATABASE $name" >/dev/null
  echo "${FLOWGATE_TEST_POSTGRES%/*}/$name"
}

echo "$(nproc) cores; wrk 64 connections, $SECS s per turn, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
  start_server "$BIN"
  drive "$SECS"
  echo "round $round  in-memory  $(summary "$DIR/wrk")"
  stop_server

  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  DB=$(database)
  start_server "$BIN" FLOWGATE_DATABASE_URL="$DB" FLOWGATE_SECRET_KEY="$KEY" FLOWGATE_REDIS_URL="$REDIS" \
    "${UNLIMITED_API[@]}"
  drive "$SECS"
  echo "round $round  redis x1   $(summary "$DIR/wrk")"
  # A second server on the same database and Redis; each takes half the connections.
  A_BASE=$BASE A_DIR=$DIR
  DIR_B=$(mktemp -d)
  env FLOWGATE_ADDR=127.0.0.1:0 FLOWGATE_DATABASE_URL="$DB" FLOWGATE_SECRET_KEY="$KEY" FLOWGATE_REDIS_URL="$REDIS" \
    "${UNLIMITED_API[@]}" FLOWGATE_LOG=warn "$BIN" > "$DIR_B/out" &
  PID_B=$!
  for _ in $(seq 100); do grep -q "listening on" "$DIR_B/out" 2>/dev/null && break; sleep 0.1; done
  B_BASE=$(sed -n 's/^flowgate listening on //p' "$DIR_B/out")
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  FLOWGATE_TOKEN="$TOKEN" wrk -t1 -c32 -d"${SECS}s" --latency -s bench/load/check.lua "$A_BASE" > "$A_DIR/wrk-a" &
  WRK_A=$!
  FLOWGATE_TOKEN="$TOKEN" wrk -t1 -c32 -d"${SECS}s" --latency -s bench/load/check.lua "$B_BASE" > "$DIR_B/wrk-b"
  wait "$WRK_A"
  read -r RA P50A P99A < <(summary "$A_DIR/wrk-a")
  read -r RB P50B P99B < <(summary "$DIR_B/wrk-b")
  echo "round $round  redis x2   $(awk -v a="$RA" -v b="$RB" 'BEGIN { print a + b }')  A: $P50A $P99A  B: $P50B $P99B"
  if [ "$round" = "$ROUNDS" ]; then
    "$TARGET/propagation" "$A_BASE" "$B_BASE" "$TOKEN" 100
  fi
  kill "$PID_B"; wait "$PID_B" 2>/dev/null || true; PID_B=""
  rm -rf "$DIR_B"
  stop_server
done
