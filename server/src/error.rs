//! One error type for every handler, answered as `application/problem+json` (RFC 9457), and a
//! JSON body extractor whose rejections are such errors too.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowgate_core::FieldError;
use flowgate_core::api::Problem;
use flowgate_core::document::DocumentError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// What a request can fail with. 4xx carry a detail for the client; a 5xx hides its cause from
/// the client and logs it.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON, or a parameter is malformed.
    BadRequest(String),
    /// 401: no valid session cookie or bearer token.
    Unauthorized(&'static str),
    /// 403: authenticated, but not allowed (or a cross-origin change).
    Forbidden(String),
    /// 404: no such object (or someone else's).
    NotFound(&'static str),
    /// 405: the resource exists but does not take this method (`Allow` lists those it takes).
    MethodNotAllowed,
    /// 409: the object's state forbids the change.
    Conflict(String),
    /// 412: `If-Match` names a version that is no longer current.
    PreconditionFailed(String),
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge,
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType,
    /// 422: the JSON parses but is invalid; each entry points at a field.
    Validation(Vec<FieldError>),
    /// 429: rate-limited; the headers say when to come back.
    TooManyRequests {
        /// What was limited.
        detail: String,
        /// `Retry-After`, `RateLimit` and `RateLimit-Policy`.
        headers: HeaderMap,
    },
    /// 500: a bug or a broken database; logged, not shown.
    Internal(anyhow::Error),
    /// 503 with `Retry-After`: a backend the server needs (the database) cannot be reached
    /// now; nothing was changed, and the same request may be sent again.
    Unavailable(anyhow::Error),
    /// 408: the request took longer than `FLOWGATE_REQUEST_TIMEOUT_S` (this many seconds).
    Timeout(u64),
    /// 503 with `Retry-After`: the server is at a capacity it keeps on purpose (password
    /// hashing's queue is full), or the database is in a passing condition (locked, disk
    /// full); the detail says which.
    Busy(&'static str),
}

impl ApiError {
    /// A 422 for one field.
    pub fn field(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(pointer, detail)])
    }

    /// A 429 saying what was limited, and when to come back (`Retry-After`, whole seconds): no
    /// `RateLimit` fields, which would tell a guesser its budget.
    pub fn too_many(detail: String, retry_after_secs: u64) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, retry_after_secs.into());
        ApiError::TooManyRequests { detail, headers }
    }

    /// The status code this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let mut extra = HeaderMap::new();
        let (detail, errors): (String, Option<&[FieldError]>) = match &self {
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::Conflict(d)
            | ApiError::PreconditionFailed(d) => (d.clone(), None),
            ApiError::Unauthorized(d) | ApiError::NotFound(d) => ((*d).to_string(), None),
            ApiError::MethodNotAllowed => (
                "this resource does not take that method; Allow lists those it takes".into(),
                None,
            ),
            ApiError::PayloadTooLarge => ("the request body is too large".into(), None),
            ApiError::UnsupportedMediaType => (
                "the request body must be JSON (Content-Type: application/json)".into(),
                None,
            ),
            ApiError::Validation(errors) => {
                let detail = match errors.as_slice() {
                    // An empty pointer is the whole document: nothing to name before it.
                    [one] if one.pointer.is_empty() => one.detail.clone(),
                    [one] => format!("{}: {}", one.pointer, one.detail),
                    many => format!("{} fields are invalid", many.len()),
                };
                (detail, Some(errors.as_slice()))
            }
            ApiError::TooManyRequests { detail, headers } => {
                extra = headers.clone();
                (detail.clone(), None)
            }
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                ("the server could not complete the request".into(), None)
            }
            ApiError::Unavailable(err) => {
                tracing::warn!(error = format!("{err:#}"), "backend unavailable");
                extra.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                (
                    "the database cannot be reached now; nothing was changed, try again".into(),
                    None,
                )
            }
            ApiError::Timeout(secs) => (
                format!(
                    "the request took longer than {secs} s (FLOWGATE_REQUEST_TIMEOUT_S), its body \
                     included, and was abandoned"
                ),
                None,
            ),
            ApiError::Busy(detail) => {
                extra.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                ((*detail).to_string(), None)
            }
        };
        if status == StatusCode::UNAUTHORIZED {
            extra.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let problem = Problem {
            errors: errors.map(<[FieldError]>::to_vec).unwrap_or_default(),
            ..Problem::about_blank(status.as_u16(), title, detail)
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response.headers_mut().extend(extra);
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if !crate::store::is_refused_text(&err) {
            crate::metrics::DATABASE_ERRORS.inc();
        }
        if crate::store::is_unavailable(&err) {
            ApiError::Unavailable(err.into())
        } else if let Some(condition) = crate::store::passing_condition(&err) {
            tracing::warn!(error = %err, "database condition");
            ApiError::Busy(condition)
        } else if crate::store::is_refused_text(&err) {
            // What validation missed: a 422, not a 500, and nothing was stored.
            ApiError::field("", "text must not contain U+0000 (NUL)")
        } else {
            ApiError::Internal(err.into())
        }
    }
}

/// One field's problem, as the core's rules report it: a 422.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Validation(vec![e])
    }
}

