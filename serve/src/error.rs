//! The receiver's errors: each names the file or address it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
}

pub type Result<T> = std::result::Result<T, ServeError>;

/// Map an I/O error to [`ServeError::Io`] naming `path`.
pub fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> ServeError + '_ {
    move |source| ServeError::Io {
        path: path.to_path_buf(),
        source,
    }
}
