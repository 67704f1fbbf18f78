//! Tasks, platform connections, context and posts through the router, on a real SQLite file.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Auth, HOST, ORIGIN, TestApp, assert_problem};
use serde_json::{Value, json};

async fn connection(app: &TestApp, cookie: &str, body: Value) -> common::Reply {
    app.post("/api/v1/platforms", body, Auth::Cookie(cookie))
        .await
}

fn mastodon(name: &str, url: &str) -> Value {
    json!({"name": name, "platform_type": "mastodon", "instance_url": url, "username": "me", "access_token": "tok"})
}

#[tokio::test]
async fn tasks_are_created_listed_newest_first_and_updated_with_validation() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let a = Auth::Cookie(&admin);
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = app
            .post("/api/v1/tasks", json!({"settings": {"batch": i}}), a)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert!(uuid_like(r.body["task_id"].as_str().unwrap()));
        ids.push(r.body["task_id"].as_str().unwrap().to_string());
    }
    let page = app.get("/api/v1/tasks?limit=2", a).await;
    assert_eq!(page.body["total"], 3);
    let listed: Vec<&str> = page.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    let rest = app.get("/api/v1/tasks?limit=2&offset=2", a).await;
    assert_eq!(rest.body["tasks"][0]["task_id"], ids[0].as_str());

    let path = format!("/api/v1/tasks/{}/progress", ids[0]);
    for (body, pointer) in [
        (
            json!({"current_step": "x", "progress_percent": 101}),
            "/progress_percent",
        ),
        (
            json!({"current_step": "x", "progress_percent": -1}),
            "/progress_percent",
        ),
        (
            json!({"current_step": "x", "progress_percent": 5, "status": "paused"}),
            "/status",
        ),
        (
            json!({"current_step": "x", "progress_percent": 5, "details": [1]}),
            "/details",
        ),
        (json!({"current_step": "x"}), ""),
        (
            json!({"current_step": "x", "progress_percent": 5, "extra": 1}),
            "/extra",
        ),
    ] {
        let r = app.put(&path, body.clone(), a).await;
        assert_eq!(
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
            [pointer],
            "{body}"
        );
    }
    let raw = Request::builder()
        .method(Method::PUT)
        .uri(&path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"current_step\": "))
        .unwrap();
    assert_problem(&app.raw(raw).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get(&path, a).await.body["seq"],
        0,
        "invalid updates change nothing"
    );

    let ok = app
        .put(
            &path,
            json!({"current_step": "captioning", "progress_percent": 40, "details": {"images": 4}}),
            a,
        )
        .await;
    assert_eq!(
        (ok.body["seq"].as_u64(), ok.body["status"].as_str()),
        (Some(1), Some("running"))
    );
    assert!(ok.body["started_at"].as_str().unwrap().ends_with('Z'));
    let back = app
        .put(
            &path,
            json!({"current_step": "x", "progress_percent": 40, "status": "queued"}),
            a,
        )
        .await;
    assert_problem(&back, StatusCode::CONFLICT);
    app.put(
        &path,
        json!({"current_step": "stop", "progress_percent": 40, "status": "cancelled"}),
        a,
    )
    .await;
    assert_problem(
        &app.put(
            &path,
            json!({"current_step": "x", "progress_percent": 50}),
            a,
        )
        .await,
        StatusCode::CONFLICT,
    );
    assert_problem(
        &app.get("/api/v1/tasks/not-a-task/progress", a).await,
        StatusCode::NOT_FOUND,
    );
    assert_problem(
        &app.get("/api/v1/tasks?limit=lots", a).await,
        StatusCode::BAD_REQUEST,
    );
    // A finished task nobody watches holds no memory.
    assert_eq!(app.state.live.slots(), 0);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|&c| c == '-').count() == 4
}

