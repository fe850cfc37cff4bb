//! The parse stage: one thread per core turns chunks of whole lines (or document items) into
//! Arrow rows per (cluster, day), sorted as the lake's files are, with the hash of each event's
//! bytes for the dedup stage, and quarantine records for what cannot be read. A decoder panic
//! quarantines its line and is reported, instead of taking the thread and its chunk down.

use std::collections::HashMap;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;

use crate::batch::{EventBatchBuilder, Sizes};
use crate::normalize::raw::RawEvent;
use crate::normalize::{self, Origin};
use crate::quarantine::Record;
use crate::redact::Redactor;
use crate::sink::parquet::sort_order;
use crate::source::container::{self, Partials, Step};
use crate::source::envelope::{self, Sink, Wrap};
use crate::source::format::{CsvKind, InputFormat};
use crate::source::reader::{
    Checkpoint, Chunk, ChunkKind, FileEnd, KEEP_OF_OVERLONG, MAX_LINE_BYTES,
};
use crate::source::reason::Rejection;

/// Rows of one (cluster, day) from one chunk, sorted as files are
/// ([`SORT_COLUMNS`](crate::sink::parquet::SORT_COLUMNS)).
pub(super) struct Part {
    pub(super) cluster: String,
    pub(super) day: i32,
    pub(super) batch: RecordBatch,
    /// The content hash of each event, in input order.
    pub(super) hashes: Vec<u64>,
    /// The input-order index of each row of `batch` (`None`: the rows are in input order).
    pub(super) sorted_from: Option<UInt32Array>,
}

/// Rows of one (cluster, day) being built.
struct Group {
    cluster: String,
    day: i32,
    builder: EventBatchBuilder,
    hashes: Vec<u64>,
}

/// Rows a group's builders make room for at first (a chunk holds a few thousand events).
const GROUP_CAPACITY: usize = 4096;

pub(super) struct ChunkResult {
    pub(super) seq: u64,
    pub(super) input: usize,
    pub(super) parts: Vec<Part>,
    /// The part of each event, in input order (the dedup stage sees events in this order).
    pub(super) order: Vec<u32>,
    pub(super) quarantine: Vec<Record>,
    pub(super) lines: u64,
    /// Lines on which the parser panicked (quarantined too): a bug to report.
    pub(super) panics: Vec<String>,
    pub(super) checkpoint: Option<Checkpoint>,
    pub(super) end: Option<FileEnd>,
}

/// Per-chunk parser state: one builder per (cluster, day).
struct ChunkSink<'c> {
    ctx: &'c ParseContext,
    source_file: &'c str,
    line: u64,
    offset: u64,
    groups: Vec<Group>,
    /// Groups by the hash of their (cluster, day).
    index: HashMap<u64, Vec<usize>>,
    /// The group of each event, in input order.
    order: Vec<u32>,
    /// Room a new group's builder makes for string data: what the last chunk needed.
    sizes: &'c Sizes,
    quarantine: Vec<Record>,
    events: u64,
}

