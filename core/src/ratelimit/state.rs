//! The per-key bucket state, owned by the caller (`&mut`) so it works without `std`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use core::time::Duration;

use arrayvec::ArrayVec;
use compact_str::CompactString;
use foldhash::fast::FixedState;
use hashbrown::HashTable;

use super::decision::{BucketStatus, Decision, RawBucket};
use super::gcra::Verdict;
use super::limits::{Applying, Limits};
use super::{Error, MAX_BUCKETS, Request};
use crate::nanos;

/// How many new keys may be inserted between two sweeps of idle keys, at least; beyond that the
/// table's own size sets the pace, so sweeping stays amortised O(1) per insert.
const MIN_INSERTS_BETWEEN_SWEEPS: usize = 1024;

/// The most scoped buckets one key can use at once: three scopes of three windows.
const MAX_SCOPED: usize = MAX_BUCKETS - 3;

/// The arrival times of one key's buckets. Global buckets (ids `0..3`, see
/// [`Limits::global`]) have fixed slots in the entry; the scoped ones a key uses live in one
/// fixed-size block that exists only once a scope beyond the global one is used, so a key that
/// only meets the global limits costs one pointer for them.
#[derive(Debug, Clone, Default)]
struct KeyState {
    global: [u64; 3],
    scoped: Option<Box<Scoped>>,
}

/// `(bucket id, arrival time)` pairs: [`MAX_SCOPED`] inline, which is what one request can
/// touch, and more beside them for a key that uses many scopes at once. A slot whose time has
/// passed is free for another bucket.
#[derive(Debug, Clone, Default)]
struct Scoped {
    ids: [u16; MAX_SCOPED],
    tats: [u64; MAX_SCOPED],
    len: u8,
    more: Vec<(u16, u64)>,
}

impl Scoped {
    fn slots(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let len = usize::from(self.len);
        self.ids[..len]
            .iter()
            .copied()
            .zip(self.tats[..len].iter().copied())
            .chain(self.more.iter().copied())
    }
}

impl KeyState {
    fn tat(&self, id: u16) -> u64 {
        if is_global(id) {
            return self.global[usize::from(id)];
        }
        self.scoped()
            .find(|&(b, _)| b == id)
            .map_or(0, |(_, tat)| tat)
    }

    fn set(&mut self, id: u16, tat: u64, now: u64) {
        if is_global(id) {
            self.global[usize::from(id)] = tat;
            return;
        }
        let scoped = self.scoped.get_or_insert_with(Box::default);
        let len = usize::from(scoped.len);
        // The bucket's own slot, else one whose bucket has refilled (it carries no
        // information), else a new one; a debt is never dropped.
        if let Some(i) = (0..len).find(|&i| scoped.ids[i] == id) {
            scoped.tats[i] = tat;
        } else if let Some(slot) = scoped.more.iter_mut().find(|(b, _)| *b == id) {
            slot.1 = tat;
        } else if let Some(i) = (0..len).find(|&i| scoped.tats[i] <= now) {
            scoped.ids[i] = id;
            scoped.tats[i] = tat;
        } else if len < MAX_SCOPED {
            scoped.ids[len] = id;
            scoped.tats[len] = tat;
            scoped.len += 1;
        } else {
            scoped.more.retain(|&(_, t)| t > now);
            scoped.more.push((id, tat));
        }
    }

    fn scoped(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.scoped.iter().flat_map(|s| s.slots())
    }

    /// All buckets full at `now`: the key is indistinguishable from one never seen.
    fn is_idle(&self, now: u64) -> bool {
        self.global.iter().all(|&t| t <= now) && self.scoped().all(|(_, t)| t <= now)
    }

    fn entries(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (0u16..3)
            .map(|id| (id, self.global[usize::from(id)]))
            .chain(self.scoped())
    }
}

/// Global buckets are always compiled first, so their ids are `0..3`.
fn is_global(id: u16) -> bool {
    id < 3
}

/// One key and its buckets: 64 bytes, aligned to a cache line, so that finding a key and
/// updating its buckets touches one line. Keys up to 24 bytes live inline; the hash is kept so
/// that growing the table never hashes a key again.
#[derive(Debug, Clone)]
#[repr(align(64))]
struct Entry {
    key: CompactString,
    hash: u64,
    state: KeyState,
}

