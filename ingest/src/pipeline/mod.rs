//! The ingest pipeline, in stages:
//!
//! 1. read ([`crate::source::reader`]): a thread cuts the inputs into chunks of whole lines;
//! 2. [`parse`]: one thread per core turns chunks into Arrow rows per cluster and day, each
//!    chunk's rows sorted as files are, and quarantine records;
//! 3. [`dedup`]: the calling thread puts the results back in input order and drops exact
//!    duplicates (in input order, whatever order the sort gave the rows);
//! 4. [`write`]: rows wait in per-partition buffers, and an encoder thread merges each full
//!    buffer's sorted chunks and writes its Parquet file and summary to staging while parsing
//!    goes on.
//!
//! Commits (every `commit_bytes` of input, and at the end) make the staged files visible with
//! the manifest and the lake's state that describe them ([`Lake::commit`]).

pub mod dedup;
mod parse;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;

use crate::batch::Sizes;
use crate::error::{IngestError, Result};
use crate::quarantine::{QuarantineWriter, Record};
use crate::redact::Redactor;
use crate::sink::encryption::ColumnKey;
use crate::sink::layout::{KeySource, Lake};
use crate::sink::manifest::Manifest;
use crate::source::format::InputFormat;
use crate::source::open::{self, InputPath, RemoteInput};
use crate::source::reader::{Checkpoint, Chunk, Reader};
use crate::state::LakeState;
use dedup::DedupWindow;
use parse::{ChunkResult, ParseContext, parse_chunk};
use write::Writer;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub lake: PathBuf,
    /// Cluster for every event; `None`: the cluster the input names, else `default`.
    pub cluster: Option<String>,
    pub inputs: Vec<PathBuf>,
    /// Objects in buckets to read after `inputs` (listed by the `store` crate).
    pub objects: Vec<Arc<dyn RemoteInput>>,
    /// Parser threads (0: one per core).
    pub threads: usize,
    /// Buffered Arrow bytes (all partitions) above which the largest partition is written out.
    pub buffer_bytes: usize,
    /// Input bytes after which finished inputs are committed.
    pub commit_bytes: u64,
    /// Exact duplicates are recognised among this many most recent events.
    pub dedup_window: usize,
    /// Where the redaction key is.
    pub key: KeySource,
    /// The key of an encrypted lake (see [`crate::sink::encryption`]); on a new lake, starts
    /// encrypting it.
    pub column_key: Option<ColumnKey>,
    /// The reader to use for every input; [`InputFormat::Auto`] detects it.
    pub input_format: InputFormat,
    /// How long to wait for the lake's writer lock while another writer holds it.
    pub lock_wait: Duration,
    /// Inputs under this folder whose files are gone are dropped from the lake's state at the
    /// next commit (the receiver deletes its WAL segments once they are in the lake).
    pub forget_gone_under: Option<PathBuf>,
}

impl IngestOptions {
    pub fn new(lake: PathBuf, inputs: Vec<PathBuf>) -> Self {
        IngestOptions {
            lake,
            cluster: None,
            inputs,
            objects: Vec::new(),
            threads: 0,
            buffer_bytes: 96 << 20,
            commit_bytes: 1 << 30,
            dedup_window: 1 << 20,
            key: KeySource::InLake,
            column_key: None,
            input_format: InputFormat::Auto,
            lock_wait: Duration::from_secs(600),
            forget_gone_under: None,
        }
    }
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_read: Arc<AtomicU64>,
    pub bytes_total: AtomicU64,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub files: u64,
    pub files_skipped: u64,
    pub lines: u64,
    pub rows: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub files_written: u64,
    pub partitions: Vec<String>,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Inputs that could not be read at all.
    pub errors: Vec<String>,
    /// Inputs skipped, with why: already in the lake, hidden, not a regular file, the lake itself,
    /// reached twice through links.
    pub skipped: Vec<String>,
    pub quarantine_files: Vec<PathBuf>,
}

