//! The ingest pipeline: a reader thread cuts inputs into chunks of whole lines, parser threads
//! (one per core) turn chunks into Arrow rows partitioned by cluster and day, and the calling
//! thread puts results back in input order, drops exact duplicates, writes Parquet files to
//! staging and commits them with the lake's state.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use crate::batch::EventBatchBuilder;
use crate::error::{IngestError, Result};
use crate::normalize::raw::RawEvent;
use crate::normalize::{self, Origin, time};
use crate::quarantine::{QuarantineWriter, Record};
use crate::redact::Redactor;
use crate::sink::encryption::ColumnKey;
use crate::sink::layout::{KeySource, Lake};
use crate::sink::manifest::{DataFile, Manifest};
use crate::sink::parquet::write_sorted;
use crate::source::container::{self, Partials, Step};
use crate::source::envelope::{self, Sink, Wrap};
use crate::source::format::{CsvKind, InputFormat};
use crate::source::open::{self, InputPath};
use crate::source::reader::{
    Checkpoint, Chunk, ChunkKind, FileEnd, KEEP_OF_OVERLONG, MAX_LINE_BYTES, Reader,
};
use crate::source::reason::Rejection;
use crate::state::LakeState;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub lake: PathBuf,
    /// Cluster for every event; `None`: the cluster the input names, else `default`.
    pub cluster: Option<String>,
    pub inputs: Vec<PathBuf>,
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

/// Rows of one (cluster, day) from one chunk.
struct Part {
    cluster: String,
    day: i32,
    batch: RecordBatch,
    hashes: Vec<u64>,
}

struct ChunkResult {
    seq: u64,
    input: usize,
    parts: Vec<Part>,
    quarantine: Vec<Record>,
    lines: u64,
    /// Lines on which the parser panicked (quarantined too): a bug to report.
    panics: Vec<String>,
    checkpoint: Option<Checkpoint>,
    end: Option<FileEnd>,
}

/// Per-chunk parser state: one builder per (cluster, day).
struct ChunkSink<'c> {
    ctx: &'c ParseContext,
    source_file: &'c str,
    line: u64,
    offset: u64,
    builders: BTreeMap<(String, i32), (EventBatchBuilder, Vec<u64>)>,
    quarantine: Vec<Record>,
    events: u64,
}

struct ParseContext {
    redactor: Redactor,
    seed: u64,
    cluster: Option<String>,
    inputs: Vec<String>,
    format: InputFormat,
}

impl Sink for ChunkSink<'_> {
    fn event(&mut self, ev: &RawEvent<'_>, raw: &str, wrap: &Wrap) {
        let origin = Origin {
            source_file: self.source_file,
            line: self.line as i64,
            format: wrap.format,
            wrapper_ts: wrap.wrapper_ts,
            wrapper_stream: wrap.stream.as_deref(),
        };
        match normalize::prepare(ev, &origin, &self.ctx.redactor) {
            Ok(prepared) => {
                let cluster = self
                    .ctx
                    .cluster
                    .as_deref()
                    .or(wrap.cluster.as_deref())
                    .unwrap_or("default");
                let hash = xxhash_rust::xxh3::xxh3_64_with_seed(raw.as_bytes(), self.ctx.seed);
                let key = (cluster.to_owned(), prepared.day);
                let (builder, hashes) = self
                    .builders
                    .entry(key)
                    .or_insert_with(|| (EventBatchBuilder::with_capacity(4096), Vec::new()));
                prepared.write(builder, &origin);
                hashes.push(hash);
                self.events += 1;
            }
            Err(reason) => self.reject(reason, raw),
        }
    }

    fn reject(&mut self, reason: String, raw: &str) {
        self.quarantine.push(Record::new(
            self.source_file,
            self.line,
            self.offset,
            reason,
            raw.as_bytes(),
            &self.ctx.redactor,
        ));
    }
}

