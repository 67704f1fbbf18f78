import { test } from "node:test";
import assert from "node:assert/strict";
import { RetryPolicy, retry, retryStatsSummary, retryStatsDetailed, resetRetryStats } from "flowgate";

const fast = { max_attempts: 4, base_delay: 0.01, max_delay: 0.05, jitter: false };

test("retries what the policy retries, then succeeds", async () => {
  resetRetryStats();
  const seen = [];
  const result = await retry(async (attempt) => {
    seen.push(attempt);
    if (attempt === 1) throw new TypeError("fetch failed");           // connection
    if (attempt === 2) throw Object.assign(new Error("slow"), { name: "TimeoutError" });
    if (attempt === 3) throw { status: 503, headers: new Headers({ "Retry-After": "0" }) };
    return "caption";
  }, fast, { operation: "caption" });
  assert.equal(result, "caption");
  assert.deepEqual(seen, [1, 2, 3, 4]);
  const detailed = retryStatsDetailed();
  assert.equal(detailed.caption.calls, 1);
  assert.equal(detailed.caption.retries, 3);
  assert.deepEqual(detailed.caption.by_kind, { timeout: 1, connection: 1, status: 1 });
  assert.equal(detailed.caption.by_status["503"], 1);
});

test("a Response's Retry-After is honoured on 429", async () => {
  const start = Date.now();
  let calls = 0;
  await retry(async () => {
    calls += 1;
    if (calls === 1) throw new Response("slow down", { status: 429, headers: { "Retry-After": "1" } });
    return true;
  }, { ...fast, max_delay: 2 }, {});
  assert.ok(Date.now() - start >= 950, "waited the server's second");
});

test("gives up with a RetryExhaustedError carrying attempts and cause", async () => {
  const boom = new Error("permanently broken");
  await assert.rejects(
    retry(async () => { throw { status: 502 }; }, fast, { operation: "post" }),
    (err) => err.name === "RetryExhaustedError" && err.attempts === 4 && err.cause.status === 502 && err.reason === "attempts_exhausted",
  );
  let calls = 0;
  await assert.rejects(
    retry(async () => { calls += 1; throw boom; }, fast),
    (err) => err.name === "RetryExhaustedError" && err.attempts === 1 && err.cause === boom && err.reason === "not_retryable",
  );
  assert.equal(calls, 1);
  await assert.rejects(
    retry(async () => { throw { status: 429, retryAfter: 60000 }; }, fast),
    (err) => err.reason === "retry_after_too_long" && err.attempts === 1,
  );
  const summary = retryStatsSummary();
  assert.ok(summary.exhausted >= 2 && summary.failures >= 1, JSON.stringify(summary));
});

test("an AbortSignal cancels the wait at once", async () => {
  const controller = new AbortController();
  const start = Date.now();
  const pending = retry(async () => { throw new TypeError("network down"); },
    { max_attempts: 5, base_delay: 30, max_delay: 30, jitter: false }, { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("user cancelled")), 50);
  await assert.rejects(pending, /user cancelled/);
  assert.ok(Date.now() - start < 5000, "did not wait the 30 s delay");
  const aborted = AbortSignal.abort(new Error("already"));
  let called = false;
  await assert.rejects(retry(async () => { called = true; }, fast, { signal: aborted }), /already/);
  assert.equal(called, false);
});

test("the policy's schedule and decisions", () => {
  const policy = new RetryPolicy({ max_attempts: 4, base_delay: 1, jitter_factor: 0.2 });
  const a = policy.delays(9);
  assert.equal(a.length, 3);
  assert.deepEqual(policy.delays(9), a, "the same seed gives the same schedule");
  a.forEach((d, i) => {
    const base = 1000 * 2 ** i;
    assert.ok(d >= base * 0.8 && d <= base * 1.2, `${d} within ±20% of ${base}`);
  });
  assert.equal(policy.shouldRetry({ kind: "status", status: 500 }), true);
  assert.equal(policy.shouldRetry({ kind: "status", status: 500 }, 4), false);
  assert.equal(policy.toJSON().max_attempts, 4);
  // Numbers must be numbers: a string is not read as one, a BigInt is named, not a TypeError.
  assert.throws(() => policy.delays("9"), /^Error: seed must be a number, not string$/);
  assert.throws(() => policy.delays(9n), /^Error: seed must be a number, not bigint$/);
  assert.throws(() => policy.shouldRetry({ kind: "timeout" }, "2"), /^Error: attempt must be a number, not string$/);
  assert.equal(policy.delays(null).length, 3, "null is a random seed");
});

test("shouldRetry takes what retry() takes: a thrown value is classified the same way", () => {
  const policy = new RetryPolicy({ max_attempts: 3, retry_status_codes: [429, 503] });
  // A Response-like value is a status failure, as retry() would classify it.
  assert.equal(policy.shouldRetry({ status: 503 }), true);
  assert.equal(policy.shouldRetry({ status: 404 }), false);
  assert.equal(policy.shouldRetry(new Response(null, { status: 429 })), true);
  // Its Retry-After counts: a wait longer than max_delay stops the retries.
  const longWait = new Response(null, { status: 503, headers: { "Retry-After": "3600" } });
  assert.equal(policy.shouldRetry(longWait, 1), false);
  assert.equal(policy.shouldRetry({ status: 503, retryAfter: 10 }, 1), true);
  // A TimeoutError, a TypeError (fetch's network failure), an Error with a message.
  assert.equal(policy.shouldRetry(new DOMException("slow", "TimeoutError")), true);
  assert.equal(policy.shouldRetry(new TypeError("fetch failed")), true);
  assert.equal(policy.shouldRetry(new Error("boom")), false);
  assert.equal(policy.shouldRetry("a thrown string"), false);
  // The document form keeps its meaning.
  assert.equal(policy.shouldRetry({ kind: "status", status: 503 }), true);
});