/// The buckets of every key, for one [`Limits`]. Without `std` this is the limiter: the caller
/// owns it and passes it by `&mut`; with `std`, [`RateLimiter`](super::RateLimiter) shards
/// several of them behind locks.
///
/// ```
/// use core::time::Duration;
/// use flowgate_core::ratelimit::{KeyedState, Limits, RateLimitConfig, Request};
///
/// let limits = Limits::new(&RateLimitConfig { max_burst: 1, ..Default::default() })?;
/// let mut state = KeyedState::with_seed(0x5eed);
/// let now = Duration::from_secs(5);
/// assert!(state.is_allowed(&limits, "bot", &Request::default(), now)?.allowed);
/// assert!(!state.is_allowed(&limits, "bot", &Request::default(), now)?.allowed);
/// assert_eq!(state.wait_time(&limits, "bot", &Request::default(), now)?, Duration::from_secs(1));
/// # Ok::<(), flowgate_core::ratelimit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyedState {
    table: HashTable<Entry>,
    hasher: FixedState,
    /// New keys until the next sweep: the table's size after the last one (at least
    /// [`MIN_INSERTS_BETWEEN_SWEEPS`]), so a sweep's cost is paid for by as many inserts.
    inserts_until_sweep: usize,
}

impl KeyedState {
    /// An empty state whose key hashing is seeded with `seed`. Keys may come from untrusted
    /// clients: pick a random seed so they cannot aim for one hash chain.
    #[must_use]
    pub fn with_seed(seed: u64) -> KeyedState {
        KeyedState {
            table: HashTable::new(),
            hasher: FixedState::with_seed(seed),
            inserts_until_sweep: MIN_INSERTS_BETWEEN_SWEEPS,
        }
    }

