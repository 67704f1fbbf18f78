//! flowgate's check beside governor's keyed limiter and limitador's in-memory limiter, on the
//! same work: 100,000 keys visited in a fixed pseudo-random order, a clock that every limiter
//! reads the same way (a counter advanced every 1,024 checks), one thread and two.
//!
//! `cargo bench -p flowgate-bench --bench limiters` prints criterion's figures, then a table of
//! ns per check with the ratios to flowgate.

use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, measurement::WallTime};
use flowgate_core::ratelimit::{
    Limits, Quota, RateLimitConfig, RateLimiter, Request, ScopeLimits, Window,
};
use governor::clock::FakeRelativeClock;
use governor::state::keyed::DashMapStateStore;

const KEYS: usize = 100_000;
/// How many checks one run visits before starting over (a power of two).
const VISITS: usize = 1 << 20;
/// The clock advances by this much every `TICK_EVERY` checks: 1 µs per check on average.
const TICK_EVERY: u64 = 1_024;
const TICK: Duration = Duration::from_micros(1_024);

/// How keys reach the limiters. Every library is given the same keys the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Each key a `String` of its own, as keys parsed from requests at run time are.
    Owned,
    /// Keys known in advance, `&'static str`s side by side in one block.
    Static,
}

impl Keys {
    const ALL: [Keys; 2] = [Keys::Owned, Keys::Static];

    fn id(self) -> &'static str {
        match self {
            Keys::Owned => "String",
            Keys::Static => "static_str",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Keys::Owned => "String",
            Keys::Static => "&'static str",
        }
    }
}

/// The keys in the order they are visited (xorshift, fixed seed: the same for everyone),
/// listed one visit after another so that finding the next key is a sequential read; what is
/// left to measure is each limiter's own work and the key's bytes.
struct Workload {
    visits: Vec<&'static str>,
    owned_visits: Vec<&'static String>,
}

impl Workload {
    fn new() -> &'static Workload {
        let arena: &'static str = Box::leak(
            (0..KEYS)
                .map(|i| format!("user-{i:06}"))
                .collect::<String>()
                .into_boxed_str(),
        );
        let keys: Vec<&'static str> = (0..KEYS).map(|i| &arena[i * 11..(i + 1) * 11]).collect();
        let owned: &'static [String] = Vec::leak(keys.iter().map(|k| k.to_string()).collect());
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let order: Vec<usize> = (0..VISITS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % KEYS as u64) as usize
            })
            .collect();
        Box::leak(Box::new(Workload {
            visits: order.iter().map(|&k| keys[k]).collect(),
            owned_visits: order.iter().map(|&k| &owned[k]).collect(),
        }))
    }

    fn key(&self, keys: Keys, i: u64) -> &'static str {
        match keys {
            Keys::Owned => self.owned(i),
            Keys::Static => self.visits[i as usize % VISITS],
        }
    }

    fn owned(&self, i: u64) -> &'static String {
        self.owned_visits[i as usize % VISITS]
    }
}

/// A clock shared by the threads of one run: nanoseconds, advanced every `TICK_EVERY` checks.
#[derive(Clone, Default)]
struct SharedClock(Arc<AtomicU64>);

impl SharedClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    fn tick(&self) {
        self.0.fetch_add(TICK.as_nanos() as u64, Ordering::Relaxed);
    }
}

type Governor<K> = governor::RateLimiter<
    K,
    DashMapStateStore<K>,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("positive")
}

fn governor_keyed<K: std::hash::Hash + Eq + Clone>(
    window: Window,
    limit: u32,
    burst: u32,
    clock: &FakeRelativeClock,
) -> Governor<K> {
    let per = Duration::from_secs(window.seconds()) / limit;
    let quota = governor::Quota::with_period(per)
        .expect("period")
        .allow_burst(nz(burst));
    governor::RateLimiter::new(quota, DashMapStateStore::default(), clock.clone())
}

