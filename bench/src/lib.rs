//! Benchmarks of flowgate beside governor and limitador: see `benches/limiters.rs`. What the
//! criterion bench and `check_loop` share lives here, so that both measure the same work.

pub mod server;

use std::hash::{BuildHasher, Hasher};

use flowgate_core::ratelimit::{RateLimitConfig, ScopeLimits, ScopeMode};
use hashbrown::HashTable;

/// How many visits the order lists before it starts over (a power of two).
pub const VISITS: usize = 1 << 20;

/// The index of the key each visit checks, among `keys`: xorshift from a fixed seed, the same
/// order for every limiter and every run.
#[must_use]
pub fn visit_order(keys: usize) -> Vec<usize> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..VISITS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % keys as u64) as usize
        })
        .collect()
}

/// The full check's configuration: four scopes of three windows, twelve buckets for a request
/// to `media` on `mastodon`.
#[must_use]
pub fn full_config() -> RateLimitConfig {
    let all = |m, h, d, burst| ScopeLimits {
        minute: Some(m),
        hour: Some(h),
        day: Some(d),
        burst: Some(burst),
        mode: ScopeMode::All,
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

/// One of limitador's limits: the conditions it applies under (CEL), and `max` per `seconds`.
pub struct LimitadorLimit {
    /// CEL conditions on the request's attributes.
    pub conditions: Vec<String>,
    /// How many per window.
    pub max: u64,
    /// The window, in seconds.
    pub seconds: u64,
}

impl LimitadorLimit {
    /// The limit in `namespace`, counted per value of the request's `key`.
    #[must_use]
    pub fn limit(&self, namespace: &str) -> limitador::limit::Limit {
        let conditions = self
            .conditions
            .iter()
            .map(|c| limitador::limit::Predicate::parse(c).expect("condition"));
        limitador::limit::Limit::new(
            namespace,
            self.max,
            self.seconds,
            conditions,
            vec!["key".try_into().expect("variable")],
        )
    }
}

/// Limits that apply whatever the request: `(max, seconds)` each.
#[must_use]
pub fn unconditional(limits: &[(u64, u64)]) -> Vec<LimitadorLimit> {
    limits
        .iter()
        .map(|&(max, seconds)| LimitadorLimit {
            conditions: Vec::new(),
            max,
            seconds,
        })
        .collect()
}

/// The limits of `config` as limitador's: every window of every scope, a scope's limits
/// applying under conditions on the request's `platform` and `endpoint`. limitador counts in
/// fixed windows and has no burst: each window allows its number per its length.
#[must_use]
pub fn limitador_limits(config: &RateLimitConfig) -> Vec<LimitadorLimit> {
    let mut limits = Vec::new();
    let mut scope = |conditions: Vec<String>, s: &ScopeLimits| {
        limits.extend(s.windows().map(|(window, max)| LimitadorLimit {
            conditions: conditions.clone(),
            max: max.into(),
            seconds: window.seconds(),
        }));
    };
    let global = ScopeLimits {
        minute: Some(config.requests_per_minute),
        hour: Some(config.requests_per_hour),
        day: Some(config.requests_per_day),
        burst: None,
        mode: ScopeMode::All,
    };
    scope(Vec::new(), &global);
    for (platform, s) in &config.platform_limits {
        scope(vec![format!("platform == '{platform}'")], s);
    }
    for (endpoint, s) in &config.endpoint_limits {
        scope(vec![format!("endpoint == '{endpoint}'")], s);
    }
    for (platform, endpoints) in &config.platform_endpoint_limits {
        for (endpoint, s) in endpoints {
            let both = vec![
                format!("platform == '{platform}'"),
                format!("endpoint == '{endpoint}'"),
            ];
            scope(both, s);
        }
    }
    limits
}

/// The floor under a keyed check: what a limiter that keeps its keys in a hash table under
/// locks does at the least, with nothing of a limiter around it. Each key is hashed as
/// flowgate hashes it, its shard is locked as flowgate locks one (64 shards, the same spin
/// lock), and its entry in a bare hashbrown table is found, or inserted, and a time written
/// into it. No GCRA, no answer, no sweep. The entry is the shape of flowgate's one-bucket
/// entries: the key inline and one time, 24 bytes.
pub struct BareStore {
    shards: Vec<BareShard>,
    hasher: foldhash::fast::FixedState,
}

/// As many shards as flowgate's limiter has; a constant, so that picking one is a mask.
const BARE_SHARDS: usize = 64;

/// Aligned as flowgate's shards are, so neighbouring locks do not share a cache line.
#[repr(align(128))]
struct BareShard(spin::mutex::SpinMutex<HashTable<BareEntry>, spin::relax::Yield>);

/// A key of up to 15 bytes inline, and one time.
struct BareEntry {
    key: [u8; 15],
    len: u8,
    time: u64,
}

impl BareEntry {
    fn new(key: &str) -> Option<Self> {
        let mut bytes = [0; 15];
        bytes.get_mut(..key.len())?.copy_from_slice(key.as_bytes());
        Some(BareEntry {
            key: bytes,
            len: key.len() as u8,
            time: 0,
        })
    }

    fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.len)]
    }

    /// Whether this is `key`'s entry. Keys of 8 to 15 bytes are compared as flowgate compares
    /// them: the length, then two overlapping 8-byte words, with no copy and no `memcmp`.
    fn holds(&self, key: &[u8]) -> bool {
        let n = key.len();
        if usize::from(self.len) != n {
            return false;
        }
        if n < 8 {
            return self.key() == key;
        }
        let word = |b: &[u8], at: usize| b[at..at + 8].try_into().ok().map(u64::from_ne_bytes);
        word(&self.key, 0) == word(key, 0) && word(&self.key, n - 8) == word(key, n - 8)
    }
}

