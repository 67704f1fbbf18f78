//! Tasks, live progress over Server-Sent Events, platform connections, context and posts,
//! against the real server binary.

use std::time::Duration;

use flowgate_core::api::Task;
use flowgate_core::progress::TaskStatus;
use flowgate_tests::{Auth, Server, SseStream};
use reqwest::StatusCode;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn an_sse_client_that_keeps_up_sees_every_update_in_order_then_done() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    let (_cookie, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let task = c
        .post(
            "/api/v1/tasks",
            &json!({"settings": {"max_posts": 20}}),
            auth,
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.text);
    let task: Task = task.body();
    let id = task.task_id;
    assert_eq!((task.status, task.seq), (TaskStatus::Queued, 0));
    assert_eq!(task.settings, json!({"max_posts": 20}));
    let events_path = format!("/api/v1/tasks/{id}/events");
    let progress_path = format!("/api/v1/tasks/{id}/progress");

    let mut stream = SseStream::open(&c, &events_path, auth, None).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert!(
        stream.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = stream.next(WAIT).await.unwrap();
    assert_eq!(
        (first.event.as_str(), first.id.as_deref()),
        ("progress", Some("0"))
    );
    assert!(
        first.retry.is_some(),
        "the first event carries a retry: hint"
    );
    assert_eq!(first.body::<Task>().status, TaskStatus::Queued);

    for (i, pct) in [10, 35, 60, 85].into_iter().enumerate() {
        let body = json!({"current_step": format!("captioning image {}", i + 1), "progress_percent": pct,
                          "details": {"images_processed": i + 1, "total_images": 4}});
        let put = c.put(&progress_path, &body, auth).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.text);
        let event = stream.next(WAIT).await.unwrap();
        assert_eq!(event.event, "progress");
        assert_eq!(event.id, Some((i + 1).to_string()));
        let status: Task = event.body();
        assert_eq!(
            (status.progress_percent, status.status),
            (pct, TaskStatus::Running)
        );
        assert_eq!(status.details["images_processed"], i + 1);
    }
    let done = c
        .put(
            &progress_path,
            &json!({"current_step": "done", "progress_percent": 100, "status": "completed"}),
            auth,
        )
        .await;
    assert!(done.body::<Task>().completed_at.is_some());
    let last = stream.next(WAIT).await.unwrap();
    assert_eq!(
        (last.event.as_str(), last.id.as_deref()),
        ("done", Some("5"))
    );
    assert_eq!(last.body::<Task>().status, TaskStatus::Completed);
    assert_eq!(stream.next(WAIT).await, None, "the stream ends after done");

    // A terminal task already seen answers 204, so EventSource stops reconnecting; one not yet
    // seen gets its final state.
    let again = SseStream::open(&c, &events_path, auth, Some(5)).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let mut late = SseStream::open(&c, &events_path, auth, Some(3)).await;
    let final_state = late.next(WAIT).await.unwrap();
    assert_eq!(
        (final_state.event.as_str(), final_state.id.as_deref()),
        ("done", Some("5"))
    );
    // No update after the end.
    let after = c
        .put(
            &progress_path,
            &json!({"current_step": "again", "progress_percent": 5}),
            auth,
        )
        .await;
    after.problem(StatusCode::CONFLICT);
    server.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_and_a_lagging_reader_gets_the_newest_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    let (cookie, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let id = c.post("/api/v1/tasks", &json!({}), auth).await.json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let progress_path = format!("/api/v1/tasks/{id}/progress");
    let events_path = format!("/api/v1/tasks/{id}/events");

    // The console's way in: the session cookie.
    let mut stream = SseStream::open(&c, &events_path, Auth::Cookie(&cookie), None).await;
    assert_eq!(stream.next(WAIT).await.unwrap().id.as_deref(), Some("0"));
    c.put(
        &progress_path,
        &json!({"current_step": "a", "progress_percent": 10}),
        auth,
    )
    .await;
    assert_eq!(stream.next(WAIT).await.unwrap().id.as_deref(), Some("1"));
    drop(stream);

    // Updates while disconnected; the reconnect starts with the newest snapshot.
    for pct in [20, 30, 40] {
        assert_eq!(
            c.put(
                &progress_path,
                &json!({"current_step": "b", "progress_percent": pct}),
                auth
            )
            .await
            .status,
            StatusCode::OK
        );
    }
    let mut resumed = SseStream::open(&c, &events_path, auth, Some(1)).await;
    let snapshot = resumed.next(WAIT).await.unwrap();
    assert_eq!(
        (
            snapshot.id.as_deref(),
            snapshot.json()["progress_percent"].as_u64()
        ),
        (Some("4"), Some(40))
    );
    // Up to date already: nothing is repeated; the next update comes as it happens.
    let mut current = SseStream::open(&c, &events_path, auth, Some(4)).await;
    c.put(
        &progress_path,
        &json!({"current_step": "c", "progress_percent": 50}),
        auth,
    )
    .await;
    assert_eq!(current.next(WAIT).await.unwrap().id.as_deref(), Some("5"));
    assert_eq!(resumed.next(WAIT).await.unwrap().id.as_deref(), Some("5"));

    // A reader that does not read while 50 updates go by loses no state: its ids only grow,
    // and it ends on the final one.
    for pct in 51..=99 {
        c.put(
            &progress_path,
            &json!({"current_step": "d", "progress_percent": pct}),
            auth,
        )
        .await;
    }
    c.put(
        &progress_path,
        &json!({"current_step": "failed at the end", "progress_percent": 99, "status": "failed",
                                  "error_message": "the instance went away"}),
        auth,
    )
    .await;
    let mut last_id = 5;
    let mut final_event = None;
    while let Some(e) = current.next(WAIT).await {
        let id: u64 = e.id.as_deref().unwrap().parse().unwrap();
        assert!(id > last_id, "ids must grow: {id} after {last_id}");
        last_id = id;
        final_event = Some(e);
    }
    let final_event = final_event.unwrap();
    assert_eq!((final_event.event.as_str(), last_id), ("done", 55));
    assert_eq!(
        final_event.json()["error_message"],
        "the instance went away"
    );
    server.stop().await;
}

#[tokio::test]
async fn kill_9_and_restart_loses_no_acknowledged_update() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    let (_cookie, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            c.post("/api/v1/tasks", &json!({}), auth).await.json["task_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut acknowledged = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let mut last = None;
        for step in 1..=(10 + n as u64) {
            let r = c
                .put(
                    &format!("/api/v1/tasks/{id}/progress"),
                    &json!({"current_step": format!("step {step}"), "progress_percent": step * 5}),
                    auth,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            last = Some(r.json);
        }
        acknowledged.push(last.unwrap());
    }
    let dir_path = server.kill().await;
    let server = Server::start(&dir_path, &[]).await;
    let c = server.client();
    for (id, ack) in ids.iter().zip(&acknowledged) {
        let now = c.get(&format!("/api/v1/tasks/{id}/progress"), auth).await;
        for field in [
            "seq",
            "progress_percent",
            "current_step",
            "status",
            "updated_at",
        ] {
            assert_eq!(now.json[field], ack[field], "{field} of {id}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn two_users_cannot_see_each_others_tasks_posts_or_connections_and_tokens_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    let (admin, _) = c.admin().await;
    let alice = c.user(&admin, "alice").await;
    let bob = c.user(&admin, "bob").await;
    let secret = "mastodon-access-token-SHOULD-NEVER-LEAK-8c1f";
    let mut replies = Vec::new();

    let conn = c
        .post("/api/v1/platforms", &json!({"name": "main", "platform_type": "mastodon", "instance_url": "https://mastodon.social",
                                           "username": "alice", "access_token": secret}), Auth::Cookie(&alice))
        .await;
    assert_eq!(conn.status, StatusCode::CREATED, "{}", conn.text);
    assert_eq!(conn.json["is_default"], true);
    let conn_id = conn.json["id"].as_i64().unwrap();
    replies.push(conn.text.clone());
    let patched = c
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/platforms/{conn_id}"),
            flowgate_tests::Body::Json(&json!({"access_token": format!("{secret}-2")})),
            Auth::Cookie(&alice),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    replies.push(patched.text.clone());
    replies.push(c.get("/api/v1/platforms", Auth::Cookie(&alice)).await.text);

    let ctx = c
        .put("/api/v1/context", &json!({}), Auth::Cookie(&alice))
        .await;
    assert_eq!(
        (
            ctx.json["is_valid"].as_bool(),
            ctx.json["platform_connection_id"].as_i64()
        ),
        (Some(true), Some(conn_id))
    );
    assert_eq!(
        ctx.json["platform_info"]["instance_url"],
        "https://mastodon.social"
    );
    replies.push(ctx.text.clone());
    replies.push(c.get("/api/v1/context", Auth::Cookie(&alice)).await.text);
    let post = c
        .post(
            "/api/v1/posts",
            &json!({"post_id": "109", "content": "a photo", "image_count": 2}),
            Auth::Cookie(&alice),
        )
        .await;
    assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
    let task = c
        .post(
            "/api/v1/tasks",
            &json!({"platform_connection_id": conn_id}),
            Auth::Cookie(&alice),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED);
    let task_id = task.json["task_id"].as_str().unwrap();

    // Bob sees none of it, and what he cannot see is answered as missing.
    assert_eq!(
        c.get("/api/v1/platforms", Auth::Cookie(&bob)).await.json,
        json!([])
    );
    assert_eq!(
        c.get("/api/v1/tasks", Auth::Cookie(&bob)).await.json["total"],
        0
    );
    c.get(
        &format!("/api/v1/tasks/{task_id}/progress"),
        Auth::Cookie(&bob),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    c.put(
        &format!("/api/v1/tasks/{task_id}/progress"),
        &json!({"current_step": "x", "progress_percent": 1}),
        Auth::Cookie(&bob),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        SseStream::open(
            &c,
            &format!("/api/v1/tasks/{task_id}/events"),
            Auth::Cookie(&bob),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    c.put(
        "/api/v1/context",
        &json!({"platform_connection_id": conn_id}),
        Auth::Cookie(&bob),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    c.send(
        reqwest::Method::PATCH,
        &format!("/api/v1/platforms/{conn_id}"),
        flowgate_tests::Body::Json(&json!({"name": "mine"})),
        Auth::Cookie(&bob),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    c.delete(&format!("/api/v1/platforms/{conn_id}"), Auth::Cookie(&bob))
        .await
        .problem(StatusCode::NOT_FOUND);
    c.post(
        "/api/v1/tasks",
        &json!({"platform_connection_id": conn_id}),
        Auth::Cookie(&bob),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);
    c.get("/api/v1/posts", Auth::Cookie(&bob))
        .await
        .problem(StatusCode::CONFLICT);
    // Alice sees her post in her context.
    let posts = c.get("/api/v1/posts", Auth::Cookie(&alice)).await;
    assert_eq!(posts.json.as_array().unwrap().len(), 1, "{}", posts.text);
    replies.push(posts.text);

    for text in &replies {
        assert!(
            !text.contains(secret),
            "a platform token was returned: {text}"
        );
    }
    assert!(
        !server.logs().contains(secret),
        "a platform token was logged"
    );
    let stored = server.stored_data().await;
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    for needle in [secret.as_bytes(), hex.as_bytes()] {
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "stored in clear"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn sigterm_ends_open_event_streams_and_the_server_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    let (_cookie, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let id = c.post("/api/v1/tasks", &json!({}), auth).await.json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut s = SseStream::open(&c, &format!("/api/v1/tasks/{id}/events"), auth, None).await;
        assert_eq!(s.next(WAIT).await.unwrap().id.as_deref(), Some("0"));
        streams.push(s);
    }
    // stop() sends SIGTERM and requires a clean exit within 20 s.
    let stopping = tokio::spawn(server.stop());
    for mut s in streams {
        assert_eq!(
            s.next(WAIT).await,
            None,
            "the stream ends so that shutdown need not wait for it"
        );
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_event_streams_and_a_closed_one_frees_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FLOWGATE_MAX_STREAMS_PER_USER", "2")]).await;
    let c = server.client();
    let (_cookie, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let task = c.post("/api/v1/tasks", &json!({}), auth).await;
    let events = format!(
        "/api/v1/tasks/{}/events",
        task.json["task_id"].as_str().unwrap()
    );
    let first = SseStream::open(&c, &events, auth, None).await;
    let second = SseStream::open(&c, &events, auth, None).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = SseStream::open(&c, &events, auth, None).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    // A closed stream gives its place back (the server notices when its next write fails or
    // the connection closes).
    drop(first);
    let mut again = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..50 {
        again = SseStream::open(&c, &events, auth, None).await.status;
        if again == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(again, StatusCode::OK);
    server.stop().await;
}
