//! The limiter without `std`: the limits and every key's buckets, owned by the caller (`&mut`).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use ecow::EcoString;
use hashbrown::HashTable;

use super::decision::{Admission, BucketStatus, Decision, Full, Report, Short, all_or_nothing};
use super::key::{HashedKey, Keying, LimiterKey};
use super::limits::{Applying, BucketSpec, Limits};
use super::{Error, MAX_BUCKETS, RateLimitConfig, Request};
use crate::nanos;

/// How many new keys may be inserted between two sweeps of idle keys, at least; beyond that the
/// table's own size sets the pace, so sweeping stays amortised O(1) per insert.
const MIN_INSERTS_BETWEEN_SWEEPS: usize = 1024;

/// The most buckets one key keeps in its block beside the entry without spilling: what one
/// request can touch beyond the global scope (three scopes of three windows).
const MAX_SCOPED: usize = MAX_BUCKETS - 3;

/// The arrival times of one key's buckets. The first `W` bucket ids (the global ones, which
/// [`Limits`] always compiles first) have fixed slots in the entry; the others a key uses live
/// in its [`Scoped`] block, inline in the entry, so a key that meets scoped limits reads one
/// entry and costs no allocation. Under limits without scoped buckets `S` is [`NoScoped`] and
/// the entry is the fixed slots alone.
///
/// `W` and `S` set where a bucket's time is kept, never what it means; a table's layout is
/// always one that holds every bucket of the limits in force ([`Layout::holds`]).
#[derive(Debug, Clone)]
struct KeyState<const W: usize, S> {
    inline: [u64; W],
    scoped: S,
}

impl<const W: usize, S: ScopedSlot> Default for KeyState<W, S> {
    fn default() -> Self {
        KeyState {
            inline: [0; W],
            scoped: S::default(),
        }
    }
}

/// Where a key keeps its [`Scoped`] block, if its layout has one.
trait ScopedSlot: Default {
    /// The block.
    fn block(&self) -> Option<&Scoped>;
    /// The block, to change.
    fn block_mut(&mut self) -> Option<&mut Scoped>;
}

/// No block: the layout for limits whose buckets all have fixed slots.
#[derive(Debug, Clone, Copy, Default)]
struct NoScoped;

impl ScopedSlot for NoScoped {
    fn block(&self) -> Option<&Scoped> {
        None
    }

    fn block_mut(&mut self) -> Option<&mut Scoped> {
        None
    }
}

/// In the entry itself.
impl ScopedSlot for Scoped {
    fn block(&self) -> Option<&Scoped> {
        Some(self)
    }

    fn block_mut(&mut self) -> Option<&mut Scoped> {
        Some(self)
    }
}

/// `(bucket id, arrival time)` pairs: [`MAX_SCOPED`] inline, which is what one request can
/// touch, and more beside them for a key that uses many scopes at once. A slot whose time has
/// passed is free for another bucket.
#[derive(Debug, Clone, Default)]
struct Scoped {
    ids: [u16; MAX_SCOPED],
    tats: [u64; MAX_SCOPED],
    len: u8,
    /// Rarely used, and pointer-sized where a `Vec` is three words: the block is inline in
    /// every entry of a [`Tables::Inline`] table.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<(u16, u64)>>>,
}

impl Scoped {
    /// The position of bucket `id` among the inline slots and its arrival time, looking at
    /// position `guess` first: a key's buckets take their slots in the order its requests
    /// first spend from them, which for requests of one shape (most of a key's) is the order
    /// they apply in, so the first look usually finds it. `None` for the position when the
    /// bucket is kept beyond them or nowhere (then its time is 0: full). A plain search, not
    /// one through [`Scoped::slots`]' chained iterator, which the compiler did not always
    /// inline (BENCHMARKS.md).
    #[inline]
    fn find(&self, id: u16, guess: usize) -> (Option<usize>, u64) {
        let ids = &self.ids[..usize::from(self.len)];
        let at = if ids.get(guess) == Some(&id) {
            Some(guess)
        } else {
            ids.iter().position(|&b| b == id)
        };
        if let Some(i) = at {
            return (Some(i), self.tats[i]);
        }
        let beyond = self
            .more
            .as_deref()
            .and_then(|more| more.iter().find(|&&(b, _)| b == id));
        (None, beyond.map_or(0, |&(_, tat)| tat))
    }

    fn slots(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let len = usize::from(self.len);
        self.ids[..len]
            .iter()
            .copied()
            .zip(self.tats[..len].iter().copied())
            .chain(self.more.iter().flat_map(|more| more.iter().copied()))
    }
}

