//! SSE fan-out: N subscribers on one task's event stream; how long from a progress `PUT` until
//! the last subscriber has the update, and how much server memory each subscriber costs.
//!
//! `cargo run --release -p flowgate-bench --bin sse_fanout -- <path to flowgate-server> 1000 10000`
//! (`bench/load/sse.sh` builds the server and raises the open-files limit first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowgate_bench::server::BenchServer;
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(server: &str, n: usize) {
    // Every subscriber is the same user, each on a connection of its own: past the server's
    // caps on streams per user and on connections.
    let server = BenchServer::start(
        server,
        &format!("sse-{n}"),
        &[
            ("FLOWGATE_MAX_STREAMS_PER_USER", "1000000"),
            ("FLOWGATE_MAX_CONNECTIONS", "1000000"),
        ],
    )
    .await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let bearer = server.bearer(&http).await;
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
    let rss_before = server.status_kib("VmRSS:");
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
    let rss_after = server.status_kib("VmRSS:");

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
    server.stop().await;
}
