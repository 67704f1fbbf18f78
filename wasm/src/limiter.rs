//! `RateLimiter`: the core's limiter with its keyed state, checks and their options.

use alloc::format;
use alloc::string::{String, ToString};
use core::time::Duration;

use js_sys::{Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::args::*;
use crate::documents;
use flowgate_core::ratelimit::{Decision, Limiter, Request, WaitStep, wait_step};

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
    limiter: Limiter,
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
        let seed = (js_sys::Math::random() * TWO_POW_53) as u64;
        let limiter = Limiter::new(&config, seed).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(RateLimiter { limiter })
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
            self.limiter.is_allowed(&key, request, now)
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
            self.limiter.check(&key, request, now)
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
            self.limiter.wait_time(&key, request, now)
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
            Ok((self.limiter.is_allowed(&key, request, now)?, now))
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
        Ok(self.limiter.reset(&string_arg(&key, "key")?))
    }

    /// How many keys hold state (a key whose buckets are all full again is dropped).
    #[wasm_bindgen(getter, js_name = activeKeys)]
    pub fn active_keys(&self) -> usize {
        self.limiter.len()
    }
}
