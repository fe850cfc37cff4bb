//! The lake on disk:
//!
//! ```text
//! DIR/events/cluster=NAME/day=YYYY-MM-DD/part-RUN-N.parquet   the table, Hive-style partitions
//! DIR/summary/cluster=NAME/day=YYYY-MM-DD/part-RUN-N.parquet  the summary of each data file
//! DIR/_kubetrail/lock                                          held by the one ingest writing
//! DIR/_kubetrail/key                                           per-lake redaction key (0600)
//! DIR/_kubetrail/state.json                                    what was ingested (see state.rs)
//! DIR/_kubetrail/manifest.json                                 every committed data file (manifest.rs)
//! DIR/_kubetrail/quarantine/RUN-N.jsonl                        lines that did not become rows (0600)
//! DIR/_kubetrail/staging/RUN/                                  files of a run not yet committed
//! DIR/_kubetrail/journal.json                                  a commit in progress
//! ```
//!
//! A run writes into staging. A commit writes a journal (the moves, the new manifest, the new
//! state and the files the commit replaces), makes the moves, saves the manifest and the state,
//! deletes the replaced files and removes the journal; a run killed at any point leaves either no
//! visible trace (staging is removed at the next start) or a journal that the next start
//! finishes. Readers see what the manifest lists, so until the manifest is saved they see the
//! lake as it was, and from then on as the commit left it.
//!
//! Everything kubetrail creates in a lake is private to its owner whatever the umask: folders
//! 0700, files 0600 (the data holds who did what; the key makes markers comparable).

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::encryption::ColumnKey;
use super::manifest::Manifest;
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
    /// The committed data files (adopted from the folders for a lake older than manifests).
    pub manifest: Manifest,
    /// The key the sensitive columns of new files are encrypted with, in an encrypted lake
    /// (see [`super::encryption`]).
    pub column_key: Option<ColumnKey>,
}

/// Where the redaction key is: the lake's own `_kubetrail/key`, or a file outside the lake (so
/// that copying the lake to other engines does not copy the key).
#[derive(Debug, Clone, Default)]
pub enum KeySource {
    #[default]
    InLake,
    File(PathBuf),
}

/// Create `dir` (and its parents up to the lake) private to the owner: 0700 whatever the umask.
pub fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(lake_err(dir))?;
    set_mode(dir, 0o700)
}

/// Set a path's permission bits (a no-op off Unix).
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(lake_err(path))?;
    }
    let _ = (path, mode);
    Ok(())
}

/// A commit in progress. Paths are relative to the lake root, so that recovery works from any
/// working directory and on a lake that was moved, and every move stays inside the lake.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    moves: Vec<(PathBuf, PathBuf)>,
    #[serde(default)]
    manifest: Option<Manifest>,
    state: LakeState,
    /// Data files the new manifest no longer lists (replaced by compaction): deleted once the
    /// manifest is saved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removes: Vec<PathBuf>,
}

/// `path` relative to `root`, if it is inside it.
fn inside(root: &Path, path: &Path) -> Result<PathBuf> {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .map_err(|_| IngestError::State {
            path: root.join(META_DIR).join("journal.json"),
            message: format!("{} is outside the lake", path.display()),
        })
}

/// A journal path made absolute under `root`; only plain relative paths are accepted.
fn resolve(root: &Path, rel: &Path) -> Result<PathBuf> {
    use std::path::Component;
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(IngestError::State {
            path: root.join(META_DIR).join("journal.json"),
            message: format!(
                "journal names {}, which is not a path inside the lake; the journal is damaged (move it away to start over: the staged files of that commit are then dropped)",
                rel.display()
            ),
        });
    }
    Ok(root.join(rel))
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

