//! Behaviour of the limiter as a whole, and its invariants as property tests.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use alloc::{format, vec};
use core::time::Duration;

use proptest::prelude::*;

use super::*;

const SEC: Duration = Duration::from_secs(1);

fn scope(
    minute: Option<u32>,
    hour: Option<u32>,
    day: Option<u32>,
    burst: Option<u32>,
) -> ScopeLimits {
    ScopeLimits {
        minute,
        hour,
        day,
        burst,
        mode: ScopeMode::All,
    }
}

/// The reference API's usage example.
fn reference_config() -> RateLimitConfig {
    let mut c = RateLimitConfig {
        requests_per_minute: 30,
        requests_per_hour: 500,
        ..RateLimitConfig::default()
    };
    c.endpoint_limits
        .insert("media".into(), scope(Some(10), Some(100), None, None));
    c.endpoint_limits
        .insert("posts".into(), scope(Some(20), Some(200), None, None));
    c.platform_limits
        .insert("mastodon".into(), scope(Some(300), Some(5000), None, None));
    c.platform_limits
        .insert("pixelfed".into(), scope(Some(60), Some(1000), None, None));
    c
}

#[test]
fn reference_usage_example() {
    let limits = Limits::new(&reference_config()).unwrap();
    let mut state = Limiter::from_limits(limits, 1);
    let req = Request::new(Some("media"), Some("mastodon"));
    let t = Duration::from_secs(1000);
    let first = state.is_allowed("user_123", &req, t).unwrap();
    assert!(first.allowed);
    // Global minute (burst 10), global hour, global day, mastodon minute and hour, media
    // minute and hour.
    assert_eq!(first.buckets().len(), 7);
    // Ten pass at once (max_burst 10 and media's 10 per minute), the eleventh waits.
    for _ in 1..10 {
        assert!(state.is_allowed("user_123", &req, t).unwrap().allowed);
    }
    let denied = state.is_allowed("user_123", &req, t).unwrap();
    assert!(!denied.allowed);
    // Global minute refills every 2 s, media minute every 6 s: the longest wait binds.
    assert_eq!(
        (denied.scope, denied.window),
        (Scope::Endpoint, Window::Minute)
    );
    assert_eq!(denied.retry_after, 6 * SEC);
    assert_eq!(state.wait_time("user_123", &req, t).unwrap(), 6 * SEC);
    // Another key is untouched.
    assert!(state.is_allowed("user_456", &req, t).unwrap().allowed);
}

#[test]
fn a_burst_is_denied_exactly_after_max_burst_with_an_exact_wait() {
    let limits = Limits::new(&RateLimitConfig {
        requests_per_minute: 60,
        max_burst: 3,
        ..Default::default()
    })
    .unwrap();
    let mut s = Limiter::from_limits(limits, 7);
    let r = Request::default();
    let t0 = Duration::from_millis(123_456);
    let remaining: Vec<u32> = (0..3)
        .map(|_| s.is_allowed("k", &r, t0).unwrap().remaining)
        .collect();
    assert_eq!(remaining, vec![2, 1, 0]);
    let d = s.is_allowed("k", &r, t0).unwrap();
    assert!(!d.allowed);
    assert_eq!(
        (d.scope, d.window, d.limit, d.remaining),
        (Scope::Global, Window::Minute, 60, 0)
    );
    assert_eq!(d.retry_after, SEC);
    assert_eq!(d.reset_after, 3 * SEC);
    assert!(
        !s.is_allowed("k", &r, t0 + SEC - Duration::from_nanos(1))
            .unwrap()
            .allowed
    );
    assert!(s.is_allowed("k", &r, t0 + SEC).unwrap().allowed);
}

#[test]
fn a_denied_check_spends_nothing_in_any_bucket() {
    let mut c = RateLimitConfig::default();
    c.endpoint_limits
        .insert("media".into(), scope(Some(1), None, None, None));
    let limits = Limits::new(&c).unwrap();
    let mut s = Limiter::from_limits(limits, 3);
    let media = Request::new(Some("media"), None);
    let t = Duration::ZERO;
    assert!(s.is_allowed("k", &media, t).unwrap().allowed);
    let before = s.buckets("k", t);
    let denied = s.is_allowed("k", &media, t).unwrap();
    assert!(!denied.allowed);
    assert_eq!(s.buckets("k", t), before);
    // The global minute bucket, which would have held it, is reported as it stands.
    let global = denied.buckets().next().unwrap();
    assert_eq!(
        (global.scope, global.remaining, global.retry_after),
        (Scope::Global, 9, Duration::ZERO)
    );
    // And the global bucket still has its 9 tokens for requests without the endpoint.
    for _ in 0..9 {
        assert!(s.is_allowed("k", &Request::default(), t).unwrap().allowed);
    }
    assert!(!s.is_allowed("k", &Request::default(), t).unwrap().allowed);
}

