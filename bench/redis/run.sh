#!/usr/bin/env bash
# flowgate's Redis script beside limitador's AsyncRedisStorage on the same twelve limits
# (src/main.rs): installs what the build needs (libclang for RocksDB's bindings, which
# limitador's Redis storage drags in) and redis-server, starts a private Redis on a free port,
# builds, runs, stops Redis.
# Usage: bench/redis/run.sh [SECONDS=10] [TASKS=64] [ROUNDS=3]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
source "$ROOT/scripts/lib.sh"
ensure_apt redis-server redis-server
if ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
  ensure_apt __libclang__ libclang-dev
fi
cd "$ROOT/bench/redis"
cargo build --release
BIN="${CARGO_TARGET_DIR:-$ROOT/bench/redis/target}/release/flowgate-bench-redis"
PORT=$(free_port)
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --dir "$DIR" --pidfile "$DIR/redis.pid" >/dev/null
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
"$BIN" "redis://127.0.0.1:$PORT" "${1:-10}" "${2:-64}" "${3:-3}"
