#!/usr/bin/env bash
# The soak: ten minutes of mixed load on a release server (see bench/src/bin/soak.rs); fails
# when a request fails, memory grows past 1.1x its 1-minute figure or descriptors move by more
# than 10. Not part of scripts/test (it takes ten minutes): its figures are in BENCHMARKS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
cargo build --release -p flowgate-server --bin flowgate-server -p flowgate-bench --bin soak
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
"$TARGET/soak" "$TARGET/flowgate-server" "${1:-600}"
