//! flowgate's check beside governor's keyed limiter and limitador's in-memory limiter, on the
//! same work: 100,000 keys (`FLOWGATE_BENCH_KEYS`) visited in a fixed pseudo-random order, a
//! clock that every limiter reads the same way (a counter advanced every 1,024 checks, 50 µs
//! per check on average, so nearly every check is allowed), one thread and two; keys handed
//! over in three ways ([`Keys`]). limitador reads the system clock.
//!
//! `cargo bench -p flowgate-bench --bench limiters` runs each contender under criterion (its
//! reports land in the target directory), then compares them in paired rounds (each takes its
//! turn every round, so a slow spell of a shared machine hits all of them alike) and prints a
//! table of ns per check with the ratios to flowgate.
//!
//! Beside the keyed rows runs a floor ([`BareStore`]): a bare table's find-and-write under the
//! same hash and locks, with no limiting. It bounds how far above limitador a limiter built as
//! flowgate is (keys in a hash table, sharded under locks) can get on that row. In the full
//! rows limitador runs twice: with governor's three windows in one scope, and with flowgate's
//! twelve limits in four scopes (conditions on the request), the same work as flowgate's.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use flowgate_bench::{
    BareStore, LimitadorLimit, VISITS, full_config, limitador_limits, unconditional, visit_order,
};
use flowgate_core::ratelimit::{Limits, Quota, RateLimiter, Request, Window};
use governor::clock::FakeRelativeClock;
use governor::state::keyed::DashMapStateStore;

/// How many keys the work visits: 100,000 unless `FLOWGATE_BENCH_KEYS` says otherwise (1 to
/// 999,999). With few keys (`FLOWGATE_BENCH_KEYS=1000`) every limiter's state stays in cache,
/// which compares the work each does per check without the memory stalls that dominate with
/// 100,000.
fn key_count() -> usize {
    static KEYS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *KEYS.get_or_init(|| match std::env::var("FLOWGATE_BENCH_KEYS") {
        Err(_) => 100_000,
        Ok(v) => match v.parse::<usize>() {
            Ok(n) if (1..=999_999).contains(&n) => n,
            _ => {
                eprintln!(
                    "FLOWGATE_BENCH_KEYS must be a number of keys from 1 to 999999, not {v:?}"
                );
                std::process::exit(2);
            }
        },
    })
}
/// The clock advances by `TICK` every `TICK_EVERY` checks: 50 µs per check on average, so a key
/// comes back about every 5 s and nearly every check is allowed. That is the path of a limiter
/// that is not overloaded, and the one that writes state (a denial writes nothing, and stops
/// governor's chain of limiters at the first that says no).
const TICK_EVERY: u64 = 1_024;
const TICK: Duration = Duration::from_micros(50 * 1_024);

/// How keys reach the limiters. Every library is given the same keys the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Each key a `String` of its own, made up front and visited at random among 100,000 of
    /// them: the `String` and its bytes are two reads from memory before any limiter sees the
    /// key, the case of keys kept in a large table of the caller's.
    Owned,
    /// Each key copied into a new `String` for its check from bytes the caller has at hand,
    /// as a server that parses the key out of a request it just read does: the copy (an
    /// allocation and its release) is part of every check, the bytes are in cache.
    Parsed,
    /// Keys known in advance, `&'static str`s side by side in one block.
    Static,
}

impl Keys {
    const ALL: [Keys; 3] = [Keys::Owned, Keys::Parsed, Keys::Static];

