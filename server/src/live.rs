//! Tasks and their live progress: every update is validated by the core's model, stored, and
//! only then published to the task's subscribers.
//!
//! Each task being watched or worked on has a slot: a lock that orders its updates, the core's
//! [`TaskProgress`] (which keeps the recent samples its ETA comes from), and a
//! `tokio::sync::watch` channel holding the newest snapshot, already serialised. A watch channel
//! is exactly the delivery the SSE contract asks for: a subscriber that keeps up sees every
//! snapshot in order, one that falls behind finds the newest waiting (never a backlog, never a
//! lost final state), and a slow subscriber never slows the publisher or anyone else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flowgate_core::api::{Task, TaskUpdate};
use flowgate_core::progress::{ProgressStatus, ProgressUpdate, TaskProgress, TaskStatus};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::store::Store;
use crate::store::tasks::TaskRow;

/// The newest state of a task, serialised once for every subscriber.
#[derive(Debug)]
pub struct Snapshot {
    /// Its sequence number.
    pub seq: u64,
    /// Whether the task has ended.
    pub terminal: bool,
    /// The [`Task`] as JSON.
    pub json: String,
}

/// A task's state between updates.
#[derive(Debug, Clone)]
struct TaskState {
    progress: TaskProgress,
    platform_connection_id: Option<i64>,
    settings: serde_json::Value,
    error_message: Option<String>,
    created_at: String,
    completed_at: Option<String>,
}

/// A stored time (RFC 3339) as time since the Unix epoch, read by the core's rule.
fn since_epoch(rfc3339: &str) -> anyhow::Result<Duration> {
    flowgate_core::Rfc3339::parse(rfc3339)
        .map(|t| t.0)
        .ok_or_else(|| anyhow::anyhow!("{rfc3339:?} is not an RFC 3339 time"))
}

fn rfc3339(since_epoch: Duration) -> String {
    flowgate_core::Rfc3339(since_epoch).to_string()
}

/// Wall-clock time since the Unix epoch: what progress times are kept in.
pub(crate) fn wall_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

impl TaskState {
    fn from_row(row: TaskRow) -> anyhow::Result<TaskState> {
        let status = TaskStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("task {} has status {:?}", row.id, row.status))?;
        let progress = ProgressStatus {
            task_id: row.id,
            user_id: row.user_id,
            current_step: row.current_step,
            progress_percent: u8::try_from(row.progress_percent.clamp(0, 100)).unwrap_or(0),
            details: serde_json::from_str(&row.details)?,
            status,
            seq: u64::try_from(row.seq).unwrap_or(0),
            started_at: row.started_at.as_deref().map(since_epoch).transpose()?,
            updated_at: since_epoch(&row.updated_at)?,
            eta: row
                .eta_seconds
                .and_then(flowgate_core::duration_from_secs_f64),
        };
        Ok(TaskState {
            progress: TaskProgress::from_status(progress),
            platform_connection_id: row.platform_connection_id,
            settings: serde_json::from_str(&row.settings)?,
            error_message: row.error_message,
            created_at: row.created_at,
            completed_at: row.completed_at,
        })
    }

    /// The task as stored.
    fn row(&self) -> TaskRow {
        let s = self.progress.status();
        TaskRow {
            id: s.task_id.clone(),
            user_id: s.user_id,
            platform_connection_id: self.platform_connection_id,
            settings: self.settings.to_string(),
            status: s.status.as_str().to_string(),
            progress_percent: i64::from(s.progress_percent),
            current_step: s.current_step.clone(),
            details: serde_json::Value::Object(s.details.clone()).to_string(),
            seq: i64::try_from(s.seq).unwrap_or(i64::MAX),
            eta_seconds: s.eta.map(|d| d.as_secs_f64()),
            error_message: self.error_message.clone(),
            created_at: self.created_at.clone(),
            started_at: s.started_at.map(rfc3339),
            updated_at: rfc3339(s.updated_at),
            completed_at: self.completed_at.clone(),
        }
    }

    fn json(&self) -> Task {
        let s = self.progress.status();
        Task {
            task_id: s.task_id.clone(),
            user_id: s.user_id,
            platform_connection_id: self.platform_connection_id,
            current_step: s.current_step.clone(),
            progress_percent: s.progress_percent,
            details: s.details.clone(),
            status: s.status,
            seq: s.seq,
            eta: s.eta.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
            error_message: self.error_message.clone(),
            settings: self.settings.clone(),
            created_at: self.created_at.clone(),
            started_at: s.started_at.map(rfc3339),
            updated_at: rfc3339(s.updated_at),
            completed_at: self.completed_at.clone(),
        }
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        let s = self.progress.status();
        Ok(Arc::new(Snapshot {
            seq: s.seq,
            terminal: s.status.is_terminal(),
            json: serde_json::to_string(&self.json())?,
        }))
    }
}

/// What an update answers when the stored task moved on under it.
const CHANGED_MEANWHILE: &str = "the task changed meanwhile; read it and try again";

