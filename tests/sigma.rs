//! `kubetrail detect --sigma` and `kubetrail rules sigma-sql` through the binary, with Sigma
//! rules written for this test (SigmaHQ's own rules are not in this repository: DRL licence).

mod common;

use std::path::Path;

use common::{event, kubetrail, stdout_of};
use serde_json::Value;

const EXEC_ID: &str = "0b9e1c5e-7a43-4e43-9d8e-3c1f5f1d2a01";
const UNKNOWN_ID: &str = "6f2d4a8c-1e3b-4b6a-8f0e-9a7c5d3e2b10";

const EXEC_RULE: &str = "title: Exec into a pod by a person
id: 0b9e1c5e-7a43-4e43-9d8e-3c1f5f1d2a01
status: test
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb: create
        objectRef.resource: pods
        objectRef.subresource: exec
    filter_system:
        user.username|startswith: 'system:'
    condition: selection and not filter_system
level: high
tags:
    - attack.execution
    - attack.t1609
";

const UNKNOWN_FIELD_RULE: &str = "title: Misspelt field
id: 6f2d4a8c-1e3b-4b6a-8f0e-9a7c5d3e2b10
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        objectRef.resourse: secrets
    condition: selection
level: low
";

const WINDOWS_RULE: &str = "title: Not for audit logs
id: 9d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\cmd.exe'
    condition: selection
level: medium
";

fn exec_event(id: &str, second: u32, user: &str) -> String {
    event(id, second, user)
        .replace("\"verb\":\"list\"", "\"verb\":\"create\"")
        .replace(
            "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\",",
            "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"default\",\"name\":\"web-1\",\"subresource\":\"exec\",",
        )
}

/// A lake with two person execs, one system exec and a list; Sigma rules in `dir/sigma`.
fn setup(dir: &Path) -> std::path::PathBuf {
    let lines = [
        exec_event("x1", 1, "mallory"),
        exec_event("x2", 2, "bob"),
        exec_event("x3", 3, "system:serviceaccount:ci:runner"),
        event("l1", 4, "alice"),
    ]
    .join("\n")
        + "\n";
    let log = dir.join("audit.log");
    std::fs::write(&log, lines).expect("write log");
    let lake = dir.join("lake");
    common::ingest(&lake, &[log.as_path()], &[]);
    let rules = dir.join("sigma/k8s");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(rules.join("exec.yml"), EXEC_RULE).expect("write");
    std::fs::write(rules.join("unknown.yaml"), UNKNOWN_FIELD_RULE).expect("write");
    std::fs::write(dir.join("sigma/windows.yml"), WINDOWS_RULE).expect("write");
    std::fs::write(dir.join("sigma/README.md"), "not a rule").expect("write");
    lake
}

#[test]
fn detect_runs_sigma_rules_alone_and_lists_the_ones_it_could_not_load() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lake = setup(tmp.path());
    let out = kubetrail()
        .args(["detect", "--no-builtin", "--format", "jsonl", "--lake"])
        .arg(&lake)
        .arg("--sigma")
        .arg(tmp.path().join("sigma"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let findings: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one finding per line"))
        .collect();
    let users: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["username"].as_str())
        .collect();
    assert_eq!(users, ["mallory", "bob"], "{findings:?}");
    let f = &findings[0];
    assert_eq!(f["rule_id"], EXEC_ID);
    assert_eq!(f["title"], "Exec into a pod by a person");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["category"], "exec-into-pod");
    assert_eq!(f["mitre"], serde_json::json!(["T1609"]));
    assert_eq!(f["audit_ids"], serde_json::json!(["x1"]));

    let unknown = stderr
        .lines()
        .find(|l| l.contains(UNKNOWN_ID))
        .unwrap_or_else(|| panic!("the misspelt rule is reported: {stderr}"));
    assert!(
        unknown.starts_with(&format!("sigma: not loaded: {UNKNOWN_ID} (")),
        "{unknown}"
    );
    assert!(
        unknown.contains("unknown.yaml): unknown field \"objectRef.resourse\""),
        "{unknown}"
    );
    assert!(unknown.contains("objectRef.resource"), "{unknown}");
    assert!(
        stderr.contains("sigma: not loaded: 9d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6 (")
            && stderr.contains("is not Kubernetes audit"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(EXEC_ID),
        "no stderr line names a loaded rule: {stderr}"
    );
}

#[test]
fn sigma_rules_run_next_to_the_pack_and_set_the_exit_code() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lake = setup(tmp.path());
    let out = kubetrail()
        .args(["detect", "--format", "json", "--fail-on", "high", "--lake"])
        .arg(&lake)
        .arg("--sigma")
        .arg(tmp.path().join("sigma/k8s/exec.yml"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let builtin = stdout_of(kubetrail().args(["rules", "list", "--format", "jsonl"]))
        .lines()
        .count();
    assert_eq!(report["rules_run"], builtin + 1);
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert!(ids.contains(&EXEC_ID), "{ids:?}");
    assert!(
        ids.iter().any(|i| *i != EXEC_ID),
        "the pack ran too: {ids:?}"
    );
}

#[test]
fn rules_sigma_sql_prints_the_compiled_query() {
    let tmp = tempfile::tempdir().expect("tempdir");
    setup(tmp.path());
    let sql = stdout_of(
        kubetrail()
            .args(["rules", "sigma-sql"])
            .arg(tmp.path().join("sigma/k8s/exec.yml")),
    );
    assert!(
        sql.starts_with(&format!("-- {EXEC_ID}: Exec into a pod by a person\n")),
        "{sql}"
    );
    assert!(sql.contains("FROM events_window"), "{sql}");
    assert!(
        sql.contains("coalesce(lower(subresource) = 'exec', false)"),
        "{sql}"
    );
    assert!(
        sql.contains("NOT coalesce(lower(username) LIKE 'system:%', false)"),
        "{sql}"
    );

    let out = kubetrail()
        .args(["rules", "sigma-sql"])
        .arg(tmp.path().join("sigma/k8s/unknown.yaml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown field \"objectRef.resourse\""),
        "{stderr}"
    );
}
