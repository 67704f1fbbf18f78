#!/usr/bin/env bash
# SSE fan-out: 1,000 and 10,000 subscribers on one task (see bench/src/bin/sse_fanout.rs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
ulimit -n "$(ulimit -Hn)"
cargo build --release -p flowgate-server --bin flowgate-server -p flowgate-bench --bin sse_fanout
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
if [ $# -eq 0 ]; then set -- 1000 10000; fi
"$TARGET/sse_fanout" "$TARGET/flowgate-server" "$@"
