//! Each finding's evidence (the requests it cites, one line per request) and the SQL that
//! shows it again in `kubetrail shell`.

use std::collections::HashMap;

use anyhow::Result;
use datafusion::prelude::SessionContext;
use rules::finding::Finding;
use rules::rule::Rule;
use serde::Serialize;

use super::facts::{int, rows, text};

/// At most this many evidence requests are shown per finding (the JSON's `findings` keeps the
/// full list of audit IDs).
pub const SHOWN: usize = 25;
/// Audit IDs are looked up this many at a time.
const CHUNK: usize = 500;

/// One request of the evidence, its stages folded.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub ts: Option<String>,
    pub audit_id: String,
    pub username: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub verb: Option<String>,
    /// `resource[/subresource] namespace/name`
    pub object: String,
    pub status: Option<i64>,
}

/// What the report adds to a finding for a reader.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub finding_id: String,
    pub description: String,
    /// The "Triage:" and "Benign:" part of the rule's description.
    pub triage: String,
    /// The first [`SHOWN`] requests of the evidence.
    pub evidence: Vec<Request>,
    /// Evidence requests not shown.
    pub more: usize,
    /// `SELECT ... WHERE audit_id IN (...)` for `kubetrail shell`.
    pub evidence_sql: String,
    /// `.window ...` and the rule's SQL: run in `kubetrail shell` it gives the evidence rows.
    pub rule_sql: String,
}

/// Split a rule description at its first "Triage:" into (what it is, what to do).
pub fn split_triage(description: &str) -> (String, String) {
    match description.find("Triage:") {
        Some(i) => (
            description[..i].trim().to_string(),
            description[i..].trim().to_string(),
        ),
        None => (description.trim().to_string(), String::new()),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn object(
    resource: Option<&str>,
    sub: Option<&str>,
    ns: Option<&str>,
    name: Option<&str>,
) -> String {
    let mut out = resource.unwrap_or("-").to_string();
    if let Some(s) = sub {
        out.push('/');
        out.push_str(s);
    }
    out.push(' ');
    if let Some(ns) = ns {
        out.push_str(ns);
        out.push('/');
    }
    out.push_str(name.unwrap_or("-"));
    out
}

const COLUMNS: &str = "ts, audit_id, stage, username, source_ip, user_agent, verb, resource, \
                       subresource, namespace, name, status_code";

/// Look up the shown evidence of every finding in one pass over `events`.
async fn requests(ctx: &SessionContext, findings: &[Finding]) -> Result<HashMap<String, Request>> {
    let mut ids: Vec<&str> = findings
        .iter()
        .flat_map(|f| f.audit_ids.iter().take(SHOWN).map(String::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out: HashMap<String, (u8, Request)> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let list: Vec<String> = chunk.iter().map(|s| quote(s)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE audit_id IN ({})",
            list.join(", ")
        );
        for r in rows(ctx, &sql).await? {
            let Some(id) = text(&r, "audit_id") else {
                continue;
            };
            // Prefer the stage that carries the outcome.
            let rank = match text(&r, "stage").as_deref() {
                Some("ResponseComplete") | Some("Panic") => 3,
                Some("ResponseStarted") => 2,
                None => 2,
                _ => 1,
            };
            let status = r
                .get("status_code")
                .filter(|v| !v.is_null())
                .map(|_| int(&r, "status_code"));
            let req = Request {
                ts: text(&r, "ts"),
                audit_id: id.clone(),
                username: text(&r, "username"),
                source_ip: text(&r, "source_ip"),
                user_agent: text(&r, "user_agent"),
                verb: text(&r, "verb"),
                object: object(
                    text(&r, "resource").as_deref(),
                    text(&r, "subresource").as_deref(),
                    text(&r, "namespace").as_deref(),
                    text(&r, "name").as_deref(),
                ),
                status,
            };
            match out.get(&id) {
                Some((have, _)) if *have >= rank => {}
                _ => {
                    out.insert(id, (rank, req));
                }
            }
        }
    }
    Ok(out.into_iter().map(|(k, (_, r))| (k, r)).collect())
}

/// The `.window` line that makes `events_window` what the rule saw.
/// Every rule analyses the window from its first event (baseline rules compare with the history
/// before it, which `.window` also defines), so one line serves every rule.
fn window_line(report: &rules::engine::Report) -> String {
    let since = report
        .since
        .as_deref()
        .or(report.lake.first_event.as_deref())
        .unwrap_or("2000-01-01");
    let mut line = format!(".window {since}");
    // `.window` takes UNTIL; without one the rule saw everything after SINCE.
    let until = report.until.as_deref().unwrap_or("2100-01-01");
    line.push_str(&format!(" {until} {}", report.baseline));
    line
}

/// The reader's view of every finding in `report`.
pub async fn details(
    ctx: &SessionContext,
    report: &rules::engine::Report,
    pack: &[Rule],
) -> Result<Vec<Detail>> {
    let found = requests(ctx, &report.findings).await?;
    let mut out = Vec::with_capacity(report.findings.len());
    for f in &report.findings {
        let rule = pack.iter().find(|r| r.id == f.rule_id);
        let (description, triage) = rule.map_or_else(
            || (String::new(), String::new()),
            |r| split_triage(&r.description),
        );
        let shown: Vec<&String> = f.audit_ids.iter().take(SHOWN).collect();
        let evidence: Vec<Request> = shown
            .iter()
            .filter_map(|id| found.get(*id).cloned())
            .collect();
        let ids: Vec<String> = shown.iter().map(|s| quote(s)).collect();
        let evidence_sql = format!(
            "SELECT ts, stage, username, source_ip, verb, resource, namespace, name, status_code, audit_id\n\
             FROM events\nWHERE audit_id IN ({})\nORDER BY ts, audit_id;",
            ids.join(", ")
        );
        let rule_sql = rule.map_or_else(String::new, |r| {
            format!(
                "{}\n{};",
                window_line(report),
                r.sql.trim_end().trim_end_matches(';')
            )
        });
        out.push(Detail {
            finding_id: f.finding_id.clone(),
            description,
            triage,
            more: f.count.saturating_sub(evidence.len()),
            evidence,
            evidence_sql,
            rule_sql,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_advice_is_split_from_the_description() {
        let (d, t) =
            split_triage("A binding that lives minutes.\nTriage: list what they did.\nBenign: CI.");
        assert_eq!(d, "A binding that lives minutes.");
        assert_eq!(t, "Triage: list what they did.\nBenign: CI.");
        let (d, t) = split_triage("No advice here.");
        assert_eq!((d.as_str(), t.as_str()), ("No advice here.", ""));
    }
}
