//! Several flowgate servers sharing one Redis and one PostgreSQL: real processes on different
//! ports, a real redis-server stopped, frozen and started again, a real PostgreSQL cluster.

use std::time::{Duration, Instant};

use flowgate_tests::{Auth, Client, Redis, SECRET_KEY, Server, SseStream};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The contract: a change made on one server governs every other within this.
const PROPAGATION: Duration = Duration::from_secs(1);

/// Limits that cannot refill during a test: ten a minute, an hour and a day, all at once.
fn ten() -> Value {
    json!({"requests_per_minute": 10, "requests_per_hour": 10, "requests_per_day": 10, "max_burst": 10})
}

/// Two servers on one database and one Redis.
struct Pair {
    a: Server,
    b: Server,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn pair(redis: &Redis, env: &[(&str, &str)]) -> Pair {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cluster = flowgate_tests::postgres_for_several_servers();
    let database = flowgate_tests::postgres_database(&cluster, dir_a.path()).await;
    let mut shared = vec![
        ("FLOWGATE_DATABASE_URL", database.as_str()),
        ("FLOWGATE_SECRET_KEY", SECRET_KEY),
        ("FLOWGATE_REDIS_URL", redis.url.as_str()),
    ];
    shared.extend_from_slice(env);
    let a = Server::start(dir_a.path(), &shared).await;
    let b = Server::start(dir_b.path(), &shared).await;
    Pair {
        a,
        b,
        _dirs: (dir_a, dir_b),
    }
}

/// Polls `probe` until it says yes; returns how long that took, or panics after `within`.
async fn until<F: Future<Output = bool>>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> F,
) -> Duration {
    let start = Instant::now();
    loop {
        if probe().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn check(c: &Client, token: &str, key: &str) -> Value {
    let r = c
        .post(
            "/api/v1/limits/check",
            &json!({"key": key}),
            Auth::Bearer(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

#[tokio::test]
async fn a_thousand_concurrent_checks_over_two_servers_admit_exactly_ten() {
    let redis = Redis::start().await;
    // Exactness, not outages: a wait for Redis long enough that a thousand requests at once to
    // two debug builds on two cores never time out into the failure mode.
    let p = pair(&redis, &[("FLOWGATE_REDIS_TIMEOUT_MS", "10000")]).await;
    let (a, b) = (p.a.client(), p.b.client());
    let (_, token) = a.admin().await;
    let put = a.put("/api/v1/limits", &ten(), Auth::Bearer(&token)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    until("B applies the limits", PROPAGATION, || async {
        check(&b, &token, "probe").await["limit"] == 10
    })
    .await;
    let checks = (0..1_000).map(|i| {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = token.clone();
        tokio::spawn(async move {
            let r = c
                .post(
                    "/api/v1/limits/check",
                    &json!({"key": "shared"}),
                    Auth::Bearer(&token),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            assert!(r.json["degraded"].is_null(), "{}", r.text);
            r.json["allowed"].as_bool().unwrap()
        })
    });
    let checks: Vec<_> = checks.collect();
    let mut admitted = 0;
    for done in checks {
        admitted += usize::from(done.await.unwrap());
    }
    assert_eq!(admitted, 10);
    // Both servers see the same spent key.
    for c in [&a, &b] {
        let state = c
            .get("/api/v1/limits/keys/shared", Auth::Bearer(&token))
            .await;
        assert_eq!(
            state.json["wait_time"].as_f64().map(|w| w > 3_000.0),
            Some(true),
            "{}",
            state.text
        );
    }
}

#[tokio::test]
async fn changes_on_one_server_reach_the_other_within_a_second() {
    let redis = Redis::start().await;
    let p = pair(&redis, &[]).await;
    let (a, b) = (p.a.client(), p.b.client());
    let (admin, token) = a.admin().await;

    // Limits: B's next decisions follow A's change.
    let mut limits = ten();
    limits["requests_per_minute"] = json!(37);
    assert_eq!(
        a.put("/api/v1/limits", &limits, Auth::Bearer(&token))
            .await
            .status,
        StatusCode::OK
    );
    let took = until("B decides under A's limits", PROPAGATION, || async {
        check(&b, &token, "k").await["buckets"][0]["limit"] == 37
    })
    .await;
    eprintln!("limits reached B in {took:?}");
    // The history is one: B's next change names the version A made.
    let current = b.get("/api/v1/limits", Auth::Bearer(&token)).await;
    assert_eq!(current.headers["etag"], "\"2\"");

    // The retry policy.
    let policy = json!({"max_attempts": 7});
    let put = b
        .put("/api/v1/retry/config", &policy, Auth::Bearer(&token))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    until("A has B's retry policy", PROPAGATION, || async {
        a.get("/api/v1/retry/config", Auth::Bearer(&token))
            .await
            .json["max_attempts"]
            == 7
    })
    .await;

    // A token deleted on A stops working on B, which had it cached.
    let worker = a.token(&admin, "worker").await;
    assert_eq!(
        b.get("/api/v1/auth/me", Auth::Bearer(&worker)).await.status,
        StatusCode::OK
    );
    let tokens = a.get("/api/v1/tokens", Auth::Bearer(&token)).await.json;
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "worker")
        .unwrap()["id"]
        .clone();
    let deleted = a
        .delete(&format!("/api/v1/tokens/{id}"), Auth::Bearer(&token))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let took = until("B refuses the deleted token", PROPAGATION, || async {
        b.get("/api/v1/auth/me", Auth::Bearer(&worker)).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("a token deletion reached B in {took:?}");

    // A session ended on A, and a user deactivated on B.
    let session = a.login("admin", flowgate_tests::ADMIN_PASSWORD).await;
    assert_eq!(
        b.get("/api/v1/auth/me", Auth::Cookie(&session))
            .await
            .status,
        StatusCode::OK
    );
    let out = a
        .send(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            flowgate_tests::Body::None,
            Auth::Cookie(&session),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    until("B ends the session", PROPAGATION, || async {
        b.get("/api/v1/auth/me", Auth::Cookie(&session))
            .await
            .status
            == StatusCode::UNAUTHORIZED
    })
    .await;
    let bob = a.user(&admin, "bob").await;
    let bob_token = a.token(&bob, "bob").await;
    assert_eq!(
        a.get("/api/v1/auth/me", Auth::Bearer(&bob_token))
            .await
            .status,
        StatusCode::OK
    );
    let users = b.get("/api/v1/users", Auth::Bearer(&token)).await.json;
    let bob_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap()["id"]
        .clone();
    let off = b
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{bob_id}"),
            flowgate_tests::Body::Json(&json!({"is_active": false})),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    until("A refuses the deactivated user", PROPAGATION, || async {
        a.get("/api/v1/auth/me", Auth::Bearer(&bob_token))
            .await
            .status
            == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn progress_put_to_one_server_streams_in_order_from_the_other() {
    let redis = Redis::start().await;
    let p = pair(&redis, &[]).await;
    let (a, b) = (p.a.client(), p.b.client());
    let (_, token) = a.admin().await;
    let auth = Auth::Bearer(&token);
    let id = a.task(auth).await;
    let path = format!("/api/v1/tasks/{id}/events");
    let mut on_b = SseStream::open(&b, &path, auth, None).await;
    assert_eq!(
        on_b.next(Duration::from_secs(5))
            .await
            .unwrap()
            .id
            .as_deref(),
        Some("0")
    );
    let writer = {
        let (a, id, token) = (a.clone(), id.clone(), token.clone());
        tokio::spawn(async move {
            for step in 1..=20u64 {
                let status = if step == 20 { "completed" } else { "running" };
                let r = a
                    .put(
                        &format!("/api/v1/tasks/{id}/progress"),
                        &json!({"current_step": format!("step {step}"), "progress_percent": step * 5, "status": status}),
                        Auth::Bearer(&token),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut seen = Vec::new();
    let last = loop {
        let event = on_b
            .next(Duration::from_secs(5))
            .await
            .expect("the stream ends with done");
        let data = event.json();
        let seq = data["seq"].as_u64().unwrap();
        assert_eq!(event.id.as_deref(), Some(seq.to_string().as_str()));
        assert_eq!(
            data["current_step"],
            format!("step {seq}"),
            "each snapshot is whole"
        );
        seen.push(seq);
        if event.event == "done" {
            break data;
        }
    };
    writer.await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    assert_eq!(
        (last["seq"].as_u64(), last["status"].as_str()),
        (Some(20), Some("completed"))
    );
    assert!(seen.len() >= 10, "B streamed only {seen:?}");
    assert_eq!(on_b.next(Duration::from_secs(5)).await, None);
    // Resuming on A after what B sent: the task is over and was seen.
    let resumed = SseStream::open(&a, &path, auth, Some(20)).await;
    assert_eq!(resumed.status, StatusCode::NO_CONTENT);
    // And an update sent to B, whose slot heard A's, lands on top of them.
    let id2 = a.task(auth).await;
    let progress = format!("/api/v1/tasks/{id2}/progress");
    for (n, c) in [&a, &b, &a, &b].into_iter().enumerate() {
        let r = c
            .put(
                &progress,
                &json!({"current_step": format!("{n}"), "progress_percent": n * 10}),
                auth,
            )
            .await;
        assert_eq!(
            (r.status, r.json["seq"].as_u64()),
            (StatusCode::OK, Some(n as u64 + 1)),
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn retry_reports_to_both_servers_add_up_exactly() {
    let redis = Redis::start().await;
    let p = pair(&redis, &[]).await;
    let (a, b) = (p.a.client(), p.b.client());
    let (_, token) = a.admin().await;
    let reports = (0..200).map(|i| {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = token.clone();
        tokio::spawn(async move {
            let report = json!({"operation": "caption", "attempts": 2, "outcome": "success", "delays": [0.5],
                "failures": [{"kind": "status", "status": 503}]});
            let r = c.post("/api/v1/retry/report", &report, Auth::Bearer(&token)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        })
    });
    let reports: Vec<_> = reports.collect();
    for done in reports {
        done.await.unwrap();
    }
    for c in [&a, &b] {
        let stats = c
            .get("/api/v1/retry/stats?detailed=true", Auth::Bearer(&token))
            .await;
        let caption = &stats.json["operations"]["caption"];
        assert_eq!(
            (
                caption["calls"].as_u64(),
                caption["attempts"].as_u64(),
                caption["by_status"]["503"].as_u64()
            ),
            (Some(200), Some(400), Some(200)),
            "{}",
            stats.text
        );
    }
}

/// What each failure mode answers while Redis is stopped and while it is frozen, and that
/// exact shared limiting comes back by itself when it returns.
#[tokio::test]
async fn redis_outages_get_each_failure_modes_answers_and_shared_limiting_resumes() {
    for mode in ["local", "closed", "open"] {
        let mut redis = Redis::start().await;
        let p = pair(
            &redis,
            &[
                ("FLOWGATE_REDIS_FAILURE", mode),
                ("FLOWGATE_REDIS_TIMEOUT_MS", "50"),
            ],
        )
        .await;
        let (a, b) = (p.a.client(), p.b.client());
        let (_, token) = a.admin().await;
        assert_eq!(
            a.put("/api/v1/limits", &ten(), Auth::Bearer(&token))
                .await
                .status,
            StatusCode::OK
        );
        for outage in ["stopped", "frozen"] {
            // Both servers see each other's heartbeats (N = 2), and B has A's limits.
            until(
                "both servers counted by both",
                Duration::from_secs(5),
                || async {
                    a.get("/readyz", Auth::None).await.json["servers_seen"] == 2
                        && b.get("/readyz", Auth::None).await.json["servers_seen"] == 2
                        && check(&b, &token, "probe").await["limit"] == 10
                },
            )
            .await;
            match outage {
                "stopped" => redis.stop(),
                _ => redis.freeze(),
            }
            let key = format!("{mode}-{outage}");
            let mut allowed = 0;
            for i in 0..8 {
                let c = if i % 2 == 0 { &a } else { &b };
                let d = check(c, &token, &key).await;
                assert_eq!(d["degraded"], true, "{mode} {outage}: {d}");
                allowed += usize::from(d["allowed"] == true);
                if mode == "closed" {
                    assert_eq!(
                        (d["allowed"].as_bool(), d["retry_after"].as_f64()),
                        (Some(false), Some(1.0)),
                        "{d}"
                    );
                }
            }
            let expected = match mode {
                // Each server limits alone with half of every limit: 5 at once on each.
                "local" => 8,
                "closed" => 0,
                _ => 8,
            };
            assert_eq!(allowed, expected, "{mode} {outage}");
            if mode == "local" {
                // The sixth on one server is over its half.
                let mut on_a = 0;
                for _ in 0..6 {
                    let key = format!("local-half-{outage}");
                    on_a += usize::from(check(&a, &token, &key).await["allowed"] == true);
                }
                assert_eq!(on_a, 5, "1/2 of a burst of 10");
            }
            let metrics = a.get("/metrics", Auth::Bearer(&token)).await.text;
            assert!(
                metrics
                    .lines()
                    .any(|l| l.starts_with("flowgate_redis_errors_total ") && !l.ends_with(" 0")),
                "the failed calls to Redis are counted: {metrics}"
            );
            let ready = a.get("/readyz", Auth::None).await;
            assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
            assert_eq!(
                (
                    ready.json["redis"].as_str(),
                    ready.json["degraded"].as_bool()
                ),
                (Some("down"), Some(true))
            );
            match outage {
                "stopped" => redis.resume().await,
                _ => redis.thaw(),
            }
            // Shared limiting resumes with no restart: a new key, exactly ten over both.
            until(
                "shared limiting resumes",
                Duration::from_secs(5),
                || async {
                    check(&a, &token, "probe-again").await["degraded"].is_null()
                        && check(&b, &token, "probe-again").await["degraded"].is_null()
                },
            )
            .await;
            let key = format!("{mode}-{outage}-after");
            let mut admitted = 0;
            for i in 0..14 {
                let c = if i % 2 == 0 { &a } else { &b };
                admitted += usize::from(check(c, &token, &key).await["allowed"] == true);
            }
            assert_eq!(admitted, 10, "{mode} after {outage}");
        }
    }
}

/// A server that never reached Redis limits alone with N = 1 and says so.
#[tokio::test]
async fn a_server_that_never_reached_redis_says_so_and_limits_alone() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = format!("redis://127.0.0.1:{}", flowgate_tests::free_port());
    let server = Server::start(
        dir.path(),
        &[
            ("FLOWGATE_REDIS_URL", &nobody),
            ("RATE_LIMIT_MAX_BURST", "3"),
        ],
    )
    .await;
    let c = server.client();
    let (_, token) = c.admin().await;
    let mut allowed = 0;
    for _ in 0..4 {
        let d = check(&c, &token, "k").await;
        assert_eq!(d["degraded"], true);
        allowed += usize::from(d["allowed"] == true);
    }
    assert_eq!(allowed, 3, "the whole burst: N = 1");
    let ready = c.get("/readyz", Auth::None).await.json;
    assert_eq!(
        (ready["redis"].as_str(), ready["servers_seen"].as_u64()),
        (Some("down"), Some(0)),
        "{ready}"
    );
}
