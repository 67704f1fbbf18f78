//! What a check answers: allowed or not, the binding bucket, and every applying bucket.

use core::time::Duration;

use arrayvec::ArrayVec;

use super::MAX_BUCKETS;
use super::config::Window;
use super::gcra::{Gcra, Verdict};
use super::limits::Scope;
use crate::nanos;

/// One applying bucket as [`judge_all`] reads it.
#[derive(Clone, Copy)]
pub(crate) struct Judged<'a> {
    pub(crate) scope: Scope,
    pub(crate) window: Window,
    pub(crate) limit: u32,
    pub(crate) gcra: &'a Gcra,
}

/// What a check reports besides spending: the one way its callers differ. The rule itself,
/// every applying bucket judged and the cost spent from all of them or from none, is
/// [`all_or_nothing`], written once for every report and every place a key's buckets live (the
/// in-process table, a Redis script's reply); a report chooses what it keeps of each bucket's
/// judgement, and so when it works out the times after spending.
pub(crate) trait Report {
    /// Judges `cost` against `gcra` at arrival time `tat`, keeping what the report needs of
    /// it; it may move `tat` to the time after spending already when the bucket holds the cost
    /// (the caller keeps it only if every bucket does).
    fn judge(&mut self, gcra: &Gcra, tat: &mut u64, now: u64, cost: u32);
    /// Whether every bucket judged so far holds the cost, from what the report kept: asked
    /// once after the last one rather than tallied per bucket, which kept each bucket's
    /// judgement a few instructions shorter.
    fn all_hold(&self) -> bool;
    /// Takes the answer: whether the request was `allowed`, for the applying buckets judged
    /// (in the order judged) at arrival times `tats`; when allowed, leaves in `tats` the times
    /// after spending.
    fn report<'a>(
        &mut self,
        allowed: bool,
        buckets: impl Iterator<Item = Judged<'a>> + Clone,
        tats: &mut [u64],
        now: u64,
    );
}

/// The all-or-nothing rule of a check: judges `cost` against every bucket of `buckets` at
/// arrival times `tats` (a copy of where the buckets live), and tells `report` the answer.
/// Returns whether every bucket holds the cost; then `tats` holds the arrival times after
/// spending it from all of them, for the caller to write back, and otherwise nothing that
/// may be kept.
#[inline(always)]
pub(crate) fn all_or_nothing<'a, R: Report>(
    report: &mut R,
    buckets: impl Iterator<Item = Judged<'a>> + Clone,
    tats: &mut [u64],
    cost: u32,
    now: u64,
) -> bool {
    for (b, tat) in buckets.clone().zip(tats.iter_mut()) {
        report.judge(b.gcra, tat, now, cost);
    }
    let allowed = report.all_hold();
    report.report(allowed, buckets, tats, now);
    allowed
}

/// The short report, [`Admission`]'s: the longest wait among the buckets, and nothing of each.
#[derive(Debug, Default)]
pub(crate) struct Short {
    wait: u64,
}

impl Short {
    /// The answer, in the time unit the buckets were judged in.
    pub(crate) fn admission(&self) -> Admission {
        Admission {
            allowed: self.all_hold(),
            retry_after: Duration::from_nanos(self.wait),
        }
    }

    /// The longest wait, in the buckets' time unit.
    pub(crate) const fn wait(&self) -> u64 {
        self.wait
    }
}

impl Report for Short {
    #[inline(always)]
    fn judge(&mut self, gcra: &Gcra, tat: &mut u64, now: u64, cost: u32) {
        match gcra.admit(*tat, now, cost) {
            Ok(next) => *tat = next,
            Err(wait) => self.wait = self.wait.max(wait),
        }
    }

    /// A bucket short of the cost waits at least a nanosecond (a unit) for it.
    #[inline(always)]
    fn all_hold(&self) -> bool {
        self.wait == 0
    }

