//! Progress of long tasks (captioning a batch of images): validated updates, sequence numbers,
//! ownership, subscriptions and an ETA from the recent rate of progress.
//!
//! ```
//! use core::time::Duration;
//! use flowgate_core::progress::{ProgressTracker, ProgressUpdate, TaskStatus};
//!
//! let mut tracker = ProgressTracker::new();
//! let t = |s: u64| Duration::from_secs(1_700_000_000 + s);
//! tracker.add_task("task_123", 456, t(0))?;
//! let session = tracker.create_session("task_123", 456)?;
//! let mut watcher = tracker.subscribe(&session, 456)?;
//!
//! tracker.update("task_123", &ProgressUpdate::new("Processing images", 25), t(10))?;
//! tracker.update("task_123", &ProgressUpdate::new("Processing images", 50), t(20))?;
//! let status = tracker.get("task_123", 456)?;
//! assert_eq!((status.progress_percent, status.seq, status.status), (50, 2, TaskStatus::Running));
//! // 25 points per 10 s: the other half takes 20 s.
//! assert_eq!(status.eta, Some(Duration::from_secs(20)));
//! // A subscriber that fell behind gets the newest snapshot, not a backlog.
//! assert_eq!(tracker.poll(&mut watcher).map(|s| s.seq), Some(2));
//! assert_eq!(tracker.poll(&mut watcher), None);
//! # Ok::<(), flowgate_core::progress::Error>(())
//! ```

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use arrayvec::ArrayVec;

use crate::{FieldError, nanos};

/// A JSON object of free-form details (`{"images_processed": 5, "total_images": 20}`).
pub type Details = serde_json::Map<String, serde_json::Value>;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum TaskStatus {
    /// Created, not started.
    Queued,
    /// Being worked on.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped before finishing.
    Cancelled,
}

impl TaskStatus {
    /// Completed, failed or cancelled: no update may follow.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    /// The status's name in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `name`, if any.
    #[must_use]
    pub fn parse(name: &str) -> Option<TaskStatus> {
        [
            TaskStatus::Queued,
            TaskStatus::Running,
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task's progress at one moment. Times are what the caller passed as `now` (the server
/// passes time since the Unix epoch); `eta` is the estimated time left as of `updated_at`.
///
/// Its JSON form (the `serde` feature) is the server's: times as RFC 3339 in UTC with
/// microseconds ([`Rfc3339`](crate::Rfc3339)), `eta` in seconds:
///
/// ```json
/// {"task_id": "t1", "user_id": 7, "current_step": "Captioning", "progress_percent": 40,
///  "details": {}, "status": "running", "seq": 2, "started_at": "2026-12-04T07:42:45.123456Z",
///  "updated_at": "2026-12-04T07:43:05.000000Z", "eta": 30.0}
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProgressStatus {
    /// The task.
    pub task_id: String,
    /// Its owner.
    pub user_id: i64,
    /// What is being done now.
    pub current_step: String,
    /// 0 to 100.
    pub progress_percent: u8,
    /// Free-form details of the last update that gave any.
    pub details: Details,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// Increases by one per update; 0 for a new task.
    pub seq: u64,
    /// When the task first left `queued`.
    #[cfg_attr(feature = "serde", serde(with = "opt_rfc3339"))]
    pub started_at: Option<Duration>,
    /// When the last update (or the creation) happened.
    #[cfg_attr(feature = "serde", serde(with = "rfc3339"))]
    pub updated_at: Duration,
    /// Estimated time left, from the recent rate of progress; zero once completed, none when
    /// there is no rate to go by or the task failed or was cancelled.
    #[cfg_attr(feature = "serde", serde(with = "opt_secs"))]
    pub eta: Option<Duration>,
}

impl ProgressStatus {
    /// The estimated time left as of `now`: `eta` less the time since `updated_at`.
    #[must_use]
    pub fn eta_at(&self, now: Duration) -> Option<Duration> {
        let since = now.saturating_sub(self.updated_at);
        self.eta.map(|eta| eta.saturating_sub(since))
    }
}

/// One progress update, as workers send it:
/// `{"current_step": "Captioning", "progress_percent": 40, "details": {...}, "status": "running"}`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ProgressUpdate {
    /// What is being done now.
    pub current_step: String,
    /// 0 to 100 (wider here so that out-of-range values are reported, not wrapped).
    pub progress_percent: i64,
    /// Replaces the details when given.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub details: Option<Details>,
    /// The new status; without one, an update means `running`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub status: Option<TaskStatus>,
}

/// The most `details` may weigh, as compact JSON, in bytes: every update's details are stored
/// and streamed to every subscriber.
pub const MAX_DETAILS_LEN: usize = 16 * 1024;

/// The deepest `details` may nest (an object in an object is 2): deeper documents cost
/// recursion to read and write, and no progress report needs them.
pub const MAX_DETAILS_DEPTH: usize = 8;

/// The depth of a JSON value: 0 for a scalar, 1 for a flat object or array.
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => object_depth(map),
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// [`depth`] of an object.
fn object_depth(map: &Details) -> usize {
    1 + map.values().map(depth).max().unwrap_or(0)
}

/// The bytes `value` takes as compact JSON, counted without writing it (a serializer would
/// weigh on the npm package): exact but for fractional numbers, counted at their longest (24).
fn json_len(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => digits(u),
            (None, Some(i)) => 1 + digits(i.unsigned_abs()),
            _ => 24,
        },
        Value::String(s) => string_len(s),
        Value::Array(items) => {
            2 + items.len().saturating_sub(1) + items.iter().map(json_len).sum::<usize>()
        }
        Value::Object(map) => object_len(map),
    }
}

