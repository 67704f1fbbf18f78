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
    /// The store is unreachable or failed (Redis down, the decision service unreachable or
    /// failing): answered 503.
    Unavailable(String),
    /// The decision service refused the question (a bad token, a key it does not take):
    /// the configuration's fault, answered 500.
    Refused(String),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Limit(e) => write!(f, "{e}"),
            BackendError::Unavailable(e) => write!(f, "the limiter's store is unavailable: {e}"),
            BackendError::Refused(e) => write!(f, "the decision service refused: {e}"),
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

/// The decisions of a flowgate server's decision service (`POST /api/v1/limits/check`), over
/// HTTP: every service asking the same server shares its buckets, under the limits managed in
/// its console. One request per decision; a timeout (default 1 s) or a 5xx is
/// [`BackendError::Unavailable`].
#[cfg(feature = "remote")]
#[derive(Clone)]
pub struct Remote {
    client: reqwest::Client,
    /// Shared, not copied, by every decision's future.
    url: Arc<str>,
    authorization: http::HeaderValue,
}

#[cfg(feature = "remote")]
impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token.
        f.debug_struct("Remote")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "remote")]
impl Remote {
    /// Asks the flowgate server at `base_url` (`https://flowgate.internal:8080`) with the API
    /// token `token`.
    ///
    /// # Errors
    /// When the token cannot be a header value, or the HTTP client cannot be built.
    pub fn new(base_url: &str, token: &str) -> Result<Self, BackendError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(1))
            .build()
            .map_err(|e| BackendError::Refused(e.to_string()))?;
        Remote::with_client(client, base_url, token)
    }

    /// As [`Remote::new`], with a client of your own (timeouts, TLS roots, a proxy).
    ///
    /// # Errors
    /// When the token cannot be a header value.
    pub fn with_client(
        client: reqwest::Client,
        base_url: &str,
        token: &str,
    ) -> Result<Self, BackendError> {
        let mut authorization = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| BackendError::Refused("the token is not a header value".into()))?;
        authorization.set_sensitive(true);
        Ok(Remote {
            client,
            url: format!("{}/api/v1/limits/check", base_url.trim_end_matches('/')).into(),
            authorization,
        })
    }

    async fn ask(
        client: reqwest::Client,
        url: Arc<str>,
        authorization: http::HeaderValue,
        key: String,
        request: Owned,
    ) -> Result<Decision, BackendError> {
        let body = flowgate_core::api::CheckRequest {
            key: key.as_str().into(),
            endpoint: request.endpoint.as_deref().map(Into::into),
            platform: request.platform.as_deref().map(Into::into),
            cost: Some(request.cost),
        };
        let unavailable = |e: reqwest::Error| BackendError::Unavailable(e.to_string());
        let response = client
            .post(&*url)
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_string(&body).map_err(|e| BackendError::Refused(e.to_string()))?)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        // `t` of the `RateLimit` field: the one figure the JSON does not carry.
        let next_token_after = response
            .headers()
            .get(&crate::headers::RATELIMIT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(';')
                    .find_map(|p| p.trim().strip_prefix("t=")?.parse().ok())
            })
            .map_or(std::time::Duration::ZERO, std::time::Duration::from_secs);
        let text = response.text().await.map_err(unavailable)?;
        if status.is_server_error() {
            return Err(BackendError::Unavailable(format!("{status}: {text}")));
        }
        if !status.is_success() {
            return Err(BackendError::Refused(format!("{status}: {text}")));
        }
        let reported: flowgate_core::api::Decision = serde_json::from_str(&text).map_err(|e| {
            BackendError::Unavailable(format!("an answer that is not a decision: {e}"))
        })?;
        let buckets = reported
            .buckets
            .iter()
            .map(flowgate_core::api::Bucket::status)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| BackendError::Unavailable("a bucket's times are not seconds".into()))?;
        Decision::from_report(reported.allowed, buckets, next_token_after).ok_or_else(|| {
            BackendError::Unavailable("an answer without the buckets of a decision".into())
        })
    }
}

#[cfg(feature = "remote")]
impl Backend for Remote {
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Decision, BackendError>> + Send>>;

    fn decide(&self, key: String, request: Owned) -> Self::Future {
        Box::pin(Remote::ask(
            self.client.clone(),
            Arc::clone(&self.url),
            self.authorization.clone(),
            key,
            request,
        ))
    }
}
