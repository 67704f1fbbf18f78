//! The retry policy: how many attempts, how long between them, and which failures to retry.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use rand::RngCore;

use super::Error;
use super::failure::{Failure, FailureKind};
use crate::FieldError;

/// The retry policy, with the reference API's fields and defaults.
///
/// Its JSON form (times in seconds) is what the server's `GET/PUT /api/v1/retry/config` and
/// the npm package take; every field may be left out:
///
/// ```json
/// {"max_attempts": 3, "base_delay": 1.0, "max_delay": 30.0, "backoff_factor": 2.0,
///  "jitter": true, "jitter_factor": 0.1, "retry_status_codes": [429, 503]}
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RetryConfig {
    /// Calls in all, the first included. Default 3.
    pub max_attempts: u32,
    /// Seconds before the first retry. Default 1.0.
    pub base_delay: f64,
    /// The most seconds ever waited between two attempts, jitter and `Retry-After` included.
    /// Default 30.0.
    pub max_delay: f64,
    /// Each retry waits this many times longer than the one before. Default 2.0.
    pub backoff_factor: f64,
    /// Spread each delay by up to ±`jitter_factor` of itself, so that clients that failed
    /// together do not retry together. Default true.
    pub jitter: bool,
    /// The spread of jitter, as a fraction (0.1 = ±10%). Default 0.1.
    pub jitter_factor: f64,
    /// Retry timeouts (and, unless `retry_status_codes` is given, status 408). Default true.
    pub retry_on_timeout: bool,
    /// Retry connection failures. Default true.
    pub retry_on_connection_error: bool,
    /// Retry 500, 502, 503 and 504, unless `retry_status_codes` is given. Default true.
    pub retry_on_server_error: bool,
    /// Retry 429, unless `retry_status_codes` is given. Default true.
    pub retry_on_rate_limit: bool,
    /// The status codes to retry, replacing the four flags' codes; an empty list retries no
    /// status.
    pub retry_status_codes: Option<Vec<u16>>,
    /// Retry an `other` failure whose message contains one of these, ignoring case.
    pub retry_on_specific_errors: Option<Vec<String>>,
    /// The failure kinds that may be retried at all (the Rust form of the reference API's list
    /// of exception types); the rules above then decide within them. `None`: every kind.
    pub retry_exceptions: Option<Vec<FailureKind>>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base_delay: 1.0,
            max_delay: 30.0,
            backoff_factor: 2.0,
            jitter: true,
            jitter_factor: 0.1,
            retry_on_timeout: true,
            retry_on_connection_error: true,
            retry_on_server_error: true,
            retry_on_rate_limit: true,
            retry_status_codes: None,
            retry_on_specific_errors: None,
            retry_exceptions: None,
        }
    }
}

/// The longest delay a policy may name: one day. Longer waits are not retries any more.
pub const MAX_DELAY_LIMIT: f64 = 86_400.0;

/// The most attempts a policy may make. A schedule is materialised in places (the delays a
/// policy lists, a report's `delays`), so a policy of four billion attempts would be four
/// billion numbers; a thousand attempts of up to a day each is already years of retrying.
pub const MAX_ATTEMPTS_LIMIT: u32 = 1_000;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Give up.
    Stop(StopReason),
}

/// Why retrying stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The policy does not retry this failure.
    NotRetryable,
    /// `max_attempts` calls were made.
    AttemptsExhausted,
    /// The server's `Retry-After` asks for a longer wait than `max_delay`.
    RetryAfterTooLong {
        /// The wait the server asked for.
        retry_after: Duration,
    },
}

impl core::fmt::Display for StopReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StopReason::NotRetryable => f.write_str("the failure is not retryable"),
            StopReason::AttemptsExhausted => f.write_str("no attempts left"),
            StopReason::RetryAfterTooLong { retry_after } => write!(
                f,
                "the server asked to wait {} ms, longer than max_delay",
                // In u64: formatting a u128 (`as_millis`) pulls more code into the npm package.
                crate::time::nanos(*retry_after) / 1_000_000
            ),
        }
    }
}

