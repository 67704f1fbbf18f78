//! Where the decision service's buckets live: in this process (one server, the default), or
//! in Redis (`FLOWGATE_REDIS_URL`), shared by every server.
//!
//! With Redis, a decision is one script run by [`flowgate_redis`]. When Redis cannot be
//! reached within `FLOWGATE_REDIS_TIMEOUT_MS`, the deployment's `FLOWGATE_REDIS_FAILURE` mode
//! answers instead, marked degraded: `closed` denies (retry after 1 s), `open` allows, and
//! `local` (the default) limits in this process with each limit divided by the number of
//! servers last seen alive, so that together they stay within the limits. While degraded,
//! decisions do not wait for Redis at all; a heartbeat every second looks for it, and the
//! first one that reaches it ends the degraded state (the local buckets are dropped) and
//! refreshes how many servers are alive.
//!
//! A script sent to a Redis that hangs (frozen, not down) may still run when it wakes, after
//! the decision was answered without it: such a request is then counted twice (once locally,
//! once late in Redis), which errs towards limiting more, never towards admitting more.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use flowgate_core::ratelimit::{
    BucketStatus, Decision, Error as LimitError, Limits, RateLimitConfig, RateLimiter, Request,
};
use flowgate_redis::{Key, RedisLimiter};

/// What a decision without Redis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Deny, with `retry_after` 1 s.
    Closed,
    /// Allow.
    Open,
    /// Limit in this process with 1/N of every limit (N: servers last seen alive).
    Local,
}

impl FromStr for FailureMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "closed" => Ok(FailureMode::Closed),
            "open" => Ok(FailureMode::Open),
            "local" => Ok(FailureMode::Local),
            other => Err(format!(
                "{other:?} is not a failure mode: closed, open or local"
            )),
        }
    }
}

impl FailureMode {
    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Closed => "closed",
            FailureMode::Open => "open",
            FailureMode::Local => "local",
        }
    }
}

/// A decision and whether it was made without the shared state.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The decision.
    pub decision: Decision,
    /// Made by the failure mode, not by the shared buckets.
    pub degraded: bool,
}

/// A key's state as the API shows it.
#[derive(Debug, Clone)]
pub struct KeyView {
    /// The clock the times are relative to: time since the server started (in process), or
    /// since the Unix epoch (Redis).
    pub now: Duration,
    /// Time until the request would pass.
    pub wait: Duration,
    /// The key's buckets.
    pub buckets: Vec<BucketStatus>,
    /// Read from the failure mode's state, not the shared one.
    pub degraded: bool,
}

/// Redis cannot be reached now, and what was asked needs it (resetting a key).
#[derive(Debug)]
pub struct Unreachable;

/// The decision service's buckets.
#[derive(Debug)]
pub enum Decisions {
    /// In this process.
    Local(RateLimiter),
    /// In Redis, shared by every server.
    Shared(Box<Shared>),
}

/// The state of the Redis backend.
#[derive(Debug)]
pub struct Shared {
    redis: RedisLimiter,
    failure: FailureMode,
    /// This server's name among the heartbeats.
    server_id: String,
    /// The limits in force, and the document they came from (the local fallback divides it).
    limits: RwLock<(Arc<Limits>, RateLimitConfig)>,
    /// Set by a decision that could not reach Redis; cleared by a heartbeat that could.
    degraded: AtomicBool,
    /// Servers alive at the last heartbeat that reached Redis; 0 before any did.
    servers_seen: AtomicU64,
    /// The local buckets of `local` mode while degraded, with the N they were divided by.
    fallback: RwLock<Option<(u64, Arc<RateLimiter>)>>,
}

/// How long a heartbeat lives: three of its intervals, so one late beat is not a death.
const HEARTBEAT_TTL: Duration = Duration::from_secs(3);
/// How often a server beats (and, while degraded, looks for Redis).
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

fn since_unix_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

impl Decisions {
    /// In-process buckets for `config`, for at most about `max_keys` keys at once.
    ///
    /// # Errors
    /// When `config` is invalid.
    pub fn local(config: &RateLimitConfig, max_keys: usize) -> Result<Decisions, LimitError> {
        Ok(Decisions::Local(
            RateLimiter::new(config)?.with_max_keys(max_keys),
        ))
    }

    /// Buckets in `redis` for `config`, with `failure` for when it is unreachable.
    ///
    /// # Errors
    /// When `config` is invalid.
    pub fn shared(
        redis: RedisLimiter,
        failure: FailureMode,
        config: &RateLimitConfig,
    ) -> Result<Decisions, LimitError> {
        Ok(Decisions::Shared(Box::new(Shared {
            redis,
            failure,
            server_id: uuid::Uuid::new_v4().to_string(),
            limits: RwLock::new((Arc::new(Limits::new(config)?), config.clone())),
            degraded: AtomicBool::new(false),
            servers_seen: AtomicU64::new(0),
            fallback: RwLock::new(None),
        })))
    }

