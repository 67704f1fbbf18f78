//! The HTTP API: one module per resource, assembled into one router.

pub(crate) mod accounts;
pub(crate) mod console;
pub(crate) mod health;
pub(crate) mod limits;
pub(crate) mod overview;
pub(crate) mod platforms;
pub(crate) mod retry;
pub(crate) mod tasks;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use flowgate_tower::RequestHead;

use crate::error::ApiError;
use crate::state::AppState;
use crate::versions::Versioned;

/// The client's address as the limits count it (through the trusted proxies, an IPv6 client
/// by its /64), or `unknown` where the server runs without connection info (tests that call
/// the router directly).
pub(crate) struct ClientAddr(pub(crate) String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let head = RequestHead {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        };
        Ok(ClientAddr(crate::ratelimit_http::client_addr(
            &state.config.trusted_proxies,
            &head,
        )))
    }
}

/// `ETag` for a version number.
pub(crate) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether a list of entity tags (`If-Match`, `If-None-Match`) names `version`: `*`, or its tag
/// with or without `W/` (a proxy may weaken a tag; the version is the same).
fn names_version(tags: &str, version: i64) -> bool {
    let current = format!("\"{version}\"");
    tags.split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == current)
}

/// Refuses a change whose `If-Match` does not name the current version (412). No `If-Match`
/// means the client does not care; `*` matches any version.
pub(crate) fn check_if_match(headers: &HeaderMap, current: i64) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("If-Match is not valid".into()))?;
    if names_version(value, current) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(format!(
            "the document changed: If-Match {value} but the current version is \"{current}\"; reload and try again"
        )))
    }
}

/// A versioned document with its version as `ETag`, or `304 Not Modified` (no body) when the
/// request's `If-None-Match` already names that version, so a client that polls the document
/// downloads it only when it changed. An `If-None-Match` that does not read as text is
/// ignored, as RFC 9110 lets a server ignore a condition it cannot evaluate.
pub(crate) fn versioned_response<T: Serialize>(
    headers: &HeaderMap,
    Versioned { document, version }: Versioned<T>,
) -> Response {
    // `no-cache`: a client may keep the document but asks again before each use, which the
    // conditional request makes cheap.
    let tag = [
        (header::ETAG, etag(version)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| names_version(tags, version));
    if unchanged {
        (StatusCode::NOT_MODIFIED, tag).into_response()
    } else {
        (tag, Json(document)).into_response()
    }
}
