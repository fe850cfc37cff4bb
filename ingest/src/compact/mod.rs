//! `kubetrail compact`: merge a partition's small files into large ones, in the order ingest
//! writes (see [`SORT_COLUMNS`](crate::sink::parquet::SORT_COLUMNS)), with the same schema
//! version and key-value metadata.
//!
//! Per partition (`events/cluster=C/day=D/`), the files smaller than the target size are merged
//! (a batch at a time from each, see [`merge`]) into new files in staging, cut where they reach
//! the target size. One commit through the lake's journal then moves the new files in, publishes
//! the manifest that lists them instead of the old ones, and deletes the old ones. The partition's
//! summary files ([`crate::summary`]) are merged into one in the same commit. Readers see
//! what the manifest lists, so they see either the old files or the new ones, never both, and a
//! kill at any point leaves a lake the next writer finishes (see [`crate::sink::layout`]).
//!
//! ```no_run
//! use ingest::compact::{CompactOptions, compact};
//! let summary = compact(&CompactOptions::new("lake".into()))?;
//! println!("{} files in, {} out", summary.files_in(), summary.files_out());
//! # Ok::<(), ingest::IngestError>(())
//! ```

pub mod merge;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{IngestError, Result, lake_err};
use crate::schema::{SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use crate::sink::encryption::ColumnKey;
use crate::sink::layout::{EVENTS_DIR, KeySource, Lake, META_DIR, partition_value, private_dir};
use crate::sink::manifest::{self, DataFile, MANIFEST_VERSION, Manifest};
use crate::sink::parquet::FileWriter;
use crate::state::LakeState;
use crate::summary::{self, SUMMARY_DIR};
use merge::{MAX_FAN_IN, SortedMerge};

/// Default size of a compacted file: large enough that engines open few files per partition,
/// small enough that a day of a busy cluster still splits for parallel reads.
pub const DEFAULT_TARGET_SIZE: u64 = 256 << 20;

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub lake: PathBuf,
    /// Only this cluster's partitions.
    pub cluster: Option<String>,
    /// Only this day's partitions (`YYYY-MM-DD`).
    pub day: Option<String>,
    /// Only these partitions, as lake paths `events/cluster=C/day=D` (a lake on object storage
    /// is compacted a partition at a time, from a staging lake holding that partition's files).
    pub partitions: Option<Vec<String>>,
    /// Only these data files (lake paths) are merged; a partition's other files stay as they are
    /// (`nightly` merges the files it has analysed, not ones a writer added meanwhile).
    pub files: Option<Vec<String>>,
    /// Files smaller than this are merged, into files of about this size.
    pub target_size: u64,
    /// Where the redaction key is (the lake is opened as every writer opens it).
    pub key: KeySource,
    /// The key of an encrypted lake: merged files are read and written with it.
    pub column_key: Option<ColumnKey>,
    /// How long to wait for the lake's writer lock while another writer holds it.
    pub lock_wait: Duration,
}

impl CompactOptions {
    pub fn new(lake: PathBuf) -> Self {
        CompactOptions {
            lake,
            cluster: None,
            day: None,
            partitions: None,
            files: None,
            target_size: DEFAULT_TARGET_SIZE,
            key: KeySource::InLake,
            column_key: None,
            lock_wait: Duration::from_secs(600),
        }
    }
}

/// What compaction did to one partition.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Compacted {
    /// `cluster=C/day=D`, as in the lake's folders.
    pub partition: String,
    pub files_in: usize,
    pub bytes_in: u64,
    pub files_out: usize,
    pub bytes_out: u64,
    pub rows: u64,
    /// The partition's summary files (see [`crate::summary`]), merged into one.
    pub summary_files_in: usize,
    pub summary_files_out: usize,
    /// The data files written, as lake paths (not printed: their names hold the run's id).
    #[serde(skip)]
    pub outputs: Vec<String>,
}

/// Files compaction left as they are, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeftAlone {
    pub path: String,
    pub reason: String,
}

/// What `compact` did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CompactSummary {
    /// Partitions whose small files were merged, one commit each.
    pub compacted: Vec<Compacted>,
    /// Partitions (of those selected) with nothing to merge: at most one small file.
    pub partitions_unchanged: usize,
    /// Files that could not be merged (another schema version, unreadable, out of order).
    pub left_alone: Vec<LeftAlone>,
    pub seconds: f64,
}

impl CompactSummary {
    pub fn files_in(&self) -> usize {
        self.compacted.iter().map(|c| c.files_in).sum()
    }
    pub fn files_out(&self) -> usize {
        self.compacted.iter().map(|c| c.files_out).sum()
    }
    pub fn bytes_in(&self) -> u64 {
        self.compacted.iter().map(|c| c.bytes_in).sum()
    }
    pub fn bytes_out(&self) -> u64 {
        self.compacted.iter().map(|c| c.bytes_out).sum()
    }
    pub fn rows(&self) -> u64 {
        self.compacted.iter().map(|c| c.rows).sum()
    }
}

