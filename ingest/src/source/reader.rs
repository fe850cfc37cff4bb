//! The reader thread: turns inputs into chunks of whole lines (or whole JSON documents), skipping
//! what the lake already holds and resuming grown files.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;

use super::open::{self, Compression, InputPath};
use crate::state::{FINGERPRINT_BYTES, FileRecord, LakeState, fingerprint};

/// Target size of a chunk of lines handed to a parser.
pub const CHUNK_BYTES: usize = 4 << 20;
/// Longest line kept whole; a longer one is quarantined with its first [`KEEP_OF_OVERLONG`] bytes.
pub const MAX_LINE_BYTES: usize = 64 << 20;
pub const KEEP_OF_OVERLONG: usize = 1 << 20;
/// Largest single JSON document (a pretty-printed EventList or a JSON array of events).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 30;

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// Newline-terminated lines.
    Lines,
    /// The input's last bytes, with no newline after them.
    Tail,
    /// One JSON document spanning many lines.
    Document,
    /// The first bytes of a line longer than [`MAX_LINE_BYTES`].
    Overlong,
}

/// The end of one input, carried by its last chunk.
#[derive(Debug, Clone)]
pub struct FileEnd {
    /// The record to store once this input's rows are committed (`None` for stdin).
    pub record: Option<FileRecord>,
    /// Why the input skipped, if it was (already ingested).
    pub skipped: Option<String>,
    /// A read error that ended the input early (truncated gzip, I/O error).
    pub error: Option<String>,
    /// The input could not be opened or read at all (missing permission, not a file): an
    /// error for the user, not a quarantine record.
    pub unreadable: bool,
    pub raw_bytes: u64,
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

/// Reads every input in order and sends its chunks. Stops early if the receiver hangs up.
pub struct Reader {
    pub inputs: Vec<InputPath>,
    pub state: LakeState,
    pub bytes_read: Arc<AtomicU64>,
    pub tx: Sender<Chunk>,
    seq: u64,
}

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
            seq: 0,
        }
    }

    fn send(
        &mut self,
        input: usize,
        kind: ChunkKind,
        first_line: u64,
        offset: u64,
        data: Vec<u8>,
        end: Option<FileEnd>,
    ) -> bool {
        let chunk = Chunk {
            seq: self.seq,
            input,
            kind,
            first_line,
            offset,
            data,
            end,
        };
        self.seq += 1;
        self.tx.send(chunk).is_ok()
    }

    /// Read all inputs. Errors opening an input end that input with an error, not the run.
    pub fn run(mut self) {
        for i in 0..self.inputs.len() {
            if !self.read_input(i) {
                return;
            }
        }
    }

    fn end_with(&mut self, i: usize, first_line: u64, offset: u64, end: FileEnd) -> bool {
        self.send(
            i,
            ChunkKind::Lines,
            first_line,
            offset,
            Vec::new(),
            Some(end),
        )
    }

    fn read_input(&mut self, i: usize) -> bool {
        let input = self.inputs[i].clone();
        let (raw, size) = match open::open_raw(&input) {
            Ok(r) => r,
            Err(e) => {
                let end = FileEnd {
                    record: None,
                    skipped: None,
                    error: Some(e.to_string()),
                    raw_bytes: 0,
                    unreadable: true,
                };
                return self.end_with(i, 1, 0, end);
            }
        };
        let mut raw = Counting {
            inner: raw,
            counter: self.bytes_read.clone(),
            total: 0,
        };
        let raw_head = match open::read_head(&mut raw, FINGERPRINT_BYTES) {
            Ok(h) => h,
            Err(e) => {
                let end = FileEnd {
                    record: None,
                    skipped: None,
                    error: Some(format!("read failed: {e}")),
                    raw_bytes: 0,
                    unreadable: true,
                };
                return self.end_with(i, 1, 0, end);
            }
        };
        let raw_fp = fingerprint(&raw_head);
        if let (Some(size), InputPath::File(_)) = (size, &input)
            && let Some(prev) = self.state.identical(&raw_fp, size)
        {
            let why = format!("already ingested (same content as {})", prev.path);
            // Count the whole file as read for progress.
            self.bytes_read
                .fetch_add(size.saturating_sub(raw.total), Ordering::Relaxed);
            let end = FileEnd {
                record: None,
                skipped: Some(why),
                error: None,
                raw_bytes: size,
                unreadable: false,
            };
            return self.end_with(i, 1, 0, end);
        }
        let compressed_skip_hint = Compression::sniff(&raw_head);
        let (_, mut stream) = match open::decompress(raw_head, Box::new(raw)) {
            Ok(s) => s,
            Err(e) => {
                let end = FileEnd {
                    record: None,
                    skipped: None,
                    error: Some(format!("cannot decompress: {e}")),
                    raw_bytes: 0,
                    unreadable: false,
                };
                return self.end_with(i, 1, 0, end);
            }
        };
        let head = match open::read_head(&mut stream, FINGERPRINT_BYTES) {
            Ok(h) => h,
            Err(e) => {
                let what = if compressed_skip_hint == Compression::None {
                    "read failed"
                } else {
                    "decompression failed"
                };
                let end = FileEnd {
                    record: None,
                    skipped: None,
                    error: Some(format!("{what}: {e}")),
                    raw_bytes: 0,
                    unreadable: false,
                };
                return self.end_with(i, 1, 0, end);
            }
        };
        let mut record = FileRecord {
            path: input.display(),
            raw_fingerprint: None,
            raw_size: None,
            content_fingerprint: fingerprint(&head),
            fingerprint_len: head.len() as u64,
            offset: 0,
            lines: 0,
            updated: String::new(),
        };
        let (skip, skip_lines) = match (&input, self.state.resume_point(&head)) {
            (InputPath::File(_), Some(prev)) => (prev.offset, prev.lines),
            _ => (0, 0),
        };
        let mut stream: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(head).chain(stream));
        if skip > 0 {
            match std::io::copy(&mut (&mut stream).take(skip), &mut std::io::sink()) {
                Ok(n) if n == skip => {}
                Ok(n) => {
                    // Shorter than what was ingested before: nothing new in it.
                    record.offset = n;
                    let end = FileEnd {
                        record: None,
                        skipped: Some(format!("already ingested (its {n} bytes were read before)")),
                        error: None,
                        raw_bytes: 0,
                        unreadable: false,
                    };
                    return self.end_with(i, 1, 0, end);
                }
                Err(e) => {
                    let end = FileEnd {
                        record: None,
                        skipped: None,
                        error: Some(format!("read failed while skipping to byte {skip}: {e}")),
                        raw_bytes: 0,
                        unreadable: false,
                    };
                    return self.end_with(i, skip_lines + 1, skip, end);
                }
            }
        }
        let is_file = matches!(input, InputPath::File(_));
        let result = self.stream_lines(i, &mut *stream, skip, skip_lines, &mut record);
        let Some(mut end) = result else { return false };
        if is_file {
            if end.error.is_none() {
                record.raw_fingerprint = Some(raw_fp);
                record.raw_size = size;
            }
            end.raw_bytes = size.unwrap_or(0);
            end.record = Some(record);
        }
        let (line, offset) = (end.record.as_ref().map_or(0, |r| r.lines) + 1, 0);
        self.end_with(i, line, offset, end)
    }

    /// Stream an input's lines from `offset`; returns the input's end (or `None` if the
    /// receiver is gone). Updates `record` with the offset and lines reached.
    fn stream_lines(
        &mut self,
        i: usize,
        stream: &mut dyn Read,
        offset: u64,
        lines: u64,
        record: &mut FileRecord,
    ) -> Option<FileEnd> {
        let mut offset = offset;
        let mut line = lines + 1;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + (64 << 10));
        let mut first = offset == 0;
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
                            offset + buf.len() as u64
                        ));
                        eof = true;
                        break;
                    }
                }
            }
            if first {
                first = false;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    buf.drain(..3);
                    offset += 3;
                }
                if is_document(&buf) && error.is_none() {
                    // A multi-line JSON document: read it whole.
                    let limit = MAX_DOCUMENT_BYTES as u64;
                    if let Err(e) = (&mut *stream).take(limit).read_to_end(&mut buf) {
                        error = Some(format!("input ends early: {e}"));
                    }
                    if buf.len() as u64 <= limit {
                        let n = memchr::memchr_iter(b'\n', &buf).count() as u64;
                        let len = buf.len() as u64;
                        if !self.send(
                            i,
                            ChunkKind::Document,
                            line,
                            offset,
                            std::mem::take(&mut buf),
                            None,
                        ) {
                            return None;
                        }
                        record.offset = offset + len;
                        record.lines = lines + n + 1;
                        return Some(FileEnd {
                            record: None,
                            skipped: None,
                            error,
                            raw_bytes: 0,
                            unreadable: false,
                        });
                    }
                }
            }
            let cut = match memchr::memrchr(b'\n', &buf) {
                Some(pos) => pos + 1,
                None if eof => 0,
                None if buf.len() >= MAX_LINE_BYTES => {
                    // One enormous line: keep its start for quarantine, skip to its end.
                    let mut keep = std::mem::take(&mut buf);
                    keep.truncate(KEEP_OF_OVERLONG);
                    let mut skipped = MAX_LINE_BYTES as u64;
                    let mut byte = [0u8; 1 << 16];
                    let rest_of_line_found = loop {
                        match stream.read(&mut byte) {
                            Ok(0) | Err(_) => break false,
                            Ok(n) => match memchr::memchr(b'\n', &byte[..n]) {
                                Some(p) => {
                                    skipped += p as u64 + 1;
                                    buf.extend_from_slice(&byte[p + 1..n]);
                                    break true;
                                }
                                None => skipped += n as u64,
                            },
                        }
                    };
                    if !self.send(i, ChunkKind::Overlong, line, offset, keep, None) {
                        return None;
                    }
                    offset += skipped;
                    line += 1;
                    if !rest_of_line_found {
                        eof = true;
                    }
                    continue;
                }
                None => {
                    want = buf.len() + CHUNK_BYTES;
                    continue;
                }
            };
            want = CHUNK_BYTES;
            if cut > 0 {
                let rest = buf.split_off(cut);
                let n = memchr::memchr_iter(b'\n', &buf).count() as u64;
                let len = buf.len() as u64;
                let data = std::mem::replace(&mut buf, rest);
                if !self.send(i, ChunkKind::Lines, line, offset, data, None) {
                    return None;
                }
                offset += len;
                line += n;
            }
            if eof && !buf.is_empty() {
                let data = std::mem::take(&mut buf);
                // The tail counts as consumed only if it parses; the pipeline decides.
                if !self.send(i, ChunkKind::Tail, line, offset, data, None) {
                    return None;
                }
            }
        }
        record.offset = offset;
        record.lines = line - 1;
        Some(FileEnd {
            record: None,
            skipped: None,
            error,
            raw_bytes: 0,
            unreadable: false,
        })
    }
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
}
