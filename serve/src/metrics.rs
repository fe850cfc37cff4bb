//! Counters for `/metrics`, in the Prometheus text format. They count events and batches,
//! never show one.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a batch was refused: the `reason` label of `kubetrail_batches_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// 401: no or wrong credentials.
    Unauthorized,
    /// 413: over the body limit.
    TooLarge,
    /// 400: not a batch of events.
    Malformed,
    /// 503: the WAL writer's queue is full.
    WalBusy,
    /// 429: the roll-up is behind (too many WAL bytes not yet in the lake).
    RollupBehind,
    /// 503: request bodies already use the memory budget.
    Memory,
    /// 503: replaying the WAL after a start, or shutting down.
    NotReady,
    /// 503: the WAL could not be written.
    WalError,
    /// 404/405: not a path or method events are posted to.
    NotFound,
}

impl Rejection {
    pub const ALL: [Rejection; 9] = [
        Rejection::Unauthorized,
        Rejection::TooLarge,
        Rejection::Malformed,
        Rejection::WalBusy,
        Rejection::RollupBehind,
        Rejection::Memory,
        Rejection::NotReady,
        Rejection::WalError,
        Rejection::NotFound,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Rejection::Unauthorized => "unauthorized",
            Rejection::TooLarge => "too_large",
            Rejection::Malformed => "malformed",
            Rejection::WalBusy => "wal_busy",
            Rejection::RollupBehind => "rollup_behind",
            Rejection::Memory => "memory",
            Rejection::NotReady => "not_ready",
            Rejection::WalError => "wal_error",
            Rejection::NotFound => "not_found",
        }
    }
}

/// The receiver's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events in batches answered 2xx (duplicates included).
    pub events_received: AtomicU64,
    /// Events new to the WAL.
    pub events_accepted: AtomicU64,
    /// Events recognised as already accepted (retries).
    pub events_duplicate: AtomicU64,
    /// Rows the roll-up wrote to the lake.
    pub events_written: AtomicU64,
    /// Lines the roll-up quarantined, and malformed bodies.
    pub events_quarantined: AtomicU64,
    pub batches_accepted: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    pub rollups: AtomicU64,
    pub rollup_errors: AtomicU64,
}

impl Metrics {
    pub fn reject(&self, why: Rejection) {
        if let Some(i) = Rejection::ALL.iter().position(|r| *r == why) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn rejected(&self, why: Rejection) -> u64 {
        Rejection::ALL
            .iter()
            .position(|r| *r == why)
            .map_or(0, |i| self.rejected[i].load(Ordering::Relaxed))
    }

    /// The text `/metrics` answers; `wal_bytes` and `lag` are read at the time of the request.
    pub fn render(&self, wal_bytes: u64, lag_seconds: f64, ready: bool) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            &mut out,
            "kubetrail_events_received_total",
            "Events in batches answered 2xx, retried duplicates included.",
            &self.events_received,
        );
        counter(
            &mut out,
            "kubetrail_events_accepted_total",
            "Events new to the write-ahead log.",
            &self.events_accepted,
        );
        counter(
            &mut out,
            "kubetrail_events_duplicate_total",
            "Events of retried batches already accepted.",
            &self.events_duplicate,
        );
        counter(
            &mut out,
            "kubetrail_events_written_total",
            "Rows the roll-up wrote to the lake.",
            &self.events_written,
        );
        counter(
            &mut out,
            "kubetrail_events_quarantined_total",
            "Lines the roll-up quarantined, and malformed bodies.",
            &self.events_quarantined,
        );
        counter(
            &mut out,
            "kubetrail_batches_accepted_total",
            "Batches answered 2xx.",
            &self.batches_accepted,
        );
        let _ = writeln!(
            out,
            "# HELP kubetrail_batches_rejected_total Batches refused, by reason.\n# TYPE kubetrail_batches_rejected_total counter"
        );
        for (i, r) in Rejection::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "kubetrail_batches_rejected_total{{reason=\"{}\"}} {}",
                r.label(),
                self.rejected[i].load(Ordering::Relaxed)
            );
        }
        counter(
            &mut out,
            "kubetrail_rollups_total",
            "Roll-ups of WAL segments committed to the lake.",
            &self.rollups,
        );
        counter(
            &mut out,
            "kubetrail_rollup_errors_total",
            "Roll-ups that failed (their segments are kept and retried).",
            &self.rollup_errors,
        );
        let _ = writeln!(
            out,
            "# HELP kubetrail_wal_bytes Bytes in the write-ahead log not yet in the lake.\n# TYPE kubetrail_wal_bytes gauge\nkubetrail_wal_bytes {wal_bytes}"
        );
        let _ = writeln!(
            out,
            "# HELP kubetrail_rollup_lag_seconds Age of the oldest event not yet in the lake.\n# TYPE kubetrail_rollup_lag_seconds gauge\nkubetrail_rollup_lag_seconds {lag_seconds:.3}"
        );
        let _ = writeln!(
            out,
            "# HELP kubetrail_ready Whether the WAL has been replayed and batches are accepted.\n# TYPE kubetrail_ready gauge\nkubetrail_ready {}",
            u8::from(ready)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_by_reason_in_the_exposition() {
        let m = Metrics::default();
        m.reject(Rejection::Unauthorized);
        m.reject(Rejection::Unauthorized);
        m.reject(Rejection::TooLarge);
        let text = m.render(10, 1.5, true);
        assert!(
            text.contains("kubetrail_batches_rejected_total{reason=\"unauthorized\"} 2"),
            "{text}"
        );
        assert!(text.contains("kubetrail_batches_rejected_total{reason=\"too_large\"} 1"));
        assert!(text.contains("kubetrail_wal_bytes 10"));
        assert!(text.contains("kubetrail_rollup_lag_seconds 1.500"));
    }
}
