//! # flowgate-tower
//!
//! flowgate's multi-window rate limiter as a [`tower`](https://docs.rs/tower) layer, for any
//! axum, tonic or hyper service. Where `tower_governor` checks one quota per key, a
//! [`RateLimitLayer`] checks every bucket that applies to the request at once (global, per
//! endpoint, per platform, per platform and endpoint; each per minute, hour and day with a
//! burst) and spends from all of them or none.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{Router, routing::get};
//! use flowgate_core::ratelimit::RateLimitConfig;
//! use flowgate_tower::RateLimitLayer;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let limits: RateLimitConfig = serde_json::from_str(
//!     r#"{"requests_per_minute": 120, "max_burst": 20,
//!         "endpoint_limits": {"media": {"minute": 10}}}"#,
//! )?;
//! let app = Router::new()
//!     .route("/api/v2/media", get(|| async { "uploaded" }))
//!     // Per client address (the peer's; see `TrustedProxies` behind a proxy), and the
//!     // endpoint limits by the endpoint a path calls.
//!     .layer(RateLimitLayer::new(&limits)?.endpoint(|r| {
//!         flowgate_core::ratelimit::extract_endpoint_from_url(r.uri.path())
//!     }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! Every response carries the IETF `RateLimit-Policy` and `RateLimit` header fields
//! (draft-ietf-httpapi-ratelimit-headers; [`without_headers`](RateLimitLayer::without_headers)
//! turns them off). A denied request is answered without calling the service: 429 with
//! `Retry-After` and an `application/problem+json` body of the draft's `quota-exceeded` type,
//! naming the `violated-policies`.
//!
//! Who a request counts against is a [`KeyExtractor`]: [`PeerIp`] (the default),
//! [`TrustedProxies`] (the client behind proxies you name), [`Header`], [`BearerToken`],
//! [`Global`], or a closure. Where the buckets live is a [`Backend`]: [`InProcess`] (the
//! default), Redis with the `redis` feature, or a flowgate server's decision service with
//! the `remote` feature, so that many processes share them.

mod backend;
pub mod headers;
mod key;
mod proxy;
mod response;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use flowgate_core::ratelimit::{self, RateLimitConfig};
use tower_layer::Layer;
use tower_service::Service;

#[cfg(feature = "redis")]
pub use backend::Redis;
#[cfg(feature = "remote")]
pub use backend::Remote;
pub use backend::{Backend, BackendError, InProcess, Owned};
pub use key::{BearerToken, Global, Header, KeyError, KeyExtractor, PeerIp, RequestHead};
pub use proxy::{BadNetwork, TrustedProxies};
pub use response::{LimitedBody, QUOTA_EXCEEDED};

/// A name taken from a request (an endpoint, a platform), or none.
type NameOf = Arc<dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync>;
/// What a request costs.
type CostOf = Arc<dyn Fn(&RequestHead<'_>) -> u32 + Send + Sync>;
/// Whether a request's allowed response goes without the header fields.
type Quiet = Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>;

/// Limits the requests of the services it wraps. Built with [`RateLimitLayer::new`] (in
/// process, by peer address) and refined by its builder methods.
pub struct RateLimitLayer<K = PeerIp, B = InProcess> {
    config: Arc<Config<K, B>>,
}

#[derive(Clone)]
struct Config<K, B> {
    key: K,
    backend: B,
    options: Options,
}

/// What the builder methods set, whatever the key and the backend.
#[derive(Clone)]
struct Options {
    endpoint: Option<NameOf>,
    platform: Option<NameOf>,
    cost: Option<CostOf>,
    headers: bool,
    quiet: Option<Quiet>,
    fail_open: bool,
}

impl<K, B> Clone for RateLimitLayer<K, B> {
    fn clone(&self) -> Self {
        RateLimitLayer {
            config: Arc::clone(&self.config),
        }
    }
}

impl<K, B> fmt::Debug for RateLimitLayer<K, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("headers", &self.config.options.headers)
            .field("fail_open", &self.config.options.fail_open)
            .finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// Limits by these limits, per peer address, in this process.
    ///
    /// # Errors
    /// [`ratelimit::Error::InvalidConfig`] naming each offending field.
    pub fn new(limits: &RateLimitConfig) -> Result<Self, ratelimit::Error> {
        Ok(RateLimitLayer::with(PeerIp, InProcess::new(limits)?))
    }
}

impl<K: KeyExtractor + Clone, B: Backend + Clone> RateLimitLayer<K, B> {
    /// Limits per `key`, deciding with `backend`.
    pub fn with(key: K, backend: B) -> Self {
        RateLimitLayer {
            config: Arc::new(Config {
                key,
                backend,
                options: Options {
                    endpoint: None,
                    platform: None,
                    cost: None,
                    headers: true,
                    quiet: None,
                    fail_open: false,
                },
            }),
        }
    }

