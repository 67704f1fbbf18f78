//! Memory per active key: the heap a limiter holds for 100,000 keys that have each spent a
//! token, measured by counting what the global allocator hands out.
//!
//! `cargo bench -p flowgate-bench --bench memory`

use std::num::NonZeroU32;
use std::time::Duration;

use flowgate_core::ratelimit::{
    Limits, Quota, RateLimitConfig, RateLimiter, Request, ScopeLimits, Window,
};
use governor::clock::FakeRelativeClock;
use governor::state::keyed::DashMapStateStore;

/// The system allocator, counting the bytes it has out.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn live() -> isize {
    ALLOCATOR.allocated() as isize
}

const KEYS: usize = 100_000;

/// Live heap bytes per key after `fill` has touched every key, beyond what `make` held.
fn per_key<L>(name: &str, make: impl FnOnce() -> L, fill: impl Fn(&L, &str)) {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user-{i:06}")).collect();
    let before = live();
    let limiter = make();
    let empty = live();
    for k in &keys {
        fill(&limiter, k);
    }
    let after = live();
    println!(
        "{name:<52} {:>7.1} bytes per key (+{:.1} KiB empty)",
        (after - empty) as f64 / KEYS as f64,
        (empty - before) as f64 / 1024.0
    );
    drop(limiter);
}

fn main() {
    // criterion passes --bench; nothing to parse.
    let nz = |n| NonZeroU32::new(n).expect("positive");
    let t = Duration::from_secs(1);
    println!(
        "heap held per active key, {KEYS} keys of 11 bytes (keys up to 15 bytes are stored inline)"
    );
    per_key(
        "flowgate, 1 window",
        || {
            RateLimiter::from_limits(
                Limits::from_quotas(&[Quota::new(Window::Minute, nz(60))]).expect("quota"),
            )
        },
        |l, k| {
            l.is_allowed(k, &Request::default(), t).expect("check");
        },
    );
    per_key(
        "flowgate, global minute/hour/day",
        || RateLimiter::new(&RateLimitConfig::default()).expect("config"),
        |l, k| {
            l.is_allowed(k, &Request::default(), t).expect("check");
        },
    );
    per_key(
        "flowgate, 4 scopes x 3 windows (12 buckets per key)",
        || {
            let all = ScopeLimits {
                minute: Some(30),
                hour: Some(500),
                day: Some(5_000),
                burst: None,
                mode: Default::default(),
            };
            let mut c = RateLimitConfig::default();
            c.platform_limits.insert("mastodon".into(), all);
            c.endpoint_limits.insert("media".into(), all);
            c.platform_endpoint_limits
                .insert("mastodon".into(), [("media".to_string(), all)].into());
            RateLimiter::new(&c).expect("config")
        },
        |l, k| {
            l.is_allowed(k, &Request::new(Some("media"), Some("mastodon")), t)
                .expect("check");
        },
    );
    per_key(
        "governor keyed by String, 1 window",
        || {
            let q = governor::Quota::per_minute(nz(60));
            governor::RateLimiter::<
                String,
                DashMapStateStore<String>,
                FakeRelativeClock,
                governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
            >::new(
                q,
                DashMapStateStore::default(),
                FakeRelativeClock::default(),
            )
        },
        |l, k| {
            let _ = l.check_key(&k.to_string());
        },
    );
    per_key(
        "limitador in memory, 1 window keyed by a variable",
        || {
            let limiter = limitador::RateLimiter::new(KEYS as u64 * 4);
            limiter.add_limit(limitador::limit::Limit::new(
                "bench",
                60,
                60,
                Vec::<limitador::limit::Predicate>::new(),
                vec!["key".try_into().expect("variable")],
            ));
            limiter
        },
        |l, k| {
            let context: limitador::limit::Context<'static> =
                std::collections::HashMap::from([("key".to_string(), k.to_string())]).into();
            let _ = l.check_rate_limited_and_update(&"bench".into(), &context, 1);
        },
    );
}
