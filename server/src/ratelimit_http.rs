//! Decisions over HTTP: their JSON form, with the IETF `RateLimit` / `RateLimit-Policy` header
//! fields and `Retry-After` of `flowgate_tower::headers`; and who a request to the server's
//! own API counts against, for the `flowgate-tower` layer that limits it.

use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use flowgate_core::ratelimit::{BucketStatus, Decision};
use flowgate_tower::headers::{ByBucket, add_decision_headers};
use flowgate_tower::{KeyError, KeyExtractor, RequestHead, TrustedProxies};

use crate::auth::Verified;

/// The text of a decision's JSON that depends only on a bucket's scope and window, made once,
/// as the header fields' pieces are (BENCHMARKS.md says what it saves).
struct Pieces {
    /// `,"scope":"…","window":"…","buckets":[`, after the decision's own counts.
    decision: ByBucket,
    /// `{"scope":"…","window":"…","limit":`, opening a bucket's object.
    bucket: ByBucket,
}

static PIECES: LazyLock<Pieces> = LazyLock::new(|| Pieces {
    decision: ByBucket::new(|s, w| format!(",\"scope\":\"{s}\",\"window\":\"{w}\",\"buckets\":[")),
    bucket: ByBucket::new(|s, w| format!("{{\"scope\":\"{s}\",\"window\":\"{w}\",\"limit\":")),
});

/// Seconds with millisecond precision, rounded up: a client that waits this long is never early.
pub(crate) fn secs_ms_ceil(d: Duration) -> f64 {
    d.as_nanos().div_ceil(1_000_000) as f64 / 1000.0
}

/// One bucket as the API shows it.
pub(crate) fn bucket(b: &BucketStatus) -> flowgate_core::api::Bucket {
    flowgate_core::api::Bucket {
        scope: b.scope,
        window: b.window,
        limit: b.limit,
        capacity: b.capacity,
        remaining: b.remaining,
        reset_after: secs_ms_ceil(b.reset_after),
        retry_after: secs_ms_ceil(b.retry_after),
    }
}

/// The decision service's answer: the decision as JSON with its header fields.
///
/// The JSON has a fixed shape, so it is written directly rather than through serde: in the
/// decision service's profile serde_json's key escaping and float formatting were the largest
/// items of the server's own code. The bytes are exactly serde_json's for the same document
/// (`flowgate_core::api::Decision` is the reference, checked by a property test).
///
/// `degraded` adds `"degraded":true`: the decision was made by the failure mode, without the
/// shared buckets.
pub(crate) fn decision_response(d: &Decision, degraded: bool) -> Response {
    let mut body = Vec::with_capacity(160 + 160 * d.buckets().len());
    write_decision(&mut body, d, degraded);
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_decision_headers(headers, d);
    response
}

/// `{"allowed":…,"limit":…,"remaining":…,"reset_after":…,"retry_after":…,"scope":…,
/// "window":…,"buckets":[{"scope":…,"window":…,"limit":…,"capacity":…,"remaining":…,
/// "reset_after":…,"retry_after":…},…]}`, then `,"degraded":true` when degraded. Scope and
/// window names need no escaping.
fn write_decision(out: &mut Vec<u8>, d: &Decision, degraded: bool) {
    let pieces = &*PIECES;
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(if d.allowed {
        b"{\"allowed\":true,\"limit\":"
    } else {
        b"{\"allowed\":false,\"limit\":"
    });
    out.extend_from_slice(numbers.format(d.limit).as_bytes());
    write_counts(out, d.remaining, d.reset_after, d.retry_after);
    out.extend_from_slice(pieces.decision.get(d.scope, d.window));
    for (i, b) in d.buckets().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(pieces.bucket.get(b.scope, b.window));
        out.extend_from_slice(numbers.format(b.limit).as_bytes());
        out.extend_from_slice(b",\"capacity\":");
        out.extend_from_slice(numbers.format(b.capacity).as_bytes());
        write_counts(out, b.remaining, b.reset_after, b.retry_after);
        out.push(b'}');
    }
    out.extend_from_slice(if degraded {
        b"],\"degraded\":true}"
    } else {
        b"]}"
    });
}

/// `,"remaining":…,"reset_after":…,"retry_after":…`, which the decision and each bucket share.
fn write_counts(out: &mut Vec<u8>, remaining: u32, reset_after: Duration, retry_after: Duration) {
    out.extend_from_slice(b",\"remaining\":");
    out.extend_from_slice(itoa::Buffer::new().format(remaining).as_bytes());
    out.extend_from_slice(b",\"reset_after\":");
    write_secs_ms(out, reset_after);
    out.extend_from_slice(b",\"retry_after\":");
    write_secs_ms(out, retry_after);
}

/// [`secs_ms_ceil`] as JSON, as serde_json writes that `f64`: the shortest decimal that reads
/// back as the same number. Below 10^12 s (31,700 years) that is the exact count of
/// milliseconds as seconds, trailing zeros dropped and at least one fractional digit (`1.5`,
/// `0.001`, `60.0`); beyond, serde_json itself writes it.
fn write_secs_ms(out: &mut Vec<u8>, d: Duration) {
    // In u64 arithmetic: a u128 division showed in the profile.
    const EXACT_BELOW_SECS: u64 = 1_000_000_000_000;
    let ms_of_second = d.subsec_nanos().div_ceil(1_000_000);
    let whole = d.as_secs().saturating_add(u64::from(ms_of_second == 1000));
    if whole >= EXACT_BELOW_SECS {
        // Writing an f64 into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &secs_ms_ceil(d));
        return;
    }
    out.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
    let fraction = (ms_of_second % 1000) as u16;
    let digits = [fraction / 100, fraction / 10 % 10, fraction % 10].map(|d| b'0' + d as u8);
    let significant = match digits {
        [_, b'0', b'0'] => 1,
        [_, _, b'0'] => 2,
        _ => 3,
    };
    // One to three digits: pushed, which is cheaper than a copy of unknown length.
    out.push(b'.');
    for &digit in &digits[..significant] {
        out.push(digit);
    }
}