/// Write who holds the lock into the lock file, so a writer that has to wait can say who it
/// waits for: `pid 4242, kubetrail serve, since 2026-12-06T08:00:00Z`.
fn record_holder(lock: &mut File) -> std::io::Result<()> {
    use std::io::{Seek, Write};
    // The program and its subcommand only: later arguments may name paths a user would not want
    // copied into the lake.
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|a| {
            Path::new(&a)
                .file_name()
                .map_or_else(|| a.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let command = match args.next() {
        Some(sub) => format!("{program} {sub}"),
        None => program,
    };
    let line = format!(
        "pid {}, {}, since {}\n",
        std::process::id(),
        command
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    lock.set_len(0)?;
    lock.seek(std::io::SeekFrom::Start(0))?;
    lock.write_all(line.as_bytes())?;
    lock.flush()
}

/// Who holds the lock, as its holder recorded it (an older writer recorded nothing).
fn lock_holder(lock_path: &Path) -> String {
    match std::fs::read_to_string(lock_path) {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
        _ => "another kubetrail writer (ingest, compact, nightly or serve)".to_string(),
    }
}

/// `90s` -> `1m30s`, for messages.
fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

impl Lake {
    /// Open (creating) the lake at `root`, take its lock, and finish or discard whatever a
    /// killed earlier run left behind. Fails at once if another writer holds the lock.
    pub fn open(root: &Path, key: &KeySource) -> Result<Lake> {
        Lake::open_waiting(root, key, None, std::time::Duration::ZERO)
    }

    /// [`Lake::open`], waiting up to `wait` for the lock while another writer (`kubetrail
    /// serve` committing a roll-up, another ingest) holds it. `column_key` is the key of an
    /// encrypted lake (required to write to one), or starts encrypting a new lake.
    pub fn open_waiting(
        root: &Path,
        key: &KeySource,
        column_key: Option<&ColumnKey>,
        wait: std::time::Duration,
    ) -> Result<Lake> {
        let meta = root.join(META_DIR);
        let existed = meta.is_dir() || root.join(EVENTS_DIR).is_dir();
        if !root.exists() {
            private_dir(root)?;
        }
        private_dir(&meta)?;
        private_dir(&root.join(EVENTS_DIR))?;
        let lock_path = meta.join("lock");
        let mut opts = File::options();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut lock = opts.open(&lock_path).map_err(lake_err(&lock_path))?;
        let started = std::time::Instant::now();
        let deadline = started + wait;
        let mut told = false;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    if !told {
                        told = true;
                        eprintln!(
                            "kubetrail: lake {} is locked by {}; waiting up to {} for it",
                            root.display(),
                            lock_holder(&lock_path),
                            humanize(wait)
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(IngestError::Locked {
                        path: root.to_path_buf(),
                        holder: lock_holder(&lock_path),
                        waited: started.elapsed(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(lake_err(&lock_path)(e)),
            }
        }
        record_holder(&mut lock).map_err(lake_err(&lock_path))?;
        // Finish or drop what a killed run left before anything else reads the lake.
        let mut lake = Lake {
            root: root.to_path_buf(),
            _lock: lock,
            run_id: run_id(),
            key: [0; 32],
            manifest: Manifest::default(),
            column_key: None,
        };
        lake.recover()?;
        let in_use = existed
            && (lake.state_path().exists()
                || Manifest::path(root).exists()
                || !super::manifest::data_files(root)?.is_empty());
        lake.key = load_or_create_key(root, key, in_use)?;
        lake.manifest = match Manifest::load(root)? {
            Some(m) => m,
            None => Manifest::adopt(root)?,
        };
        let has_files = !lake.manifest.files.is_empty();
        lake.column_key = super::encryption::for_writer(root, column_key, has_files)?;
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
            .join(self.data_file_name(n))
    }

    /// Final path of the summary of the data file [`Lake::data_path`] names (see [`crate::summary`]).
    pub fn summary_path(&self, cluster: &str, day: &str, n: u64) -> PathBuf {
        self.root
            .join(crate::summary::SUMMARY_DIR)
            .join(format!("cluster={}", partition_value(cluster)))
            .join(format!("day={day}"))
            .join(self.data_file_name(n))
    }

    /// Name of this run's `n`th data file: `part-RUN-NNNNN.parquet`.
    pub fn data_file_name(&self, n: u64) -> String {
        format!("part-{}-{n:05}.parquet", self.run_id)
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
            let (from, to) = (resolve(&self.root, from)?, resolve(&self.root, to)?);
            if from.exists() {
                if let Some(parent) = to.parent() {
                    private_dir(parent)?;
                    // The partition folders between the lake root and the file, too.
                    let mut dir = parent.parent();
                    while let Some(d) = dir {
                        if d == self.root || !d.starts_with(&self.root) {
                            break;
                        }
                        set_mode(d, 0o700)?;
                        dir = d.parent();
                    }
                }
                std::fs::rename(&from, &to).map_err(lake_err(&to))?;
            }
        }
        crate::fault::crash_point("moved");
        if let Some(m) = &j.manifest {
            let text = serde_json::to_vec(m).map_err(|e| IngestError::Other(e.to_string()))?;
            write_atomic(&Manifest::path(&self.root), &text)?;
        }
        j.state.save(&self.state_path())?;
        crate::fault::crash_point("manifest");
        for (n, rel) in j.removes.iter().enumerate() {
            let path = resolve(&self.root, rel)?;
            let listed = j
                .manifest
                .as_ref()
                .is_some_and(|m| m.files.iter().any(|f| Path::new(&f.path) == rel.as_path()));
            let data = rel.starts_with(EVENTS_DIR) || rel.starts_with(crate::summary::SUMMARY_DIR);
            if !data || listed {
                return Err(IngestError::State {
                    path: self.journal_path(),
                    message: format!(
                        "the journal deletes {}, which is not a data file its manifest replaced; the journal is damaged (move it away to start over: the staged files of that commit are then dropped)",
                        rel.display()
                    ),
                });
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                // deleted before a kill, by the run that wrote the journal
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(lake_err(&path)(e)),
            }
            if n == 0 {
                crate::fault::crash_point("removing");
            }
        }
        let journal = self.journal_path();
        std::fs::remove_file(&journal).map_err(lake_err(&journal))
    }

    /// Make staged files visible and record the new state, atomically with respect to a kill.
    pub fn commit(
        &self,
        moves: Vec<(PathBuf, PathBuf)>,
        manifest: &Manifest,
        state: &LakeState,
    ) -> Result<()> {
        self.replace(moves, Vec::new(), manifest, state)
    }

    /// [`Lake::commit`] that also takes files out: `manifest` no longer lists `removes`, which
    /// are deleted once it is saved (a kill before that leaves them to the journal's replay).
    pub fn replace(
        &self,
        moves: Vec<(PathBuf, PathBuf)>,
        removes: Vec<PathBuf>,
        manifest: &Manifest,
        state: &LakeState,
    ) -> Result<()> {
        let moves = moves
            .iter()
            .map(|(from, to)| Ok((inside(&self.root, from)?, inside(&self.root, to)?)))
            .collect::<Result<Vec<_>>>()?;
        let removes = removes
            .iter()
            .map(|p| inside(&self.root, p))
            .collect::<Result<Vec<_>>>()?;
        let j = Journal {
            moves,
            manifest: Some(manifest.clone()),
            state: state.clone(),
            removes,
        };
        let text = serde_json::to_vec(&j).map_err(|e| IngestError::Other(e.to_string()))?;
        write_atomic(&self.journal_path(), &text)?;
        crate::fault::crash_point("journal");
        self.apply(&j)
    }
}

/// The redaction key. A lake that already holds data must have its key: a new one would make
/// new markers differ from old ones for the same value, silently.
fn load_or_create_key(root: &Path, source: &KeySource, in_use: bool) -> Result<[u8; 32]> {
    let path = match source {
        KeySource::InLake => root.join(META_DIR).join("key"),
        KeySource::File(p) => p.clone(),
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| IngestError::State {
                path: path.clone(),
                message: format!("redaction key is {} bytes, not 32", bytes.len()),
            });
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(lake_err(&path)(e)),
        Err(_) => {}
    }
    if in_use {
        return Err(IngestError::State {
            path: path.clone(),
            message: "the redaction key is missing, but the lake already holds data: markers made with a new key would not match the old ones. Restore the key file, or pass the one this lake was written with (--key-file or KUBETRAIL_KEY_FILE)".into(),
        });
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| IngestError::Other(format!("no randomness for the lake key: {e}")))?;
    use std::io::Write;
    let mut f = crate::quarantine::private_file(&path)?;
    f.write_all(&key).map_err(lake_err(&path))?;
    f.sync_all().map_err(lake_err(&path))?;
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
        let _first = Lake::open(dir.path(), &KeySource::InLake).expect("first open");
        match Lake::open(dir.path(), &KeySource::InLake) {
            Err(IngestError::Locked { holder, .. }) => assert!(
                holder.starts_with(&format!("pid {},", std::process::id())),
                "the refusal names the holder: {holder}"
            ),
            other => panic!(
                "a second writer must be refused, got {:?}",
                other.map(|_| ())
            ),
        }
    }

    #[test]
    fn a_writer_waiting_for_the_lock_gets_it_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Lake::open(dir.path(), &KeySource::InLake).expect("first open");
        let root = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            Lake::open_waiting(
                &root,
                &KeySource::InLake,
                None,
                std::time::Duration::from_secs(30),
            )
            .map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(first);
        assert!(waiter.join().expect("no panic").is_ok());
        let _held = Lake::open(dir.path(), &KeySource::InLake).expect("open");
        let t = std::time::Instant::now();
        let late = Lake::open_waiting(
            dir.path(),
            &KeySource::InLake,
            None,
            std::time::Duration::from_millis(200),
        );
        assert!(matches!(late, Err(IngestError::Locked { .. })));
        assert!(t.elapsed() >= std::time::Duration::from_millis(200));
    }

    #[test]
    fn a_journal_left_by_a_killed_commit_is_finished_at_the_next_open_even_after_a_move() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("lake");
        let (staged, target) = {
            let lake = Lake::open(&root, &KeySource::InLake).expect("open");
            private_dir(&lake.staging()).expect("staging");
            let staged = lake.staging().join("00000.parquet");
            std::fs::write(&staged, b"rows").expect("stage");
            let target = lake.data_path("prod", "2026-01-05", 0);
            let state = LakeState {
                version: 1,
                ..Default::default()
            };
            let j = Journal {
                moves: vec![(
                    inside(&root, &staged).expect("inside"),
                    inside(&root, &target).expect("inside"),
                )],
                manifest: Some(Manifest::default()),
                state,
                removes: Vec::new(),
            };
            // The commit is killed right after its journal is written.
            let text = serde_json::to_vec(&j).expect("journal");
            write_atomic(&lake.journal_path(), &text).expect("journal written");
            (
                staged.strip_prefix(&root).expect("rel").to_path_buf(),
                target.strip_prefix(&root).expect("rel").to_path_buf(),
            )
        };
        // The lake is moved (or opened from another directory): the journal still applies.
        let moved = dir.path().join("moved");
        std::fs::rename(&root, &moved).expect("move lake");
        let _lake = Lake::open(&moved, &KeySource::InLake).expect("reopen");
        assert_eq!(
            std::fs::read(moved.join(&target)).expect("moved file"),
            b"rows"
        );
        assert!(!moved.join(&staged).exists());
        assert!(!moved.join(META_DIR).join("journal.json").exists());
        assert!(moved.join(META_DIR).join("state.json").exists());
    }

    #[test]
    fn a_journal_cannot_move_files_outside_the_lake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("lake");
        drop(Lake::open(&root, &KeySource::InLake).expect("open"));
        let j = r#"{"moves":[["_kubetrail/x","../outside"]],"state":{"version":1,"files":[]}}"#;
        std::fs::write(root.join(META_DIR).join("journal.json"), j).expect("journal");
        let err = Lake::open(&root, &KeySource::InLake)
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("not a path inside the lake"),
            "{err}"
        );
    }

    #[test]
    fn a_journal_cannot_delete_a_committed_file_or_anything_outside_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("lake");
        drop(Lake::open(&root, &KeySource::InLake).expect("open"));
        let kept = "events/cluster=a/day=2026-01-05/part-x-00000.parquet";
        private_dir(&root.join("events/cluster=a/day=2026-01-05")).expect("mkdir");
        std::fs::write(root.join(kept), b"rows").expect("data");
        for (victim, listed) in [(kept, true), ("_kubetrail/key", false)] {
            let files = if listed {
                format!(r#"{{"path":"{kept}","size":4,"rows":1,"checksum":"","run":"x"}}"#)
            } else {
                String::new()
            };
            let j = format!(
                r#"{{"moves":[],"manifest":{{"version":1,"files":[{files}]}},"state":{{"version":1,"files":[]}},"removes":["{victim}"]}}"#
            );
            std::fs::write(root.join(META_DIR).join("journal.json"), j).expect("journal");
            let err = Lake::open(&root, &KeySource::InLake)
                .err()
                .expect("refused");
            assert!(
                err.to_string()
                    .contains("not a data file its manifest replaced"),
                "{err}"
            );
            assert!(root.join(victim).exists(), "{victim} was deleted");
        }
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