/// One partition folder and its committed files.
struct Partition {
    /// `events/cluster=C/day=D`, relative to the lake root.
    dir: String,
    files: Vec<DataFile>,
}

/// Compact the lake `opts.lake`: see the module documentation.
pub fn compact(opts: &CompactOptions) -> Result<CompactSummary> {
    let started = Instant::now();
    let root = &opts.lake;
    if !root.join(META_DIR).is_dir() && !root.join(EVENTS_DIR).is_dir() {
        return Err(IngestError::NoLake(root.clone()));
    }
    if let Some(day) = &opts.day
        && chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err()
    {
        return Err(IngestError::Other(format!(
            "day {day:?} is not a date: write it as YYYY-MM-DD"
        )));
    }
    // Waits for the lock like ingest, and finishes what a killed writer left first.
    let mut lake = Lake::open_waiting(root, &opts.key, opts.column_key.as_ref(), opts.lock_wait)?;
    let state = LakeState::load(&lake.state_path())?;
    let mut summary = CompactSummary::default();
    let mut seq = 0u64;
    for part in select(&lake.manifest, opts) {
        let mut small = Vec::new();
        for f in &part.files {
            if f.size >= opts.target_size {
                continue;
            }
            match schema_version(&root.join(&f.path)) {
                Ok(v) if v == SCHEMA_VERSION => small.push(f.clone()),
                Ok(v) => summary.left_alone.push(LeftAlone {
                    path: f.path.clone(),
                    reason: format!(
                        "written with schema version {v}, this kubetrail writes {SCHEMA_VERSION}: files of two versions are not merged"
                    ),
                }),
                Err(e) => summary.left_alone.push(LeftAlone {
                    path: f.path.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        if small.len() < 2 {
            summary.partitions_unchanged += 1;
            continue;
        }
        match compact_partition(&mut lake, &part, &small, opts.target_size, &state, &mut seq) {
            Ok(done) => summary.compacted.push(done),
            // A file compact cannot merge: the partition stays as it was (nothing committed).
            Err(IngestError::Compact { path, message }) => {
                summary.left_alone.push(LeftAlone {
                    path: manifest::relative(root, &path),
                    reason: format!("{message}; its partition {} was not compacted", part.dir),
                });
                remove_staging(&lake)?;
            }
            Err(e) => return Err(e),
        }
    }
    remove_staging(&lake)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The partitions `opts` selects, in path order, each with its committed files.
fn select(manifest: &Manifest, opts: &CompactOptions) -> Vec<Partition> {
    let cluster = opts
        .cluster
        .as_ref()
        .map(|c| format!("cluster={}", partition_value(c)));
    let day = opts.day.as_ref().map(|d| format!("day={d}"));
    let mut parts: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    for f in &manifest.files {
        let segments: Vec<&str> = f.path.split('/').collect();
        let [EVENTS_DIR, c, d, _name] = segments.as_slice() else {
            continue;
        };
        if !c.starts_with("cluster=") || !d.starts_with("day=") {
            continue;
        }
        if cluster.as_deref().is_some_and(|want| want != *c)
            || day.as_deref().is_some_and(|want| want != *d)
            || opts
                .files
                .as_ref()
                .is_some_and(|only| !only.contains(&f.path))
        {
            continue;
        }
        parts
            .entry(format!("{EVENTS_DIR}/{c}/{d}"))
            .or_default()
            .push(f.clone());
    }
    parts
        .into_iter()
        .filter(|(dir, _)| {
            opts.partitions
                .as_ref()
                .is_none_or(|only| only.contains(dir))
        })
        .map(|(dir, files)| Partition { dir, files })
        .collect()
}

/// What a compaction of a lake would read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partitions the options select.
    pub selected: usize,
    /// Those with files to merge (at least two smaller than the target size): the partition's
    /// lake path `events/cluster=C/day=D`, those files and its summary files.
    pub merges: Vec<(String, Vec<DataFile>)>,
}

/// What compacting the lake `manifest` describes with `opts` would read.
pub fn plan(manifest: &Manifest, opts: &CompactOptions) -> Plan {
    let parts = select(manifest, opts);
    let selected = parts.len();
    let merges = parts
        .into_iter()
        .filter_map(|part| {
            let small: Vec<DataFile> = part
                .files
                .into_iter()
                .filter(|f| f.size < opts.target_size)
                .collect();
            if small.len() < 2 {
                return None;
            }
            let summaries = summary_dir(&part.dir);
            let mut read = small;
            read.extend(
                manifest
                    .files
                    .iter()
                    .filter(|f| f.path.starts_with(&summaries))
                    .cloned(),
            );
            Some((part.dir, read))
        })
        .collect();
    Plan { selected, merges }
}

/// `summary/cluster=C/day=D/` of the partition `events/cluster=C/day=D`.
fn summary_dir(partition: &str) -> String {
    format!(
        "{SUMMARY_DIR}/{}/",
        partition
            .strip_prefix(&format!("{EVENTS_DIR}/"))
            .unwrap_or(partition)
    )
}

/// Merge `small` (files of `part`) and commit the result: new files in, `small` out.
fn compact_partition(
    lake: &mut Lake,
    part: &Partition,
    small: &[DataFile],
    target_size: u64,
    state: &LakeState,
    seq: &mut u64,
) -> Result<Compacted> {
    let staging = lake.staging();
    private_dir(&staging)?;
    let rows_in: u64 = small.iter().map(|f| f.rows).sum();
    let mut inputs: Vec<PathBuf> = small.iter().map(|f| lake.root.join(&f.path)).collect();
    // More files than are merged at once: merge them in rounds through staging.
    let mut round = 0u64;
    while inputs.len() > MAX_FAN_IN {
        let mut next = Vec::new();
        for group in inputs.chunks(MAX_FAN_IN) {
            let out = staging.join(format!("merge-{round:05}.parquet"));
            round += 1;
            let mut merge = SortedMerge::open(group, lake.column_key.as_ref())?;
            let mut writer = FileWriter::create(&out, lake.column_key.as_ref())?;
            while let Some(batch) = merge.next_batch()? {
                writer.write(&batch)?;
            }
            writer.finish()?;
            next.push(out);
        }
        // the previous round's files are no longer needed (the lake's own files stay)
        for old in inputs.iter().filter(|p| p.starts_with(&staging)) {
            std::fs::remove_file(old).map_err(lake_err(old))?;
        }
        inputs = next;
    }
    // Cut a file at the rows that took the target size in the files merged: the writer only
    // knows its size once a row group is flushed, every 128Ki rows. Merged rows compress a little
    // better than small files, so files come out somewhat below the target.
    let bytes_in: u64 = small.iter().map(|f| f.size).sum();
    let rows_per_file = if bytes_in == 0 {
        u64::MAX
    } else {
        ((target_size as u128 * rows_in as u128) / bytes_in as u128).clamp(1, u64::MAX as u128)
            as u64
    };
    let mut merge = SortedMerge::open(&inputs, lake.column_key.as_ref())?;
    let mut outputs: Vec<(PathBuf, u64, u64)> = Vec::new();
    let mut writer: Option<(PathBuf, FileWriter)> = None;
    while let Some(mut batch) = merge.next_batch()? {
        while batch.num_rows() > 0 {
            let (_, w) = match &mut writer {
                Some(w) => w,
                None => {
                    let path = staging.join(lake.data_file_name(*seq));
                    *seq += 1;
                    let w = FileWriter::create(&path, lake.column_key.as_ref())?;
                    writer.insert((path, w))
                }
            };
            let room = rows_per_file.saturating_sub(w.rows());
            let n = (batch.num_rows() as u64).min(room) as usize;
            w.write(&batch.slice(0, n))?;
            batch = batch.slice(n, batch.num_rows() - n);
            if w.rows() >= rows_per_file
                && let Some((path, w)) = writer.take()
            {
                let (rows, bytes) = w.finish()?;
                outputs.push((path, rows, bytes));
            }
        }
    }
    if let Some((path, w)) = writer.take() {
        let (rows, bytes) = w.finish()?;
        outputs.push((path, rows, bytes));
    }
    let rows_out: u64 = outputs.iter().map(|o| o.1).sum();
    if rows_out != rows_in || merge.rows() != rows_in {
        return Err(IngestError::Other(format!(
            "compacting {}: the manifest lists {rows_in} rows in the files merged, {} were read and {rows_out} written; nothing was committed",
            part.dir,
            merge.rows()
        )));
    }
    for p in inputs.iter().filter(|p| p.starts_with(&staging)) {
        std::fs::remove_file(p).map_err(lake_err(p))?;
    }
    let mut new_files = Vec::new();
    let mut written = Vec::new();
    let mut moves = Vec::new();
    for (staged, rows, bytes) in &outputs {
        let name = staged
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = format!("{}/{name}", part.dir);
        written.push(rel.clone());
        new_files.push(DataFile {
            path: rel.clone(),
            size: *bytes,
            rows: *rows,
            checksum: manifest::checksum(staged)?,
            run: lake.run_id.clone(),
        });
        moves.push((staged.clone(), lake.root.join(&rel)));
    }
    let mut replaced: Vec<DataFile> = small.to_vec();
    // The partition's summary files (one per ingested data file) become one.
    let summary_dir = summary_dir(&part.dir);
    let summaries: Vec<DataFile> = lake
        .manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with(&summary_dir))
        .cloned()
        .collect();
    let mut summary_files_out = summaries.len();
    if summaries.len() > 1 {
        let mut batches = Vec::new();
        for f in &summaries {
            batches.extend(summary::read(&lake.root.join(&f.path))?);
        }
        summary_files_out = 0;
        if let Some(merged) = summary::merge(&batches)? {
            let name = lake.data_file_name(*seq);
            *seq += 1;
            let staged = staging.join(format!("summary-{name}"));
            let (rows, bytes) = summary::write(&staged, &merged)?;
            let rel = format!("{summary_dir}{name}");
            new_files.push(DataFile {
                path: rel.clone(),
                size: bytes,
                rows,
                checksum: manifest::checksum(&staged)?,
                run: lake.run_id.clone(),
            });
            moves.push((staged, lake.root.join(&rel)));
            summary_files_out = 1;
        }
        replaced.extend(summaries.iter().cloned());
    }
    let mut next = lake.manifest.clone();
    next.version = MANIFEST_VERSION;
    next.files
        .retain(|f| !replaced.iter().any(|s| s.path == f.path));
    next.files.extend(new_files);
    let removes: Vec<PathBuf> = replaced.iter().map(|f| lake.root.join(&f.path)).collect();
    crate::fault::crash_point("compact-staged");
    lake.replace(moves, removes, &next, state)?;
    lake.manifest = next;
    Ok(Compacted {
        partition: part
            .dir
            .strip_prefix(&format!("{EVENTS_DIR}/"))
            .unwrap_or(&part.dir)
            .to_string(),
        files_in: small.len(),
        bytes_in,
        files_out: outputs.len(),
        bytes_out: outputs.iter().map(|o| o.2).sum(),
        rows: rows_out,
        summary_files_in: summaries.len(),
        summary_files_out,
        outputs: written,
    })
}

fn remove_staging(lake: &Lake) -> Result<()> {
    let staging = lake.staging();
    match std::fs::remove_dir_all(&staging) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(lake_err(&staging)(e)),
    }
}

/// The schema version a lake file was written with (its key-value metadata).
pub fn schema_version(path: &Path) -> Result<String> {
    use parquet::file::reader::FileReader;
    let file = std::fs::File::open(path).map_err(lake_err(path))?;
    let reader =
        parquet::file::serialized_reader::SerializedFileReader::new(file).map_err(|source| {
            IngestError::Parquet {
                path: path.to_path_buf(),
                source,
            }
        })?;
    let version = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == SCHEMA_VERSION_KEY))
        .and_then(|k| k.value.clone());
    Ok(version.unwrap_or_else(|| "(none)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IngestOptions, Progress, ingest};

    /// An input of `n` events of 2026-01-05 whose audit IDs start with `prefix`.
    fn input(dir: &Path, prefix: &str, n: usize) -> PathBuf {
        let path = dir.join(format!("{prefix}.log"));
        let lines: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{prefix}-{i}","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{{"username":"alice"}},"sourceIPs":["10.0.0.1"],"objectRef":{{"resource":"pods","apiVersion":"v1"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"2026-01-05T10:00:{:02}Z","stageTimestamp":"2026-01-05T10:00:{:02}Z"}}"#,
                    i % 60,
                    i % 60
                )
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        path
    }

    #[test]
    fn only_the_named_files_are_merged_and_the_partitions_others_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        for prefix in ["a", "b", "c"] {
            let opts = IngestOptions::new(lake.clone(), vec![input(dir.path(), prefix, 50)]);
            ingest(&opts, &Progress::default()).expect("ingest");
        }
        let events = |m: &Manifest| -> Vec<String> {
            m.files
                .iter()
                .filter(|f| f.path.starts_with(EVENTS_DIR))
                .map(|f| f.path.clone())
                .collect()
        };
        let before = events(&Manifest::load(&lake).expect("load").expect("manifest"));
        assert_eq!(before.len(), 3, "{before:?}");
        let mut opts = CompactOptions::new(lake.clone());
        opts.files = Some(before[..2].to_vec());
        let done = compact(&opts).expect("compact");
        assert_eq!(done.compacted.len(), 1);
        assert_eq!(done.compacted[0].files_in, 2);
        let after = events(&Manifest::load(&lake).expect("load").expect("manifest"));
        assert_eq!(after.len(), 2, "{after:?}");
        assert!(after.contains(&before[2]), "the file not named stays");
        assert_eq!(done.compacted[0].outputs.len(), 1);
        assert!(after.contains(&done.compacted[0].outputs[0]));
    }
}
