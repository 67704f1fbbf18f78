// The WebAssembly component (component/), transpiled by jco as a JavaScript user would, run
// in Node: the shared vectors (tests/vectors, which the native core and the npm package run
// too), its import list, and typed errors for bad input.
//
// FLOWGATE_COMPONENT is the built component, FLOWGATE_COMPONENT_JS its `jco transpile`
// output's entry module, FLOWGATE_VECTORS the vectors' folder (scripts/lib.sh sets them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const { limiter, retry, progress } = await import(process.env.FLOWGATE_COMPONENT_JS);
const { RateLimiter, extractEndpointFromUrl } = limiter;
const { RetryPolicy, RetryStats, parseRetryAfter } = retry;
const { TaskProgress } = progress;

const load = (name) => JSON.parse(readFileSync(`${process.env.FLOWGATE_VECTORS}/${name}`, "utf8"));
const MS = 1_000_000n;
const ms = (n) => BigInt(n) * MS;
/** The error's payload: jco throws a `ComponentError` carrying the WIT `err` value. */
const errOf = (f) => {
  try {
    f();
  } catch (e) {
    if (e.payload === undefined) throw e;
    return e.payload;
  }
  assert.fail("expected an error");
};
const request = (step = {}) => ({ endpoint: step.endpoint, platform: step.platform, cost: step.cost ?? 1 });

test("the component imports nothing", () => {
  const jco = fileURLToPath(new URL("node_modules/.bin/jco", import.meta.url));
  const wit = execFileSync(jco, ["wit", process.env.FLOWGATE_COMPONENT], { encoding: "utf8" });
  assert.match(wit, /export flowgate:core\/limiter@0\.1\.0;/);
  assert.deepEqual(wit.split("\n").filter((l) => /^\s*import /.test(l)), []);
});

test("rate-limit vectors", () => {
  for (const c of load("ratelimit.json").cases) {
    const l = RateLimiter.fromJson(JSON.stringify(c.config), 1n);
    c.steps.forEach((step, i) => {
      const at = `${c.name}, step ${i}`;
      const expect = step.expect;
      const now = ms(step.now_ms);
      if (step.op === "wait") {
        assert.equal(l.waitTime(step.key, request(step), now), ms(expect.wait_ms), at);
      } else if (step.op === "reset") {
        assert.equal(l.reset(step.key), expect.had_state, at);
      } else if (expect.error) {
        const err = errOf(() => l.isAllowed(step.key, request(step), now));
        assert.match(err.tag, new RegExp(expect.error), at);
      } else {
        const d = l.isAllowed(step.key, request(step), now);
        assert.equal(d.allowed, expect.allowed, at);
        assert.equal(d.remaining, expect.remaining, at);
        assert.equal(d.resetAfterNs, ms(expect.reset_after_ms), at);
        assert.equal(d.retryAfterNs, ms(expect.retry_after_ms), at);
        assert.equal(d.scope, expect.scope.replace("_", "-"), at);
        assert.equal(d.window, expect.window, at);
        assert.equal(d.limit, expect.limit, at);
        if (expect.buckets !== undefined) assert.equal(d.buckets.length, expect.buckets, at);
      }
    });
  }
});

/** A vector's failure as the WIT `failure` variant. */
const failure = (f) => {
  switch (f.kind) {
    case "status":
      return { tag: "status", val: { code: f.status, retryAfterNs: f.retryAfter === undefined ? undefined : ms(f.retryAfter) } };
    case "other":
      return { tag: "other", val: f.message ?? "" };
    default:
      return { tag: f.kind };
  }
};

test("retry vectors", () => {
  const file = load("retry.json");
  for (const s of file.schedules) {
    const delays = Array.from(RetryPolicy.fromJson(JSON.stringify(s.config)).delays(BigInt(s.seed)));
    // The vectors' delays are milliseconds with six decimals: whole nanoseconds.
    assert.deepEqual(delays, s.delays_ms.map((d) => BigInt(Math.round(d * 1e6))), JSON.stringify(s.config));
  }
  for (const d of file.decisions) {
    const policy = RetryPolicy.fromJson(JSON.stringify(d.config));
    const got = d.attempt === undefined
      ? policy.shouldRetry(failure(d.failure))
      : policy.nextStep(d.attempt, failure(d.failure), 0n).tag === "retry";
    assert.equal(got, d.expect, JSON.stringify(d));
  }
});

