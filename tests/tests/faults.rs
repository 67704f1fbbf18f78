//! Faults injected into a real server process on a real SQLite file: killed with SIGKILL at
//! random moments under load, and (as root) its disk filled to the brim. Nothing acknowledged
//! is lost, the database stays whole, and the server recovers by itself.

use std::path::Path;
use std::time::Duration;

use flowgate_tests::{Auth, Body, Client, Reply, Server, SseStream, UNLIMITED_API};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{ConnectOptions as _, sqlite::SqliteConnectOptions};

/// `PRAGMA integrity_check` of the database in `dir`, run while no server has it open.
async fn integrity_check(dir: &Path) -> String {
    let mut db = SqliteConnectOptions::new()
        .filename(dir.join("flowgate.db"))
        .connect()
        .await
        .expect("open the database after the crash");
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .unwrap();
    drop(db);
    verdict
}

/// What a writer had acknowledged when the server died, and what it had sent without an answer.
#[derive(Debug, Default, Clone, Copy)]
struct Writes {
    /// The last acknowledged write: (its number, the sequence or version the server gave it).
    acked: Option<(u64, u64)>,
    /// The number of the write in flight when the connection broke, if any.
    in_flight: Option<u64>,
}

/// PUTs progress as fast as it can, each update numbered in its details; every acknowledged
/// sequence number is the one before it plus one.
async fn progress_writer(
    c: Client,
    token: String,
    task: String,
    mut n: u64,
    mut seq: u64,
) -> Writes {
    let path = format!("/api/v1/tasks/{task}/progress");
    let mut writes = Writes::default();
    loop {
        n += 1;
        let body = json!({"current_step": format!("update {n}"), "progress_percent": 50, "details": {"n": n}});
        let Some(r) = send(&c, Method::PUT, &path, &body, &token).await else {
            writes.in_flight = Some(n);
            return writes;
        };
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let acked = r.json["seq"].as_u64().unwrap();
        assert_eq!(
            acked,
            seq + 1,
            "acknowledged sequence numbers run without a hole"
        );
        seq = acked;
        writes.acked = Some((n, seq));
    }
}

/// PUTs the limits as fast as it can, `requests_per_minute` numbering each change.
async fn limits_writer(c: Client, token: String, mut n: u64) -> Writes {
    let mut writes = Writes::default();
    loop {
        n += 1;
        let body = json!({"requests_per_minute": 1000 + n, "requests_per_hour": 1_000_000,
                          "requests_per_day": 10_000_000, "max_burst": 10});
        let Some(r) = send(&c, Method::PUT, "/api/v1/limits", &body, &token).await else {
            writes.in_flight = Some(n);
            return writes;
        };
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        writes.acked = Some((n, etag(&r.headers)));
    }
}

/// Reports retries of one operation as fast as it can.
async fn retry_writer(c: Client, token: String) -> Writes {
    let mut writes = Writes::default();
    let mut n = 0;
    let body = json!({"operation": "crash", "attempts": 1, "outcome": "success", "delays": [], "failures": []});
    loop {
        n += 1;
        let Some(r) = send(&c, Method::POST, "/api/v1/retry/report", &body, &token).await else {
            writes.in_flight = Some(n);
            return writes;
        };
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        writes.acked = Some((n, r.json["stats"]["calls"].as_u64().unwrap()));
    }
}

/// Reads the task's event stream until it breaks; returns the last id seen. Ids strictly
/// increase, and each is the sequence number of the snapshot it carries.
async fn subscriber(c: Client, token: String, task: String, mut last: Option<u64>) -> Option<u64> {
    let path = format!("/api/v1/tasks/{task}/events");
    let Ok(mut stream) = SseStream::try_open(&c, &path, Auth::Bearer(&token), last).await else {
        return last;
    };
    if stream.status != StatusCode::OK {
        return last;
    }
    while let Some(event) = stream.next(Duration::from_secs(30)).await {
        let id: u64 = event.id.as_deref().unwrap().parse().unwrap();
        assert!(last.is_none_or(|l| id > l), "event id {id} after {last:?}");
        assert_eq!(event.json()["seq"].as_u64(), Some(id));
        last = Some(id);
    }
    last
}