    /// Checks `request` for `key` and spends from every applying bucket when all hold the
    /// cost. `now` is the in-process clock (Redis uses its own).
    ///
    /// # Errors
    /// A request that can never pass (a cost of 0, or above a capacity).
    pub async fn check(
        &self,
        key: Key<'_>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Checked, LimitError> {
        match self {
            Decisions::Local(limiter) => Ok(Checked {
                decision: limiter.is_allowed(&key.in_process(), request, now)?,
                degraded: false,
            }),
            Decisions::Shared(shared) => shared.check(key, request).await,
        }
    }

    /// A key's buckets and the wait for `request`; spends nothing.
    ///
    /// # Errors
    /// A request that can never pass.
    pub async fn view(
        &self,
        key: Key<'_>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<KeyView, LimitError> {
        match self {
            Decisions::Local(limiter) => {
                let text = key.in_process();
                let key = limiter.key(&text);
                Ok(KeyView {
                    now,
                    wait: limiter.wait_time(key, request, now)?,
                    buckets: limiter.buckets(key, now),
                    degraded: false,
                })
            }
            Decisions::Shared(shared) => shared.view(key, request).await,
        }
    }

    /// Forgets every bucket of `key`; whether it had any.
    ///
    /// # Errors
    /// [`Unreachable`] when the shared state cannot be reached: the reset did not happen.
    pub async fn reset(&self, key: Key<'_>) -> Result<bool, Unreachable> {
        match self {
            Decisions::Local(limiter) => Ok(limiter.reset_limits(&key.in_process())),
            Decisions::Shared(shared) => {
                let limits = shared.limits();
                let reset = shared.redis.reset(&limits, key).await.map_err(|_| {
                    crate::metrics::REDIS_ERRORS.inc();
                    Unreachable
                })?;
                if let Some((_, local)) = &*shared
                    .fallback
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                {
                    local.reset_limits(&key.in_process());
                }
                Ok(reset)
            }
        }
    }

    /// Checks `config` and builds its limits, changing nothing: what may refuse a change,
    /// run before the change is stored.
    ///
    /// # Errors
    /// The configuration's errors.
    pub fn prepare(config: &RateLimitConfig) -> Result<Arc<Limits>, LimitError> {
        Ok(Arc::new(Limits::new(config)?))
    }

    /// Puts limits made by [`Decisions::prepare`] from `config` in force at `now` (in-process
    /// clock): in process, every key keeps what it owes; in Redis, each bucket carries its debt
    /// over when next used.
    pub fn install(&self, limits: Arc<Limits>, config: &RateLimitConfig, now: Duration) {
        match self {
            Decisions::Local(limiter) => limiter.install(limits, now),
            Decisions::Shared(shared) => {
                *shared
                    .limits
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = (limits, config.clone());
                // Local buckets made for the old limits are dropped; the next degraded
                // decision makes new ones, full.
                *shared
                    .fallback
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
        }
    }

    /// Switches to `config` at `now` (see [`Decisions::prepare`] and [`Decisions::install`]).
    ///
    /// # Errors
    /// The configuration's errors; the limits in force are then unchanged.
    pub fn reconfigure(&self, config: &RateLimitConfig, now: Duration) -> Result<(), LimitError> {
        self.install(Self::prepare(config)?, config, now);
        Ok(())
    }

    /// How many keys hold state in this server's limiter; `None` when buckets are in Redis.
    pub fn active_keys(&self) -> Option<usize> {
        match self {
            Decisions::Local(limiter) => Some(limiter.active_keys()),
            Decisions::Shared(_) => None,
        }
    }

    /// The Redis backend, if buckets are shared.
    pub fn shared_state(&self) -> Option<&Shared> {
        match self {
            Decisions::Local(_) => None,
            Decisions::Shared(shared) => Some(shared),
        }
    }
}

impl Shared {
    fn limits(&self) -> Arc<Limits> {
        Arc::clone(&self.limits.read().unwrap_or_else(PoisonError::into_inner).0)
    }

    /// Whether decisions are made without Redis now.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Servers alive at the last heartbeat that reached Redis (this one included); 0 if none
    /// ever did.
    pub fn servers_seen(&self) -> u64 {
        self.servers_seen.load(Ordering::Relaxed)
    }

    /// The failure mode.
    pub fn failure_mode(&self) -> FailureMode {
        self.failure
    }

