//! The decision service, keys and the limits' history.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use core::time::Duration;

use crate::ratelimit::{BucketStatus, RateLimitConfig, Scope, Window};

/// One bucket of a decision or a key: times in seconds with millisecond precision, rounded up
/// (a client that waits this long is never early).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket {
    /// The scope whose limit it keeps.
    pub scope: Scope,
    /// Its window.
    pub window: Window,
    /// Its limit per window.
    pub limit: u32,
    /// What it holds when full.
    pub capacity: u32,
    /// Whole tokens left.
    pub remaining: u32,
    /// Seconds until full.
    pub reset_after: f64,
    /// Seconds until it holds the request's cost.
    pub retry_after: f64,
}

impl Bucket {
    /// The core's form of the bucket, to project it forward in time
    /// ([`BucketStatus::after`]); `None` when a time is negative or not finite.
    #[must_use]
    pub fn status(&self) -> Option<BucketStatus> {
        Some(BucketStatus {
            scope: self.scope,
            window: self.window,
            limit: self.limit,
            capacity: self.capacity,
            remaining: self.remaining,
            reset_after: Duration::try_from_secs_f64(self.reset_after).ok()?,
            retry_after: Duration::try_from_secs_f64(self.retry_after).ok()?,
        })
    }
}

/// `POST /api/v1/limits/check`: a decision. 200 whether allowed or not.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// Whether the request may go.
    pub allowed: bool,
    /// The binding bucket's limit per window.
    pub limit: u32,
    /// Whole tokens left in the binding bucket.
    pub remaining: u32,
    /// Seconds until the binding bucket is full.
    pub reset_after: f64,
    /// Seconds until the request would pass (0 when allowed).
    pub retry_after: f64,
    /// The binding bucket's scope: the one that denied, else the one with least left.
    pub scope: Scope,
    /// The binding bucket's window.
    pub window: Window,
    /// Every bucket that applied.
    pub buckets: Vec<Bucket>,
    /// Made by the failure mode (`FLOWGATE_REDIS_FAILURE`) without the shared buckets.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub degraded: bool,
}

/// A string of a request body, borrowed from it unless it has escapes. (serde borrows a `Cow`
/// field only when the field is the `Cow` itself, not inside an `Option`.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl core::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'static> {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

/// `POST /api/v1/limits/check`: may this request of `key` go now? Its strings are borrowed
/// from the body where they can be: the decision service reads one per request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckRequest<'a> {
    /// Whose requests are counted: a user, an account, an IP address.
    #[serde(borrow)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub key: Text<'a>,
    /// The endpoint called (`"media"`), for endpoint limits.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub endpoint: Option<Text<'a>>,
    /// The platform called (`"mastodon"`), for platform limits.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub platform: Option<Text<'a>>,
    /// What the request costs, in tokens (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
}

/// `GET /api/v1/limits/keys/{key}`: a key's buckets and how long a request would wait.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyState {
    /// The key.
    pub key: String,
    /// The limiter's clock, in seconds: time since the server started (buckets in process) or
    /// since the Unix epoch (buckets in Redis). Bucket times are relative to it.
    pub now: f64,
    /// Seconds until a request (with the query's endpoint, platform and cost) would pass.
    pub wait_time: f64,
    /// Every bucket that applies to such a request.
    pub buckets: Vec<Bucket>,
    /// Read from the failure mode's state because Redis is unreachable.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub degraded: bool,
}

/// `GET /api/v1/limits/history`: one version of the limits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// The version (the `ETag` it had).
    pub version: i64,
    /// Who stored it.
    pub changed_by: String,
    /// When (RFC 3339).
    pub changed_at: String,
    /// The limits of that version.
    pub limits: RateLimitConfig,
}
