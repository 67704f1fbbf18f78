//! # flowgate for JavaScript
//!
//! wasm-bindgen bindings over `flowgate-core`, published as the npm package `flowgate`: the
//! same rate limiter, retry policy and progress model the server runs, deciding identically.
//! Names follow JavaScript habits (`isAllowed`, `waitTime`); configuration documents are the
//! same snake_case JSON the server takes, with their times in seconds; every time the API takes
//! or returns is in milliseconds, as `Date.now()` and `setTimeout` are.
//!
//! This crate is glue, and every decision is the core's. What is JavaScript's work is written
//! in JavaScript beside it: `documents.js` checks the shape of the documents and builds the
//! answers, `retry.js` runs `retry`'s loop (calling, awaiting, timers, `AbortSignal`). Keeping
//! that out of the WebAssembly module keeps it small (its size is in BENCHMARKS.md).
//!
//! In WebAssembly the crate is `no_std`: without the standard library's panic machinery (a
//! panic traps, as it would with `panic = "abort"`) the module is smaller; nothing here needs
//! more than `alloc`.

#![cfg_attr(target_family = "wasm", no_std)]

extern crate alloc;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use flowgate_core::progress::TaskProgress;
use flowgate_core::ratelimit::{Decision, KeyedState, Limits, Request, WaitStep, wait_step};
use flowgate_core::retry::{
    Failure, FailureKind, FailureRecord, Outcome, RetryConfig, RetryReport, RetryStats, Step,
    StopReason, parse_retry_after,
};
use js_sys::{Object, Promise, Reflect};
use rand::SeedableRng;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

mod chacha;
mod documents;

use chacha::ChaCha8Rng;

/// Talc instead of the standard library's dlmalloc: smaller in the package, and faster
/// (BENCHMARKS.md, "The npm package").
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

use documents::Doc;

/// A panic traps. Every error the API can meet is returned as a JavaScript `Error`; a panic
/// would be a bug, and the standard library's handler formats a message nobody reads here.
#[cfg(target_family = "wasm")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// 2^53: JavaScript's whole numbers are exact up to here.
const TWO_POW_53: f64 = 9_007_199_254_740_992.0;