/// Where a key keeps one bucket's arrival time: below the number of fixed slots `W`, fixed
/// slot `i`; from there, the scoped block's `tats[i - W]`; [`UNPLACED`] for a bucket kept in
/// the block's overflow or nowhere yet. A check finds each applying bucket's slot once, then
/// both judges and spends through it.
type Slot = u8;

/// The [`Slot`] of a bucket that [`BucketsMut::set`] must place.
const UNPLACED: Slot = Slot::MAX;

/// A key's buckets in whatever layout: its fixed slots and its scoped block, if it has one.
/// What a check does with them is written against this view rather than against each layout,
/// so it is compiled once: compiled per layout, it made the npm package's WebAssembly larger
/// (BENCHMARKS.md, the npm package).
struct Buckets<'a> {
    fixed: &'a [u64],
    scoped: Option<&'a Scoped>,
}

/// [`Buckets`], to change.
struct BucketsMut<'a> {
    fixed: &'a mut [u64],
    scoped: Option<&'a mut Scoped>,
}

impl Buckets<'_> {
    /// Bucket `id`'s [`Slot`] and arrival time; a scoped bucket's search looks at position
    /// `guess` of the scoped block first ([`Scoped::find`]).
    #[inline]
    fn find(&self, id: u16, guess: usize) -> (Slot, u64) {
        let w = self.fixed.len();
        if let Some(&tat) = self.fixed.get(usize::from(id)) {
            // Ids below W, which is at most 3.
            return (id as Slot, tat);
        }
        match self.scoped.map(|scoped| scoped.find(id, guess)) {
            // Positions below MAX_SCOPED, so W + i < UNPLACED.
            Some((Some(i), tat)) => ((w + i) as Slot, tat),
            Some((None, tat)) => (UNPLACED, tat),
            None => (UNPLACED, 0),
        }
    }

    /// The [`Slot`]s and arrival times of `ids`, into `slots` and `tats`. Each scoped search
    /// starts where the one before ended.
    fn find_all(
        &self,
        ids: &[u16],
        slots: &mut [Slot; MAX_BUCKETS],
        tats: &mut [u64; MAX_BUCKETS],
    ) {
        let w = self.fixed.len();
        let mut guess = 0;
        for ((&id, slot), tat) in ids.iter().zip(slots).zip(tats) {
            (*slot, *tat) = self.find(id, guess);
            if usize::from(*slot) >= w && *slot != UNPLACED {
                guess = usize::from(*slot) - w + 1;
            }
        }
    }
}

impl BucketsMut<'_> {
    fn view(&self) -> Buckets<'_> {
        Buckets {
            fixed: self.fixed,
            scoped: self.scoped.as_deref(),
        }
    }

    /// Sets each of `ids`' arrival time to `tats`' where `slots` says it is kept; a bucket
    /// [`UNPLACED`] goes wherever [`BucketsMut::set`] puts it.
    ///
    /// The buckets with a slot are written first: a bucket new to the key may take a slot
    /// whose time has passed, and had it taken one before that slot's own bucket was written
    /// through it, that write would land on the newcomer. Once written, a slot's time is after
    /// `now`, so no newcomer takes it.
    fn spend(&mut self, ids: &[u16], slots: &[Slot; MAX_BUCKETS], tats: &[u64], now: u64) {
        let w = self.fixed.len();
        for (&slot, &tat) in slots.iter().zip(tats).take(ids.len()) {
            let i = usize::from(slot);
            if i < w {
                self.fixed[i] = tat;
            } else if slot != UNPLACED
                && let Some(scoped) = self.scoped.as_deref_mut()
                && let Some(t) = scoped.tats.get_mut(i - w)
            {
                *t = tat;
            }
        }
        for ((&id, &slot), &tat) in ids.iter().zip(slots).zip(tats) {
            if slot == UNPLACED {
                self.set(id, tat, now);
            }
        }
    }

    fn set(&mut self, id: u16, tat: u64, now: u64) {
        if let Some(slot) = self.fixed.get_mut(usize::from(id)) {
            *slot = tat;
            return;
        }
        let Some(scoped) = self.scoped.as_deref_mut() else {
            // Unreachable: a table's layout holds every bucket of the limits it is used with.
            debug_assert!(false, "bucket {id} has no slot in this layout");
            return;
        };
        let len = usize::from(scoped.len);
        // The bucket's own slot, else one whose bucket has refilled (it carries no
        // information), else a new one; a debt is never dropped.
        if let Some(i) = (0..len).find(|&i| scoped.ids[i] == id) {
            scoped.tats[i] = tat;
        } else if let Some(slot) = scoped
            .more
            .iter_mut()
            .flat_map(|more| more.iter_mut())
            .find(|(b, _)| *b == id)
        {
            slot.1 = tat;
        } else if let Some(i) = (0..len).find(|&i| scoped.tats[i] <= now) {
            scoped.ids[i] = id;
            scoped.tats[i] = tat;
        } else if len < MAX_SCOPED {
            scoped.ids[len] = id;
            scoped.tats[len] = tat;
            scoped.len += 1;
        } else {
            let more = scoped.more.get_or_insert_with(Box::default);
            more.retain(|&(_, t)| t > now);
            more.push((id, tat));
        }
    }
}

