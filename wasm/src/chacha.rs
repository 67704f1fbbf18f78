//! ChaCha8 as a random number generator: the same stream as `rand_chacha::ChaCha8Rng`, which
//! the shared test vectors fix the jitter with (design.md), one 64-byte block at a time.
//!
//! `rand_chacha` computes four blocks at once in code shaped for SIMD, which weighs on this
//! package's size; four consecutive blocks are the same words as one block four times, so this
//! small loop gives the identical stream. The tests below hold it to `rand_chacha` for any
//! seed and any mix of calls.

use rand::rand_core::{RngCore, SeedableRng};

/// "expand 32-byte k".
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// ChaCha with 8 rounds, a 256-bit key (the seed), a 64-bit block counter from 0 and stream 0.
#[derive(Clone, Debug)]
pub(crate) struct ChaCha8Rng {
    key: [u32; 8],
    counter: u64,
    block: [u32; 16],
    /// The next unread word of `block`; 16 when it is used up.
    index: usize,
}

fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

impl ChaCha8Rng {
    /// Computes the block at the counter, and moves the counter on.
    fn refill(&mut self) {
        let mut input = [0u32; 16];
        input[..4].copy_from_slice(&CONSTANTS);
        input[4..12].copy_from_slice(&self.key);
        input[12] = self.counter as u32;
        input[13] = (self.counter >> 32) as u32;
        let mut x = input;
        for _ in 0..4 {
            quarter_round(&mut x, 0, 4, 8, 12);
            quarter_round(&mut x, 1, 5, 9, 13);
            quarter_round(&mut x, 2, 6, 10, 14);
            quarter_round(&mut x, 3, 7, 11, 15);
            quarter_round(&mut x, 0, 5, 10, 15);
            quarter_round(&mut x, 1, 6, 11, 12);
            quarter_round(&mut x, 2, 7, 8, 13);
            quarter_round(&mut x, 3, 4, 9, 14);
        }
        for (out, (word, start)) in self.block.iter_mut().zip(x.iter().zip(input)) {
            *out = word.wrapping_add(start);
        }
        self.counter = self.counter.wrapping_add(1);
        self.index = 0;
    }
}

impl SeedableRng for ChaCha8Rng {
    type Seed = [u8; 32];

    fn from_seed(seed: [u8; 32]) -> Self {
        let mut key = [0u32; 8];
        for (word, bytes) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        ChaCha8Rng {
            key,
            counter: 0,
            block: [0; 16],
            index: 16,
        }
    }
}

impl RngCore for ChaCha8Rng {
    fn next_u32(&mut self) -> u32 {
        if self.index >= 16 {
            self.refill();
        }
        let word = self.block[self.index];
        self.index += 1;
        word
    }

    /// Two words, the first the low half, as `rand_core`'s `BlockRng` reads them (also across
    /// the end of a block).
    fn next_u64(&mut self) -> u64 {
        let low = self.next_u32();
        u64::from(self.next_u32()) << 32 | u64::from(low)
    }

    /// Whole words in little-endian order; the unused bytes of a last, partly used word are
    /// dropped, as `BlockRng` drops them.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let bytes = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::rand_core::{RngCore, SeedableRng};

    use super::ChaCha8Rng;

    #[derive(Debug, Clone)]
    enum Call {
        U32,
        U64,
        Bytes(usize),
    }

    fn call() -> impl Strategy<Value = Call> {
        prop_oneof![
            Just(Call::U32),
            Just(Call::U64),
            (0usize..70).prop_map(Call::Bytes)
        ]
    }

    proptest! {
        /// Any seed and any mix of calls give what `rand_chacha` gives, across block ends.
        #[test]
        fn the_stream_is_rand_chachas(seed: u64, calls in prop::collection::vec(call(), 0..120)) {
            let mut ours = ChaCha8Rng::seed_from_u64(seed);
            let mut theirs = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for c in calls {
                match c {
                    Call::U32 => prop_assert_eq!(ours.next_u32(), theirs.next_u32()),
                    Call::U64 => prop_assert_eq!(ours.next_u64(), theirs.next_u64()),
                    Call::Bytes(n) => {
                        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                        ours.fill_bytes(&mut a);
                        theirs.fill_bytes(&mut b);
                        prop_assert_eq!(a, b);
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_run_of_u64s_matches() {
        let mut ours = ChaCha8Rng::from_seed([7; 32]);
        let mut theirs = rand_chacha::ChaCha8Rng::from_seed([7; 32]);
        for _ in 0..10_000 {
            assert_eq!(ours.next_u64(), theirs.next_u64());
        }
    }
}
