//! Decisions over HTTP: their JSON form, the IETF `RateLimit` / `RateLimit-Policy` header fields
//! (draft-ietf-httpapi-ratelimit-headers-11) and `Retry-After`; and the tower layer that limits
//! the server's own API with its own limiter.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flowgate_core::ratelimit::{BucketStatus, Decision, Request as LimitRequest, Scope, Window};
use serde::Serialize;

use crate::auth::{self, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

/// `RateLimit-Policy`: one item per applying bucket.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: the binding bucket.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

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

/// A decision in JSON, borrowing the decision.
#[derive(Debug, Serialize)]
pub struct DecisionJson<'a> {
    /// Whether the request may go.
    pub allowed: bool,
    /// The binding bucket's limit.
    pub limit: u32,
    /// Its tokens left.
    pub remaining: u32,
    /// Seconds until it is full.
    pub reset_after: f64,
    /// Seconds until every bucket holds the cost (0 when allowed).
    pub retry_after: f64,
    /// Its scope.
    pub scope: &'static str,
    /// Its window.
    pub window: &'static str,
    /// Every applying bucket.
    pub buckets: BucketsJson<'a>,
}

impl<'a> From<&'a Decision> for DecisionJson<'a> {
    fn from(d: &'a Decision) -> Self {
        DecisionJson {
            allowed: d.allowed,
            limit: d.limit,
            remaining: d.remaining,
            reset_after: secs_ms_ceil(d.reset_after),
            retry_after: secs_ms_ceil(d.retry_after),
            scope: d.scope.as_str(),
            window: d.window.as_str(),
            buckets: BucketsJson(d),
        }
    }
}

/// A decision's applying buckets, serialised as a JSON array straight from the decision.
#[derive(Debug)]
pub struct BucketsJson<'a>(&'a Decision);

impl Serialize for BucketsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.buckets().map(|b| BucketJson::from(&b)))
    }
}

/// The decision service's answer: the decision as JSON with its header fields. The body is
/// written once into a buffer of about its final size.
pub fn decision_response(d: &Decision) -> Result<Response, ApiError> {
    let mut body = Vec::with_capacity(192 + 176 * d.buckets().len());
    serde_json::to_writer(&mut body, &DecisionJson::from(d))?;
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_decision_headers(headers, d);
    Ok(response)
}

/// `RateLimit-Policy`, `RateLimit` and (when denied) `Retry-After` for a decision.
pub fn decision_headers(d: &Decision) -> HeaderMap {
    let mut headers = HeaderMap::new();
    add_decision_headers(&mut headers, d);
    headers
}

fn add_decision_headers(headers: &mut HeaderMap, d: &Decision) {
    // Written piece by piece (itoa for the numbers): `format!` showed in the decision
    // service's profile.
    let mut numbers = itoa::Buffer::new();
    let item = |out: &mut String, scope: Scope, window: Window| {
        out.push('"');
        out.push_str(scope.as_str());
        out.push('-');
        out.push_str(window.as_str());
        out.push('"');
    };
    let mut policy = String::with_capacity(48 * d.buckets().len());
    for (i, b) in d.buckets().enumerate() {
        if i > 0 {
            policy.push_str(", ");
        }
        item(&mut policy, b.scope, b.window);
        policy.push_str(";q=");
        policy.push_str(numbers.format(b.limit));
        policy.push_str(";w=");
        policy.push_str(numbers.format(b.window.seconds()));
    }
    let mut current = String::with_capacity(48);
    item(&mut current, d.scope, d.window);
    current.push_str(";r=");
    current.push_str(numbers.format(d.remaining));
    current.push_str(";t=");
    current.push_str(numbers.format(secs_ceil(d.reset_after)));
    // Handing the strings over as they are, without a copy; they are ASCII by construction.
    for (name, value) in [(&RATELIMIT_POLICY, policy), (&RATELIMIT, current)] {
        if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
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
}
