//! One rule as one SQL statement for an engine: the views it reads as common table expressions,
//! the rule's own CTEs after them, its query as `kubetrail_finding`, and one row per matching
//! request with a text `audit_id`.
//!
//! One statement, not a script of several: `spark.sql()` and Trino's clients run one statement
//! per call, and every engine runs a single `WITH ... SELECT` as it is, from its command-line
//! client or its Python API.

use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::dialect::Dialect;
use super::reason::Unsupported;
use super::views::{self, Bounds, Source};
use super::{inline, translate};
use crate::rule::Rule;

/// The name the rule's own query gets in the exported statement.
pub const FINDING_CTE: &str = "kubetrail_finding";

/// Names the exported statement defines in front of the rule's.
const RESERVED: &[&str] = &[
    "events",
    "events_window",
    "events_history",
    query::summarised::WINDOW_VIEW,
    query::summarised::HISTORY_VIEW,
    FINDING_CTE,
];

/// Parse one rule query the way DataFusion reads it (PostgreSQL dialect).
pub fn parse(sql: &str) -> Result<Query, Unsupported> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| Unsupported::Syntax(e.to_string()))?;
    match <[Statement; 1]>::try_from(statements) {
        Ok([Statement::Query(q)]) => Ok(*q),
        Ok(_) => Err(Unsupported::Syntax("the SQL is not a query".into())),
        Err(v) => Err(Unsupported::Syntax(format!(
            "{} statements where one query was expected",
            v.len()
        ))),
    }
}

/// What every exported statement needs besides the rule.
#[derive(Debug, Clone)]
pub struct Target {
    pub dialect: Dialect,
    pub source: Source,
    pub bounds: Bounds,
}

/// `rule` as one statement for `target`, header comment included.
pub fn statement(rule: &Rule, target: &Target) -> Result<String, Unsupported> {
    let d = target.dialect;
    let mut query = parse(&rule.sql)?;
    inline::inline(&mut query)?;
    translate::translate(&mut query, d)?;
    let history =
        rule.sql.contains("events_history") || rule.sql.contains(query::summarised::HISTORY_VIEW);

    let mut ctes = views::ctes(&target.source, target.bounds, d, history)?;
    // the summary views, computed from the events: the engine reads the lake's events only
    for (view, events) in [
        (query::summarised::WINDOW_VIEW, "events_window"),
        (query::summarised::HISTORY_VIEW, "events_history"),
    ] {
        if rule.sql.contains(view) {
            let sql = query::summarised::aggregate_sql(events, "TRUE");
            ctes.push(format!("{view} AS ({sql})"));
        }
    }
    if let Some(with) = query.with.take() {
        if with.recursive {
            return Err(Unsupported::Construct {
                what: "WITH RECURSIVE".into(),
                dialect: d,
            });
        }
        for cte in with.cte_tables {
            let name = cte.alias.name.value.to_ascii_lowercase();
            if RESERVED.contains(&name.as_str()) {
                return Err(Unsupported::Construct {
                    what: format!("a CTE named {name}, which the export defines"),
                    dialect: d,
                });
            }
            ctes.push(format!("{cte:#}"));
        }
    }
    // A query that is only a SELECT keeps its ORDER BY and LIMIT inside the CTE; the result is
    // ordered by audit_id below.
    if matches!(*query.body, SetExpr::Query(_)) {
        return Err(Unsupported::Syntax("a parenthesised query body".into()));
    }
    ctes.push(format!("{FINDING_CTE} AS (\n{query:#}\n)"));

    let text = d.text_type();
    let body = format!(
        "WITH\n{}\nSELECT CAST(audit_id AS {text}) AS audit_id, min(ts) AS first_seen, \
         min(\"cluster\") AS \"cluster\", min(username) AS username, min(verb) AS verb, \
         min(resource) AS resource, min(namespace) AS namespace, min(name) AS name\n\
         FROM {FINDING_CTE}\nWHERE audit_id IS NOT NULL\nGROUP BY audit_id\nORDER BY 1",
        ctes.join(",\n")
    );
    Ok(format!(
        "{}{}\n",
        header(rule, target, history),
        d.render(&body)?
    ))
}

/// The comment in front of each exported statement: which rule, how to run it.
fn header(rule: &Rule, target: &Target, history: bool) -> String {
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut lines = vec![
        format!(
            "kubetrail rule {} for {} (kubetrail {}, pack {})",
            rule.id,
            target.dialect,
            env!("CARGO_PKG_VERSION"),
            crate::pack::pack_version()
        ),
        one_line(&rule.title),
        format!(
            "severity {}, category {}, needs audit level {}{}",
            rule.severity.as_str(),
            rule.category,
            rule.level.as_str(),
            if rule.mitre.is_empty() {
                String::new()
            } else {
                format!(", MITRE {}", rule.mitre.join(" "))
            }
        ),
        match &target.source {
            Source::Lake(_) | Source::Bucket(_) => {
                format!(
                    "reads the lake's files under {}/events",
                    target.source.describe()
                )
            }
            Source::Table(t) => {
                format!("reads the table {t} (the lake's columns, cluster and day included)")
            }
        },
    ];
    match target.bounds {
        Bounds::Fixed {
            since,
            until,
            baseline,
        } => lines.push(format!(
            "window {} to {} (UTC){}",
            since.format("%Y-%m-%dT%H:%M:%SZ"),
            until.format("%Y-%m-%dT%H:%M:%SZ"),
            if history {
                format!(
                    ", history {} days before it",
                    baseline.num_seconds() as f64 / 86_400.0
                )
            } else {
                String::new()
            }
        )),
        Bounds::Parameters => {
            if let Some(help) = target.bounds.parameter_help(target.dialect, history) {
                lines.push(format!("parameters: {help}"));
            }
        }
    }
    lines.push(
        "one row per matching request; audit_id is what `kubetrail detect` lists for it".into(),
    );
    lines.iter().map(|l| format!("-- {l}\n")).collect()
}
