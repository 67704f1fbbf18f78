//! Across the API: health, methods, request ids, the API's own limits, the console page.

use super::*;

#[tokio::test]
async fn health_needs_no_auth_and_every_api_call_but_login_does() {
    let app = TestApp::new().await;
    let r = app.get("/healthz", Auth::None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "ok"));
    for path in [
        "/api/v1/auth/me",
        "/api/v1/limits",
        "/api/v1/retry/stats",
        "/api/v1/tokens",
    ] {
        assert_problem(&app.get(path, Auth::None).await, StatusCode::UNAUTHORIZED);
    }
    assert_problem(
        &app.post("/api/v1/limits/check", json!({"key": "k"}), Auth::None)
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.get("/api/v1/auth/me", Auth::Bearer("fg_not-a-token"))
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.get("/api/v1/auth/me", Auth::Cookie("not-a-session"))
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.get("/api/v1/nothing/here", Auth::None).await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn a_method_a_route_does_not_take_gets_a_405_problem_with_allow() {
    let app = TestApp::new().await;
    let token = app.token(&app.admin_cookie().await).await;
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/limits/history", "GET,HEAD"),
        (Method::PATCH, "/api/v1/limits", "GET,HEAD,PUT"),
        (Method::GET, "/api/v1/limits/check", "POST"),
        (Method::POST, "/healthz", "GET,HEAD"),
    ] {
        let r = app
            .call(method.clone(), path, None, Auth::Bearer(&token))
            .await;
        assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers[header::ALLOW], allow, "{method} {path}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_callers_own_is_kept() {
    let app = TestApp::new().await;
    let token = app.token(&app.admin_cookie().await).await;
    let mut ids = Vec::new();
    for (path, auth) in [
        ("/healthz", Auth::None),
        ("/api/v1/limits", Auth::Bearer(&token)),
        ("/api/v1/no-such-thing", Auth::Bearer(&token)),
        ("/console/page", Auth::None),
    ] {
        let r = app.get(path, auth).await;
        let id = r.headers.get("x-request-id");
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "{path}: {:?}",
            r.headers
        );
        ids.push(id.unwrap().clone());
    }
    let check = app
        .post(
            "/api/v1/limits/check",
            json!({"key": "k"}),
            Auth::Bearer(&token),
        )
        .await;
    ids.push(check.headers["x-request-id"].clone());
    ids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    ids.dedup();
    assert_eq!(ids.len(), 5, "request ids are unique: {ids:?}");

    let own = app
        .raw(
            Request::builder()
                .uri("/healthz")
                .header("x-request-id", "caller-chosen-7")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(own.headers["x-request-id"], "caller-chosen-7");
}

#[tokio::test]
async fn the_api_limits_its_own_callers_but_not_the_decision_service() {
    let app = TestApp::with(|c| {
        c.api_limits = RateLimitConfig {
            requests_per_minute: 60,
            max_burst: 3,
            ..RateLimitConfig::default()
        };
    })
    .await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    // The user's budget: 3 at once, of which making the token (with the user's cookie) spent 1.
    let codes: Vec<u16> = futures_util::future::join_all(
        (0..5).map(|_| app.get("/api/v1/auth/me", Auth::Bearer(&token))),
    )
    .await
    .iter()
    .map(|r| r.status.as_u16())
    .collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 2, "{codes:?}");
    let limited = app.get("/api/v1/auth/me", Auth::Bearer(&token)).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers[header::RETRY_AFTER], "1");
    // The decision service is not counted.
    for _ in 0..10 {
        assert_eq!(
            app.post(
                "/api/v1/limits/check",
                json!({"key": "x"}),
                Auth::Bearer(&token)
            )
            .await
            .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn the_console_page_says_how_to_build_it_when_missing() {
    let app = TestApp::new().await;
    let r = app.get("/", Auth::None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.text.contains("not built") && r.text.contains("trunk build"),
        "{}",
        r.text
    );
}
