//! Benchmarks of flowgate beside governor and limitador: see `benches/limiters.rs`. What the
//! criterion bench and `check_loop` share lives here, so that both measure the same work.

use flowgate_core::ratelimit::{RateLimitConfig, ScopeLimits};

/// How many visits the order lists before it starts over (a power of two).
pub const VISITS: usize = 1 << 20;

/// The index of the key each visit checks, among `keys`: xorshift from a fixed seed, the same
/// order for every limiter and every run.
#[must_use]
pub fn visit_order(keys: usize) -> Vec<usize> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..VISITS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % keys as u64) as usize
        })
        .collect()
}

/// The full check's configuration: four scopes of three windows, twelve buckets for a request
/// to `media` on `mastodon`.
#[must_use]
pub fn full_config() -> RateLimitConfig {
    let all = |m, h, d, burst| ScopeLimits {
        minute: Some(m),
        hour: Some(h),
        day: Some(d),
        burst: Some(burst),
    };
    let mut c = RateLimitConfig {
        requests_per_minute: 60,
        requests_per_hour: 1_000,
        requests_per_day: 10_000,
        max_burst: 10,
        ..Default::default()
    };
    c.platform_limits
        .insert("mastodon".into(), all(300, 5_000, 50_000, 20));
    c.endpoint_limits
        .insert("media".into(), all(30, 500, 5_000, 10));
    c.platform_endpoint_limits.insert(
        "mastodon".into(),
        [("media".to_string(), all(20, 300, 3_000, 5))].into(),
    );
    c
}
