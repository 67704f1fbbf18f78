import { test } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter, extractEndpointFromUrl, rateLimited } from "flowgate";

test("1,000 keys each get their own buckets, and idle keys are dropped", () => {
  const limiter = new RateLimiter({ requests_per_minute: 60, max_burst: 2 });
  for (let i = 0; i < 1000; i++) {
    assert.equal(limiter.isAllowed(`user-${i}`, { now: 0 }).allowed, true);
    assert.equal(limiter.isAllowed(`user-${i}`, { now: 0 }).allowed, true);
    const third = limiter.isAllowed(`user-${i}`, { now: 0 });
    assert.equal(third.allowed, false);
    assert.equal(third.retryAfter, 1000);
  }
  assert.equal(limiter.activeKeys, 1000);
  // Two seconds later every key has both tokens back, so it equals a key never seen.
  assert.equal(limiter.isAllowed("user-0", { now: 2000 }).remaining, 1);
  assert.equal(limiter.waitTime("user-1", { now: 0 }), 1000);
  assert.equal(limiter.waitTime("user-1", { now: 1000 }), 0);
  assert.equal(limiter.resetLimits("user-2"), true);
  assert.equal(limiter.isAllowed("user-2", { now: 0 }).allowed, true);
});

test("check spends as isAllowed does and answers only allowed and the wait", () => {
  const config = { requests_per_minute: 60, max_burst: 2, endpoint_limits: { media: { minute: 3 } } };
  const full = new RateLimiter(config);
  const short = new RateLimiter(config);
  for (const now of [0, 0, 0, 100, 1000, 1000, 25000]) {
    const options = { endpoint: "media", now };
    const d = full.isAllowed("k", options);
    const a = short.check("k", options);
    assert.deepEqual(a, { allowed: d.allowed, retryAfter: d.retryAfter });
    assert.equal(short.waitTime("k", options), full.waitTime("k", options));
  }
  assert.throws(() => short.check("k", { cost: 0 }), /cost must be at least 1/);
});

test("decisions name the binding bucket and list every bucket", () => {
  const limiter = new RateLimiter(JSON.stringify({
    max_burst: 20,
    endpoint_limits: { media: { minute: 2 } },
    platform_limits: { mastodon: { hour: 300 } },
  }));
  const d = limiter.isAllowed("k", { endpoint: "media", platform: "mastodon", now: 5 });
  assert.deepEqual(
    d.buckets.map((b) => `${b.scope}-${b.window}`),
    ["global-minute", "global-hour", "global-day", "platform-hour", "endpoint-minute"],
  );
  assert.equal(d.scope, "endpoint");
  assert.equal(d.remaining, 1);
  assert.equal(typeof d.resetAfter, "number");
  // Without `now`, a monotonic clock is used.
  assert.equal(typeof limiter.isAllowed("other").allowed, "boolean");
});

test("a limits document reads as the server reads it: JSON text or object, null for a window not given", () => {
  const doc = {
    requests_per_minute: 100,
    max_burst: 3,
    endpoint_limits: { media: { minute: 2, hour: null, burst: undefined } },
    platform_endpoint_limits: { pixelfed: { media: { minute: 5, burst: 1 } } },
  };
  const fromObject = new RateLimiter(doc);
  const fromText = new RateLimiter(JSON.stringify(doc));
  for (const now of [0, 0, 0, 10, 20_000]) {
    const options = { endpoint: "media", platform: "pixelfed", now };
    assert.deepEqual(fromObject.isAllowed("k", options), fromText.isAllowed("k", options));
  }
  const d = new RateLimiter(doc).isAllowed("k", { endpoint: "media", platform: "pixelfed", now: 0 });
  assert.deepEqual(
    d.buckets.map((b) => `${b.scope}-${b.window}-${b.capacity}`),
    ["global-minute-3", "global-hour-1000", "global-day-10000", "endpoint-minute-2", "platform_endpoint-minute-1"],
  );
  assert.equal(new RateLimiter().isAllowed("k", { now: 0 }).limit, 60, "no document means the defaults");
});

