//! Where the buckets live: [`Backend`], in process by default.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::sync::Arc;
use std::time::Instant;

use flowgate_core::ratelimit::{self, Decision, RateLimitConfig, RateLimiter, Request};

/// Why a backend gave no decision. The layer answers 503 with `Retry-After`, or lets the
/// request through when built with [`fail_open`](crate::RateLimitLayer::fail_open).
#[derive(Debug)]
#[non_exhaustive]
pub enum BackendError {
    /// The request could never pass (a cost of 0, or more than a bucket holds): the
    /// configuration's fault, answered 500.
    Limit(ratelimit::Error),
    /// The store is unreachable or failed (Redis down): answered 503.
    Unavailable(String),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Limit(e) => write!(f, "{e}"),
            BackendError::Unavailable(e) => write!(f, "the limiter's store is unavailable: {e}"),
        }
    }
}

impl std::error::Error for BackendError {}

/// Decides requests for keys: checks every bucket that applies to `request` and, when all
/// hold its cost, spends it from each.
pub trait Backend: Send + Sync + 'static {
    /// The decision's future.
    type Future: Future<Output = Result<Decision, BackendError>> + Send + 'static;

    /// Decides `request` for `key` now.
    fn decide(&self, key: String, request: Owned) -> Self::Future;
}

/// A request's endpoint, platform and cost, owned so that a backend's future can keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    /// The endpoint, as limits name it.
    pub endpoint: Option<String>,
    /// The platform, as limits name it.
    pub platform: Option<String>,
    /// Units the request spends (1 unless the layer's cost closure says otherwise).
    pub cost: u32,
}

impl Owned {
    /// The core's view of it.
    #[must_use]
    pub fn as_request(&self) -> Request<'_> {
        Request {
            endpoint: self.endpoint.as_deref(),
            platform: self.platform.as_deref(),
            cost: self.cost,
        }
    }
}

/// The buckets in this process: flowgate's sharded limiter and a monotonic clock. Cloning
/// shares the buckets.
#[derive(Clone)]
pub struct InProcess {
    limiter: Arc<RateLimiter>,
    start: Instant,
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    /// Buckets for these limits.
    ///
    /// # Errors
    /// [`ratelimit::Error::InvalidConfig`] naming each offending field.
    pub fn new(limits: &RateLimitConfig) -> Result<Self, ratelimit::Error> {
        Ok(InProcess::shared(Arc::new(RateLimiter::new(limits)?)))
    }

    /// Decides with a limiter the caller keeps too (to read keys' state, reset keys or change
    /// the limits while the service runs).
    #[must_use]
    pub fn shared(limiter: Arc<RateLimiter>) -> Self {
        InProcess {
            limiter,
            start: Instant::now(),
        }
    }

    /// The limiter.
    #[must_use]
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
}

impl Backend for InProcess {
    type Future = Ready<Result<Decision, BackendError>>;

    fn decide(&self, key: String, request: Owned) -> Self::Future {
        let decision = self
            .limiter
            .is_allowed(&key, &request.as_request(), self.start.elapsed());
        ready(decision.map_err(BackendError::Limit))
    }
}

/// The buckets in Redis, through `flowgate-redis`: every process that uses the same Redis and
/// limits decides as one.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct Redis {
    redis: flowgate_redis::RedisLimiter,
    limits: Arc<ratelimit::Limits>,
}

#[cfg(feature = "redis")]
impl Redis {
    /// A backend on `redis` with these limits.
    ///
    /// # Errors
    /// [`ratelimit::Error::InvalidConfig`] naming each offending field.
    pub fn new(
        redis: flowgate_redis::RedisLimiter,
        limits: &RateLimitConfig,
    ) -> Result<Self, ratelimit::Error> {
        Ok(Redis {
            redis,
            limits: Arc::new(ratelimit::Limits::new(limits)?),
        })
    }
}

#[cfg(feature = "redis")]
impl Backend for Redis {
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Decision, BackendError>> + Send>>;

    fn decide(&self, key: String, request: Owned) -> Self::Future {
        let (redis, limits) = (self.redis.clone(), Arc::clone(&self.limits));
        Box::pin(async move {
            match redis
                .is_allowed(&limits, &key, &request.as_request(), None)
                .await
            {
                Ok(checked) => Ok(checked.decision),
                Err(flowgate_redis::Error::Limit(e)) => Err(BackendError::Limit(e)),
                Err(e) => Err(BackendError::Unavailable(e.to_string())),
            }
        })
    }
}