/// Ingest `opts.inputs` into the lake. Per-line problems go to quarantine; an input that cannot
/// be read at all is reported in [`Summary::errors`] and the others are still ingested.
pub fn ingest(opts: &IngestOptions, progress: &Progress) -> Result<Summary> {
    let started = Instant::now();
    // The lake first: a commit a killed run left half done is finished before anything else.
    let lake = Lake::open_waiting(
        &opts.lake,
        &opts.key,
        opts.column_key.as_ref(),
        opts.lock_wait,
    )?;
    // The lake's own files are never inputs (`kubetrail ingest .` with the lake inside `.`).
    let expanded = open::expand(&opts.inputs, &opts.lake)?;
    let mut inputs = expanded.inputs;
    inputs.extend(opts.objects.iter().cloned().map(InputPath::Remote));
    let mut state = LakeState::load(&lake.state_path())?;
    state.version = 1;
    if let Some(dir) = &opts.forget_gone_under {
        state.forget_gone_under(dir);
    }
    let total: u64 = inputs.iter().filter_map(InputPath::size).sum();
    progress.bytes_total.store(total, Ordering::Relaxed);
    crate::sink::layout::private_dir(&lake.staging())?;

    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&lake.key[..8]);
    let ctx = Arc::new(ParseContext {
        redactor: Redactor::new(lake.key),
        seed: u64::from_le_bytes(seed),
        cluster: opts.cluster.clone(),
        inputs: inputs.iter().map(InputPath::display).collect(),
        format: opts.input_format,
    });
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(threads * 2);
    let (res_tx, res_rx) = crossbeam_channel::bounded(threads * 2);
    let mut reader = Reader::new(
        inputs.clone(),
        state.clone(),
        progress.bytes_read.clone(),
        chunk_tx,
    );
    reader.format = opts.input_format;
    let reader_handle = std::thread::Builder::new()
        .name("kubetrail-read".into())
        .spawn(move || reader.run())
        .map_err(|e| IngestError::Other(format!("cannot start reader thread: {e}")))?;
    let mut workers = Vec::new();
    for n in 0..threads {
        let rx = chunk_rx.clone();
        let tx = res_tx.clone();
        let ctx = ctx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("kubetrail-parse-{n}"))
            .spawn(move || {
                let mut sizes = Sizes::default();
                for chunk in rx {
                    if tx.send(parse_chunk(chunk, &ctx, &mut sizes)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| IngestError::Other(format!("cannot start parser thread: {e}")))?;
        workers.push(handle);
    }
    drop(chunk_rx);
    drop(res_tx);

    let mut run = Run::new(&lake, opts, state, &ctx.inputs)?;
    let mut pending: BTreeMap<u64, ChunkResult> = BTreeMap::new();
    let mut next = 0u64;
    let mut since_commit = 0u64;
    let mut result: Result<()> = Ok(());

    'results: for res in res_rx.iter() {
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                result = Err(e.into());
                break;
            }
        };
        pending.insert(res.seq, res);
        while let Some(r) = pending.remove(&next) {
            next += 1;
            if let Err(e) = run.fold(r) {
                result = Err(e);
                break 'results;
            }
            let read = progress.bytes_read.load(Ordering::Relaxed);
            // Commit only where every input being read can be resumed exactly (lines of files;
            // stdin cannot be read again and documents are re-read whole, so their rows are
            // committed when they end).
            if read.saturating_sub(since_commit) > opts.commit_bytes
                && run.inputs.unresumable.is_empty()
            {
                since_commit = read;
                if let Err(e) = run.commit() {
                    result = Err(e);
                    break 'results;
                }
            }
        }
    }
    drop(res_rx);
    let sent = reader_handle.join();
    let mut parser_died = false;
    for w in workers {
        parser_died |= w.join().is_err();
    }
    result?;
    let sent = sent.map_err(|_| {
        IngestError::Other(
            "kubetrail bug: the reader thread stopped; nothing read since the last commit was committed; run the same ingest again to finish".into(),
        )
    })?;
    if next != sent || !pending.is_empty() || parser_died {
        return Err(IngestError::Other(format!(
            "kubetrail bug: a parser thread stopped and {} of {sent} chunk(s) were not processed; nothing read since the last commit was committed (the lake is as it was then); run the same ingest again to finish",
            sent.saturating_sub(next)
        )));
    }
    run.commit()?;
    let _ = std::fs::remove_dir_all(lake.staging());

    let mut summary = run.finish();
    summary.files_skipped += expanded.skipped.len() as u64;
    summary.skipped.extend(expanded.skipped);
    summary.errors.extend(expanded.errors);
    summary.seconds = started
        .elapsed()
        .as_secs_f64()
        .max(Duration::from_micros(1).as_secs_f64());
    summary.events_per_second = (summary.rows + summary.duplicates) as f64 / summary.seconds;
    summary.bytes_in = progress.bytes_read.load(Ordering::Relaxed);
    Ok(summary)
}

/// One ingest's state on the calling thread: the dedup window, the writer, quarantine, and how
/// far each input is, folded chunk by chunk in input order and committed now and then.
struct Run<'l> {
    lake: &'l Lake,
    names: &'l [String],
    dedup: DedupWindow,
    writer: Writer<'l>,
    quarantine: QuarantineWriter,
    /// Quarantine files committed so far (their final paths).
    quarantine_files: Vec<PathBuf>,
    inputs: Inputs,
    state: LakeState,
    manifest: Manifest,
}

