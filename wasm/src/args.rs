//! Reading JavaScript arguments: numbers, whole numbers, strings, milliseconds.

use alloc::format;
use alloc::string::String;
use core::time::Duration;

use wasm_bindgen::prelude::*;

/// 2^53: JavaScript's whole numbers are exact up to here.
pub(crate) const TWO_POW_53: f64 = 9_007_199_254_740_992.0;

/// Whether `x` is a finite whole number (`f64::fract` is not in `core`).
pub(crate) fn is_whole(x: f64) -> bool {
    x.is_finite() && libm::trunc(x) == x
}

/// Nanoseconds as JavaScript milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// JavaScript milliseconds as a duration; `what` names the value in the error.
///
/// The core counts time in `u64` nanoseconds and keeps each bucket's next conforming time
/// beyond the clock, so the clock stops at 2^63 ns (about 292 years since its epoch): the
/// other half of the range is room for those times, which would otherwise saturate and
/// answer nonsense.
pub(crate) fn duration_ms(value: f64, what: &str) -> Result<Duration, JsError> {
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
pub(crate) fn number_arg(value: Option<JsValue>, what: &str) -> Result<Option<f64>, JsError> {
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
pub(crate) fn string_arg(value: &JsValue, what: &str) -> Result<String, JsError> {
    value.as_string().ok_or_else(|| {
        let given = value.js_typeof().as_string().unwrap_or_default();
        JsError::new(&format!("{what} must be a string, not {given}"))
    })
}

/// An optional string argument (`undefined` and `null` are none), or an error naming it.
pub(crate) fn optional_string_arg(value: JsValue, what: &str) -> Result<Option<String>, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    string_arg(&value, what).map(Some)
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: monotonic milliseconds, in browsers and in Node.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub(crate) fn monotonic_now() -> f64;
}