/// A write that may meet a dying server: `None` when no answer came.
async fn send(c: &Client, method: Method, path: &str, body: &Value, token: &str) -> Option<Reply> {
    c.try_send(method, path, Body::Json(body), Auth::Bearer(token))
        .await
        .ok()
}

fn etag(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// After a crash, a writer's stored state is its last acknowledged write (or, if it had none
/// this round, what was stored before), or the one in flight (committed, its answer lost):
/// never older, never anything else.
fn assert_kept(what: &str, before: (u64, u64), writes: Writes, stored: (u64, u64)) {
    let acked = writes.acked.unwrap_or(before);
    let in_flight_committed = writes.in_flight == Some(stored.0) && stored.1 == acked.1 + 1;
    assert!(
        stored == acked || in_flight_committed,
        "{what}: stored {stored:?} after acknowledging {acked:?} with {:?} in flight",
        writes.in_flight
    );
}

#[tokio::test]
async fn killed_at_random_under_load_twenty_times_loses_nothing_acknowledged() {
    let seed = std::env::var("FLOWGATE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_204);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), UNLIMITED_API).await;
    let c = server.client();
    let (_, token) = c.admin().await;
    let task = c.task(Auth::Bearer(&token)).await;
    let progress_path = format!("/api/v1/tasks/{task}/progress");
    // What is stored, as (write number, sequence or version), carried from crash to crash.
    let mut progress = (0, 0);
    let mut limits = (0, 1);
    let mut reports = 0;
    let mut last_event = None;
    for round in 0..20 {
        let c = server.client();
        let load = (
            tokio::spawn(progress_writer(
                c.clone(),
                token.clone(),
                task.clone(),
                progress.0,
                progress.1,
            )),
            tokio::spawn(limits_writer(c.clone(), token.clone(), limits.0)),
            tokio::spawn(retry_writer(c.clone(), token.clone())),
            tokio::spawn(subscriber(
                c.clone(),
                token.clone(),
                task.clone(),
                last_event,
            )),
        );
        tokio::time::sleep(Duration::from_millis(rng.u64(20..400))).await;
        let dir = server.kill().await;
        let (p, l, r, s) = load;
        let (p, l, r) = (p.await.unwrap(), l.await.unwrap(), r.await.unwrap());
        last_event = s.await.unwrap();
        assert_eq!(
            integrity_check(&dir).await,
            "ok",
            "round {round} (seed {seed})"
        );

        server = Server::start(&dir, UNLIMITED_API).await;
        let c = server.client();
        let stored = c.get(&progress_path, Auth::Bearer(&token)).await;
        let now = (
            stored.json["details"]["n"].as_u64().unwrap_or(0),
            stored.json["seq"].as_u64().unwrap(),
        );
        assert_kept("progress", progress, p, now);
        progress = now;

        let stored = c.get("/api/v1/limits", Auth::Bearer(&token)).await;
        let now = (
            stored.json["requests_per_minute"]
                .as_u64()
                .unwrap()
                .saturating_sub(1000),
            etag(&stored.headers),
        );
        assert_kept("limits", limits, l, now);
        limits = now;

        let stats = c
            .get("/api/v1/retry/stats?detailed=true", Auth::Bearer(&token))
            .await;
        let calls = stats.json["operations"]["crash"]["calls"]
            .as_u64()
            .unwrap_or(0);
        let acked = r.acked.map_or(reports, |(_, calls)| calls);
        assert!(
            calls == acked || (r.in_flight.is_some() && calls == acked + 1),
            "round {round}: {calls} reports stored, {acked} acknowledged"
        );
        reports = calls;
    }
    assert!(
        progress.1 > 20 && reports > 20,
        "the load ran: {progress:?}, {reports} reports"
    );
}

/// Mounts a 4 MiB tmpfs over the database's directory in a mount namespace of the server's
/// own (`unshare -m`, which needs root), then runs the server there.
const SMALL_DISK: &str = "mount -t tmpfs -o size=4m flowgate-full \"$1\" && shift && exec \"$@\"";

/// Runs `args` in the server's mount namespace, where its small disk is.
fn in_servers_namespace(server: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new("nsenter")
        .args(["-t", &server.pid().to_string(), "-m", "--"])
        .args(args)
        .output()
        .expect("nsenter (util-linux) must be installed")
}

#[tokio::test]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().display().to_string();
    // A server that cannot mount (not root, or no mount namespaces here) fails to start, and
    // this test fails with its stderr: it never passes without a full disk.
    let server = Server::start_wrapped(
        dir.path(),
        UNLIMITED_API,
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            SMALL_DISK,
            "sh",
            &mount,
        ],
    )
    .await;
    let df = in_servers_namespace(&server, &["df", "-k", &mount]);
    let df = String::from_utf8_lossy(&df.stdout);
    assert!(
        df.contains("flowgate-full"),
        "the database is not on the small disk: {df}"
    );

    let c = server.client();
    let (_, token) = c.admin().await;
    let auth = Auth::Bearer(&token);
    let task = c.task(auth).await;
    let progress = format!("/api/v1/tasks/{task}/progress");
    let update = |n: u64| {
        json!({"current_step": format!("update {n}"), "progress_percent": 10,
               "details": {"n": n, "padding": "x".repeat(8000)}})
    };
    assert_eq!(
        c.put(&progress, &update(1), auth).await.status,
        StatusCode::OK
    );

    // Filled to the brim: dd stops when nothing more fits.
    let fill = in_servers_namespace(
        &server,
        &["dd", "if=/dev/zero", &format!("of={mount}/filler"), "bs=4k"],
    );
    let said = String::from_utf8_lossy(&fill.stderr);
    assert!(
        said.contains("No space left"),
        "dd did not fill the disk: {said}"
    );

    // Writes go on until one needs space that is not there; that one is a named 503.
    let mut acked = 1;
    let refused = loop {
        let r = c.put(&progress, &update(acked + 1), auth).await;
        if r.status != StatusCode::OK {
            break r;
        }
        acked += 1;
        assert!(acked < 1000, "writes kept succeeding on a full disk");
    };
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert!(refused.headers.contains_key("retry-after"));
    assert!(
        refused.json["detail"].as_str().unwrap().contains("full"),
        "{}",
        refused.text
    );
    let limits = c.get("/api/v1/limits", auth).await;
    let put_limits = c.put("/api/v1/limits", &limits.json, auth).await;
    assert_eq!(
        put_limits.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        put_limits.text
    );
    let report = json!({"operation": "full", "attempts": 1, "outcome": "success", "delays": [], "failures": []});
    let r = c.post("/api/v1/retry/report", &report, auth).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);

    // Reads keep working, and show every acknowledged write.
    let stored = c.get(&progress, auth).await;
    assert_eq!(
        (stored.status, stored.json["details"]["n"].as_u64()),
        (StatusCode::OK, Some(acked))
    );
    assert_eq!(c.get("/api/v1/limits", auth).await.json, limits.json);
    assert_eq!(c.get("/api/v1/tasks", auth).await.status, StatusCode::OK);
    let decision = c
        .post("/api/v1/limits/check", &json!({"key": "k"}), auth)
        .await;
    assert_eq!(decision.json["allowed"], true, "{}", decision.text);

    // Space returns; the server takes writes again by itself.
    let grow = in_servers_namespace(&server, &["mount", "-o", "remount,size=64m", &mount]);
    assert!(
        grow.status.success(),
        "{}",
        String::from_utf8_lossy(&grow.stderr)
    );
    let after = c.put(&progress, &update(acked + 1), auth).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    let r = c.post("/api/v1/retry/report", &report, auth).await;
    assert_eq!(r.status, StatusCode::OK, "{}\n{}", r.text, server.logs());
    let stored = c.get(&progress, auth).await;
    assert_eq!(stored.json["details"]["n"].as_u64(), Some(acked + 1));
    assert!(!server.logs().contains("panicked"), "{}", server.logs());
}
