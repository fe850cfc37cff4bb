//! Azure AKS diagnostic records: `{"time", "resourceId", "category", "properties": {"log": ...}}`,
//! alone or in an Event Hub batch `{"records": [...]}`. `properties.log` is the Event as a JSON
//! string, sometimes already an object.

use serde_json::value::RawValue;

use super::envelope::{Sink, Wrap, decode_embedded, json_reason};
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
    let Some(log) = rec.properties.and_then(|p| p.log) else {
        return sink.reject("AKS record without properties.log".into(), text);
    };
    let wrap = Wrap {
        format: "aks",
        wrapper_ts: rec.time.as_deref().and_then(parse_micros),
        cluster: rec.resource_id.as_deref().and_then(cluster_of),
    };
    decode_embedded(log, wrap, sink);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_comes_from_the_resource_id() {
        let id = "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS";
        assert_eq!(cluster_of(id).as_deref(), Some("prod-aks"));
    }
}
