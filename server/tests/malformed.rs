//! Any request, however malformed, is answered below 500, every refusal is a problem document,
//! and a refused request changes nothing stored: proptest sends odd bodies, path segments,
//! queries and content types to every route of the API, as an admin (who may change anything).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, header};
use common::{Auth, HOST, TestApp};
use flowgate_core::ratelimit::RateLimitConfig;
use flowgate_tests::inputs::{CONTENT_TYPES, FIELDS, QUERIES, ROUTES, SEGMENTS};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinities", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        select(FIELDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            object(inner),
        ]
    })
}

/// An object with the API's field names, each holding a value of `values`.
fn object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((select(FIELDS), values), 0..8).prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => object(json_value()).prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (1usize..20_000).prop_map(|n| "[".repeat(n).into_bytes()),
        1 => (60_000usize..70_000).prop_map(|n| format!("{{\"key\":\"{}\"}}", "k".repeat(n)).into_bytes()),
    ]
}

/// What the stored documents say now.
async fn stored(app: &TestApp, token: &str) -> (String, String) {
    let limits = app.get("/api/v1/limits", Auth::Bearer(token)).await.text;
    let retry = app
        .get("/api/v1/retry/config", Auth::Bearer(token))
        .await
        .text;
    (limits, retry)
}

#[test]
fn no_request_gets_a_server_error_and_a_refused_one_changes_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, token) = rt.block_on(async {
        // The API's own limiter would answer most of these with 429 and test nothing else.
        let app = TestApp::with(|c| {
            c.api_limits = RateLimitConfig {
                requests_per_minute: u32::MAX,
                requests_per_hour: u32::MAX,
                requests_per_day: u32::MAX,
                max_burst: u32::MAX,
                ..RateLimitConfig::default()
            };
        })
        .await;
        let cookie = app.admin_cookie().await;
        let token = app.token(&cookie).await;
        (app, token)
    });
    let config = ProptestConfig {
        cases: 1_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        (method, path) in select(ROUTES),
        segment in select(SEGMENTS),
        query in select(QUERIES),
        content_type in select(CONTENT_TYPES),
        body in body(),
    )| {
        rt.block_on(async {
            let before = stored(&app, &token).await;
            let uri = format!("{}{query}", path.replace("{}", segment));
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header(header::HOST, HOST)
                .header(header::AUTHORIZATION, format!("Bearer {token}"));
            if !content_type.is_empty() {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let body = if matches!(method, Method::GET | Method::DELETE) {
                Body::empty()
            } else {
                Body::from(body)
            };
            let reply = app.raw(request.body(body).unwrap()).await;
            prop_assert!(
                reply.status.as_u16() < 500,
                "{method} {uri} answered {}: {}", reply.status, reply.text
            );
            if !reply.status.is_success() {
                prop_assert_eq!(
                    reply.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
                    Some("application/problem+json"),
                    "{} {} answered {} without a problem document: {}", method, uri, reply.status, reply.text
                );
                prop_assert!(reply.body["detail"].is_string(), "{}", reply.text);
                prop_assert_eq!(
                    stored(&app, &token).await,
                    before,
                    "{} {} was refused ({}) but changed what is stored", method, uri, reply.status
                );
            }
            Ok(())
        })?;
    });
}