#[test]
fn binding_bucket_is_fewest_remaining_when_allowed_with_ties_to_the_earlier_scope() {
    let mut c = RateLimitConfig {
        max_burst: 5,
        ..Default::default()
    };
    c.platform_limits
        .insert("mastodon".into(), scope(Some(5), None, None, None));
    c.endpoint_limits
        .insert("media".into(), scope(Some(3), None, None, None));
    let limits = Limits::new(&c).unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let t = Duration::ZERO;
    // Global minute (5) and mastodon minute (5) tie: the earlier scope binds.
    let d = s
        .is_allowed("a", &Request::new(None, Some("mastodon")), t)
        .unwrap();
    assert_eq!(
        (d.scope, d.window, d.remaining),
        (Scope::Global, Window::Minute, 4)
    );
    // With media (3) the endpoint has the fewest left.
    let d = s
        .is_allowed("b", &Request::new(Some("media"), Some("mastodon")), t)
        .unwrap();
    assert_eq!((d.scope, d.remaining, d.limit), (Scope::Endpoint, 2, 3));
}

#[test]
fn binding_bucket_is_the_longest_wait_when_denied() {
    let mut c = RateLimitConfig {
        requests_per_minute: 60,
        max_burst: 1,
        ..Default::default()
    };
    c.platform_limits
        .insert("pixelfed".into(), scope(None, Some(2), None, Some(1)));
    let limits = Limits::new(&c).unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let r = Request::new(None, Some("pixelfed"));
    assert!(s.is_allowed("k", &r, Duration::ZERO).unwrap().allowed);
    let d = s.is_allowed("k", &r, Duration::ZERO).unwrap();
    // Global minute waits 1 s, pixelfed hour (2 per hour, burst 1) waits 30 min.
    assert_eq!((d.scope, d.window), (Scope::Platform, Window::Hour));
    assert_eq!(d.retry_after, Duration::from_secs(1800));
    assert_eq!(d.buckets().next().unwrap().retry_after, SEC);
}

#[test]
fn zero_cost_and_costs_no_bucket_can_hold_are_errors() {
    let mut c = RateLimitConfig {
        max_burst: 4,
        ..Default::default()
    };
    c.endpoint_limits
        .insert("media".into(), scope(Some(2), None, None, None));
    let limits = Limits::new(&c).unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let t = Duration::ZERO;
    assert_eq!(
        s.is_allowed("k", &Request::default().cost(0), t),
        Err(Error::ZeroCost)
    );
    assert!(
        s.is_allowed("k", &Request::default().cost(4), t)
            .unwrap()
            .allowed
    );
    let err = s
        .is_allowed("j", &Request::new(Some("media"), None).cost(3), t)
        .unwrap_err();
    assert_eq!(
        err,
        Error::CostExceedsCapacity {
            cost: 3,
            capacity: 2,
            scope: Scope::Endpoint,
            window: Window::Minute
        }
    );
    assert_eq!(
        format!("{err}"),
        "cost 3 can never pass: the endpoint minute bucket holds at most 2"
    );
    // An error spends nothing and creates no state.
    assert_eq!(s.len(), 1);
}

#[test]
fn idle_keys_are_dropped_so_memory_follows_active_keys() {
    let limits = Limits::new(&RateLimitConfig {
        requests_per_minute: 60,
        requests_per_hour: 3600,
        requests_per_day: 86_400,
        ..Default::default()
    })
    .unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    for i in 0..5_000 {
        s.is_allowed(&format!("key-{i}"), &Request::default(), Duration::ZERO)
            .unwrap();
    }
    // Each spent one token of 1 s from every window: a second later all are full again.
    assert!(s.len() <= 5_000);
    assert_eq!(s.sweep(SEC - Duration::from_nanos(1)), 0);
    assert!(s.sweep(SEC) > 0);
    assert!(s.is_empty());
    // Inserts sweep on their own: a stream of one-off keys keeps the table bounded.
    for i in 0..50_000u64 {
        s.is_allowed(
            &format!("once-{i}"),
            &Request::default(),
            Duration::from_secs(10 + i),
        )
        .unwrap();
    }
    assert!(s.len() <= 2 * 1024 + 1, "{} keys kept", s.len());
}

#[test]
fn keys_short_and_long_keep_their_own_buckets() {
    // Inline up to 15 bytes, allocated beyond: keys on both sides of that line, sharing long
    // prefixes, each get their own single token.
    let limits = Limits::new(&RateLimitConfig {
        max_burst: 1,
        ..Default::default()
    })
    .unwrap();
    let mut s = Limiter::from_limits(limits, 7);
    let keys: Vec<String> = (0..=40).map(|n| "k".repeat(n)).collect();
    for key in &keys {
        let d = s.is_allowed(key, &Request::default(), Duration::ZERO);
        assert!(d.unwrap().allowed, "{} bytes", key.len());
    }
    for key in &keys {
        let d = s.is_allowed(key, &Request::default(), Duration::ZERO);
        assert!(!d.unwrap().allowed, "{} bytes", key.len());
        assert!(s.holds(key));
    }
    assert_eq!(s.len(), keys.len());
    assert!(s.reset(&keys[30]));
    assert!(!s.holds(&keys[30]) && s.holds(&keys[29]));
}

