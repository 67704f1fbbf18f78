//! The documents the package takes (configurations, failures, options, progress updates) and
//! the answers it builds (statistics, progress), with JavaScript doing the JavaScript part.
//!
//! `documents.js` parses JSON text and checks each document's shape against a schema, naming
//! the field of any error by its JSON pointer; this side then reads fields it knows to be
//! absent or of their type, and the core judges everything beyond the shape, as it does on the
//! server. Reading and writing them here instead, through serde, was the largest part of the
//! package's WebAssembly (a deserializer per document type, a JSON parser and the float
//! formatting of its error messages; BENCHMARKS.md, "The npm package").

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use flowgate_core::progress::{ProgressStatus, ProgressUpdate, TaskStatus};
use flowgate_core::ratelimit::{RateLimitConfig, ScopeLimits, ScopeMode};
use flowgate_core::retry::{FailureKind, OperationStats, RetryConfig, RetrySummary};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::args::ms;

#[wasm_bindgen(module = "/src/documents.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn read_document(value: &JsValue, what: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    fn json_copy(value: &JsValue, what: &str) -> Result<JsValue, JsValue>;
    fn operation_stats(counts: &[f64], by_status: &[f64], by_kind: &[f64]) -> JsValue;
    fn retry_detailed(names: Array, stats: Array) -> JsValue;
    fn retry_summary(
        operations: f64,
        totals: JsValue,
        success_rate: f64,
        average_attempts: f64,
    ) -> JsValue;
    #[allow(clippy::too_many_arguments)]
    fn progress_status(
        task_id: &str,
        user_id: f64,
        current_step: &str,
        progress_percent: u8,
        details: &JsValue,
        status: &str,
        seq: f64,
        started_at: Option<f64>,
        updated_at: f64,
        eta: Option<f64>,
    ) -> JsValue;

    fn progress_json(
        status: &JsValue,
        started_at: Option<String>,
        updated_at: String,
        eta: Option<f64>,
    ) -> JsValue;
}

/// A thrown JavaScript error as a `JsError` with its message.
pub(crate) fn js_error(thrown: &JsValue) -> JsError {
    match thrown.dyn_ref::<js_sys::Error>() {
        Some(e) => JsError::new(&String::from(e.message())),
        None => JsError::new(&thrown.as_string().unwrap_or_default()),
    }
}

/// A document whose shape `documents.js` checked: each field is missing, `null` where the
/// schema allows it, or of its type.
pub(crate) struct Doc(JsValue);

impl Doc {
    /// Reads `value` (an object, its JSON text, or nothing) as the document `what` names in
    /// `documents.js`.
    pub(crate) fn read(value: &JsValue, what: &str) -> Result<Doc, JsError> {
        read_document(value, what)
            .map(Doc)
            .map_err(|e| js_error(&e))
    }

    /// The field `name`, unless missing or `null`.
    pub(crate) fn get(&self, name: &str) -> Option<JsValue> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.as_f64())
    }

    /// A whole number field; the schema bounds it to the type asked for.
    fn whole<T: TryFrom<i64>>(&self, name: &str) -> Option<T> {
        self.number(name).and_then(|n| T::try_from(n as i64).ok())
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(|v| v.as_bool())
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.as_string())
    }

    fn list(&self, name: &str) -> Option<Array> {
        self.get(name).map(|v| Array::from(&v))
    }

    /// The entries of an object field, in the object's order; none when it is missing.
    fn entries(&self, name: &str) -> Vec<(String, Doc)> {
        self.get(name)
            .map(|o| Doc(o).own_entries())
            .unwrap_or_default()
    }

    /// The entries of this document itself, in its order.
    fn own_entries(&self) -> Vec<(String, Doc)> {
        items(&Object::entries(self.0.unchecked_ref()), |entry| {
            let entry = Array::from(&entry);
            Some((entry.get(0).as_string()?, Doc(entry.get(1))))
        })
    }
}