impl<'l> Run<'l> {
    fn new(
        lake: &'l Lake,
        opts: &IngestOptions,
        state: LakeState,
        names: &'l [String],
    ) -> Result<Self> {
        Ok(Run {
            lake,
            names,
            dedup: DedupWindow::new(opts.dedup_window),
            writer: Writer::new(lake, opts.buffer_bytes)?,
            quarantine: QuarantineWriter::new(Self::quarantine_staging(lake, 0)),
            quarantine_files: Vec::new(),
            inputs: Inputs::default(),
            state,
            manifest: lake.manifest.clone(),
        })
    }

    fn quarantine_staging(lake: &Lake, seq: usize) -> PathBuf {
        lake.staging().join(format!("quarantine-{seq:03}.jsonl"))
    }

    /// Fold one chunk's result into the run, in input order.
    fn fold(&mut self, r: ChunkResult) -> Result<()> {
        let summary = &mut self.writer.summary;
        summary.lines += r.lines;
        for rec in &r.quarantine {
            self.quarantine.write(rec)?;
        }
        summary.quarantined += r.quarantine.len() as u64;
        for p in r.panics {
            summary.errors.push(format!(
                "kubetrail bug: the parser panicked on {p}; the line is in quarantine"
            ));
        }
        // the dedup window sees the events in input order, whatever part they are in
        let mut keeps: Vec<Vec<bool>> = r
            .parts
            .iter()
            .map(|p| Vec::with_capacity(p.hashes.len()))
            .collect();
        for &p in &r.order {
            let p = p as usize;
            let keep = &mut keeps[p];
            let hash = r.parts[p].hashes[keep.len()];
            keep.push(self.dedup.insert(hash));
        }
        for (part, keep) in r.parts.into_iter().zip(keeps) {
            // `keep` is in input order; the part's rows are sorted
            let keep = match &part.sorted_from {
                Some(from) => from.values().iter().map(|&i| keep[i as usize]).collect(),
                None => keep,
            };
            let kept = keep.iter().filter(|k| **k).count();
            self.writer.summary.duplicates += (keep.len() - kept) as u64;
            self.writer.summary.rows += kept as u64;
            let batch = if kept == keep.len() {
                part.batch
            } else {
                filter_record_batch(&part.batch, &BooleanArray::from(keep))?
            };
            if batch.num_rows() > 0 {
                self.writer.add(part.cluster, part.day, batch)?;
            }
        }
        match (r.checkpoint, &r.end) {
            (Some(cp), _) => {
                self.inputs.open.insert(r.input, cp);
            }
            (None, None) => {
                self.inputs.unresumable.insert(r.input);
            }
            (None, Some(_)) => {}
        }
        let Some(end) = r.end else {
            return Ok(());
        };
        self.inputs.unresumable.remove(&r.input);
        let name = self.names.get(r.input).cloned().unwrap_or_default();
        let summary = &mut self.writer.summary;
        if let Some(why) = end.skipped {
            self.inputs.finish(r.input, None, &mut self.state);
            summary.files_skipped += 1;
            summary.skipped.push(format!("{name}: {why}"));
            return Ok(());
        }
        summary.files += 1;
        if let Some(err) = &end.error {
            let (line, offset) = end
                .checkpoint
                .as_ref()
                .map_or((1, 0), |c| (c.record.lines + 1, c.record.offset));
            if end.unreadable {
                summary.errors.push(format!("{name}: {err}"));
            } else {
                let rec = Record {
                    source_file: name.clone(),
                    line,
                    byte_offset: offset,
                    reason: err.clone(),
                    raw: Some(String::new()),
                    raw_b64: None,
                };
                self.quarantine.write(&rec)?;
                summary.quarantined += 1;
            }
        }
        self.inputs.finish(r.input, end.checkpoint, &mut self.state);
        Ok(())
    }

    /// Make everything staged visible, with the manifest and the state that describe it.
    fn commit(&mut self) -> Result<()> {
        self.inputs.record(&mut self.state);
        let staged = self.writer.flush_all()?;
        let mut moves = staged.moves;
        self.manifest.version = crate::sink::manifest::MANIFEST_VERSION;
        self.manifest.files.extend(staged.files);
        if let Some(path) = self.quarantine.finish()? {
            let to = self
                .lake
                .quarantine_path(self.quarantine_files.len() as u64);
            moves.push((path, to.clone()));
            self.quarantine_files.push(to);
            self.quarantine = QuarantineWriter::new(Self::quarantine_staging(
                self.lake,
                self.quarantine_files.len(),
            ));
        }
        if let Some((_, to)) = moves
            .iter()
            .find(|(_, to)| to.starts_with(self.lake.meta()))
            && let Some(dir) = to.parent()
        {
            crate::sink::layout::private_dir(dir)?;
        }
        self.lake.commit(moves, &self.manifest, &self.state)
    }

