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
