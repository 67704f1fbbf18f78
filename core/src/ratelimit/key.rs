//! A limiter's keys: their text and their hash, computed once per check however many tables the
//! check goes through (the sharded limiter picks a shard by it, then the shard's table finds
//! the key by it).

use core::hash::{BuildHasher, Hasher};

use foldhash::fast::FixedState;

/// How a limiter hashes keys: a seeded hasher, and the seed, so that a key hashed by another
/// limiter is recognised and hashed again rather than looked up under a hash this one never
/// gave it.
#[derive(Debug, Clone)]
pub(crate) struct Keying {
    hasher: FixedState,
    seed: u64,
}

impl Keying {
    pub(crate) fn with_seed(seed: u64) -> Keying {
        Keying {
            hasher: FixedState::with_seed(seed),
            seed,
        }
    }

    /// `text`'s hash: its bytes alone. `str`'s own `Hash` adds a terminating byte, which makes
    /// hashes of sequences of strings unambiguous but costs foldhash a second round; a key is
    /// hashed on its own.
    #[inline]
    pub(crate) fn hash(&self, text: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(text.as_bytes());
        hasher.finish()
    }

    #[inline]
    pub(crate) fn key<'k>(&self, text: &'k str) -> HashedKey<'k> {
        HashedKey {
            text,
            hash: self.hash(text),
            seed: self.seed,
        }
    }

    /// `key` hashed by this keying.
    #[inline(always)]
    pub(crate) fn resolve<'k>(&self, key: impl LimiterKey<'k>) -> HashedKey<'k> {
        match key.into_key() {
            Ok(key) if key.seed == self.seed => key,
            Ok(HashedKey { text, .. }) | Err(text) => self.key(text),
        }
    }
}

/// A key with its hash, made by [`Limiter::key`](super::Limiter::key) or
/// [`RateLimiter::key`](super::RateLimiter::key): for a caller that asks about one key several
/// times (a check, then its wait, then its buckets) and would hash it once. Given to another
/// limiter than the one that made it, it is hashed again there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedKey<'k> {
    text: &'k str,
    hash: u64,
    seed: u64,
}

impl<'k> HashedKey<'k> {
    /// The key's text.
    #[must_use]
    pub const fn as_str(&self) -> &'k str {
        self.text
    }

    #[inline(always)]
    pub(crate) const fn hash(&self) -> u64 {
        self.hash
    }
}

mod sealed {
    pub trait Sealed {}
    impl<S: AsRef<str> + ?Sized> Sealed for &S {}
    impl Sealed for super::HashedKey<'_> {}
}

/// What a limiter takes as a key: its text (`&str`, `&String`, …), or a [`HashedKey`].
pub trait LimiterKey<'k>: sealed::Sealed {
    /// The key already hashed, or its text to hash.
    #[doc(hidden)]
    fn into_key(self) -> Result<HashedKey<'k>, &'k str>;
}

impl<'k, S: AsRef<str> + ?Sized> LimiterKey<'k> for &'k S {
    #[inline(always)]
    fn into_key(self) -> Result<HashedKey<'k>, &'k str> {
        Err(self.as_ref())
    }
}

impl<'k> LimiterKey<'k> for HashedKey<'k> {
    #[inline(always)]
    fn into_key(self) -> Result<HashedKey<'k>, &'k str> {
        Ok(self)
    }
}
