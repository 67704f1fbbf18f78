// Random documents, options and arguments for every entry point of the package: each call
// answers or throws an Error with a message, never traps the WebAssembly module (a
// WebAssembly.RuntimeError), and the module keeps working afterwards. Seeded, so a failure
// names the seed that reproduces it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgressModel, RateLimiter, RetryPolicy, extractEndpointFromUrl, retry } from "flowgate";

const FIELDS = [
  "requests_per_minute", "requests_per_hour", "requests_per_day", "max_burst", "endpoint_limits",
  "platform_limits", "platform_endpoint_limits", "media", "mastodon", "minute", "hour", "day", "burst",
  "max_attempts", "base_delay", "max_delay", "exponential_base", "jitter", "jitter_factor",
  "retry_on_timeout", "retry_on_connection_error", "retry_on_server_error", "retry_on_rate_limit",
  "retry_status_codes", "retry_on_specific_errors", "retry_exceptions", "kind", "status", "message",
  "retryAfter", "endpoint", "platform", "cost", "now", "current_step", "progress_percent", "details",
  "operation", "signal", "seed",
];

/** xorshift64*, as numbers in [0, 1). */
function rng(seed) {
  let x = BigInt(seed) | 1n;
  return () => {
    x ^= x >> 12n;
    x ^= (x << 25n) & 0xffffffffffffffffn;
    x ^= x >> 27n;
    return Number(((x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn) >> 11n) / 2 ** 53;
  };
}

function generator(seed) {
  const r = rng(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const number = () => pick([0, -0, 1, -1, 2, 59, 60, 100, 429, 503, 0.5, 1.5, -2.5, 1e300, -1e300, 2 ** 32, 2 ** 53, 2 ** 63,
    NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.EPSILON, Math.floor(r() * 1e6), r() * 1e3]);
  const string = () => pick(["", "x", "media", "mastodon", "ÜBERLASTET", "\u0000", "\ud800", "a/b~c", "🚀".repeat(3),
    "x".repeat(300), "status", "timeout", "429", "{", "null"]);
  const value = (depth = 0) => {
    const kind = Math.floor(r() * (depth < 3 ? 10 : 7));
    switch (kind) {
      case 0: return null;
      case 1: return undefined;
      case 2: return r() < 0.5;
      case 3: case 4: return number();
      case 5: return string();
      case 6: return pick([10n, Symbol("s"), () => 1, new Date(0)]);
      case 7: return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      default: return object(depth + 1);
    }
  };
  const object = (depth = 0) => {
    const o = {};
    const n = Math.floor(r() * 6);
    for (let i = 0; i < n; i++) o[r() < 0.9 ? pick(FIELDS) : string()] = value(depth);
    return o;
  };
  return { r, pick, number, string, value, object };
}

/** Runs `f`; a throw must be an Error with a message, never a trap. */
function answersOrRefuses(f, what) {
  try {
    return f();
  } catch (e) {
    assert.ok(!(e instanceof WebAssembly.RuntimeError), `${what} trapped: ${e}`);
    assert.ok(e instanceof Error, `${what} threw a non-Error: ${String(e)}`);
    assert.ok(e.message.length > 0, `${what} threw an Error without a message`);
    // JavaScript's own conversion errors name no argument.
    assert.doesNotMatch(e.message, /^Cannot (convert|mix)/, `${what} threw an error that names nothing`);
    return undefined;
  }
}

const ITERATIONS = 3000;

test("random documents and arguments never trap, and the module keeps working", () => {
  const witness = new RateLimiter({ requests_per_minute: 60, max_burst: 2 });
  for (let seed = 1; seed <= ITERATIONS; seed++) {
    const g = generator(seed);
    const at = `seed ${seed}`;
    const doc = g.r() < 0.8 ? g.object() : g.value();
    const limiter = answersOrRefuses(() => new RateLimiter(g.r() < 0.2 ? JSON.stringify(doc) ?? "" : doc), `${at}: new RateLimiter`)
      ?? new RateLimiter({});
    for (const call of ["isAllowed", "check", "waitTime", "resetLimits"]) {
      const key = g.r() < 0.7 ? g.string() : g.value();
      answersOrRefuses(() => limiter[call](key, g.r() < 0.7 ? g.object() : g.value()), `${at}: limiter.${call}`);
    }
    const policy = answersOrRefuses(() => new RetryPolicy(g.r() < 0.8 ? g.object() : g.value()), `${at}: new RetryPolicy`)
      ?? new RetryPolicy({});
    answersOrRefuses(() => policy.shouldRetry(g.r() < 0.8 ? g.object() : g.value()), `${at}: shouldRetry`);
    answersOrRefuses(() => policy.delays(g.r() < 0.5 ? g.number() : g.value()), `${at}: delays`);
    const task = answersOrRefuses(() => new ProgressModel(g.value(), g.value(), g.value()), `${at}: new ProgressModel`)
      ?? new ProgressModel("t", 1, 0);
    answersOrRefuses(() => task.apply(g.r() < 0.8 ? g.object() : g.value(), g.value()), `${at}: apply`);
    answersOrRefuses(() => task.eta(g.value()), `${at}: eta`);
    answersOrRefuses(() => extractEndpointFromUrl(g.r() < 0.5 ? `https://h/api/v1/${g.string()}` : g.value()), `${at}: extractEndpointFromUrl`);
    // The module still answers as it should.
    assert.equal(witness.check(`w${seed}`, { now: seed }).allowed, true, `${at}: the module stopped working`);
  }
});

test("retry with random options rejects or settles, never traps", async () => {
  for (let seed = 1; seed <= 300; seed++) {
    const g = generator(seed);
    // Short waits whatever else the document says, so that every call settles soon.
    const config = g.r() < 0.5 ? { ...g.object(), max_attempts: 3, base_delay: 0.001, max_delay: 0.002 } : g.value();
    const options = g.r() < 0.5 ? g.object() : g.value();
    const thrown = g.value();
    try {
      await retry(() => { throw thrown; }, config, options);
    } catch (e) {
      assert.ok(!(e instanceof WebAssembly.RuntimeError), `seed ${seed}: retry trapped: ${e}`);
    }
  }
  // Still working.
  assert.equal(await retry(() => "ok", { max_attempts: 1 }), "ok");
});
