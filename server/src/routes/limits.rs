//! The limits document (versioned, with history), the decision service, and per-key state.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowgate_core::api::{CheckRequest, Decision, HistoryEntry, KeyState};
use flowgate_core::ratelimit::{RateLimitConfig, Request as LimitRequest};
use serde::Deserialize;

use super::{check_if_match, etag, versioned_response};
use crate::auth::AuthUser;
use crate::config::KeyNamespace;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, JsonBytes, parse_json};
use crate::fanout::Notice;
use crate::limiter::{Decisions, Unreachable};
use crate::openapi::Errors;
use crate::ratelimit_http::{bucket, decision_response, secs_ms_ceil};
use crate::state::AppState;
use crate::store::versions::Table;

/// `GET /api/v1/limits`: the document in force, its version as `ETag` (304 for an
/// `If-None-Match` that names it).
#[utoipa::path(get, path = "/limits", operation_id = "get_limits", tag = "limits",
    responses((status = 200, body = RateLimitConfig, description = "The limits in force", headers(("ETag" = String, description = "The version"))),
        (status = 304, description = "`If-None-Match` names the version in force"), Errors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _user: AuthUser,
    headers: HeaderMap,
) -> Response {
    versioned_response(&headers, state.limits.current())
}

/// `PUT /api/v1/limits` (admin): validates, stores a new version, and puts it in force at
/// once. A bad document changes nothing.
#[utoipa::path(put, path = "/limits", operation_id = "put_limits", tag = "limits", request_body = RateLimitConfig,
    params(("If-Match" = Option<String>, Header, description = "The version changed (412 if it is no longer current)")),
    responses((status = 200, body = RateLimitConfig, description = "Stored and in force", headers(("ETag" = String, description = "The new version"))), Errors))]
pub(crate) async fn put(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(document): ApiJson<RateLimitConfig>,
) -> Result<Response, ApiError> {
    user.require_admin()?;
    document.validate()?;
    let version = state
        .limits
        .replace(
            &state.store,
            |current| check_if_match(&headers, current),
            &user.username,
            document.clone(),
            |doc| Ok(Decisions::prepare(doc)?),
            |limits, doc| state.decisions.install(limits, doc, state.now()),
        )
        .await?;
    state.fanout.notify(Notice::Limits).await;
    tracing::info!(by = %user.username, version, "limits changed");
    Ok(([(header::ETAG, etag(version))], Json(document)).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// How many versions, 1 to 500 (default 50).
    limit: Option<u32>,
}

/// `GET /api/v1/limits/history[?limit=N]`: who changed the limits when, newest first.
#[utoipa::path(get, path = "/limits/history", operation_id = "get_limits_history", tag = "limits", params(HistoryQuery),
    responses((status = 200, body = Vec<HistoryEntry>, description = "The versions, newest first"), Errors))]
pub(crate) async fn history(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let rows = state
        .store
        .versions()
        .history(Table::Limits, i64::from(limit))
        .await?;
    let entries = rows
        .into_iter()
        .map(|row| {
            Ok(HistoryEntry {
                version: row.version,
                changed_by: row.changed_by,
                changed_at: row.changed_at,
                limits: serde_json::from_str(&row.document)?,
            })
        })
        .collect::<Result<_, serde_json::Error>>()?;
    Ok(Json(entries))
}

/// `POST /api/v1/limits/check`: the decision service. 200 whether allowed or not, with the
/// decision as JSON and as `RateLimit-Policy` / `RateLimit` (and `Retry-After` when denied).
/// The key is the caller's own under `FLOWGATE_KEY_NAMESPACE=user`.
#[utoipa::path(post, path = "/api/v1/limits/check", operation_id = "check_limits", tag = "limits", request_body = CheckRequest,
    responses((status = 200, body = Decision, description = "The decision, allowed or not; \
        `RateLimit-Policy` and `RateLimit` describe the binding bucket, with `Retry-After` when denied",
        headers(("RateLimit-Policy" = String), ("RateLimit" = String), ("Retry-After" = Option<u64>))), Errors))]
