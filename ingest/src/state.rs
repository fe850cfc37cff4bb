//! The lake's memory of what it has ingested: for each input, how far it was read and a hash of
//! everything up to there. A rotated, renamed or compressed copy is recognised by content, not by
//! name; a file that grew is resumed where the last ingest stopped, but only if everything before
//! that point is byte for byte what was read then. A fingerprint of the first 4 KiB only finds
//! the candidates; the hash of the whole consumed prefix decides.

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
    /// Fingerprint of the first `fingerprint_len` decompressed bytes: finds candidates.
    pub content_fingerprint: String,
    pub fingerprint_len: u64,
    /// Decompressed bytes and lines consumed (complete lines only).
    pub offset: u64,
    pub lines: u64,
    /// Hash of the first `offset` decompressed bytes: decides whether an input continues this
    /// one. Absent in states written before it existed (then the fingerprint decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_hash: Option<String>,
    /// The input was one JSON document (a pretty EventList, an array): it is never resumed at
    /// an offset, only skipped when it is identical.
    #[serde(default)]
    pub document: bool,
    /// A last line without a newline that was quarantined as incomplete: its length and hash,
    /// so that an unchanged file does not quarantine it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tail: Option<(u64, String)>,
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

    /// Earlier ingests of inputs that begin like `head` (decompressed), by offset: the
    /// candidates an input may continue. Whether it does is decided by [`FileRecord::prefix_hash`].
    pub fn candidates(&self, head: &[u8]) -> Vec<&FileRecord> {
        let mut found: Vec<&FileRecord> = self
            .files
            .iter()
            .filter(|r| {
                let n = r.fingerprint_len as usize;
                n > 0 && n <= head.len() && fingerprint(&head[..n]) == r.content_fingerprint
            })
            .collect();
        found.sort_by_key(|r| r.offset);
        found
    }

    /// Record progress on an input, replacing the record it continues (whose
    /// [`FileRecord::key`] is `replaces`) and any record of exactly the same content.
    pub fn upsert(&mut self, record: FileRecord, replaces: Option<&str>) {
        let key = record.key();
        self.files
            .retain(|r| Some(r.key().as_str()) != replaces && r.key() != key);
        self.files.push(record);
    }

    /// Forget the inputs under `dir` whose files no longer exist; how many were forgotten. For
    /// inputs that their producer deletes once they are in the lake (the receiver's WAL
    /// segments), so the state stays as large as what is still on disk.
    pub fn forget_gone_under(&mut self, dir: &Path) -> usize {
        let before = self.files.len();
        self.files.retain(|r| {
            let p = Path::new(&r.path);
            !p.starts_with(dir) || p.exists()
        });
        before - self.files.len()
    }
}

impl FileRecord {
    /// What identifies the content this record covers: the prefix hash and its length.
    pub fn key(&self) -> String {
        match &self.prefix_hash {
            Some(h) => format!("{h}@{}", self.offset),
            None => format!(
                "{}/{}@{}",
                self.content_fingerprint, self.fingerprint_len, self.offset
            ),
        }
    }
}

/// Write a file atomically: a temporary sibling, fsync, then rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp: PathBuf = path.with_extension("tmp");
    let mut f = crate::quarantine::private_file(&tmp)?;
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
            content_fingerprint: fingerprint(head),
            fingerprint_len: head.len() as u64,
            offset,
            lines: 1,
            prefix_hash: Some(fingerprint(&head[..offset as usize])),
            document: false,
            pending_tail: None,
            updated: String::new(),
        }
    }

    #[test]
    fn inputs_that_begin_alike_are_candidates_in_offset_order() {
        let mut state = LakeState::default();
        state.upsert(record(b"line1\nline2\n", 12), None);
        state.upsert(record(b"line1\n", 6), None);
        let found: Vec<u64> = state
            .candidates(b"line1\nline2\nline3\n")
            .iter()
            .map(|r| r.offset)
            .collect();
        assert_eq!(found, [6, 12]);
        assert!(state.candidates(b"other\n").is_empty());
    }

    #[test]
    fn only_gone_inputs_under_the_folder_are_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = dir.path().join("kept.log");
        std::fs::write(&kept, "x").expect("write");
        let mut state = LakeState::default();
        for (n, path) in [
            kept.clone(),
            dir.path().join("gone.log"),
            PathBuf::from("/elsewhere/gone.log"),
        ]
        .iter()
        .enumerate()
        {
            let mut r = record(b"line1\n", 6);
            r.path = path.display().to_string();
            r.prefix_hash = Some(format!("{n}"));
            state.upsert(r, None);
        }
        assert_eq!(state.forget_gone_under(dir.path()), 1);
        let left: Vec<&str> = state.files.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            left,
            [kept.display().to_string().as_str(), "/elsewhere/gone.log"]
        );
    }

    #[test]
    fn progress_replaces_the_record_it_continues() {
        let mut state = LakeState::default();
        let first = record(b"line1\n", 6);
        let key = first.key();
        state.upsert(first, None);
        state.upsert(record(b"line1\nline2\n", 12), Some(&key));
        assert_eq!(state.files.len(), 1);
        assert_eq!(state.files[0].offset, 12);
    }
}