/// The limits document.
pub(crate) fn rate_limit_config(value: &JsValue) -> Result<RateLimitConfig, JsError> {
    let doc = Doc::read(value, "rate-limit config")?;
    // Maps are filled by `insert`: `collect` would add a sort and a bulk build per map type.
    let scopes = |entries: Vec<(String, Doc)>| {
        let mut scopes = BTreeMap::new();
        for (name, limits) in entries {
            let limits = ScopeLimits {
                minute: limits.whole("minute"),
                hour: limits.whole("hour"),
                day: limits.whole("day"),
                burst: limits.whole("burst"),
                // documents.js admitted only the modes there are.
                mode: limits
                    .string("mode")
                    .and_then(|m| ScopeMode::parse(&m))
                    .unwrap_or_default(),
            };
            scopes.insert(name, limits);
        }
        scopes
    };
    let mut platform_endpoint_limits = BTreeMap::new();
    for (platform, endpoints) in doc.entries("platform_endpoint_limits") {
        platform_endpoint_limits.insert(platform, scopes(endpoints.own_entries()));
    }
    let defaults = RateLimitConfig::default();
    Ok(RateLimitConfig {
        requests_per_minute: doc
            .whole("requests_per_minute")
            .unwrap_or(defaults.requests_per_minute),
        requests_per_hour: doc
            .whole("requests_per_hour")
            .unwrap_or(defaults.requests_per_hour),
        requests_per_day: doc
            .whole("requests_per_day")
            .unwrap_or(defaults.requests_per_day),
        max_burst: doc.whole("max_burst").unwrap_or(defaults.max_burst),
        endpoint_limits: scopes(doc.entries("endpoint_limits")),
        platform_limits: scopes(doc.entries("platform_limits")),
        platform_endpoint_limits,
    })
}

/// The retry policy document, validated by the core.
pub(crate) fn retry_config(value: &JsValue) -> Result<RetryConfig, JsError> {
    let doc = Doc::read(value, "retry config")?;
    let d = RetryConfig::default();
    let config = RetryConfig {
        max_attempts: doc.whole("max_attempts").unwrap_or(d.max_attempts),
        base_delay: doc.number("base_delay").unwrap_or(d.base_delay),
        max_delay: doc.number("max_delay").unwrap_or(d.max_delay),
        backoff_factor: doc.number("backoff_factor").unwrap_or(d.backoff_factor),
        jitter: doc.bool("jitter").unwrap_or(d.jitter),
        jitter_factor: doc.number("jitter_factor").unwrap_or(d.jitter_factor),
        retry_on_timeout: doc.bool("retry_on_timeout").unwrap_or(d.retry_on_timeout),
        retry_on_connection_error: doc
            .bool("retry_on_connection_error")
            .unwrap_or(d.retry_on_connection_error),
        retry_on_server_error: doc
            .bool("retry_on_server_error")
            .unwrap_or(d.retry_on_server_error),
        retry_on_rate_limit: doc
            .bool("retry_on_rate_limit")
            .unwrap_or(d.retry_on_rate_limit),
        retry_status_codes: doc
            .list("retry_status_codes")
            .map(|codes| items(&codes, |c| c.as_f64().map(|c| c as u16))),
        retry_on_specific_errors: doc
            .list("retry_on_specific_errors")
            .map(|messages| items(&messages, |m| m.as_string())),
        retry_exceptions: doc
            .list("retry_exceptions")
            .map(|kinds| items(&kinds, |k| FailureKind::parse(&k.as_string()?))),
    };
    config
        .validate()
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(config)
}

/// The items of a checked array, each read by `read`. A loop, not `collect`: every
/// collected iterator type is compiled apart, which weighs in the package.
fn items<T>(array: &Array, read: impl Fn(JsValue) -> Option<T>) -> Vec<T> {
    let mut items = Vec::new();
    for item in array.iter() {
        if let Some(item) = read(item) {
            items.push(item);
        }
    }
    items
}

/// A progress update, with its details (when given) as a detached JSON copy kept on the
/// JavaScript side: the core's model replaces details and never reads them.
pub(crate) fn progress_update(
    value: &JsValue,
) -> Result<(ProgressUpdate, Option<JsValue>), JsError> {
    let doc = Doc::read(value, "progress update")?;
    let details = doc
        .get("details")
        .map(|d| json_copy(&d, "progress update").map_err(|e| js_error(&e)))
        .transpose()?;
    let update = ProgressUpdate {
        current_step: doc.string("current_step").unwrap_or_default(),
        progress_percent: doc.whole("progress_percent").unwrap_or_default(),
        details: None,
        status: doc.string("status").as_deref().and_then(TaskStatus::parse),
    };
    Ok((update, details))
}