#[test]
fn the_sweeps_inserts_make_keep_a_key_that_came_back_since_the_last() {
    // Each window refills one spend in a second.
    let limits = Limits::new(&RateLimitConfig {
        requests_per_minute: 60,
        requests_per_hour: 3_600,
        requests_per_day: 86_400,
        max_burst: 1,
        ..Default::default()
    })
    .unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let check = |s: &mut Limiter, key: &str, secs: u64| {
        let d = s.is_allowed(key, &Request::default(), Duration::from_secs(secs));
        assert!(d.unwrap().allowed, "{key} at {secs} s");
    };
    // 1,024 keys at 0 s (each full again at 1 s), then one more at 10 s: the first sweep, which
    // drops only keys idle since before any sweep, so none.
    check(&mut s, "regular", 0);
    check(&mut s, "lapsed", 0);
    for i in 0..1_022 {
        check(&mut s, &format!("old-{i}"), 0);
    }
    check(&mut s, "regular", 5);
    check(&mut s, "lapsed", 5);
    check(&mut s, "new-0", 10);
    assert_eq!(s.len(), 1_025);
    // "regular" comes back after that sweep, "lapsed" does not; then enough new keys for the
    // next sweep, which drops the keys idle since 10 s.
    check(&mut s, "regular", 12);
    for i in 1..1_026 {
        check(&mut s, &format!("new-{i}"), 20);
    }
    assert!(s.holds("regular"));
    assert!(!s.holds("lapsed"));
    assert!(!s.holds("old-0"));
    assert!(s.holds("new-0"));
    assert_eq!(s.len(), 1 + 1_026);
    // An explicit sweep drops every key idle at its time.
    assert_eq!(s.sweep(Duration::from_secs(21)), 1 + 1_026);
    assert!(s.is_empty());
}

#[test]
fn a_key_using_many_scopes_at_once_keeps_every_debt() {
    // Six endpoints of three windows: eighteen scoped buckets owed at once, more than one
    // request can touch.
    let mut c = RateLimitConfig {
        max_burst: 20,
        ..Default::default()
    };
    let names: Vec<String> = (0..6).map(|i| format!("e{i}")).collect();
    for n in &names {
        c.endpoint_limits
            .insert(n.clone(), scope(Some(2), Some(20), Some(200), None));
    }
    let limits = Limits::new(&c).unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let t = Duration::ZERO;
    for _ in 0..2 {
        for n in &names {
            assert!(
                s.is_allowed("k", &Request::new(Some(n), None), t)
                    .unwrap()
                    .allowed
            );
        }
    }
    for n in &names {
        let d = s.is_allowed("k", &Request::new(Some(n), None), t).unwrap();
        assert!(!d.allowed, "{n} forgot what it is owed");
        assert_eq!((d.scope, d.window), (Scope::Endpoint, Window::Minute));
    }
    assert_eq!(s.buckets("k", t).len(), 3 + 18);
}

#[test]
fn a_bucket_new_to_a_key_may_take_a_refilled_one_s_slot_and_both_keep_their_debts() {
    // The endpoint's bucket takes the key's first scoped slot, then refills. A request that
    // also meets the platform finds the endpoint's slot and gives the platform's new bucket
    // the same slot, which has carried nothing since the refill; both must end up owing what
    // that request and the next spent, through both checks.
    let mut c = RateLimitConfig {
        requests_per_minute: 1_000,
        max_burst: 1_000,
        ..Default::default()
    };
    c.endpoint_limits
        .insert("media".into(), scope(Some(2), None, None, Some(2)));
    c.platform_limits
        .insert("mastodon".into(), scope(Some(2), None, None, Some(2)));
    let limits = Limits::new(&c).unwrap();
    let media = Request::new(Some("media"), None);
    let both = Request::new(Some("media"), Some("mastodon"));
    for full in [false, true] {
        let mut s = Limiter::from_limits(limits.clone(), 5);
        let allowed = |s: &mut Limiter, request: &Request<'_>, t: Duration| {
            if full {
                s.is_allowed("k", request, t).unwrap().allowed
            } else {
                s.check("k", request, t).unwrap().allowed
            }
        };
        assert!(allowed(&mut s, &media, Duration::ZERO));
        let later = 600 * SEC;
        assert!(allowed(&mut s, &both, later));
        assert!(allowed(&mut s, &both, later));
        let scoped: Vec<(Scope, u32)> = s
            .buckets("k", later)
            .iter()
            .filter(|b| b.scope != Scope::Global)
            .map(|b| (b.scope, b.remaining))
            .collect();
        assert_eq!(scoped.len(), 2, "full = {full}: {scoped:?}");
        assert!(
            scoped.iter().all(|&(_, left)| left == 0),
            "full = {full}: {scoped:?}"
        );
        assert!(!allowed(&mut s, &media, later), "full = {full}");
    }
}