fn parse_chunk(
    chunk: Chunk,
    ctx: &ParseContext,
) -> std::result::Result<ChunkResult, arrow::error::ArrowError> {
    crate::fault::chunk(&chunk.data);
    let source_file = ctx
        .inputs
        .get(chunk.input)
        .map(String::as_str)
        .unwrap_or("?");
    let mut sink = ChunkSink {
        ctx,
        source_file,
        line: chunk.first_line,
        offset: chunk.offset,
        builders: BTreeMap::new(),
        quarantine: Vec::new(),
        events: 0,
    };
    let mut lines = 0u64;
    let mut panics = Vec::new();
    match chunk.kind {
        ChunkKind::Overlong => {
            lines += 1;
            sink.reject_bytes(
                format!(
                    "line longer than {} MiB; its first {} KiB are kept here",
                    MAX_LINE_BYTES >> 20,
                    KEEP_OF_OVERLONG >> 10
                ),
                &chunk.data,
            );
        }
        ChunkKind::Incomplete => {
            lines += 1;
            sink.reject_bytes(
                "incomplete last line (no newline at the end of the input, and not a whole event: cut off inside a value or a character); read again if the file grows".into(),
                &chunk.data,
            );
        }
        ChunkKind::Elements => {
            for e in &chunk.elements {
                lines += 1;
                sink.line = e.line;
                sink.offset = e.offset;
                if e.truncated {
                    let reason = if e.bytes.len() >= MAX_LINE_BYTES {
                        format!(
                            "document item larger than {} MiB; its first {} KiB are kept here",
                            MAX_LINE_BYTES >> 20,
                            KEEP_OF_OVERLONG >> 10
                        )
                    } else {
                        "truncated JSON document: the input ends inside this item (read again whole if the file is rewritten)".to_string()
                    };
                    let keep = e.bytes.len().min(KEEP_OF_OVERLONG);
                    sink.reject_bytes(reason, &e.bytes[..keep]);
                    continue;
                }
                let forced = match ctx.format {
                    InputFormat::Auto | InputFormat::Event | InputFormat::EventList => None,
                    other => Some(other),
                };
                // CSV records are decoded as their export's rows; with a forced format, every
                // element as that format.
                let as_format = CsvKind::of_element(e.format)
                    .map(CsvKind::format)
                    .or(forced);
                match std::str::from_utf8(&e.bytes) {
                    Ok(text) if e.format == "event" => decode_guarded(text, &mut sink, &mut panics),
                    Ok(text) if as_format.is_some() => {
                        let format = as_format.unwrap_or_default();
                        decode_as_guarded(format, text, &mut sink, &mut panics)
                    }
                    Ok(text) if text.trim_start().starts_with('{') => {
                        decode_item(text, e.format, &mut sink, &mut panics)
                    }
                    Ok(text) => {
                        sink.reject(format!("{} item is not a JSON object", e.format), text)
                    }
                    Err(err) => sink.reject_bytes(
                        format!("invalid UTF-8 at byte {} of the item", err.valid_up_to()),
                        &e.bytes,
                    ),
                }
            }
        }
        ChunkKind::Lines => {
            let data = &chunk.data;
            let joins = matches!(ctx.format, InputFormat::Auto | InputFormat::Cri);
            let mut partials = Partials::default();
            let mut start = 0usize;
            while start < data.len() {
                let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p);
                let mut line = &data[start..end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                sink.offset = chunk.offset + start as u64;
                if !line.iter().all(u8::is_ascii_whitespace) {
                    lines += 1;
                    let step = match container::cri_line(line) {
                        Some(cri) if joins => {
                            let (at, offset) = (sink.line, sink.offset);
                            match partials.push(&cri, at, offset, MAX_LINE_BYTES) {
                                Step::Whole => None,
                                Step::Held => Some(None),
                                Step::Joined(run) => Some(Some(run)),
                            }
                        }
                        _ => None,
                    };
                    match step {
                        None => match std::str::from_utf8(line) {
                            Ok(text) => decode_guarded(text, &mut sink, &mut panics),
                            Err(e) => sink.reject_bytes(
                                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                                line,
                            ),
                        },
                        Some(None) => {}
                        Some(Some(run)) => {
                            let (line_now, offset_now) = (sink.line, sink.offset);
                            joined(run, &mut sink, &mut panics);
                            (sink.line, sink.offset) = (line_now, offset_now);
                        }
                    }
                }
                sink.line += 1;
                start = end + 1;
            }
            // Pieces whose final piece is not in the chunk: the reader keeps the pieces of a
            // line together, so the input ended (or the line is over the size limit).
            for run in partials.finish() {
                sink.line = run.line;
                sink.offset = run.offset;
                let reason = if run.total >= MAX_LINE_BYTES {
                    Rejection::CriPartialTooLarge {
                        bytes: run.total,
                        limit: MAX_LINE_BYTES,
                    }
                } else {
                    Rejection::CriPartialCutOff {
                        pieces: run.pieces,
                        bytes: run.total,
                    }
                };
                let keep = run.bytes.len().min(KEEP_OF_OVERLONG);
                sink.reject_bytes(reason.to_string(), &run.bytes[..keep]);
            }
        }
    }
    let mut parts = Vec::with_capacity(sink.builders.len());
    for ((cluster, day), (mut builder, hashes)) in std::mem::take(&mut sink.builders) {
        parts.push(Part {
            cluster,
            day,
            batch: builder.finish()?,
            hashes,
        });
    }
    Ok(ChunkResult {
        seq: chunk.seq,
        input: chunk.input,
        parts,
        quarantine: sink.quarantine,
        lines,
        panics,
        checkpoint: chunk.checkpoint,
        end: chunk.end,
    })
}