impl<const W: usize, S: ScopedSlot> KeyState<W, S> {
    fn buckets(&self) -> Buckets<'_> {
        Buckets {
            fixed: &self.inline,
            scoped: self.scoped.block(),
        }
    }

    fn buckets_mut(&mut self) -> BucketsMut<'_> {
        BucketsMut {
            fixed: &mut self.inline,
            scoped: self.scoped.block_mut(),
        }
    }

    fn tat(&self, id: u16) -> u64 {
        self.buckets().find(id, 0).1
    }

    fn set(&mut self, id: u16, tat: u64, now: u64) {
        self.buckets_mut().set(id, tat, now);
    }

    fn scoped(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.scoped.block().into_iter().flat_map(Scoped::slots)
    }

    /// All buckets full at `now`: the key is indistinguishable from one never seen.
    fn is_idle(&self, now: u64) -> bool {
        self.inline.iter().all(|&t| t <= now) && self.scoped().all(|(_, t)| t <= now)
    }

    fn entries(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (0u16..)
            .zip(self.inline.iter().copied())
            .chain(self.scoped())
    }
}

/// One key and its buckets. Short keys (user ids, IPv4 addresses) live inline in the entry's
/// string, so finding such a key and updating its buckets reads the entry alone; longer keys
/// are allocated. Small entries keep more keys in cache, which is what a keyed check waits on
/// (BENCHMARKS.md, "Memory per active key" and the limiter's history).
#[derive(Debug, Clone)]
struct Entry<const W: usize, S> {
    key: EcoString,
    state: KeyState<W, S>,
}

impl<const W: usize, S> Entry<W, S> {
    /// How a table of this layout hashes its entries when it grows. One function per layout
    /// rather than a closure at each call site: hashbrown's resizing code is compiled once per
    /// hasher type, and per-site closures made a copy of it for each site in the npm package's
    /// WebAssembly.
    fn hasher(keying: &Keying) -> impl Fn(&Self) -> u64 + Copy + '_ {
        move |e| keying.hash(&e.key)
    }

    /// Whether this is `key`'s entry. Keys of 8 to 16 bytes (most user ids) are compared as two
    /// overlapping 8-byte words, inline: `str`'s `==` calls `memcmp`, a visible share of a keyed
    /// check whose key is in cache.
    #[inline(always)]
    fn is(&self, key: &str) -> bool {
        let (a, b) = (self.key.as_bytes(), key.as_bytes());
        let n = a.len();
        if n != b.len() {
            return false;
        }
        if (8..=16).contains(&n) {
            let word = |s: &[u8], at: usize| {
                s.get(at..at + 8)
                    .and_then(|w| <[u8; 8]>::try_from(w).ok())
                    .map(u64::from_ne_bytes)
            };
            return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
        }
        a == b
    }
}

/// Every key's entry, in one layout.
type Table<const W: usize, S> = HashTable<Entry<W, S>>;

/// The table in the layout that suits the limits in force: one inline bucket when there is at
/// most one global window, three otherwise, and the scoped block inline too when there are
/// scoped limits. The layout is only about memory and speed, never about an answer.
#[derive(Debug, Clone)]
enum Tables {
    Narrow(Table<1, NoScoped>),
    Wide(Table<3, NoScoped>),
    Inline(Table<3, Scoped>),
}

/// The layouts of [`Tables`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Narrow,
    Wide,
    Inline,
}

impl Layout {
    /// Whether an entry of this layout has a slot for every bucket of `limits`.
    fn holds(self, limits: &Limits) -> bool {
        match self {
            Layout::Narrow => limits.buckets.len() <= 1,
            Layout::Wide => limits.buckets.len() <= 3,
            Layout::Inline => true,
        }
    }
}

