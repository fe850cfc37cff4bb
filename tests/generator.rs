//! The generator's output is what the ingester expects: every event becomes a row.

mod common;

use common::*;

#[test]
fn every_generated_event_ingests_with_nothing_quarantined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    let truth = dir.path().join("truth.jsonl");
    kubetrail()
        .args(["gen", "--events", "20000", "--seed", "7", "--out"])
        .arg(&log)
        .arg("--truth")
        .arg(&truth)
        .assert()
        .success();
    let lines = std::fs::read_to_string(&log).expect("log").lines().count() as i64;
    let s = ingest(&dir.path().join("lake"), &[&log], &[]);
    assert_eq!(s["quarantined"], 0, "{s}");
    assert_eq!(
        s["rows"].as_i64().unwrap_or(0) + s["duplicates"].as_i64().unwrap_or(0),
        lines,
        "{s}"
    );
    let malicious: Vec<serde_json::Value> = std::fs::read_to_string(&truth)
        .expect("truth")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert!(!malicious.is_empty());
    let lake = dir.path().join("lake");
    let id = malicious[0]["audit_id"].as_str().expect("a string field");
    assert!(
        count(
            &lake,
            &format!("SELECT count(*) FROM events WHERE audit_id = '{id}'")
        ) >= 1
    );
}

#[test]
fn the_same_arguments_generate_byte_identical_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a.log", "b.log"] {
        kubetrail()
            .args(["gen", "--events", "5000", "--seed", "3", "--out"])
            .arg(dir.path().join(name))
            .assert()
            .success();
    }
    assert_eq!(
        std::fs::read(dir.path().join("a.log")).expect("a"),
        std::fs::read(dir.path().join("b.log")).expect("b")
    );
}
