//! Maps keyed by call ids (and other small keys the call path looks up): the connections' maps
//! of calls in progress, looked up several times per call. std's default SipHash costs more than the rest of a lookup for a 4-byte key; this
//! hasher is one multiply, seeded once per process so a peer cannot choose call ids that land
//! in one bucket without knowing the seed (each map is bounded by the connection's call limit
//! anyway).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A `HashMap` keyed by call id (or any integer id) with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, IdHash>;

/// Builds [`IdHasher`]s with the process's seed.
#[derive(Clone, Copy, Debug)]
pub struct IdHash(u64);

impl Default for IdHash {
    fn default() -> IdHash {
        static SEED: OnceLock<u64> = OnceLock::new();
        IdHash(*SEED.get_or_init(|| {
            // std's per-process random keys, read once.
            std::collections::hash_map::RandomState::new().hash_one(0x006d_7372_7063_u64)
        }))
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.0)
    }
}

/// A hasher for integer keys: xor with the seed, multiply by an odd constant, swap the halves
/// (the table indexes by the low bits, and tags entries with the top ones).
#[derive(Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl IdHasher {
    fn mix(&mut self, v: u64) {
        // Fibonacci hashing: the high half of the product depends on every bit of the key and
        // spreads sequential keys evenly; the rotation brings it to the low bits the table
        // indexes by.
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(32);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Eight bytes at a time (a UUID is two mixes).
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.mix(u64::from(*b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_and_the_map_works() {
        let mut m: IdMap<u32, u32> = IdMap::default();
        for i in 0..10_000u32 {
            m.insert(i, i * 2);
        }
        assert_eq!(m.len(), 10_000);
        assert!((0..10_000u32).all(|i| m.get(&i) == Some(&(i * 2))));
        // Sequential keys give distinct hashes in their low bits (a table of 4096 buckets).
        let b = IdHash::default();
        let buckets: std::collections::HashSet<u64> =
            (0..4096u32).map(|i| b.hash_one(i) & 4095).collect();
        assert!(buckets.len() > 2500, "{} buckets", buckets.len());
    }
}
