// The loop of `retry`: calling, awaiting, sleeping and cancelling are JavaScript's, so they
// are written here; every decision (whether to retry, how long to wait, the statistics) is the
// core's, asked through the `RetryRun` the WebAssembly side made for this call. An `async`
// loop in Rust would bring wasm-bindgen's futures and closures into the module instead.

/** Runs `f(attempt)` until it resolves or `run` says to stop; see `retry` in lib.rs. */
export async function run_retries(f, run, signal) {
  try {
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw signal.reason;
      let value;
      try {
        value = await f(attempt);
      } catch (thrown) {
        if (signal?.aborted) throw signal.reason;
        const [kind, status, message, retryAfterHeader, retryAfterMs] = classify(thrown);
        const next = run.failed(attempt, thrown, kind, status, message, retryAfterHeader, retryAfterMs);
        if (typeof next !== "number") throw next;
        await sleep(next, signal);
        continue;
      }
      run.succeeded(attempt);
      return value;
    }
  } finally {
    run.free();
  }
}

/** The loop of `rateLimited`; see `rateLimited` in lib.rs. What to do at each step is the
 * core's (`waitStep`); waiting is JavaScript's. */
export async function run_rate_limited(limiter, key, f, options) {
  if (typeof limiter?.waitStep !== "function") throw new Error("limiter must be a RateLimiter");
  if (typeof f !== "function") throw new Error("f must be a function");
  const { maxWait = Infinity, signal, ...check } = options ?? {};
  if (signal !== undefined && !is_signal(signal)) throw new Error("signal must be an AbortSignal");
  let started;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const step = limiter.waitStep(key, check, started, maxWait);
    started ??= step.now;
    if (step.go) return await f();
    if (step.decision) {
      const error = new Error(
        `rate limited by the ${step.decision.scope} ${step.decision.window} bucket: allowed in ` +
          `${step.decision.retryAfter} ms, longer than maxWait`,
      );
      error.name = "RateLimitedError";
      error.decision = step.decision;
      throw error;
    }
    await sleep(step.wait, signal);
  }
}

/** Whether `signal` is an `AbortSignal` (or behaves as one). */
export function is_signal(signal) {
  return typeof signal?.aborted === "boolean" && typeof signal.addEventListener === "function";
}

/** What a thrown value says about the failure, as `[kind, status, message, Retry-After
 * header, retryAfter ms]`: a numeric `status` is an HTTP status (with a `Response`-like
 * `headers.get('Retry-After')`, or a `retryAfter` in ms); a `TimeoutError` is a timeout; a
 * `TypeError` (what `fetch` throws when the network fails) is a connection failure; anything
 * else is `other`, known by its message. */
export function classify(thrown) {
  const status = thrown?.status;
  if (Number.isInteger(status) && status >= 100 && status <= 599) {
    let header;
    try {
      header = thrown.headers?.get?.("Retry-After");
    } catch {
      header = undefined;
    }
    const ms = thrown.retryAfter;
    return ["status", status, "", typeof header === "string" ? header : undefined, typeof ms === "number" ? ms : undefined];
  }
  const kind = thrown?.name === "TimeoutError" ? "timeout" : thrown instanceof TypeError ? "connection" : "other";
  return [kind, 0, message(thrown), undefined, undefined];
}

function message(thrown) {
  if (typeof thrown?.message === "string") return thrown.message;
  try {
    return String(thrown);
  } catch {
    return "";
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
