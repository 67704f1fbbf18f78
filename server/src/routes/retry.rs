//! The retry policy workers follow, the outcomes they report, and the statistics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use flowgate_core::api::{Recorded, RetryDetail, RetryStatistics};
use flowgate_core::retry::{OperationStats, RetryConfig, RetryReport, RetryStats};
use serde::Deserialize;

use super::{check_if_match, etag, versioned_response};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::fanout::Notice;
use crate::openapi::Errors;
use crate::state::AppState;
use crate::store;

/// `GET /api/v1/retry/config`: the policy in force, its version as `ETag` (304 for an
/// `If-None-Match` that names it).
#[utoipa::path(get, path = "/retry/config", operation_id = "get_retry_config", tag = "retry",
    responses((status = 200, body = RetryConfig, description = "The policy in force", headers(("ETag" = String, description = "The version"))),
        (status = 304, description = "`If-None-Match` names the version in force"), Errors))]
pub(crate) async fn get_config(
    State(state): State<AppState>,
    _user: AuthUser,
    headers: HeaderMap,
) -> Response {
    versioned_response(&headers, state.retry_policy.current())
}

/// `PUT /api/v1/retry/config` (admin): validates, stores and puts the policy in force.
#[utoipa::path(put, path = "/retry/config", operation_id = "put_retry_config", tag = "retry", request_body = RetryConfig,
    params(("If-Match" = Option<String>, Header, description = "The version changed (412 if it is no longer current)")),
    responses((status = 200, body = RetryConfig, description = "Stored and in force", headers(("ETag" = String, description = "The new version"))), Errors))]
pub(crate) async fn put_config(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(document): ApiJson<RetryConfig>,
) -> Result<Response, ApiError> {
    user.require_admin()?;
    document.validate()?;
    let version = state
        .retry_policy
        .replace(
            &state.store,
            |current| check_if_match(&headers, current),
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

/// `POST /api/v1/retry/report`: a worker reports how one call went. The operation's statistics
/// are stored before the answer, and returned.
#[utoipa::path(post, path = "/retry/report", operation_id = "report_retry", tag = "retry", request_body = RetryReport,
    responses((status = 200, body = Recorded, description = "Counted"), Errors))]
pub(crate) async fn report(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiJson(report): ApiJson<RetryReport>,
) -> Result<Json<Recorded>, ApiError> {
    report.validate()?;
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    /// Each operation's statistics beside the summary.
    detailed: Option<bool>,
}

/// `GET /api/v1/retry/stats[?detailed=true]`: the summary over all operations, and with
/// `detailed=true` each operation's statistics beside it.
#[utoipa::path(get, path = "/retry/stats", operation_id = "get_retry_stats", tag = "retry", params(StatsQuery),
    responses((status = 200, body = RetryStatistics, description = "The statistics"), Errors))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Json<RetryStatistics>, ApiError> {
    // Read from the database, not kept in memory: the reports may have gone to any server.
    let stats = stored_stats(&state).await?;
    let summary = stats.summary();
    Ok(Json(if query.detailed.unwrap_or(false) {
        RetryStatistics::Detailed(RetryDetail {
            summary,
            operations: stats.detailed().clone(),
        })
    } else {
        RetryStatistics::Summary(summary)
    }))
}
