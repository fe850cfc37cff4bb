//! Container-log wrappers of an API server that logs to stdout: CRI (`<ts> stdout F <json>`) and
//! docker json-file (`{"log":"<json>\n","stream":"stdout","time":"..."}`).

use serde_json::value::RawValue;

use super::envelope::{Sink, Wrap, decode_embedded, decode_object};
use crate::normalize::time::parse_micros;

/// A CRI log line. Partial lines (`P`) cannot be joined here and are quarantined with a reason.
pub fn decode_cri(text: &str, sink: &mut dyn Sink) {
    let mut parts = text.splitn(4, ' ');
    let (Some(ts), Some(_stream), Some(tag), Some(body)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return sink.reject("not JSON and not a CRI container-log line".into(), text);
    };
    let Some(wrapper_ts) = parse_micros(ts) else {
        return sink.reject(
            "not JSON and not a CRI container-log line (no timestamp)".into(),
            text,
        );
    };
    match tag {
        "F" => decode_object(
            body,
            Wrap {
                format: "cri",
                wrapper_ts: Some(wrapper_ts),
                cluster: None,
            },
            sink,
        ),
        "P" => sink.reject(
            "CRI partial line (P): the event was split by the container runtime".into(),
            text,
        ),
        _ => sink.reject(format!("CRI line with unknown tag {tag:?}"), text),
    }
}

/// A docker json-file line whose `log` holds the event.
pub fn decode_docker(log: &RawValue, text: &str, sink: &mut dyn Sink) {
    #[derive(serde::Deserialize)]
    struct Docker<'a> {
        #[serde(borrow)]
        time: Option<&'a str>,
    }
    let wrapper_ts = serde_json::from_str::<Docker>(text)
        .ok()
        .and_then(|d| d.time.and_then(parse_micros));
    decode_embedded(
        log,
        Wrap {
            format: "docker",
            wrapper_ts,
            cluster: None,
        },
        sink,
    );
}
