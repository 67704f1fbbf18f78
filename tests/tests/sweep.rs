//! A sweep of bad input at a real server process: every route, with wrong types, huge numbers,
//! deep nesting, invalid UTF-8, wrong content types, oversized bodies, bad credentials and bad
//! `Last-Event-ID`s, thousands of requests from a seeded generator. No answer is a 5xx, every
//! refusal is a problem document, a refused request changes nothing stored (the whole
//! database, read row by row), and the log holds no panic and no secret.

use std::collections::BTreeMap;
use std::time::Duration;

use flowgate_tests::inputs::{CONTENT_TYPES, FIELDS, QUERIES, ROUTES, SEGMENTS};
use flowgate_tests::{ADMIN_PASSWORD, Auth, Server, UNLIMITED_API};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Row as _};

const REQUESTS: usize = 4_000;

/// Every row of every table, as text: what "nothing stored changed" compares.
async fn dump(db: &mut SqliteConnection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap();
    let mut all = BTreeMap::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut *db)
                .await
                .unwrap();
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut rows: Vec<String> = sqlx::query(&format!("SELECT {row} FROM \"{table}\""))
            .fetch_all(&mut *db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        rows.sort_unstable();
        all.insert(table, rows);
    }
    all
}

/// A JSON value of the API's field names and odd leaves, `depth` deep at most.
fn json_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    match rng.u32(0..if depth == 0 { 9 } else { 11 }) {
        0 => Value::Null,
        1 => Value::from(rng.bool()),
        2 => Value::from(rng.i64(..)),
        3 => Value::from(rng.u64(..)),
        4 => Value::from(rng.f64() * 10f64.powi(rng.i32(-10..300))),
        5 => Value::from(FIELDS[rng.usize(..FIELDS.len())]),
        6 => Value::from(
            (0..rng.usize(0..12))
                .map(|_| rng.char(..))
                .collect::<String>(),
        ),
        7 => Value::from(
            ["", "user", "admin", "success", "mastodon", "https://x.test"][rng.usize(..6)],
        ),
        8 => Value::from([0, 1, -1, 100, 101, 429, 503][rng.usize(..7)]),
        9 => Value::from(
            (0..rng.usize(0..4))
                .map(|_| json_value(rng, depth - 1))
                .collect::<Vec<_>>(),
        ),
        _ => object(rng, depth - 1),
    }
}

/// An object of the API's field names, so that it gets past "unknown field".
fn object(rng: &mut fastrand::Rng, depth: u32) -> Value {
    Value::Object(
        (0..rng.usize(0..8))
            .map(|_| {
                (
                    FIELDS[rng.usize(..FIELDS.len())].to_string(),
                    json_value(rng, depth),
                )
            })
            .collect::<Map<_, _>>(),
    )
}

