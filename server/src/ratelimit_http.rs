//! Decisions over HTTP: their JSON form, the IETF `RateLimit` / `RateLimit-Policy` header fields
//! (draft-ietf-httpapi-ratelimit-headers-11) and `Retry-After`; and the tower layer that limits
//! the server's own API with its own limiter.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut as _, BytesMut};
use flowgate_core::ratelimit::{BucketStatus, Decision, Request as LimitRequest, Scope, Window};
use serde::Serialize;

use crate::auth::{self, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

/// `RateLimit-Policy`: one item per applying bucket.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: the binding bucket.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The text of a decision's JSON and header fields that depends only on a bucket's scope and
/// window, made once. Written name by name, a decision of seven buckets took about 120 small
/// copies (`memcpy` calls); with these pieces it takes 1,800 instructions fewer in all
/// (callgrind, BENCHMARKS.md).
struct Pieces {
    /// `,"scope":"…","window":"…","buckets":[`, after the decision's own counts.
    decision: Table,
    /// `{"scope":"…","window":"…","limit":`, opening a bucket's object.
    bucket: Table,
    /// `"scope-window";q=`, a `RateLimit-Policy` item up to its quota.
    policy: Table,
    /// `"scope-window";r=`, the `RateLimit` item up to its remaining tokens.
    limit: Table,
    /// `;w=60`, a `RateLimit-Policy` item's window, by window.
    window: [Box<[u8]>; 3],
}

/// One piece per scope and window, indexed by their declaration order.
type Table = [[Box<[u8]>; 3]; 4];

const SCOPES: [Scope; 4] = [
    Scope::Global,
    Scope::Platform,
    Scope::Endpoint,
    Scope::PlatformEndpoint,
];

static PIECES: std::sync::LazyLock<Pieces> = std::sync::LazyLock::new(|| {
    let table = |piece: fn(&str, &str) -> String| -> Table {
        SCOPES.map(|s| Window::ALL.map(|w| piece(s.as_str(), w.as_str()).into_bytes().into()))
    };
    Pieces {
        decision: table(|s, w| format!(",\"scope\":\"{s}\",\"window\":\"{w}\",\"buckets\":[")),
        bucket: table(|s, w| format!("{{\"scope\":\"{s}\",\"window\":\"{w}\",\"limit\":")),
        policy: table(|s, w| format!("\"{s}-{w}\";q=")),
        limit: table(|s, w| format!("\"{s}-{w}\";r=")),
        window: Window::ALL.map(|w| format!(";w={}", w.seconds()).into_bytes().into()),
    }
});

impl Pieces {
    fn of(table: &Table, scope: Scope, window: Window) -> &[u8] {
        &table[scope as usize][window as usize]
    }
}

/// Seconds with millisecond precision, rounded up: a client that waits this long is never early.
pub fn secs_ms_ceil(d: Duration) -> f64 {
    d.as_nanos().div_ceil(1_000_000) as f64 / 1000.0
}

/// Whole seconds, rounded up (for `Retry-After` and the header fields' `t`).
pub fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One bucket in JSON.
#[derive(Debug, Serialize)]
pub struct BucketJson {
    /// `global`, `platform`, `endpoint` or `platform_endpoint`.
    pub scope: &'static str,
    /// `minute`, `hour` or `day`.
    pub window: &'static str,
    /// Its limit per window.
    pub limit: u32,
    /// What it holds when full.
    pub capacity: u32,
    /// Whole tokens left.
    pub remaining: u32,
    /// Seconds until full.
    pub reset_after: f64,
    /// Seconds until it holds the request's cost.
    pub retry_after: f64,
}

impl From<&BucketStatus> for BucketJson {
    fn from(b: &BucketStatus) -> Self {
        BucketJson {
            scope: b.scope.as_str(),
            window: b.window.as_str(),
            limit: b.limit,
            capacity: b.capacity,
            remaining: b.remaining,
            reset_after: secs_ms_ceil(b.reset_after),
            retry_after: secs_ms_ceil(b.retry_after),
        }
    }
}

/// The decision service's answer: the decision as JSON with its header fields.
///
/// The JSON has a fixed shape, so it is written directly rather than through serde: in the
/// decision service's profile serde_json's key escaping and float formatting were the largest
/// items of the server's own code. The bytes are exactly serde_json's for the same document
/// (`DecisionJson` in the tests is the reference, checked by a property test).
///
/// `degraded` adds `"degraded":true`: the decision was made by the failure mode, without the
/// shared buckets.
pub fn decision_response(d: &Decision, degraded: bool) -> Response {
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
    out.extend_from_slice(Pieces::of(&pieces.decision, d.scope, d.window));
    for (i, b) in d.buckets().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(Pieces::of(&pieces.bucket, b.scope, b.window));
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

/// `RateLimit-Policy`, `RateLimit` and (when denied) `Retry-After` for a decision.
pub fn decision_headers(d: &Decision) -> HeaderMap {
    let mut headers = HeaderMap::new();
    add_decision_headers(&mut headers, d);
    headers
}

fn add_decision_headers(headers: &mut HeaderMap, d: &Decision) {
    // Both fields are written piece by piece (itoa for the numbers: `format!` showed in the
    // decision service's profile) into one buffer, which the two values then share.
    let pieces = &*PIECES;
    let mut numbers = itoa::Buffer::new();
    let mut out = BytesMut::with_capacity(48 * (d.buckets().len() + 1));
    for (i, b) in d.buckets().enumerate() {
        if i > 0 {
            out.put_slice(b", ");
        }
        out.put_slice(Pieces::of(&pieces.policy, b.scope, b.window));
        out.put_slice(numbers.format(b.limit).as_bytes());
        out.put_slice(&pieces.window[b.window as usize]);
    }
    let policy = out.split().freeze();
    out.put_slice(Pieces::of(&pieces.limit, d.scope, d.window));
    out.put_slice(numbers.format(d.remaining).as_bytes());
    // `t`: until the binding bucket gains one more unit (the draft's meaning), not until it is
    // full (that is the JSON's `reset_after`).
    out.put_slice(b";t=");
    out.put_slice(numbers.format(secs_ceil(d.next_token_after)).as_bytes());
    // Handed over without a copy; they are ASCII by construction.
    for (name, value) in [(&RATELIMIT_POLICY, policy), (&RATELIMIT, out.freeze())] {
        if let Ok(value) = HeaderValue::from_maybe_shared(value) {
            headers.insert(name.clone(), value);
        }
    }
    if !d.allowed {
        headers.insert(header::RETRY_AFTER, secs_ceil(d.retry_after).into());
    }
}

/// Limits the server's own API per client: by bearer token when one is sent, else by client
/// address. Allowed responses carry the `RateLimit` header fields; denied requests get a 429
/// problem with `Retry-After`. The Rust form of the reference API's `rate_limited` decorator,
/// as a layer.
pub async fn limit_api(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key = client_key(&request);
    let decision = match state
        .api_limiter
        .is_allowed(&key, &LimitRequest::default(), state.now())
    {
        Ok(d) => d,
        // The default request (cost 1) fits every valid configuration.
        Err(e) => return ApiError::Internal(anyhow::anyhow!("API limiter: {e}")).into_response(),
    };
    let headers = decision_headers(&decision);
    if !decision.allowed {
        return ApiError::TooManyRequests {
            detail: format!(
                "too many requests to the API; retry in {} s",
                secs_ceil(decision.retry_after)
            ),
            headers,
        }
        .into_response();
    }
    let mut response = next.run(request).await;
    response.headers_mut().extend(headers);
    response
}

/// Who a request counts against: its token, else its address.
fn client_key(request: &Request) -> String {
    if let Ok(Some(token)) = bearer_token(request.headers()) {
        return format!("token:{}", hex::encode(&auth::digest(token)[..16]));
    }
    format!("addr:{}", client_addr(request))
}

/// The client's address (`unknown` when the server runs without connection info, as in tests).
pub fn client_addr(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "unknown".to_string(),
            |ConnectInfo(addr)| addr.ip().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter};

    #[test]
    fn times_round_up() {
        assert_eq!(secs_ms_ceil(Duration::from_nanos(1)), 0.001);
        assert_eq!(secs_ms_ceil(Duration::from_millis(1500)), 1.5);
        assert_eq!(secs_ms_ceil(Duration::ZERO), 0.0);
        assert_eq!(secs_ceil(Duration::from_millis(1001)), 2);
        assert_eq!(secs_ceil(Duration::from_secs(2)), 2);
    }

    #[test]
    fn header_fields_follow_the_draft_syntax() {
        let limiter = RateLimiter::new(&RateLimitConfig {
            max_burst: 1,
            ..Default::default()
        })
        .unwrap();
        let t = Duration::ZERO;
        limiter
            .is_allowed("k", &LimitRequest::default(), t)
            .unwrap();
        let denied = limiter
            .is_allowed("k", &LimitRequest::default(), t)
            .unwrap();
        let h = decision_headers(&denied);
        assert_eq!(
            h[&RATELIMIT_POLICY],
            "\"global-minute\";q=60;w=60, \"global-hour\";q=1000;w=3600, \"global-day\";q=10000;w=86400"
        );
        assert_eq!(h[&RATELIMIT], "\"global-minute\";r=0;t=1");
        assert_eq!(h[header::RETRY_AFTER], "1");
    }

    /// The pieces are indexed by declaration order: the lists they are made from must follow it.
    #[test]
    fn pieces_are_made_in_declaration_order() {
        // A new scope stops this from compiling until it joins SCOPES.
        let _every_scope = |s: Scope| match s {
            Scope::Global | Scope::Platform | Scope::Endpoint | Scope::PlatformEndpoint => {}
        };
        for (i, scope) in SCOPES.into_iter().enumerate() {
            assert_eq!(scope as usize, i);
        }
        for (i, window) in Window::ALL.into_iter().enumerate() {
            assert_eq!(window as usize, i);
        }
    }

    #[test]
    fn header_fields_name_scoped_buckets() {
        let scope = |minute, hour, day| flowgate_core::ratelimit::ScopeLimits {
            minute,
            hour,
            day,
            burst: None,
        };
        let limiter = RateLimiter::new(&RateLimitConfig {
            requests_per_minute: 100,
            max_burst: 100,
            platform_limits: [("mastodon".to_owned(), scope(Some(2), None, Some(9)))].into(),
            endpoint_limits: [("media".to_owned(), scope(None, Some(5), None))].into(),
            platform_endpoint_limits: [(
                "mastodon".to_owned(),
                [("media".to_owned(), scope(None, None, Some(1)))].into(),
            )]
            .into(),
            ..Default::default()
        })
        .unwrap();
        let request = LimitRequest::new(Some("media"), Some("mastodon"));
        let d = limiter.is_allowed("k", &request, Duration::ZERO).unwrap();
        let h = decision_headers(&d);
        assert_eq!(
            h[&RATELIMIT_POLICY],
            "\"global-minute\";q=100;w=60, \"global-hour\";q=1000;w=3600, \
             \"global-day\";q=10000;w=86400, \"platform-minute\";q=2;w=60, \
             \"platform-day\";q=9;w=86400, \"endpoint-hour\";q=5;w=3600, \
             \"platform_endpoint-day\";q=1;w=86400"
        );
        assert_eq!(h[&RATELIMIT], "\"platform_endpoint-day\";r=0;t=86400");
    }

    /// The decision document as serde writes it: the reference for [`write_decision`].
    #[derive(Serialize)]
    struct DecisionJson {
        allowed: bool,
        limit: u32,
        remaining: u32,
        reset_after: f64,
        retry_after: f64,
        scope: &'static str,
        window: &'static str,
        buckets: Vec<BucketJson>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        degraded: bool,
    }

    fn serde_bytes(d: &Decision, degraded: bool) -> Vec<u8> {
        serde_json::to_vec(&DecisionJson {
            allowed: d.allowed,
            limit: d.limit,
            remaining: d.remaining,
            reset_after: secs_ms_ceil(d.reset_after),
            retry_after: secs_ms_ceil(d.retry_after),
            scope: d.scope.as_str(),
            window: d.window.as_str(),
            buckets: d.buckets().map(|b| BucketJson::from(&b)).collect(),
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
