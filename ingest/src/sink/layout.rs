//! The lake on disk:
//!
//! ```text
//! DIR/events/cluster=NAME/day=YYYY-MM-DD/part-RUN-N.parquet   the table, Hive-style partitions
//! DIR/_kubetrail/lock                                          held by the one ingest writing
//! DIR/_kubetrail/key                                           per-lake redaction key (0600)
//! DIR/_kubetrail/state.json                                    what was ingested (see state.rs)
//! DIR/_kubetrail/quarantine/RUN-N.jsonl                        lines that did not become rows (0600)
//! DIR/_kubetrail/staging/RUN/                                  files of a run not yet committed
//! DIR/_kubetrail/journal.json                                  a commit in progress
//! ```
//!
//! A run writes into staging. A commit writes a journal (the moves and the new state), makes the
//! moves, saves the state and removes the journal; a run killed at any point leaves either no
//! visible trace (staging is removed at the next start) or a journal that the next start finishes.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result, lake_err};
use crate::state::{LakeState, write_atomic};

pub const EVENTS_DIR: &str = "events";
pub const META_DIR: &str = "_kubetrail";

/// A lake opened for writing, holding its lock.
pub struct Lake {
    pub root: PathBuf,
    _lock: File,
    pub run_id: String,
    pub key: [u8; 32],
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    moves: Vec<(PathBuf, PathBuf)>,
    state: LakeState,
}

/// A cluster name as it appears in its partition directory `cluster=VALUE`: percent-encoded the
/// way Hive and Spark escape partition values, so readers that undo the escapes (DataFusion, Spark,
/// Hive, pyarrow) see the name exactly as given, and two names never share a directory.
///
/// Encoded as `%XX` (upper-case hex, per UTF-8 byte): control characters (C0, DEL and C1), `"`,
/// `#`, `%`, `'`, `*`, `/`, `:`, `=`, `?`, `\`, `{`, `[`, `]`, `^`, and a leading `.` (no hidden
/// or `..` directory).
/// Everything else, non-ASCII included, is kept as it is: `prod/eu` is stored as `prod%2Feu`.
pub fn partition_value(cluster: &str) -> String {
    let mut out = String::with_capacity(cluster.len());
    for (i, c) in cluster.chars().enumerate() {
        let escape = c.is_control()
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
            )
            || (i == 0 && c == '.');
        if escape {
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Lake {
    /// Open (creating) the lake at `root`, take its lock, and finish or discard whatever a
    /// killed earlier run left behind.
    pub fn open(root: &Path) -> Result<Lake> {
        let meta = root.join(META_DIR);
        std::fs::create_dir_all(&meta).map_err(lake_err(&meta))?;
        std::fs::create_dir_all(root.join(EVENTS_DIR)).map_err(lake_err(root.join(EVENTS_DIR)))?;
        let lock_path = meta.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(lake_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(IngestError::Locked(root.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lake_err(&lock_path)(e)),
        }
        let key = load_or_create_key(&meta.join("key"))?;
        let run_id = run_id();
        let lake = Lake {
            root: root.to_path_buf(),
            _lock: lock,
            run_id,
            key,
        };
        lake.recover()?;
        Ok(lake)
    }

    pub fn meta(&self) -> PathBuf {
        self.root.join(META_DIR)
    }

    pub fn state_path(&self) -> PathBuf {
        self.meta().join("state.json")
    }

    pub fn staging(&self) -> PathBuf {
        self.meta().join("staging").join(&self.run_id)
    }

    /// Final path of a data file of partition (cluster, day).
    pub fn data_path(&self, cluster: &str, day: &str, n: u64) -> PathBuf {
        self.root
            .join(EVENTS_DIR)
            .join(format!("cluster={}", partition_value(cluster)))
            .join(format!("day={day}"))
            .join(format!("part-{}-{n:05}.parquet", self.run_id))
    }

    pub fn quarantine_path(&self, n: u64) -> PathBuf {
        self.meta()
            .join("quarantine")
            .join(format!("{}-{n:03}.jsonl", self.run_id))
    }

    fn journal_path(&self) -> PathBuf {
        self.meta().join("journal.json")
    }

    /// Finish a commit a killed run left in its journal; drop uncommitted staging.
    fn recover(&self) -> Result<()> {
        let journal = self.journal_path();
        if journal.exists() {
            let bytes = std::fs::read(&journal).map_err(lake_err(&journal))?;
            let j: Journal = serde_json::from_slice(&bytes).map_err(|e| IngestError::State {
                path: journal.clone(),
                message: e.to_string(),
            })?;
            self.apply(&j)?;
        }
        let staging = self.meta().join("staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(lake_err(&staging))?;
        }
        Ok(())
    }

    fn apply(&self, j: &Journal) -> Result<()> {
        for (from, to) in &j.moves {
            if from.exists() {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(lake_err(parent))?;
                }
                std::fs::rename(from, to).map_err(lake_err(to))?;
            }
        }
        j.state.save(&self.state_path())?;
        let journal = self.journal_path();
        std::fs::remove_file(&journal).map_err(lake_err(&journal))
    }

    /// Make staged files visible and record the new state, atomically with respect to a kill.
    pub fn commit(&self, moves: Vec<(PathBuf, PathBuf)>, state: &LakeState) -> Result<()> {
        let j = Journal {
            moves,
            state: state.clone(),
        };
        let text = serde_json::to_vec(&j).map_err(|e| IngestError::Other(e.to_string()))?;
        write_atomic(&self.journal_path(), &text)?;
        self.apply(&j)
    }
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path) {
        if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(key);
        }
        return Err(IngestError::State {
            path: path.to_path_buf(),
            message: "redaction key is not 32 bytes".into(),
        });
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| IngestError::Other(format!("no randomness for the lake key: {e}")))?;
    use std::io::Write;
    let mut f = crate::quarantine::private_file(path)?;
    f.write_all(&key).map_err(lake_err(path))?;
    f.sync_all().map_err(lake_err(path))?;
    Ok(key)
}

