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
source "$ROOT/bench/load/server.sh"
trap stop_server EXIT
start_server "$BIN"
echo "server: $BASE (pid $PID); $(nproc) cores; wrk -t2 -c64 -d20s --latency"
BEFORE=$(cpu_ticks)
FLOWGATE_TOKEN="$TOKEN" wrk -t2 -c64 -d20s --latency -s "$ROOT/bench/load/check.lua" "$BASE" | tee "$DIR/wrk"
AFTER=$(cpu_ticks)
REQUESTS=$(awk '/requests in/{print $1}' "$DIR/wrk")
awk -v t=$((AFTER - BEFORE)) -v hz="$(getconf CLK_TCK)" -v n="$REQUESTS" \
  'BEGIN { printf "server CPU per decision: %.1f µs\n", t / hz / n * 1e6 }'
