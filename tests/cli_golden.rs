//! Golden files of what the CLI prints: stdout, stderr and exit code of every command in every
//! output format, on a small lake built here from a few Falco trace files (Apache-2.0, see
//! datasets/public/SOURCES.md). Times, durations, run ids and hashes that change per run are masked.
//!
//! The snapshots live in `tests/snapshots/`. After an intended change of output, review and accept
//! the new ones with `cargo insta review` (cargo-insta), or `INSTA_UPDATE=always cargo test --test
//! cli_golden` and `git diff tests/snapshots`. Under CI (`CI=true`) insta never writes snapshots and
//! a difference fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use insta_cmd::{assert_cmd_snapshot, get_cargo_bin};

/// Falco trace files that make a lake with findings of several severities and categories.
const TRACES: &[&str] = &[
    "anonymous_creates_namespace_foo.json",
    "attach_pod.json",
    "create_cluster_role_wildcard_verbs.json",
    "create_clusterrolebinding.json",
    "create_secret.json",
    "exec_pod.json",
    "create_nginx_pod_privileged.json",
    "attach_cluster_admin_role.json",
    "create_configmap_sensitive_values.json",
];

/// The malformed Falco file (`{"kind": 0}`), for quarantine and `--strict`.
const MALFORMED: &str = "fal_01_003.json";

fn trace(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/public/falco-k8s-audit/trace_files")
        .join(name)
}

/// A folder with `in/` (the traces) where every command runs, so the paths it prints are
/// relative and the same on every machine.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    for name in TRACES {
        std::fs::copy(trace(name), input.join(name)).expect("copy trace");
    }
    dir
}

/// `kubetrail` run in `dir`, with nothing from the environment changing its output.
fn cli(dir: &Path) -> Command {
    let mut cmd = Command::new(get_cargo_bin("kubetrail"));
    cmd.current_dir(dir)
        .env_remove("KUBETRAIL_LAKE")
        .env_remove("COLUMNS")
        .env("TZ", "UTC");
    cmd
}

