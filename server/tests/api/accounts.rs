//! Signing in and out, sessions, tokens, passwords, accounts and the origin check.

use super::*;

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
