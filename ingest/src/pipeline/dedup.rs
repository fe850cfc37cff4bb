//! The dedup stage: exact duplicates (the same bytes, as when a webhook batch is retried or a
//! rotated file is read twice) among the most recent events are dropped and counted.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A set of event content hashes. They are keyed xxh3 hashes already (seeded by the lake's key,
/// so no input can aim at a bucket), and are used as their own hash instead of being hashed
/// again with SipHash.
pub type ContentHashes = HashSet<u64, BuildHasherDefault<Prehashed>>;

/// The hasher of [`ContentHashes`]: a `u64` key is its own hash.
#[derive(Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; folds anything else in so that the hasher stays correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Exact duplicates among the most recent events, in bounded memory.
pub(super) struct DedupWindow {
    seen: ContentHashes,
    order: VecDeque<u64>,
    capacity: usize,
}

impl DedupWindow {
    pub(super) fn new(capacity: usize) -> Self {
        DedupWindow {
            seen: ContentHashes::with_capacity_and_hasher(
                capacity.min(1 << 20),
                Default::default(),
            ),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// True if `hash` is new (and remember it).
    pub(super) fn insert(&mut self, hash: u64) -> bool {
        if !self.seen.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}
