//! Which envelope wraps the events of a line (or document), decided by the fields present, never
//! by `apiVersion` or `kind`: a bare Event, a webhook EventList, a JSON array, or a managed
//! cloud's wrapper (one module each).

use serde_json::value::RawValue;

use super::{aks, container, eks, gke};
use crate::normalize::raw::RawEvent;

/// How an event was wrapped.
#[derive(Debug, Clone, Default)]
pub struct Wrap {
    pub format: &'static str,
    pub wrapper_ts: Option<i64>,
    /// The cluster the wrapper names (EKS log group, GKE cluster_name, AKS resourceId).
    pub cluster: Option<String>,
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
}

/// Decode one line or document.
pub fn decode(text: &str, sink: &mut dyn Sink) {
    let trimmed = text.trim_start();
    match trimmed.as_bytes().first() {
        Some(b'{') => decode_object(text, Wrap::new("event"), sink),
        Some(b'[') => decode_array(text, "array", sink),
        Some(b) if b.is_ascii_digit() => container::decode_cri(text, sink),
        _ => sink.reject("not JSON: a line must start with '{' or '['".into(), text),
    }
}

/// A JSON object: an Event, or an envelope holding events.
pub fn decode_object(text: &str, wrap: Wrap, sink: &mut dyn Sink) {
    let ev: RawEvent = match serde_json::from_str(text) {
        Ok(ev) => ev,
        Err(e) => return sink.reject(json_reason(&e), text),
    };
    if ev.looks_like_event() {
        return sink.event(&ev, text, &wrap);
    }
    if let Some(items) = ev.items {
        return decode_array(items.get(), "eventlist", sink);
    }
    if ev.proto_payload.is_some() {
        return gke::decode(text, sink);
    }
    if ev.properties.is_some() || ev.records.is_some() {
        return aks::decode(&ev, text, sink);
    }
    if ev.log_events.is_some()
        || ev.events.is_some()
        || ev.message.is_some()
        || text.contains("\"@message\"")
    {
        return eks::decode(&ev, text, sink);
    }
    if let Some(log) = ev.log {
        return container::decode_docker(log, text, sink);
    }
    sink.reject(
        "not an audit event: no auditID, requestURI or verb, and no known envelope (items, protoPayload, properties, records, logEvents, message, log)".into(),
        text,
    );
}

/// A JSON array of events (a webhook batch written as an array, or EventList items).
pub fn decode_array(text: &str, format: &'static str, sink: &mut dyn Sink) {
    let items: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(items) => items,
        Err(e) => return sink.reject(json_reason(&e), text),
    };
    for item in items {
        let t = item.get();
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
