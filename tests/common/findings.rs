//! Findings compared across engines: `detect --format jsonl` against an exported pack's run
//! (tests/engines/run_pack.py) or another engine's `detect`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The audit IDs each rule found.
pub type ByRule = BTreeMap<String, BTreeSet<String>>;

/// The audit IDs by rule of `detect --format jsonl` output. A truncated finding fails the test:
/// its missing IDs would make any comparison meaningless.
pub fn by_rule(jsonl: &str) -> ByRule {
    let mut by_rule = ByRule::new();
    for line in jsonl.lines() {
        let f: Value = serde_json::from_str(line).expect("a finding per line");
        assert_eq!(f["truncated"], Value::Bool(false), "{line}");
        let ids = f["audit_ids"].as_array().expect("audit_ids");
        by_rule
            .entry(f["rule_id"].as_str().expect("rule_id").to_string())
            .or_default()
            .extend(ids.iter().map(|i| i.as_str().expect("text id").to_string()));
    }
    by_rule
}

/// The rule IDs an export's `index.json` lists under `key` (`exported` or `not_exported`).
pub fn rule_ids(index: &Value, key: &str) -> Vec<String> {
    index[key]
        .as_array()
        .unwrap_or_else(|| panic!("index.json has no {key} list"))
        .iter()
        .map(|e| e["rule_id"].as_str().expect("rule_id").to_string())
        .collect()
}

/// Fails the test unless `engine`'s run of the exported rules (`result["rules"][ID]`, with
/// `audit_ids` or `error`) found, rule by rule, the requests `detected` holds. Returns how many
/// of the exported rules fired.
pub fn assert_engine_finds_what_detect_finds(
    engine: &str,
    result: &Value,
    exported: &[String],
    detected: &ByRule,
) -> usize {
    let mut firing = 0;
    let mut wrong = Vec::new();
    for id in exported {
        let got = &result["rules"][id.as_str()];
        if let Some(e) = got.get("error") {
            wrong.push(format!("{id}: {engine} failed: {e}"));
            continue;
        }
        let Some(ids) = got["audit_ids"].as_array() else {
            wrong.push(format!("{id}: {engine} gave no audit_ids: {got}"));
            continue;
        };
        let got: BTreeSet<String> = ids
            .iter()
            .map(|v| v.as_str().expect("text audit_id").to_string())
            .collect();
        let want = detected.get(id).cloned().unwrap_or_default();
        firing += usize::from(!want.is_empty());
        if got != want {
            wrong.push(format!(
                "{id}: {engine} only {:?}, detect only {:?}",
                got.difference(&want).take(3).collect::<Vec<_>>(),
                want.difference(&got).take(3).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rules differ:\n{}",
        wrong.len(),
        exported.len(),
        wrong.join("\n")
    );
    firing
}
