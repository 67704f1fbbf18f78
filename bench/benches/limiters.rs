//! flowgate's check beside governor's keyed limiter and limitador's in-memory limiter, on the
//! same work: 100,000 keys visited in a fixed pseudo-random order, a clock that every limiter
//! reads the same way (a counter advanced every 1,024 checks), one thread and two.
//!
//! `cargo bench -p flowgate-bench --bench limiters` prints criterion's figures, then a table of
//! ns per check with the ratios to flowgate.

use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use flowgate_core::ratelimit::{
    Limits, Quota, RateLimitConfig, RateLimiter, Request, ScopeLimits, Window,
};
use governor::clock::FakeRelativeClock;
use governor::state::keyed::DashMapStateStore;

const KEYS: usize = 100_000;
/// The clock advances by this much every `TICK_EVERY` checks: 1 µs per check on average.
const TICK_EVERY: u64 = 1_024;
const TICK: Duration = Duration::from_micros(1_024);

/// The keys, and the order they are visited in (xorshift, fixed seed: the same for everyone).
/// The keys' bytes sit side by side, as request keys do in a server's receive buffers, so that
/// reading a key is not itself a cache miss every library would pay.
struct Workload {
    keys: Vec<&'static str>,
    /// The same keys as `String`s, for governor keyed by `String`.
    owned: Vec<String>,
    order: Vec<u32>,
}

