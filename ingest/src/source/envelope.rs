//! Which envelope wraps the events of a line (or document), decided by the fields present, never
//! by `apiVersion` or `kind` alone: a bare Event, a webhook EventList, a JSON array, a managed
//! cloud's wrapper, a container-log line or a legacy text line (one module each). With a forced
//! [`InputFormat`] only that format's reader is tried.

use serde_json::value::RawValue;

use super::format::InputFormat;
use super::reason::Rejection;
use super::{aks, container, eks, gke, legacy, split};
use crate::normalize::raw::{Items, RawEvent};

/// How an event was wrapped: what the wrapper knows that the Event does not.
#[derive(Debug, Clone, Default)]
pub struct Wrap {
    pub format: &'static str,
    pub wrapper_ts: Option<i64>,
    /// The cluster the wrapper names (EKS log group, GKE cluster_name, AKS resourceId).
    pub cluster: Option<String>,
    /// The log stream or API server instance the wrapper names (CloudWatch logStream, AKS pod).
    pub stream: Option<String>,
}

impl Wrap {
    pub fn new(format: &'static str) -> Self {
        Wrap {
            format,
            ..Wrap::default()
        }
    }
}

/// Receives what a line holds.
pub trait Sink {
    /// One audit event; `raw` is its JSON text (for the content hash and quarantine).
    fn event(&mut self, ev: &RawEvent<'_>, raw: &str, wrap: &Wrap);
    /// Something in the line that is not an audit event, and why.
    fn reject(&mut self, reason: String, raw: &str);
    /// [`Sink::reject`] with a typed reason.
    fn refuse(&mut self, reason: Rejection, raw: &str) {
        self.reject(reason.to_string(), raw);
    }
}

/// Decode one line or document, detecting its format.
pub fn decode(text: &str, sink: &mut dyn Sink) {
    let trimmed = text.trim_start();
    match trimmed.as_bytes().first() {
        Some(b'{') => decode_object(text, Wrap::new("event"), sink),
        Some(b'[') => decode_array(text, "array", sink),
        Some(b) if b.is_ascii_digit() => decode_text_line(trimmed, sink),
        _ => sink.reject(
            "not JSON, nor a CRI, CreateExportTask or legacy audit line: a line must start with '{', '[' or a timestamp".into(),
            text,
        ),
    }
}

/// A line starting with a timestamp: `<time> {json}` (CreateExportTask), `<time> AUDIT: ...`
/// (legacy) or `<time> <stream> <P|F> <text>` (CRI, whole lines only: the pipeline joins
/// partial ones first).
fn decode_text_line(text: &str, sink: &mut dyn Sink) {
    let rest = text.split_once(' ').map_or("", |(_, r)| r);
    if rest.starts_with('{') {
        eks::decode_export_line(text, sink)
    } else if rest.starts_with("AUDIT:") {
        legacy::decode(text, sink)
    } else {
        container::decode_cri(text, sink)
    }
}

/// Decode one line, document or element as `format` (everything for [`InputFormat::Auto`]).
pub fn decode_as(format: InputFormat, text: &str, sink: &mut dyn Sink) {
    let object = || text.trim_start().starts_with('{');
    let refuse = |sink: &mut dyn Sink, expected: &'static str| {
        sink.refuse(Rejection::NotForcedFormat { format, expected }, text)
    };
    match format {
        InputFormat::Auto => decode(text, sink),
        InputFormat::Event | InputFormat::EventList => {
            if text.trim_start().starts_with('[') {
                return decode_array(text, "array", sink);
            }
            let ev: RawEvent = match serde_json::from_str(text) {
                Ok(ev) => ev,
                Err(e) => return reject_unless_list(text, &e, sink),
            };
            if ev.looks_like_event() {
                sink.event(&ev, text, &Wrap::new("event"));
            } else if !decoded_items(&ev.items, text, sink) {
                refuse(sink, "an audit Event or EventList");
            }
        }
        InputFormat::Eks | InputFormat::Firehose | InputFormat::EksInsightsCsv if object() => {
            let name = match format {
                InputFormat::EksInsightsCsv => format.name(),
                _ => "eks",
            };
            match serde_json::from_str::<RawEvent>(text) {
                Ok(ev) => eks::decode_as(&ev, text, name, sink),
                Err(e) => sink.reject(json_reason(&e), text),
            }
        }
        InputFormat::Eks | InputFormat::Firehose | InputFormat::EksInsightsCsv => {
            refuse(sink, "a CloudWatch Logs JSON object")
        }
        InputFormat::EksExport => match text.split_once(' ') {
            Some((_, rest)) if rest.starts_with('{') => eks::decode_export_line(text, sink),
            _ => refuse(sink, "a CreateExportTask line (<time> <event JSON>)"),
        },
        InputFormat::Gke if object() => gke::decode(text, sink),
        InputFormat::GkePubsub if object() => gke::decode_pubsub(text, sink),
        InputFormat::Aks if object() => match serde_json::from_str::<RawEvent>(text) {
            Ok(ev) => aks::decode(&ev, text, sink),
            Err(e) => sink.reject(json_reason(&e), text),
        },
        InputFormat::AksTable | InputFormat::AksTableCsv if object() => {
            aks::decode_table(text, format.name(), sink)
        }
        InputFormat::Gke
        | InputFormat::GkePubsub
        | InputFormat::Aks
        | InputFormat::AksTable
        | InputFormat::AksTableCsv => refuse(sink, "a JSON object"),
        InputFormat::Cri => container::decode_cri(text, sink),
        InputFormat::Docker => match serde_json::from_str::<RawEvent>(text) {
            Ok(RawEvent { log: Some(log), .. }) => container::decode_docker(log, text, sink),
            Ok(_) => refuse(sink, "a docker json-file line (no log key)"),
            Err(e) => sink.reject(json_reason(&e), text),
        },
        InputFormat::Legacy => legacy::decode(text, sink),
    }
}

