//! Caption tasks, their progress, and the progress as Server-Sent Events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use flowgate_core::api::{NewTask, Task, TaskPage, TaskUpdate};
use serde::Deserialize;
use tokio::sync::watch;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::fanout::Notice;
use crate::live::{Live, Snapshot};
use crate::openapi::Errors;
use crate::state::AppState;

/// What `EventSource` is told to wait before reconnecting.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
/// How often an idle stream sends a comment, so proxies and clients know it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `POST /api/v1/tasks`: a queued task, optionally for one of the caller's connections.
#[utoipa::path(post, path = "/tasks", operation_id = "create_task", tag = "tasks", request_body = NewTask,
    responses((status = 201, body = Task, description = "The new task, queued"), Errors))]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    if let Some(id) = body.platform_connection_id
        && state
            .store
            .platforms()
            .connection(id, user.id)
            .await?
            .is_none()
    {
        return Err(ApiError::field(
            "/platform_connection_id",
            "no such platform connection",
        ));
    }
    let open = state.store.tasks().unfinished(user.id).await?;
    let max = state.config.max_open_tasks;
    if open >= max {
        return Err(ApiError::Conflict(format!(
            "you have {open} unfinished tasks, the most allowed (FLOWGATE_MAX_OPEN_TASKS = {max}); \
             complete, fail or cancel some first"
        )));
    }
    let settings = serde_json::Value::Object(body.settings.unwrap_or_default());
    if settings.to_string().len() > 16 * 1024 {
        return Err(ApiError::field(
            "/settings",
            "must be at most 16 KiB of JSON",
        ));
    }
    let task = Live::create(&state.store, user.id, body.platform_connection_id, settings).await?;
    tracing::info!(task = %task.task_id, user = %user.username, "task created");
    Ok((StatusCode::CREATED, Json(task)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct Page {
    /// How many, 1 to 100 (default 20).
    limit: Option<u32>,
    /// How many to skip (default 0).
    offset: Option<u32>,
}

/// `GET /api/v1/tasks[?limit=&offset=]`: the caller's tasks, newest first.
#[utoipa::path(get, path = "/tasks", operation_id = "list_tasks", tag = "tasks", params(Page),
    responses((status = 200, body = TaskPage, description = "A page of the caller's tasks"), Errors))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<TaskPage>, ApiError> {
    let limit = page.limit.unwrap_or(20).clamp(1, 100);
    let offset = page.offset.unwrap_or(0);
    let (tasks, total) = Live::list(&state.store, user.id, limit, offset).await?;
    Ok(Json(TaskPage {
        tasks,
        total,
        limit,
        offset,
    }))
}

/// `GET /api/v1/tasks/{id}/progress`.
#[utoipa::path(get, path = "/tasks/{id}/progress", operation_id = "get_task_progress", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, body = Task, description = "The task now"), Errors))]
pub(crate) async fn progress(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(Live::load(&state.store, &id, user.id).await?))
}

/// `PUT /api/v1/tasks/{id}/progress`: stored before it is acknowledged, then streamed.
#[utoipa::path(put, path = "/tasks/{id}/progress", operation_id = "update_task_progress", tag = "tasks", request_body = TaskUpdate,
    params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, body = Task, description = "The task now"), Errors))]
pub(crate) async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TaskUpdate>,
) -> Result<Json<Task>, ApiError> {
    let task = state.live.update(&state.store, &id, user.id, body).await?;
    state
        .fanout
        .notify(Notice::Task(task.task_id.clone()))
        .await;
    Ok(Json(task))
}

/// A subscription that frees its task's slot when it ends, if nobody else watches it and no
/// update holds it.
struct Watch {
    rx: Option<watch::Receiver<Arc<Snapshot>>>,
    state: AppState,
    id: String,
    /// Counts the stream against its user's cap while it is open.
    _ticket: crate::live::StreamTicket,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.rx.take();
        self.state.live.forget_if_idle(&self.id);
    }
}

/// Where a stream is.
struct Stream {
    watch: Watch,
    shutdown: watch::Receiver<bool>,
    /// The snapshot to send first, if the client has not seen it.
    first: Option<Arc<Snapshot>>,
    ended: bool,
    sent_any: bool,
}

/// `GET /api/v1/tasks/{id}/events`: the progress as `text/event-stream`. First a `progress`
/// event with the current snapshot (unless `Last-Event-ID` says it was seen), then one per
/// update; at a terminal status a `done` event, and the stream ends. A task that ended and was
/// seen answers 204, so that `EventSource` stops reconnecting.
#[utoipa::path(get, path = "/tasks/{id}/events", operation_id = "stream_task_events", tag = "tasks",
    params(("id" = String, Path, description = "The task's id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The last `seq` seen")),
    responses((status = 200, content_type = "text/event-stream",
            description = "`progress` events, then one `done`; each event's data is a `Task`, its id the task's `seq`"),
        (status = 204, description = "The task ended and its last state was seen"), Errors))]
pub(crate) async fn events(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_seen: Option<u64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let ticket = state.live.open_stream(user.id)?;
    let mut rx = state.live.subscribe(&state.store, &id, user.id).await?;
    let current = Arc::clone(&rx.borrow_and_update());
    let seen = last_seen.is_some_and(|seen| seen >= current.seq);
    if current.terminal && seen {
        // Nothing to stream: the slot the subscription made goes with it.
        drop(rx);
        state.live.forget_if_idle(&id);
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let stream = Stream {
        watch: Watch {
            rx: Some(rx),
            state: state.clone(),
            id,
            _ticket: ticket,
        },
        shutdown: state.shutdown.subscribe(),
        first: (!seen).then_some(current),
        ended: false,
        sent_any: false,
    };
    let events = futures_util::stream::unfold(stream, |mut s| async move {
        if s.ended {
            return None;
        }
        let snapshot = match s.first.take() {
            Some(first) => first,
            None => {
                let rx = s.watch.rx.as_mut()?;
                tokio::select! {
                    changed = rx.changed() => {
                        changed.ok()?;
                        Arc::clone(&rx.borrow_and_update())
                    }
                    // The server is stopping: end the stream so shutdown need not wait for it;
                    // the client reconnects to the next server with Last-Event-ID.
                    _ = s.shutdown.wait_for(|stopping| *stopping) => return None,
                }
            }
        };
        let mut event = Event::default()
            .id(snapshot.seq.to_string())
            .event(if snapshot.terminal {
                "done"
            } else {
                "progress"
            })
            .data(&snapshot.json);
        if !s.sent_any {
            event = event.retry(RECONNECT_AFTER);
            s.sent_any = true;
        }
        s.ended = snapshot.terminal;
        Some((Ok::<_, Infallible>(event), s))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}