impl Tables {
    fn layout_for(limits: &Limits) -> Layout {
        if limits.buckets.len() > limits.global.len() {
            Layout::Inline
        } else if limits.global.len() > 1 {
            Layout::Wide
        } else {
            Layout::Narrow
        }
    }

    fn empty(layout: Layout) -> Tables {
        match layout {
            Layout::Narrow => Tables::Narrow(Table::new()),
            Layout::Wide => Tables::Wide(Table::new()),
            Layout::Inline => Tables::Inline(Table::new()),
        }
    }

    fn layout(&self) -> Layout {
        match self {
            Tables::Narrow(_) => Layout::Narrow,
            Tables::Wide(_) => Layout::Wide,
            Tables::Inline(_) => Layout::Inline,
        }
    }
}

/// Runs `$body` with `$t` bound to the table inside `$tables`, whatever its layout.
macro_rules! with_table {
    ($tables:expr, $t:ident => $body:expr) => {
        match $tables {
            Tables::Narrow($t) => $body,
            Tables::Wide($t) => $body,
            Tables::Inline($t) => $body,
        }
    };
}

/// One key's buckets, borrowed from the table in whichever layout it has.
enum StateMut<'a> {
    Narrow(&'a mut KeyState<1, NoScoped>),
    Wide(&'a mut KeyState<3, NoScoped>),
    Inline(&'a mut KeyState<3, Scoped>),
}

/// Runs `$body` with `$s` bound to the key state inside `$state`, whatever its layout.
macro_rules! with_state {
    ($state:expr, $s:ident => $body:expr) => {
        match $state {
            StateMut::Narrow($s) => $body,
            StateMut::Wide($s) => $body,
            StateMut::Inline($s) => $body,
        }
    };
}

fn find<'t, const W: usize, S>(
    table: &'t Table<W, S>,
    key: HashedKey<'_>,
) -> Option<&'t KeyState<W, S>> {
    table
        .find(key.hash(), |e| e.is(key.as_str()))
        .map(|e| &e.state)
}

/// New keys to insert before the next sweep of a table left with `len` keys: as many as it
/// holds (at least [`MIN_INSERTS_BETWEEN_SWEEPS`]), so a sweep's cost is paid for by as many
/// inserts.
fn inserts_before_sweeping(len: usize) -> usize {
    len.max(MIN_INSERTS_BETWEEN_SWEEPS)
}

/// Drops every entry idle at `now`; returns how many.
fn sweep<const W: usize, S: ScopedSlot>(table: &mut Table<W, S>, now: u64) -> usize {
    let before = table.len();
    table.retain(|e| !e.state.is_idle(now));
    before - table.len()
}

/// Moves every entry of `from` into `to` at `now`, each bucket's `(id, arrival time)` as
/// `bucket` maps it (`None` drops it); a key left with no debt is dropped.
fn carry<const A: usize, SA: ScopedSlot, const B: usize, SB: ScopedSlot>(
    from: Table<A, SA>,
    to: &mut Table<B, SB>,
    keying: &Keying,
    now: u64,
    bucket: impl Fn(u16, u64) -> Option<(u16, u64)>,
) {
    let rehash = Entry::hasher(keying);
    to.reserve(from.len(), rehash);
    for entry in from {
        let mut next = KeyState::<B, SB>::default();
        for (id, tat) in entry.state.entries() {
            if tat <= now {
                continue;
            }
            if let Some((id, tat)) = bucket(id, tat) {
                next.set(id, tat, now);
            }
        }
        if !next.is_idle(now) {
            let hash = keying.hash(&entry.key);
            to.insert_unique(
                hash,
                Entry {
                    key: entry.key,
                    state: next,
                },
                rehash,
            );
        }
    }
}

/// A rate limiter for one owner: the limits in force and every key's buckets under them, held
/// together so that no key's state is ever read under limits it was not made for. It needs no
/// `std` and no lock; the owner calls it by `&mut` (the npm package, the console, the
/// WebAssembly component). With `std`, [`RateLimiter`](super::RateLimiter) shards several of
/// them behind locks for many threads.
///
/// ```
/// use core::time::Duration;
/// use flowgate_core::ratelimit::{Limiter, RateLimitConfig, Request};
///
/// let mut limiter = Limiter::new(&RateLimitConfig { max_burst: 1, ..Default::default() }, 0x5eed)?;
/// let now = Duration::from_secs(5);
/// assert!(limiter.is_allowed("bot", &Request::default(), now)?.allowed);
/// assert!(!limiter.is_allowed("bot", &Request::default(), now)?.allowed);
/// assert_eq!(limiter.wait_time("bot", &Request::default(), now)?, Duration::from_secs(1));
/// # Ok::<(), flowgate_core::ratelimit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Limiter {
    limits: Arc<Limits>,
    keys: Keys,
}

