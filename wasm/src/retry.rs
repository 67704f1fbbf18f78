//! `RetryPolicy`, `retry`, `rateLimited`'s retry half and the process-wide statistics.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::args::*;
use crate::documents::{self, Doc};
use flowgate_core::retry::{
    Failure, FailureKind, FailureRecord, Outcome, RetryConfig, RetryReport, RetryStats, Step,
    StopReason, parse_retry_after,
};
use rand::SeedableRng;

use crate::chacha::ChaCha8Rng;

/// The statistics of every `retry` call. A module without threads never waits on this lock;
/// it is what makes a `static` of them possible without the standard library.
static STATS: spin::Mutex<RetryStats> = spin::Mutex::new(RetryStats::new());

#[wasm_bindgen(inline_js = r#"
export function contains_ignore_case(message, pattern) {
  return message.toLowerCase().includes(pattern.toLowerCase());
}
"#)]
extern "C" {
    /// Whether `message` contains `pattern`, case aside, by JavaScript's `toLowerCase`: the
    /// core's own comparison would bring Unicode's lowercase tables into the package.
    fn contains_ignore_case(message: &str, pattern: &str) -> bool;
}

fn rng(seed: Option<f64>) -> Result<ChaCha8Rng, JsError> {
    let seed = match seed {
        Some(s) if is_whole(s) && (0.0..=TWO_POW_53).contains(&s) => s as u64,
        Some(_) => return Err(JsError::new("seed must be a whole number from 0 to 2^53")),
        None => (js_sys::Math::random() * TWO_POW_53) as u64,
    };
    Ok(ChaCha8Rng::seed_from_u64(seed))
}

/// A failure owned by the glue, lent to the core as a [`Failure`].
struct OwnedFailure {
    kind: FailureKind,
    status: u16,
    retry_after: Option<Duration>,
    message: String,
}

impl OwnedFailure {
    /// A failure as `retry.js`'s `classify` describes a thrown value: its `kind`, `status`,
    /// `message` and the server's `Retry-After` as a header or in ms.
    fn classified(
        kind: &str,
        status: u16,
        message: String,
        retry_after_header: Option<String>,
        retry_after_ms: Option<f64>,
    ) -> OwnedFailure {
        let from_header = retry_after_header.and_then(|v| {
            parse_retry_after(&v, Some(Duration::from_millis(js_sys::Date::now() as u64))).ok()
        });
        let from_field = retry_after_ms.and_then(|ms| duration_ms(ms, "retryAfter").ok());
        OwnedFailure {
            kind: FailureKind::parse(kind).unwrap_or(FailureKind::Other),
            status,
            retry_after: from_header.or(from_field),
            message,
        }
    }

    /// What a thrown value (or a `Response`-like one) says, classified as `retry` classifies
    /// what its function throws.
    fn from_thrown(thrown: &JsValue) -> OwnedFailure {
        let parts = classify(thrown);
        let text = |i: u32| parts.get(i).as_string();
        let number = |i: u32| parts.get(i).as_f64();
        OwnedFailure::classified(
            &text(0).unwrap_or_default(),
            number(1).map_or(0, |s| s as u16),
            text(2).unwrap_or_default(),
            text(3),
            number(4),
        )
    }

    fn failure(&self) -> Failure<'_> {
        match self.kind {
            FailureKind::Timeout => Failure::Timeout,
            FailureKind::Connection => Failure::Connection,
            FailureKind::Status => Failure::Status {
                code: self.status,
                retry_after: self.retry_after,
            },
            FailureKind::Other => Failure::Other {
                message: &self.message,
            },
        }
    }

    fn record(&self) -> FailureRecord {
        FailureRecord::from(&self.failure())
    }
}

fn owned_failure(failure: &JsValue) -> Result<OwnedFailure, JsError> {
    let f = Doc::read(failure, "failure")?;
    let kind = f
        .string("kind")
        .and_then(|k| FailureKind::parse(&k))
        .unwrap_or(FailureKind::Other);
    let status = f.number("status").map(|s| s as u16);
    if kind == FailureKind::Status && status.is_none() {
        return Err(JsError::new(
            "invalid failure: a status failure needs its status",
        ));
    }
    Ok(OwnedFailure {
        kind,
        status: status.unwrap_or(0),
        retry_after: f
            .number("retryAfter")
            .map(|ms| duration_ms(ms, "retryAfter"))
            .transpose()?,
        message: f.string("message").unwrap_or_default(),
    })
}

/// A retry policy: exponential backoff with jitter, which failures to retry, and `Retry-After`.
#[wasm_bindgen]
pub struct RetryPolicy {
    config: RetryConfig,
}

