//! Waiting for the limiter: run an operation when its request is allowed, or wait the exact
//! time the denial names and ask again, up to a longest wait (the reference's `rate_limited`).
//! The rule is [`wait_step`]; [`rate_limited`] is its async loop, generic over the clock and
//! the sleep as [`crate::retry::retry`] is, and the npm package's `rateLimited` runs the same
//! step from JavaScript.

use core::fmt;
use core::future::Future;
use core::time::Duration;

use super::{Decision, Error};

/// What to do after a decision, having waited `waited` so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStep {
    /// Allowed (and spent): run the operation.
    Go,
    /// Denied: sleep this long, then ask again.
    Wait(Duration),
    /// Denied, and the wait it names would pass the longest wait allowed.
    GiveUp,
}

/// The rule: an allowed decision goes; a denied one waits its `retry_after` unless `waited`
/// plus that passes `max_wait`.
#[must_use]
pub fn wait_step(decision: &Decision, waited: Duration, max_wait: Duration) -> WaitStep {
    if decision.allowed {
        WaitStep::Go
    } else if waited.saturating_add(decision.retry_after) > max_wait {
        WaitStep::GiveUp
    } else {
        WaitStep::Wait(decision.retry_after)
    }
}

/// Why [`rate_limited`] did not run the operation.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitError {
    /// The request can never pass (a cost of 0, or above a capacity).
    Limit(Error),
    /// Allowing it would take longer than the longest wait: the decision that said so, and how
    /// long had been waited before it.
    TooLong {
        /// The last decision (denied).
        decision: alloc::boxed::Box<Decision>,
        /// Time spent waiting before it.
        waited: Duration,
    },
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Limit(e) => write!(f, "{e}"),
            WaitError::TooLong { decision, waited } => write!(
                f,
                "rate limited by the {} {} bucket: allowed in {} ms, after {} ms waited, longer \
                 than the longest wait",
                decision.scope,
                decision.window.as_str(),
                decision.retry_after.as_millis(),
                waited.as_millis()
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WaitError {}

/// Runs `op` once `decide` allows it: `decide(now)` checks (and, when allowed, spends) the
/// request at `now` (for example `|now| limiter.is_allowed(key, &request, now)`); a denial is
/// slept through (`sleep`, for exactly its `retry_after`) and asked again, until `max_wait` in
/// all would be passed. `now` reads the limiter's clock.
///
/// ```
/// use core::cell::Cell;
/// use core::time::Duration;
/// use flowgate_core::ratelimit::{rate_limited, RateLimitConfig, RateLimiter, Request};
///
/// let limiter = RateLimiter::new(&RateLimitConfig { requests_per_minute: 60, max_burst: 1, ..Default::default() })?;
/// let clock = Cell::new(Duration::ZERO);
/// let request = Request::default();
/// let mut decide = |now| limiter.is_allowed("bot", &request, now);
/// let sleep = |d: Duration| { clock.set(clock.get() + d); async {} };
/// let first = block_on(rate_limited(&mut decide, || clock.get(), Duration::from_secs(5), sleep, || async { "first" }));
/// let second = block_on(rate_limited(&mut decide, || clock.get(), Duration::from_secs(5), sleep, || async { "second" }));
/// assert_eq!((first, second), (Ok("first"), Ok("second")));
/// assert_eq!(clock.get(), Duration::from_secs(1), "the second waited exactly its retry_after");
/// # fn block_on<F: core::future::Future>(f: F) -> F::Output {
/// #     let mut f = core::pin::pin!(f);
/// #     let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
/// #     loop { if let core::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// # Ok::<(), flowgate_core::ratelimit::Error>(())
/// ```
///
/// # Errors
/// [`WaitError::Limit`] for a request that can never pass; [`WaitError::TooLong`] when the
/// wait would pass `max_wait` (then `op` is not run and nothing was spent for it).
pub async fn rate_limited<T, Decide, Now, Sleep, SleepFut, Op, Fut>(
    mut decide: Decide,
    mut now: Now,
    max_wait: Duration,
    mut sleep: Sleep,
    op: Op,
) -> Result<T, WaitError>
where
    Decide: FnMut(Duration) -> Result<Decision, Error>,
    Now: FnMut() -> Duration,
    Sleep: FnMut(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
    Op: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let start = now();
    loop {
        let at = now();
        let decision = decide(at).map_err(WaitError::Limit)?;
        let waited = at.saturating_sub(start);
        match wait_step(&decision, waited, max_wait) {
            WaitStep::Go => return Ok(op().await),
            WaitStep::Wait(wait) => sleep(wait).await,
            WaitStep::GiveUp => {
                return Err(WaitError::TooLong {
                    decision: alloc::boxed::Box::new(decision),
                    waited,
                });
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use core::cell::Cell;
    use core::time::Duration;

    use super::*;
    use crate::ratelimit::{RateLimitConfig, RateLimiter, Request};

    use crate::block_on;

    #[test]
    fn waits_exactly_what_each_denial_names_and_gives_up_past_the_longest_wait() {
        // 6 a minute, 2 at once: after the burst, one every 10 s.
        let limiter = RateLimiter::new(&RateLimitConfig {
            requests_per_minute: 6,
            max_burst: 2,
            ..RateLimitConfig::default()
        })
        .unwrap();
        let clock = Cell::new(Duration::from_secs(100));
        let slept = core::cell::RefCell::new(alloc::vec::Vec::new());
        let request = Request::default();
        let run = |max_wait: Duration| {
            block_on(rate_limited(
                |now| limiter.is_allowed("bot", &request, now),
                || clock.get(),
                max_wait,
                |d: Duration| {
                    slept.borrow_mut().push(d);
                    clock.set(clock.get() + d);
                    async {}
                },
                || async { clock.get() },
            ))
        };
        let long = Duration::from_secs(60);
        assert_eq!(run(long), Ok(Duration::from_secs(100)));
        assert_eq!(run(long), Ok(Duration::from_secs(100)));
        // The third waits the exact 10 s the denial named, then runs.
        assert_eq!(run(long), Ok(Duration::from_secs(110)));
        assert_eq!(*slept.borrow(), [Duration::from_secs(10)]);
        // Allowed in 10 s, but 5 s is the longest wait: not run, nothing spent, the decision kept.
        match run(Duration::from_secs(5)) {
            Err(WaitError::TooLong { decision, waited }) => {
                assert!(!decision.allowed);
                assert_eq!(
                    (decision.retry_after, waited),
                    (Duration::from_secs(10), Duration::ZERO)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(clock.get(), Duration::from_secs(110));
        assert_eq!(run(long), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn a_request_that_can_never_pass_is_an_error_at_once() {
        let limiter = RateLimiter::new(&RateLimitConfig::default()).unwrap();
        let request = Request {
            cost: 0,
            ..Request::default()
        };
        let result = block_on(rate_limited(
            |now| limiter.is_allowed("k", &request, now),
            || Duration::ZERO,
            Duration::from_secs(1),
            |_| async {},
            || async {},
        ));
        assert_eq!(result, Err(WaitError::Limit(Error::ZeroCost)));
    }

    #[test]
    fn the_rule() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            max_burst: 1,
            ..RateLimitConfig::default()
        })
        .unwrap();
        let now = Duration::from_secs(1);
        let allowed = limiter.is_allowed("k", &Request::default(), now).unwrap();
        let denied = limiter.is_allowed("k", &Request::default(), now).unwrap();
        let second = Duration::from_secs(1);
        assert_eq!(
            wait_step(&allowed, Duration::ZERO, Duration::ZERO),
            WaitStep::Go
        );
        assert_eq!(
            wait_step(&denied, Duration::ZERO, second),
            WaitStep::Wait(second)
        );
        assert_eq!(
            wait_step(&denied, Duration::from_millis(1), second),
            WaitStep::GiveUp
        );
        assert_eq!(
            wait_step(&denied, Duration::MAX, Duration::MAX),
            WaitStep::Wait(second),
            "no overflow"
        );
    }
}
