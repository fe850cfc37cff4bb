//! Redaction of text that does not parse: a quarantined line cut off mid-event, invalid JSON, a
//! container-log piece, an over-long line's kept head, bytes that are not UTF-8.
//!
//! A lenient scanner walks the bytes as JSON as far as they go (unterminated strings and
//! unbalanced brackets included), remembers the key each value sits under, and replaces:
//! - every value under a `data` or `stringData` key, at any depth (a Secret's values; in a
//!   quarantined line a ConfigMap's data goes too: better one value too many than one too few);
//! - the values of credential keys (`token`, `password`, last-applied configurations, mutating
//!   webhooks' patch annotations);
//! - the `value` of JSON patch operations when the text patches `/data` or `/stringData`;
//! - inside string values that hold JSON themselves (AKS `properties.log`, CloudWatch
//!   `message`, docker `log`), the same, one level of escaping down.

/// Keys whose values are replaced wherever they are.
fn sensitive_key(key: &[u8]) -> bool {
    matches!(
        key,
        b"data"
            | b"stringData"
            | b"token"
            | b"password"
            | b"client-key-data"
            | b"kubectl.kubernetes.io/last-applied-configuration"
    ) || key.starts_with(b"patch.webhook.admission.k8s.io/")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// An object, and whether it sits under a sensitive key.
    Object {
        sensitive: bool,
    },
    Array {
        sensitive: bool,
    },
}

struct Scanner<'m> {
    marker: &'m dyn Fn(&[u8]) -> String,
    /// The text patches Secret data (JSON patch operations on `/data` or `/stringData`).
    patches_data: bool,
    depth_limit: usize,
}

/// Scrub `input`; see the module docs.
pub fn scrub(input: &[u8], marker: &dyn Fn(&[u8]) -> String) -> Vec<u8> {
    let patches_data = memchr::memmem::find(input, b"/data").is_some()
        || memchr::memmem::find(input, b"/stringData").is_some();
    let s = Scanner {
        marker,
        patches_data,
        depth_limit: 4,
    };
    s.scrub(input, 0)
}

impl Scanner<'_> {
    fn scrub(&self, input: &[u8], depth: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        let mut stack: Vec<Frame> = Vec::new();
        // The key the next value belongs to.
        let mut key: Option<Vec<u8>> = None;
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let in_sensitive = match stack.last() {
                Some(Frame::Object { sensitive } | Frame::Array { sensitive }) => *sensitive,
                None => false,
            };
            let value_sensitive = in_sensitive
                || key.as_deref().is_some_and(sensitive_key)
                || (self.patches_data && key.as_deref() == Some(b"value"));
            match b {
                b'"' => {
                    let (content, end, closed) = string_at(input, i);
                    // A key is a string followed by a colon, wherever it stands: the text may
                    // be broken JSON, and the colon is what the API server wrote.
                    let is_key = input[end..]
                        .iter()
                        .find(|b| !b.is_ascii_whitespace())
                        .is_some_and(|b| *b == b':');
                    if is_key {
                        out.extend_from_slice(&input[i..end]);
                        key = Some(unescape(content));
                    } else if value_sensitive {
                        out.push(b'"');
                        out.extend_from_slice((self.marker)(content).as_bytes());
                        out.push(b'"');
                        key = None;
                    } else if depth < self.depth_limit && looks_like_json(content) {
                        let inner = self.scrub(&unescape(content), depth + 1);
                        out.push(b'"');
                        out.extend_from_slice(&escape(&inner));
                        if closed {
                            out.push(b'"');
                        }
                        key = None;
                    } else {
                        out.extend_from_slice(&input[i..end]);
                        key = None;
                    }
                    i = end;
                    continue;
                }
                b'{' => {
                    stack.push(Frame::Object {
                        sensitive: value_sensitive,
                    });
                    key = None;
                }
                b'[' => {
                    stack.push(Frame::Array {
                        sensitive: value_sensitive,
                    });
                    key = None;
                }
                b'}' | b']' => {
                    stack.pop();
                    key = None;
                }
                b',' => key = None,
                _ if value_sensitive && !stack.is_empty() && is_bare(b) => {
                    // A number or literal where a Secret value stands (`1e999`).
                    let end = input[i..]
                        .iter()
                        .position(|c| !is_bare(*c))
                        .map_or(input.len(), |p| i + p);
                    out.push(b'"');
                    out.extend_from_slice((self.marker)(&input[i..end]).as_bytes());
                    out.push(b'"');
                    key = None;
                    i = end;
                    continue;
                }
                _ => {}
            }
            out.push(b);
            i += 1;
        }
        out
    }
}