/// Whether `x` is a finite whole number (`f64::fract` is not in `core`).
fn is_whole(x: f64) -> bool {
    x.is_finite() && libm::trunc(x) == x
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** The limits of one endpoint, platform or platform × endpoint: any of the three windows, and a burst capping the shortest. */
export interface ScopeLimits { minute?: number; hour?: number; day?: number; burst?: number }
/** The limits document, exactly as the server's `PUT /api/v1/limits` takes it. */
export interface RateLimitConfig {
  requests_per_minute?: number; requests_per_hour?: number; requests_per_day?: number; max_burst?: number;
  endpoint_limits?: Record<string, ScopeLimits>;
  platform_limits?: Record<string, ScopeLimits>;
  platform_endpoint_limits?: Record<string, Record<string, ScopeLimits>>;
}
/** One check: where the request goes, what it costs (default 1), and when (ms; default a monotonic clock). */
export interface CheckOptions { endpoint?: string | null; platform?: string | null; cost?: number; now?: number }
/** `rateLimited`'s options: the check's, the longest wait in ms (default unlimited) and a signal that stops the waiting. */
export interface RateLimitedOptions extends CheckOptions { maxWait?: number; signal?: AbortSignal }
export type Scope = "global" | "platform" | "endpoint" | "platform_endpoint";
export type Window = "minute" | "hour" | "day";
/** One bucket's state as one request saw it. Times in ms. */
export interface Bucket { scope: Scope; window: Window; limit: number; capacity: number; remaining: number; resetAfter: number; retryAfter: number }
/** The answer to a check. The flat fields describe the binding bucket; times in ms. */
export interface Decision { allowed: boolean; limit: number; remaining: number; resetAfter: number; retryAfter: number; scope: Scope; window: Window; buckets: Bucket[] }
/** The short answer to a check: allowed (and spent), or the ms to wait. */
export interface Admission { allowed: boolean; retryAfter: number }
/** The retry policy, exactly as the server's `PUT /api/v1/retry/config` takes it (seconds). */
export interface RetryConfig {
  max_attempts?: number; base_delay?: number; max_delay?: number; backoff_factor?: number;
  jitter?: boolean; jitter_factor?: number;
  retry_on_timeout?: boolean; retry_on_connection_error?: boolean; retry_on_server_error?: boolean; retry_on_rate_limit?: boolean;
  retry_status_codes?: number[] | null; retry_on_specific_errors?: string[] | null;
  retry_exceptions?: FailureKind[] | null;
}
export type FailureKind = "timeout" | "connection" | "status" | "other";
/** A failed attempt. `retryAfter` (ms) is the server's Retry-After, honoured on 429 and 503. */
export interface Failure { kind: FailureKind; status?: number; message?: string; retryAfter?: number }
/** Options of `retry`: the operation's name for the statistics, a signal that cancels, a seed for the jitter. */
export interface RetryOptions { operation?: string; signal?: AbortSignal; seed?: number }
export type TaskStatus = "queued" | "running" | "completed" | "failed" | "cancelled";
/** A progress update, exactly as the server's `PUT /api/v1/tasks/{id}/progress` takes it. */
export interface ProgressUpdate { current_step: string; progress_percent: number; details?: Record<string, unknown>; status?: TaskStatus }
/** One operation's retry statistics (or the totals), as the server's `GET /api/v1/retry/stats` has them; delays in seconds. */
export interface OperationStats {
  calls: number; attempts: number; retries: number; successes: number; failures: number; exhausted: number;
  total_delay: number; max_delay: number; by_status: Record<string, number>; by_kind: Partial<Record<FailureKind, number>>;
}
/** The statistics over every operation. */
export interface RetrySummary extends OperationStats { operations: number; success_rate: number; average_attempts: number }
/** A task's progress. Times are ms (since the epoch of the `now` given, `Date.now()` by default). */
export interface ProgressStatus {
  taskId: string; userId: number; currentStep: string; progressPercent: number; details: Record<string, unknown>;
  status: TaskStatus; seq: number; startedAt: number | null; updatedAt: number; eta: number | null;
}
/** A task's progress as the server's JSON has it (`ProgressModel.toJSON()`): RFC 3339 times in UTC with microseconds, `eta` in seconds. */
export interface ProgressJson {
  task_id: string; user_id: number; current_step: string; progress_percent: number; details: Record<string, unknown>;
  status: TaskStatus; seq: number; started_at: string | null; updated_at: string; eta: number | null;
}
"#;

/// Nanoseconds as JavaScript milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// JavaScript milliseconds as a duration; `what` names the value in the error.
///
/// The core counts time in `u64` nanoseconds and keeps each bucket's next conforming time
/// beyond the clock, so the clock stops at 2^63 ns (about 292 years since its epoch): the
/// other half of the range is room for those times, which would otherwise saturate and
/// answer nonsense.
fn duration_ms(value: f64, what: &str) -> Result<Duration, JsError> {
    const MAX_MS: f64 = (1u64 << 63) as f64 / 1e6;
    if !(0.0..=MAX_MS).contains(&value) {
        // Said without the value: formatting a float would pull its whole machinery into the
        // package.
        return Err(JsError::new(&format!(
            "{what} must be a number of milliseconds from 0 to 2^63 ns (about 292 years)"
        )));
    }
    Ok(Duration::from_nanos(libm::round(value * 1e6) as u64))
}

/// An optional number argument (`undefined` and `null` are none), or an error naming it:
/// wasm-bindgen's own number passing would read a string as a number and throw an unrelated
/// `TypeError` ("Cannot convert a BigInt value to a number") for a BigInt or a Symbol.
fn number_arg(value: Option<JsValue>, what: &str) -> Result<Option<f64>, JsError> {
    match value {
        Some(v) if !v.is_undefined() && !v.is_null() => v.as_f64().map(Some).ok_or_else(|| {
            let given = v.js_typeof().as_string().unwrap_or_default();
            JsError::new(&format!("{what} must be a number, not {given}"))
        }),
        _ => Ok(None),
    }
}

/// A string argument, or an error naming it: wasm-bindgen's own string passing would trap
/// (or throw an unrelated `TypeError`) on anything else.
fn string_arg(value: &JsValue, what: &str) -> Result<String, JsError> {
    value.as_string().ok_or_else(|| {
        let given = value.js_typeof().as_string().unwrap_or_default();
        JsError::new(&format!("{what} must be a string, not {given}"))
    })
}

/// An optional string argument (`undefined` and `null` are none), or an error naming it.
fn optional_string_arg(value: JsValue, what: &str) -> Result<Option<String>, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    string_arg(&value, what).map(Some)
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: monotonic milliseconds, in browsers and in Node.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn monotonic_now() -> f64;
}

// ---- rate limiter ----------------------------------------------------------------------------

#[wasm_bindgen(inline_js = r#"
const CHECK_FIELDS = new Set(["endpoint", "platform", "cost", "now"]);
export function unknown_check_option(o) {
  for (const k in o) if (!CHECK_FIELDS.has(k)) return k;
  return undefined;
}
"#)]
extern "C" {
    /// The first field of a check's options that is not one, if any.
    fn unknown_check_option(options: &JsValue) -> Option<String>;
}

