//! One WAL record: a single line that is a valid webhook `EventList`, so that a sealed segment is
//! an input `kubetrail ingest` reads as it is, and that carries its own sequence number, length
//! and CRC-32 in `metadata` so that recovery finds where a torn write begins:
//!
//! ```text
//! {"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{"kubetrailWal":"SEQ-CRC-LEN"},"items":[...]}
//! ```
//!
//! `SEQ` is 16 hex digits, `CRC` 8 hex digits (CRC-32 of `SEQ` and the items array), `LEN` 10
//! decimal digits (bytes of the items array, brackets included). The line ends with `}\n`.

const PREFIX: &[u8] =
    br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{"kubetrailWal":""#;
const FIELDS: usize = 16 + 1 + 8 + 1 + 10;
const MIDDLE: &[u8] = br#""},"items":"#;
const SUFFIX: &[u8] = b"}\n";

/// Bytes a record adds around its items.
pub const OVERHEAD: usize = PREFIX.len() + FIELDS + MIDDLE.len() + SUFFIX.len();

/// Append the record of `items` (each one event's single-line JSON) to `out`, written in place:
/// the items are copied once, and the header's fields filled in after them.
pub fn encode<'a>(seq: u64, items: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(PREFIX);
    let fields_at = out.len();
    out.extend_from_slice(&[b'0'; FIELDS]);
    out.extend_from_slice(MIDDLE);
    let array_at = out.len();
    out.push(b'[');
    for (n, item) in items.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    let array_len = out.len() - array_at;
    let seq_hex = format!("{seq:016x}");
    let crc = crc(seq_hex.as_bytes(), &out[array_at..]);
    let fields = format!("{seq_hex}-{crc:08x}-{array_len:010}");
    out[fields_at..fields_at + FIELDS].copy_from_slice(fields.as_bytes());
    out.extend_from_slice(SUFFIX);
}

fn crc(seq: &[u8], array: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(seq);
    h.update(array);
    h.finalize()
}

/// A record read back.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub seq: u64,
    /// The items array, brackets included.
    pub items: &'a [u8],
    /// Bytes of the whole record, line break included.
    pub len: usize,
}

/// The record at the start of `buf`, or `None` when it is not a whole, intact record (the end
/// of a segment, or a write torn by a crash).
pub fn decode(buf: &[u8]) -> Option<Decoded<'_>> {
    let rest = buf.strip_prefix(PREFIX)?;
    let fields = std::str::from_utf8(rest.get(..FIELDS)?).ok()?;
    let (seq_hex, tail) = fields.split_at(16);
    let crc_hex = tail.get(1..9)?;
    let len_dec = tail.get(10..)?;
    if tail.as_bytes().first() != Some(&b'-') || tail.as_bytes().get(9) != Some(&b'-') {
        return None;
    }
    let seq = u64::from_str_radix(seq_hex, 16).ok()?;
    let want = u32::from_str_radix(crc_hex, 16).ok()?;
    let len: usize = len_dec.parse().ok()?;
    let rest = rest[FIELDS..].strip_prefix(MIDDLE)?;
    let items = rest.get(..len)?;
    if rest.get(len..len + SUFFIX.len())? != SUFFIX || crc(seq_hex.as_bytes(), items) != want {
        return None;
    }
    Some(Decoded {
        seq,
        items,
        len: OVERHEAD + len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, items: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(seq, items.iter().map(|i| i.as_bytes()), &mut out);
        out
    }

    #[test]
    fn a_record_is_one_eventlist_line_that_decodes_to_its_items() {
        let rec = record(7, &[r#"{"auditID":"a"}"#, r#"{"auditID":"b"}"#]);
        assert_eq!(rec.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&rec).expect("valid JSON");
        assert_eq!(v["kind"], "EventList");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
        let d = decode(&rec).expect("decodes");
        assert_eq!(d.seq, 7);
        assert_eq!(d.len, rec.len());
        assert_eq!(d.items, br#"[{"auditID":"a"},{"auditID":"b"}]"#);
    }

    #[test]
    fn a_torn_or_altered_record_does_not_decode() {
        let rec = record(1, &[r#"{"auditID":"a"}"#]);
        for cut in 0..rec.len() {
            assert_eq!(decode(&rec[..cut]), None, "cut at {cut}");
        }
        let mut flipped = rec.clone();
        let at = rec.len() - 5;
        flipped[at] ^= 1;
        assert_eq!(decode(&flipped), None);
    }
}
