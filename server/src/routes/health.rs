//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::openapi::Errors;
use crate::state::AppState;
use crate::store::Backend;

/// What `/readyz` reports.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ok` or `down`.
    database: &'static str,
    /// `sqlite` or `postgres`.
    database_backend: &'static str,
    /// `ok`, `down`, or `off` (buckets kept in this process).
    redis: &'static str,
    /// With Redis: servers alive at the last heartbeat that reached it, this one included; 0
    /// when it was never reached (then the local failure mode divides by 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    servers_seen: Option<u64>,
    /// With Redis: whether decisions are made by the failure mode now.
    #[serde(skip_serializing_if = "Option::is_none")]
    degraded: Option<bool>,
    /// With Redis: `local`, `closed` or `open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_failure: Option<&'static str>,
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations", security(()),
    responses((status = 200, body = String, content_type = "text/plain", description = "The process answers", example = "ok")))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: each backend's state; 503 when the database is down (nothing but decisions
/// could be served), 200 otherwise, Redis down included (decisions go on, degraded).
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations", security(()),
    responses((status = 200, body = Readiness, description = "The database answers"), (status = 503, body = Readiness, description = "The database is down")))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let database_ok = state.store.ping().await;
    let shared = state.decisions.shared_state();
    let redis = match shared {
        None => "off",
        Some(shared) if shared.reachable().await => "ok",
        Some(_) => "down",
    };
    let readiness = Readiness {
        database: if database_ok { "ok" } else { "down" },
        database_backend: match state.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        redis,
        servers_seen: shared.map(|s| s.servers_seen()),
        degraded: shared.map(|s| s.is_degraded()),
        redis_failure: shared.map(|s| s.failure_mode().as_str()),
    };
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

/// The metrics as a response, in the OpenMetrics text format Prometheus reads.
async fn metrics_response(state: &AppState) -> Result<Response, crate::error::ApiError> {
    let text = state.render_metrics().await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /metrics` on the main address: to an admin, unless the metrics have an address of their
/// own (`FLOWGATE_METRICS_ADDR`), where they are served open to whoever can reach it.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "operations",
    responses((status = 200, body = String, description = "Prometheus metrics, OpenMetrics text",
        content_type = "application/openmetrics-text"), Errors))]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    user: crate::auth::AuthUser,
) -> Result<Response, crate::error::ApiError> {
    if state.config.metrics_addr.is_some() {
        return Err(crate::error::ApiError::NotFound(
            "the metrics are served on FLOWGATE_METRICS_ADDR",
        ));
    }
    user.require_admin()?;
    metrics_response(&state).await
}

/// `GET /metrics` on `FLOWGATE_METRICS_ADDR`.
pub(crate) async fn open_metrics(
    State(state): State<AppState>,
) -> Result<Response, crate::error::ApiError> {
    metrics_response(&state).await
}
