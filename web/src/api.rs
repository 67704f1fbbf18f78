//! The server's API from the browser: same origin, so the session cookie rides along and the
//! browser adds the `Origin` the server checks on changes.

use std::cell::RefCell;

use flowgate_core::FieldError;
use flowgate_core::api::Problem;
use gloo_net::http::{Request, RequestBuilder, Response};
use leptos::prelude::{Action, Effect, Get, LocalResource, Set, Signal, With, WriteSignal};
use serde::Serialize;
use serde::de::DeserializeOwned;

thread_local! {
    /// What a `401 Unauthorized` answer does, as the console set it: the session has ended
    /// (it expired, or was signed out elsewhere).
    static ON_UNAUTHORIZED: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// Sets what every `401` answer from now on does.
pub(crate) fn on_unauthorized(f: impl Fn() + 'static) {
    ON_UNAUTHORIZED.with(|h| *h.borrow_mut() = Some(Box::new(f)));
}

/// A failed call: the problem document's status, detail and field errors.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status (0 when the server could not be reached).
    pub(crate) status: u16,
    /// What the server said.
    pub(crate) detail: String,
    /// Field errors of a 422, by JSON Pointer.
    pub(crate) errors: Vec<FieldError>,
}

impl ApiError {
    fn network(e: impl std::fmt::Display) -> Self {
        ApiError {
            status: 0,
            detail: format!("the server could not be reached: {e}"),
            errors: Vec::new(),
        }
    }

    /// The error of one field, if the server named it.
    pub(crate) fn at(&self, pointer: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|e| e.pointer == pointer)
            .map(|e| e.detail.clone())
    }
}

/// What a form shows under the field at `pointer`: the server's word on that field in the
/// last refusal held by `error`, following it as it changes.
pub(crate) fn field_error(
    error: impl Into<Signal<Option<ApiError>>>,
    pointer: &'static str,
) -> Signal<Option<String>> {
    let error = error.into();
    Signal::derive(move || error.get().and_then(|e| e.at(pointer)))
}

/// The body of a resource's last answer, if it has one and it was not a refusal (which the
/// screen's `Loading` shows).
pub(crate) fn body<T: Clone + Send + Sync + 'static>(
    resource: LocalResource<Result<Answer<T>, ApiError>>,
) -> Option<T> {
    resource.get().and_then(Result::ok).map(|a| a.body)
}

/// Keeps `error` at the outcome of `action`'s last run: its refusal, or none once it
/// succeeds. Several actions may keep one `error`: it holds the outcome of the one that ran last.
pub(crate) fn track<I: 'static, T: Send + Sync + 'static>(
    action: Action<I, Result<T, ApiError>>,
    error: WriteSignal<Option<ApiError>>,
) {
    Effect::new(move || {
        let outcome = action
            .value()
            .with(|v| v.as_ref().map(|r| r.as_ref().err().cloned()));
        if let Some(refusal) = outcome {
            error.set(refusal);
        }
    });
}

impl std::error::Error for ApiError {}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// A successful answer: its body and `ETag`.
#[derive(Debug, Clone)]
pub(crate) struct Answer<T> {
    /// The body.
    pub(crate) body: T,
    /// The `ETag`, if any.
    pub(crate) etag: Option<String>,
}

async fn finish<T: DeserializeOwned>(response: Response) -> Result<Answer<T>, ApiError> {
    let status = response.status();
    let etag = response.headers().get("etag");
    if (200..300).contains(&status) {
        let text = response.text().await.map_err(ApiError::network)?;
        let body = if text.is_empty() {
            serde_json::from_str("null")
        } else {
            serde_json::from_str(&text)
        };
        return body
            .map(|body| Answer { body, etag })
            .map_err(|e| ApiError {
                status,
                detail: format!("unexpected answer: {e}"),
                errors: Vec::new(),
            });
    }
    if status == 401 {
        ON_UNAUTHORIZED.with(|h| {
            if let Some(f) = &*h.borrow() {
                f();
            }
        });
    }
    // Not a problem document: an answer from something between the console and the server.
    let (detail, errors) = match response.json::<Problem>().await {
        Ok(problem) => (problem.detail, problem.errors),
        Err(_) => (format!("HTTP {status}"), Vec::new()),
    };
    Err(ApiError {
        status,
        detail,
        errors,
    })
}

async fn send<T: DeserializeOwned>(
    request: Result<Request, gloo_net::Error>,
) -> Result<Answer<T>, ApiError> {
    let response = request
        .map_err(ApiError::network)?
        .send()
        .await
        .map_err(ApiError::network)?;
    finish(response).await
}

fn with_json<B: Serialize>(builder: RequestBuilder, body: &B) -> Result<Request, gloo_net::Error> {
    builder
        .header("content-type", "application/json")
        .json(body)
}

/// `GET path`.
pub(crate) async fn get<T: DeserializeOwned>(path: &str) -> Result<Answer<T>, ApiError> {
    send(Request::get(path).build()).await
}

/// `POST path` with a JSON body.
pub(crate) async fn post<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<Answer<T>, ApiError> {
    send(with_json(Request::post(path), body)).await
}

/// `POST path` without a body, for actions that take none (signing out).
pub(crate) async fn post_empty(path: &str) -> Result<(), ApiError> {
    send::<serde_json::Value>(Request::post(path).build())
        .await
        .map(|_| ())
}

/// `PUT path` with a JSON body, optionally only if the document is still at `if_match`.
pub(crate) async fn put<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
    if_match: Option<&str>,
) -> Result<Answer<T>, ApiError> {
    let mut builder = Request::put(path);
    if let Some(tag) = if_match {
        builder = builder.header("if-match", tag);
    }
    send(with_json(builder, body)).await
}

/// `PATCH path` with a JSON body.
pub(crate) async fn patch<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<Answer<T>, ApiError> {
    send(with_json(Request::patch(path), body)).await
}

/// `DELETE path`.
pub(crate) async fn delete(path: &str) -> Result<(), ApiError> {
    send::<serde_json::Value>(Request::delete(path).build())
        .await
        .map(|_| ())
}

/// A path segment, percent-encoded.
pub(crate) fn segment(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}
