//! What kubetrail's fuzz targets run, through `ingest`'s public API only.
//!
//! The same functions back `tests/fuzz_regressions.rs` (included there with `#[path]`), so a
//! crashing input found here becomes a plain `cargo test` case without the fuzzing toolchain.
//! Each function panics only where kubetrail has a bug: a panic inside `ingest`, a batch that
//! cannot be built from rows the normaliser accepted, or a Secret value left in redacted output.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use ingest::batch::EventBatchBuilder;
use ingest::normalize::{self, Origin, raw::RawEvent};
use ingest::quarantine::Record;
use ingest::redact::Redactor;
use ingest::source::container::{self, Partials, Step};
use ingest::source::envelope::{self, Sink, Wrap};
use ingest::source::format::{CsvKind, InputFormat};
use ingest::source::open::{self, InputPath};
use ingest::source::reader::{ChunkKind, MAX_LINE_BYTES, Reader};
use ingest::state::{FINGERPRINT_BYTES, LakeState};
use serde_json::Value;

/// The key every harness redacts with (fixed, so failures reproduce).
pub const KEY: [u8; 32] = [0x5a; 32];

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What a piece of input became.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Events that became rows.
    pub rows: usize,
    /// Pieces that went to quarantine.
    pub rejects: usize,
}

/// A sink that does what the pipeline does with each event: normalise it into a row, or make a
/// quarantine record (redacted) of what was rejected.
struct CheckSink {
    redactor: Redactor,
    builder: EventBatchBuilder,
    counts: Counts,
}

impl CheckSink {
    fn new() -> Self {
        CheckSink {
            redactor: Redactor::new(KEY),
            builder: EventBatchBuilder::with_capacity(16),
            counts: Counts::default(),
        }
    }

    fn reject_bytes(&mut self, reason: String, bytes: &[u8]) {
        let record = Record::new("fuzz-input", 1, 0, reason, bytes, &self.redactor);
        // A quarantine record must always serialise (it is written as one JSON line).
        let line = serde_json::to_string(&record);
        assert!(line.is_ok(), "quarantine record does not serialise");
        self.counts.rejects += 1;
    }

    /// Build the batch from every accepted row: it must be valid for the lake's schema.
    fn finish(mut self) -> Counts {
        let rows = self.builder.len();
        let batch = self.builder.finish();
        match batch {
            Ok(b) => assert_eq!(b.num_rows(), rows, "batch lost rows"),
            Err(e) => panic!("rows accepted by the normaliser make an invalid batch: {e}"),
        }
        assert_eq!(rows, self.counts.rows);
        self.counts
    }
}

impl Sink for CheckSink {
    fn event(&mut self, ev: &RawEvent<'_>, raw: &str, wrap: &Wrap) {
        let origin = Origin {
            source_file: "fuzz-input",
            line: 1,
            format: wrap.format,
            wrapper_ts: wrap.wrapper_ts,
            wrapper_stream: wrap.stream.as_deref(),
        };
        match normalize::prepare(ev, &origin, &self.redactor) {
            Ok(prepared) => {
                prepared.write(&mut self.builder, &origin);
                self.counts.rows += 1;
            }
            Err(reason) => self.reject(reason, raw),
        }
    }

    fn reject(&mut self, reason: String, raw: &str) {
        self.reject_bytes(reason, raw.as_bytes());
    }
}

/// One line or document, as the pipeline decodes it (every envelope: bare event, EventList,
/// array, EKS, CloudWatch Insights, CreateExportTask, GKE and its Pub/Sub messages, AKS records
/// and table rows, CRI, docker, legacy text).
pub fn decode_text(text: &str) -> Counts {
    let mut sink = CheckSink::new();
    envelope::decode(text, &mut sink);
    sink.finish()
}

/// One line or CSV record decoded as `format`, as `--input-format` forces it.
pub fn decode_text_as(format: InputFormat, text: &str) -> Counts {
    let mut sink = CheckSink::new();
    envelope::decode_as(format, text, &mut sink);
    sink.finish()
}

