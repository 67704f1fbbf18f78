//! The layer's own answers (denials and failures, as `application/problem+json`), and the body
//! type that carries either them or the service's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flowgate_core::api::Problem;
use flowgate_core::ratelimit::Decision;
use http::{HeaderValue, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::backend::BackendError;
use crate::headers::{decision_headers, policy_name, secs_ceil};
use crate::key::KeyError;

/// The problem type of a denial (draft-ietf-httpapi-ratelimit-headers, "Quota Exceeded").
pub const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

pin_project! {
    /// The body of a response through the layer: the service's, or the layer's own problem.
    pub struct LimitedBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = Projected]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // The problem document; `None` once sent.
        Problem { body: Option<Bytes> },
    }
}

impl<B> LimitedBody<B> {
    /// The service's body.
    pub fn inner(body: B) -> Self {
        LimitedBody {
            kind: Kind::Inner { body },
        }
    }

    fn problem(document: Bytes) -> Self {
        LimitedBody {
            kind: Kind::Problem {
                body: Some(document),
            },
        }
    }
}

impl<B: Body<Data = Bytes>> Body for LimitedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            Projected::Inner { body } => body.poll_frame(cx),
            Projected::Problem { body } => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Problem { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Problem { body } => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

fn problem<B>(status: StatusCode, body: &Problem) -> http::Response<LimitedBody<B>> {
    // A problem of strings and numbers always serialises.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = http::Response::new(LimitedBody::problem(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// 429: the decision's header fields (only `Retry-After` when `quiet`), and which policies
/// were exceeded.
pub(crate) fn denied<B>(d: &Decision, quiet: bool) -> http::Response<LimitedBody<B>> {
    let violated: Vec<String> = d
        .buckets()
        .filter(|b| !b.retry_after.is_zero())
        .map(|b| policy_name(b.scope, b.window))
        .collect();
    let mut response = problem(
        StatusCode::TOO_MANY_REQUESTS,
        &Problem {
            kind: QUOTA_EXCEEDED.into(),
            title: "Request cannot be satisfied as assigned quota has been exceeded".into(),
            status: 429,
            detail: format!("too many requests; retry in {} s", secs_ceil(d.retry_after)),
            errors: Vec::new(),
            violated_policies: violated,
        },
    );
    if quiet {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs_ceil(d.retry_after).into());
    } else {
        response.headers_mut().extend(decision_headers(d));
    }
    response
}

fn plain<B>(status: StatusCode, detail: &str) -> http::Response<LimitedBody<B>> {
    problem(
        status,
        &Problem::about_blank(
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error"),
            detail.into(),
        ),
    )
}

/// 400 when the request lacks its key, 500 when the server cannot find it.
pub(crate) fn key_error<B>(e: &KeyError) -> http::Response<LimitedBody<B>> {
    match e {
        KeyError::Missing(what) => plain(StatusCode::BAD_REQUEST, what),
        KeyError::Misconfigured(what) => plain(StatusCode::INTERNAL_SERVER_ERROR, what),
    }
}

/// 503 with `Retry-After: 1` while the store is unavailable; 500 for a request no
/// configuration lets through.
pub(crate) fn backend_error<B>(e: &BackendError) -> http::Response<LimitedBody<B>> {
    match e {
        BackendError::Unavailable(_) => {
            let mut response = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the rate limiter's store is unavailable; retry shortly",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        BackendError::Limit(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        BackendError::Refused(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
