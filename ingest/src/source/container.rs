//! Container-log wrappers of an API server that logs to stdout: CRI (`<ts> stdout F <json>`, a
//! line longer than 16 KiB split into partial `P` pieces and a final `F` piece) and docker
//! json-file (`{"log":"<json>\n","stream":"stdout","time":"..."}`).

use serde_json::value::RawValue;

use super::envelope::{Sink, Wrap, decode_embedded, decode_object};
use crate::normalize::time::parse_micros;

/// The parts of a CRI line, as bytes: a piece may end inside a UTF-8 character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub time: &'a [u8],
    pub stream: &'a [u8],
    /// `P`: more pieces of this line follow.
    pub partial: bool,
    pub text: &'a [u8],
}

/// A CRI line's parts, if `line` is one (`<RFC 3339 time> <stdout|stderr> <P|F> <text>`).
pub fn cri_line(line: &[u8]) -> Option<CriLine<'_>> {
    // Most lines are JSON: tell them apart by the first byte before looking for a space.
    if !line.first()?.is_ascii_digit() {
        return None;
    }
    let sp = memchr::memchr(b' ', line)?;
    let time = &line[..sp];
    if time.len() < 20 || !time[0].is_ascii_digit() || time[4] != b'-' || time[10] != b'T' {
        return None;
    }
    let rest = &line[sp + 1..];
    let sp = memchr::memchr(b' ', rest)?;
    let stream = &rest[..sp];
    if stream != b"stdout" && stream != b"stderr" {
        return None;
    }
    let (partial, text) = match &rest[sp + 1..] {
        [b'P', b' ', text @ ..] => (true, text),
        [b'F', b' ', text @ ..] => (false, text),
        [b'P'] => (true, &[][..]),
        [b'F'] => (false, &[][..]),
        _ => return None,
    };
    Some(CriLine {
        time,
        stream,
        partial,
        text,
    })
}

/// Partial pieces being joined, one run per stream.
#[derive(Debug, Default)]
pub struct Partials {
    runs: Vec<Run>,
}

/// One line split into pieces: the bytes so far, and where its first piece was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub stream: Vec<u8>,
    /// Time of the first piece.
    pub time: Vec<u8>,
    /// Line and byte offset of the first piece.
    pub line: u64,
    pub offset: u64,
    pub pieces: u64,
    /// The joined text, at most the limit given to [`Partials::push`].
    pub bytes: Vec<u8>,
    /// Bytes of text in all pieces (more than `bytes` holds when over the limit).
    pub total: usize,
}

/// What to do with a CRI line after [`Partials::push`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A whole line with no pieces before it: decode it as it is.
    Whole,
    /// A partial piece, held until its stream's final piece.
    Held,
    /// The final piece of a split line: the joined line.
    Joined(Run),
}

impl Partials {
    /// Take one CRI line (at `line`, `offset`); joined text beyond `limit` bytes is not kept.
    pub fn push(&mut self, cri: &CriLine<'_>, line: u64, offset: u64, limit: usize) -> Step {
        let at = self.runs.iter().position(|r| r.stream == cri.stream);
        if !cri.partial && at.is_none() {
            return Step::Whole;
        }
        let run = match at {
            Some(i) => &mut self.runs[i],
            None => {
                self.runs.push(Run {
                    stream: cri.stream.to_vec(),
                    time: cri.time.to_vec(),
                    line,
                    offset,
                    pieces: 0,
                    bytes: Vec::new(),
                    total: 0,
                });
                let last = self.runs.len() - 1;
                &mut self.runs[last]
            }
        };
        run.pieces += 1;
        run.total += cri.text.len();
        let room = limit.saturating_sub(run.bytes.len());
        run.bytes
            .extend_from_slice(&cri.text[..cri.text.len().min(room)]);
        match (cri.partial, at) {
            (true, _) => Step::Held,
            (false, Some(i)) => Step::Joined(self.runs.remove(i)),
            // Unreachable by the check above; a whole line all the same.
            (false, None) => Step::Whole,
        }
    }