/// A chunk of newline-separated lines, split as the pipeline splits them, CRI partial lines
/// joined as the pipeline joins them.
pub fn decode_lines(data: &[u8]) -> Counts {
    let mut sink = CheckSink::new();
    let mut partials = Partials::default();
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(cri) = container::cri_line(line) {
            match partials.push(&cri, n as u64 + 1, 0, MAX_LINE_BYTES) {
                Step::Whole => {}
                Step::Held => continue,
                Step::Joined(run) => {
                    match std::str::from_utf8(&run.bytes) {
                        Ok(text) => container::decode_cri_text(
                            container::cri_time(&run.time),
                            text,
                            &mut sink,
                        ),
                        Err(e) => sink.reject_bytes(
                            format!("invalid UTF-8 at {}", e.valid_up_to()),
                            &run.bytes,
                        ),
                    }
                    continue;
                }
            }
        }
        match std::str::from_utf8(line) {
            Ok(text) => envelope::decode(text, &mut sink),
            Err(e) => sink.reject_bytes(format!("invalid UTF-8 at byte {}", e.valid_up_to()), line),
        }
    }
    for run in partials.finish() {
        sink.reject_bytes("CRI partial line cut off".into(), &run.bytes);
    }
    sink.finish()
}

/// A private folder per process for the reader's input file.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("kubetrail-fuzz-")
            .tempdir()
            .map(tempfile::TempDir::keep);
        match dir {
            Ok(d) => d,
            Err(e) => panic!("cannot create a scratch folder: {e}"),
        }
    })
}

/// A whole input file through the reader thread (gzip/zstd by magic bytes, BOM, documents,
/// lines, a last line without newline) and every chunk through the decoder.
pub fn read_input(data: &[u8]) -> Counts {
    let path = scratch().join("input");
    if let Err(e) = std::fs::write(&path, data) {
        panic!("cannot write the reader's input: {e}");
    }
    let state = match LakeState::load(&scratch().join("no-such-state.json")) {
        Ok(s) => s,
        Err(e) => panic!("a missing state file is an empty state: {e}"),
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    Reader::new(
        vec![InputPath::File(path)],
        state,
        Arc::new(AtomicU64::new(0)),
        tx,
    )
    .run();
    let mut total = Counts::default();
    let mut ended = 0;
    for chunk in rx.try_iter() {
        if chunk.end.is_some() {
            ended += 1;
        }
        let c = match chunk.kind {
            ChunkKind::Lines => decode_lines(&chunk.data),
            ChunkKind::Elements => {
                let mut c = Counts::default();
                for e in &chunk.elements {
                    let one = match std::str::from_utf8(&e.bytes) {
                        Ok(text) if !e.truncated => match CsvKind::of_element(e.format) {
                            Some(kind) => decode_text_as(kind.format(), text),
                            None => decode_text(text),
                        },
                        _ => Counts {
                            rows: 0,
                            rejects: 1,
                        },
                    };
                    c.rows += one.rows;
                    c.rejects += one.rejects;
                }
                c
            }
            ChunkKind::Incomplete | ChunkKind::Overlong => Counts {
                rows: 0,
                rejects: 1,
            },
        };
        total.rows += c.rows;
        total.rejects += c.rejects;
    }
    assert_eq!(ended, 1, "every input ends with exactly one end marker");
    total
}

/// The decompressor the reader puts in front of an input, read to the end (at most 16 MiB, so
/// a small compressed bomb does not stall the fuzzer). Returns the decompressed length or the
/// error text.
pub fn decompress(data: &[u8]) -> Result<usize, String> {
    use std::io::Read;
    let mut raw = std::io::Cursor::new(data.to_vec());
    let head = open::read_head(&mut raw, FINGERPRINT_BYTES).map_err(|e| e.to_string())?;
    let (_, reader) = open::decompress(head, Box::new(raw)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    reader
        .take(16 << 20)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out.len())
}

/// The (resource, subresource) pairs the redactor treats differently.
pub const RESOURCES: &[(Option<&str>, Option<&str>)] = &[
    (Some("secrets"), None),
    (Some("tokenreviews"), None),
    (Some("serviceaccounts"), Some("token")),
    (Some("configmaps"), None),
    (None, None),
];

/// `Redactor::body` on `raw`, then the property that must hold of its output: every value under
/// `data`/`stringData` of a Secret-shaped object is a marker. Returns the redacted text.
pub fn redact_body(resource: Option<&str>, subresource: Option<&str>, raw: &str) -> String {
    let r = Redactor::new(KEY);
    let out = r.body(resource, subresource, raw);
    let text = out.unwrap_or_else(|| raw.to_string());
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        let mut leaks = Vec::new();
        if resource == Some("secrets") {
            secret_body_leaks(&v, &mut leaks);
        }
        tree_leaks(&v, &mut leaks);
        token_leaks(&v, &mut leaks);
        assert!(
            leaks.is_empty(),
            "Secret values survive redaction: {leaks:?}\ninput: {raw}\noutput: {text}"
        );
    }
    text
}

