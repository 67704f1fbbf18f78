//! flowgate's keyed check in a plain loop, for `perf record` and quick A/B runs of the limiter
//! (criterion's harness makes profiles hard to read): the keyed single-window work of
//! `benches/limiters.rs` — 100,000 keys of 11 bytes, visited in the same pseudo-random order,
//! 60 per minute with a burst of 10, the clock advanced 50 µs per check — on one thread. Prints
//! ns per check and how many keys hold state.
//!
//! `cargo run --release -p flowgate-bench --bin check_loop -- [KEYS] [CHECKS] [KEYS_AS] [WORK]`
//!
//! - `KEYS_AS`: `static` (default) gives the keys as `&str`s side by side in one block;
//!   `string` as a `String` each, as the bench's String rows do, so that finding a key's bytes
//!   reads its `String` first; `parsed` copies each key into a new `String` for its visit, as
//!   the bench's parsed String rows do.
//! - `WORK`: `check` (default) is the limiter's check; `full-check` is the check of the
//!   bench's full scenario (a request to `media` on `mastodon` under four scopes of three
//!   windows, twelve buckets); `decision` and `full-decision` are the same with the whole
//!   decision (`is_allowed`) instead of the short answer; `hash` only hashes each key as the
//!   limiter does, which is what reaching the keys costs on its own; `hash-lock` also takes
//!   and releases one uncontended lock of the limiter's kind around it, which is that cost
//!   when each visit is ordered after the one before it, as a check's lock orders it;
//!   `table` is the floor under a keyed check of a limiter that keeps its keys in a hash
//!   table under locks ([`BareStore`]): the same hash and shard lock, then the key found (or
//!   added) in a bare hashbrown table, its key inline in a 24-byte entry as the limiter's
//!   one-bucket entries are, and a time written there.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flowgate_bench::{BareStore, full_config, visit_order};
use flowgate_core::ratelimit::{Limits, Quota, RateLimiter, Request, Window};

const USAGE: &str = "usage: check_loop [KEYS] [CHECKS] [static|string|parsed] \
    [check|full-check|decision|full-decision|hash|hash-lock|table]";

fn arg(n: usize, default: usize, name: &str) -> Result<usize, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(x) if x > 0 => Ok(x),
            _ => Err(format!("{name} must be a positive whole number, not {v:?}")),
        },
    }
}

fn choice<'a>(n: usize, choices: &[&'a str], name: &str) -> Result<&'a str, String> {
    match std::env::args().nth(n) {
        None => Ok(choices[0]),
        Some(v) => choices
            .iter()
            .find(|&&c| c == v)
            .copied()
            .ok_or_else(|| format!("{name} must be one of {choices:?}, not {v:?}")),
    }
}

/// The key of each visit, in the order of `benches/limiters.rs`.
fn visits<K>(keys: &[K]) -> Vec<&K> {
    visit_order(keys.len())
        .into_iter()
        .map(|k| &keys[k])
        .collect()
}

fn main() -> ExitCode {
    let parsed = (|| {
        let keys = arg(1, 100_000, "KEYS")?;
        if keys > 999_999 {
            return Err("KEYS must be at most 999999".to_string());
        }
        let checks = arg(2, 20_000_000, "CHECKS")?;
        let keys_as = choice(3, &["static", "string", "parsed"], "KEYS_AS")?;
        let work = choice(
            4,
            &[
                "check",
                "full-check",
                "decision",
                "full-decision",
                "hash",
                "hash-lock",
                "table",
            ],
            "WORK",
        )?;
        Ok((keys, checks, keys_as, work))
    })();
    let (keys, checks, keys_as, work) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let arena: String = (0..keys).map(|i| format!("user-{i:06}")).collect();
    let names: Vec<&str> = (0..keys).map(|i| &arena[i * 11..(i + 1) * 11]).collect();
    let owned: Vec<String> = names.iter().map(|k| k.to_string()).collect();
    let ns = match keys_as {
        "static" => run(&visits(&names), checks, work, false),
        "parsed" => run(&visits(&names), checks, work, true),
        _ => run(&visits(&owned), checks, work, false),
    };
    println!("{ns:.1} ns per visit: {work} of {keys} keys as {keys_as}, {checks} visits");
    ExitCode::SUCCESS
}

/// Runs `work` over `checks` visits of `visits`, each key copied into a new `String` first if
/// `parse`; returns ns per visit.
fn run<K: AsRef<str>>(visits: &[&K], checks: usize, work: &str, parse: bool) -> f64 {
    let (limits, request) = if work.starts_with("full-") {
        let limits = Limits::new(&full_config()).expect("config");
        (limits, Request::new(Some("media"), Some("mastodon")))
    } else {
        let per_minute = NonZeroU32::new(60).expect("positive");
        let burst = NonZeroU32::new(10).expect("positive");
        let minute = Quota::new(Window::Minute, per_minute).with_burst(burst);
        let limits = Limits::from_quotas(&[minute]).expect("quota");
        (limits, Request::default())
    };
    let limiter = RateLimiter::from_limits(limits);
    // The floor under a keyed check (which also hashes as the limiter does, for the
    // baselines), and a lock taken as its shard locks are (a compare-exchange, which orders
    // the loads after it, and a plain store to release).
    let bare = BareStore::default();
    let lock = AtomicBool::new(false);
    let mut now = Duration::ZERO;
    let mut allowed = 0u64;
    let start = Instant::now();
    for (i, key) in visits.iter().cycle().take(checks).enumerate() {
        let copy;
        let key = if parse {
            copy = String::from(key.as_ref());
            copy.as_str()
        } else {
            key.as_ref()
        };
        if i % 1024 == 0 {
            now += Duration::from_micros(50 * 1024);
        }
        match work {
            "check" | "full-check" => {
                if limiter
                    .check(key, &request, now)
                    .is_ok_and(|admission| admission.allowed)
                {
                    allowed += 1;
                }
            }
            "decision" | "full-decision" => {
                if limiter
                    .is_allowed(key, &request, now)
                    .is_ok_and(|decision| black_box(decision).allowed)
                {
                    allowed += 1;
                }
            }
            "table" => {
                black_box(bare.touch(key, now.as_nanos() as u64));
            }
            _ => {
                let hash = bare.hash(key.as_bytes());
                if work == "hash-lock" {
                    while lock
                        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                        .is_err()
                    {}
                    black_box(hash);
                    lock.store(false, Ordering::Release);
                } else {
                    black_box(hash);
                }
            }
        }
    }
    let elapsed = start.elapsed();
    if work.ends_with("check") || work.ends_with("decision") {
        println!(
            "{allowed} allowed; {} keys hold state",
            limiter.active_keys()
        );
    } else if work == "table" {
        println!("{} keys in the table", bare.len());
    }
    elapsed.as_nanos() as f64 / checks as f64
}