    fn change(self, f: impl FnOnce(&mut Options)) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        f(&mut config.options);
        RateLimitLayer {
            config: Arc::new(config),
        }
    }

    /// Counts requests per what `key` finds.
    pub fn key<K2: KeyExtractor + Clone>(self, key: K2) -> RateLimitLayer<K2, B> {
        let c = Arc::unwrap_or_clone(self.config);
        RateLimitLayer {
            config: Arc::new(Config {
                key,
                backend: c.backend,
                options: c.options,
            }),
        }
    }

    /// The endpoint a request calls, as the limits' `endpoint_limits` name it (for example
    /// with [`extract_endpoint_from_url`](flowgate_core::ratelimit::extract_endpoint_from_url)).
    #[must_use]
    pub fn endpoint(
        self,
        f: impl Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.change(|c| c.endpoint = Some(Arc::new(f)))
    }

    /// The platform a request is for, as the limits' `platform_limits` name it.
    #[must_use]
    pub fn platform(
        self,
        f: impl Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.change(|c| c.platform = Some(Arc::new(f)))
    }

    /// What a request costs (default 1): an upload of ten images may cost ten.
    #[must_use]
    pub fn cost(self, f: impl Fn(&RequestHead<'_>) -> u32 + Send + Sync + 'static) -> Self {
        self.change(|c| c.cost = Some(Arc::new(f)))
    }

    /// No `RateLimit` header fields on allowed responses (denials keep them: they say when to
    /// come back). For endpoints where they would tell a guesser its budget, such as logins.
    #[must_use]
    pub fn without_headers(self) -> Self {
        self.change(|c| c.headers = false)
    }

    /// No `RateLimit` header fields on the responses to the requests `f` picks, allowed or
    /// denied (`Retry-After` stays on denials): the draft's advice for endpoints where they
    /// would disclose a guessing budget, such as logins.
    #[must_use]
    pub fn without_headers_for(
        self,
        f: impl Fn(&RequestHead<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.change(|c| c.quiet = Some(Arc::new(f)))
    }

    /// Lets requests through unlimited while the backend is unavailable, instead of answering
    /// 503: for services that would rather be unprotected than down.
    #[must_use]
    pub fn fail_open(self) -> Self {
        self.change(|c| c.fail_open = true)
    }
}

impl<S, K, B> Layer<S> for RateLimitLayer<K, B> {
    type Service = RateLimit<S, K, B>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service of [`RateLimitLayer`].
pub struct RateLimit<S, K = PeerIp, B = InProcess> {
    inner: S,
    config: Arc<Config<K, B>>,
}

impl<S: Clone, K, B> Clone for RateLimit<S, K, B> {
    fn clone(&self) -> Self {
        RateLimit {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S: fmt::Debug, K, B> fmt::Debug for RateLimit<S, K, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The future of [`RateLimit`].
pub type ResponseFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<http::Response<LimitedBody<B>>, E>> + Send>>;

impl<S, K, B, ReqBody, ResBody> Service<http::Request<ReqBody>> for RateLimit<S, K, B>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
    K: KeyExtractor,
    B: Backend,
{
    type Response = http::Response<LimitedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The service made ready by `poll_ready` serves this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = &self.config;
        let options = &config.options;
        let head = RequestHead::of(&request);
        let key = match config.key.extract(&head) {
            Ok(key) => key,
            Err(e) => {
                let response = response::key_error(&e);
                return Box::pin(async move { Ok(response) });
            }
        };
        let owned = Owned {
            endpoint: options.endpoint.as_ref().and_then(|f| f(&head)),
            platform: options.platform.as_ref().and_then(|f| f(&head)),
            cost: options.cost.as_ref().map_or(1, |f| f(&head)),
        };
        let quiet = options.quiet.as_ref().is_some_and(|f| f(&head));
        let decision = config.backend.decide(key, owned);
        let (headers, fail_open) = (options.headers && !quiet, options.fail_open);
        Box::pin(async move {
            match decision.await {
                Ok(d) if d.allowed => {
                    let mut response = inner.call(request).await?;
                    if headers {
                        headers::add_decision_headers(response.headers_mut(), &d);
                    }
                    Ok(response.map(LimitedBody::inner))
                }
                Ok(d) => Ok(response::denied(&d, quiet)),
                Err(BackendError::Unavailable(_)) if fail_open => {
                    Ok(inner.call(request).await?.map(LimitedBody::inner))
                }
                Err(e) => Ok(response::backend_error(&e)),
            }
        })
    }
}
