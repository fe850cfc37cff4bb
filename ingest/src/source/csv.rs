//! CSV exports (Logs Insights, Log Analytics `AKSAudit`) read as a stream of records with the
//! `csv` crate (quoted fields hold JSON with doubled quotes, and may span lines). Each record
//! becomes the JSON object of its header's column names to its fields, decoded like any other
//! object of its format.

use std::io::Read;

use super::document::Element;
use super::format::{CsvKind, column_name};

/// Reads the records of one CSV input as [`Element`]s.
pub struct Records<R: Read> {
    reader: csv::Reader<R>,
    names: Vec<String>,
    format: &'static str,
    /// Offset and line of the input's first byte given to the reader.
    offset: u64,
    line: u64,
    /// Largest record kept whole.
    limit: usize,
    record: csv::ByteRecord,
}

impl<R: Read> Records<R> {
    /// Start reading `input` (whose first byte is at `offset`, on `line`); reads the header.
    pub fn new(input: R, kind: CsvKind, offset: u64, line: u64, limit: usize) -> csv::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(input);
        let names = reader
            .byte_headers()?
            .iter()
            .map(|h| column_name(&String::from_utf8_lossy(h)))
            .collect();
        Ok(Records {
            reader,
            names,
            format: kind.format().name(),
            offset,
            line,
            limit,
            record: csv::ByteRecord::new(),
        })
    }

    /// The next record, or `None` at the end of the input.
    pub fn next_element(&mut self) -> csv::Result<Option<Element>> {
        if !self.reader.read_byte_record(&mut self.record)? {
            return Ok(None);
        }
        let start = self
            .record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        let end = self.reader.position().byte();
        let size: usize = self.record.iter().map(<[u8]>::len).sum();
        let truncated = size > self.limit;
        let bytes = if truncated {
            let mut raw = self.record.iter().collect::<Vec<_>>().join(&b","[..]);
            raw.truncate(self.limit);
            raw
        } else {
            self.object()
        };
        Ok(Some(Element {
            bytes,
            offset: self.offset + start.byte(),
            end: self.offset + end,
            line: self.line + start.line().saturating_sub(1),
            format: self.format,
            truncated,
        }))
    }

    /// The record as a JSON object of column name to field text; a record with a field that is
    /// not UTF-8 is given back as its raw fields (rejected as not UTF-8 when decoded).
    fn object(&self) -> Vec<u8> {
        let mut out = String::from("{");
        for (i, field) in self.record.iter().enumerate() {
            let Some(name) = self.names.get(i) else { break };
            let Ok(text) = std::str::from_utf8(field) else {
                return self.record.iter().collect::<Vec<_>>().join(&b","[..]);
            };
            if out.len() > 1 {
                out.push(',');
            }
            // Serialising a string cannot fail.
            out.push_str(&serde_json::to_string(name).unwrap_or_default());
            out.push(':');
            out.push_str(&serde_json::to_string(text).unwrap_or_default());
        }
        out.push('}');
        out.into_bytes()
    }

    /// The input, once every record is read.
    pub fn into_inner(self) -> R {
        self.reader.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_json_with_doubled_quotes_becomes_an_object() {
        let text = "@timestamp,@message\n2026-01-05 10:00:01.661,\"{\"\"auditID\"\":\"\"a\"\"}\"\n";
        let mut r =
            Records::new(text.as_bytes(), CsvKind::EksInsights, 100, 1, 1 << 20).expect("header");
        let e = r.next_element().expect("read").expect("a record");
        assert_eq!(
            String::from_utf8_lossy(&e.bytes),
            r#"{"@timestamp":"2026-01-05 10:00:01.661","@message":"{\"auditID\":\"a\"}"}"#
        );
        assert_eq!((e.offset, e.line, e.end), (120, 2, text.len() as u64 + 100));
        assert_eq!(e.format, "eks-insights-csv");
        assert!(r.next_element().expect("read").is_none());
    }
}
