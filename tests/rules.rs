//! Every rule of the pack fires on its own positive events and stays quiet on its near misses,
//! through the real ingester (`kubetrail rules test`).

mod common;

use common::{kubetrail, stdout_of};

/// The rules as `rules list --format jsonl` prints them.
fn rules() -> Vec<serde_json::Value> {
    stdout_of(kubetrail().args(["rules", "list", "--format", "jsonl"]))
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

/// The numbers of the closing line `rules test: R rules, T tests: P passed, F failed`.
fn closing_line(stdout: &str) -> [usize; 4] {
    let last = stdout
        .lines()
        .last()
        .expect("rules test prints a closing line");
    let numbers: Vec<usize> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [r, t, p, f] => [r, t, p, f],
        _ => panic!("no closing line with four numbers: {last:?}"),
    }
}

#[test]
fn every_rule_passes_its_inline_tests() {
    let pack = rules();
    let declared: usize = pack
        .iter()
        .map(|r| r["tests"].as_u64().expect("tests count") as usize)
        .sum();
    assert!(
        declared >= pack.len(),
        "every rule declares tests: {declared}"
    );
    let stdout = stdout_of(kubetrail().args(["rules", "test"]));
    let [rules_run, tests_run, passed, failed] = closing_line(&stdout);
    assert_eq!(rules_run, pack.len(), "{stdout}");
    assert_eq!(tests_run, declared, "every declared test ran: {stdout}");
    assert_eq!((passed, failed), (declared, 0), "{stdout}");
}

#[test]
fn rules_test_runs_only_the_rules_named() {
    let one = rules()
        .into_iter()
        .find(|r| r["id"] == "pod-privileged")
        .expect("pod-privileged is in the pack");
    let stdout = stdout_of(kubetrail().args(["rules", "test", "--rule", "pod-privileged"]));
    let declared = one["tests"].as_u64().expect("tests") as usize;
    assert!(declared > 0);
    assert_eq!(
        closing_line(&stdout),
        [1, declared, declared, 0],
        "{stdout}"
    );
}

#[test]
fn rules_test_no_builtin_tests_an_edited_copy_of_a_pack_rule_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pack = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/pack");
    let copy = dir.path().join("pod-privileged.yaml");
    std::fs::copy(pack.join("privileged-workload/pod-privileged.yaml"), &copy)
        .expect("copy the rule");
    // Next to the pack, the copy's id is taken.
    let out = kubetrail()
        .args(["rules", "test", "--rules"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule pod-privileged is defined twice"),
        "{err}"
    );
    // Alone, it is the only rule tested.
    let stdout = stdout_of(
        kubetrail()
            .args(["rules", "test", "--no-builtin", "--rules"])
            .arg(dir.path()),
    );
    let [rules_run, tests_run, passed, failed] = closing_line(&stdout);
    assert_eq!((rules_run, failed), (1, 0), "{stdout}");
    assert!(tests_run >= 2 && passed == tests_run, "{stdout}");
}

#[test]
fn rules_test_with_an_unknown_rule_is_an_error_naming_it() {
    let out = kubetrail()
        .args([
            "rules",
            "test",
            "--rule",
            "pod-privileged",
            "--rule",
            "no-such-rule",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no rule with id no-such-rule"), "{err}");
    assert!(out.stdout.is_empty(), "no test ran");
}

#[test]
fn rules_list_names_every_rule_with_a_known_category() {
    let rules = rules();
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

#[test]
fn rules_list_csv_and_json_hold_the_same_rules() {
    let jsonl = rules();
    let json: Vec<serde_json::Value> = serde_json::from_str(&stdout_of(
        kubetrail().args(["rules", "list", "-f", "json"]),
    ))
    .expect("one JSON array");
    assert_eq!(json, jsonl);
    let csv = stdout_of(kubetrail().args(["rules", "list", "-f", "csv"]));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,category,severity,level,baseline,mitre,tests,title")
    );
    let ids: Vec<&str> = lines
        .map(|l| l.split(',').next().expect("split yields a first field"))
        .collect();
    let json_ids: Vec<&str> = json.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, json_ids);
}

#[test]
fn the_readme_shows_rules_that_exist() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let shown: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.split("kubetrail rules show ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(!shown.is_empty(), "the README shows `rules show`");
    for id in shown {
        stdout_of(kubetrail().args(["rules", "show", id]));
    }
}

/// A rule file that `rules list --rules DIR` must refuse, with the file, the part and the reason.
fn refused(yaml: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken-rule.yaml");
    std::fs::write(&file, yaml).expect("write rule");
    let out = kubetrail()
        .args(["rules", "list", "--rules"])
        .arg(dir.path())
        .output()
        .expect("run kubetrail");
    assert!(!out.status.success(), "a broken rule must not load");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains(&format!("{}: ", file.display())),
        "names the file: {stderr}"
    );
    stderr
}

const RULE_HEAD: &str = "id: broken-rule\ntitle: t\ncategory: secret-access\nseverity: low\n\
level: Metadata\ndescription: d\nsummary: s\n";
const RULE_TESTS: &str = "tests:\n- {name: f, expect: fire, events: []}\n\
- {name: q, expect: quiet, events: []}\n";

#[test]
fn a_rule_reading_a_column_the_schema_lacks_is_refused_at_load() {
    let stderr = refused(&format!(
        "{RULE_HEAD}resources: [secrets]\nsql: |\n  SELECT ts, audit_id, \"cluster\", username, source_ip, user_agent, namespace, resource, name, verb\n  FROM events_window WHERE resource = 'secrets' AND secret_value = 'x'\n{RULE_TESTS}"
    ));
    assert!(stderr.contains(": sql: "), "{stderr}");
    assert!(stderr.contains("secret_value"), "{stderr}");
}

#[test]
fn a_finding_count_on_a_quiet_test_is_refused_at_load() {
    let sql = "resources: [secrets]\nsql: |\n  SELECT ts, audit_id, \"cluster\", username, source_ip, user_agent, namespace, resource, name, verb\n  FROM events_window WHERE resource = 'secrets'\n";
    let stderr = refused(&format!(
        "{RULE_HEAD}{sql}tests:\n- {{name: f, expect: fire, events: []}}\n\
         - {{name: q, expect: quiet, findings: 2, events: []}}\n"
    ));
    assert!(
        stderr.contains("test \"q\": findings: is for tests that must fire"),
        "{stderr}"
    );
}

#[test]
fn a_rule_missing_finding_columns_is_refused_at_load() {
    let stderr = refused(&format!(
        "{RULE_HEAD}resources: [secrets]\nsql: |\n  SELECT ts, username FROM events_window WHERE resource = 'secrets'\n{RULE_TESTS}"
    ));
    assert!(
        stderr.contains(": sql: returns no column audit_id"),
        "{stderr}"
    );
}

#[test]
fn a_rule_whose_resources_do_not_match_its_sql_is_refused_at_load() {
    let stderr = refused(&format!(
        "{RULE_HEAD}resources: [configmaps]\nsql: |\n  SELECT ts, audit_id, \"cluster\", username, source_ip, user_agent, namespace, resource, name, verb\n  FROM events_window WHERE resource IN ('secrets', 'configmaps')\n{RULE_TESTS}"
    ));
    assert!(
        stderr.contains(
            ": resources: the SQL reads configmaps, secrets but resources: does not list secrets"
        ),
        "{stderr}"
    );
}
