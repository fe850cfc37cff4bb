//! The dedup stage: exact duplicates (the same bytes, as when a webhook batch is retried or a
//! rotated file is read twice) among the most recent events are dropped and counted.

use std::collections::{HashSet, VecDeque};

/// Exact duplicates among the most recent events, in bounded memory.
pub(super) struct DedupWindow {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl DedupWindow {
    pub(super) fn new(capacity: usize) -> Self {
        DedupWindow {
            seen: HashSet::with_capacity(capacity.min(1 << 20)),
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
