//! Google GKE Cloud Audit Logs `LogEntry` (as exported, or base64 in a Pub/Sub message) (`protoPayload` of type AuditLog, serviceName k8s.io),
//! mapped back to an audit Event. Status codes are gRPC codes: they are mapped to HTTP, and the
//! raw code is kept in the annotation `kubetrail.io/grpc-code`.

use serde_json::{Map, Value, json};

use serde_json::value::RawValue;

use super::envelope::{Sink, Wrap, decode_object, json_reason};
use super::reason::Rejection;
use crate::normalize::time::parse_micros;

/// HTTP status for a google.rpc code.
pub fn http_status(grpc: i64) -> i64 {
    match grpc {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// objectRef from a GKE resourceName such as `core/v1/namespaces/default/pods/web/exec`.
fn object_ref(resource_name: &str) -> Option<Value> {
    let parts: Vec<&str> = resource_name.split('/').collect();
    if parts.len() < 3 {
        return None;
    }
    let group = if parts[0] == "core" { "" } else { parts[0] };
    let mut o = Map::new();
    o.insert("apiGroup".into(), json!(group));
    o.insert("apiVersion".into(), json!(parts[1]));
    let rest = &parts[2..];
    let rest = if rest[0] == "namespaces" && rest.len() >= 3 {
        o.insert("namespace".into(), json!(rest[1]));
        &rest[2..]
    } else {
        rest
    };
    o.insert("resource".into(), json!(rest[0]));
    if let Some(name) = rest.get(1) {
        o.insert("name".into(), json!(name));
    }
    if let Some(sub) = rest.get(2) {
        o.insert("subresource".into(), json!(sub));
    }
    Some(Value::Object(o))
}

/// A GKE `LogEntry`.
pub fn decode(text: &str, sink: &mut dyn Sink) {
    decode_entry(text, "gke", None, sink)
}

/// Whether a `message` value is a Pub/Sub message (an object with `data`, not an Event).
pub fn is_pubsub_message(message: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        data: Option<&'a RawValue>,
        #[serde(borrow, default, rename = "auditID")]
        audit_id: Option<&'a RawValue>,
    }
    let text = message.get();
    text.starts_with('{')
        && serde_json::from_str::<Probe>(text)
            .is_ok_and(|p| p.data.is_some() && p.audit_id.is_none())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Push<'a> {
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(borrow, default)]
    subscription: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    received_messages: Option<Vec<&'a RawValue>>,
}

#[derive(serde::Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    data: Option<std::borrow::Cow<'a, str>>,
}

/// A Pub/Sub push request body (`{"message": {"data": ...}, "subscription": ...}`), one
/// received message (`{"ackId", "message"}`) or a pull response (`{"receivedMessages": [...]}`):
/// each `message.data` is a base64 GKE `LogEntry`.
pub fn decode_pubsub(text: &str, sink: &mut dyn Sink) {
    let push: Push = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) => {
            return sink.refuse(Rejection::PubsubData(json_reason(&e)), text);
        }
    };
    if let Some(list) = push.received_messages {
        for item in list {
            decode_pubsub(item.get(), sink);
        }
        return;
    }
    let Some(data) = push.message.and_then(|m| m.data) else {
        return sink.refuse(Rejection::PubsubData("no message.data".into()), text);
    };
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data.trim()));
    let entry = match bytes.map(String::from_utf8) {
        Ok(Ok(entry)) => entry,
        Ok(Err(e)) => {
            let why = format!("message.data is not UTF-8 text ({e})");
            return sink.refuse(Rejection::PubsubData(why), text);
        }
        Err(e) => {
            let why = format!("message.data is not base64 ({e})");
            return sink.refuse(Rejection::PubsubData(why), text);
        }
    };
    let subscription = push.subscription.map(|s| s.into_owned());
    decode_entry(&entry, "gke-pubsub", subscription, sink);
}

fn decode_entry(text: &str, format: &'static str, stream: Option<String>, sink: &mut dyn Sink) {
    let entry: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return sink.reject(format!("GKE LogEntry: {}", json_reason(&e)), text),
    };
    let pp = &entry["protoPayload"];
    if !pp.is_object() {
        return sink.refuse(Rejection::unknown_shape(text), text);
    }
    let service = pp["serviceName"].as_str().unwrap_or_default();
    if !service.is_empty() && service != "k8s.io" {
        return sink.reject(
            format!("GKE LogEntry of service {service}, not Kubernetes audit (k8s.io)"),
            text,
        );
    }
    let method = pp["methodName"].as_str().unwrap_or_default();
    let verb = method.rsplit('.').next().unwrap_or_default();
    let resource_name = pp["resourceName"].as_str().unwrap_or_default();
    let grpc = pp["status"]["code"].as_i64().unwrap_or(0);
    let mut annotations = match &entry["labels"] {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    annotations.insert("kubetrail.io/grpc-code".into(), json!(grpc.to_string()));
    let level = if !pp["response"].is_null() {
        "RequestResponse"
    } else if !pp["request"].is_null() {
        "Request"
    } else {
        "Metadata"
    };
    let audit_id = entry["operation"]["id"]
        .as_str()
        .or(entry["insertId"].as_str())
        .unwrap_or_default();
    let ts = entry["timestamp"].as_str().unwrap_or_default();
    let mut ev = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id,
        "stage": "ResponseComplete",
        "requestURI": format!("/{resource_name}"),
        "verb": verb,
        "user": {"username": pp["authenticationInfo"]["principalEmail"]},
        "sourceIPs": [pp["requestMetadata"]["callerIp"]],
        "userAgent": pp["requestMetadata"]["callerSuppliedUserAgent"],
        "responseStatus": {"code": http_status(grpc), "message": pp["status"]["message"]},
        "requestReceivedTimestamp": ts,
        "stageTimestamp": ts,
        "annotations": annotations,
    });
    if let Some(o) = object_ref(resource_name) {
        ev["objectRef"] = o;
    }
    for (from, to) in [("request", "requestObject"), ("response", "responseObject")] {
        if !pp[from].is_null() {
            ev[to] = pp[from].clone();
        }
    }
    let wrap = Wrap {
        format,
        wrapper_ts: entry["receiveTimestamp"].as_str().and_then(parse_micros),
        cluster: entry["resource"]["labels"]["cluster_name"]
            .as_str()
            .map(str::to_owned),
        stream,
    };
    let event_text = ev.to_string();
    decode_object(&event_text, wrap, sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_map_to_object_refs() {
        let o = object_ref("core/v1/namespaces/default/pods/web/exec").expect("present");
        assert_eq!(o["namespace"], "default");
        assert_eq!(o["resource"], "pods");
        assert_eq!(o["name"], "web");
        assert_eq!(o["subresource"], "exec");
        assert_eq!(o["apiGroup"], "");
        let o = object_ref("rbac.authorization.k8s.io/v1/clusterrolebindings/x").expect("present");
        assert_eq!(o["resource"], "clusterrolebindings");
        assert!(object_ref("readyz").is_none());
    }

    #[test]
    fn grpc_codes_become_http() {
        assert_eq!(http_status(7), 403);
        assert_eq!(http_status(0), 200);
        assert_eq!(http_status(16), 401);
    }
}
