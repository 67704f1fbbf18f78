//! `flowgate-server migrate-to`: a populated SQLite database moved to PostgreSQL serves the
//! same answers.

use flowgate_tests::{Auth, Server};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Everything a user and an admin can read back.
async fn answers(
    c: &flowgate_tests::Client,
    admin: &str,
    bob: &str,
    task: &str,
) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for (path, token) in [
        ("/api/v1/limits", admin),
        ("/api/v1/limits/history", admin),
        ("/api/v1/retry/config", admin),
        ("/api/v1/retry/stats?detailed=true", admin),
        ("/api/v1/users", admin),
        ("/api/v1/tokens", admin),
        ("/api/v1/auth/me", bob),
        ("/api/v1/platforms", bob),
        ("/api/v1/context", bob),
        ("/api/v1/posts", bob),
        ("/api/v1/tasks", bob),
        (&format!("/api/v1/tasks/{task}/progress"), bob),
    ] {
        let r = c.get(path, Auth::Bearer(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        all.push((path.to_string(), r.json));
    }
    all
}

#[tokio::test]
async fn a_populated_sqlite_database_moved_to_postgresql_serves_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("flowgate.db").display());
    let server = Server::start(dir.path(), &[("FLOWGATE_DATABASE_URL", &sqlite)]).await;
    let c = server.client();
    let (admin_cookie, admin) = c.admin().await;
    let limits = json!({"requests_per_minute": 30, "requests_per_hour": 500, "requests_per_day": 10000, "max_burst": 5,
        "endpoint_limits": {"media": {"minute": 10}}});
    assert_eq!(
        c.put("/api/v1/limits", &limits, Auth::Bearer(&admin))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        c.put(
            "/api/v1/retry/config",
            &json!({"max_attempts": 5}),
            Auth::Bearer(&admin)
        )
        .await
        .status,
        StatusCode::OK
    );
    for outcome in ["success", "exhausted"] {
        let failures = if outcome == "success" { 1 } else { 2 };
        let report = json!({"operation": "caption", "attempts": 2, "outcome": outcome, "delays": [1.0],
            "failures": vec![json!({"kind": "timeout"}); failures]});
        let r = c
            .post("/api/v1/retry/report", &report, Auth::Bearer(&admin))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let bob_cookie = c.user(&admin_cookie, "bob").await;
    let bob = c.token(&bob_cookie, "bob-worker").await;
    let connection = c
        .post(
            "/api/v1/platforms",
            &json!({"name": "main", "platform_type": "mastodon", "instance_url": "https://mastodon.example",
                "username": "bob", "access_token": "platform-secret-123"}),
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.text
    );
    assert_eq!(
        c.put("/api/v1/context", &json!({}), Auth::Bearer(&bob))
            .await
            .status,
        StatusCode::OK
    );
    let post = c
        .post(
            "/api/v1/posts",
            &json!({"post_id": "109", "image_count": 2}),
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
    let task = c
        .post(
            "/api/v1/tasks",
            &json!({"platform_connection_id": connection.json["id"]}),
            Auth::Bearer(&bob),
        )
        .await
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    for step in 1..=3 {
        let r = c
            .put(
                &format!("/api/v1/tasks/{task}/progress"),
                &json!({"current_step": format!("image {step}"), "progress_percent": step * 30}),
                Auth::Bearer(&bob),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let before = answers(&c, &admin, &bob, &task).await;
    server.stop().await;

    let cluster = flowgate_tests::postgres_for_several_servers();
    let target_dir = tempfile::tempdir().unwrap();
    let postgres = flowgate_tests::postgres_database(&cluster, target_dir.path()).await;
    let migrate = |url: String| {
        let sqlite = sqlite.clone();
        async move {
            tokio::process::Command::new(flowgate_tests::server_binary())
                .env_clear()
                .env("FLOWGATE_DATABASE_URL", sqlite)
                .args(["migrate-to", &url])
                .output()
                .await
                .unwrap()
        }
    };
    let out = migrate(postgres.clone()).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("tasks: 1 rows") && said.contains("users: 2 rows"),
        "{said}"
    );
    let key_file = dir.path().join("flowgate.db.secret-key");
    assert!(said.contains(&key_file.display().to_string()), "{said}");

    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    let moved = Server::start(
        target_dir.path(),
        &[
            ("FLOWGATE_DATABASE_URL", &postgres),
            ("FLOWGATE_SECRET_KEY", &key),
        ],
    )
    .await;
    let m = moved.client();
    let after = answers(&m, &admin, &bob, &task).await;
    for ((path, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "{path}");
    }
    // The old session cookie works too, and new rows get new ids.
    assert_eq!(
        m.get("/api/v1/auth/me", Auth::Cookie(&bob_cookie))
            .await
            .status,
        StatusCode::OK
    );
    let carol = m
        .post(
            "/api/v1/users",
            &json!({"username": "carol", "password": "carol-password", "role": "user"}),
            Auth::Bearer(&admin),
        )
        .await;
    assert_eq!(
        (carol.status, carol.json["id"].as_i64()),
        (StatusCode::CREATED, Some(3)),
        "{}",
        carol.text
    );
    moved.stop().await;

    // A database that holds data is never written over.
    let again = migrate(postgres).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds data"), "{stderr}");
}
