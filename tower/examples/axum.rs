//! A caption bot's API behind flowgate's layer: 120 requests a minute per client with bursts
//! of 20, media uploads at most 10 a minute, and a Mastodon quota shared by every call that
//! names the platform, all checked at once per request.
//!
//! ```sh
//! cargo run -p flowgate-tower --example axum
//! curl -i http://127.0.0.1:3000/api/v2/media       # RateLimit-Policy and RateLimit fields
//! for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:3000/api/v2/media; done
//! # 200 ... 200 429 429: the endpoint's burst is spent; the 429 is a quota-exceeded problem
//! ```
//!
//! Behind a reverse proxy, key by the client it forwards instead of the proxy's address:
//! `.key(TrustedProxies::parse("10.0.0.0/8")?)`.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use flowgate_core::ratelimit::{RateLimitConfig, extract_endpoint_from_url};
use flowgate_tower::RateLimitLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let limits: RateLimitConfig = serde_json::from_str(
        r#"{
            "requests_per_minute": 120, "max_burst": 20,
            "endpoint_limits": {"media": {"minute": 10, "burst": 10}},
            "platform_limits": {"mastodon": {"minute": 300, "hour": 5000}}
        }"#,
    )?;
    let layer = RateLimitLayer::new(&limits)?
        .endpoint(|r| extract_endpoint_from_url(r.uri.path()))
        .platform(|r| {
            let platform = r.headers.get("x-platform")?.to_str().ok()?;
            Some(platform.to_ascii_lowercase())
        });
    let app = Router::new()
        .route("/api/v2/media", get(|| async { "media uploaded\n" }))
        .route("/api/v1/statuses", post(|| async { "status posted\n" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