/// A task being watched or worked on.
struct Slot {
    /// The task's owner (it never changes).
    user_id: i64,
    /// Orders the task's updates; held across the database write, so it is tokio's.
    task: tokio::sync::Mutex<TaskState>,
    tx: watch::Sender<Arc<Snapshot>>,
}

/// The live tasks: a slot for each task being watched or updated right now, and no other
/// (an idle task is read again from the database when next needed).
pub struct Live {
    // A std lock: held only to find or insert a slot, never across an await.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// The most slots at once (`FLOWGATE_MAX_LIVE_TASKS`).
    max: usize,
    /// Event streams open per user.
    streams: Arc<Mutex<HashMap<i64, usize>>>,
    /// The most event streams one user may hold open (`FLOWGATE_MAX_STREAMS_PER_USER`).
    max_streams: usize,
}

/// One open event stream, counted against its user until dropped.
pub struct StreamTicket {
    streams: Arc<Mutex<HashMap<i64, usize>>>,
    user_id: i64,
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = streams.get_mut(&self.user_id) {
            *open -= 1;
            if *open == 0 {
                streams.remove(&self.user_id);
            }
        }
    }
}

impl Live {
    /// No slots yet; at most `max` at once, and `max_streams` event streams per user.
    #[must_use]
    pub fn new(max: usize, max_streams: usize) -> Self {
        Live {
            slots: Mutex::default(),
            max,
            streams: Arc::default(),
            max_streams,
        }
    }

    /// Event streams open now, of every user.
    pub fn open_streams(&self) -> usize {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }

    /// Counts an event stream of `user_id` while the ticket lives.
    ///
    /// # Errors
    /// 429 when the user holds as many open as allowed.
    pub fn open_stream(&self, user_id: i64) -> Result<StreamTicket, ApiError> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let open = streams.entry(user_id).or_insert(0);
        if *open >= self.max_streams {
            return Err(ApiError::too_many(
                format!(
                    "you have {open} event streams open, the most allowed \
                     (FLOWGATE_MAX_STREAMS_PER_USER); close one first"
                ),
                1,
            ));
        }
        *open += 1;
        Ok(StreamTicket {
            streams: Arc::clone(&self.streams),
            user_id,
        })
    }
}

impl Live {
    /// The owner's task `id` as stored (404 for a missing or someone else's task).
    pub async fn load(store: &Store, id: &str, user_id: i64) -> Result<Task, ApiError> {
        Ok(Self::load_task(store, id, user_id).await?.json())
    }

    async fn load_task(store: &Store, id: &str, user_id: i64) -> Result<TaskState, ApiError> {
        // Task ids are UUIDs; anything else names no task, and is not worth a query.
        if uuid::Uuid::try_parse(id).is_err() {
            return Err(ApiError::NotFound("no such task"));
        }
        let row = store.tasks().get(id, user_id).await?;
        let row = row.ok_or(ApiError::NotFound("no such task"))?;
        Ok(TaskState::from_row(row)?)
    }

    /// The caller's tasks, newest first.
    pub async fn list(
        store: &Store,
        user_id: i64,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Task>, i64), ApiError> {
        let (rows, total) = store
            .tasks()
            .list(user_id, i64::from(limit), i64::from(offset))
            .await?;
        let tasks = rows
            .into_iter()
            .map(|r| TaskState::from_row(r).map(|t| t.json()))
            .collect::<anyhow::Result<_>>()?;
        Ok((tasks, total))
    }

