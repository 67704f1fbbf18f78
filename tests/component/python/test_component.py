"""flowgate's WebAssembly component in wasmtime-py: the shared vectors (tests/vectors, which
the native core, the npm package and jco run too), its import list, and typed errors for bad
input. FLOWGATE_COMPONENT is the built component, FLOWGATE_VECTORS the vectors' folder."""

import json
import math
import os

import pytest
from wasmtime import Engine
from wasmtime.component import Component, ResourceAny, Variant

from flowgate_host import Flowgate

MS = 1_000_000


def load(name):
    with open(os.path.join(os.environ["FLOWGATE_VECTORS"], name)) as f:
        return json.load(f)


@pytest.fixture
def fg():
    return Flowgate()


def request(step=None, **kw):
    step = {**(step or {}), **kw}
    return {"endpoint": step.get("endpoint"), "platform": step.get("platform"), "cost": step.get("cost", 1)}


def test_the_component_imports_nothing():
    engine = Engine()
    component = Component.from_file(engine, os.environ["FLOWGATE_COMPONENT"])
    assert len(component.type.imports(engine)) == 0
    assert "flowgate:core/limiter@0.1.0" in component.type.exports(engine)


def test_rate_limit_vectors(fg):
    from_json = fg.func("limiter", "[static]rate-limiter.from-json")
    is_allowed = fg.func("limiter", "[method]rate-limiter.is-allowed")
    wait_time = fg.func("limiter", "[method]rate-limiter.wait-time")
    reset = fg.func("limiter", "[method]rate-limiter.reset")
    for case in load("ratelimit.json")["cases"]:
        limiter = from_json(json.dumps(case["config"]), 1)
        assert isinstance(limiter, ResourceAny), case["name"]
        for i, step in enumerate(case["steps"]):
            at = f"{case['name']}, step {i}"
            expect, now = step["expect"], step["now_ms"] * MS
            if step.get("op") == "wait":
                assert wait_time(limiter, step["key"], request(step), now) == expect["wait_ms"] * MS, at
            elif step.get("op") == "reset":
                assert reset(limiter, step["key"]) is expect["had_state"], at
            elif "error" in expect:
                err = is_allowed(limiter, step["key"], request(step), now)
                assert isinstance(err, Variant) and expect["error"] in err.tag, at
            else:
                d = is_allowed(limiter, step["key"], request(step), now)
                assert d["allowed"] is expect["allowed"], at
                assert d["remaining"] == expect["remaining"], at
                assert d["reset_after_ns"] == expect["reset_after_ms"] * MS, at
                assert d["retry_after_ns"] == expect["retry_after_ms"] * MS, at
                assert d["scope"] == expect["scope"].replace("_", "-"), at
                assert d["window"] == expect["window"], at
                assert d["limit"] == expect["limit"], at
                if "buckets" in expect:
                    assert len(d["buckets"]) == expect["buckets"], at
        fg.drop(limiter)


def failure(f):
    """A vector's failure as the WIT `failure` variant."""
    if f["kind"] == "status":
        retry_after = f.get("retryAfter")
        return Variant("status", {"code": f["status"], "retry_after_ns": None if retry_after is None else retry_after * MS})
    if f["kind"] == "other":
        return Variant("other", f.get("message", ""))
    return Variant(f["kind"])


def test_retry_vectors(fg):
    from_json = fg.func("retry", "[static]retry-policy.from-json")
    delays = fg.func("retry", "[method]retry-policy.delays")
    should_retry = fg.func("retry", "[method]retry-policy.should-retry")
    next_step = fg.func("retry", "[method]retry-policy.next-step")
    file = load("retry.json")
    for s in file["schedules"]:
        policy = from_json(json.dumps(s["config"]))
        # The vectors' delays are milliseconds with six decimals: whole nanoseconds.
        assert delays(policy, s["seed"]) == [round(d * MS) for d in s["delays_ms"]], s["config"]
    for d in file["decisions"]:
        policy = from_json(json.dumps(d["config"]))
        if "attempt" in d:
            # `step` comes back untagged: the wait (an int) to retry, a stop reason to stop.
            got = isinstance(next_step(policy, d["attempt"], failure(d["failure"]), 0), int)
        else:
            got = should_retry(policy, failure(d["failure"]))
        assert got is d["expect"], d


def test_progress_vectors(fg):
    new = fg.func("progress", "[constructor]task-progress")
    update = fg.func("progress", "[method]task-progress.update")
    for case in load("progress.json")["cases"]:
        task = new("t", 1, case["created_ms"] * MS)
        for i, step in enumerate(case["steps"]):
            u, expect = step["update"], step["expect"]
            body = {"current_step": u["current_step"], "progress_percent": u["progress_percent"], "status": u.get("status"), "details": None}
            got = update(task, 1, body, step["now_ms"] * MS)
            if "error" in expect:
                assert isinstance(got, Variant) and expect["error"] in repr(got), f"step {i}: {got}"
                continue
            assert got["seq"] == expect["seq"], i
            assert got["status"] == expect["status"], i
            assert got["progress_percent"] == expect["progress_percent"], i
            assert got["started_at"]["unix_ns"] == expect["started_ms"] * MS, i
            eta = expect["eta_ms"]
            assert got["eta_ns"] == (None if eta is None else eta * MS), i


