//! The generic cell rate algorithm on one bucket, in integer nanoseconds.
//!
//! A bucket of capacity `C` refilling one token every `T` nanoseconds is one number, its
//! *theoretical arrival time* `tat`: the instant at which it will be full again. At `now` it
//! holds `(now + C·T − max(tat, now)) / T` tokens; spending `n` moves `tat` to
//! `max(tat, now) + n·T`, which is allowed while that stays within `now + C·T`. A `tat` of 0
//! (or any instant already past) is a full bucket, so a key never seen needs no state at all.

use strength_reduce::StrengthReducedU64;

/// The fixed parameters of one bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gcra {
    /// Nanoseconds per token: `ceil(window / limit)`. Rounding up never lets the bucket admit
    /// more than its limit per window.
    interval: u64,
    /// `interval` prepared for fast division: counting the tokens left is a division per
    /// bucket on every check, and a hardware 64-bit division costs as much as the rest of the
    /// bucket's arithmetic.
    per_token: StrengthReducedU64,
    /// `capacity · interval`: how far ahead of `now` the arrival time may run.
    horizon: u64,
    capacity: u32,
}

/// What one bucket says about one request at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The bucket holds the cost.
    pub(crate) ok: bool,
    /// The arrival time after spending (when `ok`), else the current one.
    pub(crate) tat: u64,
    /// Whole tokens left: after spending when `ok`, else now.
    pub(crate) remaining: u32,
    /// Nanoseconds until the bucket is full.
    pub(crate) reset_after: u64,
    /// Nanoseconds until it holds the cost (0 when `ok`).
    pub(crate) retry_after: u64,
}

impl PartialEq for Gcra {
    fn eq(&self, other: &Self) -> bool {
        (self.interval, self.capacity) == (other.interval, other.capacity)
    }
}

impl Eq for Gcra {}

impl Gcra {
    /// A bucket holding at most `capacity` tokens that refills `limit` tokens per
    /// `window_nanos`. Both counts are positive (the config is validated first).
    pub(crate) fn new(limit: u32, capacity: u32, window_nanos: u64) -> Gcra {
        debug_assert!(limit > 0 && capacity > 0);
        let interval = window_nanos.div_ceil(u64::from(limit.max(1))).max(1);
        Gcra {
            interval,
            per_token: StrengthReducedU64::new(interval),
            horizon: interval.saturating_mul(u64::from(capacity)),
            capacity,
        }
    }

    pub(crate) const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Time units per token.
    pub(crate) const fn interval(&self) -> u64 {
        self.interval
    }

    /// Whether the bucket at arrival time `tat` holds `cost` at `now`: the arrival time after
    /// spending it, or the nanoseconds until it would hold it. Changes nothing.
    #[inline(always)]
    pub(crate) fn admit(&self, tat: u64, now: u64, cost: u32) -> Result<u64, u64> {
        let base = tat.max(now);
        let limit_at = now.saturating_add(self.horizon);
        let next = base.saturating_add(u64::from(cost).saturating_mul(self.interval));
        if next <= limit_at {
            Ok(next)
        } else {
            Err(next - limit_at)
        }
    }

    /// Judges spending `cost` tokens at `now` from arrival time `tat`, counting the tokens
    /// left; changes nothing.
    #[inline]
    pub(crate) fn judge(&self, tat: u64, now: u64, cost: u32) -> Verdict {
        let limit_at = now.saturating_add(self.horizon);
        match self.admit(tat, now, cost) {
            Ok(next) => Verdict {
                ok: true,
                tat: next,
                remaining: self.tokens(limit_at - next),
                reset_after: next - now,
                retry_after: 0,
            },
            Err(retry_after) => {
                let base = tat.max(now);
                Verdict {
                    ok: false,
                    tat: base,
                    remaining: self.tokens(limit_at.saturating_sub(base)),
                    reset_after: base - now,
                    retry_after,
                }
            }
        }
    }

    /// Time until the bucket at arrival time `tat` holds one more whole token than it does at
    /// `now`; 0 when it is full.
    pub(crate) fn next_token_after(&self, tat: u64, now: u64) -> u64 {
        let debt = tat.saturating_sub(now);
        if debt == 0 {
            return 0;
        }
        match debt % self.per_token {
            0 => self.interval,
            part => part,
        }
    }

