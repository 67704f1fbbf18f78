//! The shared test vectors in `tests/vectors/`: the native core must decide exactly as they
//! say; the npm package's Node tests hold WebAssembly to the same files.

use std::time::Duration;

use flowgate_core::progress::{ProgressUpdate, TaskProgress};
use flowgate_core::ratelimit::{Error, Limiter, RateLimitConfig, Request};
use flowgate_core::retry::{Failure, FailureKind, RetryConfig, Step};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

fn ms(v: &Value) -> Duration {
    Duration::from_millis(v.as_u64().expect("integer milliseconds"))
}

/// Integer milliseconds, exactly: a vector's times must be whole milliseconds.
fn exact_ms(d: Duration) -> u64 {
    assert_eq!(
        d.as_nanos() % 1_000_000,
        0,
        "{d:?} is not a whole number of milliseconds"
    );
    d.as_millis() as u64
}

#[test]
fn rate_limit_vectors() {
    let file = load("ratelimit.json");
    for case in file["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let config: RateLimitConfig = serde_json::from_value(case["config"].clone()).unwrap();
        let mut state = Limiter::new(&config, 1).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name}, step {i}");
            let key = step["key"].as_str().unwrap();
            let request = Request {
                endpoint: step["endpoint"].as_str(),
                platform: step["platform"].as_str(),
                cost: step["cost"].as_u64().map_or(1, |c| c as u32),
            };
            let now = ms(&step["now_ms"]);
            let expect = &step["expect"];
            match step["op"].as_str() {
                Some("wait") => {
                    let wait = state.wait_time(key, &request, now).unwrap();
                    assert_eq!(exact_ms(wait), expect["wait_ms"].as_u64().unwrap(), "{at}");
                }
                Some("reset") => assert_eq!(
                    state.reset(key),
                    expect["had_state"].as_bool().unwrap(),
                    "{at}"
                ),
                _ => match state.is_allowed(key, &request, now) {
                    Err(Error::ZeroCost | Error::CostExceedsCapacity { .. }) => {
                        assert_eq!(expect["error"], "cost", "{at}");
                    }
                    Err(e) => panic!("{at}: {e}"),
                    Ok(d) => {
                        assert!(
                            expect["error"].is_null(),
                            "{at}: expected an error, got {d:?}"
                        );
                        assert_eq!(d.allowed, expect["allowed"].as_bool().unwrap(), "{at}");
                        assert_eq!(
                            u64::from(d.remaining),
                            expect["remaining"].as_u64().unwrap(),
                            "{at}"
                        );
                        assert_eq!(
                            exact_ms(d.reset_after),
                            expect["reset_after_ms"].as_u64().unwrap(),
                            "{at}"
                        );
                        assert_eq!(
                            exact_ms(d.retry_after),
                            expect["retry_after_ms"].as_u64().unwrap(),
                            "{at}"
                        );
                        assert_eq!(d.scope.as_str(), expect["scope"].as_str().unwrap(), "{at}");
                        assert_eq!(
                            d.window.as_str(),
                            expect["window"].as_str().unwrap(),
                            "{at}"
                        );
                        assert_eq!(
                            u64::from(d.limit),
                            expect["limit"].as_u64().unwrap(),
                            "{at}"
                        );
                        if let Some(n) = expect["buckets"].as_u64() {
                            assert_eq!(d.buckets().len() as u64, n, "{at}");
                        }
                    }
                },
            }
        }
    }
}

#[test]
fn retry_vectors() {
    let file = load("retry.json");
    for s in file["schedules"].as_array().unwrap() {
        let config: RetryConfig = serde_json::from_value(s["config"].clone()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(s["seed"].as_u64().unwrap());
        let delays: Vec<f64> = config
            .schedule(&mut rng)
            .map(|d| d.as_nanos() as f64 / 1e6)
            .collect();
        let expected: Vec<f64> = serde_json::from_value(s["delays_ms"].clone())
            .unwrap_or_else(|_| panic!("{} schedule: {delays:?}", s["config"]));
        assert_eq!(delays, expected, "{}", s["config"]);
    }
    for d in file["decisions"].as_array().unwrap() {
        let config: RetryConfig = serde_json::from_value(d["config"].clone()).unwrap();
        let f = &d["failure"];
        let kind: FailureKind = serde_json::from_value(f["kind"].clone()).unwrap();
        let message = f["message"].as_str().unwrap_or("");
        let failure = match kind {
            FailureKind::Timeout => Failure::Timeout,
            FailureKind::Connection => Failure::Connection,
            FailureKind::Status => Failure::Status {
                code: f["status"].as_u64().unwrap() as u16,
                retry_after: f["retryAfter"].as_u64().map(Duration::from_millis),
            },
            FailureKind::Other => Failure::Other { message },
        };
        let got = match d["attempt"].as_u64() {
            None => config.should_retry(&failure),
            Some(attempt) => {
                let mut rng = ChaCha8Rng::seed_from_u64(0);
                matches!(
                    config.next_step(attempt as u32, &failure, &mut rng),
                    Step::Retry(_)
                )
            }
        };
        assert_eq!(got, d["expect"].as_bool().unwrap(), "{d}");
    }
}

#[test]
fn progress_vectors() {
    let file = load("progress.json");
    for case in file["cases"].as_array().unwrap() {
        let mut model = TaskProgress::new("t", 1, ms(&case["created_ms"]));
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let update: ProgressUpdate = serde_json::from_value(step["update"].clone()).unwrap();
            let expect = &step["expect"];
            match model.apply(&update, ms(&step["now_ms"])) {
                Err(e) => {
                    let what = expect["error"]
                        .as_str()
                        .unwrap_or_else(|| panic!("step {i}: {e}"));
                    assert!(
                        e.to_string().contains(what),
                        "step {i}: {e} should mention {what}"
                    );
                }
                Ok(s) => {
                    assert!(expect["error"].is_null(), "step {i}: expected an error");
                    assert_eq!(s.seq, expect["seq"].as_u64().unwrap(), "step {i}");
                    assert_eq!(
                        s.status.as_str(),
                        expect["status"].as_str().unwrap(),
                        "step {i}"
                    );
                    assert_eq!(
                        u64::from(s.progress_percent),
                        expect["progress_percent"].as_u64().unwrap(),
                        "step {i}"
                    );
                    assert_eq!(
                        s.started_at.map(exact_ms),
                        expect["started_ms"].as_u64(),
                        "step {i}"
                    );
                    assert_eq!(s.eta.map(exact_ms), expect["eta_ms"].as_u64(), "step {i}");
                }
            }
        }
    }
}