impl Workload {
    fn new() -> Self {
        let arena: &'static str = Box::leak(
            (0..KEYS)
                .map(|i| format!("user-{i:06}"))
                .collect::<String>()
                .into_boxed_str(),
        );
        let keys: Vec<&'static str> = (0..KEYS).map(|i| &arena[i * 11..(i + 1) * 11]).collect();
        let owned = keys.iter().map(|k| k.to_string()).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let order = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % KEYS as u64) as u32
            })
            .collect();
        Workload { keys, owned, order }
    }

    fn index(&self, i: u64) -> usize {
        self.order[(i as usize) & (self.order.len() - 1)] as usize
    }

    fn key(&self, i: u64) -> &'static str {
        self.keys[self.index(i)]
    }

    fn owned(&self, i: u64) -> &String {
        &self.owned[self.index(i)]
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

fn governor_quota(window: Window, limit: u32, burst: u32) -> governor::Quota {
    let per = Duration::from_secs(window.seconds()) / limit;
    governor::Quota::with_period(per)
        .expect("period")
        .allow_burst(nz(burst))
}

fn governor_keyed<K: std::hash::Hash + Eq + Clone>(
    window: Window,
    limit: u32,
    burst: u32,
    clock: &FakeRelativeClock,
) -> Governor<K> {
    governor::RateLimiter::new(
        governor_quota(window, limit, burst),
        DashMapStateStore::default(),
        clock.clone(),
    )
}

fn limitador_with(limits: &[(u64, u64)]) -> (limitador::RateLimiter, limitador::limit::Namespace) {
    let limiter = limitador::RateLimiter::new(KEYS as u64 * 4);
    for &(max, seconds) in limits {
        let limit = limitador::limit::Limit::new(
            "bench",
            max,
            seconds,
            Vec::<limitador::limit::Predicate>::new(),
            vec!["key".try_into().expect("variable")],
        );
        limiter.add_limit(limit);
    }
    (limiter, "bench".into())
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

/// Runs `check(i, worker)` `iters` times on each of `threads` threads; returns the wall time per
/// check (total time divided by all checks made).
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

fn limitador_context(key: &str) -> limitador::limit::Context<'static> {
    HashMap::from([("key".to_string(), key.to_string())]).into()
}

fn benches(c: &mut Criterion, w: &'static Workload) {
    for threads in [1u64, 2] {
        let mut g = c.benchmark_group(format!("keyed_1_window_{threads}_thread"));
        // Each library reads its keys from the same kind of storage: `String`s (keys that
        // arrive at run time), and a second pair on `&'static str`s (keys known in advance).
        let flowgate_keyed =
            |b: &mut criterion::Bencher<'_>, key: &(dyn Fn(u64) -> &'static str + Sync)| {
                let quota = Quota::new(Window::Minute, nz(60)).with_burst(nz(10));
                let limiter =
                    RateLimiter::from_limits(Limits::from_quotas(&[quota]).expect("quota"));
                let clock = SharedClock::default();
                let request = Request::default();
                b.iter_custom(|iters| {
                    let check = |i| {
                        let d = limiter.is_allowed(key(i), &request, clock.now());
                        black_box(d.map(|d| d.allowed).ok());
                    };
                    run_threads(threads, iters, &check, &|| clock.tick())
                });
            };
        g.bench_function("flowgate", |b| flowgate_keyed(b, &|i| w.owned(i).as_str()));
        g.bench_function("flowgate_static_str", |b| flowgate_keyed(b, &|i| w.key(i)));
        g.bench_function("governor", |b| {
            let clock = FakeRelativeClock::default();
            let limiter = governor_keyed::<String>(Window::Minute, 60, 10, &clock);
            b.iter_custom(|iters| {
                let check = |i| {
                    black_box(limiter.check_key(w.owned(i)).is_ok());
                };
                run_threads(threads, iters, &check, &|| clock.advance(TICK))
            });
        });
        g.bench_function("governor_static_str", |b| {
            let clock = FakeRelativeClock::default();
            let limiter = governor_keyed::<&'static str>(Window::Minute, 60, 10, &clock);
            b.iter_custom(|iters| {
                let check = |i| {
                    black_box(limiter.check_key(&w.key(i)).is_ok());
                };
                run_threads(threads, iters, &check, &|| clock.advance(TICK))
            });
        });
        g.bench_function("limitador", |b| {
            let (limiter, namespace) = limitador_with(&[(60, 60)]);
            b.iter_custom(|iters| {
                let check = |i| {
                    let r = limiter.check_rate_limited_and_update(
                        &namespace,
                        &limitador_context(w.owned(i)),
                        1,
                    );
                    black_box(r.map(|r| r.limited).ok());
                };
                run_threads(threads, iters, &check, &|| ())
            });
        });
        g.finish();

        let mut g = c.benchmark_group(format!("full_check_{threads}_thread"));
        g.bench_function(
            BenchmarkId::new("flowgate", "4 scopes x 3 windows, atomic"),
            |b| {
                let limiter = RateLimiter::new(&full_config()).expect("config");
                let clock = SharedClock::default();
                let request = Request::new(Some("media"), Some("mastodon"));
                b.iter_custom(|iters| {
                    let check = |i| {
                        let d = limiter.is_allowed(w.owned(i), &request, clock.now());
                        black_box(d.map(|d| d.allowed).ok());
                    };
                    run_threads(threads, iters, &check, &|| clock.tick())
                });
            },
        );
        g.bench_function(BenchmarkId::new("governor", "3 limiters in turn"), |b| {
            let clock = FakeRelativeClock::default();
            let minute = governor_keyed::<String>(Window::Minute, 60, 10, &clock);
            let hour = governor_keyed::<String>(Window::Hour, 1_000, 1_000, &clock);
            let day = governor_keyed::<String>(Window::Day, 10_000, 10_000, &clock);
            b.iter_custom(|iters| {
                let check = |i| {
                    let key = w.owned(i);
                    black_box(
                        minute.check_key(key).is_ok()
                            && hour.check_key(key).is_ok()
                            && day.check_key(key).is_ok(),
                    );
                };
                run_threads(threads, iters, &check, &|| clock.advance(TICK))
            });
        });
        g.bench_function(BenchmarkId::new("limitador", "3 limits"), |b| {
            let (limiter, namespace) =
                limitador_with(&[(60, 60), (1_000, 3_600), (10_000, 86_400)]);
            b.iter_custom(|iters| {
                let check = |i| {
                    let r = limiter.check_rate_limited_and_update(
                        &namespace,
                        &limitador_context(w.owned(i)),
                        1,
                    );
                    black_box(r.map(|r| r.limited).ok());
                };
                run_threads(threads, iters, &check, &|| ())
            });
        });
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
fn mean_ns(dir: &std::path::Path, group: &str, id: &str) -> Option<f64> {
    let path = dir.join(group).join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // {"mean":{"confidence_interval":{...},"point_estimate":12.3,...
    let mean = &text[text.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    mean[at..].split([',', '}']).next()?.trim().parse().ok()
}

fn print_table(dir: &std::path::Path) {
    println!();
    println!(
        "ns per check (criterion mean), 100,000 keys in random order; ratio = other / flowgate,"
    );
    println!(
        "above 1 flowgate is faster. String: keys held as Strings (keys that arrive at run time),"
    );
    println!("&'static: keys known in advance, each library given the same keys.");
    println!(
        "{:<24} {:>9} {:>9} {:>6} {:>10} {:>10} {:>6} {:>10} {:>6}",
        "scenario",
        "flowgate",
        "governor",
        "ratio",
        "fg static",
        "gov static",
        "ratio",
        "limitador",
        "ratio"
    );
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let ratio = |v: Option<f64>, f: Option<f64>| match (v, f) {
        (Some(v), Some(f)) if f > 0.0 => format!("{:.2}", v / f),
        _ => "-".to_string(),
    };
    for threads in [1, 2] {
        for (group, ids) in [
            (
                format!("keyed_1_window_{threads}_thread"),
                [
                    "flowgate",
                    "governor",
                    "flowgate_static_str",
                    "governor_static_str",
                    "limitador",
                ],
            ),
            (
                format!("full_check_{threads}_thread"),
                [
                    "flowgate/4 scopes x 3 windows, atomic",
                    "governor/3 limiters in turn",
                    "-",
                    "-",
                    "limitador/3 limits",
                ],
            ),
        ] {
            let [f, g, fs, gs, l] = ids.map(|id| mean_ns(dir, &group, id));
            println!(
                "{group:<24} {:>9} {:>9} {:>6} {:>10} {:>10} {:>6} {:>10} {:>6}",
                show(f),
                show(g),
                ratio(g, f),
                show(fs),
                show(gs),
                ratio(gs, fs),
                show(l),
                ratio(l, f)
            );
        }
    }
}

fn main() {
    let workload: &'static Workload = Box::leak(Box::new(Workload::new()));
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
