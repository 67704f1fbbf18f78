//! The operator's overview.

use alloc::string::String;
use alloc::vec::Vec;

use crate::ratelimit::{Scope, Window};

/// `GET /api/v1/overview`: what an operator looks at first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    /// Seconds since the server started: the clock of the counts below (a client divides the
    /// change in decisions between two answers by the change in this).
    pub uptime: f64,
    /// Decisions allowed since the server started.
    pub allowed: u64,
    /// Decisions denied since the server started.
    pub denied: u64,
    /// The denials by the scope and window of the bucket that bound them (those with any).
    pub denials: Vec<Denials>,
    /// The keys denied most in the last five minutes, most first (at most 20).
    pub top_denied_keys: Vec<DeniedKey>,
    /// Tasks queued or running.
    pub open_tasks: i64,
    /// Open event streams of task progress.
    pub sse_subscribers: u64,
    /// Keys holding state in the server's own limiter (absent when buckets are in Redis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_keys: Option<u64>,
}

/// Denials bound by buckets of one scope and window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Denials {
    /// The scope.
    pub scope: Scope,
    /// The window.
    pub window: Window,
    /// How many.
    pub count: u64,
}

/// A key and how often it was denied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeniedKey {
    /// The key (under `FLOWGATE_KEY_NAMESPACE=user`, `u<user id>:<key>`).
    pub key: String,
    /// Its denials.
    pub denials: u64,
}
