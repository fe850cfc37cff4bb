//! The reader thread: turns inputs into chunks of whole lines (or whole JSON documents), skipping
//! what the lake already holds and resuming grown files.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;

use xxhash_rust::xxh3::Xxh3;

use super::container;
use super::csv::Records;
use super::document::{Element, Splitter};
use super::format::{CsvKind, Framing, InputFormat};
use super::open::{self, InputPath};
use crate::state::{FINGERPRINT_BYTES, FileRecord, LakeState, fingerprint};

/// Target size of a chunk of lines handed to a parser.
pub const CHUNK_BYTES: usize = 4 << 20;
/// Largest event kept whole: a physical line, a JSON document's element (a Firehose envelope
/// too), a CSV record, or the joined pieces of a CRI partial line. A larger one is quarantined
/// with its first [`KEEP_OF_OVERLONG`] bytes.
pub const MAX_LINE_BYTES: usize = 64 << 20;
pub const KEEP_OF_OVERLONG: usize = 1 << 20;

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// Newline-terminated lines (or the input's last line without a newline, when it is a
    /// complete JSON value).
    Lines,
    /// The input's last bytes, with no newline after them, that are not complete yet (cut off
    /// inside a value or a UTF-8 character): quarantined now, read again if the input grows.
    Incomplete,
    /// Elements of a JSON document (array items, EventList items, a whole object), in
    /// [`Chunk::elements`].
    Elements,
    /// The first bytes of a line longer than [`MAX_LINE_BYTES`].
    Overlong,
}

/// How far an input is read once a chunk is processed: what a commit records for it.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub record: FileRecord,
    /// The key of the earlier record this input continues (it replaces it in the state).
    pub replaces: Option<String>,
}

/// The end of one input, carried by its last chunk.
#[derive(Debug, Clone)]
pub struct FileEnd {
    /// The record to store once this input's rows are committed (`None` for stdin).
    pub checkpoint: Option<Checkpoint>,
    /// Why the input skipped, if it was (already ingested).
    pub skipped: Option<String>,
    /// A read error that ended the input early (truncated gzip, I/O error).
    pub error: Option<String>,
    /// The input could not be opened or read at all (missing permission, not a file): an
    /// error for the user, not a quarantine record.
    pub unreadable: bool,
    pub raw_bytes: u64,
}

impl FileEnd {
    fn failed(error: String, unreadable: bool) -> Self {
        FileEnd {
            checkpoint: None,
            skipped: None,
            error: Some(error),
            unreadable,
            raw_bytes: 0,
        }
    }

    /// An input read to its end, or ended early by `error`.
    fn read(error: Option<String>) -> Self {
        FileEnd {
            checkpoint: None,
            skipped: None,
            error,
            unreadable: false,
            raw_bytes: 0,
        }
    }

    fn skipped(why: String) -> Self {
        FileEnd {
            checkpoint: None,
            skipped: Some(why),
            error: None,
            unreadable: false,
            raw_bytes: 0,
        }
    }
}

/// A piece of one input.
#[derive(Debug)]
pub struct Chunk {
    pub seq: u64,
    pub input: usize,
    pub kind: ChunkKind,
    /// 1-based line number of the chunk's first line.
    pub first_line: u64,
    /// Offset of the chunk's first byte in the decompressed input.
    pub offset: u64,
    pub data: Vec<u8>,
    /// For [`ChunkKind::Elements`]: the document's elements.
    pub elements: Vec<Element>,
    /// The input's state once this chunk is processed (files only, and not inside a document,
    /// which is never resumed at an offset).
    pub checkpoint: Option<Checkpoint>,
    pub end: Option<FileEnd>,
}

struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    total: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        self.total += n as u64;
        Ok(n)
    }
}

/// The hash of a consumed prefix, as stored in [`FileRecord::prefix_hash`].
fn digest(h: &Xxh3) -> String {
    format!("{:032x}", h.digest128())
}

