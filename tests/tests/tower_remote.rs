//! The tower layer asking a real flowgate server's decision service: two services behind it
//! share the server's buckets under the limits managed there, a change of the limits governs
//! them at once, and with the server stopped they answer 503 (or pass, failing open).

use axum::Router;
use axum::routing::get;
use flowgate_tests::{Auth, Server, serve_app};
use flowgate_tower::{Global, RateLimitLayer, Remote};
use reqwest::StatusCode;
use serde_json::json;

async fn service(server: &str, token: &str, fail_open: bool) -> String {
    let mut layer = RateLimitLayer::with(Global, Remote::new(server, token).unwrap())
        .endpoint(|r| flowgate_core::ratelimit::extract_endpoint_from_url(r.uri.path()));
    if fail_open {
        layer = layer.fail_open();
    }
    let app = Router::new()
        .route("/api/v2/media", get(|| async { "ok" }))
        .layer(layer);
    format!("{}/api/v2/media", serve_app(app).await)
}

struct Answer {
    status: StatusCode,
    ratelimit: Option<String>,
    retry_after: Option<String>,
}

async fn ask(url: &str) -> Answer {
    let r = reqwest::get(url).await.unwrap();
    let header = |name| {
        r.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
    };
    Answer {
        status: r.status(),
        ratelimit: header("ratelimit"),
        retry_after: header("retry-after"),
    }
}

#[tokio::test]
async fn services_asking_one_server_share_its_buckets_and_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("RATE_LIMIT_REQUESTS_PER_MINUTE", "600"),
            ("RATE_LIMIT_MAX_BURST", "100"),
            ("RATE_LIMIT_ENDPOINT_MEDIA_MINUTE", "6"),
            ("RATE_LIMIT_ENDPOINT_MEDIA_BURST", "2"),
        ],
    )
    .await;
    let c = server.client();
    let (cookie, token) = c.admin().await;
    let a = service(&c.base, &token, false).await;
    let b = service(&c.base, &token, false).await;

    // The media endpoint's burst of 2, across both services.
    let first = ask(&a).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.ratelimit.as_deref(),
        Some(r#""endpoint-minute";r=1;t=10"#)
    );
    assert_eq!(ask(&b).await.status, StatusCode::OK);
    let denied = ask(&a).await;
    assert_eq!(denied.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(denied.retry_after.as_deref(), Some("10"));

    // Limits changed on the server govern the services at once.
    let current = c.get("/api/v1/limits", Auth::Cookie(&cookie)).await;
    let mut doc = current.json.clone();
    doc["endpoint_limits"]["media"] = json!({"minute": 600, "burst": 50});
    let put = c
        .send(
            reqwest::Method::PUT,
            "/api/v1/limits",
            flowgate_tests::Body::Json(&doc),
            Auth::Cookie(&cookie),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(ask(&b).await.status, StatusCode::OK);

    // A token the server does not know is the operator's mistake: 500, naming it.
    let stranger = service(&c.base, "fg_not-a-token", false).await;
    assert_eq!(
        ask(&stranger).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let open = service(&c.base, &token, true).await;
    server.stop().await;
    let gone = ask(&a).await;
    assert_eq!(
        (gone.status, gone.retry_after.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("1"))
    );
    assert_eq!(ask(&open).await.status, StatusCode::OK);
}
