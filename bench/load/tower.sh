#!/usr/bin/env bash
# Requests per second through each rate-limit layer on one axum app (bench/src/bin/tower_app.rs),
# over HTTP on loopback with wrk: flowgate's layer (twelve buckets), flowgate's (global
# buckets), tower_governor's (one quota, with its headers), and no layer. Three rounds of 10 s
# each, the layers in turn within a round, so that the machine's slow spells fall on all.
# Usage: bench/load/tower.sh [SECONDS]   (BENCHMARKS.md, "The tower layer")
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p flowgate-bench --bin tower_app
app="${CARGO_TARGET_DIR:-target}/release/tower_app"
for round in 1 2 3; do
  for layer in flowgate flowgate-global governor none; do
    port=$((20000 + RANDOM % 30000))
    "$app" "$layer" "$port" &
    pid=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/statuses" && break; sleep 0.1; done
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/statuses")
    rps=$(wrk -t1 -c32 -d"${seconds}s" "http://127.0.0.1:$port/api/v1/statuses" | sed -n 's/^Requests\/sec: *//p')
    echo "round $round, $layer: $rps requests/s (a request answered $status)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