test("bad configuration and options throw errors naming the field", () => {
  assert.throws(() => new RateLimiter({ requests_per_minute: 0 }), /requests_per_minute/);
  assert.throws(() => new RateLimiter({ requests_per_minute: -3 }), /requests_per_minute/);
  assert.throws(() => new RateLimiter({ requests_per_hour: "many" }), /requests_per_hour/);
  assert.throws(() => new RateLimiter({ endpoint_limits: { media: { minute: 0 } } }), /endpoint_limits\/media\/minute/);
  assert.throws(() => new RateLimiter({ endpoint_limits: { media: { weekly: 3 } } }), /weekly/);
  assert.throws(
    () => new RateLimiter({ platform_limits: { "a/b": { minute: "x" } } }),
    /^Error: invalid rate-limit config at \/platform_limits\/a~1b\/minute: must be a whole number from 0 to 4294967295, not the string "x"$/,
  );
  assert.throws(
    () => new RateLimiter({ platform_endpoint_limits: { pixelfed: { media: { burst: 1.5 } } } }),
    /at \/platform_endpoint_limits\/pixelfed\/media\/burst: must be a whole number from 0 to 4294967295, not 1.5$/,
  );
  assert.throws(() => new RateLimiter({ endpoint_limits: [] }), /at \/endpoint_limits: must be an object, not an array$/);
  assert.throws(() => new RateLimiter({ max_burst: null }), /at \/max_burst: must be a whole number from 0 to 4294967295, not null$/);
  assert.throws(() => new RateLimiter(42), /^Error: invalid rate-limit config: must be an object, not 42$/);
  assert.throws(() => new RateLimiter({ requests_per_day: 2 ** 32 }), /requests_per_day/);
  assert.throws(() => new RateLimiter('{\n "max_burst": 1,\n "requests_per_day": true\n}'), /at \/requests_per_day:/);
  assert.throws(() => new RateLimiter({ surprise: 1 }), /surprise/);
  assert.throws(() => new RateLimiter("{not json"), /rate-limit config/);
  const limiter = new RateLimiter({});
  assert.throws(() => limiter.isAllowed("k", { cost: 0, now: 0 }), /cost/);
  assert.throws(() => limiter.isAllowed("k", { cost: 1.5, now: 0 }), /cost/);
  assert.throws(() => limiter.isAllowed("k", { now: -1 }), /now/);
  assert.throws(() => limiter.isAllowed("k", { now: NaN }), /now|null/);
  assert.throws(() => limiter.isAllowed("k", { colour: "red" }), /colour/);
  // Each option of the wrong type is an error naming the option and what was given.
  assert.throws(() => limiter.check("k", { cost: "2" }), /^Error: cost must be a number, not string$/);
  assert.throws(() => limiter.isAllowed("k", { now: 5n }), /^Error: now must be a number, not bigint$/);
  assert.throws(() => limiter.waitTime("k", { endpoint: 5 }), /^Error: endpoint must be a string, not number$/);
  assert.throws(() => limiter.check("k", { platform: {} }), /^Error: platform must be a string, not object$/);
  assert.equal(limiter.check("k", { endpoint: null, platform: undefined, cost: null }).allowed, true);
  // A clock past 2^63 ns would saturate the buckets' times: refused, not answered wrongly.
  assert.throws(() => limiter.isAllowed("k", { now: 1e300 }), /now must be a number of milliseconds from 0 to 2\^63 ns/);
  assert.throws(() => limiter.waitTime("k", { now: 9.3e12 }), /now/);
  assert.equal(limiter.isAllowed("late", { now: 9.2e12 }).remaining, 9);
  // A key that is not a string is an error naming it, never a trap of the WebAssembly module.
  for (const key of [undefined, null, 42, {}, ["k"]]) {
    for (const call of [(k) => limiter.isAllowed(k), (k) => limiter.check(k), (k) => limiter.waitTime(k), (k) => limiter.resetLimits(k)]) {
      assert.throws(() => call(key), (e) => e instanceof Error && /^key must be a string, not /.test(e.message), String(key));
    }
  }
  // Still usable after errors.
  assert.equal(limiter.isAllowed("k", { now: 0 }).allowed, true);
});

test("extractEndpointFromUrl", () => {
  assert.throws(() => extractEndpointFromUrl(null), /url must be a string, not object/);
  assert.throws(() => extractEndpointFromUrl(7), /url must be a string, not number/);
  assert.equal(extractEndpointFromUrl("https://mastodon.social/api/v1/accounts/1/statuses?limit=5"), "statuses");
  assert.equal(extractEndpointFromUrl("/api/v2/media"), "media");
  assert.equal(extractEndpointFromUrl("https://pixelfed.social/users/alice/inbox"), "inbox");
  assert.equal(extractEndpointFromUrl("/oauth/token"), "oauth");
  assert.equal(extractEndpointFromUrl("https://example.com/about"), undefined);
});

test("rateLimited runs the function when allowed, waits out a denial, and gives up past maxWait", async () => {
  // Ten a second, one at once: after the first, one every 100 ms.
  const limiter = new RateLimiter({ requests_per_minute: 600, requests_per_hour: 36000, requests_per_day: 864000, max_burst: 1 });
  const calls = [];
  const caption = async (n) => {
    calls.push(n);
    return `caption ${n}`;
  };
  assert.equal(await rateLimited(limiter, "bot", () => caption(1)), "caption 1");
  const start = performance.now();
  assert.equal(await rateLimited(limiter, "bot", () => caption(2), { maxWait: 1000 }), "caption 2");
  assert.ok(performance.now() - start >= 90, "the second waited for its token");
  // The next token is 100 ms away: a longest wait of 10 ms gives up without calling.
  await assert.rejects(rateLimited(limiter, "bot", () => caption(3), { maxWait: 10 }), (e) => {
    assert.equal(e.name, "RateLimitedError");
    assert.equal(e.decision.allowed, false);
    assert.ok(e.decision.retryAfter > 10 && e.decision.retryAfter <= 100, String(e.decision.retryAfter));
    return true;
  });
  assert.deepEqual(calls, [1, 2]);
  // The check's options pass through: a bad cost is named.
  await assert.rejects(rateLimited(limiter, "bot", () => 1, { cost: 0 }), /cost/);
  const controller = new AbortController();
  controller.abort(new Error("stopped"));
  await assert.rejects(rateLimited(limiter, "bot", () => 1, { signal: controller.signal }), /stopped/);
  await assert.rejects(rateLimited({}, "bot", () => 1), /limiter must be a RateLimiter/);
});
