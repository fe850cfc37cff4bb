//! Findings: evidence rows of a rule grouped into what a responder acts on.

use std::collections::BTreeMap;

use datafusion::arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::rule::{Rule, Severity};

/// Version of the finding JSON.
pub const FINDING_SCHEMA_VERSION: &str = "1";
/// At most this many audit IDs are listed per finding.
pub const MAX_AUDIT_IDS: usize = 1000;

/// One finding.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub schema_version: &'static str,
    pub finding_id: String,
    pub rule_id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub mitre: Vec<String>,
    pub cluster: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub namespace: Option<String>,
    pub resource: Option<String>,
    pub name: Option<String>,
    pub verb: Option<String>,
    pub count: usize,
    pub audit_ids: Vec<String>,
    pub truncated: bool,
    pub summary: String,
}

/// The evidence rows of a query result, as JSON objects.
pub fn rows(batches: &[RecordBatch]) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        for row in 0..b.num_rows() {
            let mut m = Map::new();
            for (i, f) in schema.fields().iter().enumerate() {
                m.insert(
                    f.name().clone(),
                    query::output::cell(b.column(i).as_ref(), row),
                );
            }
            out.push(m);
        }
    }
    out
}

fn text(row: &Map<String, Value>, key: &str) -> Option<String> {
    match row.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// Group a rule's evidence rows into findings: rows with the same `finding_key` (else the same
/// audit ID) in one cluster are one finding; one request logged at several stages is one piece
/// of evidence. A rule may set a row's severity in a `severity` column (`info` .. `critical`),
/// e.g. lower for evidence judged against a short history; a finding takes the highest of its
/// rows, and the rule's own severity where no row sets one.
pub fn group(rule: &Rule, rows: &[Map<String, Value>]) -> Vec<Finding> {
    let mut groups: BTreeMap<(String, String), Vec<&Map<String, Value>>> = BTreeMap::new();
    for row in rows {
        let cluster = text(row, "cluster").unwrap_or_default();
        let evidence = text(row, "audit_id")
            .or_else(|| text(row, "ts"))
            .unwrap_or_default();
        let key = text(row, "finding_key").unwrap_or(evidence);
        groups.entry((cluster, key)).or_default().push(row);
    }
    let mut findings = Vec::new();
    for ((cluster, _), mut members) in groups {
        // each row's time read once, not once per comparison
        members.sort_by_cached_key(|a| text(a, "ts"));
        let Some(first) = members.first().copied() else {
            continue;
        };
        let mut ids: Vec<String> = members
            .iter()
            .filter_map(|r| text(r, "audit_id").or_else(|| text(r, "ts")))
            .collect();
        ids.sort();
        ids.dedup();
        let count = ids.len();
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(rule.id.as_bytes());
        h.update(b"\n");
        h.update(cluster.as_bytes());
        for id in &ids {
            h.update(b"\n");
            h.update(id.as_bytes());
        }
        let finding_id = format!("{:032x}", h.digest128());
        // Evidence order for the list: by time, each ID once (a set, not a search of the list:
        // a finding can have tens of thousands of rows)
        let mut ordered: Vec<String> = Vec::new();
        let mut listed = std::collections::HashSet::new();
        for r in &members {
            if let Some(id) = text(r, "audit_id").or_else(|| text(r, "ts"))
                && listed.insert(id.clone())
            {
                ordered.push(id);
            }
        }
        let truncated = ordered.len() > MAX_AUDIT_IDS;
        ordered.truncate(MAX_AUDIT_IDS);
        let detail = members.iter().find_map(|r| text(r, "detail"));
        let severity = members
            .iter()
            .filter_map(|r| text(r, "severity").and_then(|s| Severity::parse(&s)))
            .max()
            .unwrap_or(rule.severity);
        let generate_name = text(first, crate::body_name::GENERATE_NAME);
        let mut f = Finding {
            schema_version: FINDING_SCHEMA_VERSION,
            finding_id,
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            category: rule.category.clone(),
            severity,
            mitre: rule.mitre.clone(),
            cluster: (!cluster.is_empty()).then_some(cluster),
            first_seen: text(first, "ts"),
            last_seen: members.last().and_then(|r| text(r, "ts")),
            username: text(first, "username"),
            source_ip: text(first, "source_ip"),
            user_agent: text(first, "user_agent"),
            namespace: text(first, "namespace"),
            resource: text(first, "resource"),
            name: text(first, "name"),
            verb: text(first, "verb"),
            count,
            audit_ids: ordered,
            truncated,
            summary: String::new(),
        };
        f.summary = fill_with(
            &rule.summary,
            &f,
            detail.as_deref(),
            generate_name.as_deref(),
        );
        findings.push(f);
    }
    findings
}

/// Fill a summary template's `{field}` placeholders.
pub fn fill(template: &str, f: &Finding, detail: Option<&str>) -> String {
    fill_with(template, f, detail, None)
}

/// [`fill`], with `{name}` read as `PREFIX* (generateName)` when the object had no name yet
/// and its create request asked the server to generate one from `generate_name`.
pub fn fill_with(
    template: &str,
    f: &Finding,
    detail: Option<&str>,
    generate_name: Option<&str>,
) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let name = match (&f.name, generate_name) {
        (None, Some(g)) => format!("{g}* (generateName)"),
        (n, _) => dash(n),
    };
    let mut out = template.to_string();
    for (key, value) in [
        ("username", dash(&f.username)),
        ("source_ip", dash(&f.source_ip)),
        ("user_agent", dash(&f.user_agent)),
        ("namespace", dash(&f.namespace)),
        ("resource", dash(&f.resource)),
        ("name", name),
        ("verb", dash(&f.verb)),
        ("cluster", dash(&f.cluster)),
        ("count", f.count.to_string()),
        ("detail", detail.unwrap_or("-").to_string()),
    ] {
        out = out.replace(&format!("{{{key}}}"), &value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule() -> Rule {
        Rule::parse(
            "id: r\ntitle: t\ncategory: secret-access\nseverity: high\nlevel: Metadata\n\
             description: d\nsummary: s\nsql: SELECT * FROM events_window\ntests:\n\
             - {name: f, expect: fire, events: []}\n- {name: q, expect: quiet, events: []}\n",
            "",
        )
        .expect("rule parses")
    }

    fn row(id: &str, severity: Option<&str>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("audit_id".into(), json!(id));
        m.insert("finding_key".into(), json!("k"));
        if let Some(s) = severity {
            m.insert("severity".into(), json!(s));
        }
        m
    }

    #[test]
    fn a_finding_takes_the_highest_severity_its_rows_set() {
        let f = group(&rule(), &[row("a", Some("low")), row("b", Some("medium"))]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
    }

    #[test]
    fn rows_without_a_severity_keep_the_rules() {
        let f = group(&rule(), &[row("a", None), row("b", Some("nonsense"))]);
        assert_eq!(f[0].severity, Severity::High);
    }
}