/// A JSON object: an Event, or an envelope holding events.
pub fn decode_object(text: &str, wrap: Wrap, sink: &mut dyn Sink) {
    let ev: RawEvent = match serde_json::from_str(text) {
        Ok(ev) => ev,
        Err(e) => return reject_unless_list(text, &e, sink),
    };
    if ev.looks_like_event() {
        return sink.event(&ev, text, &wrap);
    }
    if decoded_items(&ev.items, text, sink) {
        return;
    }
    if ev.proto_payload.is_some() {
        return gke::decode(text, sink);
    }
    if ev.properties.is_some() || ev.records.is_some() {
        return aks::decode(&ev, text, sink);
    }
    if ev.aks_audit_id.is_some() || ev.aks_request_uri.is_some() || ev.aks_received.is_some() {
        return aks::decode_table(text, "aks-table", sink);
    }
    if ev.received_messages.is_some() || ev.message.is_some_and(gke::is_pubsub_message) {
        return gke::decode_pubsub(text, sink);
    }
    if ev.log_events.is_some()
        || ev.events.is_some()
        || ev.message.is_some()
        || ev.at_message.is_some()
    {
        return eks::decode(&ev, text, sink);
    }
    if let Some(log) = ev.log {
        return container::decode_docker(log, text, sink);
    }
    sink.refuse(Rejection::unknown_shape(text), text);
}

/// An `EventList`'s items, if `items` is there (false if absent or null); `text` is the list's
/// line, quarantined if its items are not an array.
fn decoded_items(items: &Items<'_>, text: &str, sink: &mut dyn Sink) -> bool {
    match items {
        Items::List(items) => decode_items(items, "eventlist", sink),
        Items::NotArray => sink.refuse(Rejection::ItemsNotArray, text),
        Items::Absent | Items::Null => return false,
    }
    true
}

