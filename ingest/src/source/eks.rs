//! Amazon EKS audit logs from CloudWatch Logs: subscription envelopes (`logEvents`, also
//! concatenated in Firehose objects), API output (`events`), single exported events (`message`),
//! Logs Insights rows (`@message`, from JSON or CSV exports) and `CreateExportTask` lines. Each
//! message is one Event as JSON text; messages CloudWatch truncated end in `[Truncated...]`.

use serde_json::value::RawValue;

use super::envelope::{Sink, Wrap, decode_embedded, decode_object, json_reason};
use super::reason::Rejection;
use crate::normalize::raw::RawEvent;
use crate::normalize::time::parse_micros;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(borrow, default)]
    message_type: Option<&'a str>,
    #[serde(borrow, default)]
    log_group: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    log_stream: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent<'a> {
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    log_stream_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, rename = "@message")]
    at_message: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "@timestamp")]
    at_timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, rename = "@logStream")]
    at_log_stream: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, rename = "@log")]
    at_log: Option<std::borrow::Cow<'a, str>>,
}

/// The cluster in an EKS log group name, `/aws/eks/<cluster>/cluster`, also as Logs Insights
/// writes it in `@log`: `<account>:/aws/eks/<cluster>/cluster`.
pub fn cluster_of(log_group: &str) -> Option<String> {
    let at = log_group.find("/aws/eks/")?;
    let rest = &log_group[at + "/aws/eks/".len()..];
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// A CloudWatch Logs object (subscription envelope, API output, one event, an Insights row):
/// its rows' `source_format` is `eks`.
pub fn decode(ev: &RawEvent<'_>, text: &str, sink: &mut dyn Sink) {
    decode_as(ev, text, "eks", sink)
}

/// [`decode`], with the rows' `source_format` given.
pub fn decode_as(ev: &RawEvent<'_>, text: &str, format: &'static str, sink: &mut dyn Sink) {
    let env: Envelope = serde_json::from_str(text).unwrap_or(Envelope {
        message_type: None,
        log_group: None,
        log_stream: None,
    });
    if env.message_type == Some("CONTROL_MESSAGE") {
        return sink.refuse(Rejection::ControlMessage, text);
    }
    let outer = Outer {
        format,
        cluster: env.log_group.as_deref().and_then(cluster_of),
        stream: env.log_stream.map(|s| s.into_owned()),
    };
    let list = ev.log_events.or(ev.events);
    match list {
        Some(list) => {
            let items: Vec<&RawValue> = match serde_json::from_str(list.get()) {
                Ok(items) => items,
                Err(e) => {
                    return sink.reject(format!("CloudWatch events: {}", json_reason(&e)), text);
                }
            };
            for item in items {
                one(item.get(), &outer, sink);
            }
        }
        None => one(text, &outer, sink),
    }
}

/// What the envelope around CloudWatch events says about all of them.
struct Outer {
    format: &'static str,
    cluster: Option<String>,
    stream: Option<String>,
}

fn one(text: &str, outer: &Outer, sink: &mut dyn Sink) {
    let le: LogEvent = match serde_json::from_str(text) {
        Ok(le) => le,
        Err(e) => return sink.reject(format!("CloudWatch event: {}", json_reason(&e)), text),
    };
    let wrapper_ts = match &le.timestamp {
        Some(serde_json::Value::Number(n)) => n.as_i64().map(|ms| ms * 1000),
        Some(serde_json::Value::String(s)) => parse_micros(s),
        _ => None,
    }
    .or_else(|| le.at_timestamp.as_deref().and_then(parse_micros));
    let Some(message) = le.message.or(le.at_message) else {
        return sink.reject("CloudWatch event without a message".into(), text);
    };
    let cluster = outer
        .cluster
        .clone()
        .or_else(|| le.at_log.as_deref().and_then(cluster_of));
    let stream = outer
        .stream
        .clone()
        .or_else(|| le.at_log_stream.map(|s| s.into_owned()))
        .or_else(|| le.log_stream_name.map(|s| s.into_owned()))
        .filter(|s| !s.is_empty());
    decode_embedded(
        message,
        Wrap {
            format: outer.format,
            wrapper_ts,
            cluster,
            stream,
        },
        sink,
    );
}

/// A line of a `CreateExportTask` file: `<ISO 8601 time> <message>`, the message being the
/// Event's JSON text as CloudWatch stored it.
pub fn decode_export_line(text: &str, sink: &mut dyn Sink) {
    let Some((ts, message)) = text.split_once(' ') else {
        return sink.reject(
            "CreateExportTask line without a space after its time".into(),
            text,
        );
    };
    let message = message.trim_end();
    if message.ends_with("[Truncated...]") {
        return sink.reject(
            "event truncated by the log service ([Truncated...])".into(),
            message,
        );
    }
    let wrap = Wrap {
        format: "eks-export",
        wrapper_ts: parse_micros(ts),
        ..Wrap::default()
    };
    decode_object(message, wrap, sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_comes_from_the_log_group() {
        assert_eq!(
            cluster_of("/aws/eks/prod-1/cluster").as_deref(),
            Some("prod-1")
        );
        assert_eq!(cluster_of("/other"), None);
        assert_eq!(
            cluster_of("123456789012:/aws/eks/prod-1/cluster").as_deref(),
            Some("prod-1")
        );
    }
}