/// [`json_len`] of an object.
fn object_len(map: &Details) -> usize {
    2 + map.len().saturating_sub(1)
        + map
            .iter()
            .map(|(k, v)| string_len(k) + 1 + json_len(v))
            .sum::<usize>()
}

/// A string's length in JSON, quotes and escapes included.
fn string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// The decimal digits of `n`.
fn digits(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// The longest `current_step` accepted, in bytes.
pub const MAX_STEP_LEN: usize = 1_000;

impl ProgressUpdate {
    /// A `running` update at `percent` with no details.
    #[must_use]
    pub fn new(step: impl Into<String>, percent: i64) -> Self {
        ProgressUpdate {
            current_step: step.into(),
            progress_percent: percent,
            details: None,
            status: None,
        }
    }

    /// The same update with `status`.
    #[must_use]
    pub fn with_status(mut self, status: TaskStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// The same update with `details`.
    #[must_use]
    pub fn with_details(mut self, details: Details) -> Self {
        self.details = Some(details);
        self
    }

    /// Every problem in the update itself (the task's state aside).
    ///
    /// # Errors
    /// [`Error::InvalidUpdate`]: a percent outside 0..=100, a step over [`MAX_STEP_LEN`] or
    /// holding U+0000, details over [`MAX_DETAILS_LEN`] bytes or [`MAX_DETAILS_DEPTH`] levels.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if !(0..=100).contains(&self.progress_percent) {
            errors.push(FieldError::new(
                "/progress_percent",
                alloc::format!("must be between 0 and 100, got {}", self.progress_percent),
            ));
        }
        if self.current_step.len() > MAX_STEP_LEN {
            errors.push(FieldError::new(
                "/current_step",
                alloc::format!("must be at most {MAX_STEP_LEN} bytes"),
            ));
        }
        // Text databases refuse U+0000 (PostgreSQL does), and no step needs it.
        if self.current_step.contains('\0') {
            errors.push(FieldError::new(
                "/current_step",
                "must not contain U+0000 (NUL)",
            ));
        }
        if let Some(details) = &self.details {
            if object_depth(details) > MAX_DETAILS_DEPTH {
                errors.push(FieldError::new(
                    "/details",
                    alloc::format!("must nest at most {MAX_DETAILS_DEPTH} levels deep"),
                ));
            } else if object_len(details) > MAX_DETAILS_LEN {
                errors.push(FieldError::new(
                    "/details",
                    alloc::format!("must be at most {MAX_DETAILS_LEN} bytes of JSON"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidUpdate(errors))
        }
    }
}

/// How many recent updates the ETA looks at.
const ETA_SAMPLES: usize = 8;

/// One task's progress model: its status and the recent samples its ETA comes from. This is
/// the state machine; [`ProgressTracker`] keeps many of them with owners and subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskProgress {
    status: ProgressStatus,
    /// (time in ns, percent) of recent updates, oldest first.
    samples: ArrayVec<(u64, u8), ETA_SAMPLES>,
}

impl TaskProgress {
    /// A `queued` task at 0% created at `now`.
    #[must_use]
    pub fn new(task_id: impl Into<String>, user_id: i64, now: Duration) -> Self {
        TaskProgress {
            status: ProgressStatus {
                task_id: task_id.into(),
                user_id,
                current_step: String::new(),
                progress_percent: 0,
                details: Details::new(),
                status: TaskStatus::Queued,
                seq: 0,
                started_at: None,
                updated_at: now,
                eta: None,
            },
            samples: ArrayVec::new(),
        }
    }

    /// Resumes the model from a stored status (the ETA restarts from this point).
    #[must_use]
    pub fn from_status(status: ProgressStatus) -> Self {
        let mut samples = ArrayVec::new();
        if status.status == TaskStatus::Running {
            samples.push((nanos(status.updated_at), status.progress_percent));
        }
        TaskProgress { status, samples }
    }

    /// The current status.
    #[must_use]
    pub fn status(&self) -> &ProgressStatus {
        &self.status
    }

    /// Whether `user_id` owns the task: only its owner may update, read or watch it.
    ///
    /// # Errors
    /// [`Error::NotOwner`] for anyone else.
    pub fn check_owner(&self, user_id: i64) -> Result<(), Error> {
        if self.status.user_id == user_id {
            Ok(())
        } else {
            Err(Error::NotOwner)
        }
    }

    /// Applies `update` at `now`; on success `seq` has grown by one.
    ///
    /// # Errors
    /// [`Error::InvalidUpdate`] for a bad percent or step; [`Error::Finished`] after a terminal
    /// status; [`Error::BackToQueued`] for `queued` once the task has started. The status is
    /// unchanged on error.
    pub fn apply(
        &mut self,
        update: &ProgressUpdate,
        now: Duration,
    ) -> Result<&ProgressStatus, Error> {
        update.validate()?;
        let current = self.status.status;
        if current.is_terminal() {
            return Err(Error::Finished { status: current });
        }
        let next = update.status.unwrap_or(TaskStatus::Running);
        if next == TaskStatus::Queued && current != TaskStatus::Queued {
            return Err(Error::BackToQueued);
        }
        // Validated above: 0..=100 fits a u8.
        let percent = u8::try_from(update.progress_percent).unwrap_or(100);
        let s = &mut self.status;
        s.current_step.clone_from(&update.current_step);
        s.progress_percent = percent;
        if let Some(details) = &update.details {
            s.details.clone_from(details);
        }
        s.status = next;
        s.seq += 1;
        s.updated_at = now;
        if next != TaskStatus::Queued && s.started_at.is_none() {
            s.started_at = Some(now);
        }
        self.record_sample(nanos(now), percent);
        self.status.eta = match next {
            TaskStatus::Completed => Some(Duration::ZERO),
            TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Queued => None,
            TaskStatus::Running => self.estimate(),
        };
        Ok(&self.status)
    }

    fn record_sample(&mut self, at: u64, percent: u8) {
        // Progress that went backwards (a re-estimate) makes the old rate meaningless.
        if self.samples.last().is_some_and(|&(_, p)| p > percent) {
            self.samples.clear();
        }
        if self.samples.is_full() {
            self.samples.remove(0);
        }
        self.samples.push((at, percent));
    }

    /// Time left at the rate between the oldest and newest recent samples.
    fn estimate(&self) -> Option<Duration> {
        let (&(t0, p0), &(t1, p1)) = (self.samples.first()?, self.samples.last()?);
        if p1 >= 100 {
            return Some(Duration::ZERO);
        }
        if p1 <= p0 || t1 <= t0 {
            return None;
        }
        // left = (100 − p1) · elapsed / gained, in integer nanoseconds.
        let left = u128::from(100 - p1) * u128::from(t1 - t0) / u128::from(p1 - p0);
        Some(Duration::from_nanos(
            u64::try_from(left).unwrap_or(u64::MAX),
        ))
    }
}

type Callback = Box<dyn FnMut(&ProgressStatus) + Send>;

struct Tracked {
    progress: TaskProgress,
    callbacks: Vec<Callback>,
}

/// Where a subscriber is: the last `seq` it has seen of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    task_id: String,
    seen: Option<u64>,
}

impl Subscription {
    /// The task watched.
    #[must_use]
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The last `seq` delivered, if any.
    #[must_use]
    pub fn last_seq(&self) -> Option<u64> {
        self.seen
    }
}

/// The progress of many tasks with their owners, subscribers and callbacks. The caller owns it
/// (no locks inside); share it behind a mutex, or, as the server does, keep the state in a
/// database and use [`TaskProgress`] per update.
#[derive(Default)]
pub struct ProgressTracker {
    tasks: BTreeMap<String, Tracked>,
}

impl fmt::Debug for ProgressTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressTracker")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl ProgressTracker {
    /// No tasks yet.
    #[must_use]
    pub fn new() -> Self {
        ProgressTracker::default()
    }

    /// Adds a `queued` task owned by `user_id`.
    ///
    /// # Errors
    /// [`Error::TaskExists`] if the id is taken.
    pub fn add_task(
        &mut self,
        task_id: &str,
        user_id: i64,
        now: Duration,
    ) -> Result<&ProgressStatus, Error> {
        if self.tasks.contains_key(task_id) {
            return Err(Error::TaskExists);
        }
        let tracked = Tracked {
            progress: TaskProgress::new(task_id, user_id, now),
            callbacks: Vec::new(),
        };
        Ok(self
            .tasks
            .entry(task_id.to_string())
            .or_insert(tracked)
            .progress
            .status())
    }

    fn owned(&self, task_id: &str, user_id: i64) -> Result<&Tracked, Error> {
        let tracked = self.tasks.get(task_id).ok_or(Error::UnknownTask)?;
        tracked.progress.check_owner(user_id)?;
        Ok(tracked)
    }

    /// Opens a progress session on `user_id`'s task; the session id is the task id.
    ///
    /// # Errors
    /// [`Error::UnknownTask`], or [`Error::NotOwner`] for another user's task.
    pub fn create_session(&self, task_id: &str, user_id: i64) -> Result<String, Error> {
        self.owned(task_id, user_id)?;
        Ok(task_id.to_string())
    }

    /// Applies an update and tells the task's callbacks.
    ///
    /// # Errors
    /// [`Error::UnknownTask`], or what [`TaskProgress::apply`] says.
    pub fn update(
        &mut self,
        task_id: &str,
        update: &ProgressUpdate,
        now: Duration,
    ) -> Result<ProgressStatus, Error> {
        let tracked = self.tasks.get_mut(task_id).ok_or(Error::UnknownTask)?;
        let status = tracked.progress.apply(update, now)?.clone();
        for callback in &mut tracked.callbacks {
            callback(&status);
        }
        Ok(status)
    }

    /// The task's status, for its owner only.
    ///
    /// # Errors
    /// [`Error::UnknownTask`], or [`Error::NotOwner`].
    pub fn get(&self, task_id: &str, user_id: i64) -> Result<&ProgressStatus, Error> {
        Ok(self.owned(task_id, user_id)?.progress.status())
    }

    /// Starts watching the task: the first [`poll`](Self::poll) gives the current snapshot.
    ///
    /// # Errors
    /// [`Error::UnknownTask`], or [`Error::NotOwner`].
    pub fn subscribe(&self, task_id: &str, user_id: i64) -> Result<Subscription, Error> {
        self.owned(task_id, user_id)?;
        Ok(Subscription {
            task_id: task_id.to_string(),
            seen: None,
        })
    }

    /// The newest snapshot if it is newer than what `subscription` has seen. A subscriber that
    /// fell behind skips straight to the newest: state is never lost, intermediate steps may be.
    pub fn poll(&self, subscription: &mut Subscription) -> Option<ProgressStatus> {
        let status = self.tasks.get(&subscription.task_id)?.progress.status();
        if subscription.seen.is_some_and(|seen| seen >= status.seq) {
            return None;
        }
        subscription.seen = Some(status.seq);
        Some(status.clone())
    }

    /// Calls `callback` with every later update of the task.
    ///
    /// # Errors
    /// [`Error::UnknownTask`].
    pub fn register_callback(
        &mut self,
        task_id: &str,
        callback: impl FnMut(&ProgressStatus) + Send + 'static,
    ) -> Result<(), Error> {
        let tracked = self.tasks.get_mut(task_id).ok_or(Error::UnknownTask)?;
        tracked.callbacks.push(Box::new(callback));
        Ok(())
    }

    /// Forgets the task and its callbacks; returns its last status.
    pub fn remove(&mut self, task_id: &str) -> Option<ProgressStatus> {
        self.tasks.remove(task_id).map(|t| t.progress.status)
    }

    /// How many tasks are tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// No task is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// What can go wrong tracking progress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The update itself is invalid.
    InvalidUpdate(Vec<FieldError>),
    /// The task already ended with this status; no update may follow.
    Finished {
        /// The terminal status.
        status: TaskStatus,
    },
    /// A started task cannot go back to `queued`.
    BackToQueued,
    /// No such task.
    UnknownTask,
    /// The task belongs to another user.
    NotOwner,
    /// A task with this id exists already.
    TaskExists,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUpdate(errors) => {
                crate::field::write_errors(f, "invalid progress update", errors)
            }
            Error::Finished { status } => {
                write!(f, "the task is already {status}; no update may follow")
            }
            Error::BackToQueued => f.write_str("a started task cannot go back to queued"),
            Error::UnknownTask => f.write_str("no such task"),
            Error::NotOwner => f.write_str("the task belongs to another user"),
            Error::TaskExists => f.write_str("a task with this id exists already"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod details_tests {
    use super::*;
    use serde_json::json;

    fn with(details: serde_json::Value) -> Result<(), Error> {
        let serde_json::Value::Object(map) = details else {
            panic!("details are an object")
        };
        ProgressUpdate::new("step", 10).with_details(map).validate()
    }

    #[test]
    fn details_are_measured_as_serde_json_writes_them() {
        for value in [
            json!({}),
            json!({"a": [1, -20, true, false, null, "x\"y\\z\n\u{1}é"], "b": {"c": []}}),
            json!({"n": u64::MAX, "m": i64::MIN, "s": "\t\r\u{8}\u{c}"}),
        ] {
            assert_eq!(
                json_len(&value),
                serde_json::to_string(&value).unwrap().len(),
                "{value}"
            );
        }
        assert!(json_len(&json!(0.1)) >= serde_json::to_string(&json!(0.1)).unwrap().len());
    }

    #[test]
    fn details_are_bounded_in_bytes_and_in_depth() {
        assert!(with(json!({"images": 4, "done": [1, 2, {"ok": true}]})).is_ok());
        let mut deep = json!(1);
        for _ in 0..MAX_DETAILS_DEPTH {
            deep = json!({ "a": deep });
        }
        assert!(with(deep.clone()).is_ok(), "exactly the deepest allowed");
        let Err(Error::InvalidUpdate(e)) = with(json!({ "a": deep })) else {
            panic!("one level too deep")
        };
        assert_eq!(e[0].pointer, "/details");
        let big = "x".repeat(MAX_DETAILS_LEN);
        let Err(Error::InvalidUpdate(e)) = with(json!({ "note": big })) else {
            panic!("too big")
        };
        assert!(e[0].detail.contains("bytes"), "{}", e[0].detail);
    }
}

#[cfg(feature = "serde")]
mod rfc3339 {
    use core::time::Duration;

    use crate::Rfc3339;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Rfc3339(*d))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        let text = <alloc::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Rfc3339::parse(&text).map(|t| t.0).ok_or_else(|| {
            serde::de::Error::custom("must be an RFC 3339 time, such as 2026-12-04T07:42:45Z")
        })
    }
}