fn body(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u32(0..14) {
        0..=4 => object(rng, 3).to_string().into_bytes(),
        5 => json_value(rng, 3).to_string().into_bytes(),
        // Numbers no integer or float holds.
        6 => format!(
            "{{\"{}\": {}}}",
            FIELDS[rng.usize(..FIELDS.len())],
            [
                "1e400",
                "-1e400",
                "18446744073709551616",
                "-9223372036854775809",
                "1.0e-400",
                "0.0000000000000000000000001"
            ][rng.usize(..6)]
        )
        .into_bytes(),
        // Deep nesting, of arrays or objects.
        7 => "[".repeat(rng.usize(100..20_000)).into_bytes(),
        8 => "{\"details\":".repeat(rng.usize(10..5_000)).into_bytes(),
        // Invalid UTF-8 inside a string, and bytes that are no JSON at all.
        9 => {
            let mut b = format!("{{\"{}\": \"", FIELDS[rng.usize(..FIELDS.len())]).into_bytes();
            b.extend([0xff, 0xfe, 0xc3, 0x28]);
            b.extend(b"\"}");
            b
        }
        10 => (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect(),
        // Over the body limit.
        11 => format!("{{\"key\":\"{}\"}}", "k".repeat(rng.usize(60_000..200_000))).into_bytes(),
        12 => Vec::new(),
        // Truncated, and with a key twice.
        _ => [
            "{\"key\": \"a\"",
            "{\"key\": \"a\", \"key\": \"b\"}",
            "{\"key\"",
            "nul",
            "{} {}",
        ][rng.usize(..5)]
        .as_bytes()
        .to_vec(),
    }
}

const BAD_LAST_EVENT_IDS: &[&str] = &[
    "-1",
    "abc",
    "99999999999999999999999",
    "",
    "1.5",
    " 3",
    "0x10",
    "1,2",
];

#[tokio::test]
async fn a_seeded_sweep_of_bad_input_gets_no_5xx_changes_nothing_and_logs_no_secret() {
    let seed = std::env::var("FLOWGATE_SWEEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_204);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), UNLIMITED_API).await;
    let c = server.client();
    let (admin_cookie, admin_token) = c.admin().await;
    let spare_token = c
        .post(
            "/api/v1/tokens",
            &json!({"name": "spare"}),
            Auth::Cookie(&admin_cookie),
        )
        .await;
    let spare_id = spare_token.json["id"].to_string();
    let alice_cookie = c.user(&admin_cookie, "alice").await;
    let alice_token = c.token(&alice_cookie, "alice").await;
    let platform_secret = "sweep-platform-access-token-4f1c9a";
    let connection = c
        .post(
            "/api/v1/platforms",
            &json!({"name": "main", "platform_type": "mastodon", "instance_url": "https://mastodon.social",
                    "username": "alice", "access_token": platform_secret}),
            Auth::Bearer(&alice_token),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.text
    );
    let task_id = c.task(Auth::Bearer(&alice_token)).await;
    let alice_id = c
        .get("/api/v1/auth/me", Auth::Bearer(&alice_token))
        .await
        .json["id"]
        .to_string();
    let segments: Vec<String> = SEGMENTS
        .iter()
        .map(ToString::to_string)
        .chain([
            spare_id.clone(),
            connection.json["id"].to_string(),
            task_id.clone(),
            alice_id,
            "k".repeat(5_000),
            "%E2%80%AEkey".into(),
        ])
        .collect();

    let mut routes: Vec<(&str, &str)> = ROUTES.to_vec();
    routes.extend([
        ("GET", "/api/v1/tasks/{}/events"),
        ("DELETE", "/api/v1/tokens/{}"),
    ]);
    let credentials = |rng: &mut fastrand::Rng| -> Vec<(reqwest::header::HeaderName, HeaderValue)> {
        let bearer = |t: &str| {
            vec![(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            )]
        };
        match rng.u32(0..12) {
            0..=2 => bearer(&admin_token),
            3..=4 => bearer(&alice_token),
            5 => vec![
                (
                    COOKIE,
                    HeaderValue::from_str(&format!("flowgate_session={admin_cookie}")).unwrap(),
                ),
                (ORIGIN, HeaderValue::from_str(&server.base).unwrap()),
            ],
            6 => vec![(
                COOKIE,
                HeaderValue::from_str(&format!("flowgate_session={alice_cookie}")).unwrap(),
            )],
            7 => Vec::new(),
            8 => bearer(&format!("fg_{:064x}", rng.u128(..))),
            9 => bearer(&"a".repeat(rng.usize(1..20_000))),
            10 => vec![(
                AUTHORIZATION,
                HeaderValue::from_bytes(b"Bearer \xff\xfe\x80token").unwrap(),
            )],
            _ => vec![(
                AUTHORIZATION,
                HeaderValue::from_static("Basic YWRtaW46YWRtaW4="),
            )],
        }
    };

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut db = SqliteConnectOptions::new()
        .filename(dir.path().join("flowgate.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let mut stored = dump(&mut db).await;
    let mut answered = BTreeMap::<u16, usize>::new();
    for n in 0..REQUESTS {
        let (route_method, template) = routes[rng.usize(..routes.len())];
        let method = if rng.u32(0..10) == 0 {
            [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ][rng.usize(..6)]
            .clone()
        } else {
            Method::from_bytes(route_method.as_bytes()).unwrap()
        };
        let path = template.replace("{}", &segments[rng.usize(..segments.len())]);
        let uri = format!(
            "{}{path}{}",
            server.base,
            QUERIES[rng.usize(..QUERIES.len())]
        );
        let mut request = http.request(method.clone(), &uri);
        for (name, value) in credentials(&mut rng) {
            request = request.header(name, value);
        }
        let content_type = CONTENT_TYPES[rng.usize(..CONTENT_TYPES.len())];
        if !content_type.is_empty() {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if template.ends_with("/events") || rng.u32(0..20) == 0 {
            request = request.header(
                "last-event-id",
                BAD_LAST_EVENT_IDS[rng.usize(..BAD_LAST_EVENT_IDS.len())],
            );
        }
        if method != Method::GET {
            request = request.body(body(&mut rng));
        }
        let what = format!("request {n} (seed {seed}): {method} {path}");
        // A pooled connection the server closed as it was reused fails without reaching it;
        // sent again once, a request fails only if the server cannot answer it (it died).
        let again = request.try_clone();
        let response = match request.send().await {
            Ok(response) => response,
            Err(first) => again
                .expect("a body that can be sent again")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: {first}, and sent again: {e}")),
        };
        let status = response.status();
        *answered.entry(status.as_u16()).or_default() += 1;
        let problem = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|t| t == "application/problem+json");
        // An event stream that opened does not end: its headers are the answer.
        let text = if template.ends_with("/events") && status == StatusCode::OK {
            String::new()
        } else {
            response
                .text()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"))
        };
        assert!(status.as_u16() < 500, "{what} answered {status}: {text}");
        if status.is_success() {
            stored = dump(&mut db).await;
            continue;
        }
        assert!(
            problem,
            "{what} answered {status} without a problem document: {text}"
        );
        let detail = serde_json::from_str::<Value>(&text).unwrap_or_default();
        assert!(detail["detail"].is_string(), "{what}: {text}");
        assert!(
            dump(&mut db).await == stored,
            "{what} was refused ({status}) but changed what is stored"
        );
    }

    let logs = server.logs();
    assert!(!logs.contains("panicked"), "a panic in the log:\n{logs}");
    let key_file = std::fs::read_to_string(dir.path().join("flowgate.db.secret-key")).unwrap();
    for secret in [
        ADMIN_PASSWORD,
        "e2e-user-password",
        &admin_token,
        &alice_token,
        &admin_cookie,
        &alice_cookie,
        platform_secret,
        spare_token.json["token"].as_str().unwrap(),
        key_file.trim(),
    ] {
        assert!(!logs.contains(secret), "a secret is in the log: {secret}");
    }
    assert!(
        !logs.contains("aaaaaaaaaaaaaaaa"),
        "a bad bearer token is in the log"
    );
    // The sweep reached past the front door: refusals of every kind, and some requests served.
    for status in [200, 400, 401, 403, 404, 405, 413, 415, 422] {
        assert!(
            answered.contains_key(&status),
            "no {status} in {answered:?}"
        );
    }
}
