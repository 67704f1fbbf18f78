//! The server's API from the browser: same origin, so the session cookie rides along and the
//! browser adds the `Origin` the server checks on changes.

use std::cell::RefCell;

use flowgate_core::FieldError;
use gloo_net::http::{Request, RequestBuilder, Response};
use leptos::prelude::{Get, ReadSignal, Signal};
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
    error: ReadSignal<Option<ApiError>>,
    pointer: &'static str,
) -> Signal<Option<String>> {
    Signal::derive(move || error.get().and_then(|e| e.at(pointer)))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

#[derive(serde::Deserialize)]
struct Problem {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    errors: Vec<FieldError>,
}

/// A successful answer: its body and `ETag`.
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
    let problem: Problem = response.json().await.unwrap_or(Problem {
        detail: format!("HTTP {status}"),
        errors: Vec::new(),
    });
    Err(ApiError {
        status,
        detail: problem.detail,
        errors: problem.errors,
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
