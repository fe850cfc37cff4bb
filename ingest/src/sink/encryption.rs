//! Optional Parquet modular encryption of the lake's sensitive columns: the request and
//! response bodies and `user_extra` ([`ENCRYPTED_COLUMNS`]), AES-GCM under a 256-bit key that
//! the user keeps outside the lake (`--encryption-key-file`, `KUBETRAIL_ENCRYPTION_KEY_FILE`).
//!
//! Footers stay plaintext (signed with the key), so every engine reads the other columns, and
//! `verify` the row counts, without the key; the sensitive columns need it. A lake is encrypted
//! from its first file: `_kubetrail/encryption.json` records which columns and the key's id
//! (never the key), every writer refuses to open an encrypted lake without that key, and a lake
//! that already holds plaintext files cannot start encrypting (its bodies would stay readable).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::schema::types::SchemaDescriptor;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::layout::META_DIR;
use crate::error::{IngestError, Result, lake_err};
use crate::schema::col;

/// Columns whose values are encrypted (every leaf of each: a map's keys and values too).
pub const ENCRYPTED_COLUMNS: &[&str] =
    &[col::REQUEST_OBJECT, col::RESPONSE_OBJECT, col::USER_EXTRA];

/// The file under `_kubetrail/` that marks a lake as encrypted.
pub const MARKER_FILE: &str = "encryption.json";

/// The flag and variable that name the key file, for messages.
pub const KEY_HINT: &str = "--encryption-key-file or KUBETRAIL_ENCRYPTION_KEY_FILE";

/// A 256-bit column key, read from a file holding either the 32 bytes or 64 hex digits
/// (`openssl rand -hex 32 > lake.key`). Its [`ColumnKey::id`] names it without revealing it.
#[derive(Clone)]
pub struct ColumnKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for ColumnKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ColumnKey({})", self.id())
    }
}

impl ColumnKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ColumnKey { bytes }
    }

    /// Read the key from `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |message: String| IngestError::State {
            path: path.to_path_buf(),
            message,
        };
        let raw = std::fs::read(path).map_err(|e| {
            bad(format!(
                "cannot read the column encryption key ({KEY_HINT}): {e}"
            ))
        })?;
        if let Ok(bytes) = <[u8; 32]>::try_from(raw.as_slice()) {
            return Ok(ColumnKey { bytes });
        }
        let text = std::str::from_utf8(&raw).unwrap_or("").trim();
        let mut bytes = [0u8; 32];
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "a column encryption key is 32 bytes or 64 hex digits (make one with `openssl rand -hex 32`), this file holds {} bytes",
                raw.len()
            )));
        }
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|e| bad(format!("not hex: {e}")))?;
        }
        Ok(ColumnKey { bytes })
    }

    /// 16 hex digits that name the key (an HMAC of a constant under it): stored in the lake and
    /// in each file's key metadata, so a wrong key is named as such instead of failing to decrypt.
    pub fn id(&self) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.bytes) else {
            return String::new();
        };
        mac.update(b"kubetrail column key id");
        mac.finalize().into_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The key as hex, as DataFusion's Parquet options take it.
    pub fn hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encryption of the [`ENCRYPTED_COLUMNS`] leaves of `schema` under this key; the footer
    /// plaintext and signed.
    pub fn encryption(&self, schema: &SchemaDescriptor) -> Result<Arc<FileEncryptionProperties>> {
        let id = self.id().into_bytes();
        let mut b = FileEncryptionProperties::builder(self.bytes.to_vec())
            .with_plaintext_footer(true)
            .with_footer_key_metadata(id.clone());
        for path in encrypted_leaves(schema) {
            b = b.with_column_key_and_metadata(&path, self.bytes.to_vec(), id.clone());
        }
        b.build()
            .map_err(|e| IngestError::Other(format!("Parquet encryption settings: {e}")))
    }

    /// Decryption of files this key encrypted.
    pub fn decryption(&self, schema: &SchemaDescriptor) -> Result<Arc<FileDecryptionProperties>> {
        let mut b = FileDecryptionProperties::builder(self.bytes.to_vec());
        for path in encrypted_leaves(schema) {
            b = b.with_column_key(&path, self.bytes.to_vec());
        }
        b.build()
            .map_err(|e| IngestError::Other(format!("Parquet decryption settings: {e}")))
    }
}

/// The dotted Parquet paths of every leaf of the [`ENCRYPTED_COLUMNS`] (a map column has several).
pub fn encrypted_leaves(schema: &SchemaDescriptor) -> Vec<String> {
    schema
        .columns()
        .iter()
        .map(|c| c.path())
        .filter(|p| {
            p.parts()
                .first()
                .is_some_and(|top| ENCRYPTED_COLUMNS.contains(&top.as_str()))
        })
        .map(|p| p.string())
        .collect()
}

/// What `_kubetrail/encryption.json` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Marker {
    /// `AES_GCM_V1`, Parquet's default.
    pub algorithm: String,
    /// The columns encrypted.
    pub columns: Vec<String>,
    /// The [`ColumnKey::id`] of the key.
    pub key_id: String,
}

