//! The retry policy workers follow, the outcomes they report, and the statistics.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use flowgate_core::retry::{
    Error as RetryError, OperationStats, RetryConfig, RetryReport, RetryStats, RetrySummary,
};
use serde::{Deserialize, Serialize};

use super::{etag, versioned_response};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::fanout::Notice;
use crate::state::AppState;
use crate::store;

fn retry_error(e: RetryError) -> ApiError {
    match e {
        RetryError::InvalidConfig(errors) | RetryError::InvalidReport(errors) => {
            ApiError::Validation(errors)
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// `GET /api/v1/retry/config`: the policy in force, its version as `ETag` (304 for an
/// `If-None-Match` that names it).
pub(crate) async fn get_config(
    State(state): State<AppState>,
    _user: AuthUser,
    headers: HeaderMap,
) -> Response {
    versioned_response(&headers, state.retry_policy.current())
}

/// `PUT /api/v1/retry/config` (admin): validates, stores and puts the policy in force.
pub(crate) async fn put_config(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(document): ApiJson<RetryConfig>,
) -> Result<Response, ApiError> {
    user.require_admin()?;
    document.validate().map_err(retry_error)?;
    let version = state
        .retry_policy
        .replace(
            &state.store,
            &headers,
            &user.username,
            document.clone(),
            |_| Ok(()),
            |(), _| {},
        )
        .await?;
    state.fanout.notify(Notice::RetryPolicy).await;
    tracing::info!(by = %user.username, version, "retry policy changed");
    Ok(([(header::ETAG, etag(version))], Json(document)).into_response())
}

#[derive(Serialize)]
pub(crate) struct Recorded {
    operation: String,
    stats: OperationStats,
}

/// `POST /api/v1/retry/report`: a worker reports how one call went. The operation's statistics
/// are stored before the answer, and returned.
pub(crate) async fn report(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiJson(report): ApiJson<RetryReport>,
) -> Result<Json<Recorded>, ApiError> {
    report.validate().map_err(retry_error)?;
    // Counted in the database, in one transaction per report: reports sent to several servers
    // at once all count.
    let stats = state
        .store
        .stats()
        .count(
            &report.operation,
            &store::now_rfc3339(),
            i64::try_from(state.config.max_operations).unwrap_or(i64::MAX),
            |stats| stats.add(&report),
        )
        .await?;
    state.metrics.retry_reported(report.outcome.as_str());
    Ok(Json(Recorded {
        operation: report.operation,
        stats,
    }))
}

/// Every operation's statistics, as stored.
async fn stored_stats(state: &AppState) -> Result<RetryStats, ApiError> {
    state
        .store
        .stats()
        .all()
        .await?
        .into_iter()
        .map(|(operation, stats)| {
            let stats: OperationStats = serde_json::from_str(&stats)?;
            Ok((operation, stats))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    detailed: Option<bool>,
}

#[derive(Serialize)]
pub(crate) struct Detailed {
    summary: RetrySummary,
    operations: BTreeMap<String, OperationStats>,
}

/// `GET /api/v1/retry/stats[?detailed=true]`: the summary over all operations, and with
/// `detailed=true` each operation's statistics beside it.
pub(crate) async fn stats(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    // Read from the database, not kept in memory: the reports may have gone to any server.
    let stats = stored_stats(&state).await?;
    let summary = stats.summary();
    Ok(if query.detailed.unwrap_or(false) {
        Json(Detailed {
            summary,
            operations: stats.detailed().clone(),
        })
        .into_response()
    } else {
        Json(summary).into_response()
    })
}
