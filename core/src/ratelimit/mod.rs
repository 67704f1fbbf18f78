//! A multi-window token-bucket rate limiter: per minute, hour and day, with bursts, and
//! per-endpoint, per-platform and per-platform-endpoint limits on top of the global ones.
//!
//! Every bucket is GCRA state (a theoretical arrival time) in integer nanoseconds, so waits
//! are exact and every target computes the same decisions.
//!
//! - [`RateLimitConfig`] is the document an operator writes; [`Limits`] is it compiled.
//! - [`Limiter`] holds the limits and every key's buckets under them, and needs no `std`: the
//!   caller owns it and calls it by `&mut`.
//! - [`RateLimiter`] (with `std`) shards limiters behind locks for many threads.
//! - A check answers with a [`Decision`]: allowed or not, the binding bucket, and every
//!   applying bucket's [`BucketStatus`]. A denial is a value, not an error; errors are for
//!   requests that could never pass.
//!
//! Which buckets apply to a request `(key, endpoint?, platform?, cost)`: the global ones
//! always; the platform's, the endpoint's and the platform × endpoint's when configured. A
//! bucket for `L` per window `W` refills at `L / W` and holds `L`, except each scope's shortest
//! window, which holds `min(L, burst)`.

mod config;
mod decision;
mod endpoint;
mod gcra;
mod key;
#[cfg(feature = "std")]
mod limiter;
mod limits;
mod remote;
mod state;
mod wait;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use crate::field::FieldError;
pub use config::{RateLimitConfig, ScopeLimits, ScopeMode, Window};
pub use decision::{Admission, BucketStatus, Decision};
pub use endpoint::extract_endpoint_from_url;
pub use key::{HashedKey, LimiterKey};
#[cfg(feature = "std")]
pub use limiter::RateLimiter;
pub use limits::{Limits, MAX_KEY_LEN, MAX_NAME_LEN, Quota, Request, Scope};
pub use remote::{RemoteBucket, RemotePlan};
pub use state::Limiter;
pub use wait::{WaitError, WaitStep, rate_limited, wait_step};

/// The most buckets one request can meet: four scopes of three windows.
pub const MAX_BUCKETS: usize = 12;

/// What can go wrong building or asking a limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The configuration has these problems; nothing was built or changed.
    InvalidConfig(Vec<FieldError>),
    /// An environment variable read by [`RateLimitConfig::from_env`] is malformed.
    Env {
        /// The variable's name.
        variable: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A request of cost 0 says nothing and spends nothing; it is refused rather than answered.
    ZeroCost,
    /// The request is for a key the limiter has no room for: it holds its maximum of live keys
    /// (every one still limiting). The request may be sent again later.
    TooManyKeys {
        /// The most keys held at once.
        max: usize,
    },
    /// The cost is more than a bucket can ever hold, so the request could never pass.
    CostExceedsCapacity {
        /// The request's cost.
        cost: u32,
        /// The smallest capacity among the applying buckets.
        capacity: u32,
        /// That bucket's scope.
        scope: Scope,
        /// That bucket's window.
        window: Window,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(errors) => {
                crate::field::write_errors(f, "invalid rate-limit configuration", errors)
            }
            Error::Env { variable, detail } => write!(f, "{variable}: {detail}"),
            Error::ZeroCost => f.write_str("cost must be at least 1"),
            Error::TooManyKeys { max } => write!(
                f,
                "the limiter holds its maximum of {max} live keys, all still limiting; a new \
                 key waits until one refills"
            ),
            Error::CostExceedsCapacity {
                cost,
                capacity,
                scope,
                window,
            } => write!(
                f,
                "cost {cost} can never pass: the {scope} {window} bucket holds at most {capacity}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