impl Default for BareStore {
    fn default() -> Self {
        BareStore {
            shards: (0..BARE_SHARDS)
                .map(|_| BareShard(spin::mutex::SpinMutex::new(HashTable::new())))
                .collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
        }
    }
}

impl BareStore {
    /// A key's hash as flowgate takes it: its bytes alone, under foldhash.
    #[must_use]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        h.finish()
    }

    /// Writes `now` into `key`'s entry, adding the entry if the key is new. Keys longer than
    /// 15 bytes are not kept (none of the benches' keys is): `false` for them.
    pub fn touch(&self, key: &str, now: u64) -> bool {
        let hash = self.hash(key.as_bytes());
        let mut table = self.shards[(hash >> 32) as usize % BARE_SHARDS].0.lock();
        if let Some(entry) = table.find_mut(hash, |e| e.holds(key.as_bytes())) {
            entry.time = now;
            return true;
        }
        let Some(mut entry) = BareEntry::new(key) else {
            return false;
        };
        entry.time = now;
        table.insert_unique(hash, entry, |e| self.hash(e.key()));
        true
    }

    /// How many keys hold an entry.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().len()).sum()
    }

    /// Whether no key holds an entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::{BareEntry, BareStore};

    #[test]
    fn a_bare_entry_holds_its_own_key_only() {
        let entry = |k| BareEntry::new(k).expect("short key");
        for (stored, probe, same) in [
            ("user-000001", "user-000001", true),
            ("user-000001", "user-000002", false),
            ("user-000001", "xser-000001", false),
            ("aaaaaaaaa", "aaaaaaaaaa", false),
            ("aaaaaaaaaa", "aaaaaaaaa", false),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
        ] {
            assert_eq!(
                entry(stored).holds(probe.as_bytes()),
                same,
                "{stored} {probe}"
            );
        }
    }

    #[test]
    fn the_bare_store_keeps_one_entry_per_key_and_tells_keys_apart_by_length_and_bytes() {
        let store = BareStore::default();
        let keys = [
            "a",
            "aaaaaaaaa",
            "aaaaaaaaaa",
            "user-000001",
            "user-000002",
            "user-100001",
        ];
        for round in 0..3 {
            for key in keys {
                assert!(store.touch(key, round), "{key} is kept");
            }
        }
        assert_eq!(store.len(), keys.len());
        assert!(
            !store.touch("sixteen-bytes-16", 0),
            "a 16-byte key is refused"
        );
        assert_eq!(store.len(), keys.len());
    }
}
