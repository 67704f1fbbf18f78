//! What happened to retried operations: one [`RetryReport`] per call, summed per operation.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::Error;
use super::failure::FailureKind;
use crate::FieldError;

/// How a retried call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Outcome {
    /// An attempt succeeded.
    Success,
    /// A failure the policy does not retry ended it.
    Failure,
    /// The attempts ran out, or a `Retry-After` was longer than `max_delay`.
    Exhausted,
}

impl Outcome {
    /// Its name in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Exhausted => "exhausted",
        }
    }
}

/// One failed attempt, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct FailureRecord {
    /// The failure's kind.
    pub kind: FailureKind,
    /// The HTTP status, for `status` failures.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub status: Option<u16>,
    /// The message, for `other` failures.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub message: Option<String>,
}

/// What happened to one call of an operation: the form [`retry_reported`](super::retry_reported)
/// returns and workers send to the server's `POST /api/v1/retry/report`:
///
/// ```json
/// {"operation": "caption", "attempts": 2, "outcome": "success",
///  "delays": [1.04], "failures": [{"kind": "status", "status": 503}]}
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct RetryReport {
    /// The operation's name.
    pub operation: String,
    /// Calls made, the first included.
    pub attempts: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// Seconds waited before each retry (`attempts − 1` of them).
    #[cfg_attr(feature = "serde", serde(default))]
    pub delays: Vec<f64>,
    /// Each failed attempt, in order.
    #[cfg_attr(feature = "serde", serde(default))]
    pub failures: Vec<FailureRecord>,
}

/// The longest operation name accepted.
pub const MAX_OPERATION_LEN: usize = 200;

impl RetryReport {
    /// Every inconsistency in the report, or `Ok`.
    ///
    /// # Errors
    /// [`Error::InvalidReport`]: an empty or overlong operation name or one with control
    /// characters, zero attempts, a number
    /// of delays other than `attempts − 1`, a delay that is negative or not finite, a number of
    /// failures that does not fit the outcome, a `status` failure without a valid code.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if self.operation.trim().is_empty() {
            errors.push(FieldError::new("/operation", "must not be empty"));
        } else if self.operation.len() > MAX_OPERATION_LEN {
            errors.push(FieldError::new(
                "/operation",
                format!("must be at most {MAX_OPERATION_LEN} bytes"),
            ));
        } else if self.operation.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "/operation",
                "must not contain control characters",
            ));
        }
        if self.attempts == 0 {
            errors.push(FieldError::new("/attempts", "must be at least 1"));
        }
        let retries = self.attempts.saturating_sub(1) as usize;
        if self.delays.len() != retries {
            errors.push(FieldError::new(
                "/delays",
                format!(
                    "must hold one delay per retry: {retries} for {} attempts, got {}",
                    self.attempts,
                    self.delays.len()
                ),
            ));
        }
        for (i, d) in self.delays.iter().enumerate() {
            if !d.is_finite() || *d < 0.0 {
                errors.push(FieldError::new(
                    format!("/delays/{i}"),
                    "must be a finite number of seconds, 0 or more",
                ));
            }
        }
        let failed = match self.outcome {
            Outcome::Success => retries,
            Outcome::Failure | Outcome::Exhausted => self.attempts as usize,
        };
        if self.failures.len() != failed {
            errors.push(FieldError::new(
                "/failures",
                format!(
                    "must hold one entry per failed attempt: {failed} here, got {}",
                    self.failures.len()
                ),
            ));
        }
        for (i, f) in self.failures.iter().enumerate() {
            match (f.kind, f.status) {
                (FailureKind::Status, Some(code)) if (100..=599).contains(&code) => {}
                (FailureKind::Status, Some(_)) => {
                    errors.push(FieldError::new(
                        format!("/failures/{i}/status"),
                        "must be an HTTP status code (100 to 599)",
                    ));
                }
                (FailureKind::Status, None) => {
                    errors.push(FieldError::new(
                        format!("/failures/{i}/status"),
                        "is required for a status failure",
                    ));
                }
                (_, Some(_)) => {
                    errors.push(FieldError::new(
                        format!("/failures/{i}/status"),
                        "only a status failure has a status",
                    ));
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidReport(errors))
        }
    }
}

/// Counts for one operation (or, in a [`RetrySummary`], for all of them).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperationStats {
    /// Calls reported.
    pub calls: u64,
    /// Attempts made over all calls.
    pub attempts: u64,
    /// Attempts beyond each call's first.
    pub retries: u64,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls ended by a failure the policy does not retry.
    pub failures: u64,
    /// Calls that ran out of attempts (or met a `Retry-After` beyond `max_delay`).
    pub exhausted: u64,
    /// Seconds waited between attempts, in all.
    pub total_delay: f64,
    /// The longest single wait, in seconds.
    pub max_delay: f64,
    /// Failed attempts by HTTP status.
    #[cfg_attr(feature = "serde", serde(deserialize_with = "status_keys"))]
    pub by_status: BTreeMap<u16, u64>,
    /// Failed attempts by kind.
    pub by_kind: BTreeMap<FailureKind, u64>,
}

/// `by_status` read back: JSON object keys are strings, which serde turns into numbers only when
/// it reads the map itself, not through the buffer of a flattened field (`RetrySummary`'s
/// totals), so the keys are read as text and parsed here.
#[cfg(feature = "serde")]
fn status_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, u64>, D::Error> {
    use serde::Deserialize as _;
    use serde::de::Error as _;
    BTreeMap::<String, u64>::deserialize(d)?
        .into_iter()
        .map(|(code, n)| {
            code.parse()
                .map(|code| (code, n))
                .map_err(|_| D::Error::custom(format!("{code:?} is not an HTTP status")))
        })
        .collect()
}

