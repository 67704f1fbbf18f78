"""Calls per second of the WebAssembly component from Python, through wasmtime-py: the
scenarios of bench/scenarios.json, as the other hosts' loops run them.
Run by bench/component/run.sh (FLOWGATE_COMPONENT is the built component)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "component", "python"))
from flowgate_host import Flowgate, record  # noqa: E402

SCENARIOS = json.load(open(os.path.join(os.path.dirname(__file__), "..", "scenarios.json")))["scenarios"]


def measure(fg, name, config, request, method):
    limiter = fg.func("limiter", "[static]rate-limiter.from-json")(json.dumps(config), 1)
    # The raw export, without the helpers' conversion of the answer to a dictionary: what a
    # caller who reads one field pays.
    iface = fg.instance.get_export_index(fg.store, "flowgate:core/limiter@0.1.0")
    call = fg.instance.get_func(fg.store, fg.instance.get_export_index(fg.store, f"[method]rate-limiter.{method}", iface))
    keys = [f"user-{i}" for i in range(1000)]
    # Fewer calls than the other loops: each crosses into wasmtime through ctypes.
    n, allowed, store = 20_000, 0, fg.store
    for round in range(3):
        start = time.perf_counter_ns()
        for i in range(n):
            if call(store, limiter, keys[i % 1000], request, (round * n + i) * 1000).allowed:
                allowed += 1
        ns = time.perf_counter_ns() - start
    print(f"wasmtime-py, {name}, {method}: {round_(n / (ns / 1e9))} calls/s ({ns / n:.0f} ns per call; {allowed} allowed)")


def round_(x):
    return f"{int(x):,}"


fg = Flowgate()
for method in ["is-allowed", "check"]:
    for s in SCENARIOS:
        request = record(endpoint=s["request"].get("endpoint"), platform=s["request"].get("platform"), cost=1)
        measure(fg, s["name"], s["limits"], request, method)