/// A CRI line joined from its pieces: decoded from the line of its first piece.
fn joined(run: container::Run, sink: &mut ChunkSink<'_>, panics: &mut Vec<String>) {
    sink.line = run.line;
    sink.offset = run.offset;
    if run.total > run.bytes.len() {
        let reason = Rejection::CriPartialTooLarge {
            bytes: run.total,
            limit: MAX_LINE_BYTES,
        };
        let keep = run.bytes.len().min(KEEP_OF_OVERLONG);
        return sink.reject_bytes(reason.to_string(), &run.bytes[..keep]);
    }
    let text = match std::str::from_utf8(&run.bytes) {
        Ok(t) => t,
        Err(e) => {
            let reason = Rejection::CriNotUtf8 {
                at: e.valid_up_to(),
            };
            return sink.reject_bytes(reason.to_string(), &run.bytes);
        }
    };
    let wrapper_ts = container::cri_time(&run.time);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::fault::line(text);
        container::decode_cri_text(wrapper_ts, text, sink)
    }));
    if let Err(payload) = outcome {
        panicked(payload, text, sink, panics);
    }
}

/// Decode one element as a given format ([`decode_guarded`] for a CSV record or a forced
/// format's element).
fn decode_as_guarded(
    format: InputFormat,
    text: &str,
    sink: &mut ChunkSink<'_>,
    panics: &mut Vec<String>,
) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::fault::line(text);
        envelope::decode_as(format, text, sink)
    }));
    if let Err(payload) = outcome {
        panicked(payload, text, sink, panics);
    }
}

/// Decode one item of a document ([`decode_guarded`] for an item).
fn decode_item(
    text: &str,
    format: &'static str,
    sink: &mut ChunkSink<'_>,
    panics: &mut Vec<String>,
) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::fault::line(text);
        envelope::decode_object(text, Wrap::new(format), sink)
    }));
    if let Err(payload) = outcome {
        panicked(payload, text, sink, panics);
    }
}

/// Decode one line or document (as the forced format, if any); a panic in the decoder (a bug)
/// quarantines the line with the panic's message instead of taking the parser thread and its
/// chunk down.
fn decode_guarded(text: &str, sink: &mut ChunkSink<'_>, panics: &mut Vec<String>) {
    let format = sink.ctx.format;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::fault::line(text);
        envelope::decode_as(format, text, sink)
    }));
    if let Err(payload) = outcome {
        panicked(payload, text, sink, panics);
    }
}

