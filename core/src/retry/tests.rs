//! Behaviour of the retry policy, driver and statistics, and their invariants.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use core::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(42)
}

use crate::block_on;

#[derive(Debug, Clone, PartialEq)]
enum TestError {
    Timeout,
    Connection,
    Http(u16, Option<Duration>),
    Message(String),
}

impl Classify for TestError {
    fn classify(&self) -> Failure<'_> {
        match self {
            TestError::Timeout => Failure::Timeout,
            TestError::Connection => Failure::Connection,
            TestError::Http(code, retry_after) => Failure::Status {
                code: *code,
                retry_after: *retry_after,
            },
            TestError::Message(message) => Failure::Other { message },
        }
    }
}

impl core::fmt::Display for TestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[test]
fn defaults_are_the_reference_apis() {
    let c = RetryConfig::default();
    assert_eq!(
        (c.max_attempts, c.base_delay, c.max_delay, c.backoff_factor),
        (3, 1.0, 30.0, 2.0)
    );
    assert!(
        c.jitter
            && c.retry_on_timeout
            && c.retry_on_connection_error
            && c.retry_on_server_error
            && c.retry_on_rate_limit
    );
    assert_eq!(c.jitter_factor, 0.1);
    assert_eq!(
        (
            c.retry_status_codes.clone(),
            c.retry_on_specific_errors.clone(),
            c.retry_exceptions.clone()
        ),
        (None, None, None)
    );
    assert!(c.validate().is_ok());
}

#[test]
fn backoff_grows_by_the_factor_and_is_capped() {
    let c = RetryConfig {
        base_delay: 0.5,
        backoff_factor: 3.0,
        max_delay: 10.0,
        ..Default::default()
    };
    let d: Vec<f64> = (1..=5).map(|n| c.base_delay_for(n)).collect();
    assert_eq!(d, vec![0.5, 1.5, 4.5, 10.0, 10.0]);
    // Huge exponents overflow to infinity, which is still just the cap.
    assert_eq!(c.base_delay_for(u32::MAX), 10.0);
}

#[test]
fn jitter_stays_within_its_band_and_the_cap() {
    let c = RetryConfig {
        max_attempts: 10,
        jitter_factor: 0.5,
        max_delay: 5.0,
        ..Default::default()
    };
    let mut r = rng();
    for n in 1..=9 {
        let base = c.base_delay_for(n);
        let d = c.delay_for(n, &mut r);
        assert!(
            d >= base * 0.5 && d <= (base * 1.5).min(5.0),
            "retry {n}: {d} from {base}"
        );
    }
}

#[test]
fn a_seeded_rng_gives_the_same_schedule() {
    let c = RetryConfig {
        max_attempts: 6,
        ..Default::default()
    };
    let a: Vec<Duration> = c.schedule(&mut rng()).collect();
    let b: Vec<Duration> = c.schedule(&mut rng()).collect();
    assert_eq!(a.len(), 5);
    assert_eq!(a, b);
    let other: Vec<Duration> = c.schedule(&mut ChaCha8Rng::seed_from_u64(43)).collect();
    assert_ne!(a, other);
}

#[test]
fn status_codes_retried_by_default_follow_the_flags() {
    let c = RetryConfig::default();
    for code in [408, 429, 500, 502, 503, 504] {
        assert!(c.retries_status(code), "{code}");
    }
    for code in [400, 401, 403, 404, 422, 501, 505] {
        assert!(!c.retries_status(code), "{code}");
    }
    let c = RetryConfig {
        retry_on_rate_limit: false,
        retry_on_timeout: false,
        ..Default::default()
    };
    assert!(!c.retries_status(429) && !c.retries_status(408) && c.retries_status(503));
    let c = RetryConfig {
        retry_on_server_error: false,
        ..Default::default()
    };
    assert!(!c.retries_status(500) && c.retries_status(429));
}

