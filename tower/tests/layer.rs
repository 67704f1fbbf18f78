//! The layer in a real axum server on 127.0.0.1:0, asked over HTTP by a real client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use flowgate_core::ratelimit::{RateLimitConfig, extract_endpoint_from_url};
use flowgate_tower::{
    Header, InProcess, KeyError, QUOTA_EXCEEDED, RateLimitLayer, RequestHead, TrustedProxies,
};
use http::HeaderName;
use serde_json::Value;

fn limits(json: &str) -> RateLimitConfig {
    serde_json::from_str(json).unwrap()
}

/// Serves `app` (with the peer address recorded unless `bare`) and returns its base URL.
async fn serve(app: Router, bare: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if bare {
            axum::serve(listener, app).await.unwrap();
        } else {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        }
    });
    format!("http://{addr}")
}

/// An app counting the requests that reach its handlers.
fn app(hits: &Arc<AtomicUsize>) -> Router {
    let count = |hits: Arc<AtomicUsize>| {
        move || async move {
            hits.fetch_add(1, Ordering::SeqCst);
            "ok"
        }
    };
    Router::new()
        .route("/api/v2/media", get(count(Arc::clone(hits))))
        .route("/api/v1/statuses", get(count(Arc::clone(hits))))
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn problem(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn get_(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

#[tokio::test]
async fn a_client_over_its_burst_gets_a_quota_exceeded_problem_and_the_service_is_not_called() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(&limits(r#"{"requests_per_minute": 60, "max_burst": 2}"#));
    let base = serve(app(&hits).layer(layer.unwrap()), false).await;
    let url = format!("{base}/api/v1/statuses");

    let first = get_(&url, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("ratelimit-policy"),
        Some(
            r#""global-minute";q=60;w=60, "global-hour";q=1000;w=3600, "global-day";q=10000;w=86400"#
        )
    );
    assert_eq!(
        first.header("ratelimit"),
        Some(r#""global-minute";r=1;t=1"#)
    );
    assert_eq!(get_(&url, &[]).await.status, 200);

    let denied = get_(&url, &[]).await;
    assert_eq!(denied.status, 429);
    assert_eq!(denied.header("retry-after"), Some("1"));
    assert_eq!(
        denied.header("ratelimit"),
        Some(r#""global-minute";r=0;t=1"#)
    );
    let problem = denied.problem();
    assert_eq!(problem["type"], QUOTA_EXCEEDED);
    assert_eq!(problem["status"], 429);
    assert_eq!(
        problem["violated-policies"],
        serde_json::json!(["global-minute"])
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "a denied request never reaches the service"
    );
}

#[tokio::test]
async fn endpoint_limits_apply_to_the_endpoint_a_path_calls() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(&limits(
        r#"{"requests_per_minute": 600, "max_burst": 100, "endpoint_limits": {"media": {"minute": 6, "burst": 1}}}"#,
    ))
    .unwrap()
    .endpoint(|r| extract_endpoint_from_url(r.uri.path()));
    let base = serve(app(&hits).layer(layer), false).await;

    let media = format!("{base}/api/v2/media");
    let upload = get_(&media, &[]).await;
    assert_eq!(upload.status, 200);
    assert!(
        upload
            .header("ratelimit-policy")
            .unwrap()
            .ends_with(r#""endpoint-minute";q=6;w=60"#)
    );
    let denied = get_(&media, &[]).await;
    assert_eq!(denied.status, 429);
    assert_eq!(denied.header("retry-after"), Some("10"));
    assert_eq!(
        denied.problem()["violated-policies"],
        serde_json::json!(["endpoint-minute"])
    );
    // Other endpoints still pass: only the global buckets apply to them.
    assert_eq!(
        get_(&format!("{base}/api/v1/statuses"), &[]).await.status,
        200
    );
}

#[tokio::test]
async fn each_key_has_its_own_buckets_and_a_request_without_its_key_is_a_400() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(&limits(r#"{"requests_per_minute": 60, "max_burst": 1}"#))
        .unwrap()
        .key(Header(HeaderName::from_static("x-api-key")));
    let base = serve(app(&hits).layer(layer), false).await;
    let url = format!("{base}/api/v1/statuses");

    assert_eq!(get_(&url, &[("x-api-key", "alice")]).await.status, 200);
    assert_eq!(get_(&url, &[("x-api-key", "alice")]).await.status, 429);
    assert_eq!(get_(&url, &[("x-api-key", "bob")]).await.status, 200);
    let anonymous = get_(&url, &[]).await;
    assert_eq!(anonymous.status, 400);
    assert!(
        anonymous.problem()["detail"]
            .as_str()
            .unwrap()
            .contains("x-api-key")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn forwarded_addresses_count_only_through_trusted_proxies() {
    let config = limits(r#"{"requests_per_minute": 60, "max_burst": 1}"#);
    let through = |trusted: &str| {
        RateLimitLayer::with(
            TrustedProxies::parse(trusted).unwrap(),
            InProcess::new(&config).unwrap(),
        )
    };
    let hits = Arc::new(AtomicUsize::new(0));
    // This test's client is 127.0.0.1: as the trusted proxy, its forwarded clients count apart.
    let trusting = serve(app(&hits).layer(through("127.0.0.0/8")), false).await;
    let url = format!("{trusting}/api/v1/statuses");
    let from = |client| [("x-forwarded-for", client)];
    assert_eq!(get_(&url, &from("203.0.113.1")).await.status, 200);
    assert_eq!(get_(&url, &from("203.0.113.1")).await.status, 429);
    assert_eq!(get_(&url, &from("203.0.113.2")).await.status, 200);
    // IPv6 clients count by their /64.
    assert_eq!(get_(&url, &from("2001:db8:1:2::1")).await.status, 200);
    assert_eq!(get_(&url, &from("2001:db8:1:2::ffff")).await.status, 429);

    // Not trusted: whatever a client claims, it is its own address.
    let wary = serve(app(&hits).layer(through("10.0.0.0/8")), false).await;
    let url = format!("{wary}/api/v1/statuses");
    assert_eq!(get_(&url, &from("203.0.113.1")).await.status, 200);
    assert_eq!(get_(&url, &from("203.0.113.2")).await.status, 429);
}

#[tokio::test]
async fn headers_can_be_left_off_allowed_responses_but_not_denials() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(&limits(r#"{"requests_per_minute": 60, "max_burst": 1}"#))
        .unwrap()
        .without_headers();
    let base = serve(app(&hits).layer(layer), false).await;
    let url = format!("{base}/api/v1/statuses");
    let allowed = get_(&url, &[]).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("ratelimit"), None);
    assert_eq!(allowed.header("ratelimit-policy"), None);
    let denied = get_(&url, &[]).await;
    assert_eq!(denied.status, 429);
    assert!(denied.header("ratelimit").is_some() && denied.header("retry-after").is_some());
}

#[tokio::test]
async fn a_server_that_records_no_peer_address_is_told_how_to() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(&RateLimitConfig::default()).unwrap();
    let base = serve(app(&hits).layer(layer), true).await;
    let answer = get_(&format!("{base}/api/v1/statuses"), &[]).await;
    assert_eq!(answer.status, 500);
    let detail = answer.problem()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("into_make_service_with_connect_info"),
        "{detail}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn costs_and_closures_as_keys() {
    let hits = Arc::new(AtomicUsize::new(0));
    let by_tenant = |r: &RequestHead<'_>| -> Result<String, KeyError> {
        Ok(r.uri.query().unwrap_or("anonymous").to_string())
    };
    let layer = RateLimitLayer::new(&limits(r#"{"requests_per_minute": 60, "max_burst": 5}"#))
        .unwrap()
        .key(by_tenant)
        .cost(|r| {
            if r.uri.path().ends_with("media") {
                3
            } else {
                1
            }
        });
    let base = serve(app(&hits).layer(layer), false).await;
    assert_eq!(
        get_(&format!("{base}/api/v2/media?t1"), &[]).await.status,
        200
    );
    // 2 of 5 left: another upload of 3 is refused, a status of 1 passes.
    assert_eq!(
        get_(&format!("{base}/api/v2/media?t1"), &[]).await.status,
        429
    );
    assert_eq!(
        get_(&format!("{base}/api/v1/statuses?t1"), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        get_(&format!("{base}/api/v2/media?t2"), &[]).await.status,
        200
    );
}

#[tokio::test]
async fn chosen_requests_go_without_header_fields_even_when_denied() {
    let hits = Arc::new(AtomicUsize::new(0));
    let layer = RateLimitLayer::new(&limits(r#"{"requests_per_minute": 60, "max_burst": 1}"#))
        .unwrap()
        .without_headers_for(|r| r.uri.path().ends_with("media"));
    let base = serve(app(&hits).layer(layer), false).await;
    let media = format!("{base}/api/v2/media");
    let allowed = get_(&media, &[]).await;
    assert_eq!((allowed.status, allowed.header("ratelimit")), (200, None));
    let denied = get_(&media, &[]).await;
    assert_eq!(denied.status, 429);
    assert_eq!(denied.header("ratelimit"), None);
    assert_eq!(denied.header("ratelimit-policy"), None);
    assert_eq!(denied.header("retry-after"), Some("1"));
    // Other requests keep them.
    let other = get_(&format!("{base}/api/v1/statuses"), &[]).await;
    assert!(other.header("ratelimit").is_some());
}
