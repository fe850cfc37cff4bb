//! `kubetrail rules test`: every rule's inline events go through the real ingester into a
//! scratch lake, and the rule must fire on its `fire` tests and stay quiet on its `quiet` ones.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::engine::run_rule;
use crate::error::{Result, RuleError};
use crate::rule::{Expect, Rule};
use query::session::{self, Scope, Window};

/// The outcome of one inline test.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub rule_id: String,
    pub test: String,
    pub expect: Expect,
    /// The findings the test expects, when it says how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_findings: Option<usize>,
    pub findings: usize,
    pub passed: bool,
    pub error: Option<String>,
}

/// Window events start here; history events five days earlier.
const WINDOW_START: &str = "2026-01-10T10:00:00Z";
const HISTORY_START: &str = "2026-01-05T10:00:00Z";

fn base(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn micro(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Fill what a test event leaves out, as the API server would have written it.
pub fn complete(ev: &Value, id: String, at: DateTime<Utc>) -> Value {
    let mut ev = ev.clone();
    let Value::Object(m) = &mut ev else { return ev };
    m.entry("kind").or_insert(json!("Event"));
    m.entry("apiVersion").or_insert(json!("audit.k8s.io/v1"));
    m.entry("auditID").or_insert(json!(id));
    m.entry("stage").or_insert(json!("ResponseComplete"));
    let has_body = m.contains_key("requestObject") || m.contains_key("responseObject");
    m.entry("level").or_insert(json!(if has_body {
        "RequestResponse"
    } else {
        "Metadata"
    }));
    m.entry("requestReceivedTimestamp")
        .or_insert(json!(micro(at)));
    let received = m
        .get("requestReceivedTimestamp")
        .cloned()
        .unwrap_or(Value::Null);
    m.entry("stageTimestamp").or_insert(received);
    if m.get("stage").and_then(Value::as_str) != Some("RequestReceived") {
        m.entry("responseStatus")
            .or_insert(json!({"metadata": {}, "code": 200}));
    }
    let code = m
        .get("responseStatus")
        .and_then(|s| s.get("code"))
        .and_then(Value::as_i64);
    let decision = match code {
        Some(c) if (200..300).contains(&c) || c == 101 => Some("allow"),
        Some(403) => Some("forbid"),
        _ => None,
    };
    if let (Some(d), false) = (decision, m.contains_key("annotations")) {
        m.insert(
            "annotations".into(),
            json!({"authorization.k8s.io/decision": d, "authorization.k8s.io/reason": ""}),
        );
    }
    ev
}

fn time_of(ev: &Value) -> Option<DateTime<Utc>> {
    ev.get("requestReceivedTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Run every inline test of `rules` in a scratch lake under `scratch`.
pub async fn run(rules: &[Rule], scratch: &Path) -> Result<Vec<Outcome>> {
    let lake = scratch.join("lake");
    let inputs = scratch.join("inputs");
    std::fs::create_dir_all(&inputs).map_err(|source| RuleError::Io {
        path: inputs.display().to_string(),
        source,
    })?;
    let mut plan = Vec::new();
    for (ri, rule) in rules.iter().enumerate() {
        for (ti, test) in rule.tests.iter().enumerate() {
            let cluster = format!("t{ri}-{ti}");
            let mut lines = Vec::new();
            let mut window_times = Vec::new();
            for (i, ev) in test.history.iter().enumerate() {
                let at = base(HISTORY_START) + Duration::minutes(i as i64);
                lines.push(complete(ev, format!("{}-{ti}-h{i}", rule.id), at));
            }
            for (i, ev) in test.events.iter().enumerate() {
                let at = base(WINDOW_START) + Duration::seconds(i as i64);
                let e = complete(ev, format!("{}-{ti}-w{i}", rule.id), at);
                if let Some(t) = time_of(&e) {
                    window_times.push(t);
                }
                lines.push(e);
            }
            let file = inputs.join(format!("{cluster}.jsonl"));
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(&file, text).map_err(|source| RuleError::Io {
                path: file.display().to_string(),
                source,
            })?;
            let mut opts = ingest::IngestOptions::new(lake.clone(), vec![file]);
            opts.cluster = Some(cluster.clone());
            opts.threads = 1;
            let summary = ingest::ingest(&opts, &ingest::Progress::default())?;
            let since = window_times
                .iter()
                .min()
                .copied()
                .unwrap_or(base(WINDOW_START));
            let until = window_times.iter().max().copied().unwrap_or(since) + Duration::hours(1);
            plan.push((rule, test, cluster, since, until, summary.quarantined));
        }
    }
    let mut out = Vec::new();
    for (rule, test, cluster, since, until, quarantined) in plan {
        let scope = Scope {
            cluster: Some(cluster),
            since: None,
            until: None,
        };
        // as `detect` reads the lake (text as string views under the usual limits)
        let memory = query::memory::MemoryLimit::from_env().map_err(query::QueryError::from)?;
        let ctx = session::open_reading(
            &lake,
            &scope,
            memory,
            None,
            query::lake::TextColumns::for_rules(memory),
        )
        .await?;
        if !test.iocs.is_empty() {
            let list = query::ioc::IocList::parse(&test.iocs.join("\n"), &rule.origin)?;
            ctx.register_udf(query::ioc::udf(std::sync::Arc::new(list)));
        }
        let window = Window {
            since: Some(since),
            until: Some(until),
            baseline: Duration::days(30),
        };
        let (findings, error) = match run_rule(&ctx, rule, &window).await {
            Ok(f) => (f.len(), None),
            Err(e) => (0, Some(e.to_string())),
        };
        let error = error.or_else(|| {
            (quarantined > 0).then(|| format!("{quarantined} test event(s) did not ingest"))
        });
        let passed = error.is_none()
            && match test.expect {
                Expect::Fire => findings > 0 && test.findings.is_none_or(|n| n == findings),
                Expect::Quiet => findings == 0,
            };
        out.push(Outcome {
            rule_id: rule.id.clone(),
            test: test.name.clone(),
            expect: test.expect,
            expected_findings: test.findings,
            findings,
            passed,
            error,
        });
    }
    Ok(out)
}