#[wasm_bindgen]
extern "C" {
    /// A check's options, read by property access (a check is the hot path: naming fields
    /// from Rust would encode each name on every call).
    type CheckOptionsJs;
    #[wasm_bindgen(method, getter)]
    fn endpoint(this: &CheckOptionsJs) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn platform(this: &CheckOptionsJs) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn cost(this: &CheckOptionsJs) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn now(this: &CheckOptionsJs) -> JsValue;
}

#[derive(Default)]
struct CheckOptions {
    endpoint: Option<String>,
    platform: Option<String>,
    cost: Option<f64>,
    now: Option<f64>,
}

fn check_options(options: &JsValue) -> Result<CheckOptions, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(CheckOptions::default());
    }
    if !options.is_object() {
        return Err(JsError::new(
            "check options must be an object: {endpoint, platform, cost, now}",
        ));
    }
    if let Some(key) = unknown_check_option(options) {
        return Err(JsError::new(&format!(
            "unknown check option `{key}`: expected endpoint, platform, cost or now"
        )));
    }
    let o: &CheckOptionsJs = options.unchecked_ref();
    Ok(CheckOptions {
        endpoint: optional_string_arg(o.endpoint(), "endpoint")?,
        platform: optional_string_arg(o.platform(), "platform")?,
        cost: number_arg(Some(o.cost()), "cost")?,
        now: number_arg(Some(o.now()), "now")?,
    })
}

impl CheckOptions {
    /// The request these options describe.
    fn request(&self) -> Result<Request<'_>, JsError> {
        Ok(Request {
            endpoint: self.endpoint.as_deref(),
            platform: self.platform.as_deref(),
            cost: cost(self.cost)?,
        })
    }
}

