//! flowgate's keyed check in a plain loop, for `perf record` and quick A/B runs of the limiter
//! (criterion's harness makes profiles hard to read): the keyed single-window work of
//! `benches/limiters.rs` — 100,000 keys of 11 bytes side by side, visited in the same
//! pseudo-random order, 60 per minute with a burst of 10, the clock advanced 50 µs per check —
//! on one thread. Prints ns per check and how many keys hold state.
//!
//! `cargo run --release -p flowgate-bench --bin check_loop -- [KEYS] [CHECKS]`

use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flowgate_core::ratelimit::{Limits, Quota, RateLimiter, Request, Window};

/// How many checks the order lists before it starts over (as in `benches/limiters.rs`).
const VISITS: usize = 1 << 20;

fn arg(n: usize, default: usize, name: &str) -> Result<usize, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(x) if x > 0 => Ok(x),
            _ => Err(format!("{name} must be a positive whole number, not {v:?}")),
        },
    }
}

fn main() -> ExitCode {
    let (keys, checks) = match (arg(1, 100_000, "KEYS"), arg(2, 20_000_000, "CHECKS")) {
        (Ok(k), Ok(c)) if k <= 999_999 => (k, c),
        (Ok(_), Ok(_)) => {
            eprintln!("KEYS must be at most 999999");
            return ExitCode::from(2);
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}\nusage: check_loop [KEYS] [CHECKS]");
            return ExitCode::from(2);
        }
    };
    let arena: String = (0..keys).map(|i| format!("user-{i:06}")).collect();
    let names: Vec<&str> = (0..keys).map(|i| &arena[i * 11..(i + 1) * 11]).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let visits: Vec<&str> = (0..VISITS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            names[(x % keys as u64) as usize]
        })
        .collect();
    let per_minute = NonZeroU32::new(60).expect("positive");
    let burst = NonZeroU32::new(10).expect("positive");
    let minute = Quota::new(Window::Minute, per_minute).with_burst(burst);
    let limiter = RateLimiter::from_limits(Limits::from_quotas(&[minute]).expect("quota"));
    let request = Request::default();
    let mut now = Duration::ZERO;
    let mut allowed = 0u64;
    let start = Instant::now();
    for (i, key) in visits.iter().cycle().take(checks).enumerate() {
        if i % 1024 == 0 {
            now += Duration::from_micros(50 * 1024);
        }
        if limiter
            .check(key, &request, now)
            .is_ok_and(|admission| admission.allowed)
        {
            allowed += 1;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "{:.1} ns per check over {checks} checks of {keys} keys; {allowed} allowed; {} keys hold state",
        elapsed.as_nanos() as f64 / checks as f64,
        limiter.active_keys(),
    );
    ExitCode::SUCCESS
}
