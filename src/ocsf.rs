//! Findings as OCSF Detection Findings (class_uid 2004), the form AWS Security Lake and several
//! SIEMs ingest: one JSON object per finding, with the evidence's audit IDs as related events,
//! MITRE ATT&CK techniques as attacks and the rule's triage text as remediation.

use rules::finding::Finding;
use rules::rule::{Rule, Severity};
use serde_json::{Value, json};

/// The OCSF schema version the objects are written to.
pub const OCSF_VERSION: &str = "1.2.0";
const CLASS_UID: i64 = 2004;
const CATEGORY_UID: i64 = 2;
/// Activity 1: a finding was created.
const ACTIVITY_CREATE: i64 = 1;

fn severity_id(s: Severity) -> i64 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn caption(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

fn millis(ts: Option<&str>) -> Option<i64> {
    ts.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

/// `T1098.006` as `{technique: T1098, sub_technique: T1098.006}`.
fn attack(id: &str) -> Value {
    match id.split_once('.') {
        Some((tech, _)) => json!({
            "technique": {"uid": tech},
            "sub_technique": {"uid": id},
            "version": "v15"
        }),
        None => json!({"technique": {"uid": id}, "version": "v15"}),
    }
}

fn remediation_text(rule: Option<&Rule>) -> String {
    let Some(r) = rule else {
        return "See `kubetrail rules show` for this rule's triage advice.".into();
    };
    let (what, triage) = crate::report::evidence::split_triage(&r.description);
    if triage.is_empty() { what } else { triage }
}

/// One finding as an OCSF Detection Finding.
pub fn detection_finding(f: &Finding, rule: Option<&Rule>) -> Value {
    let first = millis(f.first_seen.as_deref());
    let last = millis(f.last_seen.as_deref()).or(first);
    let time = last.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let mut resource = serde_json::Map::new();
    if let Some(n) = &f.name {
        resource.insert("name".into(), json!(n));
    }
    if let Some(r) = &f.resource {
        resource.insert("type".into(), json!(r));
    }
    if let Some(ns) = &f.namespace {
        resource.insert("namespace".into(), json!(ns));
    }
    let mut evidence = serde_json::Map::new();
    if let Some(u) = &f.username {
        evidence.insert("actor".into(), json!({"user": {"name": u}}));
    }
    if let Some(ip) = &f.source_ip {
        evidence.insert("src_endpoint".into(), json!({"ip": ip}));
    }
    if let Some(v) = &f.verb {
        let mut api = json!({"operation": v});
        if let Some(id) = f.audit_ids.first() {
            api["request"] = json!({"uid": id});
        }
        evidence.insert("api".into(), api);
    }
    if let Some(ua) = &f.user_agent {
        evidence.insert("http_request".into(), json!({"user_agent": ua}));
    }
    if !resource.is_empty() {
        evidence.insert("resources".into(), json!([resource.clone()]));
    }
    let evidences: Vec<Value> = if evidence.is_empty() {
        vec![]
    } else {
        vec![Value::Object(evidence)]
    };
    let mut v = json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "time": time,
        "severity_id": severity_id(f.severity),
        "severity": caption(f.severity),
        "status_id": 1,
        "status": "New",
        "is_alert": true,
        "count": f.count,
        "message": f.summary,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.finding_id,
            "log_name": "kubernetes-audit",
            "product": {
                "name": "kubetrail",
                "vendor_name": "kubetrail",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": f.finding_id,
            "title": f.title,
            "desc": f.summary,
            "types": [f.category],
            "analytic": {"uid": f.rule_id, "name": f.rule_id, "type_id": 1, "type": "Rule", "category": f.category},
            "attacks": f.mitre.iter().map(|m| attack(m)).collect::<Vec<_>>(),
            "related_events": f.audit_ids.iter().map(|id| json!({"uid": id, "type": "Kubernetes audit event"})).collect::<Vec<_>>(),
            "related_events_count": f.count,
        },
        "remediation": {"desc": remediation_text(rule)},
        "evidences": evidences,
        "unmapped": {
            "kubetrail_schema_version": f.schema_version,
            "cluster": f.cluster,
            "audit_ids_truncated": f.truncated,
        },
    });
    if let Some(t) = first {
        v["start_time"] = json!(t);
        v["finding_info"]["first_seen_time"] = json!(t);
    }
    if let Some(t) = last {
        v["end_time"] = json!(t);
        v["finding_info"]["last_seen_time"] = json!(t);
    }
    if !resource.is_empty() {
        v["resources"] = json!([resource]);
    }
    v
}