    /// Each bucket that holds the cost had its time moved when judged.
    #[inline(always)]
    fn report<'a>(
        &mut self,
        _: bool,
        _: impl Iterator<Item = Judged<'a>> + Clone,
        _: &mut [u64],
        _: u64,
    ) {
    }
}

/// The whole [`Decision`] as a report, filled in place: it is a few hundred bytes, and copying
/// it out through the layers was a measurable part of a check.
///
/// `UNIT_NANOS` is how many nanoseconds one unit of the buckets' time is: 1 in process, 1,000
/// for buckets kept in microseconds. A constant, so that with 1 the scaling costs nothing.
pub(crate) struct Full<'d, const UNIT_NANOS: u64> {
    decision: &'d mut Decision,
    /// Each bucket's verdict.
    verdicts: ArrayVec<Verdict, MAX_BUCKETS>,
    /// Every verdict so far holds the cost.
    all_hold: bool,
}

impl<'d, const UNIT_NANOS: u64> Full<'d, UNIT_NANOS> {
    /// A report into `decision`.
    #[inline(always)]
    pub(crate) fn new(decision: &'d mut Decision) -> Self {
        Full {
            decision,
            verdicts: ArrayVec::new(),
            all_hold: true,
        }
    }
}

impl<const UNIT_NANOS: u64> Report for Full<'_, UNIT_NANOS> {
    /// Leaves `tat` as it stands, which is what a denied request reports; [`Report::report`]
    /// moves the times once the request is allowed.
    #[inline(always)]
    fn judge(&mut self, gcra: &Gcra, tat: &mut u64, now: u64, cost: u32) {
        let v = gcra.judge(*tat, now, cost);
        self.all_hold &= v.ok;
        self.verdicts.push(v);
    }

    #[inline(always)]
    fn all_hold(&self) -> bool {
        self.all_hold
    }

    #[inline(always)]
    fn report<'a>(
        &mut self,
        allowed: bool,
        buckets: impl Iterator<Item = Judged<'a>> + Clone,
        tats: &mut [u64],
        now: u64,
    ) {
        let (decision, unit) = (&mut *self.decision, UNIT_NANOS);
        decision.start(allowed);
        for ((b, &before), &v) in buckets.clone().zip(&*tats).zip(&self.verdicts) {
            let mut v = if allowed {
                v
            } else {
                // A denied request spends nothing, so every bucket is reported as it stands,
                // even the ones that would have held the cost.
                Verdict {
                    retry_after: v.retry_after,
                    ..b.gcra.judge(before, now, 0)
                }
            };
            v.reset_after = v.reset_after.saturating_mul(unit);
            v.retry_after = v.retry_after.saturating_mul(unit);
            decision.push(RawBucket::new(
                b.scope,
                b.window,
                b.limit,
                b.gcra.capacity(),
                &v,
            ));
        }
        if allowed {
            for (tat, v) in tats.iter_mut().zip(&self.verdicts) {
                *tat = v.tat;
            }
        }
        decision.finish();
        // The binding bucket as reported: after spending when allowed, as it stands when not.
        let binding = usize::from(decision.binding);
        if let (Some(b), Some(&tat)) = (buckets.clone().nth(binding), tats.get(binding)) {
            decision.next_token_after =
                Duration::from_nanos(b.gcra.next_token_after(tat, now).saturating_mul(unit));
        }
    }
}

/// The short answer to a check: whether the request may go, and if not, how long to wait.
///
/// What [`RateLimiter::check`](super::RateLimiter::check) and
/// [`Limiter::check`](super::Limiter::check) answer, for callers that act on the answer and need no report of each bucket: it spends
/// exactly as [`Decision`] does, and skips counting each bucket's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Admission {
    /// Whether the request may go now. When it may, every applying bucket was debited; when
    /// not, none was.
    pub allowed: bool,
    /// Time until every applying bucket holds the cost; zero when allowed.
    pub retry_after: Duration,
}

