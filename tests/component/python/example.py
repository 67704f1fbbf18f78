"""The README's Python example, run by the tests: a caption bot deciding in-process."""

import os
import time

from wasmtime import Engine, Store
from wasmtime.component import Component, Linker, Record

engine, path = Engine(), os.environ.get("FLOWGATE_COMPONENT", "flowgate_component.wasm")
store = Store(engine)
flowgate = Linker(engine).instantiate(store, Component.from_file(engine, path))
limiter = flowgate.get_export_index(store, "flowgate:core/limiter@0.1.0")
export = lambda name: flowgate.get_func(store, flowgate.get_export_index(store, name, limiter))

bot = export("[static]rate-limiter.from-json")(store, '{"requests_per_minute": 300, "max_burst": 5}', 0)
request = Record()
request.endpoint, request.platform, request.cost = "media", "mastodon", 1
for _ in range(7):
    d = export("[method]rate-limiter.is-allowed")(store, bot, "caption-bot", request, time.monotonic_ns())
    print("upload" if d.allowed else f"wait {getattr(d, 'retry-after-ns') / 1e9:.3f} s")
