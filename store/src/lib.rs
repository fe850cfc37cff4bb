//! The kubetrail lake on object storage: `--lake s3://bucket/prefix` (or `gs://`, `az://`).
//!
//! A remote lake has the local layout under its URL, and its manifest
//! (`_kubetrail/manifest.json`) is the commit: readers list the files the manifest names (the
//! `query` crate's committed-files store), and writers publish a new manifest only after the
//! files it adds are uploaded, with a conditional put so that concurrent writers never lose each
//! other's files ([`publish`]). Nothing relies on rename, which object stores do not have.

pub mod compact;
pub mod error;
pub mod objects;
pub mod publish;
pub mod remote;
pub mod verify;

pub use error::{Result, StoreError};
pub use objects::inputs_at;
pub use publish::{Published, StagedRun};
pub use remote::{RemoteLake, is_remote};
