//! Errors of the query library.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no lake at {0}: run `kubetrail ingest --lake {0} FILES` first")]
    NoLake(PathBuf),
    #[error(
        "{0} is not a kubetrail lake: a lake is a folder holding `_kubetrail/` or `events/` (made by `kubetrail ingest --lake {0} FILES`); check --lake or KUBETRAIL_LAKE"
    )]
    NotALake(PathBuf),
    #[error(
        "kubetrail queries are read-only: statements that write, create or copy files are refused ({0})"
    )]
    ReadOnly(String),
    #[error("{0}")]
    Sql(String),
    /// The query needed more memory than the session's limit (`--memory-limit`) allows.
    #[error("{0}")]
    OutOfMemory(String),
    #[error("{file}:{line}: {message}")]
    Ioc {
        file: String,
        line: usize,
        message: String,
    },
    #[error("memory limit: {0}")]
    MemoryLimit(#[from] crate::memory::ParseLimitError),
    #[error(transparent)]
    Lake(#[from] ingest::IngestError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;