test("progress vectors", () => {
  for (const c of load("progress.json").cases) {
    const task = new TaskProgress("t", 1n, ms(c.created_ms));
    c.steps.forEach((step, i) => {
      const u = step.update;
      const update = { currentStep: u.current_step, progressPercent: BigInt(u.progress_percent), status: u.status };
      const expect = step.expect;
      if (expect.error) {
        const err = errOf(() => task.update(1n, update, ms(step.now_ms)));
        assert.match(JSON.stringify(err), new RegExp(expect.error), `step ${i}`);
        return;
      }
      const s = task.update(1n, update, ms(step.now_ms));
      assert.equal(s.seq, BigInt(expect.seq), `step ${i}`);
      assert.equal(s.status, expect.status, `step ${i}`);
      assert.equal(s.progressPercent, expect.progress_percent, `step ${i}`);
      assert.equal(s.startedAt?.unixNs, ms(expect.started_ms), `step ${i}`);
      assert.equal(s.etaNs, expect.eta_ms === null ? undefined : ms(expect.eta_ms), `step ${i}`);
    });
  }
});

test("malformed limits documents are typed errors naming the field", () => {
  assert.equal(errOf(() => RateLimiter.fromJson("{", 0n)).tag, "not-json");
  assert.equal(errOf(() => RateLimiter.fromJson("{} trailing", 0n)).tag, "not-json");
  const invalid = (doc) => {
    const err = errOf(() => RateLimiter.fromJson(doc, 0n));
    assert.equal(err.tag, "invalid", doc);
    return err.val.map((e) => e.pointer);
  };
  assert.deepEqual(invalid("[]"), [""]);
  assert.deepEqual(invalid('{"max_brust": 3}'), ["/max_brust"]);
  assert.deepEqual(invalid('{"requests_per_minute": -1}'), ["/requests_per_minute"]);
  assert.deepEqual(invalid('{"endpoint_limits": {"media": {"minute": "ten"}}}'), ["/endpoint_limits/media/minute"]);
  // A value of the right type but out of range: the core's validation, every problem.
  assert.ok(invalid('{"requests_per_minute": 0, "max_burst": 0}').length >= 1);
});

test("requests that can never be answered are typed errors, and spend nothing", () => {
  const l = RateLimiter.fromJson('{"requests_per_minute": 60, "max_burst": 3}', 0n);
  assert.equal(errOf(() => l.isAllowed("k", { cost: 0 }, 0n)).tag, "zero-cost");
  const big = errOf(() => l.check("k", { cost: 4 }, 0n));
  assert.equal(big.tag, "cost-exceeds-capacity");
  assert.deepEqual(big.val, { cost: 4, capacity: 3, scope: "global", window: "minute" });
  const key = (k) => errOf(() => l.isAllowed(k, { cost: 1 }, 0n)).val.pointer;
  assert.equal(key(""), "/key");
  assert.equal(key("   "), "/key");
  assert.equal(key("a".repeat(257)), "/key");
  assert.equal(key("line\nbreak"), "/key");
  assert.equal(errOf(() => l.isAllowed("k", { endpoint: "", cost: 1 }, 0n)).val.pointer, "/endpoint");
  assert.equal(errOf(() => l.waitTime("k", { platform: "\u0000", cost: 1 }, 0n)).val.pointer, "/platform");
  assert.equal(errOf(() => l.reset("")).tag, "invalid-argument");
  assert.equal(errOf(() => l.keyState("", 0n)).tag, "invalid-argument");
  assert.equal(l.activeKeys(), 0);
  assert.equal(l.isAllowed("k", { cost: 3 }, 0n).remaining, 0);
});

test("a limiter's key state, reset, sweep and limits document", () => {
  const doc = { requests_per_minute: 60, max_burst: 2, endpoint_limits: { media: { minute: 6, burst: 1 } } };
  const l = RateLimiter.fromJson(JSON.stringify(doc), 42n);
  assert.deepEqual(JSON.parse(l.limitsJson()).endpoint_limits, doc.endpoint_limits);
  const d = l.isAllowed("bot", { endpoint: "media", cost: 1 }, 0n);
  assert.deepEqual(d.buckets.map((b) => `${b.scope}/${b.window}`), ["global/minute", "global/hour", "global/day", "endpoint/minute"]);
  assert.equal(d.scope, "endpoint");
  assert.equal(d.nextTokenAfterNs, 10_000n * MS);
  const denied = l.check("bot", { endpoint: "media", cost: 1 }, 0n);
  assert.deepEqual(denied, { allowed: false, retryAfterNs: 10_000n * MS });
  assert.ok(l.keyState("bot", 0n).some((b) => b.scope === "endpoint" && b.remaining === 0));
  assert.equal(l.activeKeys(), 1);
  assert.equal(l.sweep(0n), 0);
  // A day later every bucket is full again: the key is swept.
  assert.equal(l.sweep(86_400_000n * MS), 1);
  assert.equal(l.reset("bot"), false);
  assert.equal(new RateLimiter(0n).isAllowed("k", { cost: 1 }, 0n).limit, 60);
  assert.equal(extractEndpointFromUrl("https://mastodon.social/api/v2/media"), "media");
  assert.equal(extractEndpointFromUrl("not a url"), undefined);
});

