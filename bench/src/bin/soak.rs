//! The soak: a release server under a mixed load for ten minutes (decisions, tasks with
//! progress and a subscriber each, retry reports, logins and logouts), its resident memory and
//! open file descriptors read at 1, 5 and 10 minutes. It fails when any request fails, when
//! memory at the end is more than 1.1 times the 1-minute figure, or when descriptors moved by
//! more than 10.
//!
//! `bench/load/soak.sh [seconds]` (default 600; the checkpoints are at a tenth, a half and the
//! end of the run).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const PASSWORD: &str = "soak-admin-password";

/// What the load did, counted by every worker.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    errors: AtomicU64,
    events: AtomicU64,
}

impl Counts {
    fn ok(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self, what: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.errors.fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("error: {what}");
        }
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server = args
        .next()
        .expect("usage: soak <flowgate-server> [seconds]");
    let seconds: u64 = args.next().map_or(600, |s| s.parse().expect("seconds"));
    let dir = std::env::temp_dir().join(format!("flowgate-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut child = tokio::process::Command::new(&server)
        .env("FLOWGATE_ADDR", "127.0.0.1:0")
        .env(
            "FLOWGATE_DATABASE_URL",
            format!("sqlite://{}", dir.join("fg.db").display()),
        )
        .env("FLOWGATE_ADMIN_PASSWORD", PASSWORD)
        .env("FLOWGATE_LOG", "warn")
        .env("FLOWGATE_API_REQUESTS_PER_MINUTE", "1000000")
        .env("FLOWGATE_API_REQUESTS_PER_HOUR", "100000000")
        .env("FLOWGATE_API_REQUESTS_PER_DAY", "1000000000")
        .env("FLOWGATE_API_MAX_BURST", "1000000")
        .env("FLOWGATE_LOGIN_REQUESTS_PER_MINUTE", "100000")
        .env("FLOWGATE_LOGIN_REQUESTS_PER_HOUR", "1000000")
        .env("FLOWGATE_LOGIN_REQUESTS_PER_DAY", "10000000")
        .env("FLOWGATE_LOGIN_MAX_BURST", "100000")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let pid = child.id().expect("pid");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("server exited");
        if let Some(url) = line.strip_prefix("flowgate listening on ") {
            break url.to_string();
        }
    };
    let http = reqwest::Client::new();
    let cookie = login(&http, &base).await.expect("login");
    let token: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .json(&json!({"name": "soak"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let bearer = Arc::new(format!(
        "Bearer {}",
        token["token"].as_str().expect("token")
    ));
    let base = Arc::new(base);
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));

    let mut workers = Vec::new();
    for worker in 0..2 {
        let (http, base, bearer, counts, stop) = (
            http.clone(),
            base.clone(),
            bearer.clone(),
            counts.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n: u64 = worker;
            while !stop.load(Ordering::Relaxed) {
                n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let body = json!({"key": format!("user-{}", (n >> 33) % 10_000), "platform": "mastodon",
                                  "endpoint": if n & 1 == 0 { "media" } else { "statuses" }});
                match http.post(format!("{base}/api/v1/limits/check")).header("authorization", bearer.as_str()).json(&body).send().await {
                    Ok(r) if r.status() == 200 => counts.ok(),
                    Ok(r) => counts.fail(&format!("decision: {}", r.status())),
                    Err(e) => counts.fail(&format!("decision: {e}")),
                }
            }
        }));
    }
    for _ in 0..2 {
        let (http, base, bearer, counts, stop) = (
            http.clone(),
            base.clone(),
            bearer.clone(),
            counts.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = caption_task(&http, &base, &bearer, &counts).await {
                    counts.fail(&format!("task: {e}"));
                }
            }
        }));
    }
    {
        let (http, base, bearer, counts, stop) = (
            http.clone(),
            base.clone(),
            bearer.clone(),
            counts.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"operation": format!("soak-{}", n % 50), "attempts": 2, "outcome": "success",
                                  "delays": [0.5], "failures": [{"kind": "status", "status": 503}]});
                match http.post(format!("{base}/api/v1/retry/report")).header("authorization", bearer.as_str()).json(&body).send().await {
                    Ok(r) if r.status() == 200 => counts.ok(),
                    Ok(r) => counts.fail(&format!("retry report: {}", r.status())),
                    Err(e) => counts.fail(&format!("retry report: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    {
        let (base, counts, stop) = (base.clone(), counts.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // A client of its own: each login is a new browser.
                let http = reqwest::Client::new();
                match login(&http, &base).await {
                    Ok(cookie) => {
                        counts.ok();
                        let out = http
                            .post(format!("{base}/api/v1/auth/logout"))
                            .header("cookie", &cookie)
                            .header("origin", base.as_str())
                            .send()
                            .await;
                        match out {
                            Ok(r) if r.status().is_success() => counts.ok(),
                            Ok(r) => counts.fail(&format!("logout: {}", r.status())),
                            Err(e) => counts.fail(&format!("logout: {e}")),
                        }
                    }
                    Err(e) => counts.fail(&format!("login: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }

    let start = Instant::now();
    println!("| after | requests | errors | events | RSS (MiB) | peak RSS (MiB) | open fds |");
    println!("|---|---|---|---|---|---|---|");
    let mut figures = Vec::new();
    for fraction in [0.1, 0.5, 1.0] {
        let at = Duration::from_secs_f64(seconds as f64 * fraction);
        tokio::time::sleep(at.saturating_sub(start.elapsed())).await;
        let (rss, peak, fds) = (
            status_kib(pid, "VmRSS:"),
            status_kib(pid, "VmHWM:"),
            open_fds(pid),
        );
        println!(
            "| {} s | {} | {} | {} | {:.1} | {:.1} | {} |",
            at.as_secs(),
            counts.requests.load(Ordering::Relaxed),
            counts.errors.load(Ordering::Relaxed),
            counts.events.load(Ordering::Relaxed),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            fds
        );
        figures.push((rss, fds));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    let errors = counts.errors.load(Ordering::Relaxed);
    let (rss_first, fds_first) = figures[0];
    let (rss_last, fds_last) = figures[2];
    let mut failed = Vec::new();
    if errors > 0 {
        failed.push(format!("{errors} requests failed"));
    }
    if rss_last as f64 > rss_first as f64 * 1.1 {
        failed.push(format!(
            "memory grew from {rss_first} KiB to {rss_last} KiB (more than 1.1x)"
        ));
    }
    if fds_last.abs_diff(fds_first) > 10 {
        failed.push(format!(
            "open descriptors moved from {fds_first} to {fds_last}"
        ));
    }
    if failed.is_empty() {
        println!("soak passed");
    } else {
        println!("soak FAILED: {}", failed.join("; "));
        std::process::exit(1);
    }
}

/// Logs in as the admin; the session cookie (`flowgate_session=…`).
async fn login(http: &reqwest::Client, base: &str) -> Result<String, String> {
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("login: {}", r.status()));
    }
    r.headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| "no session cookie".into())
}

/// One caption task: created, watched by a subscriber, 20 progress updates, completed; the
/// subscriber must see its ids increase and end at `done`.
async fn caption_task(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    counts: &Arc<Counts>,
) -> Result<(), String> {
    let task: Value = http
        .post(format!("{base}/api/v1/tasks"))
        .header("authorization", bearer)
        .json(&json!({"settings": {"max_posts": 20}}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    counts.ok();
    let id = task["task_id"].as_str().ok_or("no task id")?.to_string();
    let mut events = http
        .get(format!("{base}/api/v1/tasks/{id}/events"))
        .header("authorization", bearer)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if events.status() != 200 {
        return Err(format!("events: {}", events.status()));
    }
    let counts_sub = Arc::clone(counts);
    let subscriber = tokio::spawn(async move {
        let (mut buffer, mut last, mut done) = (String::new(), None::<u64>, false);
        while let Ok(Some(chunk)) = events.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                if let Some(seq) = line
                    .strip_prefix("id: ")
                    .and_then(|s| s.trim().parse().ok())
                {
                    if last.is_some_and(|l| seq <= l) {
                        return Err(format!("event id {seq} after {last:?}"));
                    }
                    last = Some(seq);
                    counts_sub.events.fetch_add(1, Ordering::Relaxed);
                }
                done |= line.starts_with("event: done");
            }
        }
        if done {
            Ok(())
        } else {
            Err("the stream ended without done".to_string())
        }
    });
    for step in 1..=20u64 {
        let (status, percent) = if step == 20 {
            ("completed", 100)
        } else {
            ("running", step * 5)
        };
        let body = json!({"current_step": format!("captioning image {step}"), "progress_percent": percent,
                          "status": status, "details": {"images_processed": step, "total_images": 20}});
        let r = http
            .put(format!("{base}/api/v1/tasks/{id}/progress"))
            .header("authorization", bearer)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!(
                "progress: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
        counts.ok();
    }
    match tokio::time::timeout(Duration::from_secs(30), subscriber).await {
        Ok(Ok(Ok(()))) => {
            counts.ok();
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the subscriber did not see done within 30 s".into()),
    }
}
