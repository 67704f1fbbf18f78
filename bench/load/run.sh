#!/usr/bin/env bash
# Decisions per second of POST /api/v1/limits/check over keep-alive connections on loopback,
# with p50/p99 latency: starts a release build of the server on a fresh database, creates a
# token, and drives it with wrk (2 threads, 64 connections, 20 s). Prints wrk's report, the
# server's CPU per decision, and wrk's own CPU per request (the two share the machine).
# Usage: bench/load/run.sh
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
drive 20
AFTER=$(cpu_ticks)
cat "$DIR/wrk"
REQUESTS=$(awk '/requests in/{print $1}' "$DIR/wrk")
read -r WRK_USER WRK_SYS < "$DIR/wrk-cpu"
awk -v t=$((AFTER - BEFORE)) -v hz="$(getconf CLK_TCK)" -v n="$REQUESTS" \
  -v wrk_user="$WRK_USER" -v wrk_sys="$WRK_SYS" -v cores="$(nproc)" 'BEGIN {
    server = t / hz / n * 1e6; load = (wrk_user + wrk_sys) / n * 1e6
    printf "server CPU per decision: %.1f µs\n", server
    printf "wrk CPU per request: %.1f µs; together %.1f µs, so %d cores are full at %.0f decisions/s\n",
      load, server + load, cores, cores / (server + load) * 1e6
  }'