#[wasm_bindgen]
impl RetryPolicy {
    /// A policy from the retry config document (an object or its JSON text; times in seconds).
    ///
    /// Throws an `Error` naming the field when the document is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RetryConfig | string")] config: JsValue,
    ) -> Result<RetryPolicy, JsError> {
        Ok(RetryPolicy {
            config: documents::retry_config(&config)?,
        })
    }

    /// The delays before each retry, in ms (`max_attempts - 1` of them). The same `seed` gives
    /// the same jitter everywhere the core runs.
    #[wasm_bindgen(unchecked_return_type = "number[]")]
    pub fn delays(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] seed: Option<JsValue>,
    ) -> Result<js_sys::Array, JsError> {
        let mut rng = rng(number_arg(seed, "seed")?)?;
        let delays = js_sys::Array::new();
        for delay in self.config.schedule(&mut rng) {
            delays.push(&JsValue::from_f64(ms(delay)));
        }
        Ok(delays)
    }

    /// Whether `failure` is retried: by kind and status alone, or, given the number of
    /// `attempt`s made so far, also counting attempts and `Retry-After`. `failure` is a failure
    /// document (with its `kind`), or anything a function given to `retry` may throw (a
    /// `Response`-like value with a `status`, a `TimeoutError`, a `TypeError`, an `Error`),
    /// classified as `retry` classifies it.
    #[wasm_bindgen(js_name = shouldRetry)]
    pub fn should_retry(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Failure | unknown")] failure: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] attempt: Option<JsValue>,
    ) -> Result<bool, JsError> {
        let is_document = failure.is_object()
            && Reflect::has(&failure, &JsValue::from_str("kind")).unwrap_or(false);
        let failure = if is_document {
            owned_failure(&failure)?
        } else {
            OwnedFailure::from_thrown(&failure)
        };
        let attempt = match number_arg(attempt, "attempt")? {
            Some(a) if is_whole(a) && (1.0..=f64::from(u32::MAX)).contains(&a) => Some(a as u32),
            Some(_) => return Err(JsError::new("attempt must be a whole number, 1 or more")),
            None => None,
        };
        Ok(match attempt {
            None => self
                .config
                .should_retry_matching(&failure.failure(), contains_ignore_case),
            Some(attempt) => {
                let mut rng = ChaCha8Rng::seed_from_u64(0);
                matches!(
                    self.config.next_step_matching(
                        attempt,
                        &failure.failure(),
                        &mut rng,
                        contains_ignore_case
                    ),
                    Step::Retry(_)
                )
            }
        })
    }

    /// The policy as its JSON document.
    #[wasm_bindgen(js_name = toJSON, unchecked_return_type = "RetryConfig")]
    pub fn to_json(&self) -> JsValue {
        documents::retry_config_js(&self.config)
    }
}

fn record(report: &RetryReport) {
    // A report the glue built always validates; a failure here would only lose a count.
    let _ = STATS.lock().record(report);
}

fn exhausted(attempts: u32, cause: JsValue, reason: StopReason, operation: &str) -> JsValue {
    let error = js_sys::Error::new(&format!(
        "{operation}: gave up after {attempts} attempt(s): {reason}"
    ));
    error.set_name("RetryExhaustedError");
    let _ = Reflect::set(&error, &"attempts".into(), &JsValue::from(attempts));
    let _ = Reflect::set(&error, &"cause".into(), &cause);
    let reason = match reason {
        StopReason::NotRetryable => "not_retryable",
        StopReason::AttemptsExhausted => "attempts_exhausted",
        StopReason::RetryAfterTooLong { .. } => "retry_after_too_long",
    };
    let _ = Reflect::set(&error, &"reason".into(), &reason.into());
    error.into()
}

#[wasm_bindgen(module = "/src/retry.js")]
extern "C" {
    /// The loop of one `retry` call, asking `run` what to do after each failure.
    fn run_retries(f: &JsValue, run: JsValue, signal: &JsValue) -> Promise;
    /// What a thrown value says: `[kind, status, message, Retry-After header, retryAfter ms]`.
    fn classify(thrown: &JsValue) -> js_sys::Array;
    /// The loop of one `rateLimited` call, asking `limiter.waitStep` what to do.
    fn run_rate_limited(
        limiter: &JsValue,
        key: &JsValue,
        f: &JsValue,
        options: &JsValue,
    ) -> Promise;
    /// Whether `signal` is an `AbortSignal`.
    fn is_signal(signal: &JsValue) -> bool;
}

/// Calls `fn(attempt)` (attempt 1 first) until it resolves, waiting between attempts as the
/// policy says, and returns what it resolved to. It classifies what `fn` throws (see the
/// package README). Gives up by throwing an `Error` named `RetryExhaustedError` with
/// `attempts`, `cause` (the last error) and `reason`; an aborted `signal` rejects at once with
/// the signal's reason. Every call is counted in the retry statistics under `operation`.
#[wasm_bindgen(js_name = retry, unchecked_return_type = "Promise<any>")]
pub fn retry_js(
    #[wasm_bindgen(unchecked_param_type = "(attempt: number) => Promise<any> | any")] f: JsValue,
    #[wasm_bindgen(unchecked_param_type = "RetryConfig | string")] config: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "RetryOptions")] options: Option<Object>,
) -> Promise {
    let options = options.map_or(JsValue::UNDEFINED, JsValue::from);
    match RetryRun::new(&f, &config, &options) {
        Ok((run, signal)) => run_retries(&f, run.into(), &signal),
        Err(e) => Promise::reject(&e.into()),
    }
}

