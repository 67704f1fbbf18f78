#!/usr/bin/env bash
# Decisions per second of POST /api/v1/limits/check over keep-alive connections on loopback,
# with p50/p99 latency: starts a release build of the server on a fresh database, creates a
# token, and drives it with wrk (2 threads, 64 connections, 20 s). Usage: bench/load/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
ensure_apt wrk wrk
cd "$ROOT"
cargo build --release -p flowgate-server --bin flowgate-server
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/flowgate-server"
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
FLOWGATE_ADDR=127.0.0.1:0 FLOWGATE_DATABASE_URL="sqlite://$DIR/flowgate.db" \
  FLOWGATE_ADMIN_PASSWORD=load-test-password FLOWGATE_LOG=warn "$BIN" > "$DIR/out" &
PID=$!
for _ in $(seq 100); do grep -q "listening on" "$DIR/out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/^flowgate listening on //p' "$DIR/out")
COOKIE=$(curl -si -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"username":"admin","password":"load-test-password"}' | sed -n 's/^set-cookie: flowgate_session=\([^;]*\).*/\1/ip')
TOKEN=$(curl -s -X POST "$BASE/api/v1/tokens" -H 'content-type: application/json' -H "origin: $BASE" \
  -H "cookie: flowgate_session=$COOKIE" -d '{"name":"load"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
# Limits with a platform and an endpoint scope, so each decision judges 7 buckets.
curl -s -o /dev/null -X PUT "$BASE/api/v1/limits" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
  -d '{"requests_per_minute":600,"max_burst":50,"endpoint_limits":{"media":{"minute":300,"hour":5000}},"platform_limits":{"mastodon":{"minute":300,"hour":5000}}}'
echo "server: $BASE (pid $PID); $(nproc) cores; wrk -t2 -c64 -d20s --latency"
# The server's CPU time (user + system, in clock ticks) around the run: CPU per decision moves
# less with this shared machine's mood than decisions per second do.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
BEFORE=$(cpu_ticks)
FLOWGATE_TOKEN="$TOKEN" wrk -t2 -c64 -d20s --latency -s "$ROOT/bench/load/check.lua" "$BASE" | tee "$DIR/wrk"
AFTER=$(cpu_ticks)
REQUESTS=$(awk '/requests in/{print $1}' "$DIR/wrk")
awk -v t=$((AFTER - BEFORE)) -v hz="$(getconf CLK_TCK)" -v n="$REQUESTS" \
  'BEGIN { printf "server CPU per decision: %.1f µs\n", t / hz / n * 1e6 }'