/// A quarantine record of `raw` (what a line that did not become a row is kept as: parsed,
/// `Redactor::document`, then token redaction of the text), then the same property on the kept
/// text. Returns the kept text.
pub fn redact_quarantined(raw: &str) -> String {
    let record = Record::new(
        "fuzz-input",
        1,
        0,
        "fuzz".into(),
        raw.as_bytes(),
        &Redactor::new(KEY),
    );
    let kept = record.raw.unwrap_or_default();
    if let Ok(v) = serde_json::from_str::<Value>(&kept) {
        let mut leaks = Vec::new();
        if v.get("objectRef").and_then(|o| o.get("resource")) == Some(&Value::from("secrets")) {
            for key in ["requestObject", "responseObject"] {
                if let Some(body) = v.get(key) {
                    secret_body_leaks(body, &mut leaks);
                }
            }
        }
        tree_leaks(&v, &mut leaks);
        token_leaks(&v, &mut leaks);
        assert!(
            leaks.is_empty(),
            "Secret values survive in quarantine: {leaks:?}\ninput: {raw}\nkept: {kept}"
        );
    }
    kept
}

/// A JWT as the redactor's own pattern describes one.
fn jwt() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        match regex::Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+") {
            Ok(re) => re,
            Err(e) => panic!("constant pattern: {e}"),
        }
    })
}

/// JWTs in any string of the output, after JSON unescaping (what a query would show).
fn token_leaks(v: &Value, leaks: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(m) = jwt().find(s) {
                leaks.push(m.as_str().to_string());
            }
        }
        Value::Object(map) => map.values().for_each(|v| token_leaks(v, leaks)),
        Value::Array(items) => items.iter().for_each(|v| token_leaks(v, leaks)),
        _ => {}
    }
}

/// `sha256:` and 16 lower-case hex digits: what the redactor writes.
pub fn is_marker(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn value_leaks(v: &Value, leaks: &mut Vec<String>) {
    match v {
        Value::Null => {}
        Value::String(s) if is_marker(s) => {}
        other => leaks.push(other.to_string()),
    }
}

fn data_leaks(map: &serde_json::Map<String, Value>, leaks: &mut Vec<String>) {
    for key in ["data", "stringData"] {
        match map.get(key) {
            Some(Value::Object(data)) => data.values().for_each(|v| value_leaks(v, leaks)),
            Some(other) => value_leaks(other, leaks),
            None => {}
        }
    }
    last_applied_leaks(map, leaks);
}

fn last_applied_leaks(map: &serde_json::Map<String, Value>, leaks: &mut Vec<String>) {
    let Some(Value::String(text)) = map
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED))
    else {
        return;
    };
    match serde_json::from_str::<Value>(text) {
        Ok(inner) => {
            tree_leaks(&inner, leaks);
            if let Value::Object(m) = &inner
                && (m.contains_key("data") || m.contains_key("stringData"))
            {
                data_leaks(m, leaks);
            }
        }
        Err(_) => value_leaks(&Value::String(text.clone()), leaks),
    }
}

