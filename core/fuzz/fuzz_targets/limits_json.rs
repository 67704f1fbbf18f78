//! The limits document as the API and the component read it: whatever the bytes, reading
//! never panics; a document that validates builds a limiter whose first request of every
//! scope it names is allowed, and it reads back the same after it is written.
#![no_main]

use core::time::Duration;

use flowgate_core::document::from_json;
use flowgate_core::ratelimit::{Limits, RateLimitConfig, RateLimiter, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = from_json::<RateLimitConfig>(data) else {
        return;
    };
    if config.validate().is_err() {
        assert!(Limits::new(&config).is_err(), "an invalid document built limits");
        return;
    }
    let limiter = RateLimiter::new(&config).expect("a valid document builds a limiter");
    let now = Duration::from_secs(1_000);
    let platforms = config.platform_limits.keys().chain(config.platform_endpoint_limits.keys());
    let mut fresh = 0u32;
    for platform in platforms.map(|p| Some(p.as_str())).chain([None]) {
        for endpoint in config.endpoint_limits.keys().map(|e| Some(e.as_str())).chain([None]) {
            let request = Request { endpoint, platform, cost: 1 };
            // A platform may be named in two maps: every request gets a key of its own.
            fresh += 1;
            let key = fresh.to_string();
            let decision = limiter.is_allowed(&key, &request, now).expect("a cost of 1 is valid");
            assert!(decision.allowed, "the first request of a fresh key was denied");
        }
    }
    let written = serde_json::to_vec(&config).unwrap();
    let again: RateLimitConfig = from_json(&written).expect("a written document reads");
    assert_eq!(again, config);
});
