//! `kubetrail serve`: the receiver the Kubernetes API server's audit webhook backend posts
//! `EventList` batches to, writing into the same lake that `kubetrail ingest` writes.
//!
//! A batch is answered 2xx only once it is in an append-only, checksummed write-ahead log and
//! fsynced ([`wal`]); sealed WAL segments are rolled into the lake in the background by the
//! ingest pipeline itself ([`rollup`]), whose per-input state commits each segment once.
//! Retried batches are recognised by the content hash of each event ([`wal::dedup`]), across
//! restarts too.
//!
//! ```no_run
//! let mut config = serve::Config::new("lake".into(), "127.0.0.1:8443".parse().unwrap());
//! config.insecure_http = true;
//! config.tokens = serve::auth::Tokens::single("s3cret".into());
//! serve::run(config)?;
//! # Ok::<(), serve::ServeError>(())
//! ```

pub mod auth;
pub mod batch;
pub mod client;
mod config;
mod error;
mod http;
pub mod kubeconfig;
pub mod metrics;
mod rollup;
mod server;
pub mod tls;
pub mod wal;
mod wire;

pub use config::{Config, TlsFiles};
pub use error::{Result, ServeError};
pub use server::run;
