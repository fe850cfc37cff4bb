//! A detection rule: metadata, SQL and its own test events.

use serde::{Deserialize, Serialize};

/// A rule file that cannot be read as a rule, naming the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleFileError {
    /// Not YAML, or not a rule's fields.
    #[error("rule file {file}: {message}")]
    Parse { file: String, message: String },
    /// A rule's fields that break the pack's rules (id, category, tests, the view it reads).
    #[error("rule file {file}: {message}")]
    Invalid { file: String, message: String },
}

type Result<T, E = RuleFileError> = std::result::Result<T, E>;

/// The category vocabulary: every finding carries exactly one; reports group by it.
pub const CATEGORIES: &[&str] = &[
    "secret-access",
    "anonymous-access",
    "kubelet-access",
    "rbac-escalation",
    "impersonation",
    "privileged-workload",
    "exec-into-pod",
    "credential-access",
    "policy-tampering",
    "admission-tampering",
    "persistence",
    "defense-evasion",
    "exposure",
    "unusual-access",
];

/// Severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// The audit level a rule needs to see its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// Whether a test expects findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Fire,
    Quiet,
}

/// One inline test: events in the window (and before it, for baselines) and the expectation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleTest {
    pub name: String,
    pub expect: Expect,
    #[serde(default)]
    pub history: Vec<serde_json::Value>,
    pub events: Vec<serde_json::Value>,
    /// Threat-intel lines (the `--ioc-file` CSV format) the test runs with.
    #[serde(default)]
    pub iocs: Vec<String>,
    /// For a `fire` test: exactly this many findings, for a rule that must not report more
    /// (a second subject, address or object) than the events call for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<usize>,
}

/// A rule as written in `rules/pack/<category>/<id>.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    #[serde(default)]
    pub mitre: Vec<String>,
    pub level: Level,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub baseline: bool,
    pub description: String,
    pub summary: String,
    pub sql: String,
    #[serde(default)]
    pub tests: Vec<RuleTest>,
    /// Where the rule was read from (set by the loader).
    #[serde(skip)]
    pub origin: String,
}

impl Rule {
    /// Parse and check one rule file.
    pub fn parse(text: &str, origin: &str) -> Result<Rule> {
        let mut rule: Rule = yaml_serde::from_str(text).map_err(|e| RuleFileError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })?;
        rule.origin = origin.to_string();
        rule.check()?;
        Ok(rule)
    }

    fn check(&self) -> Result<()> {
        let bad = |message: String| RuleFileError::Invalid {
            file: self.origin.clone(),
            message,
        };
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad(format!("id {:?} is not kebab-case", self.id)));
        }
        let stem = self
            .origin
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml");
        if !self.origin.is_empty() && stem != self.id {
            return Err(bad(format!(
                "id {:?} differs from the file name {stem:?}",
                self.id
            )));
        }
        if !CATEGORIES.contains(&self.category.as_str()) {
            return Err(bad(format!(
                "category {:?} is not one of: {}",
                self.category,
                CATEGORIES.join(", ")
            )));
        }
        if !self.tests.iter().any(|t| t.expect == Expect::Fire) {
            return Err(bad("needs a test that must fire".into()));
        }
        if !self.tests.iter().any(|t| t.expect == Expect::Quiet) {
            return Err(bad("needs a near-miss test that must stay quiet".into()));
        }
        if let Some(t) = self
            .tests
            .iter()
            .find(|t| t.expect == Expect::Quiet && t.findings.is_some())
        {
            return Err(bad(format!(
                "test {:?}: findings: is for tests that must fire (a quiet test has none)",
                t.name
            )));
        }
        if let Some(t) = self.tests.iter().find(|t| t.findings == Some(0)) {
            return Err(bad(format!(
                "test {:?}: findings: 0 is expect: quiet",
                t.name
            )));
        }
        if !self.sql.contains("events_window") {
            return Err(bad("SQL must read the view events_window".into()));
        }
        Ok(())
    }
}