impl OperationStats {
    /// Counts one report of this operation. Validate it first ([`RetryReport::validate`]):
    /// an inconsistent report is counted as it says. [`RetryStats::record`] does both.
    pub fn add(&mut self, report: &RetryReport) {
        self.calls += 1;
        self.attempts += u64::from(report.attempts);
        self.retries += u64::from(report.attempts.saturating_sub(1));
        match report.outcome {
            Outcome::Success => self.successes += 1,
            Outcome::Failure => self.failures += 1,
            Outcome::Exhausted => self.exhausted += 1,
        }
        for &d in &report.delays {
            self.total_delay += d;
            self.max_delay = self.max_delay.max(d);
        }
        for f in &report.failures {
            *self.by_kind.entry(f.kind).or_default() += 1;
            if let Some(code) = f.status {
                *self.by_status.entry(code).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, other: &OperationStats) {
        self.calls += other.calls;
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.successes += other.successes;
        self.failures += other.failures;
        self.exhausted += other.exhausted;
        self.total_delay += other.total_delay;
        self.max_delay = self.max_delay.max(other.max_delay);
        for (&code, &n) in &other.by_status {
            *self.by_status.entry(code).or_default() += n;
        }
        for (&kind, &n) in &other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
    }

    /// Successful calls as a fraction of all calls (0 when there were none).
    #[must_use]
    pub fn success_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.successes as f64 / self.calls as f64
        }
    }
}

/// Statistics over every operation.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetrySummary {
    /// How many operations were reported.
    pub operations: u64,
    /// The counts summed over all operations.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub totals: OperationStats,
    /// `successes / calls`.
    pub success_rate: f64,
    /// `attempts / calls`.
    pub average_attempts: f64,
}

/// Retry statistics per operation name. Without `std` the caller owns it;
/// [`SharedRetryStats`] is the thread-safe form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetryStats {
    operations: BTreeMap<String, OperationStats>,
}

impl RetryStats {
    /// No statistics yet.
    #[must_use]
    pub const fn new() -> Self {
        RetryStats {
            operations: BTreeMap::new(),
        }
    }

    /// Adds one call's report; returns its operation's statistics as they are now.
    ///
    /// # Errors
    /// [`Error::InvalidReport`] from [`RetryReport::validate`]; nothing is counted then.
    pub fn record(&mut self, report: &RetryReport) -> Result<&OperationStats, Error> {
        report.validate()?;
        let stats = self.operations.entry(report.operation.clone()).or_default();
        stats.add(report);
        Ok(stats)
    }

    /// Totals over every operation.
    #[must_use]
    pub fn summary(&self) -> RetrySummary {
        let mut totals = OperationStats::default();
        for stats in self.operations.values() {
            totals.merge(stats);
        }
        let average_attempts = if totals.calls == 0 {
            0.0
        } else {
            totals.attempts as f64 / totals.calls as f64
        };
        RetrySummary {
            operations: self.operations.len() as u64,
            success_rate: totals.success_rate(),
            average_attempts,
            totals,
        }
    }

    /// The statistics of each operation, by name.
    #[must_use]
    pub fn detailed(&self) -> &BTreeMap<String, OperationStats> {
        &self.operations
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.operations.clear();
    }
}

/// Statistics restored from `(operation, stats)` pairs, such as a database's rows.
impl FromIterator<(String, OperationStats)> for RetryStats {
    fn from_iter<I: IntoIterator<Item = (String, OperationStats)>>(iter: I) -> Self {
        RetryStats {
            operations: iter.into_iter().collect(),
        }
    }
}

#[cfg(feature = "std")]
mod shared {
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use std::sync::{Mutex, PoisonError};

    use super::{OperationStats, RetryReport, RetryStats, RetrySummary};
    use crate::retry::Error;

    /// [`RetryStats`] that many threads may record into at once.
    #[derive(Debug, Default)]
    pub struct SharedRetryStats {
        // Held for a few map updates, never across an await.
        inner: Mutex<RetryStats>,
    }

    impl SharedRetryStats {
        /// No statistics yet.
        #[must_use]
        pub fn new() -> Self {
            SharedRetryStats::default()
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, RetryStats> {
            // Recording is a handful of additions after validation: a panic elsewhere cannot
            // leave the statistics half-updated in a way that matters.
            self.inner.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Adds one call's report; returns its operation's statistics as they are now.
        ///
        /// # Errors
        /// As [`RetryStats::record`].
        pub fn record(&self, report: &RetryReport) -> Result<OperationStats, Error> {
            self.lock().record(report).cloned()
        }

        /// Totals over every operation.
        #[must_use]
        pub fn summary(&self) -> RetrySummary {
            self.lock().summary()
        }

        /// A copy of each operation's statistics.
        #[must_use]
        pub fn detailed(&self) -> BTreeMap<String, OperationStats> {
            self.lock().detailed().clone()
        }

        /// Replaces the statistics (to restore them from storage, say).
        pub fn replace(&self, stats: RetryStats) {
            *self.lock() = stats;
        }
    }
}

#[cfg(feature = "std")]
pub use shared::SharedRetryStats;

/// The process-wide retry statistics, for callers of
/// [`retry_recorded`](super::retry_recorded) that keep no statistics of their own.
#[cfg(feature = "std")]
#[must_use]
pub fn global_retry_stats() -> &'static SharedRetryStats {
    static GLOBAL: std::sync::OnceLock<SharedRetryStats> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(SharedRetryStats::new)
}
