//! The soak: a release server under a mixed load for ten minutes (decisions, tasks with
//! progress and a subscriber each, retry reports, logins and logouts), its resident memory and
//! open file descriptors read at 1, 5 and 10 minutes. It fails when any request fails, when
//! memory at the end is more than 1.1 times the 1-minute figure, or when descriptors moved by
//! more than 10.
//!
//! `bench/load/soak.sh [seconds]` (default 600; the checkpoints are at a tenth, a half and the
//! end of the run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowgate_bench::server::BenchServer;
use serde_json::{Value, json};

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

/// What every worker shares.
#[derive(Clone)]
struct Load {
    http: reqwest::Client,
    base: Arc<str>,
    bearer: Arc<str>,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl Load {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// POSTs `body` to `path` with the token, counting a 200 as done and anything else as a
    /// failure of `what`.
    async fn post(&self, what: &str, path: &str, body: &Value) {
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", &*self.bearer)
            .json(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => self.counts.ok(),
            Ok(r) => self.counts.fail(&format!("{what}: {}", r.status())),
            Err(e) => self.counts.fail(&format!("{what}: {e}")),
        }
    }
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
    let server = BenchServer::start(
        &server,
        "soak",
        &[
            ("FLOWGATE_LOGIN_REQUESTS_PER_MINUTE", "100000"),
            ("FLOWGATE_LOGIN_REQUESTS_PER_HOUR", "1000000"),
            ("FLOWGATE_LOGIN_REQUESTS_PER_DAY", "10000000"),
            ("FLOWGATE_LOGIN_MAX_BURST", "100000"),
        ],
    )
    .await;
    let server = Arc::new(server);
    let http = reqwest::Client::new();
    let load = Load {
        bearer: Arc::from(server.bearer(&http).await),
        http,
        base: Arc::from(server.base.as_str()),
        counts: Arc::default(),
        stop: Arc::default(),
    };
    let counts = Arc::clone(&load.counts);

    let mut workers = Vec::new();
    for worker in 0..2 {
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            let mut n: u64 = worker;
            while load.running() {
                n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let body = json!({"key": format!("user-{}", (n >> 33) % 10_000), "platform": "mastodon",
                                  "endpoint": if n & 1 == 0 { "media" } else { "statuses" }});
                load.post("decision", "/api/v1/limits/check", &body).await;
            }
        }));
    }
    for _ in 0..2 {
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            while load.running() {
                if let Err(e) = caption_task(&load).await {
                    load.counts.fail(&format!("task: {e}"));
                }
            }
        }));
    }
    {
        let load = load.clone();
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while load.running() {
                n += 1;
                let body = json!({"operation": format!("soak-{}", n % 50), "attempts": 2, "outcome": "success",
                                  "delays": [0.5], "failures": [{"kind": "status", "status": 503}]});
                load.post("retry report", "/api/v1/retry/report", &body).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    {
        let (load, server) = (load.clone(), Arc::clone(&server));
        workers.push(tokio::spawn(async move {
            while load.running() {
                // A client of its own: each login is a new browser.
                let http = reqwest::Client::new();
                match server.login(&http).await {
                    Ok(cookie) => {
                        load.counts.ok();
                        let out = http
                            .post(format!("{}/api/v1/auth/logout", load.base))
                            .header("cookie", &cookie)
                            .header("origin", &*load.base)
                            .send()
                            .await;
                        match out {
                            Ok(r) if r.status().is_success() => load.counts.ok(),
                            Ok(r) => load.counts.fail(&format!("logout: {}", r.status())),
                            Err(e) => load.counts.fail(&format!("logout: {e}")),
                        }
                    }
                    Err(e) => load.counts.fail(&format!("login: {e}")),
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
            server.status_kib("VmRSS:"),
            server.status_kib("VmHWM:"),
            open_fds(server.pid),
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
    load.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
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

/// One caption task: created, watched by a subscriber, 20 progress updates, completed; the
/// subscriber must see its ids increase and end at `done`.
async fn caption_task(load: &Load) -> Result<(), String> {
    let (http, base, bearer, counts) = (&load.http, &*load.base, &*load.bearer, &load.counts);
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