    /// Creates a queued task.
    pub async fn create(
        store: &Store,
        user_id: i64,
        platform_connection_id: Option<i64>,
        settings: serde_json::Value,
    ) -> Result<Task, ApiError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = wall_now();
        let created_at = rfc3339(now);
        store
            .tasks()
            .create(
                &id,
                user_id,
                platform_connection_id,
                &settings.to_string(),
                &created_at,
            )
            .await?;
        let task = TaskState {
            progress: TaskProgress::new(id, user_id, since_epoch(&created_at).unwrap_or(now)),
            platform_connection_id,
            settings,
            error_message: None,
            created_at,
            completed_at: None,
        };
        Ok(task.json())
    }

    /// The slot of the owner's task `id`, loading it if nobody is watching it yet.
    async fn slot(&self, store: &Store, id: &str, user_id: i64) -> Result<Arc<Slot>, ApiError> {
        if let Some(slot) = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return if slot.user_id == user_id {
                Ok(Arc::clone(slot))
            } else {
                Err(ApiError::NotFound("no such task"))
            };
        }
        let task = Self::load_task(store, id, user_id).await?;
        let (tx, _) = watch::channel(task.snapshot()?);
        let fresh = Arc::new(Slot {
            user_id,
            task: tokio::sync::Mutex::new(task),
            tx,
        });
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= self.max && !slots.contains_key(id) {
            return Err(ApiError::Busy(
                "too many tasks are being watched or updated at once \
                 (FLOWGATE_MAX_LIVE_TASKS); try again shortly",
            ));
        }
        // Another request may have loaded it meanwhile: keep the first.
        Ok(Arc::clone(slots.entry(id.to_string()).or_insert(fresh)))
    }

    /// Subscribes to the owner's task: the receiver holds the current snapshot.
    pub async fn subscribe(
        &self,
        store: &Store,
        id: &str,
        user_id: i64,
    ) -> Result<watch::Receiver<Arc<Snapshot>>, ApiError> {
        Ok(self.slot(store, id, user_id).await?.tx.subscribe())
    }

    /// Applies an update: validated by the core, stored, then published. Returns the new state.
    pub async fn update(
        &self,
        store: &Store,
        id: &str,
        user_id: i64,
        body: TaskUpdate,
    ) -> Result<Task, ApiError> {
        if let Some(message) = &body.error_message {
            if message.len() > 4_000 {
                return Err(ApiError::field(
                    "/error_message",
                    "must be at most 4000 bytes",
                ));
            }
            if message.contains('\0') {
                return Err(ApiError::field(
                    "/error_message",
                    "must not contain U+0000 (NUL)",
                ));
            }
        }
        let slot = self.slot(store, id, user_id).await?;
        let mut result = Self::apply(&slot, store, body.clone()).await;
        // Another server stored an update this slot had not heard of yet: catch up with it
        // and apply this one on top, as if it had come after (which it did).
        for _ in 0..3 {
            if !matches!(result, Err(ApiError::Conflict(ref m)) if m == CHANGED_MEANWHILE) {
                break;
            }
            Self::catch_up(&slot, store, id).await?;
            result = Self::apply(&slot, store, body.clone()).await;
        }
        // A task needs no slot once nobody watches it and no other update is under way: the
        // next update or subscriber reads it again from the database.
        drop(slot);
        self.forget_if_idle(id);
        result
    }

    async fn apply(slot: &Slot, store: &Store, body: TaskUpdate) -> Result<Task, ApiError> {
        let mut task = slot.task.lock().await;
        let mut next = task.clone();
        let update = ProgressUpdate {
            current_step: body.current_step,
            progress_percent: body.progress_percent,
            details: body.details,
            status: body.status,
        };
        let now = wall_now();
        next.progress.apply(&update, now)?;
        let status = next.progress.status().status;
        if status.is_terminal() {
            next.completed_at = Some(rfc3339(now));
        }
        if body.error_message.is_some() {
            next.error_message = body.error_message;
        }
        let seq_before = i64::try_from(task.progress.status().seq).unwrap_or(i64::MAX);
        if !store.tasks().update(&next.row(), seq_before).await? {
            // Updates of a task go through its slot, so only a second server on the same
            // database gets here: [`Live::update`] catches up and tries again.
            return Err(ApiError::Conflict(CHANGED_MEANWHILE.into()));
        }
        let json = next.json();
        *task = next;
        // Stored first, published second: a subscriber never sees what a crash could lose.
        slot.tx.send_replace(task.snapshot()?);
        Ok(json)
    }

    /// Reads task `id` again (another server stored an update) and publishes it to this
    /// server's subscribers if it is newer than what they have. Nothing to do for a task
    /// nobody here watches or works on.
    pub async fn reload(&self, store: &Store, id: &str) -> Result<(), ApiError> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        if let Some(slot) = slot {
            Self::catch_up(&slot, store, id).await?;
        }
        Ok(())
    }

    /// Brings a slot up to the stored task, publishing it when it is newer.
    async fn catch_up(slot: &Slot, store: &Store, id: &str) -> Result<(), ApiError> {
        let mut task = slot.task.lock().await;
        let Some(row) = store.tasks().get(id, slot.user_id).await? else {
            return Ok(());
        };
        if u64::try_from(row.seq).unwrap_or(0) <= task.progress.status().seq {
            return Ok(());
        }
        *task = TaskState::from_row(row)?;
        slot.tx.send_replace(task.snapshot()?);
        Ok(())
    }

    /// The tasks with a slot here.
    pub fn watched(&self) -> Vec<String> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Drops a task's slot once nobody watches it and no update holds it, finished or not.
    pub fn forget_if_idle(&self, id: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it (updates hold a clone while they run).
        if let Some(slot) = slots.get(id)
            && slot.tx.receiver_count() == 0
            && Arc::strong_count(slot) == 1
        {
            slots.remove(id);
        }
    }

    /// How many tasks have a slot (for tests of the clean-up).
    pub fn slots(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The core's RFC 3339 (which the WebAssembly component shows too) is jiff's, to the
        /// microsecond, for any time up to the year 9999.
        #[test]
        fn times_read_as_jiff_writes_them(secs in 0u64..253_402_300_800, nanos in 0u32..1_000_000_000) {
            let t = jiff::Timestamp::new(secs as i64, nanos as i32).unwrap();
            prop_assert_eq!(rfc3339(Duration::new(secs, nanos)), crate::store::rfc3339(t));
            let micros = Duration::new(secs, nanos / 1_000 * 1_000);
            prop_assert_eq!(since_epoch(&rfc3339(micros)).unwrap(), micros);
            // And the core reads jiff's own form, whatever its fraction.
            prop_assert_eq!(since_epoch(&t.to_string()).unwrap(), Duration::new(secs, nanos));
        }
    }
}
