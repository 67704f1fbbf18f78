//! Caption tasks and their progress.

use alloc::string::String;
use alloc::vec::Vec;

use crate::progress::{Details, TaskStatus};

/// A task as the API shows it: the core's progress with RFC 3339 times, and the task's own
/// fields beside it. The same document is each `progress`/`done` event of its stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// The task's id (a UUID).
    pub task_id: String,
    /// Its owner.
    pub user_id: i64,
    /// The platform connection it captions for, if any.
    pub platform_connection_id: Option<i64>,
    /// What is being done now.
    pub current_step: String,
    /// 0 to 100.
    pub progress_percent: u8,
    /// Free-form details of the last update that gave any.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Details,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// One more per update; 0 for a new task. Also each event's `id`.
    pub seq: u64,
    /// Estimated seconds left as of `updated_at`.
    pub eta: Option<f64>,
    /// Why it failed, if it did.
    pub error_message: Option<String>,
    /// The settings it was created with.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it left `queued`.
    pub started_at: Option<String>,
    /// The last update.
    pub updated_at: String,
    /// When it reached a terminal status.
    pub completed_at: Option<String>,
}

/// `GET /api/v1/tasks`: a page of the caller's tasks, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskPage {
    /// This page.
    pub tasks: Vec<Task>,
    /// All of the caller's tasks.
    pub total: i64,
    /// The page's size.
    pub limit: u32,
    /// Tasks before this page.
    pub offset: u32,
}

/// `POST /api/v1/tasks`: a queued task.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The caller's connection it captions for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_connection_id: Option<i64>,
    /// Free-form settings (at most 16 KiB of JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub settings: Option<Details>,
}

/// `PUT /api/v1/tasks/{id}/progress`: one progress update, as workers send it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    /// What is being done now.
    pub current_step: String,
    /// 0 to 100 (wider here so that out-of-range values are reported, not wrapped).
    pub progress_percent: i64,
    /// Replaces the details when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<Details>,
    /// The new status; without one, an update means `running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    /// Why the task failed (with `"status": "failed"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}
