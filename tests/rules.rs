//! Every rule of the pack fires on its own positive events and stays quiet on its near misses,
//! through the real ingester (`kubetrail rules test`).

mod common;

use common::{kubetrail, stdout_of};

#[test]
fn every_rule_passes_its_inline_tests() {
    let stdout = stdout_of(kubetrail().args(["rules", "test"]));
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn rules_list_names_every_rule_with_a_known_category() {
    let out = kubetrail()
        .args(["rules", "list", "--format", "jsonl"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let rules: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(rules.len() >= 90, "{}", rules.len());
    let categories: std::collections::BTreeSet<_> = rules
        .iter()
        .filter_map(|r| r["category"].as_str())
        .collect();
    assert_eq!(
        categories.len(),
        14,
        "every category has rules: {categories:?}"
    );
}