test("other failures are retried when their message holds a pattern, case aside, in any script", async () => {
  const policy = new RetryPolicy({ retry_on_specific_errors: ["Try Again", "überlastet", "ΣΦΆΛΜΑ"] });
  assert.equal(policy.shouldRetry({ kind: "other", message: "please TRY AGAIN later" }), true);
  assert.equal(policy.shouldRetry({ kind: "other", message: "Server ÜBERLASTET" }), true);
  assert.equal(policy.shouldRetry({ kind: "other", message: "προσωρινό σφάλμα" }), true);
  assert.equal(policy.shouldRetry({ kind: "other", message: "invalid token" }), false);
  assert.equal(policy.shouldRetry({ kind: "other" }), false, "no message holds no pattern");
  let calls = 0;
  await retry(async () => {
    calls += 1;
    if (calls === 1) throw new Error("Dienst Überlastet");
    return calls;
  }, { retry_on_specific_errors: ["überlastet"], base_delay: 0.001, jitter: false });
  assert.equal(calls, 2);
});

test("anything thrown is classified, whatever it is", async () => {
  for (const thrown of [null, undefined, "plain string", 42, Object.create(null), { status: 999 }]) {
    await assert.rejects(
      retry(() => { throw thrown; }, { retry_on_specific_errors: ["plain"], max_attempts: 2, base_delay: 0.001 }, { operation: "odd" }),
      (err) => err.name === "RetryExhaustedError" && err.cause === thrown
        && err.attempts === (thrown === "plain string" ? 2 : 1),
      typeof thrown,
    );
  }
});

test("a policy's document comes back as it went in, with every default filled in", () => {
  const doc = {
    max_attempts: 5, base_delay: 0.5, max_delay: 20, backoff_factor: 3, jitter: false, jitter_factor: 0.3,
    retry_on_timeout: false, retry_on_connection_error: true, retry_on_server_error: false, retry_on_rate_limit: true,
    retry_status_codes: [418, 503], retry_on_specific_errors: ["try again", "überlastet"], retry_exceptions: ["timeout", "other"],
  };
  assert.deepEqual(new RetryPolicy(doc).toJSON(), doc);
  assert.deepEqual(new RetryPolicy(JSON.stringify(doc)).toJSON(), doc);
  const defaults = new RetryPolicy().toJSON();
  assert.deepEqual(defaults, {
    max_attempts: 3, base_delay: 1, max_delay: 30, backoff_factor: 2, jitter: true, jitter_factor: 0.1,
    retry_on_timeout: true, retry_on_connection_error: true, retry_on_server_error: true, retry_on_rate_limit: true,
    retry_status_codes: null, retry_on_specific_errors: null, retry_exceptions: null,
  });
  assert.deepEqual(new RetryPolicy({ retry_status_codes: null }).toJSON(), defaults);
});

test("bad configuration and failures throw errors naming the field", async () => {
  assert.throws(() => new RetryPolicy({ max_attempts: 0 }), /max_attempts/);
  assert.throws(() => new RetryPolicy({ base_delay: -1 }), /base_delay/);
  assert.throws(() => new RetryPolicy({ jitter_factor: 2 }), /jitter_factor/);
  assert.throws(() => new RetryPolicy({ max_delay: Infinity }), /at \/max_delay: must be a finite number, not Infinity/);
  assert.throws(() => new RetryPolicy({ retry_status_codes: [500, "x"] }), /at \/retry_status_codes\/1:/);
  assert.throws(() => new RetryPolicy({ retry_status_codes: [700] }), /retry_status_codes/);
  assert.throws(() => new RetryPolicy({ extra: true }), /extra/);
  const policy = new RetryPolicy({});
  assert.throws(() => policy.shouldRetry({ kind: "gremlins" }), /failure/);
  assert.throws(() => policy.shouldRetry({ kind: "status" }), /status/);
  assert.throws(() => policy.shouldRetry({ kind: "status", status: 503, retryAfter: NaN }), /at \/retryAfter: must be a finite number, not NaN/);
  assert.throws(() => policy.delays(-1), /seed/);
  for (const attempt of [0, -1, 1.5]) {
    assert.throws(() => policy.shouldRetry({ kind: "timeout" }, attempt), /attempt must be a whole number, 1 or more/, String(attempt));
  }
  assert.throws(() => new RetryPolicy({ retry_exceptions: ["gremlins"] }),
    /^Error: invalid retry config at \/retry_exceptions\/0: must be one of timeout, connection, status, other, not the string "gremlins"$/);
  assert.throws(() => new RetryPolicy({ jitter: "yes" }), /at \/jitter: must be true or false/);
  assert.throws(() => policy.shouldRetry({ kind: "other", message: 7 }), /at \/message: must be a string, not 7$/);
  await assert.rejects(retry(async () => 1, {}, { colour: "red" }), /^Error: invalid retry options at \/colour: unknown field `colour`/);
  await assert.rejects(retry(async () => 1, {}, { seed: "x" }), /at \/seed: must be a finite number/);
  await assert.rejects(retry(async () => 1, {}, { signal: {} }), /^Error: invalid retry options at \/signal: must be an AbortSignal$/);
  await assert.rejects(retry("not a function", {}), /^Error: retry needs a function to call$/);
  return assert.rejects(retry(async () => 1, { max_attempts: -1 }), /max_attempts/);
});
