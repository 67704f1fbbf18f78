//! The async retry loop, generic over how to sleep (tokio on a server, timers in a browser).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::time::Duration;

use rand::RngCore;

use super::config::{RetryConfig, Step, StopReason};
use super::failure::Classify;
use super::stats::{FailureRecord, Outcome, RetryReport};

/// Retrying gave up: after how many calls, with which error, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryExhausted<E> {
    /// Calls made, the first included.
    pub attempts: u32,
    /// The last call's error.
    pub last_error: E,
    /// Why there was no further attempt.
    pub reason: StopReason,
}

impl<E: fmt::Display> fmt::Display for RetryExhausted<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up after {} attempt{} ({}): {}",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.reason,
            self.last_error
        )
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug + fmt::Display> std::error::Error for RetryExhausted<E> {}

/// Calls `op` until it succeeds or the policy gives up, sleeping between attempts with
/// `sleep`. `op` receives the attempt number (1 for the first call).
///
/// ```
/// use core::time::Duration;
/// use flowgate_core::retry::{retry, Classify, Failure, RetryConfig};
/// use rand::SeedableRng;
///
/// struct Http(u16);
/// impl Classify for Http {
///     fn classify(&self) -> Failure<'_> { Failure::status(self.0) }
/// }
///
/// let policy = RetryConfig { max_attempts: 5, ..RetryConfig::default() };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut slept = Vec::new();
/// let result = futures_lite_block_on(retry(&policy, &mut rng, |d| { slept.push(d); async {} }, |attempt| async move {
///     if attempt < 3 { Err(Http(503)) } else { Ok("caption") }
/// }));
/// assert_eq!(result.ok(), Some("caption"));
/// assert_eq!(slept.len(), 2);
/// # fn futures_lite_block_on<F: core::future::Future>(f: F) -> F::Output {
/// #     let mut f = core::pin::pin!(f);
/// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
/// #     loop { if let core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
///
/// # Errors
/// [`RetryExhausted`] with the last error when a failure is not retryable, the attempts are
/// used up, or the server's `Retry-After` is longer than `max_delay`.
pub async fn retry<T, E, Op, Fut, Sleep, SleepFut, R>(
    config: &RetryConfig,
    rng: &mut R,
    sleep: Sleep,
    op: Op,
) -> Result<T, RetryExhausted<E>>
where
    Op: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Classify,
    Sleep: FnMut(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
    R: RngCore + ?Sized,
{
    retry_reported("", config, rng, sleep, op).await.0
}

/// Where [`retry_recorded`] counts each call: [`RetryStats`](super::RetryStats) behind a
/// `RefCell` for one thread, [`SharedRetryStats`](super::SharedRetryStats) for many (with
/// `std`; [`global_retry_stats`](super::global_retry_stats) is the process-wide one).
pub trait RetrySink {
    /// Counts one call's report. A report [`retry_reported`] made always validates.
    fn record(&self, report: &RetryReport);
}

impl RetrySink for core::cell::RefCell<super::RetryStats> {
    fn record(&self, report: &RetryReport) {
        let _ = self.borrow_mut().record(report);
    }
}

#[cfg(feature = "std")]
impl RetrySink for super::SharedRetryStats {
    fn record(&self, report: &RetryReport) {
        let _ = super::SharedRetryStats::record(self, report);
    }
}

/// [`retry`], counting the call under `operation` in `stats` (as the npm package's `retry`
/// counts its calls, and the server the reports it is sent): the reference's
/// `retry_with_backoff`, statistics included.
///
/// # Errors
/// As [`retry`].
pub async fn retry_recorded<T, E, Op, Fut, Sleep, SleepFut, R>(
    operation: &str,
    stats: &impl RetrySink,
    config: &RetryConfig,
    rng: &mut R,
    sleep: Sleep,
    op: Op,
) -> Result<T, RetryExhausted<E>>
where
    Op: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Classify,
    Sleep: FnMut(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
    R: RngCore + ?Sized,
{
    let (result, report) = retry_reported(operation, config, rng, sleep, op).await;
    stats.record(&report);
    result
}

/// [`retry`], also returning the [`RetryReport`] of what happened, for
/// [`RetryStats::record`](super::RetryStats::record) or the server's
/// `POST /api/v1/retry/report`.
pub async fn retry_reported<T, E, Op, Fut, Sleep, SleepFut, R>(
    operation: &str,
    config: &RetryConfig,
    rng: &mut R,
    mut sleep: Sleep,
    mut op: Op,
) -> (Result<T, RetryExhausted<E>>, RetryReport)
where
    Op: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Classify,
    Sleep: FnMut(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
    R: RngCore + ?Sized,
{
    let mut delays = Vec::new();
    let mut failures = Vec::new();
    let mut attempt = 1;
    loop {
        let error = match op(attempt).await {
            Ok(value) => {
                let report = report(operation, attempt, Outcome::Success, delays, failures);
                return (Ok(value), report);
            }
            Err(error) => error,
        };
        let failure = error.classify();
        failures.push(FailureRecord::from(&failure));
        match config.next_step(attempt, &failure, rng) {
            Step::Retry(wait) => {
                delays.push(wait.as_secs_f64());
                sleep(wait).await;
                attempt += 1;
            }
            Step::Stop(reason) => {
                let outcome = match reason {
                    StopReason::NotRetryable => Outcome::Failure,
                    _ => Outcome::Exhausted,
                };
                let report = report(operation, attempt, outcome, delays, failures);
                let exhausted = RetryExhausted {
                    attempts: attempt,
                    last_error: error,
                    reason,
                };
                return (Err(exhausted), report);
            }
        }
    }
}

fn report(
    operation: &str,
    attempts: u32,
    outcome: Outcome,
    delays: Vec<f64>,
    failures: Vec<FailureRecord>,
) -> RetryReport {
    RetryReport {
        operation: String::from(operation),
        attempts,
        outcome,
        delays,
        failures,
    }
}

impl From<&super::Failure<'_>> for FailureRecord {
    fn from(failure: &super::Failure<'_>) -> Self {
        let (status, message) = match *failure {
            super::Failure::Status { code, .. } => (Some(code), None),
            super::Failure::Other { message } => (None, Some(message.to_string())),
            _ => (None, None),
        };
        FailureRecord {
            kind: failure.kind(),
            status,
            message,
        }
    }
}
