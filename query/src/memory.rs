//! How much memory a query may hold: `--memory-limit`, `KUBETRAIL_MEMORY_LIMIT`, or by default
//! the smaller of 1 GiB and a quarter of the machine's (or the container's) memory.
//!
//! DataFusion's memory pool enforces it: sorts, aggregations, window functions and joins reserve
//! what they buffer, and those that can spill write to the system's temporary folder when the
//! pool is full. A query that cannot fit even so fails with an error naming the limit, instead of
//! the process being killed for lack of memory. The pool gets three quarters of the limit; the
//! rest is headroom for what DataFusion does not account (Parquet pages being decoded, the
//! batches in flight between operators).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit as PoolLimit, MemoryPool, MemoryReservation,
    TrackConsumersPool,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The environment variable that sets the limit when `--memory-limit` is not given.
pub const ENV: &str = "KUBETRAIL_MEMORY_LIMIT";

/// A byte budget for one query session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemoryLimit(u64);

impl MemoryLimit {
    /// The smallest limit accepted: below this even a plan's fixed buffers do not fit.
    pub const MIN: MemoryLimit = MemoryLimit(MIB);

    pub fn from_bytes(bytes: u64) -> Self {
        MemoryLimit(bytes)
    }

    pub fn bytes(self) -> u64 {
        self.0
    }

    /// `KUBETRAIL_MEMORY_LIMIT` when set, else [`MemoryLimit::machine_default`].
    pub fn from_env() -> Result<Self, ParseLimitError> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => {
                v.parse().map_err(|e| ParseLimitError::Env(Box::new(e)))
            }
            _ => Ok(Self::machine_default()),
        }
    }

    /// The smaller of 1 GiB and a quarter of the memory this process may use.
    pub fn machine_default() -> Self {
        let quarter = available_memory().map_or(GIB, |m| m / 4);
        MemoryLimit(quarter.clamp(Self::MIN.0, GIB))
    }

    /// What a spilled sort sets aside to merge its runs: DataFusion's default (10 MB) where the
    /// pool is roomy, a thirty-second of the pool where it is not.
    pub fn sort_merge_reservation(self) -> usize {
        let pool = self.0 / 4 * 3;
        usize::try_from((pool / 32).min(10 * 1000 * 1000)).unwrap_or(usize::MAX)
    }

    /// The pool DataFusion reserves from: three quarters of the limit, spilling fairly between
    /// the operators that can spill, and naming the limit and the biggest consumers when full.
    pub fn pool(self) -> Arc<dyn MemoryPool> {
        let size = usize::try_from(self.0 / 4 * 3).unwrap_or(usize::MAX);
        let top = std::num::NonZeroUsize::new(3).expect("3 is not zero");
        Arc::new(LimitPool {
            limit: self,
            inner: TrackConsumersPool::new(FairSpillPool::new(size), top),
        })
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
            if b >= unit {
                return if b.is_multiple_of(unit) {
                    write!(f, "{}{name}", b / unit)
                } else {
                    write!(f, "{:.1}{name}", b as f64 / unit as f64)
                };
            }
        }
        write!(f, "{b}B")
    }
}

/// Why a `--memory-limit` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseLimitError {
    #[error("{0:?} is not a size: write a number and a unit, e.g. 512MiB, 1GiB or 2G")]
    NotASize(String),
    #[error(
        "unknown unit {unit:?} in {text:?}: use B, KiB, MiB, GiB, TiB (or K, M, G, T, KB, MB, GB, TB)"
    )]
    Unit { text: String, unit: String },
    #[error("{0} is below the smallest memory limit, 1MiB")]
    TooSmall(String),
    #[error("{ENV}: {0}")]
    Env(Box<ParseLimitError>),
}

impl FromStr for MemoryLimit {
    type Err = ParseLimitError;

    /// `512MiB`, `1GiB`, `1.5G`, `800MB`, `1048576`: binary units whatever the spelling (a
    /// memory budget in powers of ten is never what anyone meant).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = parse_bytes(s)?;
        if bytes < Self::MIN.0 {
            return Err(ParseLimitError::TooSmall(s.to_string()));
        }
        Ok(MemoryLimit(bytes))
    }
}

