//! The database lost under a running server: nothing panics, nothing acknowledged is lost, the
//! decision service goes on, and the server recovers by itself.

use std::time::{Duration, Instant};

use flowgate_tests::{Auth, Postgres, SECRET_KEY, Server};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn postgres_crashing_under_a_server_loses_no_acknowledged_write() {
    let mut postgres = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("FLOWGATE_DATABASE_URL", &postgres.url),
            ("FLOWGATE_SECRET_KEY", SECRET_KEY),
        ],
    )
    .await;
    let c = server.client();
    let (_, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let task = c.task(auth).await;
    let progress = format!("/api/v1/tasks/{task}/progress");
    for step in 1..=3 {
        let r = c
            .put(
                &progress,
                &json!({"current_step": "s", "progress_percent": step * 10}),
                auth,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    // The update sent while the database is down, and sent again once it is back.
    let ninety = json!({"current_step": "s", "progress_percent": 90});
    postgres.crash();
    // A write is refused as unavailable, to be sent again: never a 500, never a panic.
    let refused = c.put(&progress, &ninety, auth).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.headers["retry-after"], "1");
    refused.problem(StatusCode::SERVICE_UNAVAILABLE);
    // Counted as a database error (the scrape itself needs no database but for counting tasks,
    // so it is asked again once the database is back).
    let database_errors = || async {
        let metrics = c.get("/metrics", auth).await.text;
        metrics.lines().find_map(|l| {
            l.strip_prefix("flowgate_database_errors_total ")
                .and_then(|v| v.parse::<u64>().ok())
        })
    };
    let ready = c.get("/readyz", Auth::None).await;
    assert_eq!(
        (ready.status, ready.json["database"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("down"))
    );
    assert_eq!(c.get("/healthz", Auth::None).await.status, StatusCode::OK);
    // Decisions need no database (the token was checked before, and is cached).
    let d = c
        .post("/api/v1/limits/check", &json!({"key": "k"}), auth)
        .await;
    assert_eq!(
        (d.status, d.json["allowed"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{}",
        d.text
    );

    postgres.resume();
    let start = Instant::now();
    while c.get("/readyz", Auth::None).await.status != StatusCode::OK {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(database_errors().await.is_some_and(|n| n >= 1));
    // Every acknowledged update is there, and the refused one is not.
    let now = c.get(&progress, auth).await;
    assert_eq!(
        (
            now.json["seq"].as_u64(),
            now.json["progress_percent"].as_u64()
        ),
        (Some(3), Some(30)),
        "{}",
        now.text
    );
    let r = c.put(&progress, &ninety, auth).await;
    assert_eq!(
        (r.status, r.json["seq"].as_u64()),
        (StatusCode::OK, Some(4)),
        "{}",
        r.text
    );
    server.stop().await;
}