    fn id(self) -> &'static str {
        match self {
            Keys::Owned => "String",
            Keys::Parsed => "parsed",
            Keys::Static => "static_str",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Keys::Owned => "String",
            Keys::Parsed => "parsed String",
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
            (0..key_count())
                .map(|i| format!("user-{i:06}"))
                .collect::<String>()
                .into_boxed_str(),
        );
        let keys: Vec<&'static str> = (0..key_count())
            .map(|i| &arena[i * 11..(i + 1) * 11])
            .collect();
        let owned: &'static [String] = Vec::leak(keys.iter().map(|k| k.to_string()).collect());
        let order = visit_order(key_count());
        Box::leak(Box::new(Workload {
            visits: order.iter().map(|&k| keys[k]).collect(),
            owned_visits: order.iter().map(|&k| &owned[k]).collect(),
        }))
    }

    /// The `i`-th visit's key as `keys` hands it over: borrowed, or a new `String`.
    fn key(&'static self, keys: Keys, i: u64) -> Cow<'static, str> {
        match keys {
            Keys::Owned => Cow::Borrowed(self.owned(i)),
            Keys::Parsed => Cow::Owned(self.parsed(i)),
            Keys::Static => Cow::Borrowed(self.static_key(i)),
        }
    }

    /// The `i`-th visit's key copied into a new `String`, from the block of the static keys.
    fn parsed(&self, i: u64) -> String {
        String::from(self.visits[i as usize % VISITS])
    }

    fn static_key(&'static self, i: u64) -> &'static &'static str {
        &self.visits[i as usize % VISITS]
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

/// One limiter set up for one scenario: a check of the `i`-th visit, and the clock's tick.
struct Contender {
    function: &'static str,
    check: Box<dyn Fn(u64) + Sync>,
    tick: Box<dyn Fn() + Sync>,
}

/// Which of flowgate's two checks a contender makes.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// `check`: allowed, and the wait otherwise.
    Short,
    /// `is_allowed`: the full decision, every applying bucket reported.
    Full,
}

/// flowgate's limiter on `limits`, checking `request` with the `answer` asked for.
fn flowgate(
    w: &'static Workload,
    keys: Keys,
    limits: &Limits,
    request: Request<'static>,
    answer: Answer,
) -> Contender {
    let limiter = RateLimiter::from_limits(limits.clone());
    let clock = SharedClock::default();
    let ticking = clock.clone();
    let (function, check): (_, Box<dyn Fn(u64) + Sync>) = match answer {
        Answer::Short => (
            "flowgate_check",
            Box::new(move |i| {
                let a = limiter.check(&w.key(keys, i), &request, clock.now());
                black_box(a.map(|a| a.allowed).ok());
            }),
        ),
        Answer::Full => (
            "flowgate_is_allowed",
            Box::new(move |i| {
                let d = limiter.is_allowed(&w.key(keys, i), &request, clock.now());
                black_box(d.map(|d| d.allowed).ok());
            }),
        ),
    };
    Contender {
        function,
        check,
        tick: Box::new(move || ticking.tick()),
    }
}

/// governor's keyed limiters for `windows`, checked in turn (one for the single-window work),
/// keyed the way `keys` says.
fn governor(w: &'static Workload, keys: Keys, windows: &[(Window, u32, u32)]) -> Contender {
    let clock = FakeRelativeClock::default();
    let check = match keys {
        Keys::Owned => governor_chain::<String, _>(windows, &clock, move |i| w.owned(i)),
        Keys::Parsed => governor_chain::<String, _>(windows, &clock, move |i| w.parsed(i)),
        Keys::Static => governor_chain::<&str, _>(windows, &clock, move |i| w.static_key(i)),
    };
    Contender {
        function: "governor",
        check,
        tick: Box::new(move || clock.advance(TICK)),
    }
}

/// The check of one governor limiter per window in turn, for keys of type `K` that `key` finds
/// (or makes).
fn governor_chain<K: std::hash::Hash + Eq + Clone + Send + Sync + 'static, B: Borrow<K>>(
    windows: &[(Window, u32, u32)],
    clock: &FakeRelativeClock,
    key: impl Fn(u64) -> B + Sync + 'static,
) -> Box<dyn Fn(u64) + Sync> {
    let limiters: Vec<Governor<K>> = windows
        .iter()
        .map(|&(window, limit, burst)| governor_keyed(window, limit, burst, clock))
        .collect();
    Box::new(move |i| {
        let key = key(i);
        black_box(limiters.iter().all(|l| l.check_key(key.borrow()).is_ok()));
    })
}

