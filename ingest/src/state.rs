//! The lake's memory of what it has ingested: a fingerprint of each input's beginning, its size
//! and how far it was read. A rotated or renamed copy is recognised by content, not by name, and a
//! file that grew is resumed where the last ingest stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result, lake_err};

/// How many bytes of an input's (decompressed) beginning identify it.
pub const FINGERPRINT_BYTES: usize = 4096;

/// Hash used for fingerprints, as 16 hex digits.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// What the lake knows about one ingested input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    /// Where the input was last seen (informational: matching is by content).
    pub path: String,
    /// Fingerprint of the first [`FINGERPRINT_BYTES`] raw bytes and the raw size, once the
    /// input was read to its end: an identical copy is then skipped without being read.
    pub raw_fingerprint: Option<String>,
    pub raw_size: Option<u64>,
    /// Fingerprint of the first `fingerprint_len` decompressed bytes.
    pub content_fingerprint: String,
    pub fingerprint_len: u64,
    /// Decompressed bytes and lines consumed (complete lines only).
    pub offset: u64,
    pub lines: u64,
    pub updated: String,
}

/// `DIR/_kubetrail/state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LakeState {
    pub version: u32,
    pub files: Vec<FileRecord>,
}

impl LakeState {
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| IngestError::State {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LakeState {
                version: 1,
                files: Vec::new(),
            }),
            Err(e) => Err(IngestError::Lake {
                path: path.to_path_buf(),
                source: e,
            }),
        }
    }

    /// Write atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text =
            serde_json::to_vec_pretty(self).map_err(|e| IngestError::Other(e.to_string()))?;
        write_atomic(path, &text)
    }

    /// A complete earlier ingest of a byte-identical input.
    pub fn identical(&self, raw_fingerprint: &str, raw_size: u64) -> Option<&FileRecord> {
        self.files.iter().find(|r| {
            r.raw_fingerprint.as_deref() == Some(raw_fingerprint) && r.raw_size == Some(raw_size)
        })
    }

    /// The furthest point an earlier ingest reached in an input that begins with `head`
    /// (decompressed): its offset and line count.
    pub fn resume_point(&self, head: &[u8]) -> Option<&FileRecord> {
        self.files
            .iter()
            .filter(|r| {
                let n = r.fingerprint_len as usize;
                n > 0 && n <= head.len() && fingerprint(&head[..n]) == r.content_fingerprint
            })
            .max_by_key(|r| r.offset)
    }

    /// Record progress on an input, replacing the record it continues (same content start).
    pub fn upsert(&mut self, record: FileRecord) {
        self.files.retain(|r| {
            !(r.content_fingerprint == record.content_fingerprint
                && r.fingerprint_len == record.fingerprint_len)
        });
        // A longer fingerprint supersedes a shorter one of the same content (a small file grew).
        self.files.push(record);
    }
}

/// Write a file atomically: a temporary sibling, fsync, then rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp: PathBuf = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(lake_err(&tmp))?;
    f.write_all(bytes).map_err(lake_err(&tmp))?;
    f.sync_all().map_err(lake_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(lake_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(head: &[u8], offset: u64) -> FileRecord {
        FileRecord {
            path: "a".into(),
            raw_fingerprint: None,
            raw_size: None,
            content_fingerprint: fingerprint(head),
            fingerprint_len: head.len() as u64,
            offset,
            lines: 1,
            updated: String::new(),
        }
    }

    #[test]
    fn a_grown_file_resumes_from_the_recorded_offset() {
        let mut state = LakeState::default();
        state.upsert(record(b"line1\n", 6));
        let found = state.resume_point(b"line1\nline2\n").map(|r| r.offset);
        assert_eq!(found, Some(6));
        assert_eq!(state.resume_point(b"other\n").map(|r| r.offset), None);
    }
}