/// Whether the last bytes of an input, with no newline after them, are a whole line: valid
/// UTF-8 holding one complete JSON value (or only white space). Anything else may still be
/// being written.
fn tail_is_complete(tail: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(tail) else {
        return false;
    };
    let text = text.trim();
    text.is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// One input being read: where it stands and the record that will describe it.
struct Cursor {
    input: usize,
    /// Decompressed bytes consumed (sent in chunks) and the hash of them.
    offset: u64,
    hasher: Xxh3,
    /// Next line number.
    line: u64,
    record: Option<FileRecord>,
    replaces: Option<String>,
    /// The incomplete tail the record this input continues left in quarantine.
    pending_tail: Option<(u64, String)>,
    /// Reading a JSON document: no checkpoint until it ends.
    in_document: bool,
    /// A document continuing a cut-off earlier copy: its elements that end before this offset
    /// were ingested then.
    skip_until: u64,
}

impl Cursor {
    fn consume(&mut self, bytes: &[u8], lines: u64) {
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
        self.line += lines;
    }

    /// Where a commit may record this input now.
    fn checkpoint(&self) -> Option<Checkpoint> {
        if self.in_document {
            return None;
        }
        self.final_checkpoint()
    }

    /// The input's record once it is read to its end.
    fn final_checkpoint(&self) -> Option<Checkpoint> {
        let mut record = self.record.clone()?;
        record.document = self.in_document;
        record.offset = self.offset;
        record.lines = self.line - 1;
        record.prefix_hash = Some(digest(&self.hasher));
        Some(Checkpoint {
            record,
            replaces: self.replaces.clone(),
        })
    }
}

/// Reads every input in order and sends its chunks. Stops early if the receiver hangs up.
///
/// Its helpers return a [`FileEnd`] as their error: the way an input ends early.
pub struct Reader {
    pub inputs: Vec<InputPath>,
    /// The lake's state, plus every input this run has read so far: a second name for the
    /// same content in one run is recognised too.
    pub state: LakeState,
    pub bytes_read: Arc<AtomicU64>,
    pub tx: Sender<Chunk>,
    /// The reader the user forced (`--input-format`), or [`InputFormat::Auto`].
    pub format: InputFormat,
    seq: u64,
}

#[allow(clippy::result_large_err)] // the error is the input's end, one per input
impl Reader {
    pub fn new(
        inputs: Vec<InputPath>,
        state: LakeState,
        bytes_read: Arc<AtomicU64>,
        tx: Sender<Chunk>,
    ) -> Self {
        Reader {
            inputs,
            state,
            bytes_read,
            tx,
            format: InputFormat::Auto,
            seq: 0,
        }
    }

    /// Whether CRI partial lines may occur (and runs of them are kept in one chunk).
    fn cri_aware(&self) -> bool {
        matches!(self.format, InputFormat::Auto | InputFormat::Cri)
    }

    fn send(
        &mut self,
        cur: &Cursor,
        kind: ChunkKind,
        first_line: u64,
        offset: u64,
        data: Vec<u8>,
    ) -> bool {
        let chunk = Chunk {
            seq: self.seq,
            input: cur.input,
            kind,
            first_line,
            offset,
            data,
            elements: Vec::new(),
            checkpoint: cur.checkpoint(),
            end: None,
        };
        self.seq += 1;
        self.tx.send(chunk).is_ok()
    }

    fn end_with(&mut self, i: usize, first_line: u64, end: FileEnd) -> bool {
        let chunk = Chunk {
            seq: self.seq,
            input: i,
            kind: ChunkKind::Lines,
            first_line,
            offset: 0,
            data: Vec::new(),
            elements: Vec::new(),
            checkpoint: None,
            end: Some(end),
        };
        self.seq += 1;
        self.tx.send(chunk).is_ok()
    }

    /// Read all inputs; returns how many chunks were sent. Errors opening an input end that
    /// input with an error, not the run.
    pub fn run(mut self) -> u64 {
        for i in 0..self.inputs.len() {
            if !self.read_input(i) {
                break;
            }
        }
        self.seq
    }

    /// Open an input and its decompressed stream; the raw size when known.
    fn open(&mut self, input: &InputPath) -> Result<(Box<dyn Read + Send>, Option<u64>), FileEnd> {
        let (raw, size) =
            open::open_raw(input).map_err(|e| FileEnd::failed(e.to_string(), true))?;
        let mut raw = Counting {
            inner: raw,
            counter: self.bytes_read.clone(),
            total: 0,
        };
        let raw_head = open::read_head(&mut raw, FINGERPRINT_BYTES)
            .map_err(|e| FileEnd::failed(format!("read failed: {e}"), true))?;
        let (_, stream) = open::decompress(raw_head, Box::new(raw))
            .map_err(|e| FileEnd::failed(format!("cannot decompress: {e}"), false))?;
        Ok((stream, size))
    }

    fn read_input(&mut self, i: usize) -> bool {
        let input = self.inputs[i].clone();
        let (mut stream, size) = match self.open(&input) {
            Ok(s) => s,
            Err(end) => return self.end_with(i, 1, end),
        };
        let head = match open::read_head(&mut stream, FINGERPRINT_BYTES) {
            Ok(h) => h,
            Err(e) => {
                return self.end_with(i, 1, FileEnd::failed(format!("read failed: {e}"), false));
            }
        };
        // files and objects are resumed; standard input is read once
        let is_file = matches!(input, InputPath::File(_) | InputPath::Remote(_));
        let mut cur = Cursor {
            input: i,
            offset: 0,
            hasher: Xxh3::new(),
            line: 1,
            record: is_file.then(|| FileRecord {
                path: input.display(),
                content_fingerprint: fingerprint(&head),
                fingerprint_len: head.len() as u64,
                offset: 0,
                lines: 0,
                prefix_hash: None,
                document: false,
                pending_tail: None,
                updated: String::new(),
            }),
            replaces: None,
            pending_tail: None,
            in_document: false,
            skip_until: 0,
        };
        let mut stream: Box<dyn Read + Send> =
            Box::new(std::io::Cursor::new(head.clone()).chain(stream));
        if is_file {
            let candidates: Vec<FileRecord> =
                self.state.candidates(&head).into_iter().cloned().collect();
            if !candidates.is_empty() {
                match self.resume(&input, stream, &candidates, &mut cur) {
                    Ok(Resumed::Continue(s)) => stream = s,
                    Ok(Resumed::Identical(why)) => {
                        let mut end = FileEnd::skipped(why);
                        end.raw_bytes = size.unwrap_or(0);
                        return self.end_with(i, 1, end);
                    }
                    Err(end) => return self.end_with(i, cur.line, end),
                }
            }
        }
        let result = self.stream_lines(&mut cur, &mut *stream);
        let Some(mut end) = result else { return false };
        end.raw_bytes = size.unwrap_or(0);
        end.checkpoint = cur.final_checkpoint();
        if let Some(c) = &end.checkpoint {
            // Later inputs of this run that hold the same content are recognised.
            self.state.upsert(c.record.clone(), c.replaces.as_deref());
        }
        let line = cur.line;
        self.end_with(i, line, end)
    }

    /// Find the furthest earlier record this input continues, checking the hash of everything
    /// before its offset, and position the stream there.
    fn resume(
        &mut self,
        input: &InputPath,
        mut stream: Box<dyn Read + Send>,
        candidates: &[FileRecord],
        cur: &mut Cursor,
    ) -> Result<Resumed, FileEnd> {
        let mut hasher = Xxh3::new();
        let mut pos = 0u64;
        let mut best: Option<(&FileRecord, Xxh3)> = None;
        let mut at_eof = false;
        let mut buf = vec![0u8; 256 << 10];
        for cand in candidates {
            // Hash up to this candidate's offset.
            while pos < cand.offset {
                let want = ((cand.offset - pos) as usize).min(buf.len());
                match stream.read(&mut buf[..want]) {
                    Ok(0) => {
                        at_eof = true;
                        break;
                    }
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        pos += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(FileEnd::failed(
                            format!("read failed while checking what was ingested before: {e}"),
                            false,
                        ));
                    }
                }
            }
            if pos < cand.offset {
                break;
            }
            let same = match &cand.prefix_hash {
                Some(h) => *h == digest(&hasher),
                // A record from before prefix hashes: its fingerprint is all there is.
                None => true,
            };
            if same {
                best = Some((cand, hasher.clone()));
            }
        }
        // Is there anything after the furthest point read?
        let mut one = [0u8; 1];
        let more = !at_eof && matches!(stream.read(&mut one), Ok(n) if n > 0);
        let Some((found, found_hasher)) = best else {
            return self.reopen(input, cur, 0, None).map(Resumed::Continue);
        };
        let identical = found.offset == pos && !more;
        if found.document {
            if identical && found.pending_tail.is_none() {
                return Ok(Resumed::Identical(format!(
                    "already ingested (same content as {})",
                    found.path
                )));
            }
            if found.offset == pos
                && let Some((len, hash)) = &found.pending_tail
                && rest_is(&mut stream, more.then_some(one[0]), *len, hash)
            {
                return Ok(Resumed::Identical(
                    "already ingested (unchanged; its cut-off end was quarantined before)".into(),
                ));
            }
            // A document is read again from its start; the elements before the recorded point
            // (the same bytes, by the hash) are dropped.
            let (replaces, offset) = (found.key(), found.offset);
            let s = self.reopen(input, cur, 0, None)?;
            cur.replaces = Some(replaces);
            cur.skip_until = offset;
            return Ok(Resumed::Continue(s));
        }
        if identical && found.pending_tail.is_none() {
            return Ok(Resumed::Identical(format!(
                "already ingested (same content as {})",
                found.path
            )));
        }
        cur.replaces = Some(found.key());
        cur.pending_tail = found.pending_tail.clone();
        if found.offset == pos {
            // The stream stands right there; give back the byte peeked at.
            cur.hasher = found_hasher;
            cur.offset = found.offset;
            cur.line = found.lines + 1;
            let peeked: Vec<u8> = if more { one.to_vec() } else { Vec::new() };
            return Ok(Resumed::Continue(Box::new(
                std::io::Cursor::new(peeked).chain(stream),
            )));
        }
        let (offset, lines, replaces) = (found.offset, found.lines, cur.replaces.clone());
        self.reopen(input, cur, offset, Some(lines)).map(|s| {
            cur.replaces = replaces;
            Resumed::Continue(s)
        })
    }

    /// Open the input again and skip (hashing) its first `offset` bytes.
    fn reopen(
        &mut self,
        input: &InputPath,
        cur: &mut Cursor,
        offset: u64,
        lines: Option<u64>,
    ) -> Result<Box<dyn Read + Send>, FileEnd> {
        let (mut stream, _) = self.open(input)?;
        let mut hasher = Xxh3::new();
        let mut left = offset;
        let mut buf = vec![0u8; 256 << 10];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            match stream.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(FileEnd::failed(
                        format!("{} changed while it was being read", input.display()),
                        false,
                    ));
                }
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    left -= n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FileEnd::failed(format!("read failed: {e}"), false)),
            }
        }
        cur.hasher = hasher;
        cur.offset = offset;
        cur.line = lines.unwrap_or(0) + 1;
        if offset == 0 {
            cur.replaces = None;
            cur.pending_tail = None;
        }
        Ok(stream)
    }

    /// Stream an input's lines from the cursor; returns the input's end (or `None` if the
    /// receiver is gone).
    fn stream_lines(&mut self, cur: &mut Cursor, stream: &mut dyn Read) -> Option<FileEnd> {
        let started_at = cur.offset;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + (64 << 10));
        let mut first = cur.offset == 0;
        let mut error = None;
        let mut eof = false;
        // How much to hold before looking for the last newline: a chunk, or more while one line
        // is longer than a chunk.
        let mut want = CHUNK_BYTES;
        while !eof {
            // Fill the buffer to a chunk's worth, or to the end of the input.
            while buf.len() < want {
                let start = buf.len();
                buf.resize(start + (256 << 10), 0);
                match stream.read(&mut buf[start..]) {
                    Ok(0) => {
                        buf.truncate(start);
                        eof = true;
                        break;
                    }
                    Ok(n) => buf.truncate(start + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
                    Err(e) => {
                        buf.truncate(start);
                        error = Some(format!(
                            "input ends early after {} bytes: {e}",
                            cur.offset + buf.len() as u64
                        ));
                        eof = true;
                        break;
                    }
                }
            }
            if first {
                first = false;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    cur.consume(&buf[..3], 0);
                    buf.drain(..3);
                }
                // What was read before a read error (a cut gzip member) is read as what it
                // is; the error ends the input there.
                let ended = error.take();
                match self.format.framing() {
                    Framing::Document => return self.stream_document(cur, buf, stream, ended),
                    Framing::Csv(kind) => return self.stream_csv(cur, buf, stream, kind, ended),
                    Framing::Sniff if is_document(&buf) || is_concatenated(&buf) => {
                        return self.stream_document(cur, buf, stream, ended);
                    }
                    Framing::Sniff if self.format == InputFormat::Auto => {
                        if let Some(kind) = csv_header(&buf) {
                            return self.stream_csv(cur, buf, stream, kind, ended);
                        }
                    }
                    Framing::Sniff | Framing::Lines => {}
                }
                error = ended;
            }
            let mut cut = match memchr::memrchr(b'\n', &buf) {
                Some(pos) => pos + 1,
                None if eof => 0,
                None if buf.len() >= MAX_LINE_BYTES => {
                    // One enormous line: keep its start for quarantine, skip to its end.
                    let (line, offset) = (cur.line, cur.offset);
                    cur.consume(&buf, 0);
                    let mut keep = std::mem::take(&mut buf);
                    keep.truncate(KEEP_OF_OVERLONG);
                    let mut block = vec![0u8; 1 << 16];
                    let rest_of_line_found = loop {
                        match stream.read(&mut block) {
                            Ok(0) | Err(_) => break false,
                            Ok(n) => match memchr::memchr(b'\n', &block[..n]) {
                                Some(p) => {
                                    cur.consume(&block[..p + 1], 1);
                                    buf.extend_from_slice(&block[p + 1..n]);
                                    break true;
                                }
                                None => cur.consume(&block[..n], 0),
                            },
                        }
                    };
                    if !rest_of_line_found {
                        cur.line += 1;
                        eof = true;
                    }
                    if !self.send(cur, ChunkKind::Overlong, line, offset, keep) {
                        return None;
                    }
                    continue;
                }
                None => {
                    want = buf.len() + CHUNK_BYTES;
                    continue;
                }
            };
            // CRI pieces of one line stay in one chunk, so that the parser can join them: a
            // chunk ends before the first piece of a line whose final piece is not read yet.
            // At the end of the input such pieces are held back (below).
            if self.cri_aware()
                && cut > 0
                && let Some(start) = container::unfinished_start(&buf[..cut])
            {
                if start > 0 {
                    cut = start;
                } else if eof {
                    cut = 0;
                } else if buf.len() < MAX_LINE_BYTES {
                    want = buf.len() + CHUNK_BYTES;
                    continue;
                }
            }
            want = CHUNK_BYTES;
            if cut > 0 {
                let rest = buf.split_off(cut);
                let n = memchr::memchr_iter(b'\n', &buf).count() as u64;
                let data = std::mem::replace(&mut buf, rest);
                let (line, offset) = (cur.line, cur.offset);
                cur.consume(&data, n);
                if !self.send(cur, ChunkKind::Lines, line, offset, data) {
                    return None;
                }
            }
            if eof && !buf.is_empty() {
                let data = std::mem::take(&mut buf);
                let (line, offset) = (cur.line, cur.offset);
                // A tail that cannot be ingested yet (CRI pieces whose final piece is not
                // written, or a line cut short) is quarantined by the parser now but not recorded
                // as read, so that it is read again (and joined) when the file grows.
                let held = if self.cri_aware() && container::unfinished_start(&data).is_some() {
                    Some((ChunkKind::Lines, "its cut-off CRI partial line"))
                } else if tail_is_complete(&data) {
                    None
                } else {
                    Some((ChunkKind::Incomplete, "its incomplete last line"))
                };
                match held {
                    None => {
                        cur.consume(&data, 1);
                        if let Some(r) = &mut cur.record {
                            r.pending_tail = None;
                        }
                        if !self.send(cur, ChunkKind::Lines, line, offset, data) {
                            return None;
                        }
                    }
                    Some((kind, what)) => {
                        let tail = (data.len() as u64, fingerprint(&data));
                        let seen =
                            cur.offset == started_at && cur.pending_tail.as_ref() == Some(&tail);
                        if let Some(r) = &mut cur.record {
                            r.pending_tail = Some(tail);
                        }
                        if seen {
                            // Unchanged since the last run, which quarantined it already.
                            return Some(FileEnd::skipped(format!(
                                "already ingested (no new lines; {what} was quarantined before)"
                            )));
                        }
                        if !self.send(cur, kind, line, offset, data) {
                            return None;
                        }
                    }
                }
            }
        }
        Some(FileEnd::read(error))
    }

    /// Read a JSON document element by element, in bounded memory (see [`Splitter`]).
    ///
    /// A document is never resumed in the middle (the splitter needs to have seen its start), but
    /// a document that was cut off and is now whole is not read twice either: its record holds
    /// the end of the last whole element and the hash of every byte before it, and on the next
    /// read the elements before that point are dropped (see `skip_until`).
    fn stream_document(
        &mut self,
        cur: &mut Cursor,
        mut buf: Vec<u8>,
        stream: &mut dyn Read,
        ended: Option<String>,
    ) -> Option<FileEnd> {
        cur.in_document = true;
        let skip_until = std::mem::take(&mut cur.skip_until);
        let mut splitter = Splitter::new(cur.offset, cur.line, MAX_LINE_BYTES);
        let mut elements: Vec<Element> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut error = ended;
        let mut block = vec![0u8; 256 << 10];
        // Bytes read since the end of the last whole element, and the hash up to that end.
        let mut carry: Vec<u8> = Vec::new();
        let mut carry_start = cur.offset;
        let mut at_element = cur.hasher.clone();
        let mut lines_at_element = cur.line - 1;
        loop {
            let before = elements.len();
            splitter.feed(&buf, &mut elements);
            let newlines = memchr::memchr_iter(b'\n', &buf).count() as u64;
            cur.consume(&buf, newlines);
            carry.extend_from_slice(&buf);
            let mut k = before;
            while k < elements.len() {
                let e = &elements[k];
                let n = (e.end - carry_start) as usize;
                if !e.truncated && n <= carry.len() {
                    at_element.update(&carry[..n]);
                    lines_at_element += memchr::memchr_iter(b'\n', &carry[..n]).count() as u64;
                    carry.drain(..n);
                    carry_start = e.end;
                }
                if e.end <= skip_until && !e.truncated {
                    // Ingested from an earlier, cut-off copy of this document.
                    elements.remove(k);
                } else {
                    pending_bytes += elements[k].bytes.len();
                    k += 1;
                }
            }
            if pending_bytes >= CHUNK_BYTES {
                pending_bytes = 0;
                if !self.send_elements(cur, &mut elements) {
                    return None;
                }
            }
            if error.is_some() {
                break;
            }
            match stream.read(&mut block) {
                Ok(0) => break,
                Ok(n) => {
                    buf.clear();
                    buf.extend_from_slice(&block[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.clear(),
                Err(e) => {
                    error = Some(format!("input ends early after {} bytes: {e}", cur.offset));
                    break;
                }
            }
        }
        let complete = splitter.complete() && error.is_none();
        splitter.finish(&mut elements);
        if !elements.is_empty() && !self.send_elements(cur, &mut elements) {
            return None;
        }
        if !complete {
            // Recorded up to the last whole element; the rest is read again when it changes.
            cur.hasher = at_element;
            cur.offset = carry_start;
            cur.line = lines_at_element + 1;
            if let Some(r) = &mut cur.record {
                r.pending_tail = Some((carry.len() as u64, fingerprint(&carry)));
            }
        } else if let Some(r) = &mut cur.record {
            r.pending_tail = None;
        }
        Some(FileEnd::read(error))
    }

    /// Read a CSV export record by record (see [`Records`]). Like a document it is recorded only
    /// once read to its end; read again, the records ending before the recorded point are
    /// dropped.
    fn stream_csv(
        &mut self,
        cur: &mut Cursor,
        buf: Vec<u8>,
        stream: &mut dyn Read,
        kind: CsvKind,
        ended: Option<String>,
    ) -> Option<FileEnd> {
        cur.in_document = true;
        let skip_until = std::mem::take(&mut cur.skip_until);
        let mut empty = std::io::empty();
        let rest: &mut dyn Read = if ended.is_some() { &mut empty } else { stream };
        let input = Tee {
            inner: std::io::Cursor::new(buf).chain(rest),
            hasher: cur.hasher.clone(),
            bytes: 0,
            newlines: 0,
        };
        let mut error = ended;
        let mut elements: Vec<Element> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut records = match Records::new(input, kind, cur.offset, cur.line, MAX_LINE_BYTES) {
            Ok(r) => r,
            Err(e) => {
                return Some(FileEnd::read(Some(format!(
                    "cannot read the CSV header: {e}"
                ))));
            }
        };
        loop {
            match records.next_element() {
                Ok(Some(e)) => {
                    if e.end <= skip_until && !e.truncated {
                        continue;
                    }
                    pending_bytes += e.bytes.len();
                    elements.push(e);
                    if pending_bytes >= CHUNK_BYTES {
                        pending_bytes = 0;
                        if !self.send_elements(cur, &mut elements) {
                            return None;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error.get_or_insert_with(|| format!("input ends early (CSV): {e}"));
                    break;
                }
            }
        }
        if !elements.is_empty() && !self.send_elements(cur, &mut elements) {
            return None;
        }
        let tee = records.into_inner();
        cur.hasher = tee.hasher;
        cur.offset += tee.bytes;
        cur.line += tee.newlines;
        if let Some(r) = &mut cur.record {
            r.pending_tail = None;
        }
        Some(FileEnd::read(error))
    }

    fn send_elements(&mut self, cur: &Cursor, elements: &mut Vec<Element>) -> bool {
        let (line, offset) = elements
            .first()
            .map_or((cur.line, cur.offset), |e| (e.line, e.offset));
        let chunk = Chunk {
            seq: self.seq,
            input: cur.input,
            kind: ChunkKind::Elements,
            first_line: line,
            offset,
            data: Vec::new(),
            elements: std::mem::take(elements),
            checkpoint: None,
            end: None,
        };
        self.seq += 1;
        self.tx.send(chunk).is_ok()
    }
}

/// Whether the rest of `stream` (after `first`, a byte already read) is exactly `len` bytes
/// with this fingerprint.
fn rest_is(stream: &mut dyn Read, first: Option<u8>, len: u64, hash: &str) -> bool {
    let mut rest: Vec<u8> = first.into_iter().collect();
    if stream.take(len + 1).read_to_end(&mut rest).is_err() {
        return false;
    }
    rest.len() as u64 == len && fingerprint(&rest) == hash
}

/// Where an input stands after comparing it with what was ingested before.
enum Resumed {
    /// Read on from this stream (positioned by the cursor).
    Continue(Box<dyn Read + Send>),
    /// Nothing new in it.
    Identical(String),
}

/// Hashes and counts what passes through it (the CSV reader reads the input itself).
struct Tee<R> {
    inner: R,
    hasher: Xxh3,
    bytes: u64,
    newlines: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        Ok(n)
    }
}

/// The CSV export whose header is the first line of `buf`, if any.
fn csv_header(buf: &[u8]) -> Option<CsvKind> {
    let first = buf.iter().position(|b| !b.is_ascii_whitespace())?;
    if matches!(buf[first], b'{' | b'[') {
        return None;
    }
    let end = memchr::memchr(b'\n', buf).unwrap_or(buf.len());
    let header = &buf[..end];
    CsvKind::of_header(header.strip_suffix(b"\r").unwrap_or(header))
}

/// JSON objects one after another on one line with nothing between them, as a Firehose object
/// from a CloudWatch subscription holds them (`{...}{...}`): read as a stream of documents.
/// A first object too long to see its end here is taken as one when it is a subscription
/// envelope.
fn is_concatenated(buf: &[u8]) -> bool {
    let Some(start) = buf.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    if buf[start] != b'{' {
        return false;
    }
    let (mut depth, mut in_string, mut escape) = (0usize, false, false);
    for (i, &b) in buf[start..].iter().enumerate() {
        if in_string {
            match b {
                _ if escape => escape = false,
                b'\\' => escape = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let rest = &buf[start + i + 1..];
                    let next = rest.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\r'));
                    return next == Some(&b'{');
                }
            }
            b'\n' => return false,
            _ => {}
        }
    }
    buf[start..].starts_with(b"{\"messageType\"")
}

/// A document rather than JSON lines: starts with `[`, or with a `{` alone on its first line.
fn is_document(buf: &[u8]) -> bool {
    let start = buf.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|p| (p, buf[p])) {
        Some((_, b'[')) => true,
        Some((p, b'{')) => {
            let rest = &buf[p + 1..];
            let eol = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            rest[..eol].iter().all(u8::is_ascii_whitespace) && eol < rest.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_documents_and_arrays_are_documents_but_json_lines_are_not() {
        assert!(is_document(b"[{\"a\":1}]"));
        assert!(is_document(b"{\n  \"kind\": \"EventList\"\n}"));
        assert!(!is_document(
            b"{\"kind\":\"Event\"}\n{\"kind\":\"Event\"}\n"
        ));
    }

    #[test]
    fn objects_back_to_back_on_one_line_are_a_stream_of_documents() {
        assert!(is_concatenated(b"{\"a\":\"}{\"}{\"b\":1}"));
        assert!(is_concatenated(
            b"{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":["
        ));
        assert!(!is_concatenated(b"{\"a\":1}\n{\"b\":1}\n"));
        assert!(!is_concatenated(b"{\"a\":1}"));
    }

    #[test]
    fn csv_exports_are_told_by_their_header() {
        assert_eq!(
            csv_header(b"@timestamp,@message\r\n1,2\r\n"),
            Some(CsvKind::EksInsights)
        );
        assert_eq!(csv_header(b"{\"@timestamp\":1,\"@message\":2}\n"), None);
    }
}
