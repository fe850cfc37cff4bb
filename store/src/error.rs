//! Errors of the object-store lake: each names the URL (and object) it is about.

/// What went wrong reading or writing a lake on object storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{url} is not a lake URL kubetrail can open: {message}")]
    Url { url: String, message: String },
    #[error("lake {url}: {source}")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("lake {url}: {object} is damaged: {message}")]
    Damaged {
        url: String,
        object: String,
        message: String,
    },
    #[error(
        "no lake at {0}: a lake on object storage holds `_kubetrail/manifest.json` (made by `kubetrail ingest --lake {0} FILES`); check --lake, the bucket's name and your credentials"
    )]
    NoLake(String),
    #[error("lake {url}: uploading {object}: {source}")]
    Upload {
        url: String,
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lake {url}: {message}")]
    Refused { url: String, message: String },
    #[error(
        "lake {url}: the manifest changed under {tries} commits in a row (other writers committing); the run's files are uploaded but not committed: run the ingest again"
    )]
    Contended { url: String, tries: u32 },
    #[error("staging the run in {path}: {source}")]
    Local {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
