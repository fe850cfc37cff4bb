//! The one table of findings people read in a terminal: `detect`, `demo` and `report` draw it
//! here, so they agree on columns and fit the terminal the same way.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use rules::finding::Finding;

/// Width used when the table does not go to a terminal (a file, a pipe, a CI log): fixed, so
/// the output is the same wherever it runs.
pub const PIPE_WIDTH: u16 = 120;

/// Where the table goes, which decides its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Standard output, which is a terminal: use its width.
    Terminal,
    /// Anything else: [`PIPE_WIDTH`].
    Plain,
}

impl Target {
    /// A terminal when `to_stdout` and stdout is one.
    pub fn detect(to_stdout: bool) -> Target {
        use std::io::IsTerminal;
        if to_stdout && std::io::stdout().is_terminal() {
            Target::Terminal
        } else {
            Target::Plain
        }
    }
}

/// `2026-01-05T10:00:00.123456Z` as `2026-01-05 10:00:00`: the table has no room for micros.
fn short_time(ts: Option<&str>) -> String {
    match ts {
        Some(t) => t.get(..19).unwrap_or(t).replace('T', " "),
        None => "-".to_string(),
    }
}

/// The findings as a table whose long cells (rule, summary) wrap to fit `target`'s width.
pub fn table(findings: &[&Finding], target: Target) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["severity", "category", "rule", "first seen", "n", "summary"]);
    if target == Target::Plain {
        t.force_no_tty().set_width(PIPE_WIDTH);
    }
    for f in findings {
        // Summaries quote object names and user agents from the logs: no control characters
        // reach the terminal.
        t.add_row(
            [
                f.severity.as_str().to_string(),
                f.category.clone(),
                f.rule_id.clone(),
                short_time(f.first_seen.as_deref()),
                f.count.to_string(),
                f.summary.clone(),
            ]
            .map(|cell| query::output::visible(&cell).into_owned()),
        );
    }
    // Short, fixed-size cells, categories and rule ids (searched for, copied into `rules show`)
    // never wrap; the summary takes what is left.
    for i in [0, 1, 2, 3, 4] {
        if let Some(c) = t.column_mut(i) {
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    if let Some(c) = t.column_mut(5) {
        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(20)));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::rule::Severity;

    fn finding(summary: &str) -> Finding {
        Finding {
            schema_version: "1",
            finding_id: "f".into(),
            rule_id: "secret-read-cross-namespace-sa".into(),
            title: "t".into(),
            category: "secret-access".into(),
            severity: Severity::High,
            mitre: vec![],
            cluster: None,
            first_seen: Some("2026-01-05T10:00:00.123456Z".into()),
            last_seen: None,
            username: None,
            source_ip: None,
            user_agent: None,
            namespace: None,
            resource: None,
            name: None,
            verb: None,
            count: 3,
            audit_ids: vec![],
            truncated: false,
            summary: summary.into(),
        }
    }

    #[test]
    fn a_long_summary_wraps_within_the_pipe_width() {
        let long = "system:serviceaccount:monitoring:prometheus read secrets in ".repeat(12);
        let f = finding(&long);
        let text = table(&[&f], Target::Plain).to_string();
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest <= PIPE_WIDTH as usize, "{widest} columns:\n{text}");
        assert!(text.lines().count() > 5, "summary was not wrapped:\n{text}");
        assert!(text.contains("2026-01-05 10:00:00"));
    }
}
