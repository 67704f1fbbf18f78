//! The thread-safe limiter: the keyed state split over shards, each behind its own lock.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use core::time::Duration;

use super::decision::{Admission, BucketStatus, Decision};
use super::key::{HashedKey, Keying, LimiterKey};
use super::limits::Limits;
use super::state::Limiter;
use super::{Error, RateLimitConfig, Request};

/// Shards of the key space. A key's check takes one shard's lock and never another's, so
/// checks on different keys rarely wait for each other, and one key's check across all of
/// its buckets is atomic.
const SHARDS: usize = 64;

/// A shard's lock: a spin lock whose waiters yield their time slice on every retry.
///
/// Its release is a plain store. `std::sync::Mutex` releases with an atomic swap (to see
/// whether anyone sleeps on it), and on x86 that is a full fence: the next check's loads wait
/// for it, so one check's cache misses never overlap the next one's. With the plain store they
/// do, and a keyed check over many keys takes less time (BENCHMARKS.md, the limiter's history).
///
/// A check holds the lock for tens of nanoseconds; a sweep or a change of limits holds it
/// while it goes through the shard's keys (a 64th of them all). Waiting is rare:
/// two threads must meet on one of 64 shards. A waiter yields on every retry rather than
/// spinning, so a preempted holder gets a CPU back instead of a spinning rival keeping it.
/// There is nothing to poison: no update can panic halfway.
type ShardLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

/// Aligned to a cache line pair so that two cores working on neighbouring shards do not keep
/// stealing one line from each other.
#[derive(Debug)]
#[repr(align(128))]
struct Padded(ShardLock<Limiter>);

/// A multi-window, multi-scope rate limiter that many threads may call at once.
///
/// Every applying bucket of a request is judged and debited under one lock, so concurrent
/// callers never admit more than the buckets allow. Locks are per shard of the key space,
/// never global. They are blocking locks, not async ones, because each is held only for the
/// tens of nanoseconds of a check and never across an `.await`.
///
/// ```
/// use core::time::Duration;
/// use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter, Request, Scope};
///
/// use flowgate_core::ratelimit::ScopeLimits;
///
/// let mut config = RateLimitConfig { requests_per_minute: 30, ..Default::default() };
/// config.endpoint_limits.insert("media".into(), ScopeLimits { minute: Some(2), ..Default::default() });
/// let limiter = RateLimiter::new(&config)?;
/// let media = Request::new(Some("media"), Some("mastodon"));
/// let t = Duration::ZERO;
/// assert!(limiter.is_allowed("user_123", &media, t)?.allowed);
/// assert!(limiter.is_allowed("user_123", &media, t)?.allowed);
/// let denied = limiter.is_allowed("user_123", &media, t)?;
/// assert_eq!((denied.allowed, denied.scope), (false, Scope::Endpoint));
/// assert_eq!(limiter.wait_time("user_123", &media, t)?, Duration::from_secs(30));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    shards: Vec<Padded>,
    /// The shards' own keying: a key is hashed once, picks its shard by the hash, and is
    /// found in the shard's table by it.
    keying: Keying,
}

impl RateLimiter {
    /// A limiter for `config`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] listing every problem in `config`.
    pub fn new(config: &RateLimitConfig) -> Result<RateLimiter, Error> {
        Ok(RateLimiter::from_limits(Limits::new(config)?))
    }

    /// A limiter for limits already compiled, such as [`Limits::from_quotas`].
    #[must_use]
    pub fn from_limits(limits: impl Into<Arc<Limits>>) -> RateLimiter {
        // A per-process random seed: keys come from clients, who must not be able to choose
        // keys that collide.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x666c_6f77_u64);
        let limits = limits.into();
        let shards = (0..SHARDS)
            .map(|_| {
                Padded(ShardLock::new(Limiter::from_limits(
                    Arc::clone(&limits),
                    seed,
                )))
            })
            .collect();
        RateLimiter {
            shards,
            keying: Keying::with_seed(seed),
        }
    }

    /// The same limiter holding at most about `max` keys at once, a 64th of them in each shard
    /// (so a new key may be refused once its shard is full, at about `max` keys in all when
    /// keys spread evenly); see [`Limiter::with_max_keys`].
    #[must_use]
    pub fn with_max_keys(self, max: usize) -> RateLimiter {
        let per_shard = max.div_ceil(SHARDS).max(1);
        for shard in &self.shards {
            shard.0.lock().set_max_keys(per_shard);
        }
        self
    }

