//! Agreement with Falco's own k8saudit test cases: on every scored case where Falco fires, kubetrail
//! has a finding of the mapped category; where Falco stays quiet (or only its INFO inventory rules
//! fire), kubetrail raises nothing high or critical. Prints the agreement table.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

#[test]
fn kubetrail_agrees_with_falco_on_every_scored_test_case() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mapping: yaml_serde::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root.join("datasets/falco/falco-mapping.yaml")).expect("mapping"),
    )
    .expect("yaml");
    let excluded: BTreeSet<String> = mapping["excluded_tests"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|e| e["test"].as_str().map(str::to_owned))
        .collect();
    let category_of = |rule: &str| mapping["rules"][rule].as_str().map(str::to_owned);
    let cases: Vec<Value> = std::fs::read_to_string(public("falco-k8s-audit/expectations.jsonl"))
        .expect("expectations")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();

    // One lake, one cluster per trace file.
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let files: BTreeSet<String> = cases
        .iter()
        .filter_map(|c| c["trace_file"].as_str().map(str::to_owned))
        .collect();
    let cluster = |file: &str| {
        file.trim_start_matches("trace_files/")
            .trim_end_matches(".json")
            .replace('_', "-")
    };
    for f in &files {
        ingest(
            &lake,
            &[&public(&format!("falco-k8s-audit/{f}"))],
            &["--cluster", &cluster(f)],
        );
    }
    let out = stdout_of(
        kubetrail()
            .args(["detect", "--quiet", "--format", "jsonl", "--lake"])
            .arg(&lake),
    );
    let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in out.lines() {
        let f: Value = serde_json::from_str(line).expect("finding");
        found
            .entry(f["cluster"].as_str().expect("a string field").to_owned())
            .or_default()
            .push((
                f["category"].as_str().expect("a string field").to_owned(),
                f["severity"].as_str().expect("a string field").to_owned(),
            ));
    }

    let mut table = Vec::new();
    let mut disagreements = Vec::new();
    for case in &cases {
        let name = case["test_name"].as_str().expect("a string field");
        if excluded.contains(name) {
            table.push(format!("{name:<58} excluded"));
            continue;
        }
        let file = case["trace_file"].as_str().expect("a string field");
        let ours = found.get(&cluster(file)).cloned().unwrap_or_default();
        let ours_cats: BTreeSet<&str> = ours.iter().map(|(c, _)| c.as_str()).collect();
        let expected: BTreeSet<String> = case["detect_counts"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(rule, _)| category_of(rule))
            .filter(|c| c != "none")
            .collect();
        let falco_fires = case["detect"].as_bool() == Some(true) && !expected.is_empty();
        let agree = if falco_fires {
            expected.iter().all(|c| ours_cats.contains(c.as_str()))
        } else {
            !ours.iter().any(|(_, s)| s == "high" || s == "critical")
        };
        let row = format!(
            "{name:<58} falco={:<5} expected={:<40} kubetrail={:<50} {}",
            falco_fires,
            expected.iter().cloned().collect::<Vec<_>>().join(","),
            ours_cats.iter().copied().collect::<Vec<_>>().join(","),
            if agree { "agree" } else { "DISAGREE" }
        );
        if !agree {
            disagreements.push(row.clone());
        }
        table.push(row);
    }
    println!("{}", table.join("\n"));
    let scored = cases.len() - excluded.len();
    println!(
        "falco agreement: {} of {scored} scored cases agree, {} excluded",
        scored - disagreements.len(),
        excluded.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
