//! One axum app behind each rate-limit layer, for `wrk` (bench/load/tower.sh): flowgate's
//! layer checking twelve buckets (four scopes of three windows, the endpoint and platform
//! taken from the request), flowgate's with the global buckets only, tower_governor's with
//! its rate-limit headers, or no layer. The limits are far above the load, so every request is
//! allowed and the figure is what a layer costs a request that passes.
//!
//! `cargo run --release -p flowgate-bench --bin tower_app -- <flowgate|flowgate-global|governor|none> <port>`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use flowgate_core::ratelimit::{
    RateLimitConfig, ScopeLimits, ScopeMode, extract_endpoint_from_url,
};
use flowgate_tower::RateLimitLayer;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;

/// Limits no load on this machine reaches, in every scope and window.
fn limits(scoped: bool) -> RateLimitConfig {
    let all = ScopeLimits {
        minute: Some(1_000_000_000),
        hour: Some(1_000_000_000),
        day: Some(1_000_000_000),
        burst: Some(1_000_000_000),
        mode: ScopeMode::All,
    };
    let mut c = RateLimitConfig {
        requests_per_minute: 1_000_000_000,
        requests_per_hour: 1_000_000_000,
        requests_per_day: 1_000_000_000,
        max_burst: 1_000_000_000,
        ..Default::default()
    };
    if scoped {
        c.endpoint_limits.insert("statuses".into(), all);
        c.platform_limits.insert("mastodon".into(), all);
        c.platform_endpoint_limits
            .insert("mastodon".into(), [("statuses".to_string(), all)].into());
    }
    c
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(which), Some(port)) = (args.get(1), args.get(2).and_then(|p| p.parse::<u16>().ok()))
    else {
        eprintln!("usage: tower_app <flowgate|flowgate-global|governor|none> <port>");
        return ExitCode::FAILURE;
    };
    let app = Router::new().route("/api/v1/statuses", get(|| async { "ok" }));
    let app = match which.as_str() {
        "flowgate" => app.layer(
            RateLimitLayer::new(&limits(true))
                .expect("valid limits")
                .endpoint(|r| extract_endpoint_from_url(r.uri.path()))
                .platform(|_| Some("mastodon".to_string())),
        ),
        "flowgate-global" => app.layer(RateLimitLayer::new(&limits(false)).expect("valid limits")),
        "governor" => {
            let config = GovernorConfigBuilder::default()
                .period(Duration::from_nanos(1))
                .burst_size(1_000_000_000)
                .use_headers()
                .finish()
                .expect("a valid quota");
            app.layer(GovernorLayer::new(config))
        }
        "none" => app,
        other => {
            eprintln!("unknown layer {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is free");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .expect("serving");
    ExitCode::SUCCESS
}