pub(crate) async fn check(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBytes(bytes): JsonBytes,
) -> Result<Response, ApiError> {
    let body: CheckRequest = parse_json(&bytes)?;
    let request = LimitRequest {
        endpoint: body.endpoint.as_deref(),
        platform: body.platform.as_deref(),
        cost: body.cost.unwrap_or(1),
    };
    request.check_names(&body.key)?;
    let key = state.config.key_namespace.scoped(user.id, &body.key);
    let started = std::time::Instant::now();
    let checked = state.decisions.check(key, &request, state.now()).await?;
    state.metrics.decided(&checked.decision, started.elapsed());
    if !checked.decision.allowed {
        state.metrics.denied(&key.in_process(), state.now());
    }
    Ok(decision_response(&checked.decision, checked.degraded))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyQuery {
    /// The endpoint a request would call.
    endpoint: Option<String>,
    /// The platform a request would call.
    platform: Option<String>,
    /// What a request would cost (default 1).
    cost: Option<u32>,
    /// Whose key, under `FLOWGATE_KEY_NAMESPACE=user` (an admin's; default the caller).
    user: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerQuery {
    /// Whose key, under `FLOWGATE_KEY_NAMESPACE=user` (an admin's; default the caller).
    user: Option<i64>,
}

/// The key the limiter keeps for `key` asked about by `caller`: in the caller's namespace, or
/// (an admin's `?user=<id>`) in another user's.
fn owned_key<'a>(
    state: &AppState,
    caller: &AuthUser,
    key: &'a str,
    user: Option<i64>,
) -> Result<flowgate_redis::Key<'a>, ApiError> {
    let owner = match (state.config.key_namespace, user) {
        (_, None) => caller.id,
        (KeyNamespace::Global, Some(_)) => {
            return Err(ApiError::BadRequest(
                "?user= names whose key is meant, but keys here are shared by every user \
                 (FLOWGATE_KEY_NAMESPACE is global)"
                    .into(),
            ));
        }
        (KeyNamespace::User, Some(id)) if id == caller.id => id,
        (KeyNamespace::User, Some(id)) => {
            caller.require_admin()?;
            id
        }
    };
    Ok(state.config.key_namespace.scoped(owner, key))
}

/// `GET /api/v1/limits/keys/{key}[?endpoint=&platform=&cost=&user=]`: a key's buckets and
/// wait time.
#[utoipa::path(get, path = "/limits/keys/{key}", operation_id = "get_key", tag = "limits",
    params(("key" = String, Path, description = "The key"), KeyQuery),
    responses((status = 200, body = KeyState, description = "The key's buckets"), Errors))]
pub(crate) async fn key(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<KeyQuery>,
) -> Result<Json<KeyState>, ApiError> {
    let request = LimitRequest {
        endpoint: query.endpoint.as_deref(),
        platform: query.platform.as_deref(),
        cost: query.cost.unwrap_or(1),
    };
    request.check_names(&key)?;
    let view = state
        .decisions
        .view(
            owned_key(&state, &user, &key, query.user)?,
            &request,
            state.now(),
        )
        .await?;
    Ok(Json(KeyState {
        key,
        now: view.now.as_secs_f64(),
        wait_time: secs_ms_ceil(view.wait),
        buckets: view.buckets.iter().map(bucket).collect(),
        degraded: view.degraded,
    }))
}

/// `DELETE /api/v1/limits/keys/{key}[?user=]`: forgets every bucket of the key. Shared keys
/// (`FLOWGATE_KEY_NAMESPACE=global`) are reset by an admin; a user's own keys (`user`) by
/// that user, or an admin.
#[utoipa::path(delete, path = "/limits/keys/{key}", operation_id = "reset_key", tag = "limits",
    params(("key" = String, Path, description = "The key"), OwnerQuery),
    responses((status = 204, description = "Reset (also when it held no state)"), Errors))]
pub(crate) async fn reset_key(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<OwnerQuery>,
) -> Result<StatusCode, ApiError> {
    if state.config.key_namespace == KeyNamespace::Global {
        user.require_admin()?;
    }
    LimitRequest::default().check_names(&key)?;
    let scoped = owned_key(&state, &user, &key, query.user)?;
    let had_state = state.decisions.reset(scoped).await.map_err(|Unreachable| {
        ApiError::Unavailable(anyhow::anyhow!(
            "Redis is unreachable: the key was not reset"
        ))
    })?;
    tracing::info!(by = %user.username, had_state, "key reset");
    Ok(StatusCode::NO_CONTENT)
}
