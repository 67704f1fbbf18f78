//! What a check answers: allowed or not, the binding bucket, and every applying bucket.

use core::time::Duration;

use arrayvec::ArrayVec;

use super::MAX_BUCKETS;
use super::config::Window;
use super::gcra::{Gcra, Verdict};
use super::limits::Scope;
use crate::nanos;

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
    pub(crate) buckets: ArrayVec<BucketStatus, MAX_BUCKETS>,
}

impl Decision {
    /// Every applying bucket, in tie-break order.
    #[must_use]
    pub fn buckets(&self) -> &[BucketStatus] {
        &self.buckets
    }

    /// The binding bucket (the one the flattened fields describe).
    #[must_use]
    pub fn binding(&self) -> BucketStatus {
        BucketStatus {
            scope: self.scope,
            window: self.window,
            limit: self.limit,
            capacity: self
                .buckets
                .iter()
                .find(|b| b.scope == self.scope && b.window == self.window)
                .map_or(self.limit, |b| b.capacity),
            remaining: self.remaining,
            reset_after: self.reset_after,
            retry_after: self.retry_after,
        }
    }

    /// Builds the decision from every applying bucket's status.
    pub(crate) fn from_buckets(
        allowed: bool,
        buckets: ArrayVec<BucketStatus, MAX_BUCKETS>,
    ) -> Decision {
        // Buckets arrive in tie-break order, so a strict comparison keeps the earliest.
        let mut binding = 0;
        for (i, b) in buckets.iter().enumerate().skip(1) {
            let best = &buckets[binding];
            let better = if allowed {
                b.remaining < best.remaining
            } else {
                b.retry_after > best.retry_after
            };
            if better {
                binding = i;
            }
        }
        let b = buckets[binding];
        Decision {
            allowed,
            scope: b.scope,
            window: b.window,
            limit: b.limit,
            remaining: b.remaining,
            reset_after: b.reset_after,
            retry_after: if allowed {
                Duration::ZERO
            } else {
                b.retry_after
            },
            buckets,
        }
    }
}