/// One bucket's state as seen by one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketStatus {
    /// The scope the bucket belongs to.
    pub scope: Scope,
    /// The window it counts over.
    pub window: Window,
    /// Its limit per window (`L`).
    pub limit: u32,
    /// How many tokens it holds when full: `L`, or `min(L, burst)` for the scope's shortest
    /// window.
    pub capacity: u32,
    /// Whole tokens left (after this request, when it was allowed).
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset_after: Duration,
    /// Time until it holds the request's cost (zero if it does now).
    pub retry_after: Duration,
}

impl BucketStatus {
    pub(crate) fn from_verdict(
        scope: Scope,
        window: Window,
        limit: u32,
        capacity: u32,
        v: &Verdict,
    ) -> Self {
        BucketStatus {
            scope,
            window,
            limit,
            capacity,
            remaining: v.remaining,
            reset_after: Duration::from_nanos(v.reset_after),
            retry_after: Duration::from_nanos(v.retry_after),
        }
    }

    /// The same bucket `elapsed` later if nobody spends from it meanwhile: how a display
    /// refills a bar between two polls of the server.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use flowgate_core::ratelimit::{BucketStatus, Scope, Window};
    /// let empty = BucketStatus {
    ///     scope: Scope::Global, window: Window::Minute, limit: 60, capacity: 10,
    ///     remaining: 0, reset_after: Duration::from_secs(10), retry_after: Duration::ZERO,
    /// };
    /// let later = empty.after(Duration::from_millis(3_500));
    /// assert_eq!(later.remaining, 3);
    /// assert_eq!(later.reset_after, Duration::from_millis(6_500));
    /// ```
    #[must_use]
    pub fn after(&self, elapsed: Duration) -> BucketStatus {
        let gcra = Gcra::new(
            self.limit.max(1),
            self.capacity.max(1),
            self.window.seconds() * 1_000_000_000,
        );
        let now = nanos(elapsed);
        let tat = nanos(self.reset_after);
        let v = gcra.judge(tat, now, 0);
        BucketStatus {
            remaining: v.remaining,
            reset_after: Duration::from_nanos(v.reset_after),
            retry_after: self.retry_after.saturating_sub(elapsed),
            ..*self
        }
    }
}

/// One bucket as a decision keeps it: half the size of a [`BucketStatus`], because a decision
/// is returned by value on every check and copying it is a measurable part of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawBucket {
    pub(crate) scope: Scope,
    pub(crate) window: Window,
    pub(crate) limit: u32,
    pub(crate) capacity: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_after: u64,
    pub(crate) retry_after: u64,
}

impl RawBucket {
    pub(crate) fn new(
        scope: Scope,
        window: Window,
        limit: u32,
        capacity: u32,
        v: &Verdict,
    ) -> Self {
        RawBucket {
            scope,
            window,
            limit,
            capacity,
            remaining: v.remaining,
            reset_after: v.reset_after,
            retry_after: v.retry_after,
        }
    }

    fn status(&self) -> BucketStatus {
        BucketStatus {
            scope: self.scope,
            window: self.window,
            limit: self.limit,
            capacity: self.capacity,
            remaining: self.remaining,
            reset_after: Duration::from_nanos(self.reset_after),
            retry_after: Duration::from_nanos(self.retry_after),
        }
    }
}

/// The answer to one check.
///
/// The flattened fields describe the *binding* bucket: when denied, the one with the longest
/// wait; when allowed, the one with the fewest tokens left; ties go to the earlier scope
/// (global, platform, endpoint, platform × endpoint), then the shorter window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go now. When it may, every applying bucket was debited; when
    /// not, none was.
    pub allowed: bool,
    /// The binding bucket's scope.
    pub scope: Scope,
    /// The binding bucket's window.
    pub window: Window,
    /// The binding bucket's limit per window.
    pub limit: u32,
    /// Whole tokens left in the binding bucket.
    pub remaining: u32,
    /// Time until the binding bucket is full.
    pub reset_after: Duration,
    /// Time until every applying bucket holds the cost; zero when allowed. A caller that waits
    /// exactly this long is admitted if nobody else spent meanwhile.
    pub retry_after: Duration,
    /// Time until the binding bucket holds one more whole token than `remaining`; zero when
    /// it is full. The `t` of the IETF `RateLimit` header field (where `reset_after` is until
    /// it is full); for a denied request of cost 1, equal to `retry_after`.
    pub next_token_after: Duration,
    buckets: ArrayVec<RawBucket, MAX_BUCKETS>,
    binding: u8,
}