fn panicked(
    payload: Box<dyn std::any::Any + Send>,
    text: &str,
    sink: &mut ChunkSink<'_>,
    panics: &mut Vec<String>,
) {
    {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let reason =
            format!("kubetrail bug: the parser panicked on this line ({what}); please report it");
        panics.push(format!("{}:{}: {what}", sink.source_file, sink.line));
        sink.reject(reason, text);
    }
}

impl ChunkSink<'_> {
    fn reject_bytes(&mut self, reason: String, bytes: &[u8]) {
        self.quarantine.push(Record::new(
            self.source_file,
            self.line,
            self.offset,
            reason,
            bytes,
            &self.ctx.redactor,
        ));
    }
}

/// Exact duplicates among the most recent events, in bounded memory.
struct DedupWindow {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl DedupWindow {
    fn new(capacity: usize) -> Self {
        DedupWindow {
            seen: HashSet::with_capacity(capacity.min(1 << 20)),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// True if `hash` is new (and remember it).
    fn insert(&mut self, hash: u64) -> bool {
        if !self.seen.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// Buffered rows of one partition, waiting to be written.
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
}

struct Writer<'l> {
    lake: &'l Lake,
    buffers: HashMap<(String, i32), Buffer>,
    buffered: usize,
    limit: usize,
    file_seq: u64,
    /// Staged files: (staging path, final path), and their manifest entries.
    staged: Vec<(PathBuf, PathBuf)>,
    staged_files: Vec<DataFile>,
    summary: Summary,
    partitions: std::collections::BTreeSet<String>,
}

impl Writer<'_> {
    fn add(&mut self, cluster: String, day: i32, batch: RecordBatch) -> Result<()> {
        let bytes = batch.get_array_memory_size();
        let buf = self.buffers.entry((cluster, day)).or_default();
        buf.bytes += bytes;
        buf.batches.push(batch);
        self.buffered += bytes;
        while self.buffered > self.limit {
            let largest = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(k, _)| k.clone());
            match largest {
                Some(key) => self.flush(&key)?,
                None => break,
            }
        }
        Ok(())
    }

    fn flush(&mut self, key: &(String, i32)) -> Result<()> {
        let Some(buf) = self.buffers.remove(key) else {
            return Ok(());
        };
        self.buffered -= buf.bytes;
        if buf.batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(());
        }
        let day = time::day_string(key.1);
        let final_path = self.lake.data_path(&key.0, &day, self.file_seq);
        let staged = self
            .lake
            .staging()
            .join(format!("{:05}.parquet", self.file_seq));
        self.file_seq += 1;
        let (rows, bytes) = write_sorted(&staged, &buf.batches, self.lake.column_key.as_ref())?;
        self.staged_files.push(DataFile {
            path: crate::sink::manifest::relative(&self.lake.root, &final_path),
            size: bytes,
            rows,
            checksum: crate::sink::manifest::checksum(&staged)?,
            run: self.lake.run_id.clone(),
        });
        // the partition's summary, committed with the rows it counts
        if let Some(summary) = crate::summary::summarize(&buf.batches)? {
            let seq = self.file_seq - 1;
            let final_summary = self.lake.summary_path(&key.0, &day, seq);
            let staged_summary = self
                .lake
                .staging()
                .join(format!("summary-{seq:05}.parquet"));
            let (rows, bytes) = crate::summary::write(&staged_summary, &summary)?;
            self.staged_files.push(DataFile {
                path: crate::sink::manifest::relative(&self.lake.root, &final_summary),
                size: bytes,
                rows,
                checksum: crate::sink::manifest::checksum(&staged_summary)?,
                run: self.lake.run_id.clone(),
            });
            self.staged.push((staged_summary, final_summary));
        }
        self.summary.bytes_out += bytes;
        self.summary.files_written += 1;
        self.partitions.insert(format!(
            "cluster={}/day={day}",
            crate::sink::layout::partition_value(&key.0)
        ));
        self.staged.push((staged, final_path));
        Ok(())
    }

