//! Errors of the ingest library: each carries the path (and where useful the line) it is about.

use std::path::PathBuf;

/// What went wrong while ingesting. Per-line problems are not errors: they go to quarantine.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read input {path}: {source}")]
    Input {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input {0} does not exist")]
    MissingInput(PathBuf),
    #[error(
        "input {path} is a {kind}, not a regular file or directory: kubetrail reads files, directories and `-` (standard input); to read a stream, pipe it in: `... | kubetrail ingest -`"
    )]
    SpecialFile { path: PathBuf, kind: &'static str },
    #[error("cannot write to lake {path}: {source}")]
    Lake {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another writer ({holder}) kept lake {} locked ({}/_kubetrail/lock) for longer than this run waits ({waited:?}); try again when it is done, or wait longer with --lock-wait",
        path.display(), path.display()
    )]
    Locked {
        path: PathBuf,
        /// Who holds the lock, as it wrote itself into the lock file.
        holder: String,
        waited: std::time::Duration,
    },
    #[error(
        "no lake at {0}: a lake is a folder holding `_kubetrail/` or `events/` (made by `kubetrail ingest --lake {0} FILES`); check --lake or KUBETRAIL_LAKE"
    )]
    NoLake(PathBuf),
    #[error("cannot compact {path}: {message}")]
    Compact { path: PathBuf, message: String },
    #[error("lake state {path} is damaged: {message}")]
    State { path: PathBuf, message: String },
    #[error("writing parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("building arrow batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Attach a path to an I/O error on the lake side.
pub(crate) fn lake_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IngestError {
    let path = path.into();
    move |source| IngestError::Lake { path, source }
}

/// Attach a path to an I/O error on the input side.
pub(crate) fn input_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IngestError {
    let path = path.into();
    move |source| IngestError::Input { path, source }
}