/// A work folder with the traces ingested into `lake` (cluster `golden`).
fn lake() -> tempfile::TempDir {
    let dir = workdir();
    let out = cli(dir.path())
        .args([
            "ingest",
            "--lake",
            "lake",
            "--cluster",
            "golden",
            "-q",
            "in",
        ])
        .output()
        .expect("run ingest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Masks for what changes from run to run.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    for (re, with) in [
        // ingest: "0.1 s, 1234 events/s", run ids in quarantine file names
        (r"\d+\.\d s, \d+ events/s", "[SECS] s, [RATE] events/s"),
        (r"\d{8}T\d{6}Z-[0-9a-f]{6}", "[RUN]"),
        (r#""seconds": [0-9.e-]+"#, r#""seconds": [SECS]"#),
        (
            r#""events_per_second": [0-9.e+-]+"#,
            r#""events_per_second": [RATE]"#,
        ),
        // query --timer and the shell: "3 row(s) in 0.012 s"
        (r"row\(s\) in \d+\.\d+ s", "row(s) in [SECS] s"),
        // detect --format json
        (r#""generated_at": "[^"]+""#, r#""generated_at": "[TIME]""#),
        (
            r#""state_fingerprint": "[^"]+""#,
            r#""state_fingerprint": "[HASH]""#,
        ),
        (
            r#""rule_pack_version": "[^"]+""#,
            r#""rule_pack_version": "[PACK]""#,
        ),
        (
            r#""tool_version": "[^"]+""#,
            r#""tool_version": "[VERSION]""#,
        ),
    ] {
        s.add_filter(re, with);
    }
    s
}

#[test]
fn schema_in_every_format() {
    let dir = workdir();
    let _g = settings().bind_to_scope();
    assert_cmd_snapshot!("schema_table", cli(dir.path()).args(["schema"]));
    assert_cmd_snapshot!("schema_csv", cli(dir.path()).args(["schema", "-f", "csv"]));
    assert_cmd_snapshot!(
        "schema_json",
        cli(dir.path()).args(["schema", "-f", "json"])
    );
    assert_cmd_snapshot!(
        "schema_jsonl",
        cli(dir.path()).args(["schema", "-f", "jsonl"])
    );
}

#[test]
fn rules_list_show_and_unknown_ids() {
    let dir = workdir();
    let _g = settings().bind_to_scope();
    for f in ["table", "csv", "json", "jsonl"] {
        assert_cmd_snapshot!(
            format!("rules_list_{f}"),
            cli(dir.path()).args(["rules", "list", "--format", f])
        );
    }
    assert_cmd_snapshot!(
        "rules_show",
        cli(dir.path()).args(["rules", "show", "binding-to-privileged-role"])
    );
    assert_cmd_snapshot!(
        "rules_show_unknown",
        cli(dir.path()).args(["rules", "show", "no-such-rule"])
    );
    assert_cmd_snapshot!(
        "rules_test_unknown",
        cli(dir.path()).args(["rules", "test", "--rule", "no-such-rule"])
    );
    assert_cmd_snapshot!(
        "rules_test_one",
        cli(dir.path()).args(["rules", "test", "--rule", "binding-to-privileged-role"])
    );
}

#[test]
fn rules_export_lists_what_it_left_out() {
    let dir = workdir();
    let _g = settings().bind_to_scope();
    assert_cmd_snapshot!(
        "rules_export_trino",
        cli(dir.path()).args([
            "rules",
            "export",
            "--dialect",
            "trino",
            "--table",
            "hive.audit.events",
            "--out",
            "pack"
        ])
    );
    assert_cmd_snapshot!(
        "rules_export_trino_lake",
        cli(dir.path()).args(["rules", "export", "--dialect", "trino", "--lake", "in"])
    );
    assert_cmd_snapshot!(
        "rules_export_no_lake",
        cli(dir.path()).args([
            "rules",
            "export",
            "--dialect",
            "duckdb",
            "--lake",
            "nowhere"
        ])
    );
}

const QUERY: &str = "SELECT ts, \"cluster\", username, verb, resource, namespace, name, status_code, user_groups, annotations['authorization.k8s.io/decision'] AS decision FROM events ORDER BY ts, audit_id";

#[test]
fn query_in_every_format_and_its_errors() {
    let dir = lake();
    let _g = settings().bind_to_scope();
    for f in ["table", "csv", "json", "jsonl"] {
        assert_cmd_snapshot!(
            format!("query_{f}"),
            cli(dir.path()).args(["query", "--lake", "lake", "--format", f, QUERY])
        );
    }
    assert_cmd_snapshot!(
        "query_empty_json",
        cli(dir.path()).args([
            "query",
            "--lake",
            "lake",
            "-f",
            "json",
            "SELECT verb FROM events WHERE false"
        ])
    );
    assert_cmd_snapshot!(
        "query_timer_and_scope",
        cli(dir.path()).args([
            "query",
            "--lake",
            "lake",
            "--timer",
            "--cluster",
            "golden",
            "--since",
            "2018-10-26",
            "--until",
            "2018-10-27",
            "-f",
            "csv",
            "SELECT count(*) AS n FROM events"
        ])
    );
    assert_cmd_snapshot!(
        "query_unknown_column",
        cli(dir.path()).args(["query", "--lake", "lake", "SELECT usernme FROM events"])
    );
    assert_cmd_snapshot!(
        "query_read_only",
        cli(dir.path()).args(["query", "--lake", "lake", "DROP VIEW events"])
    );
    assert_cmd_snapshot!(
        "query_no_lake",
        cli(dir.path()).args(["query", "--lake", "missing", "SELECT 1"])
    );
}

#[test]
fn shell_reads_statements_and_dot_commands_from_stdin() {
    let dir = lake();
    let _g = settings().bind_to_scope();
    assert_cmd_snapshot!(
        "shell_script",
        cli(dir.path()).args(["shell", "--lake", "lake"]).pass_stdin(
            ".format csv\nSELECT verb, count(*) AS n\n  FROM events GROUP BY verb ORDER BY verb;\n.tables\n.nope\nSELECT nope FROM events;\n.quit\n"
        )
    );
}

/// Two rules that fire on the traces and one that does not: small enough to read.
const RULES: &[&str] = &[
    "--rule",
    "binding-to-privileged-role",
    "--rule",
    "anonymous-write-allowed",
    "--rule",
    "pod-privileged",
];

fn detect(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = cli(dir);
    cmd.args(["detect", "--lake", "lake", "-q"]).args(extra);
    cmd
}

#[test]
fn detect_in_every_format() {
    let dir = lake();
    let _g = settings().bind_to_scope();
    for f in ["table", "csv", "json", "jsonl"] {
        let mut args = RULES.to_vec();
        args.extend(["--format", f]);
        assert_cmd_snapshot!(format!("detect_{f}"), detect(dir.path(), &args));
    }
}

#[test]
fn detect_filters_exit_codes_and_errors() {
    let dir = lake();
    let _g = settings().bind_to_scope();
    // The whole pack over the lake: which rules fire, one line each.
    assert_cmd_snapshot!("detect_all_csv", detect(dir.path(), &["-f", "csv"]));
    // Two rules at a time by default: one, or eight, find the same.
    let csv = |jobs: &str| {
        let out = detect(dir.path(), &["-f", "csv", "--jobs", jobs])
            .output()
            .expect("run detect");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let one = csv("1");
    assert!(one.lines().count() > 10, "the pack finds something: {one}");
    assert_eq!(one, csv("2"));
    assert_eq!(one, csv("8"));
    assert_cmd_snapshot!(
        "detect_fail_on_high",
        detect(dir.path(), &["-f", "csv", "--fail-on", "high"])
    );
    assert_cmd_snapshot!(
        "detect_fail_on_high_not_reached",
        detect(
            dir.path(),
            &[
                "-f",
                "csv",
                "--category",
                "exec-into-pod",
                "--fail-on",
                "high"
            ]
        )
    );
    assert_cmd_snapshot!(
        "detect_min_severity_high",
        detect(dir.path(), &["-f", "csv", "--min-severity", "high"])
    );
    assert_cmd_snapshot!(
        "detect_category",
        detect(
            dir.path(),
            &[
                "-f",
                "csv",
                "--category",
                "rbac-escalation",
                "--category",
                "anonymous-access"
            ]
        )
    );
    assert_cmd_snapshot!(
        "detect_rule",
        detect(
            dir.path(),
            &["-f", "csv", "--rule", "binding-to-privileged-role"]
        )
    );
    std::fs::write(
        dir.path().join("allow.yaml"),
        "- rule: binding-to-privileged-role\n  username: \"minikube-user\"\n  reason: the test cluster's admin\n",
    )
    .expect("write allow-list");
    // Without -q, so the note about suppressed findings shows on stderr.
    assert_cmd_snapshot!(
        "detect_allowlist",
        cli(dir.path()).args([
            "detect",
            "--lake",
            "lake",
            "-f",
            "csv",
            "--rule",
            "binding-to-privileged-role",
            "--allowlist",
            "allow.yaml"
        ])
    );
    assert_cmd_snapshot!(
        "detect_unknown_rule",
        detect(dir.path(), &["--rule", "no-such-rule"])
    );
    assert_cmd_snapshot!(
        "detect_unknown_category",
        detect(dir.path(), &["--category", "no-such-category"])
    );
}

#[test]
fn ingest_summary_json_strict_and_rerun() {
    let dir = workdir();
    let _g = settings().bind_to_scope();
    assert_cmd_snapshot!(
        "ingest_summary",
        cli(dir.path()).args(["ingest", "--lake", "lake", "--cluster", "golden", "in"])
    );
    assert_cmd_snapshot!(
        "ingest_again_skips",
        cli(dir.path()).args(["ingest", "--lake", "lake", "--cluster", "golden", "in"])
    );
    std::fs::copy(trace(MALFORMED), dir.path().join(MALFORMED)).expect("copy");
    assert_cmd_snapshot!(
        "ingest_json_quarantine",
        cli(dir.path()).args(["ingest", "--lake", "lake2", "--json", "in", MALFORMED])
    );
    assert_cmd_snapshot!(
        "ingest_strict",
        cli(dir.path()).args(["ingest", "--lake", "lake3", "--strict", MALFORMED])
    );
    assert_cmd_snapshot!(
        "ingest_missing_input",
        cli(dir.path()).args(["ingest", "--lake", "lake4", "no-such-file.log"])
    );
}

#[test]
fn compact_prints_files_and_bytes_in_and_out() {
    // One ingest per trace: several small files in each partition.
    let dir = workdir();
    for name in TRACES {
        let out = cli(dir.path())
            .args(["ingest", "--lake", "lake", "--cluster", "golden", "-q"])
            .arg(Path::new("in").join(name))
            .output()
            .expect("run ingest");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut s = settings();
    s.add_filter(
        r"nothing to merge; \d+\.\d+ s",
        "nothing to merge; [SECS] s",
    );
    let _g = s.bind_to_scope();
    assert_cmd_snapshot!(
        "compact_day",
        cli(dir.path()).args(["compact", "--lake", "lake", "--day", "2018-10-26"])
    );
    assert_cmd_snapshot!(
        "compact_json",
        cli(dir.path()).args(["compact", "--lake", "lake", "--json"])
    );
    assert_cmd_snapshot!(
        "compact_again_has_nothing_to_do",
        cli(dir.path()).args(["compact", "--lake", "lake"])
    );
    assert_cmd_snapshot!(
        "compact_bad_day",
        cli(dir.path()).args(["compact", "--lake", "lake", "--day", "26/10/2018"])
    );
    assert_cmd_snapshot!(
        "compact_no_lake",
        cli(dir.path()).args(["compact", "--lake", "nowhere"])
    );
}