/// Every key's buckets, under the limits of the [`Limiter`] holding them.
#[derive(Debug, Clone)]
struct Keys {
    tables: Tables,
    keying: Keying,
    /// New keys until the next sweep: the table's size after the last one (at least
    /// [`MIN_INSERTS_BETWEEN_SWEEPS`]), so a sweep's cost is paid for by as many inserts.
    inserts_until_sweep: usize,
    /// When the last sweep ran (nanoseconds). The sweeps inserts make drop the keys idle
    /// since then: a key that came back in between keeps its entry, so a key used every few
    /// seconds is not dropped and inserted again over and over.
    swept_at: u64,
    /// The most keys held at once: a new key beyond it is refused (after a sweep for room).
    max_keys: usize,
}

impl Limiter {
    /// A limiter for `config` whose key hashing is seeded with `seed`. Keys may come from
    /// untrusted clients: pick a random seed so they cannot aim for one hash chain.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] listing every problem in `config`.
    pub fn new(config: &RateLimitConfig, seed: u64) -> Result<Limiter, Error> {
        Ok(Limiter::from_limits(Limits::new(config)?, seed))
    }

    /// A limiter for limits already compiled (by [`Limits::new`] or [`Limits::from_quotas`]),
    /// its key hashing seeded with `seed`.
    #[must_use]
    pub fn from_limits(limits: impl Into<Arc<Limits>>, seed: u64) -> Limiter {
        let limits = limits.into();
        Limiter {
            keys: Keys {
                tables: Tables::empty(Tables::layout_for(&limits)),
                keying: Keying::with_seed(seed),
                inserts_until_sweep: MIN_INSERTS_BETWEEN_SWEEPS,
                swept_at: 0,
                max_keys: usize::MAX,
            },
            limits,
        }
    }

    /// The same limiter holding at most `max` keys at once: a request for a new key beyond it
    /// first drops the keys whose buckets are all full (they decide as a new key would), and
    /// is refused with [`Error::TooManyKeys`] if that makes no room. A key that is still
    /// limiting is never dropped to make room: that would hand its client a fresh budget.
    #[must_use]
    pub fn with_max_keys(mut self, max: usize) -> Limiter {
        self.set_max_keys(max);
        self
    }

    pub(crate) fn set_max_keys(&mut self, max: usize) {
        self.keys.max_keys = max;
    }