/// A request body on `secrets`: a Secret, SecretList, merge patch or JSON patch.
fn secret_body_leaks(v: &Value, leaks: &mut Vec<String>) {
    match v {
        Value::Array(ops) => {
            for op in ops {
                let Some(path) = op.get("path").and_then(Value::as_str) else {
                    continue;
                };
                let Some(value) = op.get("value") else {
                    continue;
                };
                // Every value that lands in `data`/`stringData` is one marker, whatever its type.
                if path == "/data" || path == "/stringData" {
                    match value {
                        Value::Object(data) => data.values().for_each(|v| value_leaks(v, leaks)),
                        other => value_leaks(other, leaks),
                    }
                } else if path.starts_with("/data/") || path.starts_with("/stringData/") {
                    value_leaks(value, leaks);
                }
            }
        }
        Value::Object(map) => {
            data_leaks(map, leaks);
            if let Some(Value::Array(items)) = map.get("items") {
                for item in items {
                    if let Value::Object(m) = item {
                        data_leaks(m, leaks);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Objects of kind Secret anywhere in a document.
fn tree_leaks(v: &Value, leaks: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if map.get("kind").and_then(Value::as_str) == Some("Secret") {
                data_leaks(map, leaks);
            } else {
                last_applied_leaks(map, leaks);
            }
            map.values().for_each(|v| tree_leaks(v, leaks));
        }
        Value::Array(items) => items.iter().for_each(|v| tree_leaks(v, leaks)),
        _ => {}
    }
}

/// A pack rule file through `Rule::parse`: never a panic, and a rule it accepts keeps the
/// promises the loader checks (kebab-case id, a category of the vocabulary, a firing and a quiet
/// test, SQL over `events_window`). Returns whether it was accepted.
pub fn rule_file(text: &str) -> bool {
    use rules_spec::rule::{CATEGORIES, Expect, Rule};
    // Named after the id the text gives, so the loader's file-name check passes and the fuzzer
    // reaches the checks behind it.
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .map_or("rule", str::trim);
    let origin = format!("fuzz/{id}.yaml");
    match Rule::parse(text, &origin) {
        Ok(rule) => {
            assert!(
                !rule.id.is_empty()
                    && rule
                        .id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "accepted id {:?}",
                rule.id
            );
            assert!(CATEGORIES.contains(&rule.category.as_str()));
            assert!(rule.tests.iter().any(|t| t.expect == Expect::Fire));
            assert!(rule.tests.iter().any(|t| t.expect == Expect::Quiet));
            assert!(rule.sql.contains("events_window"));
            true
        }
        Err(e) => {
            assert!(
                e.to_string().starts_with(&format!("rule file {origin}: ")),
                "the error names the file: {e}"
            );
            false
        }
    }
}

/// The builtin Sigma field mapping, parsed once.
fn sigma_mapping() -> &'static rules_spec::sigma::Mapping {
    static MAPPING: OnceLock<rules_spec::sigma::Mapping> = OnceLock::new();
    MAPPING.get_or_init(|| match rules_spec::sigma::Mapping::builtin() {
        Ok(m) => m,
        Err(e) => panic!("the builtin mapping must load: {e}"),
    })
}

/// A Sigma file through the loader and compiler: never a panic; every document ends as a rule,
/// a hidden correlation member or a reason (nothing vanishes); and every compiled SQL reads
/// `events_window` and is one statement whose quotes are balanced, so no value from the rule
/// reaches the SQL outside a literal. Returns how many rules were compiled.
pub fn sigma_file(text: &str) -> usize {
    let loaded = rules_spec::sigma::load_text("fuzz/rule.yml", text, sigma_mapping());
    let documents = rules_spec::sigma::parse::docs(text).len();
    assert_eq!(
        loaded.rules.len() + loaded.hidden + loaded.not_loaded.len(),
        documents,
        "every document is a rule, hidden, or not loaded with a reason"
    );
    for rule in &loaded.rules {
        assert!(rule.sql.contains("events_window"), "{}", rule.sql);
        if let Err(why) = one_statement(&rule.sql) {
            panic!("compiled SQL {why}:\n{}\nfrom:\n{text}", rule.sql);
        }
    }
    for n in &loaded.not_loaded {
        assert!(!n.reason.is_empty(), "a rule not loaded says why: {n:?}");
    }
    loaded.rules.len()
}

/// Scan SQL as DataFusion's tokenizer would for quotes and comments: string literals
/// ('' escapes) and quoted identifiers ("" escapes). The compiler writes comments only as whole
/// lines (`-- ...`); a `;`, a comment inside a line or an unterminated literal means a value
/// escaped its quoting.
pub fn one_statement(sql: &str) -> Result<(), String> {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("has an unterminated {} literal", q as char)),
                        Some(&c) if c == q && b.get(i + 1) == Some(&q) => i += 2,
                        Some(&c) if c == q => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let line_start = sql[..i].rfind('\n').map_or(0, |n| n + 1);
                if !sql[line_start..i].trim().is_empty() {
                    return Err(
                        "has a -- comment inside a line (a value ended a literal early?)".into(),
                    );
                }
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                return Err("has a /* comment (a value ended a literal early?)".into());
            }
            b';' => return Err("has a ; outside literals: more than one statement".into()),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}
