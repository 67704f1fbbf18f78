//! # flowgate-redis
//!
//! flowgate's rate-limiter state in Redis, so that several servers (or several services with
//! the tower layer) share every bucket and decide as one limiter would.
//!
//! A decision is **one Lua script** (`decide.lua`, loaded once and called by `EVALSHA`): it
//! reads every applying bucket of the key (every window of every scope) and, only if each one
//! holds the cost, spends from all of them, so a denied check spends nothing and concurrent
//! checks on any number of servers never admit more than the buckets allow. The script does
//! nothing but that atomic read-and-spend; which buckets apply, their parameters and the
//! decision made from what it read are the core's ([`flowgate_core::ratelimit::RemotePlan`]),
//! the same rule as the in-process limiter, which the shared test vectors hold both to.
//!
//! - Time is Redis' own (`TIME`), in integer microseconds since the Unix epoch, so servers
//!   whose clocks differ agree. Tests pass an explicit `now` instead.
//! - A key's buckets are `fg:{g:<key>}:<bucket>` (for example `fg:{g:user_1}:global:minute`),
//!   or for a key of one user's own ([`Key::Owned`]) `fg:{u<user>:<key>}:<bucket>`: one hash
//!   tag per limiter key, so the script touches one Redis Cluster slot and would run
//!   on Cluster as it does on one server (Cluster itself is not tested here).
//! - Each bucket expires when it would be full again: a key nobody uses leaves nothing behind.
//! - Every call gives up after the configured timeout with [`Error::Timeout`]; the caller
//!   decides what a decision without Redis is (deny, allow, or limit locally).
//!
//! ```no_run
//! # async fn example() -> Result<(), flowgate_redis::Error> {
//! use std::time::Duration;
//! use flowgate_core::ratelimit::{Limits, RateLimitConfig, Request};
//! use flowgate_redis::RedisLimiter;
//!
//! let redis = RedisLimiter::new("redis://127.0.0.1:6379", Duration::from_millis(50))?;
//! let limits = Limits::new(&RateLimitConfig::default())?;
//! let checked = redis.is_allowed(&limits, "user_123", &Request::default(), None).await?;
//! println!("allowed: {} at {:?} since the epoch", checked.decision.allowed, checked.now);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use flowgate_core::ratelimit::{
    BucketStatus, Decision, Error as LimitError, Limits, RemotePlan, Request,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// What can go wrong asking Redis.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a Redis URL.
    Url(String),
    /// The request could never pass (a cost of 0, or above a bucket's capacity).
    Limit(LimitError),
    /// Redis did not answer within the timeout.
    Timeout,
    /// Redis refused, or the connection failed.
    Redis(redis::RedisError),
    /// Redis answered something the script never replies.
    Reply(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(detail) => write!(f, "not a Redis URL: {detail}"),
            Error::Limit(e) => e.fmt(f),
            Error::Timeout => f.write_str("Redis did not answer in time"),
            Error::Redis(e) => write!(f, "Redis: {e}"),
            Error::Reply(detail) => write!(f, "unexpected reply from Redis: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<LimitError> for Error {
    fn from(e: LimitError) -> Self {
        Error::Limit(e)
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

impl Error {
    /// Whether the error says Redis is unreachable or too slow, rather than that the request
    /// was bad.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Timeout | Error::Redis(_) | Error::Reply(_))
    }
}

/// A decision and the instant it was made at.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The decision, as the core makes it.
    pub decision: Decision,
    /// Redis' clock (or the given `now`), as time since the Unix epoch.
    pub now: Duration,
}

/// A key's state, read at one instant.
#[derive(Debug, Clone)]
pub struct KeyState {
    /// How long until the request asked about would pass.
    pub wait: Duration,
    /// The key's buckets: the global ones always, the others while they have not refilled.
    pub buckets: Vec<BucketStatus>,
    /// Redis' clock (or the given `now`), as time since the Unix epoch.
    pub now: Duration,
}

/// The limiter state of every key, in one Redis.
#[derive(Clone)]
pub struct RedisLimiter {
    connection: ConnectionManager,
    decide: redis::Script,
    heartbeat: redis::Script,
    timeout: Duration,
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The script of a decision.
pub const DECIDE_LUA: &str = include_str!("decide.lua");

/// Renews one server's heartbeat and counts the live ones, in one step. The servers live in one
/// sorted set, scored by when each heartbeat lapses.
const HEARTBEAT_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
";

/// The sorted set of live servers' heartbeats.
const SERVERS_KEY: &str = "fg:servers";

/// A limiter key and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// A key every caller shares (a `&str` converts to this).
    Shared(&'a str),
    /// A key of one user's own: the same name of another user is another key.
    Owned {
        /// The user.
        user: i64,
        /// The key's name.
        name: &'a str,
    },
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(key: &'a str) -> Key<'a> {
        Key::Shared(key)
    }
}

impl<'a> From<&'a String> for Key<'a> {
    fn from(key: &'a String) -> Key<'a> {
        Key::Shared(key)
    }
}

impl<'a> Key<'a> {
    /// The key as one in-process limiter holds keys of every owner: a shared key as it is, a
    /// user's as `u<user>:<name>` (distinct from every shared key only when a deployment keeps
    /// all its keys owned, as it does).
    #[must_use]
    pub fn in_process(self) -> std::borrow::Cow<'a, str> {
        match self {
            Key::Shared(key) => std::borrow::Cow::Borrowed(key),
            Key::Owned { user, name } => std::borrow::Cow::Owned(format!("u{user}:{name}")),
        }
    }
}

/// The Redis key of bucket `bucket` of limiter key `key`.
#[must_use]
pub fn bucket_key<'a>(key: impl Into<Key<'a>>, bucket: &str) -> String {
    use std::fmt::Write as _;
    let mut k = String::with_capacity(bucket.len() + 40);
    let _ = match key.into() {
        Key::Shared(key) => write!(k, "fg:{{g:{key}}}:{bucket}"),
        Key::Owned { user, name } => write!(k, "fg:{{u{user}:{name}}}:{bucket}"),
    };
    k
}

impl RedisLimiter {
    /// A limiter over the Redis at `url`, each call giving up after `timeout`. It connects
    /// when first used and reconnects by itself after a failure, so a server can start while
    /// Redis is down.
    ///
    /// # Errors
    /// [`Error::Url`] when `url` is not a `redis://` or `rediss://` URL.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisLimiter, Error> {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(Error::Url(format!("{url:?} must start with redis://")));
        }
        let client = redis::Client::open(url).map_err(|e| Error::Url(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnection is retried in the background, never by a waiting decision.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| Error::Url(e.to_string()))?;
        Ok(RedisLimiter {
            connection,
            decide: redis::Script::new(DECIDE_LUA),
            heartbeat: redis::Script::new(HEARTBEAT_LUA),
            timeout,
        })
    }

    /// `call` on the connection, given up after the timeout.
    async fn within<T, F: Future<Output = redis::RedisResult<T>>>(
        &self,
        call: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, call(self.connection.clone()))
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(Error::Redis)
    }

    /// Runs the decision script over `plan`'s buckets of `key`: spending `plan`'s cost when
    /// `spend`, else only reading. Returns the arrival times it read, whether it spent, and
    /// its `now`, all in microseconds.
    async fn run(
        &self,
        plan: &RemotePlan,
        key: Key<'_>,
        spend: bool,
        now: Option<Duration>,
    ) -> Result<(Vec<u64>, bool, u64), Error> {
        let mut invocation = self.decide.prepare_invoke();
        for bucket in plan.buckets() {
            invocation.key(bucket_key(key, &bucket.name()));
        }
        match now {
            Some(now) => invocation.arg(u64::try_from(now.as_micros()).unwrap_or(u64::MAX)),
            None => invocation.arg(""),
        };
        invocation.arg(if spend { plan.cost() } else { 0 });
        for bucket in plan.buckets() {
            invocation.arg(bucket.interval_us()).arg(bucket.capacity());
        }
        let reply: Vec<i64> = self
            .within(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        let n = plan.buckets().len();
        let (head, tats) = reply.split_at_checked(2).unwrap_or((&[], &[]));
        let &[spent, now] = head else {
            return Err(Error::Reply(format!("{reply:?}")));
        };
        if tats.len() != n || tats.iter().chain([&now]).any(|&t| t < 0) {
            return Err(Error::Reply(format!("{reply:?} for {n} buckets")));
        }
        let tats = tats.iter().map(|&t| t.unsigned_abs()).collect();
        Ok((tats, spent == 1, now.unsigned_abs()))
    }

    /// Checks `request` for `key` and, when every applying bucket holds its cost, spends it
    /// from all of them at once. `now` is Redis' clock unless given (time since the Unix
    /// epoch, whole microseconds; for tests).
    ///
    /// # Errors
    /// [`Error::Limit`] for a request that could never pass; the others when Redis fails.
    pub async fn is_allowed<'k>(
        &self,
        limits: &Limits,
        key: impl Into<Key<'k>>,
        request: &Request<'_>,
        now: Option<Duration>,
    ) -> Result<Checked, Error> {
        let plan = limits.remote_plan(request)?;
        let (tats, spent, now) = self.run(&plan, key.into(), true, now).await?;
        let decision = plan.decide(&tats, now);
        if decision.allowed != spent {
            // The script and the core apply one rule to the same integers; this would be a bug.
            return Err(Error::Reply(format!(
                "the script {} but the core says allowed = {}",
                if spent { "spent" } else { "did not spend" },
                decision.allowed
            )));
        }
        Ok(Checked {
            decision,
            now: Duration::from_micros(now),
        })
    }

    /// How long until `request` would pass for `key` (zero if now), and Redis' `now`; spends
    /// nothing.
    ///
    /// # Errors
    /// As [`RedisLimiter::is_allowed`].
    pub async fn wait_time<'k>(
        &self,
        limits: &Limits,
        key: impl Into<Key<'k>>,
        request: &Request<'_>,
        now: Option<Duration>,
    ) -> Result<(Duration, Duration), Error> {
        let plan = limits.remote_plan(request)?;
        let (tats, _, now) = self.run(&plan, key.into(), false, now).await?;
        Ok((plan.wait_time(&tats, now), Duration::from_micros(now)))
    }

    /// `key`'s state at one instant, read in one step: how long until `request` would pass,
    /// its buckets as they stand (the global ones always, the others while they have not
    /// refilled), and Redis' `now`. Spends nothing.
    ///
    /// # Errors
    /// As [`RedisLimiter::is_allowed`].
    pub async fn key_state<'k>(
        &self,
        limits: &Limits,
        key: impl Into<Key<'k>>,
        request: &Request<'_>,
        now: Option<Duration>,
    ) -> Result<KeyState, Error> {
        let plan = limits.remote_plan(request)?;
        // Every bucket of the limits: the request's are among them.
        let every = limits.remote_every();
        let (tats, _, now) = self.run(&every, key.into(), false, now).await?;
        // Both plans are made from the same limits, so the request's buckets are equal to
        // some of every's.
        let request_tats: Vec<u64> = plan
            .buckets()
            .iter()
            .map(|b| {
                let i = every.buckets().iter().position(|e| e == b);
                i.and_then(|i| tats.get(i).copied()).unwrap_or(0)
            })
            .collect();
        Ok(KeyState {
            wait: plan.wait_time(&request_tats, now),
            buckets: every.statuses(&tats, now),
            now: Duration::from_micros(now),
        })
    }

    /// Forgets every bucket `limits` gives `key`: it becomes a key never seen. Returns whether
    /// it had any state.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn reset<'k>(&self, limits: &Limits, key: impl Into<Key<'k>>) -> Result<bool, Error> {
        let key = key.into();
        let keys: Vec<String> = limits
            .remote_every()
            .buckets()
            .iter()
            .map(|b| bucket_key(key, &b.name()))
            .collect();
        let mut delete = redis::cmd("DEL");
        delete.arg(&keys);
        let removed: u64 = self
            .within(|mut c| async move { delete.query_async(&mut c).await })
            .await?;
        Ok(removed > 0)
    }

    /// Renews the heartbeat of server `id` for `ttl` and returns how many servers' heartbeats
    /// are live (this one included).
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn heartbeat(&self, id: &str, ttl: Duration) -> Result<u64, Error> {
        let mut invocation = self.heartbeat.prepare_invoke();
        invocation
            .key(SERVERS_KEY)
            .arg(id)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        self.within(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
    }

    /// Whether Redis answers a `PING` within the timeout.
    pub async fn ping(&self) -> bool {
        let ping = redis::cmd("PING");
        self.within(|mut c| async move { ping.query_async::<String>(&mut c).await })
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_buckets_share_one_hash_tag() {
        assert_eq!(
            bucket_key("user_1", "global:minute"),
            "fg:{g:user_1}:global:minute"
        );
        let owned = Key::Owned {
            user: 7,
            name: "user_1",
        };
        assert_eq!(
            bucket_key(owned, "global:minute"),
            "fg:{u7:user_1}:global:minute"
        );
        assert_eq!(owned.in_process(), "u7:user_1");
    }

    #[test]
    fn only_redis_urls_are_taken() {
        for bad in ["postgres://x", "127.0.0.1:6379", "", "redis://[::1"] {
            assert!(
                matches!(
                    RedisLimiter::new(bad, Duration::from_millis(50)),
                    Err(Error::Url(_))
                ),
                "{bad:?}"
            );
        }
    }
}