/// governor's check of `windows` limiters in turn (one for the single-window work), keyed the
/// way `keys` says.
fn governor_checks(
    g: &mut BenchmarkGroup<'_, WallTime>,
    w: &'static Workload,
    threads: u64,
    keys: Keys,
    windows: &[(Window, u32, u32)],
) {
    let clock = FakeRelativeClock::default();
    let tick = || clock.advance(TICK);
    g.bench_function(BenchmarkId::new("governor", keys.id()), |b| match keys {
        Keys::Owned => {
            let limiters: Vec<Governor<String>> = windows
                .iter()
                .map(|&(window, limit, burst)| governor_keyed(window, limit, burst, &clock))
                .collect();
            b.iter_custom(|iters| {
                let check = |i| {
                    let key = w.owned(i);
                    black_box(limiters.iter().all(|l| l.check_key(key).is_ok()));
                };
                run_threads(threads, iters, &check, &tick)
            });
        }
        Keys::Static => {
            let limiters: Vec<Governor<&'static str>> = windows
                .iter()
                .map(|&(window, limit, burst)| governor_keyed(window, limit, burst, &clock))
                .collect();
            b.iter_custom(|iters| {
                let check = |i| {
                    let key = w.key(Keys::Static, i);
                    black_box(limiters.iter().all(|l| l.check_key(&key).is_ok()));
                };
                run_threads(threads, iters, &check, &tick)
            });
        }
    });
}

/// flowgate's two checks on `limits` for `request`: `check` (allowed, and the wait otherwise)
/// and `is_allowed` (the full decision, every bucket reported).
fn flowgate_checks(
    g: &mut BenchmarkGroup<'_, WallTime>,
    w: &'static Workload,
    threads: u64,
    keys: Keys,
    limits: &Limits,
    request: &Request<'_>,
) {
    g.bench_function(BenchmarkId::new("flowgate_check", keys.id()), |b| {
        let limiter = RateLimiter::from_limits(limits.clone());
        let clock = SharedClock::default();
        b.iter_custom(|iters| {
            let check = |i| {
                let a = limiter.check(w.key(keys, i), request, clock.now());
                black_box(a.map(|a| a.allowed).ok());
            };
            run_threads(threads, iters, &check, &|| clock.tick())
        });
    });
    g.bench_function(BenchmarkId::new("flowgate_is_allowed", keys.id()), |b| {
        let limiter = RateLimiter::from_limits(limits.clone());
        let clock = SharedClock::default();
        b.iter_custom(|iters| {
            let check = |i| {
                let d = limiter.is_allowed(w.key(keys, i), request, clock.now());
                black_box(d.map(|d| d.allowed).ok());
            };
            run_threads(threads, iters, &check, &|| clock.tick())
        });
    });
}

/// limitador's check of `limits` (`(max, seconds)` each) in one namespace, keyed by a variable.
fn limitador_checks(
    g: &mut BenchmarkGroup<'_, WallTime>,
    w: &'static Workload,
    threads: u64,
    limits: &[(u64, u64)],
) {
    g.bench_function(BenchmarkId::new("limitador", Keys::Owned.id()), |b| {
        let limiter = limitador::RateLimiter::new(KEYS as u64 * 4);
        for &(max, seconds) in limits {
            limiter.add_limit(limitador::limit::Limit::new(
                "bench",
                max,
                seconds,
                Vec::<limitador::limit::Predicate>::new(),
                vec!["key".try_into().expect("variable")],
            ));
        }
        let namespace: limitador::limit::Namespace = "bench".into();
        b.iter_custom(|iters| {
            let check = |i| {
                let context: limitador::limit::Context<'static> =
                    HashMap::from([("key".to_string(), w.owned(i).clone())]).into();
                let r = limiter.check_rate_limited_and_update(&namespace, &context, 1);
                black_box(r.map(|r| r.limited).ok());
            };
            run_threads(threads, iters, &check, &|| ())
        });
    });
}

/// The full check's configuration: four scopes of three windows, twelve buckets per request.
fn full_config() -> RateLimitConfig {
    let all = |m, h, d, burst| ScopeLimits {
        minute: Some(m),
        hour: Some(h),
        day: Some(d),
        burst: Some(burst),
    };
    let mut c = RateLimitConfig {
        requests_per_minute: 60,
        requests_per_hour: 1_000,
        requests_per_day: 10_000,
        max_burst: 10,
        ..Default::default()
    };
    c.platform_limits
        .insert("mastodon".into(), all(300, 5_000, 50_000, 20));
    c.endpoint_limits
        .insert("media".into(), all(30, 500, 5_000, 10));
    c.platform_endpoint_limits.insert(
        "mastodon".into(),
        [("media".to_string(), all(20, 300, 3_000, 5))].into(),
    );
    c
}