    /// Whole tokens in `slack` nanoseconds of headroom.
    fn tokens(&self, slack: u64) -> u32 {
        u32::try_from(slack / self.per_token)
            .unwrap_or(u32::MAX)
            .min(self.capacity)
    }

    /// The arrival time that keeps the debt of `from`'s bucket (tokens spent and not yet
    /// refilled at `now`) in this bucket: used when limits change under a live key.
    pub(crate) fn carry_over(&self, from: &Gcra, tat: u64, now: u64) -> u64 {
        if tat <= now {
            return 0;
        }
        if self.interval == from.interval {
            // The same refill: the debt is the same time, to the nanosecond; a smaller
            // capacity only caps it.
            return tat.min(now.saturating_add(self.horizon));
        }
        let debt = u128::from(tat - now);
        // Tokens owed, rounded up so a change of limits never hands out a token for free.
        let owed = debt.div_ceil(u128::from(from.interval.max(1)));
        let owed = owed.min(u128::from(self.capacity));
        let ahead = owed * u128::from(self.interval);
        now.saturating_add(u64::try_from(ahead).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_full_bucket_admits_its_capacity_then_waits_one_interval() {
        // 60 per minute, burst 3: one token per second.
        let g = Gcra::new(60, 3, 60 * SEC);
        let mut tat = 0;
        for left in [2, 1, 0] {
            let v = g.judge(tat, 0, 1);
            assert!(v.ok);
            assert_eq!(v.remaining, left);
            tat = v.tat;
        }
        let v = g.judge(tat, 0, 1);
        assert!(!v.ok);
        assert_eq!(
            (v.retry_after, v.reset_after, v.remaining, v.tat),
            (SEC, 3 * SEC, 0, tat)
        );
        // The next token comes with the reported wait (cost 1).
        assert_eq!(g.next_token_after(tat, 0), SEC);
        assert_eq!(g.next_token_after(tat, SEC / 2), SEC / 2);
        assert_eq!(g.next_token_after(0, 5), 0);
        // Waiting exactly the reported time is enough; a nanosecond less is not.
        assert!(!g.judge(tat, SEC - 1, 1).ok);
        assert!(g.judge(tat, SEC, 1).ok);
    }

    #[test]
    fn interval_rounds_up_so_the_window_limit_holds() {
        // 7 per minute: 8.571… s per token, rounded up to the nanosecond.
        let g = Gcra::new(7, 7, 60 * SEC);
        assert_eq!(g.interval(), 8_571_428_572);
        assert!(g.interval() * 7 >= 60 * SEC);
    }

    #[test]
    fn a_cost_above_one_spends_that_many_tokens() {
        let g = Gcra::new(10, 10, 10 * SEC);
        let v = g.judge(0, 0, 4);
        assert!(v.ok);
        assert_eq!(v.remaining, 6);
        assert_eq!(v.reset_after, 4 * SEC);
        let v = g.judge(v.tat, 0, 7);
        assert!(!v.ok);
        assert_eq!(v.retry_after, SEC);
        assert_eq!(v.remaining, 6);
    }

    #[test]
    fn carry_over_keeps_the_tokens_owed() {
        let old = Gcra::new(60, 10, 60 * SEC); // 1 s per token
        let new = Gcra::new(30, 10, 60 * SEC); // 2 s per token
        // 3 tokens owed at now = 100 s.
        let tat = 103 * SEC;
        assert_eq!(new.carry_over(&old, tat, 100 * SEC), 106 * SEC);
        // A full bucket stays full.
        assert_eq!(new.carry_over(&old, 5, 100 * SEC), 0);
        // Never more owed than the new capacity.
        let tiny = Gcra::new(60, 2, 60 * SEC);
        assert_eq!(tiny.carry_over(&old, tat, 100 * SEC), 102 * SEC);
        // The same refill keeps the debt exactly, even a part of a token.
        let same = Gcra::new(60, 10, 60 * SEC);
        assert_eq!(same.carry_over(&old, tat - 1, 100 * SEC), tat - 1);
    }
}