test("retry policies, steps and Retry-After", () => {
  const policy = new RetryPolicy();
  assert.equal(JSON.parse(policy.toJson()).max_attempts, 3);
  const bad = errOf(() => RetryPolicy.fromJson('{"base_delay": -1, "max_attempts": 0}'));
  assert.equal(bad.tag, "invalid");
  assert.deepEqual(bad.val.map((e) => e.pointer).sort(), ["/base_delay", "/max_attempts"]);
  assert.equal(errOf(() => RetryPolicy.fromJson('{"jitter_factor": "x"}')).val[0].pointer, "/jitter_factor");
  assert.equal(errOf(() => policy.nextStep(0, { tag: "timeout" }, 0n)).pointer, "/attempts");
  const busy = { tag: "status", val: { code: 503, retryAfterNs: 40_000n * MS } };
  assert.deepEqual(policy.nextStep(1, busy, 0n), { tag: "stop", val: { tag: "retry-after-too-long", val: 40_000n * MS } });
  assert.deepEqual(policy.nextStep(3, { tag: "timeout" }, 0n), { tag: "stop", val: { tag: "attempts-exhausted" } });
  assert.equal(policy.nextStep(1, { tag: "status", val: { code: 429 } }, 7n).tag, "retry");
  assert.equal(parseRetryAfter("120", undefined), 120_000n * MS);
  const now = 784_111_777n * 1_000_000_000n - 30_000n * MS;
  assert.equal(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), 30_000n * MS);
  assert.equal(errOf(() => parseRetryAfter("soon", undefined)).value, "soon");
  assert.equal(errOf(() => parseRetryAfter("-5", undefined)).value, "-5");
});

test("retry statistics count valid reports and refuse contradictory ones", () => {
  const stats = new RetryStats();
  const report = { operation: "caption", attempts: 2, outcome: "success", delays: [1.5], failures: [{ kind: "status", status: 503 }] };
  const op = stats.addReport(report);
  assert.equal(op.calls, 1n);
  assert.equal(op.retries, 1n);
  assert.deepEqual(op.byStatus, [{ status: 503, count: 1n }]);
  const refused = (r) => errOf(() => stats.addReport({ ...report, ...r })).map((e) => e.pointer);
  assert.ok(refused({ delays: [NaN] }).some((p) => p.startsWith("/delays")));
  assert.ok(refused({ delays: [-1] }).some((p) => p.startsWith("/delays")));
  assert.ok(refused({ delays: [Infinity] }).some((p) => p.startsWith("/delays")));
  assert.ok(refused({ operation: "" }).includes("/operation"));
  assert.ok(refused({ attempts: 0, delays: [] }).includes("/attempts"));
  // Nothing refused was counted.
  const summary = stats.summary();
  assert.equal(summary.operations, 1n);
  assert.equal(summary.totals.calls, 1n);
  assert.equal(summary.successRate, 1);
  assert.deepEqual(stats.detailed().map((e) => e.operation), ["caption"]);
  stats.clear();
  assert.equal(stats.summary().operations, 0n);
});

test("a task's progress: ownership, details, terminal statuses, RFC 3339 times", () => {
  const start = 1_700_000_000_000n * MS;
  const task = new TaskProgress("caption-42", 7n, start);
  assert.equal(errOf(() => task.status(8n)).tag, "not-owner");
  assert.equal(errOf(() => task.update(8n, { currentStep: "x", progressPercent: 1n }, start)).tag, "not-owner");
  const s = task.update(7n, { currentStep: "captioning", progressPercent: 25n, details: '{"images": 4}' }, start + 10_000n * MS);
  assert.equal(s.startedAt.rfc3339, "2023-11-14T22:13:30.000000Z");
  assert.deepEqual(JSON.parse(s.details), { images: 4 });
  const bad = (update) => errOf(() => task.update(7n, { currentStep: "x", progressPercent: 30n, ...update }, start));
  assert.equal(bad({ details: "[1]" }).val[0].pointer, "/details");
  assert.equal(bad({ details: "{" }).val[0].pointer, "/details");
  assert.equal(bad({ progressPercent: -1n }).val[0].pointer, "/progress_percent");
  assert.equal(bad({ currentStep: "a\u0000b" }).val[0].pointer, "/current_step");
  assert.equal(task.status(7n).seq, 1n, "a refused update changes nothing");
  task.update(7n, { currentStep: "done", progressPercent: 100n, status: "completed" }, start + 20_000n * MS);
  assert.deepEqual(errOf(() => task.update(7n, { currentStep: "again", progressPercent: 1n }, start)), { tag: "finished", val: "completed" });
  assert.equal(task.eta(start + 30_000n * MS), 0n);
});