/// limitador's in-memory limiter with `limits` in one namespace, each counted per key (a
/// variable), checked for requests that carry `attributes` beside the key. Its context owns
/// its strings, so every check copies the key, wherever it comes from (a parsed key is handed
/// over, not copied again), and the attributes; it reads the system clock, so it needs no
/// tick.
fn limitador(
    w: &'static Workload,
    keys: Keys,
    function: &'static str,
    limits: &[LimitadorLimit],
    attributes: &'static [(&'static str, &'static str)],
) -> Contender {
    let counters = key_count() as u64 * limits.len() as u64;
    let limiter = limitador::RateLimiter::new((counters * 2).max(key_count() as u64 * 4));
    for limit in limits {
        limiter.add_limit(limit.limit("bench"));
    }
    let namespace: limitador::limit::Namespace = "bench".into();
    let context = move |key: String| {
        let mut values = HashMap::with_capacity(1 + attributes.len());
        values.insert("key".to_string(), key);
        for &(name, value) in attributes {
            values.insert(name.to_string(), value.to_string());
        }
        limitador::limit::Context::<'static>::from(values)
    };
    // Every limit must apply to the work's requests, or limitador would do less than asked.
    let probe = limiter
        .check_rate_limited_and_update(&namespace, &context("probe".into()), 1)
        .expect("limitador checks");
    assert_eq!(probe.counters.len(), limits.len(), "limits that apply");
    Contender {
        function,
        check: Box::new(move |i| {
            let context = context(w.key(keys, i).into_owned());
            let r = limiter.check_rate_limited_and_update(&namespace, &context, 1);
            black_box(r.map(|r| r.limited).ok());
        }),
        tick: Box::new(|| ()),
    }
}

/// The floor under a keyed check ([`BareStore`]): the key hashed, its shard locked, its entry
/// found in a bare table and a time written there, with no limiting. Not a library anyone
/// would pick: it shows how much of each row a limiter keeping its keys in a hash table under
/// locks pays before it limits anything, and so how far above limitador such a limiter can get.
fn floor(w: &'static Workload, keys: Keys) -> Contender {
    let store = BareStore::default();
    let clock = SharedClock::default();
    let ticking = clock.clone();
    Contender {
        function: "floor",
        check: Box::new(move |i| {
            black_box(store.touch(&w.key(keys, i), clock.now().as_nanos() as u64));
        }),
        tick: Box::new(move || ticking.tick()),
    }
}

/// What is compared: 60 per minute with a burst of 10 on one window, or the full check.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    Keyed,
    Full,
}

impl Scenario {
    fn group(self, threads: u64) -> String {
        match self {
            Scenario::Keyed => format!("keyed_1_window_{threads}_thread"),
            Scenario::Full => format!("full_check_{threads}_thread"),
        }
    }

    /// Every contender, flowgate's `check` first (the one the ratios divide by).
    fn contenders(self, w: &'static Workload, keys: Keys) -> Vec<Contender> {
        match self {
            Scenario::Keyed => {
                let minute = Quota::new(Window::Minute, nz(60)).with_burst(nz(10));
                let limits = Limits::from_quotas(&[minute]).expect("quota");
                vec![
                    flowgate(w, keys, &limits, Request::default(), Answer::Short),
                    flowgate(w, keys, &limits, Request::default(), Answer::Full),
                    governor(w, keys, &[(Window::Minute, 60, 10)]),
                    limitador(w, keys, "limitador", &unconditional(&[(60, 60)]), &[]),
                    floor(w, keys),
                ]
            }
            // governor has no multi-window check: three limiters checked in turn, not atomic
            // and one scope only, against flowgate's twelve buckets judged and debited at once.
            // limitador runs twice: with those three windows in one scope, and with flowgate's
            // twelve limits (its conditions on the request), which is the same work.
            Scenario::Full => {
                let config = full_config();
                let limits = Limits::new(&config).expect("config");
                let media = Request::new(Some("media"), Some("mastodon"));
                vec![
                    flowgate(w, keys, &limits, media, Answer::Short),
                    flowgate(w, keys, &limits, media, Answer::Full),
                    governor(
                        w,
                        keys,
                        &[
                            (Window::Minute, 60, 10),
                            (Window::Hour, 1_000, 1_000),
                            (Window::Day, 10_000, 10_000),
                        ],
                    ),
                    limitador(
                        w,
                        keys,
                        "limitador",
                        &unconditional(&[(60, 60), (1_000, 3_600), (10_000, 86_400)]),
                        &[],
                    ),
                    limitador(
                        w,
                        keys,
                        "limitador_same_limits",
                        &limitador_limits(&config),
                        &[("platform", "mastodon"), ("endpoint", "media")],
                    ),
                ]
            }
        }
    }
}