#[test]
fn explicit_status_codes_replace_the_defaults_and_empty_means_none() {
    let c = RetryConfig {
        retry_status_codes: Some(vec![418]),
        ..Default::default()
    };
    assert!(c.retries_status(418) && !c.retries_status(503));
    let c = RetryConfig {
        retry_status_codes: Some(vec![]),
        ..Default::default()
    };
    assert!(!c.retries_status(429) && !c.retries_status(503));
}

#[test]
fn other_failures_retry_on_a_case_insensitive_substring() {
    let c = RetryConfig {
        retry_on_specific_errors: Some(vec!["Temporarily Unavailable".into(), "ÉCHEC".into()]),
        ..Default::default()
    };
    assert!(c.should_retry(&Failure::Other {
        message: "upstream temporarily unavailable, try later"
    }));
    assert!(c.should_retry(&Failure::Other {
        message: "un échec du serveur"
    }));
    assert!(!c.should_retry(&Failure::Other {
        message: "invalid token"
    }));
    assert!(!RetryConfig::default().should_retry(&Failure::Other {
        message: "anything"
    }));
}

#[test]
fn failure_kinds_parse_from_their_json_names() {
    for kind in FailureKind::ALL {
        assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(FailureKind::parse("Timeout"), None);
    assert_eq!(FailureKind::parse("gremlins"), None);
}

#[test]
fn a_host_may_match_messages_its_own_way() {
    let c = RetryConfig {
        retry_on_specific_errors: Some(vec!["Busy".into()]),
        max_attempts: 2,
        ..Default::default()
    };
    let busy = Failure::Other { message: "busy" };
    let exact = |message: &str, pattern: &str| message.contains(pattern);
    assert!(c.should_retry(&busy));
    assert!(!c.should_retry_matching(&busy, exact));
    assert!(c.should_retry_matching(&Failure::Other { message: "Busy" }, exact));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        c.next_step_matching(1, &busy, &mut rng, exact),
        Step::Stop(StopReason::NotRetryable)
    );
    assert!(matches!(c.next_step(1, &busy, &mut rng), Step::Retry(_)));
    // Kinds other than `other` never ask the matcher.
    let never = |_: &str, _: &str| -> bool { unreachable!("only messages are matched") };
    assert!(c.should_retry_matching(&Failure::Timeout, never));
}

#[test]
fn retry_exceptions_limit_the_kinds_retried() {
    let c = RetryConfig {
        retry_exceptions: Some(vec![FailureKind::Timeout]),
        ..Default::default()
    };
    assert!(c.should_retry(&Failure::Timeout));
    assert!(!c.should_retry(&Failure::Connection));
    assert!(!c.should_retry(&Failure::status(503)));
    let c = RetryConfig {
        retry_on_timeout: false,
        ..Default::default()
    };
    assert!(!c.should_retry(&Failure::Timeout));
    let c = RetryConfig {
        retry_on_connection_error: false,
        ..Default::default()
    };
    assert!(!c.should_retry(&Failure::Connection));
}

#[test]
fn retry_after_on_429_and_503_raises_the_wait_and_stops_beyond_max_delay() {
    let c = RetryConfig {
        jitter: false,
        ..Default::default()
    };
    let mut r = rng();
    let asks = |code, secs| Failure::Status {
        code,
        retry_after: Some(Duration::from_secs(secs)),
    };
    assert_eq!(
        c.next_step(1, &asks(429, 7), &mut r),
        Step::Retry(Duration::from_secs(7))
    );
    assert_eq!(
        c.next_step(1, &asks(503, 0), &mut r),
        Step::Retry(Duration::from_secs(1))
    );
    // Only 429 and 503 carry a meaningful Retry-After.
    assert_eq!(
        c.next_step(1, &asks(500, 7), &mut r),
        Step::Retry(Duration::from_secs(1))
    );
    assert_eq!(
        c.next_step(1, &asks(429, 31), &mut r),
        Step::Stop(StopReason::RetryAfterTooLong {
            retry_after: Duration::from_secs(31)
        })
    );
    assert_eq!(
        c.next_step(3, &asks(429, 1), &mut r),
        Step::Stop(StopReason::AttemptsExhausted)
    );
    assert_eq!(
        c.next_step(1, &Failure::status(404), &mut r),
        Step::Stop(StopReason::NotRetryable)
    );
}