/// Reads a check's options and asks `ask` about the request they describe, at their `now` (the
/// monotonic clock unless given); a limiter's error becomes a JavaScript one.
fn ask_with<T>(
    options: Option<Object>,
    ask: impl FnOnce(&Request<'_>, Duration) -> Result<T, flowgate_core::ratelimit::Error>,
) -> Result<T, JsError> {
    let o = check_options(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
    let now = duration_ms(o.now.unwrap_or_else(monotonic_now), "now")?;
    ask(&o.request()?, now).map_err(|e| JsError::new(&e.to_string()))
}

fn cost(value: Option<f64>) -> Result<u32, JsError> {
    match value {
        None => Ok(1),
        Some(c) if is_whole(c) && (0.0..=f64::from(u32::MAX)).contains(&c) => Ok(c as u32),
        Some(_) => Err(JsError::new("cost must be a whole number, 0 or more")),
    }
}

// A decision crosses into JavaScript as one array of numbers, turned into objects on the
// JavaScript side: one crossing per check instead of one per field, which made checks from Node
// several times faster than serialising a struct field by field.
#[wasm_bindgen(inline_js = r#"
const SCOPES = ["global", "platform", "endpoint", "platform_endpoint"];
const WINDOWS = ["minute", "hour", "day"];
export function decision(f) {
  const buckets = [];
  for (let i = 7; i < f.length; i += 7) {
    buckets.push({ scope: SCOPES[f[i]], window: WINDOWS[f[i + 1]], limit: f[i + 2], capacity: f[i + 3],
                   remaining: f[i + 4], resetAfter: f[i + 5], retryAfter: f[i + 6] });
  }
  return { allowed: f[0] === 1, limit: f[1], remaining: f[2], resetAfter: f[3], retryAfter: f[4],
           scope: SCOPES[f[5]], window: WINDOWS[f[6]], buckets };
}
export function admission(allowed, retryAfter) {
  return { allowed, retryAfter };
}
"#)]
extern "C" {
    fn decision(flat: &[f64]) -> JsValue;
    fn admission(allowed: bool, retry_after: f64) -> JsValue;
}

fn scope_index(scope: flowgate_core::ratelimit::Scope) -> f64 {
    use flowgate_core::ratelimit::Scope;
    match scope {
        Scope::Global => 0.0,
        Scope::Platform => 1.0,
        Scope::Endpoint => 2.0,
        Scope::PlatformEndpoint => 3.0,
    }
}

fn window_index(window: flowgate_core::ratelimit::Window) -> f64 {
    use flowgate_core::ratelimit::Window;
    match window {
        Window::Minute => 0.0,
        Window::Hour => 1.0,
        Window::Day => 2.0,
    }
}

/// The decision as the JavaScript object `Decision`.
fn decision_js(d: &Decision) -> JsValue {
    let mut flat = [0.0; 7 * (1 + flowgate_core::ratelimit::MAX_BUCKETS)];
    flat[..7].copy_from_slice(&[
        if d.allowed { 1.0 } else { 0.0 },
        f64::from(d.limit),
        f64::from(d.remaining),
        ms(d.reset_after),
        ms(d.retry_after),
        scope_index(d.scope),
        window_index(d.window),
    ]);
    let mut len = 7;
    for b in d.buckets() {
        flat[len..len + 7].copy_from_slice(&[
            scope_index(b.scope),
            window_index(b.window),
            f64::from(b.limit),
            f64::from(b.capacity),
            f64::from(b.remaining),
            ms(b.reset_after),
            ms(b.retry_after),
        ]);
        len += 7;
    }
    decision(&flat[..len])
}

/// A multi-window token-bucket rate limiter: per minute, hour and day, with bursts, and limits
/// per endpoint, platform and platform × endpoint. Each check is atomic across every bucket
/// that applies.
#[wasm_bindgen]
pub struct RateLimiter {
    limits: Limits,
    state: KeyedState,
}

#[wasm_bindgen]
impl RateLimiter {
    /// A limiter for the limits document (an object, or its JSON text).
    ///
    /// Throws an `Error` naming the field when the document is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "RateLimitConfig | string")] config: JsValue,
    ) -> Result<RateLimiter, JsError> {
        let config = documents::rate_limit_config(&config)?;
        let limits = Limits::new(&config).map_err(|e| JsError::new(&e.to_string()))?;
        let seed = (js_sys::Math::random() * TWO_POW_53) as u64;
        Ok(RateLimiter {
            limits,
            state: KeyedState::with_seed(seed),
        })
    }

    /// Checks a request for `key` and, when every applying bucket holds its cost, spends it.
    #[wasm_bindgen(js_name = isAllowed, unchecked_return_type = "Decision")]
    pub fn is_allowed(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] options: Option<Object>,
    ) -> Result<JsValue, JsError> {
        let key = string_arg(&key, "key")?;
        let decision = ask_with(options, |request, now| {
            self.state.is_allowed(&self.limits, &key, request, now)
        })?;
        Ok(decision_js(&decision))
    }

    /// Checks and spends as `isAllowed` does, answering only `{ allowed, retryAfter }`: no
    /// report of each bucket, so less work per call.
    #[wasm_bindgen(unchecked_return_type = "Admission")]
    pub fn check(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] options: Option<Object>,
    ) -> Result<JsValue, JsError> {
        let key = string_arg(&key, "key")?;
        let a = ask_with(options, |request, now| {
            self.state.check(&self.limits, &key, request, now)
        })?;
        Ok(admission(a.allowed, ms(a.retry_after)))
    }

    /// Milliseconds until the request would be allowed for `key` (0 if now); spends nothing.
    #[wasm_bindgen(js_name = waitTime)]
    pub fn wait_time(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CheckOptions")] options: Option<Object>,
    ) -> Result<f64, JsError> {
        let key = string_arg(&key, "key")?;
        let wait = ask_with(options, |request, now| {
            self.state.wait_time(&self.limits, &key, request, now)
        })?;
        Ok(ms(wait))
    }

    /// One step of `rateLimited` (the core's `wait_step`): checks the request for `key`,
    /// spending it when allowed, having waited since `started` (the limiter's clock, ms; absent
    /// on the first step) of at most `maxWait` ms. Answers `{ go, wait, now, decision }`: `go`
    /// when allowed, else `wait` ms before asking again, or the refusing `decision` when that
    /// wait would pass `maxWait`.
    #[wasm_bindgen(js_name = waitStep, skip_typescript)]
    pub fn wait_step(
        &mut self,
        key: JsValue,
        options: Option<Object>,
        started: Option<f64>,
        max_wait: f64,
    ) -> Result<JsValue, JsError> {
        let key = string_arg(&key, "key")?;
        let max_wait = if max_wait == f64::INFINITY {
            Duration::MAX
        } else {
            duration_ms(max_wait, "maxWait")?
        };
        let (decision, now) = ask_with(options, |request, now| {
            Ok((
                self.state.is_allowed(&self.limits, &key, request, now)?,
                now,
            ))
        })?;
        let waited = match started {
            Some(started) => now.saturating_sub(duration_ms(started, "started")?),
            None => Duration::ZERO,
        };
        let step = Object::new();
        let set = |name: &str, value: JsValue| Reflect::set(&step, &name.into(), &value);
        let _ = set("now", JsValue::from_f64(ms(now)));
        let _ = match wait_step(&decision, waited, max_wait) {
            WaitStep::Go => set("go", JsValue::TRUE),
            WaitStep::Wait(wait) => set("wait", JsValue::from_f64(ms(wait))),
            WaitStep::GiveUp => set("decision", decision_js(&decision)),
        };
        Ok(step.into())
    }

    /// Forgets every bucket of `key`; returns whether it had any.
    #[wasm_bindgen(js_name = resetLimits)]
    pub fn reset_limits(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> Result<bool, JsError> {
        Ok(self.state.reset(&string_arg(&key, "key")?))
    }

    /// How many keys hold state (a key whose buckets are all full again is dropped).
    #[wasm_bindgen(getter, js_name = activeKeys)]
    pub fn active_keys(&self) -> usize {
        self.state.len()
    }
}

