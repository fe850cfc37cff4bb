//! Read Kubernetes audit logs in every form they arrive in and write the kubetrail lake: Parquet
//! files partitioned by cluster and day, with one documented schema ([`schema`]).
//!
//! Every non-blank input line ends as rows, as counted exact duplicates, or in quarantine with a
//! reason; Secret values and tokens are redacted before anything is written.
//!
//! ```no_run
//! use ingest::{IngestOptions, Progress, ingest};
//! let opts = IngestOptions::new("lake".into(), vec!["audit.log".into()]);
//! let summary = ingest(&opts, &Progress::default())?;
//! println!("{} rows, {} quarantined", summary.rows, summary.quarantined);
//! # Ok::<(), ingest::IngestError>(())
//! ```

pub mod batch;
pub mod compact;
pub mod error;
pub mod fault;
pub mod normalize;
pub mod pipeline;
pub mod quarantine;
pub mod redact;
pub mod schema;
pub mod sink;
pub mod source;
pub mod state;
pub mod summary;

pub use error::{IngestError, Result};
pub use normalize::actor::ActorKind;
pub use pipeline::{IngestOptions, Progress, Summary, ingest};