    /// The run's summary, after the last commit.
    fn finish(self) -> Summary {
        let mut summary = self.writer.summary;
        summary.partitions = self.writer.partitions.into_iter().collect();
        summary.quarantine_files = self.quarantine_files;
        summary
    }
}

/// How far each input being read has been processed, for the commits.
#[derive(Default)]
struct Inputs {
    /// The newest checkpoint of each file being read.
    open: HashMap<usize, Checkpoint>,
    /// The key of the record last put in the state for an input (it replaces that one next).
    recorded: HashMap<usize, String>,
    /// Inputs being read that a commit cannot record (stdin, a JSON document): no commit
    /// until they end.
    unresumable: std::collections::HashSet<usize>,
}

impl Inputs {
    /// Put every open input's progress in the state, before a commit.
    fn record(&mut self, state: &mut LakeState) {
        for (input, cp) in &self.open {
            let replaces = self.recorded.get(input).or(cp.replaces.as_ref());
            let mut record = cp.record.clone();
            record.updated = chrono::Utc::now().to_rfc3339();
            let key = record.key();
            state.upsert(record, replaces.map(String::as_str));
            self.recorded.insert(*input, key);
        }
    }

    /// An input ended: its final record goes into the state now.
    fn finish(&mut self, input: usize, cp: Option<Checkpoint>, state: &mut LakeState) {
        self.open.remove(&input);
        let recorded = self.recorded.remove(&input);
        if let Some(cp) = cp {
            let replaces = recorded.or(cp.replaces);
            let mut record = cp.record;
            record.updated = chrono::Utc::now().to_rfc3339();
            state.upsert(record, replaces.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, day: u32) -> String {
        line_of(id, day, "pods")
    }

    fn line_of(id: &str, day: u32, resource: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/{resource}","verb":"list","user":{{"username":"alice"}},"objectRef":{{"resource":"{resource}","apiVersion":"v1"}},"requestReceivedTimestamp":"2026-01-{day:02}T10:00:00Z"}}"#
        )
    }

    /// The audit IDs of every row in the lake's event files.
    fn audit_ids(lake: &std::path::Path) -> Vec<String> {
        use arrow::array::AsArray;
        let mut ids = Vec::new();
        let mut dirs = vec![lake.join("events")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    let file = std::fs::File::open(&path).expect("open");
                    let reader =
                        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024)
                            .expect("reader");
                    for batch in reader {
                        let batch = batch.expect("batch");
                        let col = batch
                            .column_by_name(crate::schema::col::AUDIT_ID)
                            .expect("audit_id");
                        ids.extend(col.as_string::<i32>().iter().flatten().map(str::to_owned));
                    }
                }
            }
        }
        ids.sort();
        ids
    }

    /// A chunk's rows are sorted before the dedup stage sees them; the duplicate dropped is
    /// still the repeat, not whichever row the sort put in its place.
    #[test]
    fn the_duplicate_dropped_is_the_repeat_whatever_the_sort_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("audit.log");
        // sorted by resource: y, y (pods) before x (secrets)
        let (x, y) = (line_of("x", 5, "secrets"), line_of("y", 5, "pods"));
        std::fs::write(&input, [&x, &y, &y].map(|l| format!("{l}\n")).concat()).expect("write");
        let lake = dir.path().join("lake");
        let opts = IngestOptions::new(lake.clone(), vec![input]);
        let summary = ingest(&opts, &Progress::default()).expect("ingest");
        assert_eq!((summary.rows, summary.duplicates), (2, 1));
        assert_eq!(audit_ids(&lake), ["x", "y"]);
    }

    /// The parse stage gives a chunk's rows per (cluster, day), but the dedup window still sees
    /// the events in input order: with room for one event, a repeat is a duplicate only right
    /// after itself, whatever day the events between are of.
    #[test]
    fn the_dedup_window_sees_events_in_input_order_across_days() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("audit.log");
        let (a, b) = (line("a", 5), line("b", 6));
        std::fs::write(
            &input,
            [&a, &b, &a, &b, &b].map(|l| format!("{l}\n")).concat(),
        )
        .expect("write");
        let mut opts = IngestOptions::new(dir.path().join("lake"), vec![input]);
        opts.dedup_window = 1;
        let summary = ingest(&opts, &Progress::default()).expect("ingest");
        assert_eq!((summary.rows, summary.duplicates), (4, 1));
    }
}
