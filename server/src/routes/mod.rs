//! The HTTP API: one module per resource, assembled into one router.

pub(crate) mod accounts;
pub(crate) mod console;
pub(crate) mod limits;
pub(crate) mod platforms;
pub(crate) mod retry;
pub(crate) mod tasks;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use crate::error::ApiError;

/// The client's address, or `unknown` where the server runs without connection info (tests
/// that call the router directly).
pub(crate) struct ClientAddr(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(
                    || "unknown".to_string(),
                    |ConnectInfo(a)| a.ip().to_string(),
                ),
        ))
    }
}

/// `ETag` for a version number.
pub(crate) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
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
    let current_tag = format!("\"{current}\"");
    let matches = value
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == current_tag);
    if matches {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(format!(
            "the document changed: If-Match {value} but the current version is {current_tag}; reload and try again"
        )))
    }
}

/// A name-like field: non-empty after trimming, at most `max` bytes, no control characters.
pub(crate) fn check_name(pointer: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::field(pointer, "must not be empty"));
    }
    if value.len() > max {
        return Err(ApiError::field(
            pointer,
            format!("must be at most {max} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            pointer,
            "must not contain control characters",
        ));
    }
    Ok(())
}