    fn degrade(&self, why: &flowgate_redis::Error) {
        crate::metrics::REDIS_ERRORS.inc();
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %why, mode = self.failure.as_str(), "Redis unreachable: deciding without it");
        }
    }

    async fn check(&self, key: Key<'_>, request: &Request<'_>) -> Result<Checked, LimitError> {
        let limits = self.limits();
        if !self.is_degraded() {
            match self.redis.is_allowed(&limits, key, request, None).await {
                Ok(checked) => {
                    return Ok(Checked {
                        decision: checked.decision,
                        degraded: false,
                    });
                }
                Err(flowgate_redis::Error::Limit(e)) => return Err(e),
                Err(e) => self.degrade(&e),
            }
        }
        self.without_redis(&limits, key, request)
            .map(|decision| Checked {
                decision,
                degraded: true,
            })
    }

    /// The failure mode's decision.
    fn without_redis(
        &self,
        limits: &Limits,
        key: Key<'_>,
        request: &Request<'_>,
    ) -> Result<Decision, LimitError> {
        let plan = limits.remote_plan(request)?;
        let now_us = u64::try_from(since_unix_epoch().as_micros()).unwrap_or(u64::MAX);
        match self.failure {
            FailureMode::Open => Ok(plan.decide(&vec![0; plan.buckets().len()], now_us)),
            FailureMode::Closed => {
                // Every bucket as if empty, and come back in a second to see whether Redis is.
                let empty: Vec<u64> = plan
                    .buckets()
                    .iter()
                    .map(|b| now_us + b.interval_us() * u64::from(b.capacity()))
                    .collect();
                let mut decision = plan.decide(&empty, now_us);
                decision.allowed = false;
                decision.retry_after = Duration::from_secs(1);
                Ok(decision)
            }
            FailureMode::Local => {
                self.fallback()?
                    .is_allowed(&key.in_process(), request, since_unix_epoch())
            }
        }
    }

    /// The local buckets of `local` mode: made full when first needed, for the servers seen.
    fn fallback(&self) -> Result<Arc<RateLimiter>, LimitError> {
        let n = self.servers_seen().max(1);
        if let Some((made_for, local)) =
            &*self.fallback.read().unwrap_or_else(PoisonError::into_inner)
            && *made_for == n
        {
            return Ok(Arc::clone(local));
        }
        let mut slot = self
            .fallback
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((made_for, local)) = &*slot
            && *made_for == n
        {
            return Ok(Arc::clone(local));
        }
        let config = self
            .limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone();
        let share = config.divided_among(
            NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN),
        );
        // A share of a valid document is valid: every limit stays at least 1.
        let local = Arc::new(RateLimiter::new(&share)?);
        tracing::info!(servers = n, "local buckets with 1/{n} of every limit");
        *slot = Some((n, Arc::clone(&local)));
        Ok(local)
    }

    async fn view(&self, key: Key<'_>, request: &Request<'_>) -> Result<KeyView, LimitError> {
        let limits = self.limits();
        if !self.is_degraded() {
            match self.redis.key_state(&limits, key, request, None).await {
                Ok(state) => {
                    return Ok(KeyView {
                        now: state.now,
                        wait: state.wait,
                        buckets: state.buckets,
                        degraded: false,
                    });
                }
                Err(flowgate_redis::Error::Limit(e)) => return Err(e),
                Err(e) => self.degrade(&e),
            }
        }
        limits.remote_plan(request)?;
        let now = since_unix_epoch();
        let (wait, buckets) = match self.failure {
            FailureMode::Local => {
                let local = self.fallback()?;
                let key = key.in_process();
                (
                    local.wait_time(&key, request, now)?,
                    local.buckets(&key, now),
                )
            }
            // Nothing is counted: the answer is the mode's, whatever the key did.
            FailureMode::Open => (Duration::ZERO, Vec::new()),
            FailureMode::Closed => (Duration::from_secs(1), Vec::new()),
        };
        Ok(KeyView {
            now,
            wait,
            buckets,
            degraded: true,
        })
    }

    /// Renews this server's heartbeat; on success ends a degraded state (dropping the local
    /// buckets) and records how many servers are alive.
    pub async fn heartbeat(&self) {
        match self.redis.heartbeat(&self.server_id, HEARTBEAT_TTL).await {
            Ok(n) => {
                self.servers_seen.store(n, Ordering::Relaxed);
                if self.degraded.swap(false, Ordering::Relaxed) {
                    *self
                        .fallback
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = None;
                    tracing::info!(
                        servers = n,
                        "Redis reachable again: shared limiting resumes"
                    );
                }
            }
            Err(e) => self.degrade(&e),
        }
    }

    /// Whether Redis answers now.
    pub async fn reachable(&self) -> bool {
        self.redis.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_modes_parse_by_name_only() {
        for mode in [FailureMode::Closed, FailureMode::Open, FailureMode::Local] {
            assert_eq!(mode.as_str().parse::<FailureMode>(), Ok(mode));
        }
        assert!("Closed".parse::<FailureMode>().is_err());
        assert!("".parse::<FailureMode>().is_err());
    }
}
