//! Limits from environment variables (`RATE_LIMIT_*`), one `NAME=VALUE` per line: never a
//! panic; an error names one of the variables given; what reads and validates builds limits.
#![no_main]

use flowgate_core::ratelimit::{Error, Limits, RateLimitConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let vars: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('=')).collect();
    match RateLimitConfig::from_vars("RATE_LIMIT", vars.iter().copied()) {
        Ok(config) => {
            if config.validate().is_ok() {
                Limits::new(&config).expect("a valid configuration builds limits");
            }
        }
        Err(Error::Env { variable, .. }) => {
            assert!(vars.iter().any(|(name, _)| *name == variable), "{variable} was not given");
        }
        Err(_) => {}
    }
});
