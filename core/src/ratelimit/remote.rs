//! Decisions over buckets kept outside the process, in a store that several servers share
//! (flowgate-redis keeps them in Redis, spent by one Lua script).
//!
//! The store does the one thing that must happen where the state is: read every applying
//! bucket's arrival time and, only if every one holds the cost, write them all, atomically.
//! Everything else stays here, written once: which buckets apply ([`Limits::remote_plan`]),
//! their parameters, and the decision made from the arrival times the store read
//! ([`RemotePlan::decide`], the same rule as an in-process check).
//!
//! Times are integer **microseconds since the Unix epoch**: servers whose clocks differ agree
//! on a clock the store gives (Redis `TIME`), and a script language whose numbers are doubles
//! (Lua) holds microseconds exactly for the next quarter of a million years, nanoseconds not.
//! A bucket's interval is therefore `ceil(window / limit)` in whole microseconds, never less
//! than the in-process one, so a remote bucket never admits more than its limit per window.
//!
//! ```
//! use flowgate_core::ratelimit::{Limits, RateLimitConfig, Request};
//!
//! let limits = Limits::new(&RateLimitConfig { requests_per_minute: 60, max_burst: 2, ..Default::default() })?;
//! let plan = limits.remote_plan(&Request::default())?;
//! assert_eq!(plan.buckets()[0].name(), "global:minute");
//! assert_eq!(plan.buckets()[0].interval_us(), 1_000_000);
//! // The store read arrival times of 0 (full buckets) at now = 5 s: allowed.
//! let now_us = 5_000_000;
//! let decision = plan.decide(&[0, 0, 0], now_us);
//! assert!(decision.allowed);
//! assert_eq!(decision.remaining, 1);
//! // What the store then writes: each bucket's arrival time after spending.
//! assert_eq!(plan.spent(&[0, 0, 0], now_us).unwrap()[0], 6_000_000);
//! # Ok::<(), flowgate_core::ratelimit::Error>(())
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use arrayvec::ArrayVec;

use super::decision::{BucketStatus, Decision, Full, Judged, Report, Short, all_or_nothing};
use super::gcra::Gcra;
use super::limits::{Applying, BucketSpec, Limits, Scope};
use super::{Error, MAX_BUCKETS, Request, Window};

/// Nanoseconds per microsecond: the unit of remote bucket times.
const NANOS_PER_MICRO: u64 = 1_000;

/// One bucket as a remote store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBucket {
    /// Its scope.
    pub scope: Scope,
    /// Its window.
    pub window: Window,
    /// Its limit per window.
    pub limit: u32,
    platform: Option<String>,
    endpoint: Option<String>,
    gcra: Gcra,
}

impl RemoteBucket {
    fn new(spec: &BucketSpec) -> RemoteBucket {
        RemoteBucket {
            scope: spec.scope,
            window: spec.window,
            limit: spec.limit,
            platform: spec.platform.clone(),
            endpoint: spec.endpoint.clone(),
            gcra: Gcra::new(
                spec.limit,
                spec.gcra.capacity(),
                spec.window.seconds() * 1_000_000,
            ),
        }
    }

    /// Tokens it holds when full.
    #[must_use]
    pub const fn capacity(&self) -> u32 {
        self.gcra.capacity()
    }

    /// Microseconds per token: `ceil(window / limit)`.
    #[must_use]
    pub const fn interval_us(&self) -> u64 {
        self.gcra.interval()
    }

    /// The bucket's name within its key, the same on every server and for every version of
    /// the limits that has this bucket: `global:minute`, `platform:mastodon:hour`,
    /// `endpoint:media:minute`, `platform_endpoint:pixelfed:media:day`. `%`, `:`, `{` and `}`
    /// in a platform or endpoint name are percent-encoded, so a name never holds the character
    /// that ends a Redis Cluster hash tag and two buckets never share a name.
    #[must_use]
    pub fn name(&self) -> String {
        let mut name = String::from(self.scope.as_str());
        for part in [&self.platform, &self.endpoint].into_iter().flatten() {
            name.push(':');
            for c in part.chars() {
                match c {
                    '%' => name.push_str("%25"),
                    ':' => name.push_str("%3A"),
                    '{' => name.push_str("%7B"),
                    '}' => name.push_str("%7D"),
                    c => name.push(c),
                }
            }
        }
        name.push(':');
        name.push_str(self.window.as_str());
        name
    }