/// Runs `check(i)` `iters` times on each of `threads` threads, `i` counting on from `from`;
/// returns the wall time divided by `threads`: what `iters` checks cost when the threads share
/// the work, as criterion's `iter_custom` wants it.
fn run_threads(threads: u64, from: u64, iters: u64, c: &Contender) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let offset = from + t * 7_919;
                for i in 0..iters {
                    if i % TICK_EVERY == 0 {
                        (c.tick)();
                    }
                    (c.check)(offset + i);
                }
            });
        }
    });
    start.elapsed() / threads as u32
}

/// Rounds of the paired comparison, and roughly how long each contender runs in one.
const ROUNDS: usize = 21;
const ROUND: Duration = Duration::from_millis(60);

/// ns per check of each contender in each round. The contenders take turns round after round
/// (in a rotating order), so a slow spell of this shared machine falls on all of them alike and
/// the ratio within a round stays fair even when the absolute figures move.
fn paired(threads: u64, contenders: &[Contender]) -> Vec<Vec<f64>> {
    let mut cursor = vec![0u64; contenders.len()];
    // Calibrate: checks per round for each, from a short run that also warms the limiter.
    let per_round: Vec<u64> = contenders
        .iter()
        .zip(&mut cursor)
        .map(|(c, at)| {
            let probe = 20_000;
            let t = run_threads(threads, *at, probe, c);
            *at += probe;
            let per_check = t.as_secs_f64() / probe as f64;
            ((ROUND.as_secs_f64() / per_check) as u64).clamp(1_000, 5_000_000)
        })
        .collect();
    let mut ns = vec![Vec::with_capacity(ROUNDS); contenders.len()];
    for round in 0..ROUNDS {
        for k in 0..contenders.len() {
            let i = (k + round) % contenders.len();
            let t = run_threads(threads, cursor[i], per_round[i], &contenders[i]);
            cursor[i] += per_round[i];
            ns[i].push(t.as_nanos() as f64 / per_round[i] as f64);
        }
    }
    ns
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // A filter (`cargo bench ... -- keyed_1_window_1`) picks criterion's runs by name; the
    // paired rounds then cover the scenarios whose group name contains it.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-') && !a.is_empty());
    let w = Workload::new();
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let mut rows = Vec::new();
    for threads in [1u64, 2] {
        for scenario in [Scenario::Keyed, Scenario::Full] {
            let group = scenario.group(threads);
            for keys in Keys::ALL {
                let contenders = scenario.contenders(w, keys);
                let mut g = c.benchmark_group(&group);
                for contender in &contenders {
                    g.bench_function(BenchmarkId::new(contender.function, keys.id()), |b| {
                        b.iter_custom(|iters| run_threads(threads, 0, iters, contender));
                    });
                }
                g.finish();
                if filter.as_ref().is_none_or(|f| group.contains(f.as_str())) {
                    rows.push(Row {
                        group: group.clone(),
                        keys,
                        functions: contenders.iter().map(|c| c.function).collect(),
                        ns: paired(threads, &contenders),
                    });
                }
            }
        }
    }
    c.final_summary();
    if !rows.is_empty() {
        print_table(&rows);
    }
}

/// One row of the paired comparison: its scenario, how keys were given, and each
/// contender's name and ns per check in every round.
struct Row {
    group: String,
    keys: Keys,
    functions: Vec<&'static str>,
    ns: Vec<Vec<f64>>,
}

