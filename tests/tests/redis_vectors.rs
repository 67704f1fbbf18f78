//! The shared rate-limit vectors (tests/vectors/ratelimit.json) against the Redis script, on a
//! real redis-server: the same `allowed`, `remaining`, `scope`, `window` and `limit` as the
//! core, and the same times at millisecond precision.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowgate_core::ratelimit::{Decision, Error as LimitError, Limits, RateLimitConfig, Request};
use flowgate_redis::{Error, RedisLimiter};
use flowgate_tests::Redis;
use serde_json::{Value, json};

/// Whole milliseconds, rounded up as the API rounds them.
fn ms_ceil(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap()
}

/// A decision in the vectors' terms: every field a step's `expect` may name.
fn observed(d: &Decision) -> Value {
    json!({
        "allowed": d.allowed,
        "remaining": d.remaining,
        "reset_after_ms": ms_ceil(d.reset_after),
        "retry_after_ms": ms_ceil(d.retry_after),
        "scope": d.scope.as_str(),
        "window": d.window.as_str(),
        "limit": d.limit,
        "buckets": d.buckets().len(),
    })
}

#[tokio::test]
async fn the_shared_vectors_decide_the_same_in_redis() {
    let redis = Redis::start().await;
    let limiter = RedisLimiter::new(&redis.url, Duration::from_secs(5)).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/ratelimit.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The vectors' clock starts at 0; in Redis it starts a year from now, so that no bucket
    // expires (by Redis' own clock) while the test's clock says it is not full yet.
    let epoch =
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(365 * 86_400);
    let epoch = Duration::from_millis(u64::try_from(epoch.as_millis()).unwrap());
    let mut steps = 0;
    for (c, case) in file["cases"].as_array().unwrap().iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let config: RateLimitConfig = serde_json::from_value(case["config"].clone()).unwrap();
        let limits = Limits::new(&config).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name}, step {i}");
            // Each case starts from keys never seen.
            let key = format!("case{c}:{}", step["key"].as_str().unwrap());
            let request = Request {
                endpoint: step["endpoint"].as_str(),
                platform: step["platform"].as_str(),
                cost: step["cost"].as_u64().map_or(1, |c| c as u32),
            };
            let at_ms = epoch + Duration::from_millis(step["now_ms"].as_u64().unwrap());
            let now = Some(at_ms);
            let expect = &step["expect"];
            steps += 1;
            match step["op"].as_str() {
                Some("wait") => {
                    let (wait, _) = limiter
                        .wait_time(&limits, &key, &request, now)
                        .await
                        .unwrap();
                    assert_eq!(ms_ceil(wait), expect["wait_ms"].as_u64().unwrap(), "{at}");
                }
                Some("reset") => assert_eq!(
                    limiter.reset(&limits, &key).await.unwrap(),
                    expect["had_state"].as_bool().unwrap(),
                    "{at}"
                ),
                _ => match limiter.is_allowed(&limits, &key, &request, now).await {
                    Err(Error::Limit(
                        LimitError::ZeroCost | LimitError::CostExceedsCapacity { .. },
                    )) => {
                        assert_eq!(expect["error"], "cost", "{at}");
                    }
                    Err(e) => panic!("{at}: {e}"),
                    Ok(checked) => {
                        assert_eq!(checked.now, at_ms, "{at}");
                        let seen = observed(&checked.decision);
                        for (field, expected) in expect.as_object().unwrap() {
                            assert_eq!(&seen[field], expected, "{at}: {field} of {seen}");
                        }
                    }
                },
            }
        }
    }
    assert!(steps > 20, "only {steps} steps were read");
}

/// Without an explicit `now`, the script reads Redis' clock: a key's first check is allowed and
/// its buckets expire by themselves once full again.
#[tokio::test]
async fn redis_time_is_the_clock_and_full_buckets_expire() {
    let redis = Redis::start().await;
    let limiter = RedisLimiter::new(&redis.url, Duration::from_secs(5)).unwrap();
    // Ten per second at most (600 per minute), two at once: full again 200 ms after two checks.
    let limits = Limits::new(&RateLimitConfig {
        requests_per_minute: 600,
        max_burst: 2,
        ..Default::default()
    })
    .unwrap();
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let first = limiter
        .is_allowed(&limits, "k", &Request::default(), None)
        .await
        .unwrap();
    assert!(first.decision.allowed);
    // Redis' clock and this machine's are the same clock here.
    assert!(
        first.now + Duration::from_secs(1) > before && first.now < before + Duration::from_secs(5)
    );
    let second = limiter
        .is_allowed(&limits, "k", &Request::default(), None)
        .await
        .unwrap();
    assert!(second.decision.allowed);
    let third = limiter
        .is_allowed(&limits, "k", &Request::default(), None)
        .await
        .unwrap();
    assert!(!third.decision.allowed);
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("fg:{g:k}:*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    // The minute bucket is full again 200 ms after the two checks, and goes then; the hour and
    // day buckets go when they have refilled what was spent, seconds later.
    let ttl: i64 = redis::cmd("PTTL")
        .arg("fg:{g:k}:global:minute")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!((1..=200).contains(&ttl), "{ttl}");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let left: i64 = redis::cmd("EXISTS")
        .arg("fg:{g:k}:global:minute")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(left, 0, "a full bucket leaves nothing behind");

    // A user's own key of the same name is other buckets, under the user's hash tag.
    let owned = flowgate_redis::Key::Owned { user: 7, name: "k" };
    let mine = limiter
        .is_allowed(&limits, owned, &Request::default(), None)
        .await
        .unwrap();
    assert!(mine.decision.allowed);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("fg:{u7:k}:*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(limiter.reset(&limits, owned).await.unwrap());
}

/// Limits changed under live keys: the script keeps what each bucket owes, capped at its new
/// capacity, as the in-process limiter's carry-over does, for a slower refill and for a
/// smaller burst.
#[tokio::test]
async fn a_change_of_limits_carries_over_as_in_process() {
    use flowgate_core::ratelimit::Limiter;
    let redis = Redis::start().await;
    let limiter = RedisLimiter::new(&redis.url, Duration::from_secs(5)).unwrap();
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(86_400);
    let epoch = Duration::from_secs(epoch.as_secs());
    let config = |per_minute, burst| RateLimitConfig {
        requests_per_minute: per_minute,
        max_burst: burst,
        ..Default::default()
    };
    for (case, after) in [("slower", config(30, 10)), ("smaller burst", config(60, 4))] {
        let before = Limits::new(&config(60, 10)).unwrap();
        let after = Limits::new(&after).unwrap();
        let key = format!("carry-{case}");
        let mut local = Limiter::from_limits(before.clone(), 1);
        let request = Request::default();
        for _ in 0..10 {
            let t = Duration::ZERO;
            let remote = limiter
                .is_allowed(&before, &key, &request, Some(epoch + t))
                .await
                .unwrap();
            assert_eq!(
                remote.decision,
                local.is_allowed(&key, &request, t).unwrap()
            );
        }
        local.install(std::sync::Arc::new(after.clone()), Duration::from_secs(1));
        for step in 0..40u64 {
            let t = Duration::from_millis(1_000 + step * 750);
            let remote = limiter
                .is_allowed(&after, &key, &request, Some(epoch + t))
                .await
                .unwrap();
            let expected = local.is_allowed(&key, &request, t).unwrap();
            assert_eq!(remote.decision, expected, "{case}, step {step}");
        }
    }
}
