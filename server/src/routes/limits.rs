//! The limits document (versioned, with history), the decision service, and per-key state.

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowgate_core::ratelimit::{Error as LimitError, RateLimitConfig, Request as LimitRequest};
use serde::{Deserialize, Serialize};

use super::{etag, versioned_response};
use crate::auth::AuthUser;
use crate::config::KeyNamespace;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, JsonBytes, parse_json};
use crate::fanout::Notice;
use crate::limiter::{Decisions, Unreachable};
use crate::ratelimit_http::{BucketJson, decision_response, secs_ms_ceil};
use crate::state::AppState;
use crate::store::versions::Table;

/// `GET /api/v1/limits`: the document in force, its version as `ETag` (304 for an
/// `If-None-Match` that names it).
pub(crate) async fn get(
    State(state): State<AppState>,
    _user: AuthUser,
    headers: HeaderMap,
) -> Response {
    versioned_response(&headers, state.limits.current())
}

/// Maps the core's configuration errors to a 422 with pointers.
fn config_error(e: LimitError) -> ApiError {
    match e {
        LimitError::InvalidConfig(errors) => ApiError::Validation(errors),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// `PUT /api/v1/limits` (admin): validates, stores a new version, and puts it in force at
/// once. A bad document changes nothing.
pub(crate) async fn put(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(document): ApiJson<RateLimitConfig>,
) -> Result<Response, ApiError> {
    user.require_admin()?;
    document.validate().map_err(config_error)?;
    let version = state
        .limits
        .replace(
            &state.store,
            &headers,
            &user.username,
            document.clone(),
            |doc| Decisions::prepare(doc).map_err(config_error),
            |limits, doc| state.decisions.install(limits, doc, state.now()),
        )
        .await?;
    state.fanout.notify(Notice::Limits).await;
    tracing::info!(by = %user.username, version, "limits changed");
    Ok(([(header::ETAG, etag(version))], Json(document)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    limit: Option<u32>,
}

#[derive(Serialize)]
pub(crate) struct HistoryEntry {
    version: i64,
    changed_by: String,
    changed_at: String,
    limits: serde_json::Value,
}

/// `GET /api/v1/limits/history[?limit=N]`: who changed the limits when, newest first.
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

/// The decision service's request, its strings borrowed from the body where JSON escapes allow.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest<'a> {
    #[serde(borrow)]
    key: Text<'a>,
    #[serde(borrow)]
    endpoint: Option<Text<'a>>,
    #[serde(borrow)]
    platform: Option<Text<'a>>,
    cost: Option<u32>,
}

/// A string of a request body: borrowed from it unless it has escapes. (serde borrows a
/// `Cow<str>` field only when the field is the `Cow` itself, not inside an `Option`.)
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

fn cost_error(e: LimitError) -> ApiError {
    match e {
        LimitError::ZeroCost | LimitError::CostExceedsCapacity { .. } => {
            ApiError::field("/cost", e.to_string())
        }
        LimitError::TooManyKeys { .. } => ApiError::Busy(
            "the limiter holds its maximum of live keys (FLOWGATE_MAX_KEYS), all still \
             limiting; a new key can be decided once one refills",
        ),
        other => ApiError::Internal(anyhow::anyhow!("limiter: {other}")),
    }
}

/// `POST /api/v1/limits/check`: the decision service. 200 whether allowed or not, with the
/// decision as JSON and as `RateLimit-Policy` / `RateLimit` (and `Retry-After` when denied).
/// The key is the caller's own under `FLOWGATE_KEY_NAMESPACE=user`.
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
    let checked = state
        .decisions
        .check(key, &request, state.now())
        .await
        .map_err(cost_error)?;
    state.metrics.decided(&checked.decision, started.elapsed());
    if !checked.decision.allowed {
        state.metrics.denied(&key.in_process(), state.now());
    }
    Ok(decision_response(&checked.decision, checked.degraded))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyQuery {
    endpoint: Option<String>,
    platform: Option<String>,
    cost: Option<u32>,
    user: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerQuery {
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

#[derive(Serialize)]
pub(crate) struct KeyState {
    key: String,
    /// The limiter's clock, in seconds: time since the server started (buckets in process) or
    /// since the Unix epoch (buckets in Redis). Bucket times are relative to it.
    now: f64,
    /// Seconds until a request (with the query's endpoint, platform and cost) would pass.
    wait_time: f64,
    buckets: Vec<BucketJson>,
    /// Read from the failure mode's state because Redis is unreachable.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    degraded: bool,
}

/// `GET /api/v1/limits/keys/{key}[?endpoint=&platform=&cost=&user=]`: a key's buckets and
/// wait time.
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
        .await
        .map_err(cost_error)?;
    Ok(Json(KeyState {
        key,
        now: view.now.as_secs_f64(),
        wait_time: secs_ms_ceil(view.wait),
        buckets: view.buckets.iter().map(BucketJson::from).collect(),
        degraded: view.degraded,
    }))
}

/// `DELETE /api/v1/limits/keys/{key}[?user=]`: forgets every bucket of the key. Shared keys
/// (`FLOWGATE_KEY_NAMESPACE=global`) are reset by an admin; a user's own keys (`user`) by
/// that user, or an admin.
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