    pub(crate) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Checks `request` for `key` at `now` and, if every applying bucket holds its cost, spends
    /// it from all of them.
    ///
    /// # Errors
    /// [`Error::ZeroCost`], or [`Error::CostExceedsCapacity`] for a cost that could never pass.
    pub fn is_allowed(
        &mut self,
        limits: &Limits,
        key: &str,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Decision, Error> {
        let hash = self.hash(key);
        self.is_allowed_hashed(limits, hash, key, request, now)
    }

    #[inline(always)]
    pub(crate) fn is_allowed_hashed(
        &mut self,
        limits: &Limits,
        hash: u64,
        key: &str,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Decision, Error> {
        let ids = limits.applying(request)?;
        let now = nanos(now);
        if let Some(entry) = self
            .table
            .find_mut(hash, |e| e.hash == hash && e.key == key)
        {
            return Ok(evaluate(limits, &ids, &mut entry.state, request.cost, now));
        }
        let mut state = KeyState::default();
        let decision = evaluate(limits, &ids, &mut state, request.cost, now);
        // A key never seen has full buckets, and the cost fits the smallest: always allowed.
        if decision.allowed {
            self.insert(hash, key, state, now);
        }
        Ok(decision)
    }

    fn insert(&mut self, hash: u64, key: &str, state: KeyState, now: u64) {
        match self.inserts_until_sweep.checked_sub(1) {
            Some(left) => self.inserts_until_sweep = left,
            None => {
                self.sweep_nanos(now);
            }
        }
        self.table.insert_unique(
            hash,
            Entry {
                key: CompactString::from(key),
                hash,
                state,
            },
            |e| e.hash,
        );
    }

    /// The time until `request` would be allowed for `key` (zero if now); spends nothing.
    ///
    /// # Errors
    /// As [`KeyedState::is_allowed`].
    pub fn wait_time(
        &self,
        limits: &Limits,
        key: &str,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Duration, Error> {
        self.wait_time_hashed(limits, self.hash(key), key, request, now)
    }

    pub(crate) fn wait_time_hashed(
        &self,
        limits: &Limits,
        hash: u64,
        key: &str,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Duration, Error> {
        let ids = limits.applying(request)?;
        let now = nanos(now);
        let wait = match self.table.find(hash, |e| e.hash == hash && e.key == key) {
            Some(entry) => ids
                .iter()
                .map(|&id| {
                    let tat = entry.state.tat(id);
                    limits
                        .bucket(id)
                        .gcra
                        .judge(tat, now, request.cost)
                        .retry_after
                })
                .max()
                .unwrap_or(0),
            None => 0,
        };
        Ok(Duration::from_nanos(wait))
    }

    /// Forgets every bucket of `key`, which becomes a key never seen. Returns whether it had
    /// any state.
    pub fn reset(&mut self, key: &str) -> bool {
        let hash = self.hash(key);
        self.reset_hashed(hash, key)
    }

    pub(crate) fn reset_hashed(&mut self, hash: u64, key: &str) -> bool {
        match self
            .table
            .find_entry(hash, |e| e.hash == hash && e.key == key)
        {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// The buckets `key` has at `now`: the global ones always (full for a key never seen), and
    /// every scoped one it has spent from and that has not refilled yet.
    #[must_use]
    pub fn buckets(&self, limits: &Limits, key: &str, now: Duration) -> Vec<BucketStatus> {
        self.buckets_hashed(limits, self.hash(key), key, now)
    }

    pub(crate) fn buckets_hashed(
        &self,
        limits: &Limits,
        hash: u64,
        key: &str,
        now: Duration,
    ) -> Vec<BucketStatus> {
        let now = nanos(now);
        let empty = KeyState::default();
        let state = self
            .table
            .find(hash, |e| e.hash == hash && e.key == key)
            .map_or(&empty, |e| &e.state);
        let mut ids: Vec<u16> = limits.global.iter().copied().collect();
        ids.extend(
            state
                .scoped()
                .filter(|&(_, tat)| tat > now)
                .map(|(id, _)| id),
        );
        ids.sort_unstable_by_key(|&id| {
            let b = limits.bucket(id);
            (b.scope, b.window, id)
        });
        ids.into_iter()
            .map(|id| {
                let b = limits.bucket(id);
                let v = b.gcra.judge(state.tat(id), now, 0);
                BucketStatus::from_verdict(b.scope, b.window, b.limit, b.gcra.capacity(), &v)
            })
            .collect()
    }

    /// Drops every key whose buckets are all full at `now`; returns how many. Also done on its
    /// own, amortised over inserts, so memory follows the keys active now, not every key ever
    /// seen.
    pub fn sweep(&mut self, now: Duration) -> usize {
        self.sweep_nanos(nanos(now))
    }

    fn sweep_nanos(&mut self, now: u64) -> usize {
        let before = self.table.len();
        self.table.retain(|e| !e.state.is_idle(now));
        self.inserts_until_sweep = self.table.len().max(MIN_INSERTS_BETWEEN_SWEEPS);
        before - self.table.len()
    }

    /// Keys with state (some of which may have refilled since the last sweep).
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No key has state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Moves every key from `old` limits to `new` ones at `now`: a bucket that still exists
    /// (same scope, names and window) keeps the tokens it owes, capped at its new capacity;
    /// buckets that no longer exist are forgotten.
    pub fn carry_over(&mut self, old: &Limits, new: &Limits, now: Duration) {
        let now = nanos(now);
        self.table.retain(|e| {
            let mut next = KeyState::default();
            for (id, tat) in e.state.entries() {
                if tat <= now || usize::from(id) >= old.buckets.len() {
                    continue;
                }
                if let Some(new_id) = new.find_same(old, id) {
                    let carried =
                        new.bucket(new_id)
                            .gcra
                            .carry_over(&old.bucket(id).gcra, tat, now);
                    next.set(new_id, carried, now);
                }
            }
            e.state = next;
            !e.state.is_idle(now)
        });
    }
}

/// Judges `cost` against every applying bucket and, when every one holds it, spends it from
/// all of them. The decision is built where it is returned: it is a few hundred bytes, and
/// copying it was a measurable part of a check.
#[inline(always)]
fn evaluate(
    limits: &Limits,
    ids: &Applying,
    state: &mut KeyState,
    cost: u32,
    now: u64,
) -> Decision {
    let mut verdicts: ArrayVec<Verdict, MAX_BUCKETS> = ArrayVec::new();
    for &id in ids {
        verdicts.push(limits.bucket(id).gcra.judge(state.tat(id), now, cost));
    }
    let allowed = verdicts.iter().all(|v| v.ok);
    let mut decision = Decision::pending(allowed);
    for (&id, v) in ids.iter().zip(&verdicts) {
        let b = limits.bucket(id);
        let v = if allowed {
            *v
        } else {
            // A denied request spends nothing, so every bucket is reported as it stands, even
            // the ones that would have held the cost.
            Verdict {
                retry_after: v.retry_after,
                ..b.gcra.judge(state.tat(id), now, 0)
            }
        };
        decision.push(RawBucket::new(
            b.scope,
            b.window,
            b.limit,
            b.gcra.capacity(),
            &v,
        ));
    }
    if allowed {
        for (&id, v) in ids.iter().zip(&verdicts) {
            state.set(id, v.tat, now);
        }
    }
    decision.finish();
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_fills_one_cache_line_on_64_bit_targets() {
        if cfg!(target_pointer_width = "64") {
            assert_eq!(core::mem::size_of::<Entry>(), 64);
        }
    }
}
