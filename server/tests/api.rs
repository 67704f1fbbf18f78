//! The HTTP API driven through the router (no socket), on a real SQLite file.

mod common;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use common::{ADMIN_PASSWORD, Auth, HOST, ORIGIN, Reply, TestApp, assert_problem};
use flowgate_core::ratelimit::RateLimitConfig;
use serde_json::json;

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
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_it() {
    let app = TestApp::new().await;
    let r = app.try_login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert_eq!(
        (r.body["username"].as_str(), r.body["role"].as_str()),
        (Some("admin"), Some("admin"))
    );

    let session = app.admin_cookie().await;
    let me = app.get("/api/v1/auth/me", Auth::Cookie(&session)).await;
    assert_eq!(
        (me.body["username"].as_str(), me.body["via"].as_str()),
        (Some("admin"), Some("session"))
    );
    let out = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Auth::Cookie(&session),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_problem(
        &app.get("/api/v1/auth/me", Auth::Cookie(&session)).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_wrong_username_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::new().await;
    let wrong_password = app.try_login("admin", "nope").await;
    let wrong_user = app.try_login("nobody", "nope").await;
    assert_problem(&wrong_password, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.text, wrong_user.text);
    assert!(wrong_password.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_login_replaces_the_session_the_browser_held() {
    let app = TestApp::new().await;
    let old = app.admin_cookie().await;
    let again = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
            Auth::Cookie(&old),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let new = again.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(!new.contains(&old));
    assert_eq!(
        app.get("/api/v1/auth/me", Auth::Cookie(&old)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_new_token_is_kept_by_no_cache_and_a_session_secret_is_no_bearer_token() {
    let app = TestApp::new().await;
    let cookie = app.admin_cookie().await;
    let made = app
        .post(
            "/api/v1/tokens",
            json!({"name": "t"}),
            Auth::Cookie(&cookie),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.headers[header::CACHE_CONTROL], "no-store");
    // The session's secret, sent as a bearer token after the session was used (and cached).
    assert_eq!(
        app.get("/api/v1/auth/me", Auth::Cookie(&cookie))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Auth::Bearer(&cookie))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_client() {
    let app = TestApp::new().await;
    let mut codes = Vec::new();
    for _ in 0..7 {
        let r = app.try_login("admin", "guess").await;
        codes.push(r.status.as_u16());
        // No RateLimit fields on logins, allowed or not: they would tell a guesser its budget
        // (the draft's security considerations).
        for field in ["ratelimit", "ratelimit-policy"] {
            assert!(r.headers.get(field).is_none(), "{field} on a {}", r.status);
        }
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_problem(&r, StatusCode::TOO_MANY_REQUESTS);
            assert!(
                r.headers[header::RETRY_AFTER]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
        }
    }
    // The default login burst is 5.
    assert_eq!(codes, [401, 401, 401, 401, 401, 429, 429]);
}

#[tokio::test]
async fn admins_list_deactivate_and_promote_accounts_but_never_themselves() {
    let app = TestApp::with(|c| c.login_limits.max_burst = 100).await;
    let admin = app.admin_cookie().await;
    let bob = app.user(&admin, "bob").await;
    let bob_token = app.token(&bob).await;

    let list = app.get("/api/v1/users", Auth::Cookie(&admin)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let names: Vec<_> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_string(),
                u["role"].as_str().unwrap().to_string(),
                u["is_active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("admin".into(), "admin".into(), true),
            ("bob".into(), "user".into(), true)
        ]
    );
    let bob_id = list.body[1]["id"].as_i64().unwrap();
    let path = format!("/api/v1/users/{bob_id}");
    // Only admins.
    assert_problem(
        &app.get("/api/v1/users", Auth::Cookie(&bob)).await,
        StatusCode::FORBIDDEN,
    );
    let r = app
        .patch(&path, json!({"role": "admin"}), Auth::Cookie(&bob))
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN);

    // Deactivated: bob's session and token stop at once, and he cannot sign in.
    let r = app
        .patch(&path, json!({"is_active": false}), Auth::Cookie(&admin))
        .await;
    assert_eq!(
        (r.status, r.body["is_active"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{}",
        r.text
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Auth::Cookie(&bob)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Auth::Bearer(&bob_token))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let login = app.try_login("bob", "user-password").await;
    assert_problem(&login, StatusCode::UNAUTHORIZED);

    // Active again, and an admin: the token works, with the new role.
    let r = app
        .patch(
            &path,
            json!({"is_active": true, "role": "admin"}),
            Auth::Cookie(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.get("/api/v1/auth/me", Auth::Bearer(&bob_token)).await;
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (StatusCode::OK, Some("admin"))
    );

    // Nobody demotes or deactivates themselves; a bad change or id is refused.
    let admin_id = list.body[0]["id"].as_i64().unwrap();
    for change in [json!({"is_active": false}), json!({"role": "user"})] {
        let r = app
            .patch(
                &format!("/api/v1/users/{admin_id}"),
                change,
                Auth::Cookie(&admin),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT);
    }
    assert_eq!(
        app.get("/api/v1/auth/me", Auth::Cookie(&admin)).await.body["role"],
        "admin"
    );
    let r = app
        .patch(&path, json!({"role": "owner"}), Auth::Cookie(&admin))
        .await;
    assert_eq!(
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
        ["/role"]
    );
    let r = app
        .patch(
            "/api/v1/users/999",
            json!({"is_active": true}),
            Auth::Cookie(&admin),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_user_changes_their_password_and_their_other_sessions_end() {
    let app = TestApp::with(|c| c.login_limits.max_burst = 100).await;
    let here = app.admin_cookie().await;
    let elsewhere = app.admin_cookie().await;
    let token = app.token(&here).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let path = "/api/v1/auth/password";

    // A wrong current password, or a short new one, is refused at its field; nothing changes.
    let r = app
        .post(
            path,
            change("not-the-password", "a-new-password"),
            Auth::Cookie(&here),
        )
        .await;
    assert_eq!(
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
        ["/current_password"]
    );
    let r = app
        .post(path, change(ADMIN_PASSWORD, "short"), Auth::Cookie(&here))
        .await;
    assert_eq!(
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
        ["/new_password"]
    );
    // Like every change made with a cookie, it must come from the console's origin.
    let r = app
        .post(
            path,
            change(ADMIN_PASSWORD, "a-new-password"),
            Auth::CookieNoOrigin(&here),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN);
    let me = app.get("/api/v1/auth/me", Auth::Cookie(&elsewhere)).await;
    assert_eq!(me.status, StatusCode::OK);

    let r = app
        .post(
            path,
            change(ADMIN_PASSWORD, "a-new-password"),
            Auth::Cookie(&here),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // The session that made the change stays, the other one ends, the token still works.
    for (auth, expected) in [
        (Auth::Cookie(&here), StatusCode::OK),
        (Auth::Cookie(&elsewhere), StatusCode::UNAUTHORIZED),
        (Auth::Bearer(&token), StatusCode::OK),
    ] {
        assert_eq!(app.get("/api/v1/auth/me", auth).await.status, expected);
    }
    // The old password no longer signs in; the new one does.
    let r = app.try_login("admin", ADMIN_PASSWORD).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED);
    app.login("admin", "a-new-password").await;
}

#[tokio::test]
async fn password_attempts_count_against_the_login_limit() {
    let app = TestApp::new().await;
    let cookie = app.admin_cookie().await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let r = app
            .post(
                "/api/v1/auth/password",
                json!({"current_password": "a-guess", "new_password": "a-new-password"}),
                Auth::Cookie(&cookie),
            )
            .await;
        codes.push(r.status.as_u16());
    }
    // The login burst is 5, and the login above took one.
    assert_eq!(codes, [422, 422, 422, 422, 429]);
}

#[tokio::test]
async fn cookie_changes_need_the_servers_own_origin_and_bearer_tokens_do_not() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let limits = json!({"requests_per_minute": 30});
    assert_problem(
        &app.put(
            "/api/v1/limits",
            limits.clone(),
            Auth::CookieNoOrigin(&admin),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    let forged = Request::builder()
        .method(Method::PUT)
        .uri("/api/v1/limits")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(limits.to_string()))
        .unwrap();
    assert_problem(&app.raw(forged).await, StatusCode::FORBIDDEN);
    let with_referer = Request::builder()
        .method(Method::PUT)
        .uri("/api/v1/limits")
        .header(header::HOST, HOST)
        .header(header::REFERER, format!("{ORIGIN}/limits"))
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(limits.to_string()))
        .unwrap();
    assert_eq!(app.raw(with_referer).await.status, StatusCode::OK);
    // Reads need no origin.
    assert_eq!(
        app.get("/api/v1/limits", Auth::CookieNoOrigin(&admin))
            .await
            .status,
        StatusCode::OK
    );
    let token = app.token(&admin).await;
    assert_eq!(
        app.put("/api/v1/limits", limits, Auth::Bearer(&token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_are_shown_once_carry_their_users_role_and_can_be_revoked() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let alice = app.user(&admin, "alice").await;
    let created = app
        .post(
            "/api/v1/tokens",
            json!({"name": "caption worker"}),
            Auth::Cookie(&alice),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let token = created.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("fg_") && token.len() == 46);
    let listed = app.get("/api/v1/tokens", Auth::Cookie(&alice)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(
        !listed.text.contains(&token),
        "a listed token leaks its value"
    );
    let me = app.get("/api/v1/auth/me", Auth::Bearer(&token)).await;
    assert_eq!(
        (
            me.body["username"].as_str(),
            me.body["role"].as_str(),
            me.body["via"].as_str()
        ),
        (Some("alice"), Some("user"), Some("token"))
    );
    // A user's token cannot do admin things.
    assert_problem(
        &app.put("/api/v1/limits", json!({}), Auth::Bearer(&token))
            .await,
        StatusCode::FORBIDDEN,
    );
    // A bearer token wins over a cookie sent beside it.
    let both = Request::builder()
        .uri("/api/v1/auth/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.raw(both).await.body["username"], "alice");
    // Someone else cannot revoke it; its owner can, and it stops working at once.
    let id = created.body["id"].as_i64().unwrap();
    let path = format!("/api/v1/tokens/{id}");
    assert_problem(
        &app.call(Method::DELETE, &path, None, Auth::Cookie(&admin))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(
        app.call(Method::DELETE, &path, None, Auth::Cookie(&alice))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &app.get("/api/v1/auth/me", Auth::Bearer(&token)).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.call(
            Method::DELETE,
            "/api/v1/tokens/abc",
            None,
            Auth::Cookie(&alice),
        )
        .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn only_admins_create_users_and_bad_accounts_are_refused() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let bob = app.user(&admin, "bob").await;
    let new = json!({"username": "carol", "password": "long-enough", "role": "user"});
    assert_problem(
        &app.post("/api/v1/users", new.clone(), Auth::Cookie(&bob))
            .await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        app.post("/api/v1/users", new.clone(), Auth::Cookie(&admin))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_problem(
        &app.post("/api/v1/users", new, Auth::Cookie(&admin)).await,
        StatusCode::CONFLICT,
    );
    for (body, pointer) in [
        (
            json!({"username": "dave", "password": "short", "role": "user"}),
            "/password",
        ),
        (
            json!({"username": "dave", "password": "long-enough", "role": "root"}),
            "/role",
        ),
        (
            json!({"username": "", "password": "long-enough", "role": "user"}),
            "/username",
        ),
        (
            json!({"username": "da ve", "password": "long-enough", "role": "user"}),
            "/username",
        ),
        (
            json!({"username": "dave", "password": "long-enough", "role": "user", "extra": 1}),
            "/extra",
        ),
    ] {
        let r = app.post("/api/v1/users", body, Auth::Cookie(&admin)).await;
        assert_eq!(
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
            [pointer]
        );
    }
}

#[tokio::test]
async fn the_limits_document_round_trips_with_versions_and_history() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let first = app.get("/api/v1/limits", Auth::Cookie(&admin)).await;
    assert_eq!(first.headers[header::ETAG], "\"1\"");
    assert_eq!(
        serde_json::from_value::<RateLimitConfig>(first.body.clone()).unwrap(),
        RateLimitConfig::default()
    );

    let doc = json!({
        "requests_per_minute": 30, "requests_per_hour": 500, "requests_per_day": 10000, "max_burst": 10,
        "endpoint_limits": {"media": {"minute": 10, "hour": 100}},
        "platform_limits": {"mastodon": {"minute": 300}},
        "platform_endpoint_limits": {"pixelfed": {"media": {"minute": 5, "burst": 2}}}
    });
    let put = app
        .put("/api/v1/limits", doc.clone(), Auth::Cookie(&admin))
        .await;
    assert_eq!(
        (put.status, put.headers[header::ETAG].to_str().unwrap()),
        (StatusCode::OK, "\"2\"")
    );
    let again = app.get("/api/v1/limits", Auth::Cookie(&admin)).await;
    assert_eq!(again.body, doc);

    // A stale If-Match is refused; the current one is accepted.
    let stale = Request::builder()
        .method(Method::PUT)
        .uri("/api/v1/limits")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .header(header::IF_MATCH, "\"1\"")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"requests_per_minute": 5}).to_string()))
        .unwrap();
    assert_problem(&app.raw(stale).await, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.get("/api/v1/limits", Auth::Cookie(&admin)).await.body,
        doc
    );

    let history = app
        .get("/api/v1/limits/history", Auth::Cookie(&admin))
        .await;
    let versions: Vec<(i64, &str)> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["version"].as_i64().unwrap(),
                h["changed_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(2, "admin"), (1, "environment")]);
}

/// GET of a versioned document with `If-None-Match`, as a bearer client.
async fn get_if_none_match(app: &TestApp, path: &str, token: &str, tags: &[u8]) -> Reply {
    let request = Request::builder()
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            header::IF_NONE_MATCH,
            HeaderValue::from_bytes(tags).unwrap(),
        )
        .body(Body::empty())
        .unwrap();
    app.raw(request).await
}

#[tokio::test]
async fn a_client_holding_the_current_version_is_told_it_is_unchanged() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    // The limits are stored at the first start (version 1); the retry policy is a default
    // never stored (version 0).
    for (path, version) in [("/api/v1/limits", 1), ("/api/v1/retry/config", 0)] {
        let tag = format!("\"{version}\"");
        let matching = [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"7\", {tag}"),
            "*".to_string(),
        ];
        for tags in matching {
            let r = get_if_none_match(&app, path, &token, tags.as_bytes()).await;
            assert_eq!(
                (
                    r.status,
                    r.headers[header::ETAG].to_str().unwrap(),
                    r.text.as_str()
                ),
                (StatusCode::NOT_MODIFIED, tag.as_str(), ""),
                "{path} with If-None-Match {tags}"
            );
            assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
        }
        // Another version, or a header that is not text, gets the document.
        let other = format!("\"{}\"", version + 1);
        let unreadable = [&b"\xff"[..], tag.as_bytes()].concat();
        for tags in [other.as_bytes(), b"\"1", b"\"", &unreadable] {
            let r = get_if_none_match(&app, path, &token, tags).await;
            let shown = String::from_utf8_lossy(tags);
            assert_eq!(
                (r.status, r.headers[header::ETAG].to_str().unwrap()),
                (StatusCode::OK, tag.as_str()),
                "{path}: {shown}"
            );
            assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
            assert_eq!(r.body, app.get(path, Auth::Bearer(&token)).await.body);
        }
    }

    // After a change, the old version's holder gets the new document and its tag.
    let doc = json!({"requests_per_minute": 12, "max_burst": 3});
    app.put("/api/v1/limits", doc, Auth::Cookie(&admin)).await;
    let r = get_if_none_match(&app, "/api/v1/limits", &token, b"\"1\"").await;
    assert_eq!(
        (r.status, r.headers[header::ETAG].to_str().unwrap()),
        (StatusCode::OK, "\"2\"")
    );
    assert_eq!(r.body["requests_per_minute"], 12);

    // The condition is no way around authentication.
    let anonymous = Request::builder()
        .uri("/api/v1/limits")
        .header(header::HOST, HOST)
        .header(header::IF_NONE_MATCH, "\"2\"")
        .body(Body::empty())
        .unwrap();
    assert_problem(&app.raw(anonymous).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_bad_limits_document_is_refused_with_pointers_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    for (body, pointers) in [
        (
            json!({"requests_per_minute": 0}),
            vec!["/requests_per_minute"],
        ),
        (
            json!({"requests_per_minute": -5}),
            vec!["/requests_per_minute"],
        ),
        (
            json!({"requests_per_minute": "sixty"}),
            vec!["/requests_per_minute"],
        ),
        (
            json!({"max_burst": 0, "endpoint_limits": {"media": {"minute": 0}}}),
            vec!["/max_burst", "/endpoint_limits/media/minute"],
        ),
        (
            json!({"endpoint_limits": {"media": {"minute": 5, "weekly": 9}}}),
            vec!["/endpoint_limits/media/weekly"],
        ),
        (
            json!({"endpoint_limits": {"media": {}}}),
            vec!["/endpoint_limits/media"],
        ),
        (
            json!({"platform_limits": {"mastodon": {"burst": 3}}}),
            vec!["/platform_limits/mastodon"],
        ),
        (json!({"unknown": 1}), vec!["/unknown"]),
        (json!([1, 2]), vec![""]),
    ] {
        let r = app
            .put("/api/v1/limits", body.clone(), Auth::Cookie(&admin))
            .await;
        assert_eq!(
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
            pointers,
            "{body}"
        );
    }
    // One field's error names it first; the whole document's (an empty pointer) is just said.
    let r = app
        .put(
            "/api/v1/limits",
            json!({"max_burst": 0}),
            Auth::Cookie(&admin),
        )
        .await;
    assert_eq!(r.body["detail"], "/max_burst: must be a positive integer");
    let r = app
        .put("/api/v1/limits", json!([1, 2]), Auth::Cookie(&admin))
        .await;
    assert_eq!(r.body["detail"], "must be a JSON object");
    for raw in ["{", "", "not json", "{\"requests_per_minute\": 1,}"] {
        let r = app
            .raw(
                Request::builder()
                    .method(Method::PUT)
                    .uri("/api/v1/limits")
                    .header(header::HOST, HOST)
                    .header(header::ORIGIN, ORIGIN)
                    .header(header::COOKIE, format!("flowgate_session={admin}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(raw))
                    .unwrap(),
            )
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST);
    }
    let text = Request::builder()
        .method(Method::PUT)
        .uri("/api/v1/limits")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    assert_problem(&app.raw(text).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"endpoint_limits": (0..5000).map(|i| (format!("endpoint-{i}"), json!({"minute": 1}))).collect::<serde_json::Map<_, _>>()});
    assert_problem(
        &app.put("/api/v1/limits", huge, Auth::Cookie(&admin)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );

    let r = app.get("/api/v1/limits", Auth::Cookie(&admin)).await;
    assert_eq!(r.headers[header::ETAG], "\"1\"");
    assert_eq!(
        serde_json::from_value::<RateLimitConfig>(r.body).unwrap(),
        RateLimitConfig::default()
    );
}

#[tokio::test]
async fn a_burst_of_checks_is_denied_exactly_after_the_burst() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    let doc = json!({"requests_per_minute": 60, "max_burst": 3,
                     "platform_endpoint_limits": {"pixelfed": {"media": {"minute": 5, "burst": 2}}}});
    assert_eq!(
        app.put("/api/v1/limits", doc, Auth::Bearer(&token))
            .await
            .status,
        StatusCode::OK
    );

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = app
            .post(
                "/api/v1/limits/check",
                json!({"key": "bot-1"}),
                Auth::Bearer(&token),
            )
            .await;
        assert_eq!(
            (r.status, r.body["allowed"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{}",
            r.text
        );
        assert!(r.headers.get(header::RETRY_AFTER).is_none());
        remaining.push(r.body["remaining"].as_u64().unwrap());
    }
    assert_eq!(remaining, [2, 1, 0]);
    let denied = app
        .post(
            "/api/v1/limits/check",
            json!({"key": "bot-1"}),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(denied.status, StatusCode::OK);
    assert_eq!(denied.body["allowed"], false);
    assert_eq!(
        (
            denied.body["scope"].as_str(),
            denied.body["window"].as_str()
        ),
        (Some("global"), Some("minute"))
    );
    let retry_after = denied.body["retry_after"].as_f64().unwrap();
    assert!(retry_after > 0.9 && retry_after <= 1.0, "{retry_after}");
    assert_eq!(denied.headers[header::RETRY_AFTER], "1");
    // `t` is until the next token (the draft's meaning): Retry-After for a cost of 1.
    assert_eq!(denied.headers["ratelimit"], "\"global-minute\";r=0;t=1");
    assert_eq!(
        denied.headers["ratelimit-policy"],
        "\"global-minute\";q=60;w=60, \"global-hour\";q=1000;w=3600, \"global-day\";q=10000;w=86400"
    );
    // Another key has its own buckets; a platform × endpoint scope adds its bucket.
    let pe = app
        .post(
            "/api/v1/limits/check",
            json!({"key": "bot-2", "endpoint": "media", "platform": "pixelfed"}),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(pe.body["buckets"].as_array().unwrap().len(), 4);
    assert_eq!(
        (pe.body["scope"].as_str(), pe.body["remaining"].as_u64()),
        (Some("platform_endpoint"), Some(1))
    );
    assert!(
        pe.headers["ratelimit-policy"]
            .to_str()
            .unwrap()
            .ends_with("\"platform_endpoint-minute\";q=5;w=60")
    );

    // A key written with JSON escapes is the key they spell.
    for expected in [2, 1] {
        let r = app
            .post(
                "/api/v1/limits/check",
                json!({"key": "quo\"te\u{e9}"}),
                Auth::Bearer(&token),
            )
            .await;
        assert_eq!(r.body["remaining"], expected, "{}", r.text);
    }
    let escaped = app
        .get("/api/v1/limits/keys/quo%22te%C3%A9", Auth::Bearer(&token))
        .await;
    assert_eq!(
        escaped.body["buckets"][0]["remaining"], 1,
        "{}",
        escaped.text
    );

    // The key's state; a reset (admin) makes it new again.
    let state = app
        .get("/api/v1/limits/keys/bot-1", Auth::Bearer(&token))
        .await;
    assert_eq!(state.body["buckets"][0]["remaining"], 0);
    assert!(state.body["wait_time"].as_f64().unwrap() > 0.0);
    assert!(state.body["now"].as_f64().is_some());
    let alice = app.user(&admin, "alice").await;
    assert_problem(
        &app.call(
            Method::DELETE,
            "/api/v1/limits/keys/bot-1",
            None,
            Auth::Cookie(&alice),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    let reset = app
        .call(
            Method::DELETE,
            "/api/v1/limits/keys/bot-1",
            None,
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let after = app
        .post(
            "/api/v1/limits/check",
            json!({"key": "bot-1"}),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(
        (
            after.body["allowed"].as_bool(),
            after.body["remaining"].as_u64()
        ),
        (Some(true), Some(2))
    );
}

#[tokio::test]
async fn bad_check_requests_are_422_with_pointers() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let token = app.token(&admin).await;
    for (body, pointer) in [
        (json!({"key": "k", "cost": 0}), "/cost"),
        (json!({"key": "k", "cost": 11}), "/cost"),
        (json!({"key": "k", "cost": -1}), "/cost"),
        (json!({"key": ""}), "/key"),
        (json!({"key": "x".repeat(300)}), "/key"),
        (json!({"key": "k", "endpoint": ""}), "/endpoint"),
        (json!({"key": "k", "platform": 5}), "/platform"),
        (json!({"cost": 1}), ""),
        (json!({"key": "k", "extra": true}), "/extra"),
    ] {
        let r = app
            .post("/api/v1/limits/check", body.clone(), Auth::Bearer(&token))
            .await;
        assert_eq!(
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
            [pointer],
            "{body}"
        );
    }
    assert_problem(
        &app.get("/api/v1/limits/keys/k?cost=zero", Auth::Bearer(&token))
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_problem(
        &app.get("/api/v1/limits/keys/k?cost=0", Auth::Bearer(&token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
}

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
async fn limits_survive_a_restart_and_the_environment_seeds_only_an_empty_database() {
    let app = TestApp::with(|c| c.initial_limits.requests_per_minute = 42).await;
    let admin = app.admin_cookie().await;
    assert_eq!(
        app.get("/api/v1/limits", Auth::Cookie(&admin)).await.body["requests_per_minute"],
        42
    );
    app.put(
        "/api/v1/limits",
        json!({"requests_per_minute": 7, "max_burst": 7}),
        Auth::Cookie(&admin),
    )
    .await;
    let app = app.restart().await;
    let admin = app.admin_cookie().await;
    let r = app.get("/api/v1/limits", Auth::Cookie(&admin)).await;
    assert_eq!(
        (
            r.body["requests_per_minute"].as_u64(),
            r.headers[header::ETAG].to_str().unwrap()
        ),
        (Some(7), "\"2\"")
    );
    // And the limiter uses them: seven pass, the eighth waits.
    let token = app.token(&admin).await;
    let allowed: Vec<bool> = futures_util::future::join_all((0..8).map(|_| {
        app.post(
            "/api/v1/limits/check",
            json!({"key": "k"}),
            Auth::Bearer(&token),
        )
    }))
    .await
    .iter()
    .map(|r| r.body["allowed"].as_bool().unwrap())
    .collect();
    assert_eq!(allowed.iter().filter(|a| **a).count(), 7);
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

/// Under `FLOWGATE_KEY_NAMESPACE=user` each user's keys are their own: the same key named by
/// two users is two sets of buckets; a user reads and resets only their own, and an admin
/// reaches another's with `?user=`. Under `global` (the default) `?user=` is refused.
#[tokio::test]
async fn keys_are_each_users_own_when_the_namespace_is_user() {
    let app =
        TestApp::with(|c| c.key_namespace = flowgate_server::config::KeyNamespace::User).await;
    let admin = app.admin_cookie().await;
    burst_of_two(&app, &admin).await;
    let alice = app.user(&admin, "alice").await;
    let bob = app.user(&admin, "bob").await;
    let alice_id = app.get("/api/v1/auth/me", Auth::Cookie(&alice)).await.body["id"].clone();
    let check = |who: &str| {
        let who = who.to_string();
        let app = &app;
        async move {
            app.post(
                "/api/v1/limits/check",
                json!({"key": "k"}),
                Auth::Cookie(&who),
            )
            .await
            .body["allowed"]
                .clone()
        }
    };
    let spent: Vec<serde_json::Value> = vec![
        check(&alice).await,
        check(&alice).await,
        check(&alice).await,
    ];
    assert_eq!(spent, [true, true, false]);
    assert_eq!(check(&bob).await, true, "bob's k is not alice's");

    let remaining = |r: &common::Reply| r.body["buckets"][0]["remaining"].clone();
    let bobs = app.get("/api/v1/limits/keys/k", Auth::Cookie(&bob)).await;
    assert_eq!(
        (remaining(&bobs), bobs.body["key"].clone()),
        (json!(1), json!("k"))
    );
    let as_alice = format!("/api/v1/limits/keys/k?user={alice_id}");
    assert_problem(
        &app.get(&as_alice, Auth::Cookie(&bob)).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        remaining(&app.get(&as_alice, Auth::Cookie(&admin)).await),
        0
    );

    // Bob resets his own k, which leaves alice's as it was; she resets hers herself.
    let delete = |path: String, who: String| {
        let app = &app;
        async move {
            app.call(Method::DELETE, &path, None, Auth::Cookie(&who))
                .await
                .status
        }
    };
    assert_eq!(
        delete("/api/v1/limits/keys/k".into(), bob.clone()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(check(&alice).await, false);
    assert_eq!(
        delete(as_alice.clone(), bob.clone()).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete("/api/v1/limits/keys/k".into(), alice.clone()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(check(&alice).await, true);
    assert_eq!(
        delete(as_alice, admin.clone()).await,
        StatusCode::NO_CONTENT
    );

    let shared = TestApp::new().await;
    let admin = shared.admin_cookie().await;
    assert_problem(
        &shared
            .get("/api/v1/limits/keys/k?user=1", Auth::Cookie(&admin))
            .await,
        StatusCode::BAD_REQUEST,
    );
}

/// The console's overview: decisions allowed and denied, denials by the binding bucket's scope
/// and window, the keys denied most, open tasks; to admins only.
#[tokio::test]
async fn the_overview_counts_decisions_and_names_the_keys_denied_most() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    burst_of_two(&app, &admin).await;
    for (key, times) in [("noisy", 6), ("quiet", 3), ("fine", 1)] {
        for _ in 0..times {
            app.post(
                "/api/v1/limits/check",
                json!({"key": key}),
                Auth::Cookie(&admin),
            )
            .await;
        }
    }
    assert_eq!(
        app.post("/api/v1/tasks", json!({}), Auth::Cookie(&admin))
            .await
            .status,
        StatusCode::CREATED
    );
    let o = app.get("/api/v1/overview", Auth::Cookie(&admin)).await;
    assert_eq!(o.status, StatusCode::OK, "{}", o.text);
    assert_eq!(
        (o.body["allowed"].as_u64(), o.body["denied"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(
        o.body["denials"],
        json!([{"scope": "global", "window": "minute", "count": 5}])
    );
    assert_eq!(
        o.body["top_denied_keys"],
        json!([{"key": "noisy", "denials": 4}, {"key": "quiet", "denials": 1}])
    );
    assert_eq!(o.body["open_tasks"], 1);
    assert_eq!(o.body["live_keys"], 3);
    assert!(o.body["uptime"].as_f64().is_some());
    let alice = app.user(&admin, "alice").await;
    assert_problem(
        &app.get("/api/v1/overview", Auth::Cookie(&alice)).await,
        StatusCode::FORBIDDEN,
    );
}

/// Limits whose global burst is 2 (the third request at once is denied), set by `admin`.
async fn burst_of_two(app: &TestApp, admin: &str) {
    let limits = json!({"requests_per_minute": 60, "requests_per_hour": 1000,
                        "requests_per_day": 10000, "max_burst": 2});
    let r = app.put("/api/v1/limits", limits, Auth::Cookie(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
