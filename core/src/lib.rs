//! # flowgate-core
//!
//! The flow-control kit of a fediverse caption bot, made reusable: **retry with exponential
//! backoff and jitter**, a **multi-window token-bucket (GCRA) rate limiter**, **task progress
//! tracking** and **platform context**. The crate is `no_std` with `alloc`; it never reads a
//! clock, an environment variable or a random source itself: time comes in as a
//! [`Duration`](core::time::Duration) since an arbitrary monotonic epoch, randomness as an RNG
//! the caller passes. The same inputs therefore give the same decisions natively, in the
//! browser and in Node.
//!
//! ```
//! use core::time::Duration;
//! use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter, Request};
//!
//! let config: RateLimitConfig = RateLimitConfig {
//!     requests_per_minute: 30,
//!     max_burst: 2,
//!     ..RateLimitConfig::default()
//! };
//! let limiter = RateLimiter::new(&config)?;
//! let now = Duration::ZERO;
//! assert!(limiter.is_allowed("user_123", &Request::default(), now)?.allowed);
//! assert!(limiter.is_allowed("user_123", &Request::default(), now)?.allowed);
//! // The burst of two is spent; 30 per minute refills one token every two seconds.
//! let denied = limiter.is_allowed("user_123", &Request::default(), now)?;
//! assert!(!denied.allowed);
//! assert_eq!(denied.retry_after, Duration::from_secs(2));
//! assert!(limiter.is_allowed("user_123", &Request::default(), now + denied.retry_after)?.allowed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//! - `std` (default): the thread-safe sharded [`ratelimit::RateLimiter`], the thread-safe
//!   [`retry::SharedRetryStats`], [`ratelimit::RateLimitConfig::from_env`] and
//!   `std::error::Error` for every error type. Without it the caller owns a
//!   [`ratelimit::Limiter`] (the limits and every key's buckets) and calls it by `&mut`.
//! - `serde`: `Serialize`/`Deserialize` for configurations, statuses and statistics, in the
//!   snake_case JSON form the server and the npm package take.
// Under `openapi` (a server's feature, which needs std anyway) the std prelude is in scope:
// utoipa's derives write unqualified `Vec`, `String` and `vec!`.
#![cfg_attr(not(feature = "openapi"), no_std)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(all(feature = "std", not(feature = "openapi")))]
extern crate std;

#[cfg(feature = "serde")]
pub mod api;
pub mod context;
#[cfg(feature = "serde")]
pub mod document;
pub mod progress;
pub mod ratelimit;
pub mod retry;

mod field;
mod time;
pub use field::{FieldError, check_name, pointer_token};
pub use time::{Rfc3339, duration_from_secs_f64, nanos};

/// Runs a future whose sleeps complete at once to the end (the tests' executor).
#[cfg(test)]
fn block_on<F: core::future::Future>(f: F) -> F::Output {
    let mut f = core::pin::pin!(f);
    let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
    loop {
        if let core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