    /// `text` hashed as this limiter hashes keys.
    #[must_use]
    pub fn key<'k>(&self, text: &'k str) -> HashedKey<'k> {
        self.keys.keying.key(text)
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// Checks `request` for `key` at `now` (time since any fixed epoch) and, when every
    /// applying bucket holds its cost, spends it from all of them at once.
    ///
    /// # Errors
    /// [`Error::ZeroCost`], [`Error::CostExceedsCapacity`] for a cost that could never pass,
    /// or [`Error::TooManyKeys`] for a new key when the limiter holds its maximum.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub fn is_allowed<'k>(
        &mut self,
        key: impl LimiterKey<'k>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Decision, Error> {
        let key = self.keys.keying.resolve(key);
        let mut ids = Applying::new();
        self.limits.applying(request, &mut ids)?;
        let now = nanos(now);
        // Filled where it is returned: a decision is a few hundred bytes, and copying it through
        // the layers was a measurable part of a check (most of all in WebAssembly).
        let mut decision = Decision::pending();
        let mut report = Full::<1>::new(&mut decision);
        let Limiter { limits, keys } = self;
        with_state!(keys.state_mut(limits, key, now)?, state => {
            decide(&mut report, limits, &ids, state.buckets_mut(), request.cost, now);
        });
        Ok(decision)
    }

    /// Checks and spends as [`Limiter::is_allowed`] does, answering only whether the request
    /// may go and how long to wait otherwise: no report of each bucket, so less work.
    ///
    /// # Errors
    /// As [`Limiter::is_allowed`].
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub fn check<'k>(
        &mut self,
        key: impl LimiterKey<'k>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Admission, Error> {
        let key = self.keys.keying.resolve(key);
        let now = nanos(now);
        if request.cost == 1
            && let Some(admission) = self.check_global(key, now)
        {
            return Ok(admission);
        }
        self.check_any(key, request, now)
    }

    /// [`Limiter::check`] for any request. Out of line, so that the common case
    /// ([`Limiter::check_global`]) is a small function that keeps its few values in registers.
    #[inline(never)]
    fn check_any(
        &mut self,
        key: HashedKey<'_>,
        request: &Request<'_>,
        now: u64,
    ) -> Result<Admission, Error> {
        let mut ids = Applying::new();
        self.limits.applying(request, &mut ids)?;
        let mut short = Short::default();
        let Limiter { limits, keys } = self;
        with_state!(keys.state_mut(limits, key, now)?, state => {
            decide(&mut short, limits, &ids, state.buckets_mut(), request.cost, now);
        });
        Ok(short.admission())
    }

    /// [`Limiter::check`] for a cost of one under limits that have only global buckets (ids
    /// `0..n`, all in the entry's fixed slots), for a key already in the table; `None`
    /// anywhere else, and the general path decides. The same rule, without building the list
    /// of applying buckets or looking each one up: those were most of a keyed check's
    /// instructions, and with 100,000 keys the shorter check also lets the CPU overlap one
    /// check's cache misses with the next one's (BENCHMARKS.md).
    #[inline(always)]
    fn check_global(&mut self, key: HashedKey<'_>, now: u64) -> Option<Admission> {
        let limits = &*self.limits;
        if limits.buckets.len() != limits.global.len() {
            return None;
        }
        let global = limits.buckets.as_slice();
        let (hash, text) = (key.hash(), key.as_str());
        match &mut self.keys.tables {
            Tables::Narrow(t) => {
                admit_global(&mut t.find_mut(hash, |e| e.is(text))?.state, global, now)
            }
            Tables::Wide(t) => {
                admit_global(&mut t.find_mut(hash, |e| e.is(text))?.state, global, now)
            }
            Tables::Inline(_) => None,
        }
    }

    /// The time until `request` would be allowed for `key` (zero if now); spends nothing.
    ///
    /// # Errors
    /// [`Error::ZeroCost`], or [`Error::CostExceedsCapacity`] for a cost that could never pass.
    pub fn wait_time<'k>(
        &self,
        key: impl LimiterKey<'k>,
        request: &Request<'_>,
        now: Duration,
    ) -> Result<Duration, Error> {
        let key = self.keys.keying.resolve(key);
        let mut ids = Applying::new();
        self.limits.applying(request, &mut ids)?;
        let now = nanos(now);
        let mut short = Short::default();
        with_table!(&self.keys.tables, t => {
            let empty = Default::default();
            let state = find(t, key).unwrap_or(&empty);
            let mut tats = [0; MAX_BUCKETS];
            state.buckets().find_all(&ids, &mut [UNPLACED; MAX_BUCKETS], &mut tats);
            // Asked, not spent: the arrival times after spending are dropped.
            let buckets = ids.iter().map(|&id| self.limits.bucket(id).judged());
            all_or_nothing(&mut short, buckets, &mut tats[..ids.len()], request.cost, now);
        });
        Ok(Duration::from_nanos(short.wait()))
    }

    /// Forgets every bucket of `key`, which becomes a key never seen. Returns whether it had
    /// any state.
    pub fn reset<'k>(&mut self, key: impl LimiterKey<'k>) -> bool {
        let key = self.keys.keying.resolve(key);
        with_table!(&mut self.keys.tables, t => match t.find_entry(key.hash(), |e| e.is(key.as_str())) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        })
    }

    /// The buckets `key` has at `now`: the global ones always (full for a key never seen), and
    /// every scoped one it has spent from and that has not refilled yet.
    #[must_use]
    pub fn buckets<'k>(&self, key: impl LimiterKey<'k>, now: Duration) -> Vec<BucketStatus> {
        let key = self.keys.keying.resolve(key);
        with_table!(&self.keys.tables, t => bucket_statuses(&self.limits, find(t, key), nanos(now)))
    }

    /// Drops every key whose buckets are all full at `now`; returns how many.
    ///
    /// Inserting new keys also sweeps, amortised over the inserts, so memory follows the keys
    /// in use, not every key ever seen. Those sweeps give a second chance: each drops the keys
    /// idle since the one before, and keeps a key that came back in between.
    pub fn sweep(&mut self, now: Duration) -> usize {
        let now = nanos(now);
        let swept = with_table!(&mut self.keys.tables, t => sweep(t, now));
        self.keys.inserts_until_sweep = inserts_before_sweeping(self.len());
        self.keys.swept_at = now.max(self.keys.swept_at);
        swept
    }

    /// Keys with state (some of which may have refilled since the last sweep).
    #[must_use]
    pub fn len(&self) -> usize {
        with_table!(&self.keys.tables, t => t.len())
    }

    /// No key has state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Switches to `config` at `now` without forgetting what keys have spent, as
    /// [`Limiter::install`] does.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; the limits in force are then unchanged.
    pub fn reconfigure(&mut self, config: &RateLimitConfig, now: Duration) -> Result<(), Error> {
        self.install(Arc::new(Limits::new(config)?), now);
        Ok(())
    }

    /// Puts `new` limits in force at `now`, moving every key over: a bucket that still exists
    /// (same scope, names and window) keeps the tokens it owes, capped at its new capacity;
    /// buckets that no longer exist are forgotten.
    pub fn install(&mut self, new: Arc<Limits>, now: Duration) {
        let now = nanos(now);
        let old = core::mem::replace(&mut self.limits, new);
        let new = &self.limits;
        let carried = |id: u16, tat| {
            if usize::from(id) >= old.buckets.len() {
                return None;
            }
            let new_id = new.find_same(&old, id)?;
            let gcra = &new.bucket(new_id).gcra;
            Some((new_id, gcra.carry_over(&old.bucket(id).gcra, tat, now)))
        };
        self.keys.move_to(Tables::layout_for(new), now, carried);
    }

    /// Whether `key` has an entry.
    #[cfg(test)]
    pub(crate) fn holds(&self, key: &str) -> bool {
        let key = self.key(key);
        with_table!(&self.keys.tables, t => find(t, key).is_some())
    }

    /// An empty limiter whose table has a layout other than the one that suits `limits`, when
    /// another one holds them: answers must not depend on it.
    #[cfg(test)]
    pub(crate) fn with_other_layout(limits: impl Into<Arc<Limits>>, seed: u64) -> Limiter {
        let mut limiter = Limiter::from_limits(limits, seed);
        limiter.keys.tables = Tables::empty(match limiter.keys.tables.layout() {
            Layout::Narrow => Layout::Wide,
            Layout::Wide | Layout::Inline => Layout::Inline,
        });
        limiter
    }
}

