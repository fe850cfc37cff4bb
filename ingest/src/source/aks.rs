//! Azure AKS diagnostic records: `{"time", "resourceId", "category", "properties": {"log": ...}}`,
//! alone or in an Event Hub batch `{"records": [...]}`. `properties.log` is the Event as a JSON
//! string, sometimes already an object. Also rows of the Log Analytics `AKSAudit` and
//! `AKSAuditAdmin` tables, whose PascalCase columns are the Event's fields.

use serde_json::value::RawValue;

use std::collections::BTreeMap;

use super::envelope::{Sink, Wrap, decode_embedded, decode_object, json_reason};
use super::reason::Rejection;
use crate::normalize::raw::RawEvent;
use crate::normalize::time::parse_micros;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow, default)]
    time: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    properties: Option<Properties<'a>>,
}

#[derive(serde::Deserialize)]
struct Properties<'a> {
    #[serde(borrow, default)]
    log: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pod: Option<std::borrow::Cow<'a, str>>,
}

/// The cluster name in an AKS resource id (`.../MANAGEDCLUSTERS/<name>`), lower-cased.
pub fn cluster_of(resource_id: &str) -> Option<String> {
    let upper = resource_id.to_ascii_uppercase();
    let at = upper.find("/MANAGEDCLUSTERS/")? + "/MANAGEDCLUSTERS/".len();
    let name = resource_id[at..].split('/').next()?;
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

pub fn decode(ev: &RawEvent<'_>, text: &str, sink: &mut dyn Sink) {
    if let Some(records) = ev.records {
        let items: Vec<&RawValue> = match serde_json::from_str(records.get()) {
            Ok(items) => items,
            Err(e) => return sink.reject(format!("AKS records: {}", json_reason(&e)), text),
        };
        for item in items {
            record(item.get(), sink);
        }
    } else {
        record(text, sink);
    }
}

fn record(text: &str, sink: &mut dyn Sink) {
    let rec: Record = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return sink.reject(format!("AKS record: {}", json_reason(&e)), text),
    };
    let Some(props) = rec.properties else {
        return sink.reject("AKS record without properties.log".into(), text);
    };
    let Some(log) = props.log else {
        return sink.reject("AKS record without properties.log".into(), text);
    };
    let wrap = Wrap {
        format: "aks",
        wrapper_ts: rec.time.as_deref().and_then(parse_micros),
        cluster: rec.resource_id.as_deref().and_then(cluster_of),
        stream: props.pod.map(|p| p.into_owned()),
    };
    decode_embedded(log, wrap, sink);
}

