//! Caption tasks and their progress.

use super::{Store, with_pool};

/// The tasks area of the store.
#[derive(Debug, Clone, Copy)]
pub struct Tasks<'a>(pub(super) &'a Store);

/// A task's columns.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    /// Its id (a UUID).
    pub id: String,
    /// Its owner.
    pub user_id: i64,
    /// The connection it captions for.
    pub platform_connection_id: Option<i64>,
    /// Its settings (a JSON object).
    pub settings: String,
    /// queued, running, completed, failed or cancelled.
    pub status: String,
    /// 0 to 100.
    pub progress_percent: i64,
    /// What is being done now.
    pub current_step: String,
    /// Free-form details (a JSON object).
    pub details: String,
    /// One more per update.
    pub seq: i64,
    /// Estimated seconds left.
    pub eta_seconds: Option<f64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// RFC 3339 times.
    pub created_at: String,
    /// When it left `queued`.
    pub started_at: Option<String>,
    /// The last update.
    pub updated_at: String,
    /// When it reached a terminal status.
    pub completed_at: Option<String>,
}

const TASK_COLUMNS: &str = "id, user_id, platform_connection_id, settings, status, progress_percent, current_step, \
     details, seq, eta_seconds, error_message, created_at, started_at, updated_at, completed_at";

impl Tasks<'_> {
    /// Task `id`, if `user_id` owns it.
    pub async fn get(&self, id: &str, user_id: i64) -> Result<Option<TaskRow>, sqlx::Error> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2");
        with_pool!(self.0, pool => sqlx::query_as(&sql).bind(id).bind(user_id).fetch_optional(pool).await)
    }

    /// A page of a user's tasks, newest first, and how many they have.
    pub async fn list(
        &self,
        user_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<TaskRow>, i64), sqlx::Error> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE user_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        with_pool!(self.0, pool => {
            let rows = sqlx::query_as(&sql)
                .bind(user_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await?;
            Ok((rows, total))
        })
    }

    /// How many of the user's tasks have not finished (queued or running).
    pub async fn unfinished(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        with_pool!(self.0, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tasks WHERE user_id = $1 AND status IN ('queued', 'running')",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Stores a new queued task.
    pub async fn create(
        &self,
        id: &str,
        user_id: i64,
        platform_connection_id: Option<i64>,
        settings: &str,
        created_at: &str,
    ) -> Result<(), sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query(
                "INSERT INTO tasks (id, user_id, platform_connection_id, settings, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'queued', $5, $5)",
            )
            .bind(id)
            .bind(user_id)
            .bind(platform_connection_id)
            .bind(settings)
            .bind(created_at)
            .execute(pool)
            .await
            .map(drop)
        })
    }

    /// How many tasks are stored, by status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status ORDER BY status")
                .fetch_all(pool)
                .await
        })
    }

    /// Stores `row`'s progress if the stored task is still at `seq_before`; `false` when it
    /// has moved on (another server stored an update first).
    pub async fn update(&self, row: &TaskRow, seq_before: i64) -> Result<bool, sqlx::Error> {
        with_pool!(self.0, pool => {
            sqlx::query(
                "UPDATE tasks SET status = $1, progress_percent = $2, current_step = $3, details = $4, seq = $5,
                     eta_seconds = $6, error_message = $7, started_at = $8, updated_at = $9, completed_at = $10
                 WHERE id = $11 AND seq = $12",
            )
            .bind(&row.status)
            .bind(row.progress_percent)
            .bind(&row.current_step)
            .bind(&row.details)
            .bind(row.seq)
            .bind(row.eta_seconds)
            .bind(&row.error_message)
            .bind(&row.started_at)
            .bind(&row.updated_at)
            .bind(&row.completed_at)
            .bind(&row.id)
            .bind(seq_before)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
        })
    }
}
