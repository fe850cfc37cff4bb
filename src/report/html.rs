//! The report as one self-contained HTML page: `template.html` rendered by minijinja with HTML
//! auto-escaping on for everything, since object names, user agents and bodies in the audit log
//! are written by whoever sent the requests. Nothing is passed as pre-escaped ("safe") text.

use anyhow::{Context, Result};
use minijinja::{AutoEscape, Environment, Value};
use rules::engine::Coverage;
use rules::finding::Finding;
use serde::Serialize;

use super::Document;
use super::chart::{self, BarChart, TimeChart};
use super::evidence::Detail;

const TEMPLATE: &str = include_str!("template.html");

#[derive(Serialize)]
struct FindingView<'a> {
    f: &'a Finding,
    continuing: bool,
    d: Option<&'a Detail>,
    anchor: String,
}

#[derive(Serialize)]
struct Page<'a> {
    doc: &'a Document,
    findings: Vec<FindingView<'a>>,
    activity_chart: TimeChart,
    denied_chart: TimeChart,
    category_chart: BarChart,
    identity_chart: BarChart,
    address_chart: BarChart,
    blind: Vec<&'a Coverage>,
    no_data: Vec<&'a Coverage>,
    total_findings: usize,
}

/// `2026-01-05T10:00:00.123456Z` as `2026-01-05 10:00:00`; none as `-`.
fn short_time(value: Value) -> String {
    match value.as_str() {
        Some(s) if s.as_bytes().get(10) == Some(&b'T') => {
            s.get(..19).unwrap_or(s).replace('T', " ")
        }
        Some(s) => s.to_string(),
        None if value.is_none() || value.is_undefined() => "-".to_string(),
        None => value.to_string(),
    }
}

/// A missing value as `-`.
fn dash(value: Value) -> Value {
    if value.is_none() || value.is_undefined() {
        Value::from("-")
    } else {
        value
    }
}

/// At most `n` characters, with `…` when cut.
fn clip(value: String, n: usize) -> String {
    if value.chars().count() <= n {
        value
    } else {
        let mut s: String = value.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn page(doc: &Document) -> Page<'_> {
    let findings = doc
        .findings
        .iter()
        .map(|f| FindingView {
            f,
            d: doc
                .finding_details
                .iter()
                .find(|d| d.finding_id == f.finding_id),
            anchor: format!("f-{}", f.finding_id),
            continuing: doc.continuing.contains(&f.finding_id),
        })
        .collect();
    let marks: Vec<(i64, &'static str, String)> = doc
        .findings
        .iter()
        .filter_map(|f| {
            let t = chart::epoch(f.first_seen.as_deref()?)?;
            Some((
                t,
                f.severity.as_str(),
                format!("{}: {}", f.rule_id, f.summary),
            ))
        })
        .collect();
    let categories: Vec<(String, i64, String)> = doc
        .findings_by_category
        .iter()
        .map(|c| (c.category.clone(), c.findings as i64, String::new()))
        .collect();
    Page {
        doc,
        findings,
        activity_chart: chart::time_chart(&doc.activity, false, &marks),
        denied_chart: chart::time_chart(&doc.activity, true, &[]),
        category_chart: chart::bar_chart(&categories),
        identity_chart: chart::bar_chart(&chart::top_items(&doc.top_identities)),
        address_chart: chart::bar_chart(&chart::top_items(&doc.top_source_addresses)),
        blind: doc
            .coverage
            .rules
            .iter()
            .filter(|c| c.status == "blind")
            .collect(),
        no_data: doc
            .coverage
            .rules
            .iter()
            .filter(|c| c.status != "blind")
            .collect(),
        total_findings: doc.findings.len(),
    }
}

/// Render `doc` as HTML.
pub fn render(doc: &Document) -> Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_filter("short_time", short_time);
    env.add_filter("dash", dash);
    env.add_filter("clip", clip);
    env.add_template("report.html", TEMPLATE)
        .context("the report template does not parse")?;
    let tmpl = env.get_template("report.html")?;
    tmpl.render(page(doc))
        .context("rendering the report template")
}
