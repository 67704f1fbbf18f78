//! The IETF `RateLimit-Policy` and `RateLimit` header fields
//! (draft-ietf-httpapi-ratelimit-headers) and `Retry-After`, for a decision: the one place
//! flowgate writes them, for this layer and for the flowgate server's decision service.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::{BufMut as _, BytesMut};
use flowgate_core::ratelimit::{Decision, Scope, Window};
use http::{HeaderMap, HeaderName, HeaderValue, header};

/// `RateLimit-Policy`: one item per applying bucket, named `<scope>-<window>`, with its quota
/// (`q`) and window in seconds (`w`).
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: the binding bucket, its remaining quota (`r`) and the seconds until it gains
/// one more unit (`t`).
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The scopes in the order of their declaration (the pieces below are indexed by it).
const SCOPES: [Scope; 4] = [
    Scope::Global,
    Scope::Platform,
    Scope::Endpoint,
    Scope::PlatformEndpoint,
];

/// A text for each scope and window, made once: what a header field or a JSON document
/// repeats per bucket, so that writing a decision copies a few ready pieces instead of
/// formatting names. The flowgate server's decision JSON is written with these too.
pub struct ByBucket([[Box<[u8]>; 3]; 4]);

impl ByBucket {
    /// The text `piece(scope, window)` for each scope and window, by their JSON names.
    pub fn new(piece: impl Fn(&str, &str) -> String) -> Self {
        ByBucket(
            SCOPES.map(|s| Window::ALL.map(|w| piece(s.as_str(), w.as_str()).into_bytes().into())),
        )
    }

    /// The text for one bucket.
    #[must_use]
    pub fn get(&self, scope: Scope, window: Window) -> &[u8] {
        &self.0[scope as usize][window as usize]
    }
}

struct Pieces {
    /// `"scope-window";q=`, a `RateLimit-Policy` item up to its quota.
    policy: ByBucket,
    /// `"scope-window";r=`, the `RateLimit` item up to its remaining units.
    limit: ByBucket,
    /// `;w=60`, a `RateLimit-Policy` item's window, by window.
    window: [Box<[u8]>; 3],
}

static PIECES: LazyLock<Pieces> = LazyLock::new(|| Pieces {
    policy: ByBucket::new(|s, w| format!("\"{s}-{w}\";q=")),
    limit: ByBucket::new(|s, w| format!("\"{s}-{w}\";r=")),
    window: Window::ALL.map(|w| format!(";w={}", w.seconds()).into_bytes().into()),
});

/// The name of a bucket's policy in the header fields and in a problem's `violated-policies`:
/// `global-minute`, `platform_endpoint-day`.
#[must_use]
pub fn policy_name(scope: Scope, window: Window) -> String {
    format!("{}-{}", scope.as_str(), window.as_str())
}

/// Whole seconds, rounded up (for `Retry-After` and the header fields' `t`): a client that
/// waits this long is never early.
#[must_use]
pub fn secs_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `RateLimit-Policy`, `RateLimit` and (when denied) `Retry-After` for a decision.
#[must_use]
pub fn decision_headers(d: &Decision) -> HeaderMap {
    let mut headers = HeaderMap::new();
    add_decision_headers(&mut headers, d);
    headers
}

/// Adds the fields of [`decision_headers`] to `headers`, replacing any already there.
pub fn add_decision_headers(headers: &mut HeaderMap, d: &Decision) {
    // Both fields are written piece by piece (itoa for the numbers: `format!` showed in the
    // decision service's profile) into one buffer, which the two values then share.
    let pieces = &*PIECES;
    let mut numbers = itoa::Buffer::new();
    let mut out = BytesMut::with_capacity(48 * (d.buckets().len() + 1));
    for (i, b) in d.buckets().enumerate() {
        if i > 0 {
            out.put_slice(b", ");
        }
        out.put_slice(pieces.policy.get(b.scope, b.window));
        out.put_slice(numbers.format(b.limit).as_bytes());
        out.put_slice(&pieces.window[b.window as usize]);
    }
    let policy = out.split().freeze();
    out.put_slice(pieces.limit.get(d.scope, d.window));
    out.put_slice(numbers.format(d.remaining).as_bytes());
    // `t`: until the binding bucket gains one more unit (the draft's meaning), not until it is
    // full.
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

#[cfg(test)]
mod tests {
    use super::*;
    use flowgate_core::ratelimit::{RateLimitConfig, RateLimiter, Request as LimitRequest};

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

    #[test]
    fn header_fields_name_scoped_buckets() {
        let scope = |minute, hour, day| flowgate_core::ratelimit::ScopeLimits {
            minute,
            hour,
            day,
            burst: None,
            mode: flowgate_core::ratelimit::ScopeMode::All,
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
    fn whole_seconds_round_up() {
        assert_eq!(secs_ceil(Duration::from_millis(1001)), 2);
        assert_eq!(secs_ceil(Duration::from_secs(2)), 2);
        assert_eq!(secs_ceil(Duration::ZERO), 0);
    }
}
