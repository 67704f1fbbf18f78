//! Retry statistics as the server answers them.

use alloc::collections::BTreeMap;
use alloc::string::String;

use crate::retry::{OperationStats, RetrySummary};

/// `POST /api/v1/retry/report`: the reported operation's statistics, as stored now.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recorded {
    /// The operation.
    pub operation: String,
    /// Its statistics.
    pub stats: OperationStats,
}

/// `GET /api/v1/retry/stats?detailed=true`: the summary and each operation's statistics.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetryDetail {
    /// Over all operations.
    pub summary: RetrySummary,
    /// By operation name.
    pub operations: BTreeMap<String, OperationStats>,
}

/// `GET /api/v1/retry/stats`: the summary, or with `detailed=true` the detail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum RetryStatistics {
    /// With `detailed=true`.
    Detailed(RetryDetail),
    /// Without.
    Summary(RetrySummary),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::FailureKind;
    use crate::retry::{FailureRecord, Outcome, RetryReport, RetryStats};

    /// Statistics read back as they were written, summary (whose totals are flattened) and
    /// detail alike: the console and the clients read what the server writes.
    #[test]
    fn statistics_read_back_as_written() {
        let mut stats = RetryStats::new();
        stats
            .record(&RetryReport {
                operation: "caption".into(),
                attempts: 2,
                outcome: Outcome::Success,
                delays: alloc::vec![1.5],
                failures: alloc::vec![FailureRecord {
                    kind: FailureKind::Status,
                    status: Some(503),
                    message: None,
                }],
            })
            .unwrap();
        let detail = RetryStatistics::Detailed(RetryDetail {
            summary: stats.summary(),
            operations: stats.detailed().clone(),
        });
        let summary = RetryStatistics::Summary(stats.summary());
        for answer in [detail, summary] {
            let json = serde_json::to_string(&answer).unwrap();
            let back: RetryStatistics = serde_json::from_str(&json).unwrap();
            assert_eq!(back, answer, "{json}");
        }
    }
}
