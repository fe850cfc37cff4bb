//! End-to-end tests of `kubetrail query`, `shell` and `schema`.

mod common;

use common::*;
use serde_json::Value;

fn demo_lake() -> tempfile::TempDir {
    let lake = tempfile::tempdir().expect("tempdir");
    ingest(
        lake.path(),
        &[&public("falco-k8s-audit/trace_files")],
        &["--cluster", "falco"],
    );
    ingest(
        lake.path(),
        &[&public("audit2rbac-demo/demo.log")],
        &["--cluster", "demo"],
    );
    lake
}

#[test]
fn every_output_format_renders_lists_and_maps() {
    let lake = demo_lake();
    let sql = "SELECT audit_id, user_groups, annotations, ts FROM events WHERE audit_id = 'ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6'";
    let run = |format: &str| {
        stdout_of(
            kubetrail()
                .args(["query", "--format", format, "--lake"])
                .arg(lake.path())
                .arg(sql),
        )
    };
    let csv = run("csv");
    assert!(
        csv.starts_with("audit_id,user_groups,annotations,ts\n"),
        "{csv}"
    );
    assert!(
        csv.contains(r#""[""system:masters"",""system:authenticated""]""#),
        "{csv}"
    );
    assert!(
        csv.contains(r#"""authorization.k8s.io/decision"":""allow"""#),
        "{csv}"
    );
    let json: Value = serde_json::from_str(&run("json")).expect("json array");
    assert_eq!(json[0]["user_groups"][0], "system:masters");
    assert_eq!(
        json[0]["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert_eq!(json[0]["ts"], "2018-10-26T13:38:34.867116Z");
    let jsonl = run("jsonl");
    assert_eq!(jsonl.lines().count(), 1);
    let table = run("table");
    assert!(
        table.contains("system:masters") && table.contains("audit_id"),
        "{table}"
    );
}

#[test]
fn cluster_and_time_flags_narrow_events_without_a_where_clause() {
    let lake = demo_lake();
    let n = |args: &[&str]| {
        stdout_of(
            kubetrail()
                .args(["query", "--format", "csv", "--lake"])
                .arg(lake.path())
                .args(args)
                .arg("SELECT count(*) AS n FROM events"),
        )
        .lines()
        .nth(1)
        .expect("a header and a count row")
        .to_string()
    };
    assert_eq!(n(&[]), "88");
    assert_eq!(n(&["--cluster", "demo"]), "37");
    assert_eq!(n(&["--since", "2017-01-01", "--until", "2018-01-01"]), "37");
    assert_eq!(n(&["--cluster", "falco", "--since", "2018-10-26T00:00:00Z", "--until", "2018-10-27"]), count(lake.path(), "SELECT count(*) FROM events WHERE cluster = 'falco' AND CAST(day AS VARCHAR) = '2018-10-26'").to_string());
}

#[test]
fn a_time_filter_reads_only_the_matching_day_partitions() {
    let lake = demo_lake();
    let plan = stdout_of(
        kubetrail()
            .args(["query", "--format", "csv", "--lake"])
            .arg(lake.path())
            .arg("EXPLAIN ANALYZE SELECT count(*) FROM events WHERE ts >= TIMESTAMP '2017-09-11T00:00:00Z' AND ts < TIMESTAMP '2017-09-12T00:00:00Z'"),
    );
    // Only the one file of day 2017-09-11 is scanned.
    assert!(plan.contains("day=2017-09-11"), "{plan}");
    assert!(!plan.contains("day=2018-"), "{plan}");
}

#[test]
fn statements_that_write_are_refused_with_a_clear_message() {
    let lake = demo_lake();
    for sql in [
        "COPY (SELECT 1) TO '/tmp/kubetrail-should-not-exist.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO events SELECT * FROM events",
    ] {
        let out = kubetrail()
            .args(["query", "--lake"])
            .arg(lake.path())
            .arg(sql)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("read-only"), "{sql}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/kubetrail-should-not-exist.csv").exists());
}

#[test]
fn an_unknown_column_error_names_the_near_match() {
    let lake = demo_lake();
    let out = kubetrail()
        .args(["query", "--lake"])
        .arg(lake.path())
        .arg("SELECT usernme FROM events")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("usernme") && err.contains("username"), "{err}");
}

#[test]
fn json_functions_and_map_access_work_on_bodies_and_annotations() {
    let lake = demo_lake();
    let rows = query(
        lake.path(),
        "SELECT json_get_str(request_object, 'roleRef', 'name') AS role, role_ref_name, annotations['authorization.k8s.io/decision'] AS d FROM events WHERE resource = 'clusterrolebindings' AND verb = 'create' LIMIT 1",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["role"], rows[0]["role_ref_name"]);
    assert_eq!(rows[0]["d"], "allow");
}

#[test]
fn the_shell_runs_multi_line_statements_and_dot_commands_from_stdin() {
    let lake = demo_lake();
    let out = kubetrail()
        .args(["shell", "--lake"])
        .arg(lake.path())
        .write_stdin(".schema username\nSELECT count(*)\n  AS n FROM events\n  WHERE cluster = 'demo';\n.window 2017-09-11 2017-09-12 7d\nSELECT count(*) AS w FROM events_window;\n.format csv\nSELECT 1 AS one;\n.quit\n")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("username") && stdout.contains("user.username"),
        "{stdout}"
    );
    assert!(stdout.contains("37"), "{stdout}");
    assert!(stdout.contains("one\n1\n"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("row(s) in"),
        "timing is printed"
    );
}

#[test]
fn schema_lists_every_column_with_its_meaning() {
    let out = kubetrail()
        .args(["schema", "--format", "json"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = doc["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for required in [
        "ts",
        "audit_id",
        "username",
        "source_ip",
        "peer_ip",
        "user_extra",
        "request_object",
        "source_line",
        "cluster",
        "day",
    ] {
        assert!(names.contains(&required), "{required}");
    }
    assert!(doc["columns"].as_array().into_iter().flatten().all(|c| {
        !c["description"]
            .as_str()
            .expect("a string field")
            .is_empty()
    }));
}

#[test]
fn a_filter_on_a_list_column_inside_an_or_is_applied() {
    // DataFusion 55 drops such predicates when pushed into the Parquet scan; kubetrail keeps
    // them in a filter above the scan.
    let lake = demo_lake();
    let n = count(
        lake.path(),
        "SELECT count(*) FROM events WHERE (pod_node_name IS NOT NULL OR regexp_like(array_to_string(user_groups, '|'), 'no-such-group'))",
    );
    assert_eq!(n, 0);
    let all = count(
        lake.path(),
        "SELECT count(*) FROM events WHERE (pod_node_name IS NOT NULL OR regexp_like(array_to_string(user_groups, '|'), 'system:'))",
    );
    assert!(all > 0);
}

/// A request by `user` (in `groups`) to `uri` at second `second` of 2026-01-05 10:00, allowed.
fn request(id: &str, second: u32, user: &str, groups: &[&str], uri: &str) -> String {
    let groups = serde_json::to_string(groups).expect("groups");
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"{uri}","verb":"list","user":{{"username":"{user}","groups":{groups}}},"sourceIPs":["203.0.113.9"],"userAgent":"curl/8.5.0","objectRef":{{"resource":"secrets","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-01-05T10:00:{second:02}.000000Z","stageTimestamp":"2026-01-05T10:00:{second:02}.100000Z","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}}}"#
    )
}

/// One request of each kind but cloud-managed, the anonymous one allowed to list secrets.
fn requests_of_every_kind(prefix: &str) -> String {
    [
        ("alice", vec!["system:authenticated"]),
        (
            "system:serviceaccount:web:frontend",
            vec!["system:serviceaccounts", "system:authenticated"],
        ),
        ("system:node:worker-1", vec!["system:nodes"]),
        (
            "system:kube-controller-manager",
            vec!["system:authenticated"],
        ),
        ("system:anonymous", vec!["system:unauthenticated"]),
    ]
    .iter()
    .enumerate()
    .map(|(i, (user, groups))| {
        request(
            &format!("{prefix}-{i}"),
            i as u32,
            user,
            groups,
            "/api/v1/secrets",
        ) + "\n"
    })
    .collect()
}

#[test]
fn files_written_before_actor_kind_get_it_at_query_time_and_rules_see_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let (old_log, new_log) = (dir.path().join("old.log"), dir.path().join("new.log"));
    std::fs::write(&old_log, requests_of_every_kind("old")).expect("write");
    std::fs::write(&new_log, requests_of_every_kind("new")).expect("write");
    ingest(&lake, &[&old_log], &["--cluster", "old"]);
    assert!(
        common::rewrite_as_schema_1_1(&lake, "old") > 0,
        "no file to rewrite"
    );
    // the lake now mixes 1.1 files (old) with the 1.2 files this ingest writes (new)
    ingest(&lake, &[&new_log], &["--cluster", "new"]);

    let kinds = |cluster: &str| -> Vec<String> {
        query(
            &lake,
            &format!(
                "SELECT username || ' ' || actor_kind AS k FROM events WHERE \"cluster\" = '{cluster}' ORDER BY ts"
            ),
        )
        .iter()
        .map(|r| r["k"].as_str().expect("username and actor_kind").to_string())
        .collect()
    };
    let want = [
        "alice person",
        "system:serviceaccount:web:frontend service-account",
        "system:node:worker-1 node",
        "system:kube-controller-manager control-plane",
        "system:anonymous anonymous",
    ];
    assert_eq!(kinds("old"), want, "computed for the 1.1 files");
    assert_eq!(kinds("new"), want, "stored by ingest");
    // also beside a map field read (DataFusion's leaf-expression pushdown dropped the view's
    // computation then, apache/datafusion#25414)
    let listed = query(
        &lake,
        "SELECT \"cluster\", actor_kind, object_labels['app'] AS app FROM events WHERE verb IS NOT NULL",
    );
    assert!(listed.iter().any(|r| r["cluster"] == "old"), "{listed:?}");
    assert!(
        listed.iter().all(|r| r["actor_kind"].is_string()),
        "{listed:?}"
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) AS n FROM events WHERE actor_kind IS NULL"
        ),
        0
    );
    // the column is declared non-null, as `kubetrail schema` documents it
    let described = query(
        &lake,
        "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'actor_kind'",
    );
    assert_eq!(described.len(), 1, "{described:?}");
    assert_eq!(described[0]["is_nullable"], "NO");

    // a rule that selects on the column finds the anonymous request in both kinds of file
    let out = stdout_of(
        kubetrail()
            .args(["detect", "--quiet", "--format", "jsonl", "--lake"])
            .arg(&lake),
    );
    let mut anonymous: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("finding"))
        .filter(|f| f["rule_id"] == "anonymous-request-allowed")
        .map(|f| f["cluster"].as_str().expect("cluster").to_string())
        .collect();
    anonymous.sort();
    assert_eq!(anonymous, ["new", "old"], "{out}");
}