#[test]
fn a_full_state_refuses_new_keys_but_never_drops_one_still_limiting() {
    let limits = Limits::new(&RateLimitConfig {
        requests_per_minute: 60,
        max_burst: 2,
        ..Default::default()
    })
    .unwrap();
    let mut state = Limiter::from_limits(limits, 1).with_max_keys(2);
    let t = |ms: u64| Duration::from_millis(ms);
    let req = Request::default();
    assert!(state.is_allowed("a", &req, t(0)).unwrap().allowed);
    assert!(state.is_allowed("b", &req, t(0)).unwrap().allowed);
    // Both still owe time: a third key has no room, and neither is dropped for it.
    assert_eq!(
        state.is_allowed("c", &req, t(500)),
        Err(Error::TooManyKeys { max: 2 })
    );
    assert_eq!(
        state.check("c", &req, t(500)).unwrap_err(),
        Error::TooManyKeys { max: 2 }
    );
    assert!(state.holds("a") && state.holds("b"));
    // Known keys are still decided, and spend.
    assert!(state.is_allowed("a", &req, t(500)).unwrap().allowed);
    // Once b has refilled in every window (its day bucket last, 8.64 s after its one request)
    // it decides as a new key would: it makes room. a, spent twice, still owes.
    assert!(state.is_allowed("c", &req, t(9_000)).unwrap().allowed);
    assert!(!state.holds("b") && state.holds("a"));
}

#[test]
fn reset_forgets_a_key() {
    let limits = Limits::new(&RateLimitConfig {
        max_burst: 1,
        ..Default::default()
    })
    .unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let t = Duration::ZERO;
    assert!(s.is_allowed("k", &Request::default(), t).unwrap().allowed);
    assert!(!s.is_allowed("k", &Request::default(), t).unwrap().allowed);
    assert!(s.reset("k"));
    assert!(!s.reset("k"));
    assert!(s.is_allowed("k", &Request::default(), t).unwrap().allowed);
}

#[test]
fn buckets_lists_global_ones_and_scoped_ones_in_use() {
    let limits = Limits::new(&reference_config()).unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let t = Duration::ZERO;
    let fresh = s.buckets("new", t);
    assert_eq!(fresh.len(), 3);
    assert!(
        fresh
            .iter()
            .all(|b| b.remaining == b.capacity && b.reset_after.is_zero())
    );
    s.is_allowed("k", &Request::new(Some("posts"), None), t)
        .unwrap();
    let listed: Vec<(Scope, Window, u32)> = s
        .buckets("k", t)
        .iter()
        .map(|b| (b.scope, b.window, b.remaining))
        .collect();
    assert_eq!(
        listed,
        vec![
            (Scope::Global, Window::Minute, 9),
            (Scope::Global, Window::Hour, 499),
            (Scope::Global, Window::Day, 9999),
            (Scope::Endpoint, Window::Minute, 19),
            (Scope::Endpoint, Window::Hour, 199),
        ]
    );
}

#[test]
fn changing_limits_keeps_what_keys_owe() {
    let old = Limits::new(&RateLimitConfig {
        requests_per_minute: 60,
        max_burst: 10,
        ..Default::default()
    })
    .unwrap();
    let mut s = Limiter::from_limits(old, 0);
    let t = Duration::ZERO;
    for _ in 0..6 {
        s.is_allowed("k", &Request::default(), t).unwrap();
    }
    // Six tokens owed; the new minute bucket holds 8, so 2 are left.
    let new = RateLimitConfig {
        requests_per_minute: 60,
        max_burst: 8,
        ..Default::default()
    };
    s.reconfigure(&new, t).unwrap();
    let d = s.is_allowed("k", &Request::default(), t).unwrap();
    assert_eq!(d.remaining, 1);
    // A configuration refused changes nothing.
    let invalid = RateLimitConfig {
        requests_per_minute: 0,
        ..new
    };
    assert!(matches!(
        s.reconfigure(&invalid, t),
        Err(Error::InvalidConfig(_))
    ));
    assert_eq!(s.limits().buckets.len(), 3);
    assert_eq!(
        s.is_allowed("k", &Request::default(), t).unwrap().remaining,
        0
    );
}

#[test]
fn limits_with_scoped_buckets_move_keys_into_entries_that_hold_them() {
    use core::num::NonZeroU32;
    // One bucket, then limits with scoped buckets: the debts of the global minute (in both)
    // stay, and the scoped buckets get slots.
    let minute = Quota::new(Window::Minute, NonZeroU32::new(60).unwrap())
        .with_burst(NonZeroU32::new(2).unwrap());
    let one_bucket = Limits::from_quotas(&[minute]).unwrap();
    let mut config = RateLimitConfig {
        requests_per_minute: 60,
        max_burst: 2,
        ..Default::default()
    };
    config
        .endpoint_limits
        .insert("media".into(), scope(Some(1), None, None, None));
    let mut s = Limiter::from_limits(one_bucket, 0);
    let t = Duration::ZERO;
    for key in ["a", "b"] {
        assert!(s.check(key, &Request::default(), t).unwrap().allowed);
    }
    s.reconfigure(&config, t).unwrap();
    let media = Request::new(Some("media"), None);
    let d = s.is_allowed("a", &media, t).unwrap();
    assert!(d.allowed);
    assert_eq!((d.window, d.remaining), (Window::Minute, 0));
    assert!(!s.is_allowed("a", &media, t).unwrap().allowed);
    assert_eq!(s.len(), 2);
    assert_eq!(
        s.is_allowed("b", &Request::default(), t).unwrap().remaining,
        0
    );
}