/// Runs `check(i)` `iters` times on each of `threads` threads; returns the wall time per check
/// (total time divided by all checks made).
fn run_threads(
    threads: u64,
    iters: u64,
    check: &(dyn Fn(u64) + Sync),
    tick: &(dyn Fn() + Sync),
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let offset = t * 7_919;
                for i in 0..iters {
                    if i % TICK_EVERY == 0 {
                        tick();
                    }
                    check(offset + i);
                }
            });
        }
    });
    start.elapsed() / threads as u32
}

fn benches(c: &mut Criterion, w: &'static Workload) {
    let minute = Quota::new(Window::Minute, nz(60)).with_burst(nz(10));
    let one_window = Limits::from_quotas(&[minute]).expect("quota");
    let full = Limits::new(&full_config()).expect("config");
    let media = Request::new(Some("media"), Some("mastodon"));
    for threads in [1u64, 2] {
        let mut g = c.benchmark_group(format!("keyed_1_window_{threads}_thread"));
        for keys in Keys::ALL {
            flowgate_checks(&mut g, w, threads, keys, &one_window, &Request::default());
            governor_checks(&mut g, w, threads, keys, &[(Window::Minute, 60, 10)]);
        }
        limitador_checks(&mut g, w, threads, &[(60, 60)]);
        g.finish();

        // governor has no multi-window check: three limiters checked in turn, not atomic and
        // one scope only, against flowgate's twelve buckets judged and debited at once.
        let mut g = c.benchmark_group(format!("full_check_{threads}_thread"));
        let windows = [
            (Window::Minute, 60, 10),
            (Window::Hour, 1_000, 1_000),
            (Window::Day, 10_000, 10_000),
        ];
        for keys in Keys::ALL {
            flowgate_checks(&mut g, w, threads, keys, &full, &media);
            governor_checks(&mut g, w, threads, keys, &windows);
        }
        limitador_checks(
            &mut g,
            w,
            threads,
            &[(60, 60), (1_000, 3_600), (10_000, 86_400)],
        );
        g.finish();
    }
}

/// Where this run's criterion results go (and are read back from for the table).
fn output_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}

/// The mean ns per check criterion measured for one benchmark.
fn mean_ns(dir: &Path, group: &str, function: &str, keys: Keys) -> Option<f64> {
    let path = dir
        .join(group)
        .join(function)
        .join(keys.id())
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // {"mean":{"confidence_interval":{...},"point_estimate":12.3,...
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    mean[at..].split([',', '}']).next()?.trim().parse().ok()
}

fn print_table(dir: &Path) {
    println!();
    println!("ns per check (criterion mean), {KEYS} keys in random order. check: allowed or the");
    println!("wait; is_allowed: the full decision. Ratios are other / flowgate check: above 1,");
    println!("flowgate is faster.");
    println!(
        "{:<24} {:<13} {:>8} {:>10} {:>9} {:>6} {:>10} {:>6}",
        "scenario", "keys", "check", "is_allowed", "governor", "ratio", "limitador", "ratio"
    );
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let ratio = |v: Option<f64>, f: Option<f64>| match (v, f) {
        (Some(v), Some(f)) if f > 0.0 => format!("{:.2}", v / f),
        _ => "-".to_string(),
    };
    for threads in [1, 2] {
        for group in [
            format!("keyed_1_window_{threads}_thread"),
            format!("full_check_{threads}_thread"),
        ] {
            for keys in Keys::ALL {
                let [check, full, gov, lim] = [
                    "flowgate_check",
                    "flowgate_is_allowed",
                    "governor",
                    "limitador",
                ]
                .map(|f| mean_ns(dir, &group, f, keys));
                println!(
                    "{group:<24} {:<13} {:>8} {:>10} {:>9} {:>6} {:>10} {:>6}",
                    keys.label(),
                    show(check),
                    show(full),
                    show(gov),
                    ratio(gov, check),
                    show(lim),
                    ratio(lim, check)
                );
            }
        }
    }
}

fn main() {
    let workload = Workload::new();
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    benches(&mut c, workload);
    c.final_summary();
    print_table(&dir);
}
