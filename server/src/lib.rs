//! # flowgate-server
//!
//! The HTTP face of flowgate: the rate-limit decision service, the retry policy and its
//! statistics, tasks with progress streamed over Server-Sent Events, platform connections and
//! context, accounts and tokens, on an embedded SQLite database; the admin console is served
//! at `/`.
//!
//! [`app`] builds the router (tests drive it without a socket); [`run`] serves it on a
//! listener until a shutdown future completes.

pub(crate) mod auth;
pub mod config;
pub(crate) mod error;
pub(crate) mod fanout;
pub(crate) mod limiter;
pub(crate) mod live;
pub(crate) mod metrics;
pub mod openapi;
pub(crate) mod ratelimit_http;
mod routes;
pub mod secrets;
pub mod state;
pub mod store;
pub(crate) mod versions;
mod workers;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use flowgate_tower::{InProcess, RateLimitLayer};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::{Args, Command, ServerConfig};
pub use state::AppState;

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a per-process random prefix and a counter. (A UUID per request asks the
/// kernel for randomness on every request, which showed in profiles of the decision service.)
#[derive(Clone)]
struct NextRequestId {
    prefix: std::sync::Arc<str>,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for NextRequestId {
    fn default() -> Self {
        let prefix = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        NextRequestId {
            prefix: prefix.into(),
            counter: Default::default(),
        }
    }
}

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Written piece by piece: `format!` showed in a decision's CPU profile.
        let mut id = Vec::with_capacity(self.prefix.len() + 21);
        id.extend_from_slice(self.prefix.as_bytes());
        id.push(b'-');
        id.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        let id = axum::body::Bytes::from(id);
        axum::http::HeaderValue::from_maybe_shared(id)
            .ok()
            .map(RequestId::new)
    }
}

/// The whole HTTP API, the console and the health check.
pub fn app(state: AppState) -> Router {
    Router::new().fallback_service(service(state))
}

/// What [`app`] routes to, as the plain service [`run`] serves: the router inside the layers
/// common to every request. Serving it without an outer [`Router`] spares each request that
/// router's boxed service clone and lookup.
fn service(
    state: AppState,
) -> impl Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    // Everything under /api/v1 but the decision service counts against the caller's own API
    // limits; the decision service is what callers pay for, not overhead to protect against.
    let (api, _) = limited_routes().split_for_parts();
    let api = api
        // Per client: its user when its credentials verify, else its address. Allowed responses carry
        // the RateLimit header fields; a denial is the layer's 429 quota-exceeded problem.
        // No RateLimit fields where a password is tried: they would tell a guesser its budget.
        // (Paths here are the nested router's, without `/api/v1`.)
        .layer(
            RateLimitLayer::with(
                ratelimit_http::api_client(state.config.trusted_proxies.clone()),
                InProcess::shared(Arc::clone(&state.api_limiter)),
            )
            .without_headers_for(|r| r.uri.path().starts_with("/auth/")),
        )
        // Outside the limiter, so that it can count a verified caller by its user.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::identify,
        ));
    let api = api
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed);

    let (open, _) = open_routes().split_for_parts();
    let routes = open
        .nest("/api/v1", api)
        .merge(routes::console::router(&state.config.console_dir))
        .method_not_allowed_fallback(error::method_not_allowed)
        // Inside the router, where the route a request matched is known.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .with_state(state.clone());
    let request_timeout = state.config.request_timeout;
    // The layers common to every request wrap the router once, not each of its routes: a
    // route's layers are boxed services, cloned (allocated) again for every request.
    ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer_fn(move |inner| Deadline {
            inner,
            limit: request_timeout,
        })
        .map_request(drop_odd_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), NextRequestId::default()))
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
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .service(routes)
}

/// The routes under `/api/v1` that count against the caller's API limits (their paths here
/// without the prefix). The router and the OpenAPI document are both made from this list.
fn limited_routes() -> OpenApiRouter<AppState> {
    use routes::{accounts, limits, overview, platforms, retry, tasks};
    OpenApiRouter::new()
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::whoami))
        .routes(routes!(accounts::change_password))
        .routes(routes!(accounts::create_user, accounts::list_users))
        .routes(routes!(accounts::update_user))
        .routes(routes!(accounts::create_token, accounts::list_tokens))
        .routes(routes!(accounts::delete_token))
        .routes(routes!(limits::get, limits::put))
        .routes(routes!(limits::history))
        .routes(routes!(limits::key, limits::reset_key))
        .routes(routes!(retry::get_config, retry::put_config))
        .routes(routes!(retry::report))
        .routes(routes!(retry::stats))
        .routes(routes!(overview::get))
        .routes(routes!(tasks::create, tasks::list))
        .routes(routes!(tasks::progress, tasks::update))
        .routes(routes!(tasks::events))
        .routes(routes!(platforms::list, platforms::create))
        .routes(routes!(platforms::update, platforms::delete))
        .routes(routes!(
            platforms::get_context,
            platforms::set_context,
            platforms::clear_context
        ))
        .routes(routes!(platforms::list_posts, platforms::create_post))
}

