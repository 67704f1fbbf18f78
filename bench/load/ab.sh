#!/usr/bin/env bash
# A/B of two server builds under run.sh's load: the builds take turns, ROUNDS rounds of SECONDS
# each (default 3 and 10), a fresh database every time, so a slow spell of a shared machine
# falls on both alike. Prints per round: build, server CPU per decision, decisions/s, p50, p99.
# Usage: bench/load/ab.sh BIN_A BIN_B [ROUNDS] [SECONDS]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
ensure_apt wrk wrk
source "$ROOT/bench/load/server.sh"
A=$1 B=$2 ROUNDS=${3:-3} SECS=${4:-10}
trap stop_server EXIT
round() {
  start_server "$1"
  local before after
  before=$(cpu_ticks)
  FLOWGATE_TOKEN="$TOKEN" wrk -t2 -c64 -d"${SECS}s" --latency -s "$ROOT/bench/load/check.lua" "$BASE" > "$DIR/wrk"
  after=$(cpu_ticks)
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v bin="$1" '
    /requests in/ { n = $1 }
    /Requests\/sec/ { rate = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    END { printf "%s  %.1f µs CPU/decision  %s decisions/s  p50 %s  p99 %s\n", bin, t / hz / n * 1e6, rate, p50, p99 }
  ' "$DIR/wrk"
  stop_server
}
for _ in $(seq "$ROUNDS"); do
  round "$A"
  round "$B"
done
