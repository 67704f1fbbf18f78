//! `flowgate:core/retry`: the core's `RetryConfig` as a `retry-policy`, `RetryStats` as
//! `retry-stats`, and `parse-retry-after`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use flowgate_core::FieldError;
use flowgate_core::document::from_json_tracked as from_json;
use flowgate_core::retry::{
    self, Failure, FailureKind, FailureRecord, OperationStats, Outcome, RetryConfig, RetryReport,
    RetryStats, Step, StopReason,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::exports::flowgate::core::retry as wit;
use crate::{Flowgate, document_error, field_error, field_errors};

/// A retry policy, validated.
pub(crate) struct RetryPolicy {
    config: RetryConfig,
}

/// Statistics of retried calls; the host calls one method at a time.
pub(crate) struct Stats {
    stats: RefCell<RetryStats>,
}

fn failure(f: &wit::Failure) -> Failure<'_> {
    match f {
        wit::Failure::Timeout => Failure::Timeout,
        wit::Failure::Connection => Failure::Connection,
        wit::Failure::Status(s) => Failure::Status {
            code: s.code,
            retry_after: s.retry_after_ns.map(Duration::from_nanos),
        },
        wit::Failure::Other(message) => Failure::Other { message },
    }
}

fn ns(d: Duration) -> u64 {
    flowgate_core::nanos(d)
}

fn kind_to_wit(k: FailureKind) -> wit::FailureKind {
    match k {
        FailureKind::Timeout => wit::FailureKind::Timeout,
        FailureKind::Connection => wit::FailureKind::Connection,
        FailureKind::Status => wit::FailureKind::Status,
        FailureKind::Other => wit::FailureKind::Other,
    }
}

fn kind_from_wit(k: wit::FailureKind) -> FailureKind {
    match k {
        wit::FailureKind::Timeout => FailureKind::Timeout,
        wit::FailureKind::Connection => FailureKind::Connection,
        wit::FailureKind::Status => FailureKind::Status,
        wit::FailureKind::Other => FailureKind::Other,
    }
}

fn report(r: wit::RetryReport) -> RetryReport {
    RetryReport {
        operation: r.operation,
        attempts: r.attempts,
        outcome: match r.outcome {
            wit::Outcome::Success => Outcome::Success,
            wit::Outcome::Failure => Outcome::Failure,
            wit::Outcome::Exhausted => Outcome::Exhausted,
        },
        delays: r.delays,
        failures: r
            .failures
            .into_iter()
            .map(|f| FailureRecord {
                kind: kind_from_wit(f.kind),
                status: f.status,
                message: f.message,
            })
            .collect(),
    }
}

fn operation_stats(s: &OperationStats) -> wit::OperationStats {
    wit::OperationStats {
        calls: s.calls,
        attempts: s.attempts,
        retries: s.retries,
        successes: s.successes,
        failures: s.failures,
        exhausted: s.exhausted,
        total_delay: s.total_delay,
        max_delay: s.max_delay,
        by_status: s
            .by_status
            .iter()
            .map(|(&status, &count)| wit::StatusCount { status, count })
            .collect(),
        by_kind: s
            .by_kind
            .iter()
            .map(|(&kind, &count)| wit::KindCount {
                kind: kind_to_wit(kind),
                count,
            })
            .collect(),
    }
}

/// The core's errors for the WIT; only the variants each function can meet reach here.
fn invalid(e: retry::Error) -> Vec<wit::FieldError> {
    match e {
        retry::Error::InvalidConfig(errors) | retry::Error::InvalidReport(errors) => {
            field_errors(errors)
        }
        other => alloc::vec![field_error(FieldError::new("", other.to_string()))],
    }
}

impl wit::Guest for Flowgate {
    type RetryPolicy = RetryPolicy;
    type RetryStats = Stats;

    fn parse_retry_after(
        value: String,
        now_unix_ns: Option<u64>,
    ) -> Result<u64, wit::RetryAfterError> {
        match retry::parse_retry_after(&value, now_unix_ns.map(Duration::from_nanos)) {
            Ok(wait) => Ok(ns(wait)),
            Err(retry::Error::InvalidRetryAfter { value, detail }) => {
                Err(wit::RetryAfterError { value, detail })
            }
            Err(other) => Err(wit::RetryAfterError {
                value,
                detail: other.to_string(),
            }),
        }
    }
}

impl wit::GuestRetryPolicy for RetryPolicy {
    fn new() -> Self {
        RetryPolicy {
            config: RetryConfig::default(),
        }
    }

    fn from_json(policy: String) -> Result<wit::RetryPolicy, wit::DocumentError> {
        let config: RetryConfig = from_json(policy.as_bytes()).map_err(document_error)?;
        config
            .validate()
            .map_err(|e| wit::DocumentError::Invalid(invalid(e)))?;
        Ok(wit::RetryPolicy::new(RetryPolicy { config }))
    }

    fn to_json(&self) -> String {
        serde_json::to_string(&self.config)
            .unwrap_or_else(|_| unreachable!("a retry policy always serialises"))
    }

    fn delays(&self, seed: u64) -> Vec<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.config.schedule(&mut rng).map(ns).collect()
    }

    fn should_retry(&self, f: wit::Failure) -> bool {
        self.config.should_retry(&failure(&f))
    }

    fn next_step(
        &self,
        attempts: u32,
        f: wit::Failure,
        seed: u64,
    ) -> Result<wit::Step, wit::FieldError> {
        if attempts == 0 {
            return Err(field_error(FieldError::new(
                "/attempts",
                "must be 1 or more: the calls made so far, the failed one included",
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(
            match self.config.next_step(attempts, &failure(&f), &mut rng) {
                Step::Retry(wait) => wit::Step::Retry(ns(wait)),
                Step::Stop(reason) => wit::Step::Stop(match reason {
                    StopReason::NotRetryable => wit::StopReason::NotRetryable,
                    StopReason::AttemptsExhausted => wit::StopReason::AttemptsExhausted,
                    StopReason::RetryAfterTooLong { retry_after } => {
                        wit::StopReason::RetryAfterTooLong(ns(retry_after))
                    }
                }),
            },
        )
    }
}

impl wit::GuestRetryStats for Stats {
    fn new() -> Self {
        Stats {
            stats: RefCell::new(RetryStats::new()),
        }
    }

    fn add_report(&self, r: wit::RetryReport) -> Result<wit::OperationStats, Vec<wit::FieldError>> {
        let mut stats = self.stats.borrow_mut();
        stats
            .record(&report(r))
            .map(operation_stats)
            .map_err(invalid)
    }

    fn summary(&self) -> wit::RetrySummary {
        let s = self.stats.borrow().summary();
        wit::RetrySummary {
            operations: s.operations,
            totals: operation_stats(&s.totals),
            success_rate: s.success_rate,
            average_attempts: s.average_attempts,
        }
    }

    fn detailed(&self) -> Vec<wit::OperationEntry> {
        let stats = self.stats.borrow();
        stats
            .detailed()
            .iter()
            .map(|(operation, s)| wit::OperationEntry {
                operation: operation.clone(),
                stats: operation_stats(s),
            })
            .collect()
    }

    fn clear(&self) {
        self.stats.borrow_mut().clear();
    }
}
