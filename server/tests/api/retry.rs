//! The retry policy and the statistics of reported retries.

use super::*;

#[tokio::test]
async fn the_retry_policy_and_statistics() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    let policy = app.get("/api/v1/retry/config", Auth::Bearer(&token)).await;
    assert_eq!(
        (
            policy.body["max_attempts"].as_u64(),
            policy.body["base_delay"].as_f64()
        ),
        (Some(3), Some(1.0))
    );

    let new = json!({"max_attempts": 5, "base_delay": 0.5, "retry_status_codes": [429, 503]});
    let put = app
        .put("/api/v1/retry/config", new, Auth::Bearer(&token))
        .await;
    assert_eq!(
        (put.status, put.headers[header::ETAG].to_str().unwrap()),
        (StatusCode::OK, "\"1\"")
    );
    assert_eq!(put.body["retry_status_codes"], json!([429, 503]));
    let bad = app
        .put(
            "/api/v1/retry/config",
            json!({"max_attempts": 0, "jitter_factor": 2, "max_delay": -1}),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(
        assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY),
        ["/max_attempts", "/max_delay", "/jitter_factor"]
    );
    assert_eq!(
        app.get("/api/v1/retry/config", Auth::Bearer(&token))
            .await
            .body["max_attempts"],
        5
    );

    let ok = json!({"operation": "caption", "attempts": 2, "outcome": "success", "delays": [0.5],
                    "failures": [{"kind": "status", "status": 503}]});
    let r = app
        .post("/api/v1/retry/report", ok, Auth::Bearer(&token))
        .await;
    assert_eq!(
        (r.status, r.body["stats"]["calls"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let exhausted = json!({"operation": "post", "attempts": 2, "outcome": "exhausted", "delays": [1.0],
                           "failures": [{"kind": "timeout"}, {"kind": "other", "message": "boom"}]});
    assert_eq!(
        app.post("/api/v1/retry/report", exhausted, Auth::Bearer(&token))
            .await
            .status,
        StatusCode::OK
    );
    let bad_report = json!({"operation": "x", "attempts": 2, "outcome": "success", "delays": [], "failures": []});
    assert_eq!(
        assert_problem(
            &app.post("/api/v1/retry/report", bad_report, Auth::Bearer(&token))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY
        ),
        ["/delays", "/failures"]
    );
    let unknown_outcome = json!({"operation": "x", "attempts": 1, "outcome": "maybe"});
    assert_eq!(
        assert_problem(
            &app.post(
                "/api/v1/retry/report",
                unknown_outcome,
                Auth::Bearer(&token)
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY
        ),
        ["/outcome"]
    );

    let summary = app.get("/api/v1/retry/stats", Auth::Bearer(&token)).await;
    assert_eq!(
        (
            summary.body["operations"].as_u64(),
            summary.body["calls"].as_u64(),
            summary.body["retries"].as_u64()
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(
        (
            summary.body["successes"].as_u64(),
            summary.body["exhausted"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(summary.body["by_status"]["503"], 1);
    assert_eq!(summary.body["by_kind"]["timeout"], 1);
    let detailed = app
        .get("/api/v1/retry/stats?detailed=true", Auth::Bearer(&token))
        .await;
    assert_eq!(detailed.body["operations"]["caption"]["max_delay"], 0.5);
    assert_eq!(detailed.body["summary"]["calls"], 2);
    assert_problem(
        &app.get("/api/v1/retry/stats?detailed=perhaps", Auth::Bearer(&token))
            .await,
        StatusCode::BAD_REQUEST,
    );

    // Statistics and policy survive a restart.
    let app = app.restart().await;
    let admin = app.admin_cookie().await;
    assert_eq!(
        app.get("/api/v1/retry/stats", Auth::Cookie(&admin))
            .await
            .body["calls"],
        2
    );
    assert_eq!(
        app.get("/api/v1/retry/config", Auth::Cookie(&admin))
            .await
            .body["max_attempts"],
        5
    );
}

#[tokio::test]
async fn retry_statistics_keep_the_operations_reported_most_recently() {
    let app = TestApp::with(|c| c.max_operations = 2).await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    let report = |operation: &str| json!({"operation": operation, "attempts": 1, "outcome": "success", "delays": [], "failures": []});
    for operation in ["caption", "upload", "caption", "fetch"] {
        let r = app
            .post(
                "/api/v1/retry/report",
                report(operation),
                Auth::Bearer(&token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let stats = app
        .get("/api/v1/retry/stats?detailed=true", Auth::Bearer(&token))
        .await;
    let mut kept: Vec<&str> = stats.body["operations"]
        .as_object()
        .unwrap_or_else(|| panic!("{}", stats.text))
        .keys()
        .map(String::as_str)
        .collect();
    kept.sort_unstable();
    // Two at most: `upload`, reported least recently, made room for `fetch`; `caption` kept
    // both its calls.
    assert_eq!(kept, ["caption", "fetch"]);
    assert_eq!(stats.body["operations"]["caption"]["calls"], 2);
}

/// Transactions that read before they write take the write lock first (SQLite's `BEGIN
/// IMMEDIATE`): reports arriving together wait their turn instead of failing as busy, and every
/// one is counted.
#[tokio::test]
async fn concurrent_retry_reports_are_all_counted() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    let reports = (0..64).map(|i| {
        let operation = format!("op{}", i % 8);
        let app = &app;
        let token = &token;
        async move {
            let body = json!({"operation": operation, "attempts": 1, "outcome": "success",
                              "delays": [], "failures": []});
            app.post("/api/v1/retry/report", body, Auth::Bearer(token))
                .await
        }
    });
    for r in futures_util::future::join_all(reports).await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let stats = app
        .get("/api/v1/retry/stats?detailed=true", Auth::Bearer(&token))
        .await;
    for i in 0..8 {
        assert_eq!(
            stats.body["operations"][format!("op{i}")]["calls"],
            8,
            "{}",
            stats.text
        );
    }
}