/// Runs `f()` once `limiter` allows the request for `key` (the reference's `rate_limited`):
/// a denial is waited out (exactly the time it names) and the request asked again, up to
/// `maxWait` ms in all. Resolves with what `f` resolves with; rejects with an `Error` named
/// `RateLimitedError` carrying the refusing `decision` when the wait would pass `maxWait` (then
/// `f` is not called), and at once with an aborted `signal`'s reason.
#[wasm_bindgen(js_name = rateLimited, unchecked_return_type = "Promise<any>")]
pub fn rate_limited_js(
    #[wasm_bindgen(unchecked_param_type = "RateLimiter")] limiter: JsValue,
    #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    #[wasm_bindgen(unchecked_param_type = "() => Promise<any> | any")] f: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "RateLimitedOptions")] options: Option<Object>,
) -> Promise {
    run_rate_limited(
        &limiter,
        &key,
        &f,
        &options.map_or(JsValue::UNDEFINED, JsValue::from),
    )
}

/// One `retry` call in progress: its policy, the jitter's generator and what happened so far.
/// The loop that calls, awaits and sleeps is JavaScript's (`retry.js`); it asks this what to
/// do after each failure.
#[wasm_bindgen(skip_typescript)]
pub struct RetryRun {
    policy: RetryConfig,
    operation: String,
    rng: ChaCha8Rng,
    delays: Vec<f64>,
    failures: Vec<FailureRecord>,
}

impl RetryRun {
    /// The run for these arguments of `retry`, and its signal (`undefined` without one).
    fn new(
        f: &JsValue,
        config: &JsValue,
        options: &JsValue,
    ) -> Result<(RetryRun, JsValue), JsError> {
        if !f.is_function() {
            return Err(JsError::new("retry needs a function to call"));
        }
        let policy = documents::retry_config(config)?;
        let opts = Doc::read(options, "retry options")?;
        let signal = opts.get("signal").unwrap_or(JsValue::UNDEFINED);
        if !signal.is_undefined() && !is_signal(&signal) {
            return Err(JsError::new(
                "invalid retry options at /signal: must be an AbortSignal",
            ));
        }
        let run = RetryRun {
            policy,
            operation: opts
                .string("operation")
                .unwrap_or_else(|| "default".to_string()),
            rng: rng(opts.number("seed"))?,
            delays: Vec::new(),
            failures: Vec::new(),
        };
        Ok((run, signal))
    }

    fn record(&mut self, attempts: u32, outcome: Outcome) {
        record(&RetryReport {
            operation: core::mem::take(&mut self.operation),
            attempts,
            outcome,
            delays: core::mem::take(&mut self.delays),
            failures: core::mem::take(&mut self.failures),
        });
    }
}

#[wasm_bindgen]
impl RetryRun {
    /// What to do after `attempt` failed by throwing `thrown`, which `retry.js` classified as
    /// `kind` (with `status`, `message` and the server's `Retry-After` as a header or in ms):
    /// the ms to wait before the next attempt, or the error to reject with.
    #[allow(clippy::too_many_arguments)]
    pub fn failed(
        &mut self,
        attempt: u32,
        thrown: JsValue,
        kind: &str,
        status: u16,
        message: String,
        retry_after_header: Option<String>,
        retry_after_ms: Option<f64>,
    ) -> JsValue {
        let failure =
            OwnedFailure::classified(kind, status, message, retry_after_header, retry_after_ms);
        self.failures.push(failure.record());
        let step = self.policy.next_step_matching(
            attempt,
            &failure.failure(),
            &mut self.rng,
            contains_ignore_case,
        );
        match step {
            Step::Retry(wait) => {
                self.delays.push(wait.as_secs_f64());
                JsValue::from_f64(ms(wait))
            }
            Step::Stop(reason) => {
                let error = exhausted(attempt, thrown, reason, &self.operation);
                let outcome = if reason == StopReason::NotRetryable {
                    Outcome::Failure
                } else {
                    Outcome::Exhausted
                };
                self.record(attempt, outcome);
                error
            }
        }
    }

    /// `attempt` succeeded: the call is counted.
    pub fn succeeded(&mut self, attempt: u32) {
        self.record(attempt, Outcome::Success);
    }
}

/// Totals over every operation `retry` ran: calls, attempts, retries, successes, failures,
/// exhausted, delays (seconds), counts by status and kind, success rate.
#[wasm_bindgen(js_name = retryStatsSummary, unchecked_return_type = "RetrySummary")]
pub fn retry_stats_summary() -> JsValue {
    documents::summary_js(&STATS.lock().summary())
}

/// The statistics of each operation `retry` ran, by name.
#[wasm_bindgen(js_name = retryStatsDetailed, unchecked_return_type = "Record<string, OperationStats>")]
pub fn retry_stats_detailed() -> JsValue {
    documents::detailed_js(STATS.lock().detailed())
}

/// Forgets the retry statistics.
#[wasm_bindgen(js_name = resetRetryStats)]
pub fn reset_retry_stats() {
    STATS.lock().clear();
}