fn is_bare(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

/// The string starting at `input[start] == '"'`: its raw content, the index after it, and
/// whether it was closed.
fn string_at(input: &[u8], start: usize) -> (&[u8], usize, bool) {
    let mut j = start + 1;
    while j < input.len() {
        match input[j] {
            b'\\' => j += 2,
            b'"' => return (&input[start + 1..j], j + 1, true),
            _ => j += 1,
        }
    }
    (&input[start + 1..], input.len(), false)
}

/// A string value that holds JSON (an embedded event).
fn looks_like_json(content: &[u8]) -> bool {
    let start = content.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|p| matches!(content[p], b'{' | b'['))
        && memchr::memchr(b'"', content).is_some()
}

/// Undo JSON string escaping, leniently: an escape that is not valid is kept as written.
fn unescape(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i] != b'\\' || i + 1 >= content.len() {
            out.push(content[i]);
            i += 1;
            continue;
        }
        let c = content[i + 1];
        let simple = match c {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            i += 2;
            continue;
        }
        if c == b'u'
            && let Some(hex) = content.get(i + 2..i + 6)
            && let Some(ch) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
        {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            i += 6;
            continue;
        }
        out.push(content[i]);
        i += 1;
    }
    out
}

/// JSON string escaping of `bytes` (not UTF-8 checked: they came from a JSON string).
fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> String {
        String::from_utf8_lossy(&scrub(s.as_bytes(), &|_| "M".to_string())).into_owned()
    }

    #[test]
    fn a_cut_off_secret_loses_its_values_and_keeps_its_shape() {
        let line = r#"{"kind":"Event","objectRef":{"resource":"secrets"},"requestObject":{"kind":"Secret","data":{"password":"aHVudGVy","user":"YWRt"#;
        let out = run(line);
        assert!(!out.contains("aHVudGVy") && !out.contains("YWRt"), "{out}");
        assert!(out.contains(r#""password":"M""#), "{out}");
        assert!(out.contains(r#""resource":"secrets""#), "{out}");
    }

    #[test]
    fn values_inside_embedded_json_strings_are_replaced() {
        let line = r#"{"properties":{"log":"{\"kind\":\"Event\",\"requestObject\":{\"stringData\":{\"pw\":\"hunter2\"}},\"verb\":\"create"#;
        let out = run(line);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains(r#"\"verb\":\"create"#), "{out}");
    }

    #[test]
    fn patch_values_numbers_and_duplicate_keys_are_replaced() {
        let out = run(r#"[{"op":"add","path":"/data/password","value":"c2VjcmV0"}"#);
        assert!(!out.contains("c2VjcmV0"), "{out}");
        let out = run(r#"{"data":{"a":1e999,"b":"x1"},"data":{"c":"y2"}}"#);
        assert!(
            !out.contains("1e999") && !out.contains("x1") && !out.contains("y2"),
            "{out}"
        );
    }

    #[test]
    fn a_string_before_a_colon_is_a_key_even_where_a_value_was_expected() {
        let out = run(r#"{"a":"data":{"p":"c2VjcmV0"}}"#);
        assert!(!out.contains("c2VjcmV0"), "{out}");
    }

    #[test]
    fn a_cri_prefix_and_plain_text_pass_through() {
        let out =
            run(r#"2024-05-01T10:00:00.1Z stdout P {"kind":"Event","verb":"get","data":{"k":"v1"#);
        assert!(
            out.starts_with("2024-05-01T10:00:00.1Z stdout P {\"kind\":\"Event\",\"verb\":\"get\""),
            "{out}"
        );
        assert!(!out.contains("v1"), "{out}");
    }
}
