//! `/metrics` scraped as Prometheus would: every series is there, and each moves with what the
//! server does. Open on its own address with `FLOWGATE_METRICS_ADDR`, else on the main address
//! to an admin.

use std::time::Duration;

use flowgate_tests::{Auth, Server, SseStream};
use reqwest::StatusCode;
use serde_json::json;

/// The value of the series `series` (its name and labels, as written) in `text`, if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
    })
}

fn decisions(allowed: bool) -> String {
    format!("flowgate_decisions_total{{allowed=\"{allowed}\",scope=\"global\",window=\"minute\"}}")
}

#[tokio::test]
async fn every_series_is_scraped_and_moves() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    let (cookie, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    // To an admin only.
    assert_eq!(
        c.get("/metrics", Auth::None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let alice = c.user(&cookie, "alice").await;
    assert_eq!(
        c.get("/metrics", Auth::Cookie(&alice)).await.status,
        StatusCode::FORBIDDEN
    );

    let before = c.get("/metrics", auth).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(
        before.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let before = before.text;
    for series in [
        &decisions(true),
        &decisions(false),
        "flowgate_decision_seconds_count",
        "flowgate_live_keys",
        "flowgate_sse_subscribers",
        "flowgate_database_errors_total",
        "flowgate_redis_errors_total",
    ] {
        assert!(
            value(&before, series).is_some(),
            "{series} missing from:\n{before}"
        );
    }

    let limits = json!({"requests_per_minute": 60, "requests_per_hour": 1000,
                        "requests_per_day": 10000, "max_burst": 2});
    assert_eq!(
        c.put("/api/v1/limits", &limits, auth).await.status,
        StatusCode::OK
    );
    for _ in 0..3 {
        c.post("/api/v1/limits/check", &json!({"key": "k"}), auth)
            .await;
    }
    let report = json!({"operation": "caption", "attempts": 1, "outcome": "success", "delays": [], "failures": []});
    assert_eq!(
        c.post("/api/v1/retry/report", &report, auth).await.status,
        StatusCode::OK
    );
    let task = c.task(auth).await;
    let progress = json!({"current_step": "captioning", "progress_percent": 10});
    assert_eq!(
        c.put(&format!("/api/v1/tasks/{task}/progress"), &progress, auth)
            .await
            .status,
        StatusCode::OK
    );
    let mut stream = SseStream::open(&c, &format!("/api/v1/tasks/{task}/events"), auth, None).await;
    assert!(stream.next(Duration::from_secs(10)).await.is_some());

    let after = c.get("/metrics", auth).await.text;
    let moved =
        |series: &str| value(&after, series).unwrap_or(0.0) - value(&before, series).unwrap_or(0.0);
    assert_eq!(moved(&decisions(true)), 2.0, "{after}");
    assert_eq!(moved(&decisions(false)), 1.0, "{after}");
    assert_eq!(moved("flowgate_decision_seconds_count"), 3.0);
    assert!(value(&after, "flowgate_decision_seconds_sum").unwrap() > 0.0);
    assert_eq!(value(&after, "flowgate_live_keys"), Some(1.0));
    assert_eq!(value(&after, "flowgate_sse_subscribers"), Some(1.0));
    assert_eq!(
        value(&after, "flowgate_tasks{status=\"running\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        moved("flowgate_retry_reports_total{outcome=\"success\"}"),
        1.0
    );
    assert_eq!(
        moved(
            "flowgate_http_requests_total{route=\"/api/v1/limits/check\",method=\"POST\",status=\"200\"}"
        ),
        3.0,
        "{after}"
    );
    assert!(
        moved(
            "flowgate_http_requests_total{route=\"/api/v1/tasks/{id}/progress\",method=\"PUT\",status=\"200\"}"
        ) >= 1.0
    );
    // No label holds a key, an id or a user.
    for secret in ["\"k\"", &task, "alice"] {
        assert!(!after.contains(secret), "{secret} in the metrics");
    }
    drop(stream);
}

#[tokio::test]
async fn metrics_on_their_own_address_are_open_there_and_gone_from_the_main_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FLOWGATE_METRICS_ADDR", "127.0.0.1:0")]).await;
    let url = server
        .started_output
        .lines()
        .find_map(|l| l.strip_prefix("flowgate metrics on "))
        .unwrap_or_else(|| panic!("no metrics address in: {}", server.started_output))
        .to_string();
    let open = reqwest::get(&url).await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    assert!(
        open.text()
            .await
            .unwrap()
            .contains("flowgate_decisions_total")
    );
    let c = server.client();
    let (_, token) = c.admin().await;
    assert_eq!(
        c.get("/metrics", Auth::Bearer(&token)).await.status,
        StatusCode::NOT_FOUND
    );
}