    fn judged(&self) -> Judged<'_> {
        Judged {
            scope: self.scope,
            window: self.window,
            limit: self.limit,
            gcra: &self.gcra,
        }
    }
}

/// The buckets one remote check reads, and its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePlan {
    buckets: Vec<RemoteBucket>,
    cost: u32,
}

impl Limits {
    /// The buckets that apply to `request`, in tie-break order, for a check whose state is
    /// kept remotely.
    ///
    /// # Errors
    /// As an in-process check: [`Error::ZeroCost`], or [`Error::CostExceedsCapacity`].
    pub fn remote_plan(&self, request: &Request<'_>) -> Result<RemotePlan, Error> {
        let mut ids = Applying::new();
        self.applying(request, &mut ids)?;
        Ok(RemotePlan {
            buckets: ids
                .iter()
                .map(|&id| RemoteBucket::new(self.bucket(id)))
                .collect(),
            cost: request.cost,
        })
    }

    /// Every bucket of these limits, in tie-break order: what a key's state is read from and
    /// what resetting a key deletes. Its cost is 0 ([`RemotePlan::statuses`] is its use).
    #[must_use]
    pub fn remote_every(&self) -> RemotePlan {
        let mut buckets: Vec<RemoteBucket> = self.buckets.iter().map(RemoteBucket::new).collect();
        buckets.sort_by_key(|b| (b.scope, b.window));
        RemotePlan { buckets, cost: 0 }
    }
}

impl RemotePlan {
    /// The buckets, in tie-break order.
    #[must_use]
    pub fn buckets(&self) -> &[RemoteBucket] {
        &self.buckets
    }

    /// The request's cost.
    #[must_use]
    pub const fn cost(&self) -> u32 {
        self.cost
    }

    /// The decision for arrival times `tats_us` (one per bucket, as the store read them; 0 for
    /// a bucket it does not have) at `now_us`: exactly what an in-process check would decide
    /// over the same buckets. The store spends (writes [`RemotePlan::spent`]) exactly when
    /// this says allowed.
    ///
    /// # Panics
    /// When `tats_us` does not have one time per bucket.
    #[must_use]
    pub fn decide(&self, tats_us: &[u64], now_us: u64) -> Decision {
        assert_eq!(
            tats_us.len(),
            self.buckets.len(),
            "one arrival time per bucket"
        );
        let mut decision = Decision::pending();
        let mut report = Full::<NANOS_PER_MICRO>::new(&mut decision);
        self.judge(&mut report, tats_us, now_us);
        decision
    }

    /// The arrival times to write when the check at `now_us` is allowed, else `None`.
    #[must_use]
    pub fn spent(&self, tats_us: &[u64], now_us: u64) -> Option<Vec<u64>> {
        let (tats, allowed) = self.judge(&mut Short::default(), tats_us, now_us);
        allowed.then(|| tats.to_vec())
    }

    /// How long until the request would pass (zero if now); spends nothing.
    #[must_use]
    pub fn wait_time(&self, tats_us: &[u64], now_us: u64) -> Duration {
        let mut short = Short::default();
        self.judge(&mut short, tats_us, now_us);
        Duration::from_micros(short.wait())
    }

    /// The all-or-nothing rule over arrival times `tats_us` at `now_us`, told to `report`:
    /// whether it was allowed, and if so the times after spending (else nothing to keep).
    fn judge<R: Report>(
        &self,
        report: &mut R,
        tats_us: &[u64],
        now_us: u64,
    ) -> (ArrayVec<u64, MAX_BUCKETS>, bool) {
        let mut tats: ArrayVec<u64, MAX_BUCKETS> =
            tats_us.iter().copied().take(MAX_BUCKETS).collect();
        let buckets = self
            .buckets
            .iter()
            .take(tats.len())
            .map(RemoteBucket::judged);
        let allowed = all_or_nothing(report, buckets, &mut tats, self.cost, now_us);
        (tats, allowed)
    }