impl Row {
    /// The median over rounds of `function`'s ns per check, if it ran in this row.
    fn ns(&self, function: &str) -> Option<f64> {
        Some(median(self.ns[self.index(function)?].clone()))
    }

    /// The median over rounds of each round's `function` / `by`.
    fn ratio(&self, function: &str, by: &str) -> Option<f64> {
        let (a, b) = (self.index(function)?, self.index(by)?);
        Some(median(
            self.ns[a]
                .iter()
                .zip(&self.ns[b])
                .map(|(a, b)| a / b)
                .collect(),
        ))
    }

    fn index(&self, function: &str) -> Option<usize> {
        self.functions.iter().position(|&f| f == function)
    }
}

/// One column of a printed table: its heading, and its figure for a row (`None`: `-`).
struct Column {
    heading: &'static str,
    decimals: usize,
    figure: fn(&Row) -> Option<f64>,
}

impl Column {
    const fn new(heading: &'static str, decimals: usize, figure: fn(&Row) -> Option<f64>) -> Self {
        Column {
            heading,
            decimals,
            figure,
        }
    }
}

/// `rows` under `columns`, after the scenario and the kind of keys.
fn print_columns(rows: &[&Row], columns: &[Column]) {
    let mut line = format!("{:<24} {:<13}", "scenario", "keys");
    for c in columns {
        line += &format!(" {:>w$}", c.heading, w = c.heading.len().max(6));
    }
    println!("{line}");
    for row in rows {
        let mut line = format!("{:<24} {:<13}", row.group, row.keys.label());
        for c in columns {
            let w = c.heading.len().max(6);
            line += &match (c.figure)(row) {
                Some(v) => format!(" {v:>w$.d$}", d = c.decimals),
                None => format!(" {:>w$}", "-"),
            };
        }
        println!("{line}");
    }
}

/// The paired comparison's medians: ns per check, and the median over rounds of each round's
/// ratio to flowgate's `check`; for the keyed rows the floor with limitador's ratio to it; for
/// the full rows limitador given flowgate's twelve limits.
fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{ROUNDS} paired rounds, {} keys in random order; ns per check (median over rounds).",
        key_count()
    );
    println!("check: allowed or the wait; is_allowed: the full decision. ratio: median of the");
    println!("rounds' other / flowgate check, so above 1 flowgate's check is faster. floor: a");
    println!("bare table's find-and-write under the same hash and lock, no limiting (keyed rows);");
    println!("limitador / floor: the most a limiter with keys in a locked table could reach.");
    let all: Vec<&Row> = rows.iter().collect();
    print_columns(
        &all,
        &[
            Column::new("check", 1, |r| r.ns("flowgate_check")),
            Column::new("is_allowed", 1, |r| r.ns("flowgate_is_allowed")),
            Column::new("governor", 1, |r| r.ns("governor")),
            Column::new("ratio", 2, |r| r.ratio("governor", "flowgate_check")),
            Column::new("limitador", 1, |r| r.ns("limitador")),
            Column::new("ratio", 1, |r| r.ratio("limitador", "flowgate_check")),
            Column::new("floor", 1, |r| r.ns("floor")),
            Column::new("limitador / floor", 1, |r| r.ratio("limitador", "floor")),
        ],
    );
    let same: Vec<&Row> = rows
        .iter()
        .filter(|r| r.index("limitador_same_limits").is_some())
        .collect();
    if !same.is_empty() {
        println!();
        println!("limitador given flowgate's twelve limits (four scopes, its conditions on the");
        println!("request's platform and endpoint), the same work as flowgate's full check:");
        print_columns(
            &same,
            &[
                Column::new("check", 1, |r| r.ns("flowgate_check")),
                Column::new("limitador", 1, |r| r.ns("limitador_same_limits")),
                Column::new("ratio", 1, |r| {
                    r.ratio("limitador_same_limits", "flowgate_check")
                }),
            ],
        );
    }
}

/// Where criterion's reports go.
fn output_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}
