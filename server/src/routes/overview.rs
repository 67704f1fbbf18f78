//! `GET /api/v1/overview` (admin): what an operator looks at first, for the console's Overview
//! screen, which asks every few seconds and shows rates from the change between answers.

use axum::Json;
use axum::extract::State;
use flowgate_core::api::{Denials, DeniedKey, Overview};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::Errors;
use crate::state::AppState;

/// How many of the keys denied most are listed.
const TOP_KEYS: usize = 20;

/// `GET /api/v1/overview` (admin).
#[utoipa::path(get, path = "/overview", operation_id = "get_overview", tag = "operations",
    responses((status = 200, body = Overview, description = "The overview"), Errors))]
pub(crate) async fn get(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Overview>, ApiError> {
    user.require_admin()?;
    let now = state.now();
    let totals = state.metrics.decision_totals();
    let open_tasks = state
        .store
        .tasks()
        .count_by_status()
        .await?
        .into_iter()
        .filter(|(status, _)| status == "queued" || status == "running")
        .map(|(_, n)| n)
        .sum();
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    Ok(Json(Overview {
        uptime: now.as_secs_f64(),
        allowed: totals.allowed,
        denied: totals.denied,
        denials: totals
            .denials
            .into_iter()
            .map(|(scope, window, count)| Denials {
                scope,
                window,
                count,
            })
            .collect(),
        top_denied_keys: state
            .metrics
            .top_denied(now, TOP_KEYS)
            .into_iter()
            .map(|(key, denials)| DeniedKey { key, denials })
            .collect(),
        open_tasks,
        sse_subscribers: count(state.live.open_streams()),
        live_keys: state.decisions.active_keys().map(count),
    }))
}