// ---- retry -----------------------------------------------------------------------------------

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

// ---- progress --------------------------------------------------------------------------------

/// The progress of one task, as the server models it: validated updates, sequence numbers,
/// terminal statuses and an ETA from the recent rate of progress.
#[wasm_bindgen]
pub struct ProgressModel {
    model: TaskProgress,
    /// The details of the last update that gave any, as a detached JSON copy: the core's model
    /// only keeps and replaces them, so they stay JavaScript values.
    details: JsValue,
}

#[wasm_bindgen]
impl ProgressModel {
    /// A queued task at 0%, created at `now` (ms; default `Date.now()`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] task_id: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] user_id: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] now: Option<JsValue>,
    ) -> Result<ProgressModel, JsError> {
        let task_id = match task_id {
            Some(id) if !id.is_null() => string_arg(&id, "taskId")?,
            _ => String::new(),
        };
        let user_id = number_arg(user_id, "userId")?;
        let now = number_arg(now, "now")?;
        let now = duration_ms(now.unwrap_or_else(js_sys::Date::now), "now")?;
        let user_id = user_id.unwrap_or(0.0);
        if !is_whole(user_id) {
            return Err(JsError::new("userId must be a whole number"));
        }
        Ok(ProgressModel {
            model: TaskProgress::new(task_id, user_id as i64, now),
            details: Object::new().into(),
        })
    }

    /// Applies an update (the server's update body) at `now` (ms; default `Date.now()`) and
    /// returns the new status. Throws on a percent outside 0–100, after a terminal status, or
    /// going back to queued; the status is then unchanged.
    #[wasm_bindgen(unchecked_return_type = "ProgressStatus")]
    pub fn apply(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "ProgressUpdate")] update: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] now: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let (update, details) = documents::progress_update(&update)?;
        let now = number_arg(now, "now")?;
        let now = duration_ms(now.unwrap_or_else(js_sys::Date::now), "now")?;
        self.model
            .apply(&update, now)
            .map_err(|e| JsError::new(&e.to_string()))?;
        if let Some(details) = details {
            self.details = details;
        }
        Ok(self.status())
    }

    /// The current status.
    #[wasm_bindgen(getter, unchecked_return_type = "ProgressStatus")]
    pub fn status(&self) -> JsValue {
        documents::status_js(self.model.status(), &self.details)
    }

    /// The status in the server's JSON form, which `JSON.stringify(model)` writes: snake_case
    /// keys, `started_at` and `updated_at` as RFC 3339 in UTC with microseconds (the model's
    /// times taken as ms since the Unix epoch, as `Date.now()` gives them), `eta` in seconds.
    #[wasm_bindgen(js_name = toJSON, unchecked_return_type = "ProgressJson")]
    pub fn to_json(&self) -> JsValue {
        documents::status_json(self.model.status(), &self.details)
    }

    /// Milliseconds left as of `now` (default `Date.now()`), or `null` without a rate to go by
    /// (as the status's `eta`).
    #[wasm_bindgen(unchecked_return_type = "number | null")]
    pub fn eta(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] now: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let now = number_arg(now, "now")?;
        let now = duration_ms(now.unwrap_or_else(js_sys::Date::now), "now")?;
        Ok(self
            .model
            .status()
            .eta_at(now)
            .map_or(JsValue::NULL, |eta| JsValue::from_f64(ms(eta))))
    }
}

/// The endpoint a Mastodon or Pixelfed URL calls, as limits name it (`statuses`, `media`,
/// `inbox`, `oauth`), or `undefined`.
#[wasm_bindgen(js_name = extractEndpointFromUrl)]
pub fn extract_endpoint_from_url(
    #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
) -> Result<Option<String>, JsError> {
    Ok(flowgate_core::ratelimit::extract_endpoint_from_url(
        &string_arg(&url, "url")?,
    ))
}