/// The items of an `EventList` (an object with an `items` array that is not itself an event)
/// that the parser refused, found without parsing them: the list's other members are parsed
/// (its `items` replaced by `null`) to decide that it is a list, and each item is left to be
/// parsed on its own, so a broken event is rejected alone instead of with its whole batch.
fn cut_list(text: &str) -> Option<Vec<&str>> {
    let range = split::member(text, "items")?;
    let items = split::array_items(&text[range.clone()])?;
    let rest = [&text[..range.start], "null", &text[range.end..]].concat();
    match serde_json::from_str::<RawEvent>(&rest) {
        Ok(ev) if !ev.looks_like_event() => Some(items),
        _ => None,
    }
}

/// A line the parser refused: if it is an `EventList` broken only inside some items, each item
/// is read on its own; otherwise the line is rejected with the parser's reason.
fn reject_unless_list(text: &str, e: &serde_json::Error, sink: &mut dyn Sink) {
    match cut_list(text) {
        Some(items) => decode_items(&items, "eventlist", sink),
        None => sink.reject(json_reason(e), text),
    }
}

/// A JSON array of events (a webhook batch written as an array). If the parser refuses it, the
/// items are cut apart without it and each read on its own, so a broken event is rejected alone.
pub fn decode_array(text: &str, format: &'static str, sink: &mut dyn Sink) {
    let items: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(items) => items,
        Err(e) => {
            return match split::array_items(text) {
                Some(items) => decode_items(&items, format, sink),
                None => sink.reject(json_reason(&e), text),
            };
        }
    };
    let items: Vec<&str> = items.into_iter().map(RawValue::get).collect();
    decode_items(&items, format, sink);
}

/// The items of an array or `EventList`, each the JSON text of one value.
fn decode_items(items: &[&str], format: &'static str, sink: &mut dyn Sink) {
    for &t in items {
        if t.starts_with('{') {
            decode_object(t, Wrap::new(format), sink);
        } else {
            sink.reject(format!("{format} item is not a JSON object"), t);
        }
    }
}

/// A JSON string holding an event (AKS `properties.log`, CloudWatch `message`, docker `log`).
pub fn decode_embedded(value: &RawValue, wrap: Wrap, sink: &mut dyn Sink) {
    let text = value.get();
    if text.starts_with('{') {
        return decode_object(text, wrap, sink);
    }
    match serde_json::from_str::<String>(text) {
        Ok(inner) => {
            let inner = inner.trim_end();
            if inner.ends_with("[Truncated...]") {
                sink.reject(
                    "event truncated by the log service ([Truncated...])".into(),
                    inner,
                );
            } else if inner.starts_with('{') {
                decode_object(inner, wrap, sink);
            } else {
                sink.reject(
                    format!("{} wrapper holds no JSON event", wrap.format),
                    inner,
                );
            }
        }
        Err(e) => sink.reject(
            format!("{} wrapper: {}", wrap.format, json_reason(&e)),
            text,
        ),
    }
}