/// A size in bytes written as a number and a binary unit: `512MiB`, `1GiB`, `1.5G`, `800MB`,
/// `1048576` (the same spellings as `--memory-limit`, for `compact --target-size`).
pub fn parse_bytes(s: &str) -> Result<u64, ParseLimitError> {
    {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| ParseLimitError::NotASize(s.to_string()))?;
        let scale = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => KIB,
            "m" | "mb" | "mib" => MIB,
            "g" | "gb" | "gib" => GIB,
            "t" | "tb" | "tib" => 1024 * GIB,
            other => {
                return Err(ParseLimitError::Unit {
                    text: s.to_string(),
                    unit: other.to_string(),
                });
            }
        };
        let bytes = number * scale as f64;
        if !bytes.is_finite() {
            return Err(ParseLimitError::NotASize(s.to_string()));
        }
        Ok(bytes.min(u64::MAX as f64) as u64)
    }
}

/// What the process may use: the machine's memory, or the cgroup's limit when smaller.
fn available_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * KIB)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// DataFusion's pool, with the user's limit in every refusal.
#[derive(Debug)]
struct LimitPool {
    limit: MemoryLimit,
    inner: TrackConsumersPool<FairSpillPool>,
}

impl fmt::Display for LimitPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kubetrail memory limit {}", self.limit)
    }
}

impl MemoryPool for LimitPool {
    fn name(&self) -> &str {
        "kubetrail"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink)
    }

    fn try_grow(
        &self,
        reservation: &MemoryReservation,
        additional: usize,
    ) -> datafusion::error::Result<()> {
        self.inner.try_grow(reservation, additional).map_err(|e| {
            DataFusionError::ResourcesExhausted(format!(
                "the query needs more memory than the memory limit ({}) allows; raise it with \
                 --memory-limit or {ENV}, or narrow the query (--since, --until, --cluster). {}",
                self.limit,
                e.strip_backtrace()
            ))
        })
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> PoolLimit {
        self.inner.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units_whatever_the_spelling() {
        let cases = [
            ("512MiB", 512 * MIB),
            ("1GiB", GIB),
            ("1G", GIB),
            ("1gb", GIB),
            ("1.5GiB", GIB + GIB / 2),
            ("800 MB", 800 * MIB),
            ("2097152", 2 * MIB),
        ];
        for (text, bytes) in cases {
            assert_eq!(
                text.parse::<MemoryLimit>(),
                Ok(MemoryLimit(bytes)),
                "{text}"
            );
        }
    }

    #[test]
    fn nonsense_and_tiny_sizes_are_refused_with_the_reason() {
        assert!(matches!(
            "lots".parse::<MemoryLimit>(),
            Err(ParseLimitError::NotASize(_))
        ));
        assert!(matches!(
            "1 parsec".parse::<MemoryLimit>(),
            Err(ParseLimitError::Unit { .. })
        ));
        assert!(matches!(
            "1KiB".parse::<MemoryLimit>(),
            Err(ParseLimitError::TooSmall(_))
        ));
        assert!(matches!(
            "0".parse::<MemoryLimit>(),
            Err(ParseLimitError::TooSmall(_))
        ));
    }

    #[test]
    fn limits_print_as_they_are_written() {
        assert_eq!(MemoryLimit(GIB).to_string(), "1GiB");
        assert_eq!(MemoryLimit(512 * MIB).to_string(), "512MiB");
        assert_eq!(MemoryLimit(GIB + GIB / 2).to_string(), "1.5GiB");
    }

    #[test]
    fn the_default_is_at_most_one_gib() {
        let d = MemoryLimit::machine_default();
        assert!(d <= MemoryLimit(GIB) && d >= MemoryLimit::MIN, "{d}");
    }

    #[test]
    fn a_refusal_names_the_limit() {
        let pool = "4MiB".parse::<MemoryLimit>().expect("limit").pool();
        let r = MemoryConsumer::new("test").register(&pool);
        let err = r.try_grow(64 * MIB as usize).expect_err("over the limit");
        let text = err.to_string();
        assert!(text.contains("memory limit (4MiB)"), "{text}");
        assert!(text.contains("--memory-limit"), "{text}");
    }
}