/// The limiter's refusals: an invalid limits document (422 with a pointer per field), a cost it
/// can never take (422 at `/cost`), no room for another key (503: send it again later).
impl From<flowgate_core::ratelimit::Error> for ApiError {
    fn from(e: flowgate_core::ratelimit::Error) -> Self {
        use flowgate_core::ratelimit::Error;
        match e {
            Error::InvalidConfig(errors) => ApiError::Validation(errors),
            Error::ZeroCost | Error::CostExceedsCapacity { .. } => {
                ApiError::field("/cost", e.to_string())
            }
            Error::TooManyKeys { .. } => ApiError::Busy(
                "the limiter holds its maximum of live keys (FLOWGATE_MAX_KEYS), all still \
                 limiting; a new key can be decided once one refills",
            ),
            // The environment is read at start, never for a request.
            other => ApiError::Internal(anyhow::anyhow!("limiter: {other}")),
        }
    }
}

/// An invalid retry policy or report (422 with pointers), or a bad `Retry-After` (400).
impl From<flowgate_core::retry::Error> for ApiError {
    fn from(e: flowgate_core::retry::Error) -> Self {
        use flowgate_core::retry::Error;
        match e {
            Error::InvalidConfig(errors) | Error::InvalidReport(errors) => {
                ApiError::Validation(errors)
            }
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// The progress model's refusals: an invalid update (422), one the task's life forbids (409),
/// a task that is not the caller's (404, as for one that does not exist).
impl From<flowgate_core::progress::Error> for ApiError {
    fn from(e: flowgate_core::progress::Error) -> Self {
        use flowgate_core::progress::Error;
        match e {
            Error::InvalidUpdate(errors) => ApiError::Validation(errors),
            Error::UnknownTask | Error::NotOwner => ApiError::NotFound("no such task"),
            other => ApiError::Conflict(other.to_string()),
        }
    }
}

/// The platform context's refusals: someone else's or no connection (404), an inactive user
/// (403), a bad instance URL (422 at `/instance_url`), a connection that cannot be used (409).
impl From<flowgate_core::context::Error> for ApiError {
    fn from(e: flowgate_core::context::Error) -> Self {
        use flowgate_core::context::Error;
        match e {
            Error::ConnectionNotFound => ApiError::NotFound("no such platform connection"),
            Error::UserInactive => ApiError::Forbidden(e.to_string()),
            Error::InvalidInstanceUrl(_) => ApiError::field("/instance_url", e.to_string()),
            other => ApiError::Conflict(other.to_string()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

/// A JSON request body. Unlike axum's `Json`, every rejection is a problem document, and the
/// two failures clients must tell apart are apart: JSON that does not parse is a 400, JSON that
/// parses into the wrong shape is a 422 whose pointer names the field.
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The bytes of a JSON request body, not yet parsed: for handlers that borrow their fields
/// from the body (with [`parse_json`]) instead of copying them. The same rejections as
/// [`ApiJson`] for the media type and the size.
pub(crate) struct JsonBytes(pub Bytes);

impl<S> FromRequest<S> for JsonBytes
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        Bytes::from_request(req, state)
            .await
            .map(JsonBytes)
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(e) if e.to_string().contains("length limit") => {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::BadRequest(other.body_text()),
            })
    }
}

/// A path parameter; a malformed one is a 400 problem, not axum's plain-text rejection.
pub(crate) struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// A query string; a malformed one is a 400 problem.
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// Parses `bytes` as `T`: 400 if it is not JSON, 422 with a pointer if it is not an object or
/// has the wrong shape (the core's document rule, which the component answers by too).
pub(crate) fn parse_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    flowgate_core::document::from_json(bytes).map_err(|e| match e {
        DocumentError::NotJson(e) => {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        }
        DocumentError::Shape(e) => ApiError::Validation(vec![e]),
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().as_bytes();
            let starts = |p: &[u8]| {
                mime.get(..p.len())
                    .is_some_and(|m| m.eq_ignore_ascii_case(p))
            };
            let ends = |p: &[u8]| {
                mime.len() >= p.len() && mime[mime.len() - p.len()..].eq_ignore_ascii_case(p)
            };
            mime.eq_ignore_ascii_case(b"application/json")
                || (starts(b"application/") && ends(b"+json"))
        })
        .unwrap_or(false)
}

/// Answers a request no route matched.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such resource")
}

/// Answers a request to a route that does not take its method; the router adds `Allow`.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        a: u32,
        inner: Option<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        list: Vec<u8>,
    }

    fn pointer(body: &str) -> String {
        match parse_json::<Doc>(body.as_bytes()) {
            Err(ApiError::Validation(e)) => e[0].pointer.clone(),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_400_and_wrong_shapes_point_at_the_field() {
        assert!(matches!(
            parse_json::<Doc>(b"{"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Doc>(b""),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(pointer(r#"{"a": -1}"#), "/a");
        assert_eq!(
            pointer(r#"{"a": 1, "inner": {"list": [1, 300]}}"#),
            "/inner/list/1"
        );
        assert_eq!(pointer(r#"{"a": 1, "b": 2}"#), "/b");
        assert_eq!(pointer(r#"{"inner": null}"#), "");
        assert_eq!(pointer("[1, null]"), "");
        // Invalid JSON stays a 400 even when a field before the fault has the wrong type.
        assert!(matches!(
            parse_json::<Doc>(br#"{"a": -1, "#),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Doc>(br#"{"a": 1} trailing"#),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Doc>(b"[1, 2"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(parse_json::<Doc>(br#" {"a": 1} "#).is_ok());
    }

    #[test]
    fn json_media_types() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json(&headers)
        };
        for yes in [
            "application/json",
            "Application/JSON",
            " application/json ; charset=utf-8",
            "application/merge-patch+json",
            "application/problem+JSON",
        ] {
            assert!(with(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonx",
            "text/json",
            "+json",
            "application/",
            "",
        ] {
            assert!(!with(no), "{no}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
