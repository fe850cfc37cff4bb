//! The roll-up: sealed WAL segments become lake rows through the ingest pipeline itself (each
//! segment is a file of webhook `EventList` lines, an input format `ingest` reads), so parsing,
//! redaction, Parquet layout, the manifest, the journal and the per-input state are the ones
//! `kubetrail ingest` uses. The lake's writer lock is held only while a roll-up runs. A segment
//! is removed only after the commit that holds its rows; if the receiver dies in between, the
//! lake's state knows the segment and the next roll-up skips it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ingest::quarantine::{QuarantineWriter, Record};
use ingest::sink::encryption::ColumnKey;
use ingest::sink::layout::{KeySource, Lake};
use ingest::state::LakeState;
use ingest::{IngestOptions, Progress};

use crate::error::{Result, ServeError, io_err};
use crate::metrics::Metrics;
use crate::wal::Shared;
use crate::wal::dedup::SeenFiles;
use crate::wal::segment::{self, Segment};

/// Everything a roll-up needs.
pub struct Rollup {
    pub lake: PathBuf,
    pub key: KeySource,
    pub column_key: Option<ColumnKey>,
    pub wal_dir: PathBuf,
    pub threads: usize,
    pub lock_wait: Duration,
    pub seen: SeenFiles,
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
}

impl Rollup {
    /// Roll `segments` into the lake, cluster by cluster; the ones committed are removed from
    /// the WAL. On error the rest stay for the next try.
    pub fn roll(&self, segments: &[Segment]) -> Result<()> {
        let mut by_cluster: BTreeMap<&str, Vec<&Segment>> = BTreeMap::new();
        for s in segments {
            by_cluster.entry(&s.cluster).or_default().push(s);
        }
        for (cluster, segs) in by_cluster {
            let mut opts = IngestOptions::new(
                self.lake.clone(),
                segs.iter().map(|s| s.path.clone()).collect(),
            );
            opts.cluster = Some(cluster.to_owned());
            opts.threads = self.threads;
            opts.key = self.key.clone();
            opts.column_key = self.column_key.clone();
            opts.lock_wait = self.lock_wait;
            opts.forget_gone_under = Some(self.wal_dir.clone());
            let summary = ingest::ingest(&opts, &Progress::default())?;
            self.metrics
                .events_written
                .fetch_add(summary.rows, Ordering::Relaxed);
            self.metrics
                .events_quarantined
                .fetch_add(summary.quarantined, Ordering::Relaxed);
            if !summary.errors.is_empty() {
                return Err(ServeError::Usage(format!(
                    "roll-up of cluster {cluster}: {}",
                    summary.errors.join("; ")
                )));
            }
            self.metrics.rollups.fetch_add(1, Ordering::Relaxed);
            for seg in segs {
                self.retire(seg)?;
            }
        }
        self.commit_quarantine()
    }

    /// A segment is in the lake: remember its events' hashes (for retries after a restart),
    /// then remove it.
    fn retire(&self, seg: &Segment) -> Result<()> {
        self.seen.append(&seg.hashes)?;
        std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        if let Some(dir) = seg.path.parent() {
            segment::sync_dir(dir)?;
        }
        self.shared.wal_bytes.fetch_sub(
            seg.bytes.min(self.shared.wal_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        if let Ok(mut u) = self.shared.unrolled.lock() {
            u.remove(&seg.id);
        }
        Ok(())
    }

    /// Move the quarantine files of malformed bodies into the lake's quarantine.
    fn commit_quarantine(&self) -> Result<()> {
        let dir = quarantine_dir(&self.wal_dir);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect(),
            Err(_) => return Ok(()),
        };
        if files.is_empty() {
            return Ok(());
        }
        files.sort();
        let lake = Lake::open_waiting(
            &self.lake,
            &self.key,
            self.column_key.as_ref(),
            self.lock_wait,
        )?;
        ingest::sink::layout::private_dir(&lake.staging())?;
        let mut moves = Vec::new();
        for (n, f) in files.iter().enumerate() {
            let staged = lake.staging().join(format!("serve-quarantine-{n}.jsonl"));
            std::fs::copy(f, &staged).map_err(io_err(&staged))?;
            std::fs::File::open(&staged)
                .and_then(|s| s.sync_all())
                .map_err(io_err(&staged))?;
            moves.push((staged, lake.quarantine_path(n as u64)));
        }
        if let Some(parent) = moves.first().and_then(|(_, to)| to.parent()) {
            ingest::sink::layout::private_dir(parent)?;
        }
        let state = LakeState::load(&lake.state_path())?;
        lake.commit(moves, &lake.manifest, &state)?;
        let _ = std::fs::remove_dir_all(lake.staging());
        for f in files {
            std::fs::remove_file(&f).map_err(io_err(&f))?;
        }
        segment::sync_dir(&dir)
    }

    /// Roll up sealed segments as they come, until the writer has stopped and everything it
    /// sealed is in the lake. A failed roll-up is retried after a pause.
    pub fn run(self) {
        loop {
            let batch = {
                let Ok(mut sealed) = self.shared.sealed.lock() else {
                    return;
                };
                while sealed.is_empty() && !self.shared.writer_done.load(Ordering::SeqCst) {
                    sealed = match self
                        .shared
                        .wake
                        .wait_timeout(sealed, Duration::from_secs(1))
                    {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    };
                }
                if sealed.is_empty() {
                    // The writer has stopped and all it sealed is in the lake.
                    let _ = self.commit_quarantine();
                    return;
                }
                std::mem::take(&mut *sealed)
            };
            if let Err(e) = self.roll(&batch) {
                self.metrics.rollup_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "serve: roll-up failed, the WAL keeps the events and it is tried again: {e}"
                );
                let keep: Vec<Segment> = batch.into_iter().filter(|s| s.path.exists()).collect();
                if let Ok(mut sealed) = self.shared.sealed.lock() {
                    let newer = std::mem::take(&mut *sealed);
                    *sealed = keep;
                    sealed.extend(newer);
                }
                if self.shared.writer_done.load(Ordering::SeqCst) {
                    eprintln!(
                        "serve: stopping with events still in the WAL; the next start rolls them up"
                    );
                    return;
                }
                std::thread::sleep(Duration::from_secs(5));
            }
        }
    }
}

/// Where malformed bodies wait (redacted) for the next roll-up to move them into the lake.
pub fn quarantine_dir(wal: &Path) -> PathBuf {
    wal.join("quarantine")
}

/// Keep a malformed body, redacted, in the WAL's quarantine folder (fsynced).
pub fn quarantine_body(
    wal: &Path,
    source: &str,
    reason: String,
    body: &[u8],
    redactor: &ingest::redact::Redactor,
) -> Result<()> {
    let dir = quarantine_dir(wal);
    segment::private_dir(&dir)?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let path = dir.join(format!("{stamp}-{}-{n}.jsonl", std::process::id()));
    let mut q = QuarantineWriter::new(path);
    q.write(&Record::new(source, 1, 0, reason, body, redactor))?;
    q.finish()?;
    segment::sync_dir(&dir)
}
