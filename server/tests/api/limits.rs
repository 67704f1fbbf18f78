//! The limits document and its versions, the decision service, keys and their namespaces, the overview.

use super::*;

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
