//! Who a request counts against: [`KeyExtractor`] and the ready extractors.

use std::fmt;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap, HeaderName, Method, Uri};
use sha2::{Digest, Sha256};

/// What an extractor and the endpoint and platform closures see of a request: its head,
/// whatever its body type.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The target.
    pub uri: &'a Uri,
    /// The header fields.
    pub headers: &'a HeaderMap,
    /// The extensions (where servers put the peer's address).
    pub extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The address of the peer that sent the request: axum's `ConnectInfo<SocketAddr>` (with
    /// the `axum` feature) or a plain `SocketAddr` extension.
    #[must_use]
    pub fn peer(&self) -> Option<SocketAddr> {
        #[cfg(feature = "axum")]
        if let Some(axum::extract::ConnectInfo(addr)) = self
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
        {
            return Some(*addr);
        }
        self.extensions.get::<SocketAddr>().copied()
    }
}

/// Why a request's key could not be found; the layer answers it as a problem without calling
/// the service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The request lacks what identifies its client (a header, a bearer token): 400, the
    /// client's to fix.
    Missing(String),
    /// The server does not record what the extractor needs (the peer address: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`): 500, the operator's to fix.
    Misconfigured(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Missing(what) | KeyError::Misconfigured(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for KeyError {}

/// Finds the key a request counts against. Closures `Fn(&RequestHead) -> Result<String,
/// KeyError>` are extractors too.
pub trait KeyExtractor: Send + Sync + 'static {
    /// The request's key.
    ///
    /// # Errors
    /// [`KeyError`] when the request or the server lacks what identifies the client.
    fn extract(&self, request: &RequestHead<'_>) -> Result<String, KeyError>;
}

impl<F> KeyExtractor for F
where
    F: Fn(&RequestHead<'_>) -> Result<String, KeyError> + Send + Sync + 'static,
{
    fn extract(&self, request: &RequestHead<'_>) -> Result<String, KeyError> {
        self(request)
    }
}

/// The client's IP address as a key, an IPv6 client by its /64 (one host's share of a network:
/// a client given a /64 could otherwise take a fresh key per address). Counting by the peer
/// is right when clients connect directly; behind a proxy every client is the proxy, and
/// [`TrustedProxies`](crate::TrustedProxies) is the extractor.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerIp;

impl KeyExtractor for PeerIp {
    fn extract(&self, request: &RequestHead<'_>) -> Result<String, KeyError> {
        request
            .peer()
            .map(|peer| ip_key(peer.ip()))
            .ok_or_else(no_peer)
    }
}

pub(crate) fn no_peer() -> KeyError {
    KeyError::Misconfigured(
        "the server records no peer address: serve with \
         into_make_service_with_connect_info::<SocketAddr>()"
            .into(),
    )
}

/// An address as a key: IPv4 whole, IPv6 by its /64.
pub(crate) fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A header field's value as the key (an API key header, a tenant id); a request without it
/// is answered 400.
#[derive(Debug, Clone)]
pub struct Header(pub HeaderName);

impl KeyExtractor for Header {
    fn extract(&self, request: &RequestHead<'_>) -> Result<String, KeyError> {
        request
            .headers
            .get(&self.0)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| KeyError::Missing(format!("the request has no {} header", self.0)))
    }
}

/// The bearer token of `Authorization` as the key, hashed (SHA-256, the first 16 bytes in
/// hex) so that no token is kept in the limiter's memory or in Redis. Unverified: a client can
/// send a new token each time, so put this layer after authentication, or key by address.
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerToken;

impl KeyExtractor for BearerToken {
    fn extract(&self, request: &RequestHead<'_>) -> Result<String, KeyError> {
        let token = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| KeyError::Missing("the request has no bearer token".into()))?;
        let digest = Sha256::digest(token.as_bytes());
        let mut key = String::with_capacity(39);
        key.push_str("bearer:");
        for byte in &digest[..16] {
            // Writing into a String cannot fail.
            let _ = write!(key, "{byte:02x}");
        }
        Ok(key)
    }
}

/// One key for every request: a limit on the whole service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Global;

impl KeyExtractor for Global {
    fn extract(&self, _: &RequestHead<'_>) -> Result<String, KeyError> {
        Ok(String::from("global"))
    }
}