    /// `text` hashed as this limiter hashes keys.
    #[must_use]
    pub fn key<'k>(&self, text: &'k str) -> HashedKey<'k> {
        self.keying.key(text)
    }

    /// `key`, hashed, and the lock of its shard.
    #[inline(always)]
    fn shard<'k>(
        &self,
        key: impl LimiterKey<'k>,
    ) -> (HashedKey<'k>, spin::mutex::SpinMutexGuard<'_, Limiter>) {
        let key = self.keying.resolve(key);
        // The table inside a shard indexes by the low bits and tags entries with the top seven;
        // bits from the middle pick the shard, so neither loses entropy within a shard.
        let index = (key.hash() >> 32) as usize % SHARDS;
        (key, self.shards[index].0.lock())
    }

    /// Checks `request` for `key` at `now` (time since any fixed epoch) and, when every
    /// applying bucket holds its cost, spends it from all of them at once.
    ///
    /// # Errors
    /// [`Error::ZeroCost`], [`Error::CostExceedsCapacity`] for a cost that could never pass,
    /// or [`Error::TooManyKeys`] for a new key when its shard is full.
    #[inline]
    pub fn is_allowed<'k>(
        &self,
        key: impl LimiterKey<'k>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Decision, Error> {
        let (key, mut shard) = self.shard(key);
        shard.is_allowed(key, request, now)
    }

    /// Checks and spends as [`RateLimiter::is_allowed`] does, answering only whether the
    /// request may go and how long to wait otherwise: the call for a hot path that needs no
    /// report of each bucket.
    ///
    /// # Errors
    /// As [`RateLimiter::is_allowed`].
    #[inline]
    pub fn check<'k>(
        &self,
        key: impl LimiterKey<'k>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Admission, Error> {
        let (key, mut shard) = self.shard(key);
        shard.check(key, request, now)
    }

    /// The time until `request` would be allowed for `key`; spends nothing.
    ///
    /// # Errors
    /// [`Error::ZeroCost`], or [`Error::CostExceedsCapacity`] for a cost that could never pass.
    pub fn wait_time<'k>(
        &self,
        key: impl LimiterKey<'k>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Duration, Error> {
        let (key, shard) = self.shard(key);
        shard.wait_time(key, request, now)
    }

    /// Forgets every bucket of `key`. Returns whether it had any state.
    pub fn reset_limits<'k>(&self, key: impl LimiterKey<'k>) -> bool {
        let (key, mut shard) = self.shard(key);
        shard.reset(key)
    }

    /// The buckets of `key` at `now`: the global ones always, and the scoped ones it has spent
    /// from that have not refilled yet.
    #[must_use]
    pub fn buckets<'k>(&self, key: impl LimiterKey<'k>, now: Duration) -> Vec<BucketStatus> {
        let (key, shard) = self.shard(key);
        shard.buckets(key, now)
    }

    /// Drops every key whose buckets are all full at `now`; returns how many. Inserts also
    /// sweep on their own (dropping the keys idle since their previous sweep), so calling this
    /// is only needed to release memory sooner.
    pub fn sweep(&self, now: Duration) -> usize {
        self.shards.iter().map(|s| s.0.lock().sweep(now)).sum()
    }

    /// How many keys hold state now (some may have refilled since the last sweep).
    #[must_use]
    pub fn active_keys(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().len()).sum()
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> Arc<Limits> {
        Arc::clone(self.shards[0].0.lock().limits())
    }

    /// Switches to `config` at `now` without forgetting what keys have spent: a bucket that
    /// still exists keeps the tokens it owes (capped at its new capacity). Shards switch one
    /// after another; each check sees either the old limits or the new ones, never a mix.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; the limits in force are then unchanged.
    pub fn reconfigure(&self, config: &RateLimitConfig, now: Duration) -> Result<(), Error> {
        self.install(Arc::new(Limits::new(config)?), now);
        Ok(())
    }

    /// Switches to limits already built (by [`Limits::new`], which is where a configuration is
    /// refused) at `now`, as [`RateLimiter::reconfigure`] does; it cannot fail, so a caller can
    /// build the limits, store the change, and only then put it in force.
    pub fn install(&self, new: Arc<Limits>, now: Duration) {
        for shard in &self.shards {
            shard.0.lock().install(Arc::clone(&new), now);
        }
    }
}