test("no input makes the component trap: every call answers or throws a typed error", () => {
  // A small deterministic generator, so that a failure names its seed and comes back.
  let state = 0x9e3779b9;
  const next = () => (state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  const pick = (xs) => xs[next() % xs.length];
  const u64s = [0n, 1n, 999n, 10n ** 18n, 2n ** 63n, 2n ** 64n - 1n];
  const strings = ["", " ", "k", "\u0000", "é".repeat(300), "media", "{", "[]", "null", "1e999", "-5", "Sun, 06 Nov 1994 08:49:37 GMT"];
  const documents = [
    ...strings,
    '{"requests_per_minute": 4294967295, "max_burst": 4294967295}',
    '{"requests_per_minute": 4294967296}',
    '{"endpoint_limits": {"": {"minute": 1}}}',
    '{"platform_endpoint_limits": {"m": {"e": {"day": 0, "burst": 0}}}}',
    '{"base_delay": 86400, "max_delay": 86400, "backoff_factor": 1e308, "max_attempts": 4294967295}',
    '{"jitter_factor": -0.5}',
    '{"retry_status_codes": [0, 65535]}',
  ];
  const typed = (f) => {
    try {
      f();
    } catch (e) {
      // A trap is a WebAssembly.RuntimeError; a typed error is jco's ComponentError.
      assert.ok(e.payload !== undefined, `trapped: ${e}`);
    }
  };
  for (let i = 0; i < 3000; i++) {
    const seed = state;
    const at = `case ${i} (seed ${seed})`;
    try {
      const limits = pick(documents);
      let l;
      typed(() => (l = RateLimiter.fromJson(limits, pick(u64s))));
      l ??= new RateLimiter(pick(u64s));
      const request = { endpoint: pick([undefined, ...strings]), platform: pick([undefined, ...strings]), cost: pick([0, 1, 7, 2 ** 32 - 1]) };
      const key = pick(strings);
      const now = pick(u64s);
      typed(() => l.isAllowed(key, request, now));
      typed(() => l.check(key, request, now));
      typed(() => l.waitTime(key, request, now));
      typed(() => l.keyState(key, now));
      typed(() => l.reset(key));
      l.sweep(pick(u64s));
      let p;
      typed(() => (p = RetryPolicy.fromJson(pick(documents))));
      p ??= new RetryPolicy();
      const f = pick([{ tag: "timeout" }, { tag: "other", val: pick(strings) }, { tag: "status", val: { code: pick([0, 429, 503, 65535]), retryAfterNs: pick([undefined, ...u64s]) } }]);
      p.delays(pick(u64s));
      p.shouldRetry(f);
      typed(() => p.nextStep(pick([0, 1, 2, 2 ** 32 - 1]), f, pick(u64s)));
      typed(() => parseRetryAfter(pick(strings), pick([undefined, ...u64s])));
      const stats = new RetryStats();
      typed(() => stats.addReport({ operation: pick(strings), attempts: pick([0, 1, 2]), outcome: "exhausted", delays: [pick([0, -1, NaN, Infinity, 1e308])], failures: [] }));
      const task = new TaskProgress(pick(strings), pick([0n, -1n, 2n ** 63n - 1n]), pick(u64s));
      typed(() => task.update(pick([0n, -1n]), { currentStep: pick(strings), progressPercent: pick([-(2n ** 63n), 0n, 50n, 100n, 2n ** 63n - 1n]), status: pick([undefined, "queued", "running", "completed"]), details: pick([undefined, ...strings, '{"a": [1, {"b": null}]}']) }, pick(u64s)));
      typed(() => task.status(0n));
      task.eta(pick(u64s));
    } catch (e) {
      assert.fail(`${at}: ${e.stack}`);
    }
  }
});
