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
use crate::db;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;

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
            &state.db,
            &headers,
            &user.username,
            document.clone(),
            |_| Ok(()),
        )
        .await?;
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
    let _writer = state.stats_write.lock().await;
    // Count into a copy of this operation's statistics and store it first; only then count in
    // memory, so that what is shown never runs ahead of what is stored.
    let current = state
        .retry_stats
        .detailed()
        .remove(&report.operation)
        .unwrap_or_default();
    let mut one = RetryStats::from_iter([(report.operation.clone(), current)]);
    let stats = one.record(&report).map_err(retry_error)?.clone();
    sqlx::query(
        "INSERT INTO retry_stats (operation, stats, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (operation) DO UPDATE SET stats = excluded.stats, updated_at = excluded.updated_at",
    )
    .bind(&report.operation)
    .bind(serde_json::to_string(&stats)?)
    .bind(db::now_rfc3339())
    .execute(&state.db)
    .await?;
    state.retry_stats.record(&report).map_err(retry_error)?;
    Ok(Json(Recorded {
        operation: report.operation,
        stats,
    }))
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
) -> Response {
    let summary = state.retry_stats.summary();
    if query.detailed.unwrap_or(false) {
        Json(Detailed {
            summary,
            operations: state.retry_stats.detailed(),
        })
        .into_response()
    } else {
        Json(summary).into_response()
    }
}
