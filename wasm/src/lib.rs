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

use alloc::string::String;

use wasm_bindgen::prelude::*;

mod args;
mod chacha;
mod documents;
mod limiter;
mod progress;
mod retry;

use args::string_arg;
pub use limiter::RateLimiter;
pub use progress::ProgressModel;
pub use retry::{
    RetryPolicy, RetryRun, rate_limited_js, reset_retry_stats, retry_js, retry_stats_detailed,
    retry_stats_summary,
};

/// Talc instead of the standard library's dlmalloc: smaller in the package, and faster
/// (BENCHMARKS.md, "The npm package").
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// A panic traps. Every error the API can meet is returned as a JavaScript `Error`; a panic
/// would be a bug, and the standard library's handler formats a message nobody reads here.
#[cfg(target_family = "wasm")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** The limits of one endpoint, platform or platform × endpoint: any of the three windows, a burst capping the shortest, and whether they replace the global windows they name (`override`) or apply with them (`all`, the default). */
export interface ScopeLimits { minute?: number; hour?: number; day?: number; burst?: number; mode?: ScopeMode }
export type ScopeMode = "all" | "override";
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