#[test]
fn what_keys_owe_survives_a_change_in_how_many_global_windows_there_are() {
    use core::num::NonZeroU32;
    let minute = Quota::new(Window::Minute, NonZeroU32::new(60).unwrap())
        .with_burst(NonZeroU32::new(10).unwrap());
    let one_window = Arc::new(Limits::from_quotas(&[minute]).unwrap());
    let three_windows = Arc::new(
        Limits::new(&RateLimitConfig {
            requests_per_minute: 60,
            max_burst: 10,
            ..Default::default()
        })
        .unwrap(),
    );
    let mut s = Limiter::from_limits(Arc::clone(&one_window), 0);
    let t = Duration::ZERO;
    for _ in 0..6 {
        assert!(s.check("k", &Request::default(), t).unwrap().allowed);
    }
    s.install(three_windows, t);
    let d = s.is_allowed("k", &Request::default(), t).unwrap();
    assert_eq!((d.window, d.remaining), (Window::Minute, 3));
    s.install(one_window, t);
    let d = s.is_allowed("k", &Request::default(), t).unwrap();
    assert_eq!(d.remaining, 2);
    assert_eq!(s.len(), 1);
}

#[test]
fn quotas_make_a_global_only_limiter() {
    use core::num::NonZeroU32;
    let q = Quota::new(Window::Minute, NonZeroU32::new(120).unwrap())
        .with_burst(NonZeroU32::new(2).unwrap());
    let limits = Limits::from_quotas(&[q]).unwrap();
    let mut s = Limiter::from_limits(limits, 0);
    let t = Duration::ZERO;
    let d = s.is_allowed("k", &Request::default(), t).unwrap();
    assert_eq!((d.buckets().len(), d.remaining, d.limit), (1, 1, 120));
    s.is_allowed("k", &Request::default(), t).unwrap();
    let d = s.is_allowed("k", &Request::default(), t).unwrap();
    assert_eq!(
        (d.allowed, d.retry_after),
        (false, Duration::from_millis(500))
    );
    assert!(Limits::from_quotas(&[]).is_err());
}

/// How many of `calls` calls on each of `threads` threads at once `allowed` lets through;
/// `allowed(thread, call)` makes one call.
#[cfg(feature = "std")]
fn admitted_across_threads(
    threads: usize,
    calls: usize,
    allowed: impl Fn(usize, usize) -> bool + Sync,
) -> usize {
    std::thread::scope(|s| {
        let running: Vec<_> = (0..threads)
            .map(|t| {
                let allowed = &allowed;
                s.spawn(move || (0..calls).filter(|&i| allowed(t, i)).count())
            })
            .collect();
        running.into_iter().map(|r| r.join().unwrap()).sum()
    })
}

#[cfg(feature = "std")]
#[test]
fn concurrent_callers_never_admit_more_than_the_buckets_allow() {
    let mut c = RateLimitConfig {
        requests_per_minute: 1000,
        max_burst: 100,
        ..Default::default()
    };
    c.endpoint_limits
        .insert("media".into(), scope(Some(37), None, None, None));
    let limiter = RateLimiter::new(&c).unwrap();
    let media = Request::new(Some("media"), None);
    // The clock stands still: nothing refills.
    let admitted = admitted_across_threads(4, 1000, |_, _| {
        limiter
            .is_allowed("shared", &media, Duration::ZERO)
            .unwrap()
            .allowed
    });
    assert_eq!(admitted, 37);
}

/// The short path (`check`, cost one, global limits only) under more threads than this
/// machine has cores, so that lock holders get preempted and waiters yield: one key's burst
/// is admitted exactly once in all.
#[cfg(feature = "std")]
#[test]
fn many_threads_on_one_key_never_admit_more_than_its_burst() {
    use core::num::NonZeroU32;
    let quota = Quota::new(Window::Minute, NonZeroU32::new(600).unwrap())
        .with_burst(NonZeroU32::new(250).unwrap());
    let limiter = RateLimiter::from_limits(Limits::from_quotas(&[quota]).unwrap());
    let any = Request::default();
    let admitted = admitted_across_threads(16, 2000, |t, i| {
        // Other keys on the way keep every shard's lock busy.
        let _ = limiter.check(&format!("other-{t}-{i}"), &any, Duration::ZERO);
        // The clock stands still: nothing refills.
        limiter
            .check("shared", &any, Duration::ZERO)
            .unwrap()
            .allowed
    });
    assert_eq!(admitted, 250);
}

