//! Endpoint names taken from URLs and paths: never a panic, and a name found is one path
//! segment (not empty; no `/`, `?` or `#`).
#![no_main]

use flowgate_core::ratelimit::extract_endpoint_from_url;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = core::str::from_utf8(data) else {
        return;
    };
    if let Some(endpoint) = extract_endpoint_from_url(url) {
        assert!(!endpoint.is_empty(), "an empty endpoint from {url:?}");
        assert!(
            !endpoint.contains(['/', '?', '#']),
            "{endpoint:?} from {url:?} is more than a segment"
        );
    }
});