    fn flush_all(&mut self) -> Result<()> {
        let mut keys: Vec<_> = self.buffers.keys().cloned().collect();
        keys.sort();
        for key in keys {
            self.flush(&key)?;
        }
        Ok(())
    }
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
    let mut manifest = lake.manifest.clone();
    // The lake's own files are never inputs (`kubetrail ingest .` with the lake inside `.`).
    let expanded = open::expand(&opts.inputs, &opts.lake)?;
    let inputs = expanded.inputs;
    let mut state = LakeState::load(&lake.state_path())?;
    state.version = 1;
    if let Some(dir) = &opts.forget_gone_under {
        state.forget_gone_under(dir);
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            InputPath::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            InputPath::Stdin => None,
        })
        .sum();
    progress.bytes_total.store(total, Ordering::Relaxed);
    crate::sink::layout::private_dir(&lake.staging())?;

    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    let seed = u64::from_le_bytes([
        lake.key[0],
        lake.key[1],
        lake.key[2],
        lake.key[3],
        lake.key[4],
        lake.key[5],
        lake.key[6],
        lake.key[7],
    ]);
    let ctx = Arc::new(ParseContext {
        redactor: Redactor::new(lake.key),
        seed,
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
                for chunk in rx {
                    if tx.send(parse_chunk(chunk, &ctx)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| IngestError::Other(format!("cannot start parser thread: {e}")))?;
        workers.push(handle);
    }
    drop(chunk_rx);
    drop(res_tx);

    let mut writer = Writer {
        lake: &lake,
        buffers: HashMap::new(),
        buffered: 0,
        limit: opts.buffer_bytes,
        file_seq: 0,
        staged: Vec::new(),
        staged_files: Vec::new(),
        summary: Summary::default(),
        partitions: Default::default(),
    };
    let mut quarantine_seq = 0u64;
    let mut quarantine = QuarantineWriter::new(
        lake.staging()
            .join(format!("quarantine-{quarantine_seq:03}.jsonl")),
    );
    let mut staged_quarantine: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut dedup = DedupWindow::new(opts.dedup_window);
    let mut pending: BTreeMap<u64, ChunkResult> = BTreeMap::new();
    let mut next = 0u64;
    let mut progress_of = Inputs::default();
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
            if let Err(e) = process(
                r,
                &mut writer,
                &mut quarantine,
                &mut dedup,
                &mut progress_of,
                &mut state,
                &ctx.inputs,
            ) {
                result = Err(e);
                break 'results;
            }
            let read = progress.bytes_read.load(Ordering::Relaxed);
            // Commit only where every input being read can be resumed exactly (lines of files;
            // stdin cannot be read again and documents are re-read whole, so their rows are
            // committed when they end).
            if read.saturating_sub(since_commit) > opts.commit_bytes
                && progress_of.unresumable.is_empty()
            {
                since_commit = read;
                progress_of.record(&mut state);
                let moved = commit(
                    &lake,
                    &mut writer,
                    &mut quarantine,
                    &mut quarantine_seq,
                    &mut staged_quarantine,
                    &mut manifest,
                    &state,
                );
                if let Err(e) = moved {
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
    progress_of.record(&mut state);
    commit(
        &lake,
        &mut writer,
        &mut quarantine,
        &mut quarantine_seq,
        &mut staged_quarantine,
        &mut manifest,
        &state,
    )?;
    let _ = std::fs::remove_dir_all(lake.staging());

    let mut summary = writer.summary;
    summary.files_skipped += expanded.skipped.len() as u64;
    summary.skipped.extend(expanded.skipped);
    summary.errors.extend(expanded.errors);
    summary.partitions = writer.partitions.into_iter().collect();
    summary.quarantine_files = staged_quarantine.into_iter().map(|(_, to)| to).collect();
    summary.seconds = started
        .elapsed()
        .as_secs_f64()
        .max(Duration::from_micros(1).as_secs_f64());
    summary.events_per_second = (summary.rows + summary.duplicates) as f64 / summary.seconds;
    summary.bytes_in = progress.bytes_read.load(Ordering::Relaxed);
    Ok(summary)
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

/// Fold one chunk's result into the run, in input order.
fn process(
    r: ChunkResult,
    writer: &mut Writer,
    quarantine: &mut QuarantineWriter,
    dedup: &mut DedupWindow,
    inputs: &mut Inputs,
    state: &mut LakeState,
    names: &[String],
) -> Result<()> {
    writer.summary.lines += r.lines;
    for rec in &r.quarantine {
        quarantine.write(rec)?;
    }
    writer.summary.quarantined += r.quarantine.len() as u64;
    for p in r.panics {
        writer.summary.errors.push(format!(
            "kubetrail bug: the parser panicked on {p}; the line is in quarantine"
        ));
    }
    for part in r.parts {
        let keep: Vec<bool> = part.hashes.iter().map(|h| dedup.insert(*h)).collect();
        let kept = keep.iter().filter(|k| **k).count();
        writer.summary.duplicates += (keep.len() - kept) as u64;
        writer.summary.rows += kept as u64;
        let batch = if kept == keep.len() {
            part.batch
        } else {
            filter_record_batch(&part.batch, &BooleanArray::from(keep))?
        };
        if batch.num_rows() > 0 {
            writer.add(part.cluster, part.day, batch)?;
        }
    }
    match (r.checkpoint, &r.end) {
        (Some(cp), _) => {
            inputs.open.insert(r.input, cp);
        }
        (None, None) => {
            inputs.unresumable.insert(r.input);
        }
        (None, Some(_)) => {}
    }
    if let Some(end) = r.end {
        inputs.unresumable.remove(&r.input);
        let name = names.get(r.input).cloned().unwrap_or_default();
        if let Some(why) = end.skipped {
            inputs.finish(r.input, None, state);
            writer.summary.files_skipped += 1;
            writer.summary.skipped.push(format!("{name}: {why}"));
            return Ok(());
        }
        writer.summary.files += 1;
        if let Some(err) = &end.error {
            let (line, offset) = end
                .checkpoint
                .as_ref()
                .map_or((1, 0), |c| (c.record.lines + 1, c.record.offset));
            if end.unreadable {
                writer.summary.errors.push(format!("{name}: {err}"));
            } else {
                let rec = Record {
                    source_file: name.clone(),
                    line,
                    byte_offset: offset,
                    reason: err.clone(),
                    raw: Some(String::new()),
                    raw_b64: None,
                };
                quarantine.write(&rec)?;
                writer.summary.quarantined += 1;
            }
        }
        inputs.finish(r.input, end.checkpoint, state);
    }
    Ok(())
}

/// Make everything staged visible, with the manifest and the state that describe it.
fn commit(
    lake: &Lake,
    writer: &mut Writer,
    quarantine: &mut QuarantineWriter,
    quarantine_seq: &mut u64,
    staged_quarantine: &mut Vec<(PathBuf, PathBuf)>,
    manifest: &mut Manifest,
    state: &LakeState,
) -> Result<()> {
    writer.flush_all()?;
    let mut moves = std::mem::take(&mut writer.staged);
    manifest.version = crate::sink::manifest::MANIFEST_VERSION;
    manifest.files.append(&mut writer.staged_files);
    if let Some(path) = quarantine.finish()? {
        let to = lake.quarantine_path(*quarantine_seq);
        moves.push((path, to.clone()));
        staged_quarantine.push((PathBuf::new(), to));
        *quarantine_seq += 1;
        *quarantine = QuarantineWriter::new(
            lake.staging()
                .join(format!("quarantine-{quarantine_seq:03}.jsonl")),
        );
    }
    if let Some((_, to)) = moves.iter().find(|(_, to)| to.starts_with(lake.meta()))
        && let Some(dir) = to.parent()
    {
        crate::sink::layout::private_dir(dir)?;
    }
    lake.commit(moves, manifest, state)
}