def test_malformed_documents_name_the_field(fg):
    limiter = fg.func("limiter", "[static]rate-limiter.from-json")
    policy = fg.func("retry", "[static]retry-policy.from-json")
    # `document-error` comes back untagged: the parser's message (not JSON) or the problems.
    assert isinstance(limiter("{", 0), str)
    assert isinstance(policy("nul", ), str)
    pointers = lambda errors: sorted(e["pointer"] for e in errors)
    assert pointers(limiter("[]", 0)) == [""]
    assert pointers(limiter('{"max_brust": 3}', 0)) == ["/max_brust"]
    assert pointers(limiter('{"platform_limits": {"mastodon": {"hour": -5}}}', 0)) == ["/platform_limits/mastodon/hour"]
    assert pointers(policy('{"base_delay": -1, "max_attempts": 0}')) == ["/base_delay", "/max_attempts"]
    assert pointers(policy('{"max_delay": 1e999}')) != []


def test_impossible_requests_are_typed_errors(fg):
    limiter = fg.func("limiter", "[static]rate-limiter.from-json")('{"requests_per_minute": 60, "max_burst": 3}', 0)
    is_allowed = fg.func("limiter", "[method]rate-limiter.is-allowed")
    reset = fg.func("limiter", "[method]rate-limiter.reset")
    assert is_allowed(limiter, "k", request(cost=0), 0) == Variant("zero-cost")
    too_big = is_allowed(limiter, "k", request(cost=4), 0)
    assert too_big.tag == "cost-exceeds-capacity"
    assert too_big.payload == {"cost": 4, "capacity": 3, "scope": "global", "window": "minute"}
    for key in ["", "  ", "k" * 257, "tab\there"]:
        err = is_allowed(limiter, key, request(), 0)
        assert err.tag == "invalid-argument" and err.payload["pointer"] == "/key", key
    assert is_allowed(limiter, "k", request(endpoint=""), 0).payload["pointer"] == "/endpoint"
    assert reset(limiter, "").tag == "invalid-argument"
    # Nothing was spent by the refused requests.
    assert is_allowed(limiter, "k", request(cost=3), 0)["allowed"] is True


def test_contradictory_retry_reports_are_refused_and_not_counted(fg):
    stats = fg.func("retry", "[constructor]retry-stats")()
    add = fg.func("retry", "[method]retry-stats.add-report")
    summary = fg.func("retry", "[method]retry-stats.summary")
    report = {"operation": "caption", "attempts": 2, "outcome": "success", "delays": [1.5], "failures": [{"kind": "status", "status": 503, "message": None}]}
    assert add(stats, report)["by_status"] == [{"status": 503, "count": 1}]
    for bad in [{"delays": [math.nan]}, {"delays": [-1.0]}, {"delays": [math.inf]}, {"delays": []}, {"operation": ""}]:
        errors = add(stats, {**report, **bad})
        assert isinstance(errors, list) and errors, bad
    s = summary(stats)
    assert (s["operations"], s["totals"]["calls"], s["success_rate"]) == (1, 1, 1.0)


def test_retry_steps_and_retry_after(fg):
    policy = fg.func("retry", "[constructor]retry-policy")()
    next_step = fg.func("retry", "[method]retry-policy.next-step")
    parse = fg.func("retry", "parse-retry-after")
    assert next_step(policy, 0, Variant("timeout"), 0)["pointer"] == "/attempts"
    assert next_step(policy, 3, Variant("timeout"), 0) == Variant("attempts-exhausted")
    busy = Variant("status", {"code": 503, "retry_after_ns": 40_000 * MS})
    assert next_step(policy, 1, busy, 0) == Variant("retry-after-too-long", 40_000 * MS)
    assert parse("120", None) == 120_000 * MS
    now = 784_111_777 * 1_000 * MS - 30_000 * MS
    assert parse("Sun, 06 Nov 1994 08:49:37 GMT", now) == 30_000 * MS
    assert parse("soon", None)["value"] == "soon"


def test_task_progress_ownership_and_rfc3339(fg):
    start = 1_700_000_000_000 * MS
    task = fg.func("progress", "[constructor]task-progress")("caption-42", 7, start)
    update = fg.func("progress", "[method]task-progress.update")
    status = fg.func("progress", "[method]task-progress.status")
    body = lambda **kw: {"current_step": "captioning", "progress_percent": 25, "status": None, "details": None, **kw}
    assert status(task, 8) == Variant("not-owner")
    assert update(task, 8, body(), start) == Variant("not-owner")
    s = update(task, 7, body(details='{"images": 4}'), start + 10_000 * MS)
    assert s["started_at"]["rfc3339"] == "2023-11-14T22:13:30.000000Z"
    assert json.loads(s["details"]) == {"images": 4}
    assert update(task, 7, body(details="[1]"), start).payload[0]["pointer"] == "/details"
    assert update(task, 7, body(progress_percent=101), start).payload[0]["pointer"] == "/progress_percent"
    assert status(task, 7)["seq"] == 1
