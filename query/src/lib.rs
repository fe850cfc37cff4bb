//! SQL over the kubetrail lake with Apache DataFusion: the `events` table with partition pruning
//! by cluster and day, JSON functions for request and response bodies, read-only execution,
//! result formatting and the interactive shell.
//!
//! ```no_run
//! # async fn demo() -> Result<(), query::QueryError> {
//! let ctx = query::session::open("lake".as_ref(), &query::session::Scope::default()).await?;
//! let batches = query::run::collect(&ctx, "SELECT count(*) FROM events").await?;
//! query::output::write(&batches, query::output::Format::Table, &mut std::io::stdout())?;
//! # Ok(()) }
//! ```

pub mod actor;
pub mod committed;
pub mod csr;
pub mod engine;
pub mod error;
pub mod files;
pub mod ioc;
pub mod lake;
pub mod memory;
pub mod output;
pub mod run;
pub mod sealed;
pub mod session;
pub mod shell;
pub mod summarised;
pub mod timearg;

pub use error::{QueryError, Result};
