"""Loads flowgate's WebAssembly component with wasmtime-py, as a Python program would.

wasmtime-py 50 has no bindings generator: exports are looked up by name, records are objects
whose attributes carry the WIT names (``reset-after-ns``), and a ``result`` comes back as its
``ok`` or ``err`` value untagged (the WIT keeps the two types distinct so they can be told
apart). These helpers turn records into dictionaries with Python names and back.
"""

import os
from typing import Any

from wasmtime import Engine, Store
from wasmtime.component import Component, Linker, Record, ResourceAny, Variant

PACKAGE = "flowgate:core/{}@0.1.0"


class Flowgate:
    """One instance of the component."""

    def __init__(self, path: str = "") -> None:
        path = path or os.environ["FLOWGATE_COMPONENT"]
        self.engine = Engine()
        self.store = Store(self.engine)
        self.component = Component.from_file(self.engine, path)
        self.instance = Linker(self.engine).instantiate(self.store, self.component)

    def func(self, interface: str, name: str):
        """The export `name` of `interface` (`limiter`, `retry`, `progress`) as a callable."""
        iface = self.instance.get_export_index(self.store, PACKAGE.format(interface))
        index = self.instance.get_export_index(self.store, name, iface)
        if index is None:
            raise LookupError(f"{interface} exports no {name}")
        func = self.instance.get_func(self.store, index)
        return lambda *args: plain(func(self.store, *(wit(a) for a in args)))

    def drop(self, resource: ResourceAny) -> None:
        resource.drop(self.store)


def record(**fields: Any) -> Record:
    """A WIT record from Python names: `record(cost=1, now_ns=0)`."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), wit(value))
    return r


def wit(value: Any) -> Any:
    """Dictionaries become records, in lists and variants too; the rest passes as it is."""
    if isinstance(value, dict):
        return record(**value)
    if isinstance(value, list):
        return [wit(v) for v in value]
    if isinstance(value, Variant):
        return Variant(value.tag, wit(value.payload))
    return value


def plain(value: Any) -> Any:
    """Records become dictionaries with Python names, recursively."""
    if isinstance(value, Record):
        return {k.replace("-", "_"): plain(v) for k, v in vars(value).items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Variant):
        return Variant(value.tag, plain(value.payload))
    return value
