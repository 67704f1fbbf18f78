#!/usr/bin/env bash
# A/B (or A/B/C...) of server builds under run.sh's load: the builds take turns, ROUNDS rounds of
# SECONDS each (default 3 and 10), a fresh database every time, so a slow spell of a shared
# machine falls on all alike. Prints per round: build, wrk's CPU per request (user + system),
# the server's CPU per decision, decisions/s, p50, p99.
# Usage: bench/load/ab.sh BIN_A BIN_B [BIN...] [ROUNDS] [SECONDS]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
ensure_apt wrk wrk
source "$ROOT/bench/load/server.sh"
BINS=() NUMBERS=()
for arg in "$@"; do
  if [[ $arg =~ ^[0-9]+$ ]]; then NUMBERS+=("$arg"); else BINS+=("$arg"); fi
done
ROUNDS=${NUMBERS[0]:-3} SECS=${NUMBERS[1]:-10}
trap stop_server EXIT
round() {
  start_server "$1"
  local before after
  before=$(cpu_ticks)
  drive "$SECS"
  after=$(cpu_ticks)
  read -r wrk_user wrk_sys < "$DIR/wrk-cpu"
  awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v bin="$1" -v wu="$wrk_user" -v ws="$wrk_sys" '
    /requests in/ { n = $1 }
    /Requests\/sec/ { rate = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    END {
      printf "%s  wrk %.1f+%.1f µs/request  %.1f µs CPU/decision  %s decisions/s  p50 %s  p99 %s\n",
        bin, wu / n * 1e6, ws / n * 1e6, t / hz / n * 1e6, rate, p50, p99
    }
  ' "$DIR/wrk"
  stop_server
}
for _ in $(seq "$ROUNDS"); do
  for bin in "${BINS[@]}"; do round "$bin"; done
done