/// How an `AKSAudit` column maps back to the Event.
#[derive(Clone, Copy)]
enum Column {
    /// A string field.
    Text(&'static str),
    /// A `dynamic` column: JSON, or JSON as text (CSV exports, some JSON exports).
    Json(&'static str),
    /// A body: JSON, JSON as text, or a plain string such as `skipped-too-big-size-object`.
    Body(&'static str),
}

/// The `AKSAudit` / `AKSAuditAdmin` columns that are Event fields.
const COLUMNS: &[(&str, Column)] = &[
    ("Level", Column::Text("level")),
    ("AuditId", Column::Text("auditID")),
    ("Stage", Column::Text("stage")),
    ("RequestUri", Column::Text("requestURI")),
    ("Verb", Column::Text("verb")),
    ("User", Column::Json("user")),
    ("ImpersonatedUser", Column::Json("impersonatedUser")),
    ("SourceIps", Column::Json("sourceIPs")),
    ("UserAgent", Column::Text("userAgent")),
    ("ObjectRef", Column::Json("objectRef")),
    ("ResponseStatus", Column::Json("responseStatus")),
    ("RequestObject", Column::Body("requestObject")),
    ("ResponseObject", Column::Body("responseObject")),
    (
        "RequestReceivedTime",
        Column::Text("requestReceivedTimestamp"),
    ),
    ("StageReceivedTime", Column::Text("stageTimestamp")),
    ("Annotations", Column::Json("annotations")),
];

/// A row of the Log Analytics `AKSAudit` / `AKSAuditAdmin` tables (PascalCase columns, from a
/// JSON export or a CSV record), mapped back to the Event it was made from. The Event's JSON is
/// put together from the columns' own text, so bodies and maps keep their order.
pub fn decode_table(text: &str, format: &'static str, sink: &mut dyn Sink) {
    let row: BTreeMap<String, &RawValue> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return sink.reject(format!("AKSAudit row: {}", json_reason(&e)), text),
    };
    let mut event = String::from(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1""#);
    for (column, to) in COLUMNS {
        let Some(value) = row.get(*column) else {
            continue;
        };
        let raw = value.get();
        let inner: Option<String> = if raw.starts_with('"') {
            match serde_json::from_str::<String>(raw) {
                Ok(s) if s.trim().is_empty() => continue,
                Ok(s) => Some(s),
                Err(e) => return sink.reject(format!("AKSAudit row: {}", json_reason(&e)), text),
            }
        } else {
            None
        };
        let spliced: std::borrow::Cow<str> = match (to, &inner) {
            (_, None) if raw == "null" => continue,
            (Column::Text(_), Some(_)) => raw.into(),
            (Column::Text(_), None) => continue,
            (Column::Json(_) | Column::Body(_), None) => raw.into(),
            (Column::Json(_) | Column::Body(_), Some(s)) if is_json(s) => s.as_str().into(),
            (Column::Body(_), Some(_)) => raw.into(),
            (Column::Json(_), Some(_)) => {
                let what = "holds text that is not JSON".to_string();
                let column = *column;
                return sink.refuse(Rejection::AksTableColumn { column, what }, text);
            }
        };
        let (Column::Text(key) | Column::Json(key) | Column::Body(key)) = *to;
        event.push_str(",\"");
        event.push_str(key);
        event.push_str("\":");
        event.push_str(spliced.trim());
    }
    event.push('}');
    let text_of = |key: &str| {
        row.get(key)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
            .filter(|s| !s.is_empty())
    };
    let wrap = Wrap {
        format,
        wrapper_ts: text_of("TimeGenerated").as_deref().and_then(parse_micros),
        cluster: text_of("_ResourceId").as_deref().and_then(cluster_of),
        stream: text_of("PodName"),
    };
    decode_object(&event, wrap, sink);
}

/// Whether `text` is one JSON object or array.
fn is_json(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_comes_from_the_resource_id() {
        let id = "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS";
        assert_eq!(cluster_of(id).as_deref(), Some("prod-aks"));
    }

    struct Rows(Vec<String>, Vec<String>);

    impl Sink for Rows {
        fn event(&mut self, _: &RawEvent<'_>, raw: &str, wrap: &Wrap) {
            self.0
                .push(format!("{} {raw}", wrap.stream.as_deref().unwrap_or("-")));
        }
        fn reject(&mut self, reason: String, _: &str) {
            self.1.push(reason);
        }
    }

    #[test]
    fn table_rows_map_back_to_events_keeping_their_text() {
        let mut rows = Rows(Vec::new(), Vec::new());
        let csv_row = r#"{"AuditId":"a1","Verb":"get","User":"{\"username\":\"u\",\"groups\":[\"g\"]}","RequestObject":"skipped-too-big-size-object","ResponseObject":"","Annotations":"{\"b\":\"1\",\"a\":\"2\"}","PodName":"kube-apiserver-1","Stage":"ResponseComplete"}"#;
        decode_table(csv_row, "aks-table-csv", &mut rows);
        assert_eq!(
            rows.0,
            [
                r#"kube-apiserver-1 {"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"get","user":{"username":"u","groups":["g"]},"requestObject":"skipped-too-big-size-object","annotations":{"b":"1","a":"2"}}"#
            ]
        );
        decode_table(
            r#"{"AuditId":"a2","User":"not json"}"#,
            "aks-table",
            &mut rows,
        );
        assert_eq!(
            rows.1,
            ["AKSAudit row: column User holds text that is not JSON"]
        );
    }
}
