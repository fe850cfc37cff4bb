//! A posted body cut into its events: an `EventList` (what the API server sends), a JSON array
//! of events, or one bare `Event`. Each event keeps its exact JSON text (made single-line when a
//! client sent it pretty-printed), so the WAL line it goes into is what `ingest` reads, and its
//! content hash is what `ingest` would compute.

use std::borrow::Cow;

use ingest::normalize::raw::Items;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a body is not a batch of events: the text of the 400 answer and of the quarantine record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("body is not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    #[error("body is empty")]
    Empty,
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not an EventList, a JSON array of events or an Event: {0}")]
    NotEvents(&'static str),
    #[error("item {0} of the batch is not a JSON object")]
    ItemNotObject(usize),
}

/// The events of one body.
#[derive(Debug)]
pub struct Batch<'a> {
    pub items: Vec<Cow<'a, str>>,
}

/// The keys of a body that decide what it is. One pass over the body: `items` is cut into its
/// events' texts as the envelope is read.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    items: Items<'a>,
    #[serde(borrow, default, rename = "auditID")]
    audit_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    kind: Option<&'a RawValue>,
}

/// Cut `body` into events.
pub fn parse(body: &[u8]) -> Result<Batch<'_>, Malformed> {
    let text = std::str::from_utf8(body).map_err(|e| Malformed::NotUtf8(e.valid_up_to()))?;
    let trimmed = text.trim();
    let items: Vec<&str> = match trimmed.as_bytes().first() {
        None => return Err(Malformed::Empty),
        Some(b'{') => {
            let env: Envelope = serde_json::from_str(trimmed).map_err(json_reason)?;
            match (env.items, env.audit_id) {
                (Items::List(items), _) => items,
                (Items::Null, _) => Vec::new(),
                (Items::NotArray, _) => {
                    return Err(Malformed::NotEvents("`items` is not an array"));
                }
                // A bare Event: the envelope's pass has checked that it is JSON.
                (Items::Absent, Some(_)) => vec![trimmed],
                (Items::Absent, None) if env.kind.is_some_and(|k| k.get() == "\"EventList\"") => {
                    Vec::new()
                }
                (Items::Absent, None) => {
                    return Err(Malformed::NotEvents(
                        "an object with neither `items` nor `auditID`",
                    ));
                }
            }
        }
        Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(trimmed)
            .map_err(json_reason)?
            .into_iter()
            .map(RawValue::get)
            .collect(),
        Some(_) => {
            return Err(Malformed::NotJson(
                "it does not start with '{' or '['".into(),
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (n, t) in items.into_iter().enumerate() {
        if !t.starts_with('{') {
            return Err(Malformed::ItemNotObject(n));
        }
        out.push(single_line(t));
    }
    Ok(Batch { items: out })
}

fn json_reason(e: serde_json::Error) -> Malformed {
    Malformed::NotJson(e.to_string())
}

/// `json` without line breaks: whitespace outside strings dropped (strings cannot hold a raw
/// line break, so nothing else changes). Compact JSON, what the API server sends, is borrowed.
pub fn single_line(json: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_none() {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The content hash of one event's text, as `ingest` computes it for exact duplicates.
pub fn event_hash(text: &str, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eventlist_an_array_and_a_bare_event_all_give_their_events() {
        let list = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"auditID":"a"},{"auditID":"b"}]}"#;
        assert_eq!(parse(list).expect("list").items.len(), 2);
        assert_eq!(
            parse(br#"[{"auditID":"a"}]"#).expect("array").items.len(),
            1
        );
        let one = parse(br#" {"auditID":"a","verb":"get"} "#).expect("event");
        assert_eq!(one.items, [r#"{"auditID":"a","verb":"get"}"#]);
        assert_eq!(
            parse(br#"{"kind":"EventList","items":null}"#)
                .expect("empty")
                .items
                .len(),
            0
        );
        assert_eq!(parse(br#"{"items":[]}"#).expect("empty").items.len(), 0);
        let spaced =
            parse(b"{\"items\": [ {\"auditID\":\"a\"} , {\"auditID\":\"b\"} ]}").expect("spaced");
        assert_eq!(spaced.items, [r#"{"auditID":"a"}"#, r#"{"auditID":"b"}"#]);
    }

    #[test]
    fn malformed_bodies_say_why() {
        assert!(matches!(
            parse(b"{\"items\":[{\"a\":1}"),
            Err(Malformed::NotJson(_))
        ));
        assert!(matches!(parse(b"hello"), Err(Malformed::NotJson(_))));
        assert_eq!(parse(b"  ").err(), Some(Malformed::Empty));
        assert_eq!(
            parse(b"[{\"a\":1},2]").err(),
            Some(Malformed::ItemNotObject(1))
        );
        assert!(matches!(
            parse(b"{\"foo\":1}"),
            Err(Malformed::NotEvents(_))
        ));
        assert!(matches!(
            parse(b"{\"items\":{}}"),
            Err(Malformed::NotEvents(_))
        ));
        assert!(matches!(
            parse(b"{\"items\":\"a\"}"),
            Err(Malformed::NotEvents(_))
        ));
        // Broken JSON inside an item, or after the items, is found in the same pass.
        assert!(matches!(
            parse(b"{\"items\":[{\"a\":tru}]}"),
            Err(Malformed::NotJson(_))
        ));
        assert!(matches!(
            parse(b"{\"items\":[{\"a\":1}],\"kind\":}"),
            Err(Malformed::NotJson(_))
        ));
        assert!(matches!(
            parse(b"{\"auditID\":\"a\",\"verb\":}"),
            Err(Malformed::NotJson(_))
        ));
        assert_eq!(parse(b"\xff").err(), Some(Malformed::NotUtf8(0)));
    }

    #[test]
    fn pretty_events_become_one_line_with_strings_untouched() {
        let pretty = "{\n  \"auditID\": \"a b\",\n  \"x\": \"q\\\" \\n\"\n}";
        assert_eq!(single_line(pretty), r#"{"auditID":"a b","x":"q\" \n"}"#);
        assert!(matches!(single_line(r#"{"a": 1}"#), Cow::Borrowed(_)));
    }
}