pub(super) struct ParseContext {
    pub(super) redactor: Redactor,
    pub(super) seed: u64,
    pub(super) cluster: Option<String>,
    pub(super) inputs: Vec<String>,
    pub(super) format: InputFormat,
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
                let g = self.group(cluster, prepared.day);
                let group = &mut self.groups[g];
                prepared.write(&mut group.builder, &origin);
                group.hashes.push(hash);
                self.order.push(g as u32);
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

/// Parse one chunk. `sizes` is what the parser thread's last chunk needed of each column's
/// string data (its builders start with that room), updated for the next.
pub(super) fn parse_chunk(
    chunk: Chunk,
    ctx: &ParseContext,
    sizes: &mut Sizes,
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
        groups: Vec::new(),
        index: HashMap::new(),
        order: Vec::new(),
        sizes,
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
    let mut parts = Vec::with_capacity(sink.groups.len());
    let mut next_sizes = None;
    for mut group in std::mem::take(&mut sink.groups) {
        let (batch, used) = group.builder.finish_sized()?;
        // the biggest group is what a chunk of this input holds
        if parts
            .iter()
            .all(|p: &Part| p.batch.num_rows() < batch.num_rows())
        {
            next_sizes = Some(used);
        }
        // Sorted here, on the parser threads and while the rows are fresh in the cache, so
        // that the write stage merges long sorted stretches (copied as ranges).
        let order = sort_order(&batch)?;
        let in_order = order
            .values()
            .iter()
            .enumerate()
            .all(|(i, &r)| i == r as usize);
        let (batch, sorted_from) = if in_order {
            (batch, None)
        } else {
            (take_record_batch(&batch, &order)?, Some(order))
        };
        parts.push(Part {
            cluster: group.cluster,
            day: group.day,
            batch,
            hashes: group.hashes,
            sorted_from,
        });
    }
    let (order, quarantine) = (sink.order, sink.quarantine);
    if let Some(used) = next_sizes {
        *sizes = used;
    }
    Ok(ChunkResult {
        seq: chunk.seq,
        input: chunk.input,
        parts,
        order,
        quarantine,
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
    guarded(text, sink, panics, |sink| {
        container::decode_cri_text(wrapper_ts, text, sink)
    });
}

/// Run `decode` on one line, element or document item; a panic in the decoder (a bug)
/// quarantines the text with the panic's message instead of taking the parser thread and its
/// chunk down.
fn guarded(
    text: &str,
    sink: &mut ChunkSink<'_>,
    panics: &mut Vec<String>,
    decode: impl FnOnce(&mut ChunkSink<'_>),
) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::fault::line(text);
        decode(&mut *sink)
    }));
    if let Err(payload) = outcome {
        panicked(payload, text, sink, panics);
    }
}

/// Decode one line or document (as the forced format, if any), [`guarded`].
fn decode_guarded(text: &str, sink: &mut ChunkSink<'_>, panics: &mut Vec<String>) {
    let format = sink.ctx.format;
    decode_as_guarded(format, text, sink, panics);
}

/// Decode one element as a given format (a CSV record, or a forced format's element), [`guarded`].
fn decode_as_guarded(
    format: InputFormat,
    text: &str,
    sink: &mut ChunkSink<'_>,
    panics: &mut Vec<String>,
) {
    guarded(text, sink, panics, |sink| {
        envelope::decode_as(format, text, sink)
    });
}

/// Decode one item of a document, [`guarded`].
fn decode_item(
    text: &str,
    format: &'static str,
    sink: &mut ChunkSink<'_>,
    panics: &mut Vec<String>,
) {
    guarded(text, sink, panics, |sink| {
        envelope::decode_object(text, Wrap::new(format), sink)
    });
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
    /// The index of the group of (cluster, day), made if new.
    fn group(&mut self, cluster: &str, day: i32) -> usize {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&day.to_le_bytes());
        h.update(cluster.as_bytes());
        let slot = self.index.entry(h.digest()).or_default();
        let groups = &self.groups;
        if let Some(&g) = slot
            .iter()
            .find(|&&g| groups[g].day == day && groups[g].cluster == cluster)
        {
            return g;
        }
        let g = self.groups.len();
        slot.push(g);
        self.groups.push(Group {
            cluster: cluster.to_owned(),
            day,
            // A chunk's first group is sized like the last chunk's biggest; others (a chunk
            // spanning days) grow as they fill, so that many small days do not each reserve a
            // chunk's worth.
            builder: if g == 0 {
                EventBatchBuilder::sized_like(GROUP_CAPACITY, self.sizes)
            } else {
                EventBatchBuilder::with_capacity(GROUP_CAPACITY)
            },
            hashes: Vec::with_capacity(GROUP_CAPACITY),
        });
        g
    }

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