impl RetryConfig {
    /// Every problem in the policy, or `Ok`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] listing each offending field: `max_attempts` of 0 or above
    /// [`MAX_ATTEMPTS_LIMIT`]; a delay or
    /// factor that is NaN, infinite, negative or above a day; a `backoff_factor` below 1; a
    /// `jitter_factor` outside 0..=1; a status code outside 100..=599; an empty error
    /// substring.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if self.max_attempts == 0 {
            errors.push(FieldError::new(
                "/max_attempts",
                "must be at least 1 (the first call counts)",
            ));
        } else if self.max_attempts > MAX_ATTEMPTS_LIMIT {
            errors.push(FieldError::new(
                "/max_attempts",
                format!("must be at most {MAX_ATTEMPTS_LIMIT}"),
            ));
        }
        for (field, value) in [
            ("base_delay", self.base_delay),
            ("max_delay", self.max_delay),
        ] {
            if !value.is_finite() || value < 0.0 {
                errors.push(FieldError::new(
                    format!("/{field}"),
                    "must be a finite number of seconds, 0 or more",
                ));
            } else if value > MAX_DELAY_LIMIT {
                errors.push(FieldError::new(
                    format!("/{field}"),
                    "must be at most 86400 seconds (a day)",
                ));
            }
        }
        if !self.backoff_factor.is_finite() || self.backoff_factor < 1.0 {
            errors.push(FieldError::new(
                "/backoff_factor",
                "must be a finite number, 1 or more",
            ));
        }
        if !self.jitter_factor.is_finite() || !(0.0..=1.0).contains(&self.jitter_factor) {
            errors.push(FieldError::new("/jitter_factor", "must be between 0 and 1"));
        }
        for (i, &code) in self.retry_status_codes.iter().flatten().enumerate() {
            if !(100..=599).contains(&code) {
                errors.push(FieldError::new(
                    format!("/retry_status_codes/{i}"),
                    "must be an HTTP status code (100 to 599)",
                ));
            }
        }
        for (i, s) in self.retry_on_specific_errors.iter().flatten().enumerate() {
            if s.is_empty() {
                errors.push(FieldError::new(
                    format!("/retry_on_specific_errors/{i}"),
                    "must not be empty (it would match every message)",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidConfig(errors))
        }
    }

    /// Seconds before retry `retry` (1 for the first retry) without jitter:
    /// `min(max_delay, base_delay · backoff_factor^(retry − 1))`.
    #[must_use]
    pub fn base_delay_for(&self, retry: u32) -> f64 {
        let exponent = f64::from(retry.saturating_sub(1));
        let delay = self.base_delay * libm::pow(self.backoff_factor, exponent);
        // An overflow to infinity (or 0 · ∞) is simply "longer than the cap".
        if delay.is_nan() || delay > self.max_delay {
            self.max_delay
        } else {
            delay
        }
    }

    /// Seconds before retry `retry` (1 for the first): [`base_delay_for`](Self::base_delay_for),
    /// then with jitter `d · (1 + U[−jitter_factor, +jitter_factor])`, clamped to
    /// `[0, max_delay]`.
    ///
    /// Jitter draws exactly one `u64` from `rng` (when `jitter` is on), so a seeded RNG gives
    /// the same schedule on every target.
    pub fn delay_for<R: RngCore + ?Sized>(&self, retry: u32, rng: &mut R) -> f64 {
        let delay = self.base_delay_for(retry);
        if !self.jitter {
            return delay;
        }
        let spread = (2.0 * unit_f64(rng) - 1.0) * self.jitter_factor;
        let jittered = delay * (1.0 + spread);
        if jittered.is_nan() {
            delay
        } else {
            jittered.clamp(0.0, self.max_delay.max(0.0))
        }
    }

    /// The delays before each retry, `max_attempts − 1` of them, as [`Duration`]s.
    ///
    /// ```
    /// use flowgate_core::retry::RetryConfig;
    /// # use core::time::Duration;
    /// use rand::SeedableRng;
    ///
    /// let policy = RetryConfig { max_attempts: 5, jitter: false, ..RetryConfig::default() };
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    /// let delays: Vec<Duration> = policy.schedule(&mut rng).collect();
    /// assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs));
    /// ```
    pub fn schedule<'a, R: RngCore + ?Sized>(&'a self, rng: &'a mut R) -> Schedule<'a, R> {
        Schedule {
            config: self,
            rng,
            retry: 0,
        }
    }

    /// Whether the policy retries `failure` at all (attempts and `Retry-After` aside).
    ///
    /// An `other` failure is retried when its message contains one of
    /// `retry_on_specific_errors`, compared in lowercase (Unicode's full lowercase mapping).
    #[must_use]
    pub fn should_retry(&self, failure: &Failure<'_>) -> bool {
        self.should_retry_matching(failure, contains_ignore_case)
    }

    /// [`should_retry`](Self::should_retry) with the host's own message matching:
    /// `contains(message, pattern)` must say whether `message` contains `pattern`, case
    /// aside. For hosts with a case mapping of their own: the npm package asks JavaScript's
    /// `toLowerCase`, and so carries no Unicode tables.
    #[must_use]
    pub fn should_retry_matching(
        &self,
        failure: &Failure<'_>,
        contains: impl Fn(&str, &str) -> bool,
    ) -> bool {
        if let Some(kinds) = &self.retry_exceptions
            && !kinds.contains(&failure.kind())
        {
            return false;
        }
        match *failure {
            Failure::Timeout => self.retry_on_timeout,
            Failure::Connection => self.retry_on_connection_error,
            Failure::Status { code, .. } => self.retries_status(code),
            Failure::Other { message } => self
                .retry_on_specific_errors
                .iter()
                .flatten()
                .any(|pattern| contains(message, pattern)),
        }
    }

    /// Whether the status `code` is retried.
    #[must_use]
    pub fn retries_status(&self, code: u16) -> bool {
        match &self.retry_status_codes {
            Some(codes) => codes.contains(&code),
            None => match code {
                408 => self.retry_on_timeout,
                429 => self.retry_on_rate_limit,
                500 | 502 | 503 | 504 => self.retry_on_server_error,
                _ => false,
            },
        }
    }

    /// What to do after the `attempts`-th call (1 for the first) failed with `failure`.
    ///
    /// A `Retry-After` on 429 or 503 makes the wait `max(backoff, retry_after)`; one longer
    /// than `max_delay` stops retrying at once.
    pub fn next_step<R: RngCore + ?Sized>(
        &self,
        attempts: u32,
        failure: &Failure<'_>,
        rng: &mut R,
    ) -> Step {
        self.next_step_matching(attempts, failure, rng, contains_ignore_case)
    }

    /// [`next_step`](Self::next_step) with the host's own message matching, as
    /// [`should_retry_matching`](Self::should_retry_matching) takes it.
    pub fn next_step_matching<R: RngCore + ?Sized>(
        &self,
        attempts: u32,
        failure: &Failure<'_>,
        rng: &mut R,
        contains: impl Fn(&str, &str) -> bool,
    ) -> Step {
        if !self.should_retry_matching(failure, contains) {
            return Step::Stop(StopReason::NotRetryable);
        }
        if attempts >= self.max_attempts {
            return Step::Stop(StopReason::AttemptsExhausted);
        }
        let server_wait = match *failure {
            Failure::Status {
                code: 429 | 503,
                retry_after: Some(wait),
            } => Some(wait),
            _ => None,
        };
        if let Some(wait) = server_wait
            && crate::time::secs_f64(wait) > self.max_delay
        {
            return Step::Stop(StopReason::RetryAfterTooLong { retry_after: wait });
        }
        let backoff = seconds(self.delay_for(attempts, rng));
        Step::Retry(server_wait.map_or(backoff, |wait| wait.max(backoff)))
    }
}

/// Seconds (finite, non-negative by validation) as a `Duration`, saturating otherwise.
pub(crate) fn seconds(secs: f64) -> Duration {
    crate::duration_from_secs_f64(secs).unwrap_or(if secs > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of one `u64`: the same on every target.
fn unit_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if needle.is_ascii() && haystack.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// The delays before each retry of a policy; see [`RetryConfig::schedule`].
#[derive(Debug)]
pub struct Schedule<'a, R: ?Sized> {
    config: &'a RetryConfig,
    rng: &'a mut R,
    retry: u32,
}

impl<R: RngCore + ?Sized> Iterator for Schedule<'_, R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.retry + 1 >= self.config.max_attempts {
            return None;
        }
        self.retry += 1;
        Some(seconds(self.config.delay_for(self.retry, self.rng)))
    }
}