#[cfg(feature = "std")]
#[test]
fn reconfigure_takes_effect_at_once_and_rejects_bad_config_without_change() {
    let limiter = RateLimiter::new(&RateLimitConfig {
        max_burst: 2,
        ..Default::default()
    })
    .unwrap();
    let t = Duration::ZERO;
    let r = Request::default();
    assert!(limiter.is_allowed("k", &r, t).unwrap().allowed);
    assert!(limiter.is_allowed("k", &r, t).unwrap().allowed);
    assert!(!limiter.is_allowed("k", &r, t).unwrap().allowed);
    let bad = RateLimitConfig {
        requests_per_hour: 0,
        ..Default::default()
    };
    assert!(matches!(
        limiter.reconfigure(&bad, t),
        Err(Error::InvalidConfig(_))
    ));
    assert!(!limiter.is_allowed("k", &r, t).unwrap().allowed);
    limiter
        .reconfigure(
            &RateLimitConfig {
                max_burst: 5,
                ..Default::default()
            },
            t,
        )
        .unwrap();
    // Two owed of five: three more pass.
    for _ in 0..3 {
        assert!(limiter.is_allowed("k", &r, t).unwrap().allowed);
    }
    assert!(!limiter.is_allowed("k", &r, t).unwrap().allowed);
    assert!(limiter.reset_limits("k"));
    assert_eq!(limiter.active_keys(), 0);
}

// ---- property tests -------------------------------------------------------------------------

const PLATFORMS: [&str; 2] = ["mastodon", "pixelfed"];
const ENDPOINTS: [&str; 2] = ["media", "statuses"];

/// The requests of generated steps and the clock reading of each: each step advances the
/// clock by its milliseconds and names an endpoint, a platform and a cost.
fn timed_requests(
    steps: Vec<(u64, Option<usize>, Option<usize>, u32)>,
) -> impl Iterator<Item = (Request<'static>, Duration)> {
    let mut now = 0u64;
    steps.into_iter().map(move |(dt, e, p, cost)| {
        now += dt * 1_000_000;
        let request = Request {
            endpoint: e.map(|i| ENDPOINTS[i]),
            platform: p.map(|i| PLATFORMS[i]),
            cost,
        };
        (request, Duration::from_nanos(now))
    })
}

fn arb_scope() -> impl Strategy<Value = ScopeLimits> {
    (
        proptest::option::of(1u32..40),
        proptest::option::of(1u32..400),
        proptest::option::of(1u32..4000),
        proptest::option::of(1u32..10),
        proptest::bool::ANY,
    )
        .prop_filter("a scope names a window", |(m, h, d, _, _)| {
            m.is_some() || h.is_some() || d.is_some()
        })
        .prop_map(|(minute, hour, day, burst, overrides)| ScopeLimits {
            minute,
            hour,
            day,
            burst,
            mode: if overrides {
                ScopeMode::Override
            } else {
                ScopeMode::All
            },
        })
}

prop_compose! {
    fn arb_config()(
        rpm in 1u32..120, rph in 1u32..2000, rpd in 1u32..20000, burst in 1u32..20,
        endpoint in proptest::option::of(arb_scope()),
        platform in proptest::option::of(arb_scope()),
        both in proptest::option::of(arb_scope()),
    ) -> RateLimitConfig {
        let mut c = RateLimitConfig {
            requests_per_minute: rpm, requests_per_hour: rph, requests_per_day: rpd, max_burst: burst,
            ..Default::default()
        };
        if let Some(s) = endpoint { c.endpoint_limits.insert(ENDPOINTS[0].into(), s); }
        if let Some(s) = platform { c.platform_limits.insert(PLATFORMS[0].into(), s); }
        if let Some(s) = both {
            let mut m = BTreeMap::new();
            m.insert(String::from(ENDPOINTS[0]), s);
            c.platform_endpoint_limits.insert(PLATFORMS[0].into(), m);
        }
        c
    }
}

/// Global quotas only (one to three, any windows, a burst or not): the limits under which
/// `check` answers on its short path.
fn arb_quotas() -> impl Strategy<Value = Limits> {
    let window = prop_oneof![Just(Window::Minute), Just(Window::Hour), Just(Window::Day)];
    proptest::collection::vec((window, 1u32..120, proptest::option::of(1u32..20)), 1..=3).prop_map(
        |quotas| {
            let quotas: Vec<Quota> = quotas
                .into_iter()
                .map(|(window, limit, burst)| {
                    let quota = Quota::new(window, core::num::NonZeroU32::new(limit).unwrap());
                    match burst.and_then(core::num::NonZeroU32::new) {
                        Some(b) => quota.with_burst(b),
                        None => quota,
                    }
                })
                .collect();
            Limits::from_quotas(&quotas).unwrap()
        },
    )
}

