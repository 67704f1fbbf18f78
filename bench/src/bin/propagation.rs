//! How long a change made on one server takes to govern another: from server A's 2xx answer to
//! server B's first answer that reflects it, for a limits PUT and for a token deletion.
//!
//! Usage: `propagation BASE_A BASE_B ADMIN_TOKEN [TIMES=50]` (both servers on one PostgreSQL;
//! `bench/load/several.sh` starts them). Prints p50, p99 and the largest, in milliseconds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `reflects` every millisecond; the time from `since` until it says yes.
async fn until<F: Future<Output = bool>>(
    since: Instant,
    mut reflects: impl FnMut() -> F,
) -> Duration {
    loop {
        if reflects().await {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "not reflected within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}: {} changes, p50 {:.1} ms, p99 {:.1} ms, largest {:.1} ms (goal: 1000 ms)",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, a, b, token, ..] = args.as_slice() else {
        panic!("usage: propagation BASE_A BASE_B ADMIN_TOKEN [TIMES]");
    };
    let times: usize = args.get(4).map_or(50, |t| t.parse().expect("a number"));
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;

    let mut limits = Vec::new();
    for i in 0..times {
        let per_minute = 1_000 + i as u64;
        let document = json!({"requests_per_minute": per_minute, "max_burst": 10});
        let (status, _) = send(
            &http,
            reqwest::Method::PUT,
            format!("{a}/api/v1/limits"),
            token,
            Some(document),
        )
        .await;
        assert!(status.is_success(), "PUT limits: {status}");
        let answered = Instant::now();
        let key = format!("propagation-{i}");
        limits.push(
            until(answered, || {
                let (http, b, token, key, post) = (&http, b, token, &key, post.clone());
                async move {
                    let (_, d) = send(
                        http,
                        post,
                        format!("{b}/api/v1/limits/check"),
                        token,
                        Some(json!({"key": key})),
                    )
                    .await;
                    d["buckets"][0]["limit"] == per_minute
                }
            })
            .await,
        );
    }
    report("limits PUT on A, governing B", limits);

    let mut deletions = Vec::new();
    for i in 0..times {
        let (status, made) = send(
            &http,
            post.clone(),
            format!("{a}/api/v1/tokens"),
            token,
            Some(json!({"name": format!("p{i}")})),
        )
        .await;
        assert!(status.is_success(), "POST token: {status}");
        let worker = made["token"].as_str().expect("a token").to_string();
        // B checks it once, and caches it.
        let (status, _) = send(
            &http,
            reqwest::Method::GET,
            format!("{b}/api/v1/auth/me"),
            &worker,
            None,
        )
        .await;
        assert!(status.is_success(), "B takes the token: {status}");
        let (status, _) = send(
            &http,
            reqwest::Method::DELETE,
            format!("{a}/api/v1/tokens/{}", made["id"]),
            token,
            None,
        )
        .await;
        assert!(status.is_success(), "DELETE token: {status}");
        let answered = Instant::now();
        deletions.push(
            until(answered, || {
                let (http, b, worker) = (&http, b, &worker);
                async move {
                    let (status, _) = send(
                        http,
                        reqwest::Method::GET,
                        format!("{b}/api/v1/auth/me"),
                        worker,
                        None,
                    )
                    .await;
                    status == reqwest::StatusCode::UNAUTHORIZED
                }
            })
            .await,
        );
    }
    report("token deleted on A, refused by B", deletions);
}