impl Keys {
    /// `key`'s buckets, inserted full if it has none. Keeping a key never seen is right
    /// whatever the check then says: its buckets are full and [`Limits::applying`] has refused
    /// any cost above the smallest capacity, so its first check is always allowed and spends.
    #[inline(always)]
    fn state_mut(
        &mut self,
        limits: &Limits,
        key: HashedKey<'_>,
        now: u64,
    ) -> Result<StateMut<'_>, Error> {
        // The layout is chosen with the limits, when the limiter is made or they change.
        debug_assert!(self.tables.layout().holds(limits));
        let Keys {
            tables,
            keying,
            inserts_until_sweep,
            swept_at,
            max_keys,
        } = self;
        macro_rules! find_or_insert {
            ($t:expr) => {{
                match $t.find_entry(key.hash(), |e| e.is(key.as_str())) {
                    Ok(found) => &mut found.into_mut().state,
                    Err(absent) => {
                        let table = absent.into_table();
                        if table.len() >= *max_keys {
                            // Room from the keys that decide as a new one would; never from
                            // one that is still limiting.
                            sweep(table, now);
                            if table.len() >= *max_keys {
                                return Err(Error::TooManyKeys { max: *max_keys });
                            }
                        }
                        match inserts_until_sweep.checked_sub(1) {
                            Some(left) => *inserts_until_sweep = left,
                            None => {
                                // Never a time after `now`: callers' clocks may step back
                                // a little between threads.
                                sweep(table, (*swept_at).min(now));
                                *swept_at = now.max(*swept_at);
                                *inserts_until_sweep = inserts_before_sweeping(table.len());
                            }
                        }
                        let entry = Entry {
                            key: EcoString::from(key.as_str()),
                            state: KeyState::default(),
                        };
                        let rehash = Entry::hasher(keying);
                        &mut table
                            .insert_unique(key.hash(), entry, rehash)
                            .into_mut()
                            .state
                    }
                }
            }};
        }
        Ok(match tables {
            Tables::Narrow(t) => StateMut::Narrow(find_or_insert!(t)),
            Tables::Wide(t) => StateMut::Wide(find_or_insert!(t)),
            Tables::Inline(t) => StateMut::Inline(find_or_insert!(t)),
        })
    }

    /// Moves every key into a table of `layout` at `now`, its buckets mapped by `bucket`.
    fn move_to(
        &mut self,
        layout: Layout,
        now: u64,
        bucket: impl Fn(u16, u64) -> Option<(u16, u64)> + Copy,
    ) {
        let from = core::mem::replace(&mut self.tables, Tables::empty(layout));
        let keying = &self.keying;
        with_table!(&mut self.tables, to => with_table!(from, from => {
            carry(from, to, keying, now, bucket);
        }));
    }
}