    /// What a key's state shows at `now_us`, as an in-process limiter's `buckets` does: the
    /// global buckets always, and every other one that has not refilled yet.
    #[must_use]
    pub fn statuses(&self, tats_us: &[u64], now_us: u64) -> Vec<BucketStatus> {
        self.buckets
            .iter()
            .zip(tats_us)
            .filter(|&(b, &tat)| b.scope == Scope::Global || tat > now_us)
            .map(|(b, &tat)| {
                let mut v = b.gcra.judge(tat, now_us, 0);
                v.reset_after = v.reset_after.saturating_mul(NANOS_PER_MICRO);
                BucketStatus::from_verdict(b.scope, b.window, b.limit, b.capacity(), &v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Limiter, RateLimitConfig, ScopeLimits};
    use super::*;

    fn limits() -> Limits {
        let mut config = RateLimitConfig {
            requests_per_minute: 60,
            max_burst: 3,
            ..Default::default()
        };
        config.endpoint_limits.insert(
            "media".into(),
            ScopeLimits {
                minute: Some(2),
                ..Default::default()
            },
        );
        config.platform_endpoint_limits.insert(
            "mastodon".into(),
            [(
                "a:b}".into(),
                ScopeLimits {
                    day: Some(5),
                    ..Default::default()
                },
            )]
            .into(),
        );
        Limits::new(&config).unwrap()
    }

    #[test]
    fn names_are_stable_and_never_hold_a_hash_tag_end() {
        let limits = limits();
        let names: Vec<String> = limits
            .remote_every()
            .buckets()
            .iter()
            .map(RemoteBucket::name)
            .collect();
        assert_eq!(
            names,
            [
                "global:minute",
                "global:hour",
                "global:day",
                "endpoint:media:minute",
                "platform_endpoint:mastodon:a%3Ab%7D:day"
            ]
        );
    }

    /// A sequence of checks against remote state, kept here in a plain vector as a store
    /// would keep it, decides exactly as the in-process state does (at whole microseconds).
    #[test]
    fn remote_decisions_equal_in_process_ones() {
        let limits = limits();
        let mut local = Limiter::from_limits(limits.clone(), 7);
        let mut remote: alloc::collections::BTreeMap<String, u64> = Default::default();
        let requests = [
            Request::default(),
            Request::new(Some("media"), None),
            Request::new(Some("a:b}"), Some("mastodon")),
            Request::new(Some("media"), Some("mastodon")).cost(2),
        ];
        for step in 0..400u64 {
            let now_us = step * 137_000;
            let request = &requests[(step % 4) as usize];
            let plan = limits.remote_plan(request).unwrap();
            let tats: Vec<u64> = plan
                .buckets()
                .iter()
                .map(|b| remote.get(&b.name()).copied().unwrap_or(0))
                .collect();
            let decision = plan.decide(&tats, now_us);
            let spent = plan.spent(&tats, now_us);
            assert_eq!(spent.is_some(), decision.allowed);
            if let Some(spent) = spent {
                for (b, tat) in plan.buckets().iter().zip(spent) {
                    remote.insert(b.name(), tat);
                }
            }
            let expected = local
                .is_allowed("k", request, Duration::from_micros(now_us))
                .unwrap();
            // Intervals here are whole milliseconds, so both units agree exactly.
            assert_eq!(decision, expected, "step {step}");
            assert_eq!(
                plan.wait_time(&tats, now_us),
                if decision.allowed {
                    Duration::ZERO
                } else {
                    decision.retry_after
                }
            );
        }
    }

    #[test]
    fn cost_errors_are_the_in_process_ones() {
        let limits = limits();
        assert_eq!(
            limits.remote_plan(&Request::default().cost(0)),
            Err(Error::ZeroCost)
        );
        assert!(matches!(
            limits.remote_plan(&Request::default().cost(4)),
            Err(Error::CostExceedsCapacity { capacity: 3, .. })
        ));
    }

    #[test]
    fn a_microsecond_interval_never_admits_more_than_the_limit() {
        // 7 per minute: 8,571,428.57… µs per token, rounded up.
        let limits = Limits::new(&RateLimitConfig {
            requests_per_minute: 7,
            max_burst: 7,
            ..Default::default()
        })
        .unwrap();
        let every = limits.remote_every();
        let b = &every.buckets()[0];
        assert_eq!(b.interval_us(), 8_571_429);
        assert!(b.interval_us() * 7 >= 60_000_000);
    }
}
