//! The report a security lead reads in the morning: one window's findings with their evidence,
//! activity charts, a posture review and what was not analysed, as one self-contained HTML
//! file and the same content as JSON.
//!
//! `facts`, `posture`, `coverage` and `evidence` each query the lake for one part;
//! `chart` lays out the SVG charts; `html` renders the template. The findings are detect's,
//! unchanged: the JSON's `findings` array is what `detect --format jsonl` prints.

pub mod chart;
pub mod coverage;
pub mod evidence;
pub mod facts;
pub mod html;
pub mod posture;

use std::path::Path;

use anyhow::Result;
use rules::engine::Report as Detected;
use rules::finding::Finding;
use rules::rule::{Rule, Severity};
use serde::Serialize;

/// Version of the report JSON.
pub const REPORT_SCHEMA_VERSION: &str = "1";

/// How many identities and addresses the top lists show.
const TOP: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct SeverityCount {
    pub severity: &'static str,
    pub findings: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub findings: usize,
}

/// The window the report covers, as asked and as found.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub lake: String,
    pub cluster: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub baseline: String,
    pub history_before_window: String,
}

/// The whole report: the JSON file is this, the HTML draws it.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub schema_version: &'static str,
    pub tool_version: &'static str,
    pub rule_pack_version: String,
    pub generated_at: String,
    pub window: Window,
    pub headline: facts::Headline,
    pub findings_by_severity: Vec<SeverityCount>,
    pub findings_by_category: Vec<CategoryCount>,
    /// Exactly the objects `kubetrail detect --format jsonl` prints for the same options.
    pub findings: Vec<Finding>,
    /// Per finding (same order): triage text, evidence requests, the SQL to see them again.
    pub finding_details: Vec<evidence::Detail>,
    pub rules_run: usize,
    pub suppressed: usize,
    pub activity: facts::Activity,
    pub top_identities: Vec<facts::Top>,
    pub top_source_addresses: Vec<facts::Top>,
    pub posture: posture::Posture,
    /// What was not analysed.
    pub coverage: coverage::NotAnalysed,
    /// `nightly`: findings that continue one an earlier run reported (new evidence added).
    pub continuing: Vec<String>,
}

impl Document {
    /// `" (2 high, 5 medium)"`, or nothing when there are no findings: for one-line summaries.
    pub fn severity_note(&self) -> String {
        let by: Vec<String> = self
            .findings_by_severity
            .iter()
            .filter(|s| s.findings > 0)
            .map(|s| format!("{} {}", s.findings, s.severity))
            .collect();
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    }
}

fn by_severity(findings: &[Finding]) -> Vec<SeverityCount> {
    [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ]
    .into_iter()
    .map(|s| SeverityCount {
        severity: s.as_str(),
        findings: findings.iter().filter(|f| f.severity == s).count(),
    })
    .collect()
}

fn by_category(findings: &[Finding]) -> Vec<CategoryCount> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in findings {
        *counts.entry(f.category.as_str()).or_default() += 1;
    }
    let mut out: Vec<CategoryCount> = counts
        .into_iter()
        .map(|(c, n)| CategoryCount {
            category: c.to_string(),
            findings: n,
        })
        .collect();
    out.sort_by(|a, b| {
        b.findings
            .cmp(&a.findings)
            .then(a.category.cmp(&b.category))
    });
    out
}

/// Build the report from detect's result: `rules` are the rules that ran.
pub async fn build(
    lake: &Path,
    detected: Detected,
    rules: &[Rule],
    memory: query::memory::MemoryLimit,
    column_key: Option<&ingest::sink::encryption::ColumnKey>,
    engine: &query::engine::Engine,
) -> Result<Document> {
    let parse = |s: &Option<String>| -> Option<chrono::DateTime<chrono::Utc>> {
        s.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let window_scope = query::session::Scope {
        cluster: detected.cluster.clone(),
        since: parse(&detected.since),
        until: parse(&detected.until),
    };
    let lake_scope = query::session::Scope {
        cluster: detected.cluster.clone(),
        ..Default::default()
    };
    let ctx = query::session::open_with(lake, &window_scope, memory, column_key).await?;
    query::engine::attach(&ctx, engine);
    let headline = facts::headline(&ctx).await?;
    let span = match (&headline.first_event, &headline.last_event) {
        (Some(a), Some(b)) => chart::epoch(b).unwrap_or(0) - chart::epoch(a).unwrap_or(0),
        _ => 0,
    };
    let activity = facts::activity(&ctx, facts::bucket_seconds(span)).await?;
    let top_identities = facts::top(&ctx, "username", TOP).await?;
    let top_source_addresses = facts::top(&ctx, "source_ip", TOP).await?;
    let posture = posture::posture(&ctx, &posture::body_rules(rules)).await?;
    let gaps = coverage::gaps(&ctx).await?;
    let (quarantined_lines, quarantine_files) = coverage::quarantined(lake).await?;
    // Evidence may lie in a baseline rule's history: look it up in the whole lake.
    let lake_ctx = query::session::open_with(lake, &lake_scope, memory, column_key).await?;
    query::engine::attach(&lake_ctx, engine);
    let finding_details = evidence::details(&lake_ctx, &detected, rules).await?;
    Ok(Document {
        schema_version: REPORT_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        rule_pack_version: detected.rule_pack_version.clone(),
        generated_at: detected.generated_at.clone(),
        window: Window {
            lake: lake.display().to_string(),
            cluster: detected.cluster.clone(),
            since: detected.since.clone(),
            until: detected.until.clone(),
            baseline: detected.baseline.clone(),
            history_before_window: detected.history_before_window.clone(),
        },
        headline,
        findings_by_severity: by_severity(&detected.findings),
        findings_by_category: by_category(&detected.findings),
        finding_details,
        rules_run: detected.rules_run,
        suppressed: detected.suppressed,
        activity,
        top_identities,
        top_source_addresses,
        posture,
        coverage: coverage::NotAnalysed {
            quarantined_lines,
            quarantine_files,
            gaps,
            rules: detected.coverage,
            failures: detected.failures,
        },
        findings: detected.findings,
        continuing: Vec::new(),
    })
}