    /// The runs still waiting for their final piece (the input ended first), in input order.
    pub fn finish(&mut self) -> Vec<Run> {
        let mut runs = std::mem::take(&mut self.runs);
        runs.sort_by_key(|r| r.offset);
        runs
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Where the unfinished CRI partial lines at the end of `buf` start: the first piece of the
/// earliest run with no final piece in `buf`, or `None` when every run is finished. Looks back
/// from the end only as far as it must.
pub fn unfinished_start(buf: &[u8]) -> Option<usize> {
    // Per stream (stdout, stderr): still inside a trailing run of pieces, or settled.
    let mut open = [false; 2];
    let mut settled = [false; 2];
    let mut start = None;
    let mut end = buf.len();
    let mut looked = 0;
    while end > 0 {
        let body_end = if buf[end - 1] == b'\n' { end - 1 } else { end };
        let line_start = memchr::memrchr(b'\n', &buf[..body_end]).map_or(0, |p| p + 1);
        let mut line = &buf[line_start..body_end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        end = line_start;
        looked += 1;
        let Some(cri) = cri_line(line) else { break };
        let s = usize::from(cri.stream == b"stderr");
        if !settled[s] {
            if cri.partial {
                open[s] = true;
                start = Some(line_start);
            } else {
                open[s] = false;
                settled[s] = true;
            }
        }
        // Done when no run is open and both streams are settled (or the other stream has not
        // shown up in the last lines).
        if !open.iter().any(|o| *o) && (settled.iter().all(|x| *x) || looked > 64) {
            break;
        }
    }
    start
}

/// A CRI line that is a whole line, or a split line joined ([`decode_cri_text`]).
pub fn decode_cri(text: &str, sink: &mut dyn Sink) {
    let mut parts = text.splitn(4, ' ');
    let (Some(ts), Some(_stream), Some(tag), Some(body)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return sink.reject("not JSON and not a CRI container-log line".into(), text);
    };
    let Some(wrapper_ts) = parse_micros(ts) else {
        return sink.reject(
            "not JSON and not a CRI container-log line (no timestamp)".into(),
            text,
        );
    };
    match tag {
        "F" => decode_cri_text(Some(wrapper_ts), body, sink),
        "P" => sink.reject(
            "CRI partial line (P) on its own: its other pieces were not in the same input".into(),
            text,
        ),
        _ => sink.reject(format!("CRI line with unknown tag {tag:?}"), text),
    }
}

/// The text of a whole (or joined) CRI line: one Event.
pub fn decode_cri_text(wrapper_ts: Option<i64>, text: &str, sink: &mut dyn Sink) {
    let wrap = Wrap {
        format: "cri",
        wrapper_ts,
        ..Wrap::default()
    };
    if text.trim_start().starts_with('{') {
        decode_object(text, wrap, sink)
    } else {
        sink.reject("CRI line whose text is not a JSON event".into(), text)
    }
}

/// The wrapper time of a CRI line's time field.
pub fn cri_time(time: &[u8]) -> Option<i64> {
    std::str::from_utf8(time).ok().and_then(parse_micros)
}

/// A docker json-file line whose `log` holds the event.
pub fn decode_docker(log: &RawValue, text: &str, sink: &mut dyn Sink) {
    #[derive(serde::Deserialize)]
    struct Docker<'a> {
        #[serde(borrow)]
        time: Option<&'a str>,
    }
    let wrapper_ts = serde_json::from_str::<Docker>(text)
        .ok()
        .and_then(|d| d.time.and_then(parse_micros));
    decode_embedded(
        log,
        Wrap {
            format: "docker",
            wrapper_ts,
            ..Wrap::default()
        },
        sink,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-01-05T10:00:05.000000001Z";

    fn piece(stream: &str, tag: &str, text: &str) -> String {
        format!("{T} {stream} {tag} {text}")
    }

    #[test]
    fn cri_lines_are_recognised_as_bytes() {
        let line = piece("stdout", "P", "{\"a\":");
        let cri = cri_line(line.as_bytes()).expect("a CRI line");
        assert!(cri.partial);
        assert_eq!(cri.text, b"{\"a\":");
        assert!(cri_line(b"2026-01-05T10:00:05Z AUDIT: id=\"x\"").is_none());
        assert!(cri_line(b"2026-01-05T10:00:05Z {\"a\":1}").is_none());
    }

    #[test]
    fn pieces_join_per_stream_and_in_order() {
        let mut p = Partials::default();
        let lines = [
            piece("stdout", "P", "ab"),
            piece("stderr", "P", "xy"),
            piece("stdout", "P", "cd"),
            piece("stdout", "F", "ef"),
        ];
        let steps: Vec<Step> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let cri = cri_line(l.as_bytes()).expect("CRI");
                p.push(&cri, i as u64 + 1, 0, 1 << 20)
            })
            .collect();
        assert_eq!(steps[..3], [Step::Held, Step::Held, Step::Held]);
        match &steps[3] {
            Step::Joined(run) => {
                assert_eq!(run.bytes, b"abcdef");
                assert_eq!((run.line, run.pieces), (1, 3));
            }
            other => panic!("not joined: {other:?}"),
        }
        let left = p.finish();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].bytes, b"xy");
    }

    #[test]
    fn an_unfinished_run_at_the_end_is_found_and_a_finished_one_is_not() {
        let done = [
            piece("stdout", "P", "a"),
            piece("stdout", "F", "b"),
            String::new(),
        ]
        .join("\n");
        assert_eq!(unfinished_start(done.as_bytes()), None);
        let first = piece("stdout", "F", "whole");
        let cut = [
            first.clone(),
            piece("stdout", "P", "a"),
            piece("stdout", "P", "b"),
            String::new(),
        ]
        .join("\n");
        assert_eq!(unfinished_start(cut.as_bytes()), Some(first.len() + 1));
        assert_eq!(unfinished_start(b"{\"auditID\":\"x\"}\n"), None);
    }
}
