//! flowgate's decision in Redis beside limitador's, on the same twelve limits (four scopes of
//! three windows: `flowgate_bench::full_config`, as limitador's limits with conditions on the
//! request's platform and endpoint).
//!
//! - flowgate: `flowgate_redis::RedisLimiter::is_allowed`, one `EVALSHA` that checks every
//!   bucket and spends from all of them or none;
//! - limitador: `AsyncRateLimiter` over `AsyncRedisStorage`, its exact storage (not the
//!   batched, cached one): it reads every counter, then updates them in a pipeline.
//!
//! Both from one process with `TASKS` concurrent callers on two runtime threads, against the
//! same Redis, over 100,000 keys in a fixed pseudo-random order; the contenders take turns,
//! `ROUNDS` rounds of `SECONDS` each, Redis emptied before each turn.
//!
//! Usage: `flowgate-bench-redis REDIS_URL [SECONDS=10] [TASKS=64] [ROUNDS=3]`

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flowgate_bench::{full_config, limitador_limits, visit_order};
use flowgate_core::ratelimit::{Limits, Request};
use flowgate_redis::RedisLimiter;
use limitador::storage::redis::AsyncRedisStorage;

const KEYS: usize = 100_000;

enum Contender {
    Flowgate(RedisLimiter, Limits),
    Limitador(limitador::AsyncRateLimiter, limitador::limit::Namespace),
}

impl Contender {
    fn name(&self) -> &'static str {
        match self {
            Contender::Flowgate(..) => "flowgate (one script)",
            Contender::Limitador(..) => "limitador (AsyncRedisStorage)",
        }
    }

    /// One decision for `key`, a request to `media` on `mastodon`: whether it was allowed.
    async fn check(&self, key: &str) -> bool {
        match self {
            Contender::Flowgate(redis, limits) => {
                let request = Request::new(Some("media"), Some("mastodon"));
                let checked = redis.is_allowed(limits, key, &request, None).await;
                checked.expect("flowgate decides").decision.allowed
            }
            Contender::Limitador(limiter, namespace) => {
                let context = limitador::limit::Context::from(HashMap::from([
                    ("key".to_string(), key.to_string()),
                    ("platform".to_string(), "mastodon".to_string()),
                    ("endpoint".to_string(), "media".to_string()),
                ]));
                let result = limiter
                    .check_rate_limited_and_update(namespace, &context, 1)
                    .await
                    .expect("limitador decides");
                !result.limited
            }
        }
    }
}

struct Turn {
    decisions: usize,
    allowed: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Turn {
    fn per_second(&self) -> f64 {
        self.decisions as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> u32 {
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(i).copied().unwrap_or(0)
    }
}

async fn drive(
    contender: Arc<Contender>,
    keys: Arc<Vec<String>>,
    order: Arc<Vec<usize>>,
    tasks: usize,
    seconds: u64,
) -> Turn {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (contender, keys, order, next) = (
                Arc::clone(&contender),
                Arc::clone(&keys),
                Arc::clone(&order),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                let (mut allowed, mut latencies) = (0, Vec::new());
                while Instant::now() < end {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let key = &keys[order[i % order.len()]];
                    let asked = Instant::now();
                    allowed += usize::from(contender.check(key).await);
                    latencies.push(u32::try_from(asked.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                (allowed, latencies)
            })
        })
        .collect();
    let mut turn = Turn {
        decisions: 0,
        allowed: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for handle in handles {
        let (allowed, latencies) = handle.await.expect("a caller");
        turn.allowed += allowed;
        turn.decisions += latencies.len();
        turn.latencies_us.extend(latencies);
    }
    turn.elapsed = start.elapsed();
    turn.latencies_us.sort_unstable();
    turn
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .expect("usage: flowgate-bench-redis REDIS_URL [SECONDS] [TASKS] [ROUNDS]")
        .clone();
    let number = |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let (seconds, tasks, rounds) = (number(2, 10), number(3, 64) as usize, number(4, 3));

    let config = full_config();
    let flowgate = Contender::Flowgate(
        RedisLimiter::new(&url, Duration::from_secs(10)).expect("a Redis URL"),
        Limits::new(&config).expect("valid limits"),
    );
    let storage = AsyncRedisStorage::new(&url).await.expect("limitador connects");
    let limiter = limitador::AsyncRateLimiter::new_with_storage(Box::new(storage));
    let limits = limitador_limits(&config);
    for limit in &limits {
        limiter.add_limit(limit.limit("bench"));
    }
    let limitador = Contender::Limitador(limiter, "bench".into());
    let contenders = [Arc::new(flowgate), Arc::new(limitador)];

    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("user-{i}")).collect());
    let order = Arc::new(visit_order(KEYS));
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    // Emptying a million keys takes longer than the default response timeout.
    let patient = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .expect("Redis answers");
    println!(
        "{} limits per decision, {tasks} concurrent callers, {seconds} s turns, {rounds} rounds, {} cores",
        limits.len(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for round in 1..=rounds {
        for (c, contender) in contenders.iter().enumerate() {
            let _: () = redis::cmd("FLUSHALL")
                .query_async(&mut connection)
                .await
                .expect("FLUSHALL");
            let turn = drive(Arc::clone(contender), Arc::clone(&keys), Arc::clone(&order), tasks, seconds).await;
            println!(
                "round {round}  {:<30} {:>8.0} decisions/s  p50 {:>6} µs  p99 {:>6} µs  allowed {:.1} %",
                contender.name(),
                turn.per_second(),
                turn.percentile(0.50),
                turn.percentile(0.99),
                turn.allowed as f64 * 100.0 / turn.decisions.max(1) as f64
            );
            rates[c].push(turn.per_second());
            p99s[c].push(f64::from(turn.percentile(0.99)));
        }
    }
    println!();
    println!("| contender | decisions/s (median) | p99 µs (median) |");
    println!("|---|---:|---:|");
    for (c, contender) in contenders.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.0} |",
            contender.name(),
            median(rates[c].clone()),
            median(p99s[c].clone())
        );
    }
    println!(
        "flowgate / limitador, decisions per second: {:.2}",
        median(rates[0].clone()) / median(rates[1].clone())
    );
}