#[test]
fn a_policy_of_more_attempts_than_the_limit_is_refused() {
    let attempts = |max_attempts| {
        RetryConfig {
            max_attempts,
            ..Default::default()
        }
        .validate()
    };
    assert!(attempts(MAX_ATTEMPTS_LIMIT).is_ok());
    let Err(Error::InvalidConfig(errors)) = attempts(MAX_ATTEMPTS_LIMIT + 1) else {
        panic!("expected an error")
    };
    assert_eq!(errors[0].pointer, "/max_attempts");
    assert!(attempts(u32::MAX).is_err());
}

#[test]
fn bad_policies_are_reported_field_by_field() {
    let c = RetryConfig {
        max_attempts: 0,
        base_delay: f64::NAN,
        max_delay: -1.0,
        backoff_factor: f64::INFINITY,
        jitter_factor: 1.5,
        retry_status_codes: Some(vec![200, 999]),
        retry_on_specific_errors: Some(vec![String::new()]),
        ..Default::default()
    };
    let Err(Error::InvalidConfig(errors)) = c.validate() else {
        panic!("expected errors")
    };
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        vec![
            "/max_attempts",
            "/base_delay",
            "/max_delay",
            "/backoff_factor",
            "/jitter_factor",
            "/retry_status_codes/1",
            "/retry_on_specific_errors/0"
        ]
    );
    assert!(
        RetryConfig {
            max_delay: 1e9,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        RetryConfig {
            backoff_factor: 0.5,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
}

#[test]
fn an_invalid_policy_never_panics_the_schedule() {
    let c = RetryConfig {
        base_delay: f64::NAN,
        max_delay: f64::INFINITY,
        backoff_factor: -3.0,
        jitter_factor: f64::NAN,
        max_attempts: 4,
        ..Default::default()
    };
    let delays: Vec<Duration> = c.schedule(&mut rng()).collect();
    assert_eq!(delays.len(), 3);
}

#[test]
fn the_driver_retries_until_success_and_reports_it() {
    let c = RetryConfig {
        max_attempts: 4,
        jitter: false,
        ..Default::default()
    };
    let mut slept = Vec::new();
    let (result, report) = block_on(retry_reported(
        "caption",
        &c,
        &mut rng(),
        |d| {
            slept.push(d);
            async {}
        },
        |attempt| async move {
            match attempt {
                1 => Err(TestError::Timeout),
                2 => Err(TestError::Http(503, None)),
                _ => Ok(attempt),
            }
        },
    ));
    assert_eq!(result, Ok(3));
    assert_eq!(slept, vec![Duration::from_secs(1), Duration::from_secs(2)]);
    assert_eq!(report.outcome, Outcome::Success);
    assert_eq!(
        (report.attempts, report.delays.clone()),
        (3, vec![1.0, 2.0])
    );
    assert_eq!(
        report.failures[1],
        FailureRecord {
            kind: FailureKind::Status,
            status: Some(503),
            message: None
        }
    );
    assert!(report.validate().is_ok());
}

#[test]
fn the_driver_gives_up_with_the_last_error_and_why() {
    let c = RetryConfig {
        max_attempts: 3,
        ..Default::default()
    };
    let (result, report) = block_on(retry_reported(
        "post",
        &c,
        &mut rng(),
        |_| async {},
        |_| async { Err::<(), _>(TestError::Connection) },
    ));
    let err = result.unwrap_err();
    assert_eq!(
        (err.attempts, err.last_error.clone(), err.reason),
        (3, TestError::Connection, StopReason::AttemptsExhausted)
    );
    assert_eq!(
        format!("{err}"),
        "gave up after 3 attempts (no attempts left): Connection"
    );
    assert_eq!(report.outcome, Outcome::Exhausted);

    let mut calls = 0;
    let result = block_on(retry(
        &c,
        &mut rng(),
        |_| async {},
        |_| {
            calls += 1;
            async { Err::<(), _>(TestError::Message("bad request".into())) }
        },
    ));
    assert_eq!(
        (calls, result.unwrap_err().reason),
        (1, StopReason::NotRetryable)
    );

    let too_long = block_on(retry(
        &c,
        &mut rng(),
        |_| async {},
        |_| async { Err::<(), _>(TestError::Http(429, Some(Duration::from_secs(3600)))) },
    ));
    let err = too_long.unwrap_err();
    assert_eq!(
        (err.attempts, err.reason),
        (
            1,
            StopReason::RetryAfterTooLong {
                retry_after: Duration::from_secs(3600)
            }
        )
    );
}

#[test]
fn reference_usage_example() {
    // @async_retry(max_attempts=5, base_delay=2.0) on a fetch that fails twice.
    let c = RetryConfig {
        max_attempts: 5,
        base_delay: 2.0,
        ..Default::default()
    };
    let mut slept = Duration::ZERO;
    let result = block_on(retry(
        &c,
        &mut rng(),
        |d| {
            slept += d;
            async {}
        },
        |attempt| async move {
            if attempt <= 2 {
                Err(TestError::Http(502, None))
            } else {
                Ok("data")
            }
        },
    ));
    assert_eq!(result, Ok("data"));
    // 2 s and 4 s, each within ±10%.
    assert!(
        slept >= Duration::from_secs_f64(5.4) && slept <= Duration::from_secs_f64(6.6),
        "{slept:?}"
    );
}

#[test]
fn statistics_sum_reports_per_operation() {
    let mut stats = RetryStats::new();
    let ok = RetryReport {
        operation: "caption".into(),
        attempts: 2,
        outcome: Outcome::Success,
        delays: vec![1.5],
        failures: vec![FailureRecord {
            kind: FailureKind::Status,
            status: Some(503),
            message: None,
        }],
    };
    let gave_up = RetryReport {
        operation: "post".into(),
        attempts: 3,
        outcome: Outcome::Exhausted,
        delays: vec![1.0, 2.5],
        failures: vec![
            FailureRecord {
                kind: FailureKind::Timeout,
                status: None,
                message: None,
            },
            FailureRecord {
                kind: FailureKind::Status,
                status: Some(429),
                message: None,
            },
            FailureRecord {
                kind: FailureKind::Status,
                status: Some(503),
                message: None,
            },
        ],
    };
    stats.record(&ok).unwrap();
    stats.record(&ok).unwrap();
    stats.record(&gave_up).unwrap();
    let caption = &stats.detailed()["caption"];
    assert_eq!(
        (
            caption.calls,
            caption.attempts,
            caption.retries,
            caption.successes
        ),
        (2, 4, 2, 2)
    );
    let s = stats.summary();
    assert_eq!(
        (
            s.operations,
            s.totals.calls,
            s.totals.attempts,
            s.totals.retries
        ),
        (2, 3, 7, 4)
    );
    assert_eq!(
        (s.totals.successes, s.totals.failures, s.totals.exhausted),
        (2, 0, 1)
    );
    assert_eq!((s.totals.total_delay, s.totals.max_delay), (6.5, 2.5));
    assert_eq!(s.totals.by_status[&503], 3);
    assert_eq!(s.totals.by_kind[&FailureKind::Timeout], 1);
    assert!((s.success_rate - 2.0 / 3.0).abs() < 1e-12);
    assert!((s.average_attempts - 7.0 / 3.0).abs() < 1e-12);
}

#[test]
fn inconsistent_reports_are_refused_and_not_counted() {
    let mut stats = RetryStats::new();
    let bad = RetryReport {
        operation: " ".into(),
        attempts: 2,
        outcome: Outcome::Failure,
        delays: vec![f64::NAN, 1.0],
        failures: vec![FailureRecord {
            kind: FailureKind::Status,
            status: None,
            message: None,
        }],
    };
    let Err(Error::InvalidReport(errors)) = stats.record(&bad) else {
        panic!("expected errors")
    };
    let pointers: Vec<String> = errors.iter().map(|e| e.pointer.to_string()).collect();
    assert_eq!(
        pointers,
        vec![
            "/operation",
            "/delays",
            "/delays/0",
            "/failures",
            "/failures/0/status"
        ]
    );
    assert_eq!(stats.summary().totals.calls, 0);
}

#[cfg(feature = "std")]
#[test]
fn shared_statistics_take_reports_from_many_threads() {
    use std::sync::Arc;
    let stats = Arc::new(SharedRetryStats::new());
    let report = RetryReport {
        operation: "x".into(),
        attempts: 1,
        outcome: Outcome::Success,
        delays: vec![],
        failures: vec![],
    };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (stats, report) = (Arc::clone(&stats), report.clone());
            std::thread::spawn(move || {
                (0..250).for_each(|_| {
                    stats.record(&report).unwrap();
                })
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(stats.summary().totals.calls, 1000);
}

proptest! {
    /// Whatever the policy and the random stream, a delay lies in [0, max_delay], and with
    /// jitter within ±jitter_factor of the un-jittered delay.
    #[test]
    fn jittered_delays_stay_within_zero_and_max_delay(
        base in 0.0f64..100.0,
        factor in 1.0f64..10.0,
        max in 0.0f64..MAX_DELAY_LIMIT,
        jitter_factor in 0.0f64..=1.0,
        retry in 1u32..200,
        seed in any::<u64>(),
    ) {
        let c = RetryConfig { base_delay: base, backoff_factor: factor, max_delay: max, jitter_factor, max_attempts: 10, ..Default::default() };
        prop_assert!(c.validate().is_ok());
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let d = c.delay_for(retry, &mut r);
        let b = c.base_delay_for(retry);
        prop_assert!((0.0..=max).contains(&d), "{d} outside [0, {max}]");
        prop_assert!(d >= b * (1.0 - jitter_factor) - 1e-9 && d <= b * (1.0 + jitter_factor) + 1e-9);
        for wait in c.schedule(&mut r) {
            prop_assert!(wait.as_secs_f64() <= max + 1e-9);
        }
    }

    /// Arbitrary header values never panic the parser.
    #[test]
    fn retry_after_parsing_never_panics(value in ".{0,40}", now in any::<u64>()) {
        let _ = parse_retry_after(&value, Some(Duration::from_secs(now)));
    }
}

/// `retry_recorded` counts every call under its operation in the sink it is given: a
/// single-threaded `RefCell<RetryStats>`, or (with std) the process-wide statistics.
#[test]
fn the_driver_records_each_call_in_the_sink_it_is_given() {
    let c = RetryConfig {
        max_attempts: 2,
        jitter: false,
        ..Default::default()
    };
    let stats = core::cell::RefCell::new(RetryStats::default());
    let succeeded: Result<u32, _> = block_on(retry_recorded(
        "caption",
        &stats,
        &c,
        &mut rng(),
        |_| async {},
        |attempt| async move {
            if attempt == 1 {
                Err(TestError::Timeout)
            } else {
                Ok(attempt)
            }
        },
    ));
    let failed: Result<u32, _> = block_on(retry_recorded(
        "caption",
        &stats,
        &c,
        &mut rng(),
        |_| async {},
        |_| async { Err(TestError::Http(404, None)) },
    ));
    assert_eq!(succeeded, Ok(2));
    assert!(failed.is_err());
    let caption = stats.borrow().detailed()["caption"].clone();
    assert_eq!(
        (caption.calls, caption.successes, caption.failures),
        (2, 1, 1)
    );

    #[cfg(feature = "std")]
    {
        let global = global_retry_stats();
        let before = global.detailed().get("upload").map_or(0, |s| s.calls);
        let _: Result<(), RetryExhausted<TestError>> = block_on(retry_recorded(
            "upload",
            global,
            &c,
            &mut rng(),
            |_| async {},
            |_| async { Ok(()) },
        ));
        assert_eq!(global.detailed()["upload"].calls, before + 1);
    }
}