#[tokio::test]
async fn connections_validate_keep_one_default_and_never_show_their_token() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let a = Auth::Cookie(&admin);
    let first = connection(&app, &admin, mastodon("one", "https://Mastodon.Social/")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(
        (
            first.body["instance_url"].as_str(),
            first.body["is_default"].as_bool()
        ),
        (Some("https://mastodon.social"), Some(true))
    );
    assert!(first.body.get("access_token").is_none() && !first.text.contains("\"tok\""));
    let second = connection(
        &app,
        &admin,
        json!({"name": "two", "platform_type": "pixelfed", "instance_url": "http://127.0.0.1:9999",
        "username": "me", "access_token": "tok2", "is_default": true}),
    )
    .await;
    assert_eq!(second.body["is_default"], true);
    let list = app.get("/api/v1/platforms", a).await;
    let defaults: Vec<bool> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["is_default"].as_bool().unwrap())
        .collect();
    assert_eq!(defaults, [false, true]);
    assert_problem(
        &connection(&app, &admin, mastodon("one", "https://x.social")).await,
        StatusCode::CONFLICT,
    );
    for (body, pointer) in [
        (mastodon("bad", "http://mastodon.social"), "/instance_url"),
        (mastodon("bad", "mastodon.social"), "/instance_url"),
        (mastodon("bad", "https://x.social/path"), "/instance_url"),
        (
            json!({"name": "bad", "platform_type": "friendica", "instance_url": "https://x.y", "username": "u", "access_token": "t"}),
            "/platform_type",
        ),
        (
            json!({"name": "", "platform_type": "mastodon", "instance_url": "https://x.y", "username": "u", "access_token": "t"}),
            "/name",
        ),
        (
            json!({"name": "n", "platform_type": "mastodon", "instance_url": "https://x.y", "username": "u", "access_token": ""}),
            "/access_token",
        ),
        (
            json!({"name": "n", "platform_type": "mastodon", "instance_url": "https://x.y", "username": "u"}),
            "",
        ),
    ] {
        let r = connection(&app, &admin, body.clone()).await;
        assert_eq!(
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY),
            [pointer],
            "{body}"
        );
    }
    let id = first.body["id"].as_i64().unwrap();
    let patch = Request::builder()
        .method(Method::PATCH)
        .uri(format!("/api/v1/platforms/{id}"))
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, format!("flowgate_session={admin}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"is_default": true, "is_active": false}).to_string(),
        ))
        .unwrap();
    let patched = app.raw(patch).await;
    assert_eq!(
        (
            patched.body["is_default"].as_bool(),
            patched.body["is_active"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let defaults: Vec<bool> = app
        .get("/api/v1/platforms", a)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["is_default"].as_bool().unwrap())
        .collect();
    assert_eq!(defaults, [true, false]);
    assert_problem(
        &app.call(Method::DELETE, "/api/v1/platforms/abc", None, a)
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/v1/platforms/{id}"), None, a)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &app.call(Method::DELETE, &format!("/api/v1/platforms/{id}"), None, a)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn context_follows_the_rules_per_session_and_filters_posts() {
    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let other_session = app.admin_cookie().await;
    let a = Auth::Cookie(&admin);
    let none = app.put("/api/v1/context", json!({}), a).await;
    assert!(assert_problem(&none, StatusCode::CONFLICT).is_empty());
    assert!(
        none.body["detail"]
            .as_str()
            .unwrap()
            .contains("no active platform connection")
    );
    let unset = app.get("/api/v1/context", a).await;
    assert_eq!(
        (
            unset.body["is_valid"].as_bool(),
            unset.body["platform_info"].is_null()
        ),
        (Some(false), true)
    );

    let m = connection(&app, &admin, mastodon("m", "https://m.social"))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let p = connection(
        &app,
        &admin,
        json!({"name": "p", "platform_type": "pixelfed", "instance_url": "https://pix.example",
        "username": "me", "access_token": "t", "is_active": false}),
    )
    .await
    .body["id"]
        .as_i64()
        .unwrap();
    // Without a choice: the default. An inactive one: refused, distinctly. Someone else's: 404.
    assert_eq!(
        app.put("/api/v1/context", json!({}), a).await.body["platform_connection_id"],
        m
    );
    let inactive = app
        .put("/api/v1/context", json!({"platform_connection_id": p}), a)
        .await;
    assert_problem(&inactive, StatusCode::CONFLICT);
    assert!(
        inactive.body["detail"]
            .as_str()
            .unwrap()
            .contains("not active")
    );
    assert_problem(
        &app.put("/api/v1/context", json!({"platform_connection_id": 999}), a)
            .await,
        StatusCode::NOT_FOUND,
    );
    let got = app.get("/api/v1/context", a).await;
    assert_eq!(
        (
            got.body["is_valid"].as_bool(),
            got.body["platform_info"]["platform_type"].as_str()
        ),
        (Some(true), Some("mastodon"))
    );
    assert_eq!(got.body["platform_info"]["name"], "m");
    // Another session of the same user has its own context.
    assert_eq!(
        app.get("/api/v1/context", Auth::Cookie(&other_session))
            .await
            .body["platform_connection_id"],
        Value::Null
    );

    // Posts: by the context's connection, or by platform and instance when recorded that way.
    for body in [
        json!({"post_id": "1"}),
        json!({"post_id": "2", "platform_type": "mastodon", "instance_url": "https://M.social/"}),
        json!({"post_id": "3", "platform_type": "mastodon", "instance_url": "https://other.social"}),
        json!({"post_id": "4", "platform_connection_id": p}),
    ] {
        assert_eq!(
            app.post("/api/v1/posts", body.clone(), a).await.status,
            StatusCode::CREATED,
            "{body}"
        );
    }
    assert_problem(
        &app.post(
            "/api/v1/posts",
            json!({"post_id": "5", "platform_type": "mastodon"}),
            a,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    let seen: Vec<String> = app
        .get("/api/v1/posts", a)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["post_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["2", "1"]);
    assert_problem(
        &app.get("/api/v1/posts", Auth::Cookie(&other_session)).await,
        StatusCode::CONFLICT,
    );
    assert_eq!(
        app.call(Method::DELETE, "/api/v1/context", None, a)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_problem(&app.get("/api/v1/posts", a).await, StatusCode::CONFLICT);
}

/// The key that seals platform tokens is checked at start: a server given another key refuses
/// to start, naming the variable, rather than start and fail to open every stored token; and a
/// database from before the check is checked against a token it holds.
#[tokio::test]
async fn a_server_with_another_platform_token_key_refuses_to_start() {
    let first = "11".repeat(32);
    let app = TestApp::with(|c| c.secret_key = Some(first.clone())).await;
    let admin = app.admin_cookie().await;
    let made = connection(
        &app,
        &admin,
        json!({"name": "main", "platform_type": "mastodon", "instance_url": "https://m.example",
            "username": "bot", "access_token": "platform-secret"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let config = app.state.config.clone();
    app.state.store.close().await;

    let reopen = |key: &str| {
        let mut config = config.clone();
        config.secret_key = Some(key.to_string());
        flowgate_server::AppState::open(config)
    };
    let refused = reopen(&"22".repeat(32))
        .await
        .err()
        .expect("another key is refused");
    assert!(
        refused.to_string().contains("FLOWGATE_SECRET_KEY"),
        "{refused:#}"
    );
    let state = reopen(&first).await.expect("the same key starts");

    // A database from before the check value: the key is tried on a stored token.
    match &state.store {
        flowgate_server::store::Store::Sqlite(pool) => {
            sqlx::query("DELETE FROM settings")
                .execute(pool)
                .await
                .unwrap();
        }
        flowgate_server::store::Store::Postgres(pool) => {
            sqlx::query("DELETE FROM settings")
                .execute(pool)
                .await
                .unwrap();
        }
    }
    state.store.close().await;
    assert!(
        reopen(&"33".repeat(32)).await.is_err(),
        "a key that does not open the stored token"
    );
    let state = reopen(&first).await.expect("the key that opens it");
    let check = state
        .store
        .settings()
        .get("secret_key_check")
        .await
        .unwrap();
    assert!(check.is_some(), "the check value is stored again");
    state.store.close().await;
}

#[tokio::test]
async fn task_slots_live_only_while_watched_or_updated_and_are_bounded() {
    let app = TestApp::with(|c| {
        c.max_live_tasks = 1;
        c.max_open_tasks = 2;
    })
    .await;
    let admin = app.admin_cookie().await;
    let a = Auth::Cookie(&admin);
    let new_task = || async { app.post("/api/v1/tasks", json!({}), a).await };
    let first = new_task().await.body["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = new_task().await.body["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Two unfinished tasks are the most this user may have.
    let third = new_task().await;
    assert_problem(&third, StatusCode::CONFLICT);
    assert!(
        third.text.contains("FLOWGATE_MAX_OPEN_TASKS"),
        "{}",
        third.text
    );

    // A running task nobody watches keeps no slot between its updates.
    let running = json!({"current_step": "captioning", "progress_percent": 10});
    let path = |id: &str| format!("/api/v1/tasks/{id}/progress");
    assert_eq!(
        app.put(&path(&first), running.clone(), a).await.status,
        StatusCode::OK
    );
    assert_eq!(app.state.live.slots(), 0);

    // One slot at most: while the first task is watched, an update of the second waits.
    let user = app.get("/api/v1/auth/me", a).await.body["id"]
        .as_i64()
        .unwrap();
    let watching = app
        .state
        .live
        .subscribe(&app.state.store, &first, user)
        .await
        .unwrap();
    let busy = app.put(&path(&second), running.clone(), a).await;
    assert_problem(&busy, StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers.contains_key(header::RETRY_AFTER));
    assert!(
        busy.text.contains("FLOWGATE_MAX_LIVE_TASKS"),
        "{}",
        busy.text
    );
    // The watched task is still updated and streamed.
    let done = json!({"current_step": "done", "progress_percent": 100, "status": "completed"});
    assert_eq!(app.put(&path(&first), done, a).await.status, StatusCode::OK);
    assert!(watching.borrow().terminal);
    drop(watching);
    app.state.live.forget_if_idle(&first);
    assert_eq!(
        app.put(&path(&second), running, a).await.status,
        StatusCode::OK
    );
    // One finished: room for a new task.
    assert_eq!(new_task().await.status, StatusCode::CREATED);

    // A subscriber that has seen the end of a finished task gets 204, and leaves no slot.
    let token = app.token(&admin).await;
    let seen = app
        .raw(
            Request::builder()
                .uri(format!("/api/v1/tasks/{first}/events"))
                .header(header::HOST, HOST)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("last-event-id", "2")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(seen.status, StatusCode::NO_CONTENT, "{}", seen.text);
    assert_eq!(app.state.live.slots(), 0);
}

/// `rotate-key` seals every platform token anew with the new key, which then replaces the old
/// one (the key file, or the key servers are given); a server with the old key refuses to
/// start; a rotation stopped after its commit is finished by running it again.
#[tokio::test]
async fn rotating_the_key_seals_every_token_anew() {
    use flowgate_server::secrets::Vault;
    use flowgate_server::state::rotate_key;
    use flowgate_server::{AppState, store};

    let app = TestApp::new().await;
    let cookie = app.admin_cookie().await;
    for (name, token) in [("one", "token-one"), ("two", "token-two")] {
        let mut body = mastodon(name, "https://mastodon.social");
        body["access_token"] = json!(token);
        assert_eq!(
            connection(&app, &cookie, body).await.status,
            StatusCode::CREATED
        );
    }
    let app = app.restart().await;
    let TestApp { dir, state, .. } = app;
    let mut config = state.config.clone();
    state.store.close().await;
    drop(state);

    let key_file = store::context_file(&config.database_url, ".secret-key")
        .filter(|_| config.secret_key.is_none());
    let old_key = match &key_file {
        Some(file) => std::fs::read_to_string(file).unwrap().trim().to_string(),
        None => config.secret_key.clone().unwrap(),
    };
    let new_key = "bmV3LWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3QhIT0=";
    let given = key_file.is_none().then_some(new_key);
    let rotated = rotate_key(&config, given).await.unwrap();
    assert_eq!(rotated.resealed, 2);
    let new_key = match &key_file {
        Some(file) => std::fs::read_to_string(file).unwrap().trim().to_string(),
        None => new_key.to_string(),
    };
    assert_ne!(new_key, old_key);

    let stored = store::Store::open(&config.database_url).await.unwrap();
    let tokens: Vec<(i64, i64, Vec<u8>)> = match &stored {
        store::Store::Sqlite(pool) => sqlx::query_as(
            "SELECT id, user_id, access_token_enc FROM platform_connections ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        store::Store::Postgres(pool) => sqlx::query_as(
            "SELECT id, user_id, access_token_enc FROM platform_connections ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    stored.close().await;
    let (new, old) = (
        Vault::from_key_text(&new_key).unwrap(),
        Vault::from_key_text(&old_key).unwrap(),
    );
    let opened: Vec<String> = tokens
        .iter()
        .map(|(id, user, sealed)| new.open_platform_token(sealed, *user, *id).unwrap())
        .collect();
    assert_eq!(opened, ["token-one", "token-two"]);
    assert!(
        tokens
            .iter()
            .all(|(id, user, sealed)| old.open_platform_token(sealed, *user, *id).is_err())
    );

    // A server given the old key refuses to start, naming what to do.
    let mut with_old = config.clone();
    with_old.secret_key = Some(old_key.clone());
    let Err(refused) = AppState::open(with_old).await else {
        panic!("a server with the old key started");
    };
    assert!(format!("{refused:#}").contains("rotate-key"), "{refused:#}");

    // Stopped after its commit, before the new key took the file's place: run again, it
    // finishes without sealing anything twice.
    if let Some(file) = &key_file {
        let mut staged = file.as_os_str().to_owned();
        staged.push(".new");
        std::fs::write(&staged, &new_key).unwrap();
        std::fs::write(file, &old_key).unwrap();
        let again = rotate_key(&config, None).await.unwrap();
        assert_eq!(again.resealed, 0);
        assert_eq!(std::fs::read_to_string(file).unwrap().trim(), new_key);
    } else {
        config.secret_key = Some(new_key.clone());
    }
    let started = AppState::open(config).await.unwrap();
    started.store.close().await;
    drop(dir);
}

/// A post as the API answered its creation, with its owner: what the core's rule reads.
struct Owned {
    user: i64,
    post: flowgate_core::api::Post,
}

impl flowgate_core::context::HasOrigin for Owned {
    fn origin(&self) -> flowgate_core::context::PostOrigin<'_> {
        flowgate_core::context::PostOrigin {
            user_id: Some(self.user),
            platform_connection_id: self.post.platform_connection_id,
            platform_type: self.post.platform_type,
            instance_url: self.post.instance_url.as_deref(),
        }
    }
}

/// `GET /api/v1/posts` filters in SQL (to page in the database); the rule is the core's
/// `filter_posts` with the caller as its user. For seeded random posts of two users, by
/// connection and by platform and instance, the two select the same posts in every context.
#[tokio::test]
async fn the_posts_sql_selects_what_the_cores_rule_selects() {
    use flowgate_core::api::{Connection, Me, Post};
    use flowgate_core::context::{PlatformConnection, User, select_context};

    let app = TestApp::new().await;
    let admin = app.admin_cookie().await;
    let bob = app.user(&admin, "bob").await;
    let instances = ["https://a.example", "https://b.example"];
    let mut people = Vec::new();
    for cookie in [&admin, &bob] {
        let me: Me =
            serde_json::from_value(app.get("/api/v1/auth/me", Auth::Cookie(cookie)).await.body)
                .unwrap();
        let mut connections = Vec::new();
        for (n, (platform, url)) in [
            ("mastodon", instances[0]),
            ("pixelfed", instances[1]),
            ("mastodon", instances[1]),
        ]
        .into_iter()
        .enumerate()
        {
            let body = json!({"name": format!("c{n}"), "platform_type": platform, "instance_url": url,
                "username": "me", "access_token": "tok"});
            let r = connection(&app, cookie, body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            connections.push(serde_json::from_value::<Connection>(r.body).unwrap());
        }
        people.push((cookie.as_str(), me, connections));
    }

    // A small LCG: the same posts on every run.
    let mut seed = 20_261_204u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut posts = Vec::new();
    for i in 0..120 {
        let (cookie, me, connections) = &people[next(2) as usize];
        let body = if next(2) == 0 {
            json!({"post_id": format!("p{i}"), "platform_connection_id": connections[next(3) as usize].id})
        } else {
            let platform = ["mastodon", "pixelfed"][next(2) as usize];
            // Written as users write them: case and a trailing slash vary, the server normalises.
            let url = [instances[0], instances[1], "HTTPS://A.example/"][next(3) as usize];
            json!({"post_id": format!("p{i}"), "platform_type": platform, "instance_url": url})
        };
        let r = app.post("/api/v1/posts", body, Auth::Cookie(cookie)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let post: Post = serde_json::from_value(r.body).unwrap();
        posts.push(Owned { user: me.id, post });
    }

    for (cookie, me, connections) in &people {
        let user = User {
            id: me.id,
            username: me.username.clone(),
            is_active: true,
        };
        let known: Vec<PlatformConnection> =
            connections.iter().map(|c| c.to_context(me.id)).collect();
        for c in connections {
            let r = app
                .put(
                    "/api/v1/context",
                    json!({"platform_connection_id": c.id}),
                    Auth::Cookie(cookie),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let listed: Vec<Post> = serde_json::from_value(
                app.get("/api/v1/posts?limit=200", Auth::Cookie(cookie))
                    .await
                    .body,
            )
            .unwrap();
            let served: Vec<i64> = listed.iter().map(|p| p.id).collect();
            let context = select_context(&user, &known, Some(c.id), None).unwrap();
            // Newest first, as the server lists them.
            let mut ruled: Vec<i64> = context
                .filter_posts(&posts, Some(me.id))
                .map(|p| p.post.id)
                .collect();
            ruled.reverse();
            assert!(!ruled.is_empty(), "the seed gives every context some posts");
            assert_eq!(
                served, ruled,
                "{} in the context of connection {}",
                me.username, c.name
            );
        }
    }
}