/// The statuses [`Limiter::buckets`] reports, from the key's state if it has one.
fn bucket_statuses<const W: usize, S: ScopedSlot>(
    limits: &Limits,
    state: Option<&KeyState<W, S>>,
    now: u64,
) -> Vec<BucketStatus> {
    let empty = KeyState::<W, S>::default();
    let state = state.unwrap_or(&empty);
    let mut ids: Vec<u16> = limits.global.iter().copied().collect();
    ids.extend(
        state
            .entries()
            .filter(|&(id, tat)| {
                tat > now && usize::from(id) < limits.buckets.len() && !limits.global.contains(&id)
            })
            .map(|(id, _)| id),
    );
    ids.sort_unstable_by_key(|&id| {
        let b = limits.bucket(id);
        (b.scope, b.window, id)
    });
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let b = limits.bucket(id);
            let v = b.gcra.judge(state.tat(id), now, 0);
            BucketStatus::from_verdict(b.scope, b.window, b.limit, b.gcra.capacity(), &v)
        })
        .collect()
}

/// [`all_or_nothing`] for a cost of one over `global` (the limits' only buckets, ids `0..n`) in
/// `state`'s fixed slots; `None` if it has fewer slots than that.
#[inline(always)]
fn admit_global<const W: usize>(
    state: &mut KeyState<W, NoScoped>,
    global: &[BucketSpec],
    now: u64,
) -> Option<Admission> {
    let mut tats = state.inline;
    let judged = tats.get_mut(..global.len())?;
    let mut short = Short::default();
    let buckets = global.iter().map(BucketSpec::judged);
    if all_or_nothing(&mut short, buckets, judged, 1, now) {
        state.inline = tats;
    }
    Some(short.admission())
}

/// Decides `cost` against every applying bucket of a key by [`all_or_nothing`], reporting to
/// `report`, and writes what was spent back to the key's buckets.
///
/// Each bucket is found once, then judged and spent through its slot: finding a scoped bucket
/// is a search, and searching again to spend lengthened every allowed full check. Inlined into
/// each layout's check natively; out of line in WebAssembly, where a copy per layout would
/// weigh on the npm package's size.
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
#[cfg_attr(target_arch = "wasm32", inline(never))]
fn decide<R: Report>(
    report: &mut R,
    limits: &Limits,
    ids: &Applying,
    mut state: BucketsMut<'_>,
    cost: u32,
    now: u64,
) {
    let mut slots = [UNPLACED; MAX_BUCKETS];
    let mut tats = [0u64; MAX_BUCKETS];
    state.view().find_all(ids, &mut slots, &mut tats);
    let buckets = ids.iter().map(|&id| limits.bucket(id).judged());
    if all_or_nothing(report, buckets, &mut tats[..ids.len()], cost, now) {
        state.spend(ids, &slots, &tats, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small_on_64_bit_targets() {
        if cfg!(target_pointer_width = "64") {
            assert_eq!(core::mem::size_of::<Entry<1, NoScoped>>(), 24);
            assert_eq!(core::mem::size_of::<Entry<3, NoScoped>>(), 40);
            assert_eq!(core::mem::size_of::<Entry<3, Scoped>>(), 144);
        }
    }

    fn entry(key: &str) -> Entry<1, NoScoped> {
        Entry {
            key: EcoString::from(key),
            state: KeyState::default(),
        }
    }

    proptest::proptest! {
        /// The inline comparison agrees with `==` for every length around its 8-to-16-byte
        /// path, and for keys that differ in one byte anywhere (the two words overlap).
        #[test]
        fn an_entry_is_its_key_and_no_other(
            key in "[a-z0-9]{0,24}",
            at in proptest::num::usize::ANY,
            shorter in proptest::bool::ANY,
        ) {
            let e = entry(&key);
            proptest::prop_assert!(e.is(&key));
            let mut other = key.clone().into_bytes();
            if shorter || other.is_empty() {
                other.pop();
            } else {
                let i = at % other.len();
                other[i] = if other[i] == b'a' { b'b' } else { b'a' };
            }
            let other = alloc::string::String::from_utf8(other).unwrap();
            proptest::prop_assert_eq!(e.is(&other), key == other);
        }
    }
}