#[allow(clippy::cast_precision_loss)]
fn stats_js(s: &OperationStats) -> JsValue {
    let counts = [
        s.calls as f64,
        s.attempts as f64,
        s.retries as f64,
        s.successes as f64,
        s.failures as f64,
        s.exhausted as f64,
        s.total_delay,
        s.max_delay,
    ];
    let mut by_status = Vec::new();
    for (&code, &n) in &s.by_status {
        by_status.extend_from_slice(&[f64::from(code), n as f64]);
    }
    let mut by_kind = Vec::new();
    for (&kind, &n) in &s.by_kind {
        let index = FailureKind::ALL
            .iter()
            .position(|&k| k == kind)
            .unwrap_or(0);
        by_kind.extend_from_slice(&[index as f64, n as f64]);
    }
    operation_stats(&counts, &by_status, &by_kind)
}

/// The statistics summary as the server's `GET /api/v1/retry/stats` has it.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn summary_js(s: &RetrySummary) -> JsValue {
    retry_summary(
        s.operations as f64,
        stats_js(&s.totals),
        s.success_rate,
        s.average_attempts,
    )
}

/// The statistics of each operation, by name.
pub(crate) fn detailed_js(operations: &BTreeMap<String, OperationStats>) -> JsValue {
    let (names, stats) = (Array::new(), Array::new());
    for (name, operation) in operations {
        names.push(&JsValue::from_str(name));
        stats.push(&stats_js(operation));
    }
    retry_detailed(names, stats)
}

/// A task's status, with the details kept on the JavaScript side.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn status_js(s: &ProgressStatus, details: &JsValue) -> JsValue {
    progress_status(
        &s.task_id,
        s.user_id as f64,
        &s.current_step,
        s.progress_percent,
        details,
        s.status.as_str(),
        s.seq as f64,
        s.started_at.map(ms),
        ms(s.updated_at),
        s.eta.map(ms),
    )
}

/// A task's status in the server's JSON form (the core's serde form of `ProgressStatus`): times
/// since the Unix epoch as RFC 3339 in UTC with microseconds, `eta` in seconds.
pub(crate) fn status_json(s: &ProgressStatus, details: &JsValue) -> JsValue {
    let time = |d: Duration| flowgate_core::Rfc3339(d).to_string();
    progress_json(
        &status_js(s, details),
        s.started_at.map(time),
        time(s.updated_at),
        s.eta.map(|d| d.as_secs_f64()),
    )
}

/// The policy as its JSON document.
pub(crate) fn retry_config_js(c: &RetryConfig) -> JsValue {
    let doc = Object::new();
    let set = |name: &str, value: JsValue| {
        let _ = Reflect::set(&doc, &JsValue::from_str(name), &value);
    };
    // `null` when the policy leaves the list out, else the items as `item` turns them out.
    fn list<T>(items: Option<&Vec<T>>, item: impl Fn(&T) -> JsValue) -> JsValue {
        items.map_or(JsValue::NULL, |items| {
            let array = Array::new();
            for i in items {
                array.push(&item(i));
            }
            array.into()
        })
    }
    set("max_attempts", c.max_attempts.into());
    set("base_delay", c.base_delay.into());
    set("max_delay", c.max_delay.into());
    set("backoff_factor", c.backoff_factor.into());
    set("jitter", c.jitter.into());
    set("jitter_factor", c.jitter_factor.into());
    set("retry_on_timeout", c.retry_on_timeout.into());
    set(
        "retry_on_connection_error",
        c.retry_on_connection_error.into(),
    );
    set("retry_on_server_error", c.retry_on_server_error.into());
    set("retry_on_rate_limit", c.retry_on_rate_limit.into());
    set(
        "retry_status_codes",
        list(c.retry_status_codes.as_ref(), |&c| c.into()),
    );
    set(
        "retry_on_specific_errors",
        list(c.retry_on_specific_errors.as_ref(), |m| {
            JsValue::from_str(m)
        }),
    );
    set(
        "retry_exceptions",
        list(c.retry_exceptions.as_ref(), |k| {
            JsValue::from_str(k.as_str())
        }),
    );
    doc.into()
}
