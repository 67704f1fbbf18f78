//! SSE fan-out: N subscribers on one task's event stream; how long from a progress `PUT` until
//! the last subscriber has the update, and how much server memory each subscriber costs.
//!
//! `cargo run --release -p flowgate-bench --bin sse_fanout -- <path to flowgate-server> 1000 10000`
//! (`bench/load/sse.sh` builds the server and raises the open-files limit first).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Progress updates per run; each waits until every subscriber has it.
const UPDATES: u64 = 20;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server = args
        .next()
        .expect("usage: sse_fanout <flowgate-server> <subscribers>...");
    let counts: Vec<usize> = args
        .map(|a| a.parse().expect("a subscriber count"))
        .collect();
    for n in counts {
        run(&server, n).await;
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(server: &str, n: usize) {
    let dir = std::env::temp_dir().join(format!("flowgate-sse-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut child = tokio::process::Command::new(server)
        .env("FLOWGATE_ADDR", "127.0.0.1:0")
        .env(
            "FLOWGATE_DATABASE_URL",
            format!("sqlite://{}", dir.join("fg.db").display()),
        )
        .env("FLOWGATE_ADMIN_PASSWORD", "sse-bench-password")
        .env("FLOWGATE_LOG", "warn")
        // Every subscriber connects from the same address with the same token.
        .env("FLOWGATE_API_REQUESTS_PER_MINUTE", "1000000")
        .env("FLOWGATE_API_REQUESTS_PER_HOUR", "10000000")
        .env("FLOWGATE_API_REQUESTS_PER_DAY", "100000000")
        .env("FLOWGATE_API_MAX_BURST", "1000000")
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
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "sse-bench-password"}))
        .send()
        .await
        .expect("login");
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_string();
    let token: serde_json::Value = http
        .post(format!("{base}/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .json(&serde_json::json!({"name": "sse"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let bearer = format!("Bearer {}", token["token"].as_str().expect("token"));
    let task: serde_json::Value = http
        .post(format!("{base}/api/v1/tasks"))
        .header("authorization", &bearer)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("task")
        .json()
        .await
        .expect("task json");
    let id = task["task_id"].as_str().expect("task id").to_string();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_kib(pid);
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let url = Arc::new(format!("{base}/api/v1/tasks/{id}/events"));
    let bearer = Arc::new(bearer);
    for _ in 0..n {
        let (tx, url, bearer) = (tx.clone(), Arc::clone(&url), Arc::clone(&bearer));
        // One connection per subscriber, as browsers would have.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        tokio::spawn(async move {
            let mut response = loop {
                match client
                    .get(url.as_str())
                    .header("authorization", bearer.as_str())
                    .send()
                    .await
                {
                    Ok(r) => break r,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                let now = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find('\n') {
                    let line: String = buffer.drain(..=end).collect();
                    if let Some(seq) = line
                        .strip_prefix("id: ")
                        .and_then(|s| s.trim().parse().ok())
                    {
                        let _ = tx.send((seq, now));
                    }
                }
            }
        });
    }
    drop(tx);
    // Everyone connected: each has the initial snapshot (id 0).
    let mut connected = 0;
    let connect_start = Instant::now();
    while connected < n {
        let (seq, _) = rx.recv().await.expect("subscribers");
        if seq == 0 {
            connected += 1;
        }
    }
    let connect_time = connect_start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);

    let mut last_latencies = Vec::new();
    let mut all_latencies = Vec::new();
    for seq in 1..=UPDATES {
        let start = Instant::now();
        let put = http
            .put(format!("{base}/api/v1/tasks/{id}/progress"))
            .header("authorization", bearer.as_str())
            .json(&serde_json::json!({"current_step": "captioning", "progress_percent": seq * 4}))
            .send()
            .await
            .expect("put");
        assert!(put.status().is_success(), "{}", put.status());
        let mut seen = 0;
        let mut last = start;
        while seen < n {
            let (got, at) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .expect("all subscribers within 60 s")
                .expect("subscribers");
            if got == seq {
                seen += 1;
                all_latencies.push(at - start);
                last = last.max(at);
            }
        }
        last_latencies.push(last - start);
    }
    last_latencies.sort();
    all_latencies.sort();
    let per_subscriber = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;
    println!(
        "{n:>6} subscribers: connected in {:.2} s; PUT -> last subscriber p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         PUT -> any subscriber p50 {:.1} ms, p99 {:.1} ms; server RSS {} -> {} KiB, {per_subscriber:.1} KiB per subscriber",
        connect_time.as_secs_f64(),
        percentile(&last_latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&last_latencies, 0.99).as_secs_f64() * 1e3,
        last_latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        percentile(&all_latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&all_latencies, 0.99).as_secs_f64() * 1e3,
        rss_before,
        rss_after,
    );
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