/// The routes outside the API limits, their paths whole: health, the decision service, the
/// metrics and the OpenAPI document.
fn open_routes() -> OpenApiRouter<AppState> {
    use routes::{health, limits};
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(limits::check))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::serve))
}

/// Every route the OpenAPI document describes, as the server routes them.
fn documented_routes() -> OpenApiRouter<AppState> {
    open_routes().nest("/api/v1", limited_routes())
}

/// Counts each answered request by the route it matched (its template, so that no label
/// holds an id or a key), method and status.
async fn count_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    state.metrics.answered(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
    );
    response
}

/// The metrics alone, served open on their own address (`FLOWGATE_METRICS_ADDR`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::health::open_metrics))
        .with_state(state)
}

/// A client's own `X-Request-Id` is kept (to follow a request across services) only when it
/// looks like an id: 1 to 64 characters of letters, digits and `-_.:`. Anything else would be
/// written into the log as it came; the server gives such a request an id of its own.
fn drop_odd_request_id<B>(mut request: Request<B>) -> Request<B> {
    let odd = request.headers().get(&REQUEST_ID).is_some_and(|id| {
        let id = id.as_bytes();
        id.is_empty()
            || id.len() > 64
            || !id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if odd {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// A whole request, its body included, gets `limit` (`FLOWGATE_REQUEST_TIMEOUT_S`), then a 408
/// problem: a client trickling a body, or a handler stuck, does not hold its connection and
/// task for ever. Event streams are exempt: they are meant to stay open.
#[derive(Clone)]
struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<axum::extract::Request> for Deadline<S>
where
    S: Service<axum::extract::Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let stream = request.uri().path().ends_with("/events");
        let response = self.inner.call(request);
        if stream {
            return Box::pin(async move { response.await.map(IntoResponse::into_response) });
        }
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, response).await {
                Ok(response) => response.map(IntoResponse::into_response),
                Err(_) => Ok(error::ApiError::Timeout(limit.as_secs()).into_response()),
            }
        })
    }
}

/// Answers a connection beyond `FLOWGATE_MAX_CONNECTIONS`: 503 with `Retry-After`, then closes
/// it, without reading its request.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    const BODY: &str = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the server has as many connections open as it allows (FLOWGATE_MAX_CONNECTIONS); try again shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    // A peer that does not read gets no more than a second of this task.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// With buckets in Redis: this server's heartbeat every second, which also counts the servers
/// alive and, while Redis is unreachable, looks for it again. Ends with the server.
async fn heartbeats(state: AppState) {
    let mut stopping = state.shutdown.subscribe();
    let mut every = tokio::time::interval(limiter::HEARTBEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
        if let Some(shared) = state.decisions.shared_state() {
            shared.heartbeat().await;
        }
    }
}

/// Serves the API (what [`app`] routes to) on `listener` until `shutdown` completes, then ends the event streams
/// and lets requests in flight finish.
///
/// The calling task accepts connections; each is served by one of the connection workers
/// (`ServerConfig::workers` threads with a runtime each, see `workers`).
///
/// Connections are served as HTTP/1.1 only (keep-alive included), with hyper's HTTP/1 server
/// rather than axum's HTTP/1-or-2 one: nothing here speaks HTTP/2 without TLS, and a
/// connection task that need not carry the HTTP/2 state machine costs less memory, which
/// counts when thousands of event streams stay open.
///
/// # Errors
/// When the listener fails, or the worker threads cannot be started.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let app = service(state.clone());
    let workers = workers::Workers::start(state.config.workers)?;
    if state.decisions.shared_state().is_some() {
        tokio::spawn(heartbeats(state.clone()));
    }
    tokio::spawn(fanout::listen(state.clone()));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that opens a connection and sends nothing is dropped after a while. Responses
    // go out as one flat buffer rather than a vectored write of head and body: a decision is
    // about a kilobyte, and the copy is cheaper than what writev costs the kernel (the decision
    // service measured less CPU per decision).
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .writev(false);
    let mut shutdown = std::pin::pin!(shutdown);
    // Open connections are counted: beyond the cap a new one is answered 503 and closed, as
    // nginx refuses connections past `worker_connections`, rather than served slowly by all.
    let connections =
        std::sync::Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept: wait, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = std::sync::Arc::clone(&connections).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        // Registered again on the worker's runtime, which then alone polls it.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepted connection lost");
                continue;
            }
        };
        let service = tower::ServiceExt::map_request(
            app.clone(),
            move |request: Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(addr));
                request
            },
        );
        let http = http.clone();
        let watcher = graceful.watcher();
        workers.spawn(async move {
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepted connection lost");
                    return;
                }
            };
            let connection =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Event streams never finish on their own; end them so that shutdown does not wait.
    state.begin_shutdown();
    // Requests in flight get the grace period to finish; then the server exits anyway (a
    // client trickling a body must not hold a deploy up).
    let grace = state.config.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "requests still open after the shutdown grace period; stopping anyway"
        );
    }
    // Joining the worker threads blocks; they have nothing left to do but end.
    let _ = tokio::task::spawn_blocking(move || workers.stop()).await;
    Ok(())
}