/// A run id that sorts by time: `20260105T101500Z-1a2b3c`.
fn run_id() -> String {
    let mut r = [0u8; 3];
    let _ = getrandom::fill(&mut r);
    format!(
        "{}-{:02x}{:02x}{:02x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        r[0],
        r[1],
        r[2]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = Lake::open(dir.path()).expect("first open");
        assert!(matches!(
            Lake::open(dir.path()),
            Err(IngestError::Locked(_))
        ));
    }

    #[test]
    fn cluster_names_are_percent_encoded_as_hive_does() {
        assert_eq!(partition_value("prod/eu west"), "prod%2Feu west");
        assert_eq!(partition_value("prod_eu"), "prod_eu");
        assert_eq!(partition_value(".."), "%2E.");
        assert_eq!(partition_value(".hidden"), "%2Ehidden");
        assert_eq!(partition_value("a=b:c%d"), "a%3Db%3Ac%25d");
        assert_eq!(partition_value("esc\u{1b}]52;"), "esc%1B%5D52;");
        assert_eq!(partition_value("zürich-1.eu"), "zürich-1.eu");
        assert_eq!(partition_value("c1\u{9b}"), "c1%C2%9B");
    }

    #[test]
    fn every_encoded_cluster_name_decodes_to_itself() {
        for name in [
            "prod/eu",
            "prod_eu",
            "%2F",
            "a=b",
            "..",
            "x\ty",
            "日本/東京",
            "q?#*",
            "\u{9b}",
        ] {
            let encoded = partition_value(name);
            assert!(
                !encoded.contains('/') && !encoded.starts_with('.'),
                "{encoded}"
            );
            let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8();
            assert_eq!(decoded.ok().as_deref(), Some(name), "{encoded}");
        }
    }
}
