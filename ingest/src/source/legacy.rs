//! The API server's legacy text audit format (`--audit-log-format=legacy`):
//!
//! `<RFC 3339 time> AUDIT: id="…" stage="…" ip="…" method="…" user="…" groups="…" as="…"
//! asgroups="…" user-agent="…" namespace="…" uri="…" response="…"`
//!
//! Values are Go `%q` strings; `groups` and `asgroups` hold a comma-separated list of `%q`
//! strings. The line has no level, objectRef beyond the namespace, annotations or bodies: those
//! stay null.

use serde_json::{Map, Value, json};

use super::envelope::{Sink, Wrap, decode_object};
use super::reason::Rejection;

/// Decode one legacy line into an Event.
pub fn decode(text: &str, sink: &mut dyn Sink) {
    let Some((time, rest)) = text.trim_end().split_once(" AUDIT: ") else {
        return sink.refuse(
            Rejection::Legacy("no ` AUDIT: ` after the time".into()),
            text,
        );
    };
    let fields = match fields(rest) {
        Ok(f) => f,
        Err(why) => return sink.refuse(Rejection::Legacy(why), text),
    };
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let Some(id) = get("id") else {
        return sink.refuse(Rejection::Legacy("no id=".into()), text);
    };
    let mut ev = Map::new();
    ev.insert("kind".into(), json!("Event"));
    ev.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
    ev.insert("auditID".into(), json!(id));
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            ev.insert(key.into(), json!(v));
        }
    };
    put("stage", get("stage"));
    put("verb", get("method"));
    put("requestURI", get("uri"));
    put("userAgent", get("user-agent"));
    put("requestReceivedTimestamp", Some(time.trim()));
    if let Some(user) = get("user").filter(|u| *u != "<none>") {
        let mut u = Map::new();
        u.insert("username".into(), json!(user));
        if let Some(groups) = get("groups").filter(|g| *g != "<none>") {
            match list(groups) {
                Ok(g) => u.insert("groups".into(), json!(g)),
                Err(why) => return sink.refuse(Rejection::Legacy(format!("groups: {why}")), text),
            };
        }
        ev.insert("user".into(), Value::Object(u));
    }
    if let Some(user) = get("as").filter(|u| *u != "<self>") {
        let mut u = Map::new();
        u.insert("username".into(), json!(user));
        if let Some(groups) = get("asgroups").filter(|g| *g != "<lookup>") {
            match list(groups) {
                Ok(g) => u.insert("groups".into(), json!(g)),
                Err(why) => {
                    return sink.refuse(Rejection::Legacy(format!("asgroups: {why}")), text);
                }
            };
        }
        ev.insert("impersonatedUser".into(), Value::Object(u));
    }
    if let Some(ip) = get("ip").filter(|ip| *ip != "<unknown>") {
        ev.insert("sourceIPs".into(), json!([ip]));
    }
    if let Some(ns) = get("namespace").filter(|ns| *ns != "<none>") {
        ev.insert("objectRef".into(), json!({ "namespace": ns }));
    }
    if let Some(code) = get("response").and_then(|r| r.parse::<i32>().ok()) {
        ev.insert("responseStatus".into(), json!({ "code": code }));
    }
    let event = Value::Object(ev).to_string();
    decode_object(&event, Wrap::new("legacy"), sink);
}

/// `key="value" key="value" ...`, values unquoted.
fn fields(mut rest: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        let Some((key, after)) = rest.split_once('=') else {
            return Err(format!("no `=` after {rest:?}"));
        };
        let (value, after) = unquote(after).map_err(|why| format!("{key}: {why}"))?;
        out.push((key.to_owned(), value));
        rest = after;
    }
}

/// A comma-separated list of Go-quoted strings.
fn list(mut text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    while !text.is_empty() {
        let (item, after) = unquote(text)?;
        out.push(item);
        text = after.strip_prefix(',').unwrap_or(after);
    }
    Ok(out)
}

/// One Go `%q` string at the start of `text`: its value and what follows it.
fn unquote(text: &str) -> Result<(String, &str), String> {
    let Some(body) = text.strip_prefix('"') else {
        return Err("value is not quoted".into());
    };
    let b = body.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    let hex = |s: &[u8]| -> Option<u32> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                let value = String::from_utf8_lossy(&out).into_owned();
                return Ok((value, &body[i + 1..]));
            }
            b'\\' => {
                let esc = *b.get(i + 1).ok_or("escape at the end")?;
                i += 2;
                let simple = match esc {
                    b'a' => Some(7),
                    b'b' => Some(8),
                    b'f' => Some(12),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'v' => Some(11),
                    b'\\' | b'"' | b'\'' => Some(esc),
                    _ => None,
                };
                if let Some(c) = simple {
                    out.push(c);
                    continue;
                }
                let (len, radix_byte) = match esc {
                    b'x' => (2, true),
                    b'u' => (4, false),
                    b'U' => (8, false),
                    b'0'..=b'7' => {
                        let digits = b.get(i - 1..i + 2).ok_or("short octal escape")?;
                        let v = std::str::from_utf8(digits)
                            .ok()
                            .and_then(|d| u8::from_str_radix(d, 8).ok())
                            .ok_or("bad octal escape")?;
                        out.push(v);
                        i += 2;
                        continue;
                    }
                    other => return Err(format!("unknown escape \\{}", other as char)),
                };
                let digits = b.get(i..i + len).ok_or("short escape")?;
                let v = hex(digits).ok_or("bad hex escape")?;
                i += len;
                if radix_byte {
                    out.push(v as u8);
                } else {
                    let c = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("unterminated quoted value".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoted_values_are_unquoted() {
        assert_eq!(
            unquote(r#""a\"b\\c\x41\u00e9\101" rest"#),
            Ok(("a\"b\\cAéA".to_string(), " rest"))
        );
        assert_eq!(
            list(r#""system:masters","system:authenticated""#),
            Ok(vec![
                "system:masters".to_string(),
                "system:authenticated".to_string()
            ])
        );
        assert!(unquote(r#""open"#).is_err());
    }

    #[test]
    fn fields_keep_their_order_and_placeholders() {
        let f = fields(r#"id="x" user="<none>" response="<deferred>""#).expect("fields");
        assert_eq!(f[1], ("user".to_string(), "<none>".to_string()));
        assert_eq!(f.len(), 3);
    }
}
