//! Amazon EKS audit logs from CloudWatch Logs: subscription envelopes (`logEvents`), API output
//! (`events`), single exported events (`message`) and Logs Insights rows (`@message`). Each
//! message is one Event as JSON text; messages CloudWatch truncated end in `[Truncated...]`.

use serde_json::value::RawValue;

use super::envelope::{Sink, Wrap, decode_embedded, json_reason};
use crate::normalize::raw::RawEvent;
use crate::normalize::time::parse_micros;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(borrow, default)]
    message_type: Option<&'a str>,
    #[serde(borrow, default)]
    log_group: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct LogEvent<'a> {
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "@message")]
    at_message: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "@timestamp")]
    at_timestamp: Option<std::borrow::Cow<'a, str>>,
}

/// The cluster in an EKS log group name, `/aws/eks/<cluster>/cluster`.
pub fn cluster_of(log_group: &str) -> Option<String> {
    let rest = log_group.strip_prefix("/aws/eks/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

pub fn decode(ev: &RawEvent<'_>, text: &str, sink: &mut dyn Sink) {
    let env: Envelope = serde_json::from_str(text).unwrap_or(Envelope {
        message_type: None,
        log_group: None,
    });
    if env.message_type == Some("CONTROL_MESSAGE") {
        return sink.reject(
            "CloudWatch CONTROL_MESSAGE: holds no audit events".into(),
            text,
        );
    }
    let cluster = env.log_group.as_deref().and_then(cluster_of);
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
                one(item.get(), cluster.clone(), sink);
            }
        }
        None => one(text, cluster, sink),
    }
}

fn one(text: &str, cluster: Option<String>, sink: &mut dyn Sink) {
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
    decode_embedded(
        message,
        Wrap {
            format: "eks",
            wrapper_ts,
            cluster,
        },
        sink,
    );
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
    }
}
