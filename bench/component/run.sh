#!/usr/bin/env bash
# One call's cost through each host, side by side on one machine (BENCHMARKS.md, "The
# WebAssembly component"): the native core, the npm package in Node, the component through
# jco in Node and through wasmtime-py in Python. Builds what it needs first.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

wasm=$(build_component)
python=$(component_python)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
transpile_component "$wasm" "$scratch"
build_npm_package >/dev/null

say "native core"
cargo run --release -q -p flowgate-bench --bin same_loop
say "npm package (Node $(node --version))"
node bench/node/checks.mjs
say "component through jco (Node $(node --version))"
FLOWGATE_COMPONENT_JS="$scratch/flowgate.js" node bench/component/calls.mjs
say "component through wasmtime-py ($("$python" -c 'import wasmtime; print(wasmtime.__version__)' 2>/dev/null || echo wasmtime))"
FLOWGATE_COMPONENT="$wasm" "$python" bench/component/calls.py