/// A serde_json error as a reason a person can act on.
pub fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "truncated JSON (the line ends inside a value)",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected JSON type",
        Category::Io => "read error",
    };
    format!("{what}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a line became: the events' texts with their format, and the reasons of rejections.
    #[derive(Default)]
    struct Seen(Vec<String>, Vec<String>);

    impl Sink for Seen {
        fn event(&mut self, _: &RawEvent<'_>, raw: &str, wrap: &Wrap) {
            self.0.push(format!("{} {raw}", wrap.format));
        }
        fn reject(&mut self, reason: String, _: &str) {
            self.1.push(reason);
        }
    }

    fn seen(line: &str, format: InputFormat) -> Seen {
        let mut s = Seen::default();
        decode_as(format, line, &mut s);
        s
    }

    #[test]
    fn an_eventlist_gives_each_item_and_refuses_items_that_are_not_an_array() {
        let list = r#"{"kind":"EventList","items":[{"auditID":"a","verb":"get"}, 7 ,{"auditID":"b","verb":"list"}]}"#;
        for format in [InputFormat::Auto, InputFormat::EventList] {
            let s = seen(list, format);
            assert_eq!(
                s.0,
                [
                    r#"eventlist {"auditID":"a","verb":"get"}"#,
                    r#"eventlist {"auditID":"b","verb":"list"}"#
                ]
            );
            assert_eq!(s.1, ["eventlist item is not a JSON object"]);
            let s = seen(r#"{"kind":"EventList","items":{"auditID":"a"}}"#, format);
            assert!(s.0.is_empty());
            assert_eq!(
                s.1,
                ["EventList items is not an array: no events in this line"]
            );
        }
        // Broken JSON inside an item rejects that item (here the only one).
        let s = seen(
            r#"{"kind":"EventList","items":[{"auditID":"a","verb":}]}"#,
            InputFormat::Auto,
        );
        assert!(
            s.0.is_empty() && s.1[0].starts_with("invalid JSON"),
            "{:?}",
            s.1
        );
        // So it does in a short list of several: the others are read.
        let s = seen(
            r#"{"kind":"EventList","items":[{"auditID":"a","verb":},{"auditID":"b"}]}"#,
            InputFormat::Auto,
        );
        assert_eq!(s.0, [r#"eventlist {"auditID":"b"}"#]);
        assert!(
            s.1.len() == 1 && s.1[0].starts_with("invalid JSON"),
            "{:?}",
            s.1
        );
        // An array's broken item is rejected alone.
        let s = seen(
            r#"[{"auditID":"a"},{"auditID":"b","verb":},7]"#,
            InputFormat::Auto,
        );
        assert_eq!(s.0, [r#"array {"auditID":"a"}"#]);
        assert!(s.1[0].starts_with("invalid JSON"), "{:?}", s.1);
        assert_eq!(s.1[1], "array item is not a JSON object");
        // `"items": null` is no list: the line is judged by its other keys.
        let s = seen(r#"{"kind":"EventList","items":null}"#, InputFormat::Auto);
        assert!(
            s.0.is_empty() && s.1[0].starts_with("not an audit event"),
            "{:?}",
            s.1
        );
    }

    /// A webhook batch as the API server writes it: `n` events, the second broken.
    fn long_list(n: usize, after_items: &str) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| match i {
                1 => r#"{"auditID":"broken","verb":}"#.to_owned(),
                _ => format!(
                    r#"{{"auditID":"e{i}","verb":"get","requestURI":"/api/v1/pods?x={}"}}"#,
                    "y".repeat(80)
                ),
            })
            .collect();
        format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]{after_items}}}"#,
            items.join(",")
        )
    }

    #[test]
    fn a_broken_event_in_an_eventlist_is_rejected_alone_and_the_rest_are_read() {
        let line = long_list(200, "");
        for format in [InputFormat::Auto, InputFormat::EventList] {
            let s = seen(&line, format);
            assert_eq!(s.0.len(), 199, "{format:?}");
            assert!(s.0[0].starts_with(r#"eventlist {"auditID":"e0","#));
            assert!(s.0[1].starts_with(r#"eventlist {"auditID":"e2","#));
            assert_eq!(s.1.len(), 1);
            assert!(s.1[0].starts_with("invalid JSON"), "{:?}", s.1);
        }
    }

    #[test]
    fn an_eventlist_broken_outside_its_items_is_rejected_whole_with_the_parsers_reason() {
        let line = long_list(200, r#","kind":}"#);
        let s = seen(&line, InputFormat::Auto);
        assert!(s.0.is_empty());
        assert_eq!(s.1.len(), 1);
        assert!(s.1[0].starts_with("invalid JSON"), "{:?}", s.1);
        // An event that carries an `items` key is an event, however long.
        let event = format!(
            r#"{{"auditID":"a","verb":"list","items":[1,2],"x":"{}"}}"#,
            "z".repeat(8192)
        );
        let s = seen(&event, InputFormat::Auto);
        assert_eq!(s.0.len(), 1);
        assert!(s.0[0].starts_with(r#"event {"auditID":"a""#));
    }
}