impl Decision {
    /// Every applying bucket, in tie-break order.
    pub fn buckets(
        &self,
    ) -> impl ExactSizeIterator<Item = BucketStatus> + DoubleEndedIterator + Clone + '_ {
        self.buckets.iter().map(RawBucket::status)
    }

    /// A decision as another flowgate reported it (the decision service's JSON and its
    /// `RateLimit` field's `t`): whether it was allowed, every applying bucket in tie-break
    /// order, and the time until the binding bucket gains a token. The binding bucket is picked
    /// by the same rule as a decision made here; `None` for no buckets or more than
    /// [`MAX_BUCKETS`], which no flowgate reports.
    #[must_use]
    pub fn from_report(
        allowed: bool,
        buckets: impl IntoIterator<Item = BucketStatus>,
        next_token_after: Duration,
    ) -> Option<Decision> {
        let mut d = Decision::pending();
        d.start(allowed);
        for b in buckets {
            d.buckets
                .try_push(RawBucket {
                    scope: b.scope,
                    window: b.window,
                    limit: b.limit,
                    capacity: b.capacity,
                    remaining: b.remaining,
                    reset_after: nanos(b.reset_after),
                    retry_after: nanos(b.retry_after),
                })
                .ok()?;
        }
        if d.buckets.is_empty() {
            return None;
        }
        d.finish();
        d.next_token_after = next_token_after;
        Some(d)
    }

    /// The binding bucket (the one the flattened fields describe).
    #[must_use]
    pub fn binding(&self) -> BucketStatus {
        let mut b = self.buckets[usize::from(self.binding)].status();
        b.retry_after = self.retry_after;
        b
    }

    /// An empty decision, to be filled by [`Decision::start`], [`Decision::push`] and
    /// [`Decision::finish`].
    #[inline(always)]
    pub(crate) fn pending() -> Decision {
        Decision {
            allowed: false,
            scope: Scope::Global,
            window: Window::Minute,
            limit: 0,
            remaining: 0,
            reset_after: Duration::ZERO,
            retry_after: Duration::ZERO,
            next_token_after: Duration::ZERO,
            buckets: ArrayVec::new(),
            binding: 0,
        }
    }

    /// Empties the decision for a new answer.
    #[inline(always)]
    pub(crate) fn start(&mut self, allowed: bool) {
        self.allowed = allowed;
        self.buckets.clear();
    }

    /// Adds the next applying bucket, in tie-break order.
    #[inline(always)]
    pub(crate) fn push(&mut self, bucket: RawBucket) {
        self.buckets.push(bucket);
    }

    /// Picks the binding bucket among those pushed (never none: the global scope always
    /// applies) and fills the flattened fields from it.
    #[inline(always)]
    pub(crate) fn finish(&mut self) {
        // A strict comparison keeps the earliest of equals.
        let mut binding = 0;
        for (i, b) in self.buckets.iter().enumerate().skip(1) {
            let best = &self.buckets[binding];
            let better = if self.allowed {
                b.remaining < best.remaining
            } else {
                b.retry_after > best.retry_after
            };
            if better {
                binding = i;
            }
        }
        let Some(&b) = self.buckets.get(binding) else {
            return;
        };
        self.scope = b.scope;
        self.window = b.window;
        self.limit = b.limit;
        self.remaining = b.remaining;
        self.reset_after = Duration::from_nanos(b.reset_after);
        self.retry_after = Duration::from_nanos(if self.allowed { 0 } else { b.retry_after });
        self.binding = binding as u8;
    }
}
