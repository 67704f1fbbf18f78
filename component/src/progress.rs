//! `flowgate:core/progress`: the core's `TaskProgress` as a `task-progress`.

use alloc::string::{String, ToString};
use core::cell::RefCell;
use core::time::Duration;

use flowgate_core::document::from_json_tracked;
use flowgate_core::progress::{
    self, Details, ProgressStatus, ProgressUpdate, TaskProgress, TaskStatus,
};
use flowgate_core::{FieldError, Rfc3339};

use crate::exports::flowgate::core::progress as wit;
use crate::{Flowgate, field_error, field_errors};

/// One task's progress; the host calls one method at a time.
pub(crate) struct Task {
    progress: RefCell<TaskProgress>,
}

fn status_to_wit(s: TaskStatus) -> wit::TaskStatus {
    match s {
        TaskStatus::Queued => wit::TaskStatus::Queued,
        TaskStatus::Running => wit::TaskStatus::Running,
        TaskStatus::Completed => wit::TaskStatus::Completed,
        TaskStatus::Failed => wit::TaskStatus::Failed,
        TaskStatus::Cancelled => wit::TaskStatus::Cancelled,
    }
}

fn status_from_wit(s: wit::TaskStatus) -> TaskStatus {
    match s {
        wit::TaskStatus::Queued => TaskStatus::Queued,
        wit::TaskStatus::Running => TaskStatus::Running,
        wit::TaskStatus::Completed => TaskStatus::Completed,
        wit::TaskStatus::Failed => TaskStatus::Failed,
        wit::TaskStatus::Cancelled => TaskStatus::Cancelled,
    }
}

fn instant(since_epoch: Duration) -> wit::Instant {
    wit::Instant {
        unix_ns: flowgate_core::nanos(since_epoch),
        rfc3339: Rfc3339(since_epoch).to_string(),
    }
}

fn snapshot(s: &ProgressStatus) -> wit::ProgressStatus {
    wit::ProgressStatus {
        task_id: s.task_id.clone(),
        user_id: s.user_id,
        current_step: s.current_step.clone(),
        progress_percent: s.progress_percent,
        details: serde_json::Value::Object(s.details.clone()).to_string(),
        status: status_to_wit(s.status),
        seq: s.seq,
        started_at: s.started_at.map(instant),
        updated_at: instant(s.updated_at),
        eta_ns: s.eta.map(flowgate_core::nanos),
    }
}

fn progress_error(e: progress::Error) -> wit::ProgressError {
    match e {
        progress::Error::InvalidUpdate(errors) => {
            wit::ProgressError::InvalidUpdate(field_errors(errors))
        }
        progress::Error::Finished { status } => wit::ProgressError::Finished(status_to_wit(status)),
        progress::Error::BackToQueued => wit::ProgressError::BackToQueued,
        progress::Error::NotOwner => wit::ProgressError::NotOwner,
        // Unknown or duplicate tasks belong to a tracker of many; one task never meets them.
        other => wit::ProgressError::InvalidUpdate(alloc::vec![field_error(FieldError::new(
            "",
            other.to_string()
        ))]),
    }
}

/// The details' JSON text as the core keeps them: a JSON object, else an error at `/details`.
fn details(text: &str) -> Result<Details, wit::ProgressError> {
    from_json_tracked::<Details>(text.as_bytes()).map_err(|e| {
        wit::ProgressError::InvalidUpdate(alloc::vec![field_error(FieldError::new(
            "/details",
            e.to_string()
        ))])
    })
}

fn update(u: wit::ProgressUpdate) -> Result<ProgressUpdate, wit::ProgressError> {
    let mut update = ProgressUpdate::new(u.current_step, u.progress_percent);
    if let Some(status) = u.status {
        update = update.with_status(status_from_wit(status));
    }
    if let Some(text) = u.details {
        update = update.with_details(details(&text)?);
    }
    Ok(update)
}

impl wit::Guest for Flowgate {
    type TaskProgress = Task;
}

impl wit::GuestTaskProgress for Task {
    fn new(task_id: String, user_id: i64, now_unix_ns: u64) -> Self {
        Task {
            progress: RefCell::new(TaskProgress::new(
                task_id,
                user_id,
                Duration::from_nanos(now_unix_ns),
            )),
        }
    }

    fn update(
        &self,
        user_id: i64,
        u: wit::ProgressUpdate,
        now_unix_ns: u64,
    ) -> Result<wit::ProgressStatus, wit::ProgressError> {
        let mut progress = self.progress.borrow_mut();
        progress.check_owner(user_id).map_err(progress_error)?;
        let u = update(u)?;
        let status = progress
            .apply(&u, Duration::from_nanos(now_unix_ns))
            .map_err(progress_error)?;
        Ok(snapshot(status))
    }

    fn status(&self, user_id: i64) -> Result<wit::ProgressStatus, wit::ProgressError> {
        let progress = self.progress.borrow();
        progress.check_owner(user_id).map_err(progress_error)?;
        Ok(snapshot(progress.status()))
    }

    fn eta(&self, now_unix_ns: u64) -> Option<u64> {
        let progress = self.progress.borrow();
        let eta = progress.status().eta_at(Duration::from_nanos(now_unix_ns));
        eta.map(flowgate_core::nanos)
    }
}