impl Marker {
    pub fn path(root: &Path) -> PathBuf {
        root.join(META_DIR).join(MARKER_FILE)
    }

    /// The lake's marker, if it is encrypted.
    pub fn load(root: &Path) -> Result<Option<Marker>> {
        let path = Marker::path(root);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| IngestError::State {
                    path,
                    message: format!("not an encryption marker: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(lake_err(&path)(e)),
        }
    }

    /// Refuse `key` if it is not the one this lake was encrypted with.
    pub fn check(&self, root: &Path, key: &ColumnKey) -> Result<()> {
        if key.id() == self.key_id {
            return Ok(());
        }
        Err(IngestError::State {
            path: Marker::path(root),
            message: format!(
                "the lake's columns were encrypted with key {}, the key given ({KEY_HINT}) is {}",
                self.key_id,
                key.id()
            ),
        })
    }
}

/// The key a writer encrypts with, given the key it was handed and whether the lake's manifest
/// lists data files. Marks a lake without files as encrypted when a key is given.
pub fn for_writer(root: &Path, key: Option<&ColumnKey>, in_use: bool) -> Result<Option<ColumnKey>> {
    match (Marker::load(root)?, key) {
        (Some(marker), Some(key)) => {
            marker.check(root, key)?;
            Ok(Some(key.clone()))
        }
        (Some(marker), None) => Err(IngestError::State {
            path: Marker::path(root),
            message: format!(
                "this lake encrypts {} with key {}: pass that key ({KEY_HINT}) to write to it",
                marker.columns.join(", "),
                marker.key_id
            ),
        }),
        (None, Some(_)) if in_use => Err(IngestError::State {
            path: root.to_path_buf(),
            message: format!(
                "this lake already holds unencrypted data files, whose bodies would stay readable: encryption ({KEY_HINT}) starts with a new lake (ingest the sources again into it)"
            ),
        }),
        (None, Some(key)) => {
            let marker = Marker {
                algorithm: "AES_GCM_V1".into(),
                columns: ENCRYPTED_COLUMNS.iter().map(|c| c.to_string()).collect(),
                key_id: key.id(),
            };
            let text = serde_json::to_vec_pretty(&marker)
                .map_err(|e| IngestError::Other(format!("encryption marker: {e}")))?;
            // whole or not at all: a crash cannot leave an empty marker that locks the lake
            crate::state::write_atomic(&Marker::path(root), &text)?;
            Ok(Some(key.clone()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ColumnKey {
        ColumnKey::from_bytes([byte; 32])
    }

    #[test]
    fn a_key_file_holds_raw_bytes_or_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [7u8; 32]).expect("write");
        let hex = dir.path().join("hex");
        std::fs::write(&hex, format!("{}\n", "07".repeat(32))).expect("write");
        let short = dir.path().join("short");
        std::fs::write(&short, "abcd\n").expect("write");
        let a = ColumnKey::load(&raw).expect("raw key");
        let b = ColumnKey::load(&hex).expect("hex key");
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
        let err = ColumnKey::load(&short).expect_err("short key").to_string();
        assert!(
            err.contains("short") && err.contains("64 hex digits"),
            "{err}"
        );
    }

    #[test]
    fn an_encrypted_lake_refuses_writers_without_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(META_DIR)).expect("meta");
        let k = key(1);
        assert!(
            for_writer(dir.path(), Some(&k), false)
                .expect("new")
                .is_some()
        );
        assert!(
            for_writer(dir.path(), Some(&k), true)
                .expect("same key")
                .is_some()
        );
        let none = for_writer(dir.path(), None, true)
            .expect_err("no key")
            .to_string();
        assert!(
            none.contains("request_object") && none.contains(KEY_HINT),
            "{none}"
        );
        let wrong = for_writer(dir.path(), Some(&key(2)), true)
            .expect_err("wrong key")
            .to_string();
        assert!(
            wrong.contains(&k.id()) && wrong.contains(&key(2).id()),
            "{wrong}"
        );
    }

    #[test]
    fn a_lake_with_plaintext_files_does_not_start_encrypting() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(META_DIR)).expect("meta");
        let err = for_writer(dir.path(), Some(&key(1)), true)
            .expect_err("in use")
            .to_string();
        assert!(err.contains("new lake"), "{err}");
        assert!(!Marker::path(dir.path()).exists());
        assert!(for_writer(dir.path(), None, true).expect("plain").is_none());
    }

    #[test]
    fn every_leaf_of_the_sensitive_columns_is_encrypted() {
        let schema = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&crate::schema::file_schema())
            .expect("parquet schema");
        let leaves = encrypted_leaves(&schema);
        for column in ENCRYPTED_COLUMNS {
            assert!(
                leaves
                    .iter()
                    .any(|l| l == column || l.starts_with(&format!("{column}."))),
                "{column} in {leaves:?}"
            );
        }
        // user_extra is a map of lists: its keys and its values are separate leaves
        assert!(
            leaves
                .iter()
                .filter(|l| l.starts_with("user_extra."))
                .count()
                >= 2,
            "{leaves:?}"
        );
        assert!(!leaves.iter().any(|l| l.starts_with("username")));
    }
}