/// Who a request to the server's own API counts against: its user when its credentials
/// verified (`auth::identify` runs first), else its client's address through the trusted
/// proxies, so that made-up tokens share their sender's budget instead of each buying a new one.
pub(crate) fn api_client(
    proxies: TrustedProxies,
) -> impl Fn(&RequestHead<'_>) -> Result<String, KeyError> + Clone + Send + Sync + 'static {
    move |request| {
        Ok(match request.extensions.get::<Verified>() {
            Some(Verified(user)) => format!("user:{}", user.id),
            None => format!("addr:{}", client_addr(&proxies, request)),
        })
    }
}

/// The client's address as the API's limiter and the login limits count it: through the
/// trusted proxies, an IPv6 client by its /64; `unknown` when the server runs without
/// connection info (tests that call the router directly).
pub(crate) fn client_addr(proxies: &TrustedProxies, request: &RequestHead<'_>) -> String {
    proxies
        .extract(request)
        .unwrap_or_else(|_| String::from("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter, Request as LimitRequest};

    #[test]
    fn times_round_up() {
        assert_eq!(secs_ms_ceil(Duration::from_nanos(1)), 0.001);
        assert_eq!(secs_ms_ceil(Duration::from_millis(1500)), 1.5);
        assert_eq!(secs_ms_ceil(Duration::ZERO), 0.0);
    }

    /// The decision document as serde writes the API's type: the reference for
    /// [`write_decision`].
    fn serde_bytes(d: &Decision, degraded: bool) -> Vec<u8> {
        serde_json::to_vec(&flowgate_core::api::Decision {
            allowed: d.allowed,
            limit: d.limit,
            remaining: d.remaining,
            reset_after: secs_ms_ceil(d.reset_after),
            retry_after: secs_ms_ceil(d.retry_after),
            scope: d.scope,
            window: d.window,
            buckets: d.buckets().map(|b| bucket(&b)).collect(),
            degraded,
        })
        .unwrap()
    }

    fn written_secs(d: Duration) -> String {
        let mut out = Vec::new();
        write_secs_ms(&mut out, d);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn seconds_are_written_as_serde_json_writes_them() {
        for (d, text) in [
            (Duration::ZERO, "0.0"),
            (Duration::from_nanos(1), "0.001"),
            (Duration::from_millis(10), "0.01"),
            (Duration::from_millis(1500), "1.5"),
            (Duration::from_millis(60_000), "60.0"),
            (Duration::from_millis(86_399_999), "86399.999"),
        ] {
            assert_eq!(written_secs(d), text);
            assert_eq!(serde_json::to_string(&secs_ms_ceil(d)).unwrap(), text);
        }
        // Beyond 10^15 ms serde_json writes the number itself.
        let huge = Duration::MAX;
        assert_eq!(
            written_secs(huge),
            serde_json::to_string(&secs_ms_ceil(huge)).unwrap()
        );
    }

    proptest::proptest! {
        #[test]
        fn any_duration_is_written_as_serde_json_writes_it(
            secs in proptest::prop_oneof![0..100_000u64, 0..2_000_000_000_000u64, proptest::num::u64::ANY],
            nanos in 0..1_000_000_000u32,
        ) {
            let d = Duration::new(secs, nanos);
            proptest::prop_assert_eq!(
                written_secs(d),
                serde_json::to_string(&secs_ms_ceil(d)).unwrap()
            );
        }

        /// Decisions from a limiter with global and scoped limits, allowed and denied, at any
        /// time: the written document is byte for byte serde_json's.
        #[test]
        fn decisions_are_written_as_serde_json_writes_them(
            per_minute in 1..5_000u32,
            burst in 1..50u32,
            scoped_minute in 1..100u32,
            scoped_day in proptest::option::of(1..100_000u32),
            steps in proptest::collection::vec(
                (0..3u8, 0..3u8, 1..4u32, proptest::prop_oneof![0..3_000_000_000u64, 0..90_000_000_000_000u64]),
                1..40,
            ),
        ) {
            let scope = flowgate_core::ratelimit::ScopeLimits {
                minute: Some(scoped_minute),
                day: scoped_day,
                ..Default::default()
            };
            let config = RateLimitConfig {
                requests_per_minute: per_minute,
                requests_per_hour: per_minute.saturating_mul(30),
                requests_per_day: per_minute.saturating_mul(300),
                max_burst: burst,
                endpoint_limits: [("media".to_owned(), scope)].into(),
                platform_limits: [("mastodon".to_owned(), scope)].into(),
                platform_endpoint_limits: [(
                    "mastodon".to_owned(),
                    [("media".to_owned(), scope)].into(),
                )]
                .into(),
            };
            let limiter = RateLimiter::new(&config).unwrap();
            let names = [None, Some("media"), Some("mastodon")];
            let mut now = Duration::ZERO;
            for (endpoint, platform, cost, step) in steps {
                now += Duration::from_nanos(step);
                let request = LimitRequest {
                    endpoint: names[usize::from(endpoint)],
                    platform: names[usize::from(platform)],
                    cost,
                };
                let Ok(d) = limiter.is_allowed("key", &request, now) else {
                    continue;
                };
                let degraded = step % 2 == 1;
                let mut written = Vec::new();
                write_decision(&mut written, &d, degraded);
                proptest::prop_assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(serde_bytes(&d, degraded)).unwrap()
                );
            }
        }
    }
}