/// One step of a request pattern: time advance (ms), which endpoint/platform, cost.
fn arb_steps() -> impl Strategy<Value = Vec<(u64, Option<usize>, Option<usize>, u32)>> {
    proptest::collection::vec(
        (
            prop_oneof![3 => 0u64..50, 2 => 0u64..5_000, 1 => 0u64..4_000_000],
            proptest::option::of(0usize..2),
            proptest::option::of(0usize..2),
            1u32..4,
        ),
        1..150,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Over any interval [t1, t2], each bucket admits at most its capacity plus what it
    /// refills: capacity + floor((t2 − t1) / interval).
    #[test]
    fn never_admits_more_than_a_bucket_allows(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut state = Limiter::from_limits(limits.clone(), 42);
        let mut now = 0u64;
        // Per bucket id: (time, cost) of each admitted request it applied to.
        let mut admitted: Vec<Vec<(u64, u64)>> = vec![Vec::new(); limits.buckets.len()];
        for (dt, e, p, cost) in steps {
            now += dt * 1_000_000;
            let req = Request { endpoint: e.map(|i| ENDPOINTS[i]), platform: p.map(|i| PLATFORMS[i]), cost };
            let mut ids = limits::Applying::new();
            if limits.applying(&req, &mut ids).is_err() {
                continue;
            }
            let d = state.is_allowed("k", &req, Duration::from_nanos(now)).unwrap();
            if d.allowed {
                for &id in ids.iter() {
                    admitted[usize::from(id)].push((now, u64::from(cost)));
                }
            }
        }
        for (id, events) in admitted.iter().enumerate() {
            let g = limits.buckets[id].gcra;
            for i in 0..events.len() {
                let mut spent = 0;
                for j in i..events.len() {
                    spent += events[j].1;
                    let refill = (events[j].0 - events[i].0) / g.interval();
                    prop_assert!(
                        spent <= u64::from(g.capacity()) + refill,
                        "bucket {id}: {spent} admitted in {} ns with capacity {} and interval {}",
                        events[j].0 - events[i].0, g.capacity(), g.interval()
                    );
                }
            }
        }
    }

    /// A denied request's `retry_after` is exact: one nanosecond earlier is still denied,
    /// exactly then is allowed; and `wait_time` reports the same without spending.
    #[test]
    fn retry_after_is_exact(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut state = Limiter::from_limits(limits, 9);
        for (req, t) in timed_requests(steps) {
            let Ok(d) = state.is_allowed("k", &req, t) else { continue };
            if d.allowed {
                prop_assert_eq!(d.retry_after, Duration::ZERO);
                continue;
            }
            let wait = d.retry_after;
            prop_assert!(wait > Duration::ZERO);
            prop_assert_eq!(state.wait_time("k", &req, t).unwrap(), wait);
            let mut probe = state.clone();
            let early = probe.is_allowed("k", &req, t + wait - Duration::from_nanos(1)).unwrap();
            prop_assert!(!early.allowed);
            let mut probe = state.clone();
            prop_assert!(probe.is_allowed("k", &req, t + wait).unwrap().allowed);
        }
    }

    /// `next_token_after` is exact: the binding bucket holds `remaining` one nanosecond
    /// before it and one more token at it; for a denied request of cost 1 it is the wait.
    #[test]
    fn next_token_after_is_exact(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut state = Limiter::from_limits(limits, 11);
        let mut now = 0u64;
        for (dt, e, p, cost) in steps {
            now += dt * 1_000_000;
            let req = Request { endpoint: e.map(|i| ENDPOINTS[i]), platform: p.map(|i| PLATFORMS[i]), cost };
            let t = Duration::from_nanos(now);
            let Ok(d) = state.is_allowed("k", &req, t) else { continue };
            let next = d.next_token_after;
            if !d.allowed && cost == 1 {
                prop_assert_eq!(next, d.retry_after);
            }
            let binding = |at: Duration| {
                state
                    .buckets("k", at)
                    .into_iter()
                    .find(|b| (b.scope, b.window) == (d.scope, d.window))
                    .map(|b| b.remaining)
            };
            if next.is_zero() {
                prop_assert_eq!(d.reset_after, Duration::ZERO);
                continue;
            }
            prop_assert_eq!(binding(t + next - Duration::from_nanos(1)), Some(d.remaining));
            // At `next` it holds one more (a scoped bucket that is full again is not listed).
            prop_assert!(binding(t + next).is_none_or(|r| r > d.remaining));
        }
    }

    /// A denied check leaves every bucket exactly as it was.
    #[test]
    fn a_denied_check_spends_nothing(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut state = Limiter::from_limits(limits, 5);
        let mut now = 0u64;
        for (dt, e, p, cost) in steps {
            now += dt * 1_000_000;
            let req = Request { endpoint: e.map(|i| ENDPOINTS[i]), platform: p.map(|i| PLATFORMS[i]), cost };
            let t = Duration::from_nanos(now);
            let before = state.buckets("k", t);
            if let Ok(d) = state.is_allowed("k", &req, t)
                && !d.allowed
            {
                prop_assert_eq!(state.buckets("k", t), before);
            }
        }
    }

    /// The short answer spends exactly as the full one does and says the same wait.
    #[test]
    fn check_answers_as_is_allowed_does(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut full = Limiter::from_limits(limits.clone(), 3);
        let mut short = Limiter::from_limits(limits.clone(), 4);
        let mut now = 0u64;
        for (dt, e, p, cost) in steps {
            now += dt * 1_000_000;
            let req = Request { endpoint: e.map(|i| ENDPOINTS[i]), platform: p.map(|i| PLATFORMS[i]), cost };
            let t = Duration::from_nanos(now);
            match (full.is_allowed("k", &req, t), short.check("k", &req, t)) {
                (Ok(d), Ok(a)) => {
                    prop_assert_eq!(a, Admission { allowed: d.allowed, retry_after: d.retry_after });
                }
                (Err(d), Err(a)) => prop_assert_eq!(d, a),
                (d, a) => prop_assert!(false, "is_allowed said {d:?}, check said {a:?}"),
            }
            prop_assert_eq!(full.buckets("k", t), short.buckets("k", t));
        }
    }

    /// A decision rebuilt from its report (what the decision service sends: allowed, the
    /// buckets, `t`) is the decision: the binding bucket is picked by the same rule.
    #[test]
    fn a_decision_rebuilt_from_its_report_is_the_decision(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut state = Limiter::from_limits(limits, 5);
        for (req, t) in timed_requests(steps) {
            if let Ok(d) = state.is_allowed("k", &req, t) {
                let rebuilt = Decision::from_report(d.allowed, d.buckets(), d.next_token_after);
                prop_assert_eq!(rebuilt.as_ref(), Some(&d));
            }
        }
    }

    /// Under global quotas alone, `check` (which answers a cost of one on a short path of its
    /// own) says what `is_allowed` says and spends the same, for several keys, whatever the
    /// width of the table.
    #[test]
    fn check_answers_as_is_allowed_does_under_global_quotas(
        limits in arb_quotas(),
        steps in arb_steps(),
        keys in proptest::collection::vec(0usize..3, 150),
        other_layout: bool,
    ) {
        let mut full = Limiter::from_limits(limits.clone(), 3);
        let mut short = if other_layout {
            Limiter::with_other_layout(limits.clone(), 4)
        } else {
            Limiter::from_limits(limits.clone(), 4)
        };
        let mut now = 0u64;
        for ((dt, e, p, cost), k) in steps.into_iter().zip(keys) {
            now += dt * 1_000_000;
            let key = ["a", "user-000123", "a key longer than sixteen bytes"][k];
            let req = Request { endpoint: e.map(|i| ENDPOINTS[i]), platform: p.map(|i| PLATFORMS[i]), cost };
            let t = Duration::from_nanos(now);
            match (full.is_allowed(key, &req, t), short.check(key, &req, t)) {
                (Ok(d), Ok(a)) => {
                    prop_assert_eq!(a, Admission { allowed: d.allowed, retry_after: d.retry_after });
                }
                (Err(d), Err(a)) => prop_assert_eq!(d, a),
                (d, a) => prop_assert!(false, "is_allowed said {d:?}, check said {a:?}"),
            }
            prop_assert_eq!(full.buckets(key, t), short.buckets(key, t));
        }
    }

    /// Where a key's arrival times are kept (one slot inline or three) never changes an answer.
    #[test]
    fn the_table_width_never_changes_an_answer(config in arb_config(), steps in arb_steps()) {
        let limits = Limits::new(&config).unwrap();
        let mut natural = Limiter::from_limits(limits.clone(), 1);
        let mut other = Limiter::with_other_layout(limits.clone(), 1);
        let mut now = 0u64;
        for (dt, e, p, cost) in steps {
            now += dt * 1_000_000;
            let req = Request { endpoint: e.map(|i| ENDPOINTS[i]), platform: p.map(|i| PLATFORMS[i]), cost };
            let t = Duration::from_nanos(now);
            prop_assert_eq!(natural.is_allowed("k", &req, t), other.is_allowed("k", &req, t));
            prop_assert_eq!(natural.buckets("k", t), other.buckets("k", t));
        }
    }
}

#[test]
fn a_hashed_key_finds_the_same_buckets_as_its_text_even_in_another_limiter() {
    let config = RateLimitConfig {
        max_burst: 2,
        ..Default::default()
    };
    let mut a = Limiter::new(&config, 1).unwrap();
    let mut b = Limiter::new(&config, 2).unwrap();
    let t = Duration::ZERO;
    let key = a.key("user_123");
    assert_eq!(key.as_str(), "user_123");
    assert!(a.check(key, &Request::default(), t).unwrap().allowed);
    assert_eq!(a.buckets("user_123", t), a.buckets(key, t));
    assert_eq!(a.buckets(key, t)[0].remaining, 1);
    // Made by `a`, it is hashed again by `b` (another seed): `b` finds its text's entry.
    assert!(b.check("user_123", &Request::default(), t).unwrap().allowed);
    assert!(b.check(key, &Request::default(), t).unwrap().allowed);
    assert!(!b.check("user_123", &Request::default(), t).unwrap().allowed);
    assert_eq!(b.len(), 1);
    assert!(b.reset(key));
    assert!(b.is_empty());
}

#[cfg(feature = "std")]
#[test]
fn the_sharded_limiter_takes_texts_and_hashed_keys_alike() {
    let limiter = RateLimiter::new(&RateLimitConfig {
        max_burst: 2,
        ..Default::default()
    })
    .unwrap();
    let t = Duration::ZERO;
    let owned = String::from("user_123");
    let key = limiter.key(&owned);
    assert!(
        limiter
            .is_allowed(key, &Request::default(), t)
            .unwrap()
            .allowed
    );
    assert!(
        limiter
            .check(&owned, &Request::default(), t)
            .unwrap()
            .allowed
    );
    assert!(!limiter.check(key, &Request::default(), t).unwrap().allowed);
    assert_eq!(limiter.active_keys(), 1);
    assert!(limiter.reset_limits(key));
    assert_eq!(
        limiter.wait_time(&owned, &Request::default(), t).unwrap(),
        Duration::ZERO
    );
}