#[cfg(feature = "serde")]
mod opt_rfc3339 {
    use core::time::Duration;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Time(#[serde(with = "super::rfc3339")] Duration);

    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&d.map(Time), s)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(<Option<Time> as serde::Deserialize>::deserialize(d)?.map(|t| t.0))
    }
}

#[cfg(feature = "serde")]
mod opt_secs {
    use core::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match <Option<f64> as serde::Deserialize>::deserialize(d)? {
            None => Ok(None),
            Some(secs) => crate::duration_from_secs_f64(secs)
                .map(Some)
                .ok_or_else(|| {
                    serde::de::Error::custom("must be a finite number of seconds, 0 or more")
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicU64, Ordering};

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn reference_usage_example() {
        let mut tracker = ProgressTracker::new();
        tracker.add_task("task_123", 456, at(0)).unwrap();
        assert_eq!(tracker.create_session("task_123", 456).unwrap(), "task_123");
        let mut details = Details::new();
        details.insert("images_processed".into(), 5.into());
        details.insert("total_images".into(), 20.into());
        let seen = Arc::new(AtomicU64::new(0));
        let seen_by_callback = Arc::clone(&seen);
        tracker
            .register_callback("task_123", move |s| {
                seen_by_callback.store(u64::from(s.progress_percent), Ordering::Relaxed)
            })
            .unwrap();
        tracker
            .update(
                "task_123",
                &ProgressUpdate::new("Processing images", 25).with_details(details),
                at(5),
            )
            .unwrap();
        let progress = tracker.get("task_123", 456).unwrap();
        assert_eq!(
            (progress.progress_percent, progress.current_step.as_str()),
            (25, "Processing images")
        );
        assert_eq!(progress.details["total_images"], 20);
        assert_eq!(seen.load(Ordering::Relaxed), 25);
    }

    #[test]
    fn sessions_and_reads_are_for_the_owner_only() {
        let mut tracker = ProgressTracker::new();
        tracker.add_task("t", 1, at(0)).unwrap();
        assert_eq!(tracker.create_session("t", 2), Err(Error::NotOwner));
        assert_eq!(tracker.create_session("nope", 1), Err(Error::UnknownTask));
        assert_eq!(tracker.get("t", 2).unwrap_err(), Error::NotOwner);
        assert_eq!(tracker.subscribe("t", 2).unwrap_err(), Error::NotOwner);
        assert_eq!(
            tracker.add_task("t", 1, at(0)).unwrap_err(),
            Error::TaskExists
        );
    }

    #[test]
    fn updates_count_up_and_set_times() {
        let mut p = TaskProgress::new("t", 1, at(100));
        assert_eq!(
            (p.status().status, p.status().seq, p.status().started_at),
            (TaskStatus::Queued, 0, None)
        );
        p.apply(
            &ProgressUpdate::new("waiting", 0).with_status(TaskStatus::Queued),
            at(101),
        )
        .unwrap();
        assert_eq!((p.status().seq, p.status().started_at), (1, None));
        p.apply(&ProgressUpdate::new("captioning", 10), at(102))
            .unwrap();
        assert_eq!(
            (p.status().status, p.status().seq, p.status().started_at),
            (TaskStatus::Running, 2, Some(at(102)))
        );
        p.apply(
            &ProgressUpdate::new("done", 100).with_status(TaskStatus::Completed),
            at(110),
        )
        .unwrap();
        assert_eq!(
            (p.status().updated_at, p.status().eta),
            (at(110), Some(Duration::ZERO))
        );
    }

    #[test]
    fn invalid_updates_change_nothing() {
        let mut p = TaskProgress::new("t", 1, at(0));
        p.apply(&ProgressUpdate::new("a", 10), at(1)).unwrap();
        let before = p.clone();
        for bad in [101, -1, i64::MAX] {
            let err = p.apply(&ProgressUpdate::new("a", bad), at(2)).unwrap_err();
            assert!(
                matches!(err, Error::InvalidUpdate(ref e) if e[0].pointer == "/progress_percent"),
                "{bad}"
            );
        }
        assert!(
            p.apply(&ProgressUpdate::new("x".repeat(MAX_STEP_LEN + 1), 5), at(2))
                .is_err()
        );
        assert_eq!(
            p.apply(
                &ProgressUpdate::new("a", 5).with_status(TaskStatus::Queued),
                at(2)
            ),
            Err(Error::BackToQueued)
        );
        assert_eq!(p, before);
    }

    #[test]
    fn no_update_after_a_terminal_status() {
        for terminal in [
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ] {
            let mut p = TaskProgress::new("t", 1, at(0));
            p.apply(&ProgressUpdate::new("end", 50).with_status(terminal), at(1))
                .unwrap();
            assert_eq!(
                p.apply(&ProgressUpdate::new("again", 60), at(2)),
                Err(Error::Finished { status: terminal })
            );
            assert_eq!(p.status().seq, 1);
        }
    }

    #[test]
    fn eta_follows_the_recent_rate() {
        let mut p = TaskProgress::new("t", 1, at(0));
        p.apply(&ProgressUpdate::new("s", 10), at(10)).unwrap();
        assert_eq!(p.status().eta, None, "one sample gives no rate");
        p.apply(&ProgressUpdate::new("s", 20), at(20)).unwrap();
        assert_eq!(p.status().eta, Some(at(80)));
        assert_eq!(p.status().eta_at(at(50)), Some(at(50)));
        // Faster lately: only the last ETA_SAMPLES updates count.
        for i in 0..ETA_SAMPLES as u64 {
            p.apply(&ProgressUpdate::new("s", 30 + 5 * i as i64), at(21 + i))
                .unwrap();
        }
        // 8 samples over 7 s gained 35 points: 5 points/s, 35 points left.
        assert_eq!(p.status().eta, Some(at(7)));
        // Going backwards forgets the rate.
        p.apply(&ProgressUpdate::new("s", 10), at(40)).unwrap();
        assert_eq!(p.status().eta, None);
        p.apply(&ProgressUpdate::new("s", 10), at(50)).unwrap();
        assert_eq!(p.status().eta, None, "no progress gives no rate");
    }

    #[test]
    fn a_subscriber_that_falls_behind_skips_to_the_newest() {
        let mut tracker = ProgressTracker::new();
        tracker.add_task("t", 1, at(0)).unwrap();
        let mut sub = tracker.subscribe("t", 1).unwrap();
        assert_eq!(tracker.poll(&mut sub).map(|s| s.seq), Some(0));
        for pct in [10, 20, 30] {
            tracker
                .update("t", &ProgressUpdate::new("s", pct), at(pct as u64))
                .unwrap();
        }
        let next = tracker.poll(&mut sub).unwrap();
        assert_eq!((next.seq, next.progress_percent), (3, 30));
        assert_eq!(sub.last_seq(), Some(3));
        assert_eq!(tracker.poll(&mut sub), None);
        assert_eq!(tracker.remove("t").map(|s| s.seq), Some(3));
        assert!(tracker.is_empty());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_form_uses_snake_case_and_rfc3339() {
        let mut p = TaskProgress::new("t", 1, Duration::from_millis(1500));
        p.apply(
            &serde_json::from_str(
                r#"{"current_step":"a","progress_percent":5,"status":"running"}"#,
            )
            .unwrap(),
            at(2),
        )
        .unwrap();
        let json = serde_json::to_value(p.status()).unwrap();
        assert_eq!(json["status"], "running");
        assert_eq!(json["updated_at"], "1970-01-01T00:00:02.000000Z");
        assert!(
            serde_json::from_str::<ProgressUpdate>(
                r#"{"current_step":"a","progress_percent":5,"extra":1}"#
            )
            .is_err()
        );
    }

    /// The JSON form is the server's: RFC 3339 times, `eta` in seconds; it reads back as it was.
    #[cfg(feature = "serde")]
    #[test]
    fn the_json_form_has_rfc3339_times_and_reads_back() {
        let start = Duration::new(1_764_834_165, 123_456_000);
        let mut task = TaskProgress::new("t1", 7, start);
        let update = ProgressUpdate {
            current_step: "Captioning".into(),
            progress_percent: 40,
            details: None,
            status: None,
        };
        task.apply(&update, start + Duration::from_secs(20))
            .unwrap();
        let later = ProgressUpdate {
            progress_percent: 60,
            ..update
        };
        task.apply(&later, start + Duration::from_secs(30)).unwrap();
        let status = task.status().clone();
        let json = serde_json::to_value(&status).unwrap();
        // Started by its first update.
        assert_eq!(json["started_at"], "2025-12-04T07:43:05.123456Z");
        assert_eq!(json["updated_at"], "2025-12-04T07:43:15.123456Z");
        // 20 points in 10 s, 40 left.
        assert_eq!(json["eta"], 20.0, "{json}");
        let back: ProgressStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
        let queued = TaskProgress::new("t2", 7, start).status().clone();
        let json = serde_json::to_value(&queued).unwrap();
        assert!(json["started_at"].is_null(), "{json}");
        assert_eq!(
            serde_json::from_value::<ProgressStatus>(json).unwrap(),
            queued
        );
        let mut bad = serde_json::to_value(&queued).unwrap();
        bad["updated_at"] = serde_json::json!(1_764_834_165.0);
        assert!(serde_json::from_value::<ProgressStatus>(bad).is_err());
    }
}
