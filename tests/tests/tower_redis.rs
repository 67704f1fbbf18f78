//! The tower layer's Redis backend: two services, each with its own layer and connection,
//! share one real Redis and so one budget; with Redis stopped the layer answers 503, or lets
//! requests through when told to fail open.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use flowgate_core::ratelimit::RateLimitConfig;
use flowgate_redis::RedisLimiter;
use flowgate_tests::{Redis, serve_app};
use flowgate_tower::{Global, RateLimitLayer, Redis as RedisBackend};
use reqwest::StatusCode;

async fn service(redis: &Redis, fail_open: bool) -> String {
    let limits: RateLimitConfig =
        serde_json::from_str(r#"{"requests_per_minute": 60, "max_burst": 3}"#).unwrap();
    let client = RedisLimiter::new(&redis.url, Duration::from_millis(200)).unwrap();
    let mut layer = RateLimitLayer::with(Global, RedisBackend::new(client, &limits).unwrap());
    if fail_open {
        layer = layer.fail_open();
    }
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer);
    format!("{}/", serve_app(app).await)
}

async fn status(url: &str) -> (StatusCode, Option<String>) {
    let r = reqwest::get(url).await.unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status(), retry_after)
}

#[tokio::test]
async fn two_services_on_one_redis_share_one_budget_and_say_when_redis_is_gone() {
    let mut redis = Redis::start().await;
    let a = service(&redis, false).await;
    let b = service(&redis, false).await;
    let open = service(&redis, true).await;

    // A burst of 3 in all, whichever service is asked.
    assert_eq!(status(&a).await.0, StatusCode::OK);
    assert_eq!(status(&b).await.0, StatusCode::OK);
    assert_eq!(status(&a).await.0, StatusCode::OK);
    assert_eq!(
        status(&b).await,
        (StatusCode::TOO_MANY_REQUESTS, Some("1".into()))
    );
    assert_eq!(status(&open).await.0, StatusCode::TOO_MANY_REQUESTS);

    redis.stop();
    assert_eq!(
        status(&a).await,
        (StatusCode::SERVICE_UNAVAILABLE, Some("1".into()))
    );
    // Failing open lets requests through while Redis is gone.
    assert_eq!(status(&open).await.0, StatusCode::OK);

    redis.resume().await;
    let mut back = status(&a).await.0;
    for _ in 0..50 {
        if back != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = status(&a).await.0;
    }
    assert_ne!(
        back,
        StatusCode::SERVICE_UNAVAILABLE,
        "the layer reconnects"
    );
}
