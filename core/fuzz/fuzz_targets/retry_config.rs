//! The retry policy document: never a panic; a policy that validates gives `max_attempts − 1`
//! delays, none longer than `max_delay`, whatever the seed, and reads back the same after it
//! is written.
#![no_main]

use flowgate_core::document::from_json;
use flowgate_core::retry::RetryConfig;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng as _;

fuzz_target!(|data: &[u8]| {
    let (seed, document) = data.split_at(data.len().min(8));
    let Ok(config) = from_json::<RetryConfig>(document) else {
        return;
    };
    if config.validate().is_err() {
        return;
    }
    let mut seed_bytes = [0; 8];
    seed_bytes[..seed.len()].copy_from_slice(seed);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from_le_bytes(seed_bytes));
    let delays: Vec<_> = config.schedule(&mut rng).collect();
    assert_eq!(delays.len() as u64, u64::from(config.max_attempts) - 1);
    for delay in delays {
        assert!(delay.as_secs_f64() <= config.max_delay + 1e-9, "{delay:?} over {}", config.max_delay);
    }
    let written = serde_json::to_vec(&config).unwrap();
    let again: RetryConfig = from_json(&written).expect("a written policy reads");
    assert_eq!(again, config);
});
