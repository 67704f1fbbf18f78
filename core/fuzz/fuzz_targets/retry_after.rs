//! `Retry-After` values, both forms: never a panic; delta-seconds always read (a value too
//! large for a u64 is the longest wait, not an error); without a clock only they read.
#![no_main]

use core::time::Duration;

use flowgate_core::retry::parse_retry_after;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = core::str::from_utf8(data) else {
        return;
    };
    let digits = !value.trim().is_empty() && value.trim().bytes().all(|b| b.is_ascii_digit());
    let with_clock = parse_retry_after(value, Some(Duration::from_secs(1_700_000_000)));
    let without = parse_retry_after(value, None);
    if digits {
        assert!(with_clock.is_ok() && without.is_ok(), "{value:?} is delta-seconds");
    } else {
        assert!(without.is_err(), "{value:?} read as delta-seconds");
    }
});
