//! # flowgate-server
//!
//! The HTTP face of flowgate: the rate-limit decision service, the retry policy and its
//! statistics, tasks with progress streamed over Server-Sent Events, platform connections and
//! context, accounts and tokens, on an embedded SQLite database; the admin console is served
//! at `/`.
//!
//! [`app`] builds the router (tests drive it without a socket); [`run`] serves it on a
//! listener until a shutdown future completes.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod live;
pub mod ratelimit_http;
mod routes;
pub mod secrets;
pub mod state;
pub mod versions;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware;
use axum::routing::{delete, get, patch, post};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use config::{Args, ServerConfig};
pub use state::AppState;

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP API, the console and the health check.
pub fn app(state: AppState) -> Router {
    use routes::{accounts, limits, platforms, retry, tasks};

    // Everything under /api/v1 but the decision service counts against the caller's own API
    // limits; the decision service is what callers pay for, not overhead to protect against.
    let api = Router::new()
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/auth/me", get(accounts::me))
        .route("/users", post(accounts::create_user))
        .route(
            "/tokens",
            post(accounts::create_token).get(accounts::list_tokens),
        )
        .route("/tokens/{id}", delete(accounts::delete_token))
        .route("/limits", get(limits::get).put(limits::put))
        .route("/limits/history", get(limits::history))
        .route(
            "/limits/keys/{key}",
            get(limits::key).delete(limits::reset_key),
        )
        .route(
            "/retry/config",
            get(retry::get_config).put(retry::put_config),
        )
        .route("/retry/report", post(retry::report))
        .route("/retry/stats", get(retry::stats))
        .route("/tasks", post(tasks::create).get(tasks::list))
        .route(
            "/tasks/{id}/progress",
            get(tasks::progress).put(tasks::update),
        )
        .route("/tasks/{id}/events", get(tasks::events))
        .route("/platforms", get(platforms::list).post(platforms::create))
        .route(
            "/platforms/{id}",
            patch(platforms::update).delete(platforms::delete),
        )
        .route(
            "/context",
            get(platforms::get_context)
                .put(platforms::set_context)
                .delete(platforms::clear_context),
        )
        .route(
            "/posts",
            get(platforms::list_posts).post(platforms::create_post),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit_http::limit_api,
        ));
    let service = Router::new().route("/limits/check", post(limits::check));
    let api = api.merge(service).fallback(error::not_found);

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v1", api)
        .merge(routes::console::router(&state.config.console_dir))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            // Method and path only: headers (cookies, tokens) and bodies are never logged.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", id, method = %request.method(), path = request.uri().path())
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then ends the event streams
/// and lets requests in flight finish.
///
/// # Errors
/// When the listener fails.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let signal = async move {
        shutdown.await;
        // Event streams never finish on their own; end them so that shutdown does not wait.
        state.begin_shutdown();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await
}
