//! Retry with exponential backoff and jitter.
//!
//! - [`RetryConfig`] is the policy (the reference API's fields and defaults). Its delay
//!   schedule is pure: [`RetryConfig::delay_for`], [`RetryConfig::schedule`].
//! - [`Failure`] says what went wrong with an attempt; [`RetryConfig::next_step`] decides
//!   whether and when to try again, honouring `Retry-After` ([`parse_retry_after`]).
//! - [`retry`] is the async loop, generic over the sleep function; it gives up with
//!   [`RetryExhausted`].
//! - [`RetryStats`] sums [`RetryReport`]s per operation.
//!
//! The delay before retry `n` (1 for the first) is
//! `d = min(max_delay, base_delay · backoff_factor^(n−1))`, and with jitter
//! `d · (1 + U[−jitter_factor, +jitter_factor])` clamped to `[0, max_delay]`: `max_delay` is a
//! true cap. Float math goes through `libm`, so every target computes the same delays.

mod after;
mod config;
mod driver;
mod failure;
mod stats;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use after::parse_retry_after;
pub use config::{MAX_ATTEMPTS_LIMIT, MAX_DELAY_LIMIT, RetryConfig, Schedule, Step, StopReason};
pub use driver::{RetryExhausted, RetrySink, retry, retry_recorded, retry_reported};
pub use failure::{Classify, Failure, FailureKind};
pub use stats::{
    FailureRecord, MAX_OPERATION_LEN, OperationStats, Outcome, RetryReport, RetryStats,
    RetrySummary,
};
#[cfg(feature = "std")]
pub use stats::{SharedRetryStats, global_retry_stats};

use crate::FieldError;

/// What can go wrong with retry policies, reports and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The policy has these problems.
    InvalidConfig(Vec<FieldError>),
    /// The report has these problems; nothing was recorded.
    InvalidReport(Vec<FieldError>),
    /// A `Retry-After` value that is neither delta-seconds nor an HTTP-date.
    InvalidRetryAfter {
        /// The value as received.
        value: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, errors) = match self {
            Error::InvalidConfig(errors) => ("invalid retry policy", errors),
            Error::InvalidReport(errors) => ("invalid retry report", errors),
            Error::InvalidRetryAfter { value, detail } => {
                return write!(f, "invalid Retry-After {value:?}: {detail}");
            }
        };
        crate::field::write_errors(f, what, errors)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
