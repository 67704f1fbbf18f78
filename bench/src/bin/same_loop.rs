//! The native core in the loop of `bench/node/checks.mjs` (the npm package) and
//! `bench/component/calls.{mjs,py}` (the WebAssembly component from jco and wasmtime-py), so
//! that one call's cost can be read side by side across the hosts: the limits of
//! `bench/scenarios.json`, 1,000 keys in turn, the clock advanced 1 µs per call, 1,000,000
//! calls, the third of three rounds, one thread, the single-threaded `Limiter` the others
//! wrap.
//!
//! `cargo run --release -p flowgate-bench --bin same_loop`

use std::hint::black_box;
use std::time::{Duration, Instant};

use flowgate_core::ratelimit::{Limiter, RateLimitConfig, Request};
use serde_json::Value;

/// The scenarios every host's loop runs.
const SCENARIOS: &str = include_str!("../../scenarios.json");

fn measure(name: &str, limits: &Value, request: &Request<'_>, keys: &[String], method: &str) {
    let config: RateLimitConfig = serde_json::from_value(limits.clone()).expect("valid limits");
    let mut state = Limiter::new(&config, 1).expect("valid limits");
    let n = 1_000_000u64;
    let mut allowed = 0u64;
    for round in 0..3 {
        let start = Instant::now();
        for i in 0..n {
            let key = &keys[(i % keys.len() as u64) as usize];
            let now = Duration::from_micros(round * n + i);
            let passed = if method == "is_allowed" {
                black_box(state.is_allowed(key, request, now)).map(|d| d.allowed)
            } else {
                black_box(state.check(key, request, now)).map(|a| a.allowed)
            };
            allowed += u64::from(passed.expect("cost 1 fits"));
        }
        let ns = start.elapsed().as_nanos() as f64;
        if round == 2 {
            println!(
                "native, {name}, {method}: {:.0} calls/s ({:.0} ns per call; {allowed} allowed)",
                n as f64 / (ns / 1e9),
                ns / n as f64
            );
        }
    }
}

fn main() {
    let file: Value = serde_json::from_str(SCENARIOS).expect("bench/scenarios.json is JSON");
    let keys: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    for method in ["is_allowed", "check"] {
        for s in file["scenarios"].as_array().expect("a list of scenarios") {
            let request = Request {
                endpoint: s["request"]["endpoint"].as_str(),
                platform: s["request"]["platform"].as_str(),
                cost: 1,
            };
            let name = s["name"].as_str().unwrap_or("?");
            measure(name, &s["limits"], &request, &keys, method);
        }
    }
}
