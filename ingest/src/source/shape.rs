//! Which known input shape an unrecognised JSON object is closest to, and what it lacks: the
//! reason a person needs to fix a quarantined object (or force the right `--input-format`).

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

/// A JSON shape kubetrail reads: what marks it, and the other keys it usually has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub name: &'static str,
    /// What it must have (said in the reason when missing).
    pub needs: &'static str,
    /// Keys of the shape, the marking ones first.
    pub keys: &'static [&'static str],
}

/// The shapes, in the order ties are broken.
pub const SHAPES: &[Shape] = &[
    Shape {
        name: "audit Event",
        needs: "auditID, requestURI or verb and stage (or kind Event with an audit.k8s.io apiVersion)",
        keys: &[
            "auditID",
            "requestURI",
            "verb",
            "stage",
            "kind",
            "apiVersion",
            "level",
            "user",
            "sourceIPs",
            "userAgent",
            "objectRef",
            "responseStatus",
            "requestReceivedTimestamp",
            "stageTimestamp",
            "annotations",
        ],
    },
    Shape {
        name: "EventList",
        needs: "items",
        keys: &["items", "kind", "apiVersion", "metadata"],
    },
    Shape {
        name: "GKE LogEntry",
        needs: "protoPayload",
        keys: &[
            "protoPayload",
            "insertId",
            "logName",
            "resource",
            "timestamp",
            "receiveTimestamp",
            "severity",
            "operation",
            "labels",
        ],
    },
    Shape {
        name: "GKE Pub/Sub message",
        needs: "message.data (base64) or receivedMessages",
        keys: &[
            "receivedMessages",
            "message",
            "subscription",
            "ackId",
            "deliveryAttempt",
        ],
    },
    Shape {
        name: "AKS diagnostic record",
        needs: "properties.log, or records",
        keys: &[
            "properties",
            "records",
            "resourceId",
            "category",
            "operationName",
            "time",
            "serviceBuild",
        ],
    },
    Shape {
        name: "AKSAudit table row",
        needs: "AuditId, RequestUri or RequestReceivedTime",
        keys: &[
            "AuditId",
            "RequestUri",
            "TimeGenerated",
            "Level",
            "Stage",
            "Verb",
            "User",
            "SourceIps",
            "ObjectRef",
            "ResponseStatus",
            "RequestReceivedTime",
            "StageReceivedTime",
            "PodName",
            "_ResourceId",
        ],
    },
    Shape {
        name: "CloudWatch subscription envelope",
        needs: "logEvents",
        keys: &[
            "logEvents",
            "messageType",
            "owner",
            "logGroup",
            "logStream",
            "subscriptionFilters",
        ],
    },
    Shape {
        name: "CloudWatch filter-log-events output",
        needs: "events",
        keys: &[
            "events",
            "nextToken",
            "searchedLogStreams",
            "nextForwardToken",
            "nextBackwardToken",
        ],
    },
    Shape {
        name: "CloudWatch log event",
        needs: "message",
        keys: &[
            "message",
            "timestamp",
            "ingestionTime",
            "eventId",
            "logStreamName",
            "id",
        ],
    },
    Shape {
        name: "Logs Insights row",
        needs: "@message",
        keys: &["@message", "@timestamp", "@logStream", "@log", "@ptr"],
    },
    Shape {
        name: "docker json-file line",
        needs: "log",
        keys: &["log", "stream", "time"],
    },
];

/// The shape an object's top-level keys overlap most, with the keys it has of it; `None` when it
/// has none of any shape's keys (or is not an object).
pub fn closest(text: &str) -> Option<(&'static Shape, Vec<&'static str>)> {
    let keys: BTreeMap<String, IgnoredAny> = serde_json::from_str(text).ok()?;
    let mut best: Option<(&'static Shape, Vec<&'static str>)> = None;
    for shape in SHAPES {
        let has: Vec<&'static str> = shape
            .keys
            .iter()
            .copied()
            .filter(|k| keys.contains_key(*k))
            .collect();
        if has.is_empty() {
            continue;
        }
        if best.as_ref().is_none_or(|(_, b)| has.len() > b.len()) {
            best = Some((shape, has));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_entry_without_its_payload_is_closest_to_gke() {
        let (shape, has) =
            closest(r#"{"insertId":"x","logName":"l","timestamp":"t","resource":{}}"#)
                .expect("a shape");
        assert_eq!(shape.name, "GKE LogEntry");
        assert_eq!(has, ["insertId", "logName", "resource", "timestamp"]);
    }

    #[test]
    fn an_object_of_unknown_keys_is_closest_to_nothing() {
        assert!(closest(r#"{"a":1,"b":2}"#).is_none());
        assert!(closest("[1]").is_none());
    }
}
