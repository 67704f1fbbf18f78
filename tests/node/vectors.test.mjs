// The shared vectors (tests/vectors/*.json), run against the installed npm package: it must
// decide exactly as the native core does (core/tests/vectors.rs runs the same files).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { RateLimiter, RetryPolicy, ProgressModel } from "flowgate";

const dir = process.env.FLOWGATE_VECTORS;
const load = (name) => JSON.parse(readFileSync(`${dir}/${name}`, "utf8"));

test("rate-limit vectors", () => {
  for (const c of load("ratelimit.json").cases) {
    const limiter = new RateLimiter(c.config);
    c.steps.forEach((step, i) => {
      const at = `${c.name}, step ${i}`;
      const options = { endpoint: step.endpoint, platform: step.platform, cost: step.cost, now: step.now_ms };
      const expect = step.expect;
      if (step.op === "wait") {
        assert.equal(limiter.waitTime(step.key, options), expect.wait_ms, at);
      } else if (step.op === "reset") {
        assert.equal(limiter.resetLimits(step.key), expect.had_state, at);
      } else if (expect.error) {
        assert.throws(() => limiter.isAllowed(step.key, options), new RegExp(expect.error), at);
      } else {
        const d = limiter.isAllowed(step.key, options);
        assert.equal(d.allowed, expect.allowed, at);
        assert.equal(d.remaining, expect.remaining, at);
        assert.equal(d.resetAfter, expect.reset_after_ms, at);
        assert.equal(d.retryAfter, expect.retry_after_ms, at);
        assert.equal(d.scope, expect.scope, at);
        assert.equal(d.window, expect.window, at);
        assert.equal(d.limit, expect.limit, at);
        if (expect.buckets !== undefined) assert.equal(d.buckets.length, expect.buckets, at);
      }
    });
  }
});

test("retry vectors", () => {
  const file = load("retry.json");
  for (const s of file.schedules) {
    assert.deepEqual(new RetryPolicy(s.config).delays(s.seed), s.delays_ms, JSON.stringify(s.config));
  }
  for (const d of file.decisions) {
    assert.equal(new RetryPolicy(d.config).shouldRetry(d.failure, d.attempt), d.expect, JSON.stringify(d));
  }
});

test("progress vectors", () => {
  for (const c of load("progress.json").cases) {
    const model = new ProgressModel("t", 1, c.created_ms);
    c.steps.forEach((step, i) => {
      const expect = step.expect;
      if (expect.error) {
        assert.throws(() => model.apply(step.update, step.now_ms), new RegExp(expect.error), `step ${i}`);
        return;
      }
      const s = model.apply(step.update, step.now_ms);
      assert.equal(s.seq, expect.seq, `step ${i}`);
      assert.equal(s.status, expect.status, `step ${i}`);
      assert.equal(s.progressPercent, expect.progress_percent, `step ${i}`);
      assert.equal(s.startedAt, expect.started_ms, `step ${i}`);
      assert.equal(s.eta, expect.eta_ms, `step ${i}`);
    });
  }
});
