//! How the receiver runs: one struct the command line fills in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ingest::sink::encryption::ColumnKey;
use ingest::sink::layout::KeySource;

use crate::auth::Tokens;

/// Certificate and key of the HTTPS listener, and the CA that signs client certificates.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client certificates signed by this CA authenticate a request without a token.
    pub client_ca: Option<PathBuf>,
}

/// Everything `kubetrail serve` is told.
#[derive(Debug, Clone)]
pub struct Config {
    pub lake: PathBuf,
    pub key: KeySource,
    /// The key of an encrypted lake (see `ingest::sink::encryption`).
    pub column_key: Option<ColumnKey>,
    /// Where the write-ahead log lives: outside the lake, because the lake's files are never
    /// ingest inputs [default: `LAKE.wal` beside the lake].
    pub wal_dir: PathBuf,
    pub listen: SocketAddr,
    /// `None` only with [`Config::insecure_http`].
    pub tls: Option<TlsFiles>,
    pub insecure_http: bool,
    pub tokens: Tokens,
    /// Cluster of batches whose path and token name none.
    pub cluster: String,
    /// Larger bodies get 413.
    pub body_limit: usize,
    /// Bytes of request bodies held in memory at once; beyond it requests get 503.
    pub memory_limit: usize,
    /// Un-rolled WAL bytes beyond which batches get 429 until the roll-up catches up.
    pub wal_limit: u64,
    /// A WAL segment is sealed (and rolled up) at this size ...
    pub roll_bytes: u64,
    /// ... or at this age, whichever comes first.
    pub roll_age: Duration,
    /// Batches waiting for the WAL writer beyond which requests get 503.
    pub queue_batches: usize,
    /// Event hashes remembered to recognise retried batches (across restarts).
    pub dedup_window: usize,
    /// Parser threads of a roll-up (0: one per core).
    pub rollup_threads: usize,
    /// How long a roll-up waits for the lake's writer lock held by `ingest` or `nightly`.
    pub lock_wait: Duration,
}

impl Config {
    pub fn new(lake: PathBuf, listen: SocketAddr) -> Self {
        let wal_dir = default_wal_dir(&lake);
        Config {
            lake,
            key: KeySource::InLake,
            column_key: None,
            wal_dir,
            listen,
            tls: None,
            insecure_http: false,
            tokens: Tokens::default(),
            cluster: "default".into(),
            body_limit: 64 << 20,
            memory_limit: 512 << 20,
            wal_limit: 2 << 30,
            roll_bytes: 64 << 20,
            roll_age: Duration::from_secs(30),
            queue_batches: 256,
            dedup_window: 2_000_000,
            rollup_threads: 0,
            lock_wait: Duration::from_secs(600),
        }
    }
}

/// `LAKE.wal` beside the lake (`/data/lake` gives `/data/lake.wal`).
pub fn default_wal_dir(lake: &std::path::Path) -> PathBuf {
    let mut name = lake
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "kubetrail-lake".into());
    name.push(".wal");
    match lake.file_name() {
        Some(_) => lake.with_file_name(name),
        // `.` or `/`: the folder itself has no name here; put the WAL inside a sibling name.
        None => lake.join("..").join(name),
    }
}
