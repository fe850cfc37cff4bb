//! End-to-end tests of `kubetrail ingest`: real public samples, every bad-input case, re-ingest,
//! crash and rerun, and redaction.

mod common;

use std::io::Write;

use common::*;
use serde_json::Value;

#[test]
fn falco_trace_files_ingest_with_their_event_counts_and_the_malformed_one_is_quarantined() {
    let lake = tempfile::tempdir().expect("tempdir");
    let s = ingest(lake.path(), &[&public("falco-k8s-audit/trace_files")], &[]);
    assert_eq!(s["rows"], 51, "{s}");
    assert_eq!(s["quarantined"], 1, "{s}");
    assert_eq!(s["files"], 47);

    let counts: Value = serde_json::from_str(
        &std::fs::read_to_string(public("falco-k8s-audit/event_counts.json")).expect("counts"),
    )
    .expect("json");
    let rows = query(
        lake.path(),
        "SELECT regexp_replace(source_file, '^.*/', '') AS f, count(*) AS n FROM events GROUP BY 1",
    );
    for row in &rows {
        let file = row["f"].as_str().expect("a string field");
        assert_eq!(row["n"], counts[file], "{file}");
    }
    assert_eq!(rows.len(), 46, "every well-formed trace file has rows");

    let q = quarantine(lake.path());
    assert_eq!(q.len(), 1);
    assert!(
        q[0]["source_file"]
            .as_str()
            .expect("a string field")
            .ends_with("fal_01_003.json")
    );
    assert_eq!(q[0]["line"], 1);
    assert_eq!(q[0]["raw"], r#"{"kind": 0}"#);
    assert!(
        q[0]["reason"]
            .as_str()
            .expect("a string field")
            .contains("not an audit event"),
        "{}",
        q[0]
    );
}

#[test]
fn falco_exec_event_keeps_its_fields_and_decodes_the_command() {
    let lake = tempfile::tempdir().expect("tempdir");
    ingest(
        lake.path(),
        &[&public("falco-k8s-audit/trace_files/exec_pod.json")],
        &[],
    );
    let rows = query(
        lake.path(),
        "SELECT ts, stage_ts, latency_us, stage, username, subresource, exec_command, exec_container, status_code, decision, cluster, CAST(day AS VARCHAR) AS day FROM events",
    );
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["ts"], "2018-10-26T13:38:34.867116Z");
    assert_eq!(r["stage_ts"], "2018-10-26T13:38:34.902914Z");
    assert_eq!(r["latency_us"], 35798);
    assert_eq!(r["stage"], "ResponseStarted");
    assert_eq!(r["username"], "minikube-user");
    assert_eq!(r["subresource"], "exec");
    assert_eq!(r["exec_command"], "bash");
    assert_eq!(r["exec_container"], "nginx1");
    assert_eq!(r["status_code"], 101);
    assert_eq!(r["decision"], "allow");
    assert_eq!(r["cluster"], "default");
    assert_eq!(r["day"], "2018-10-26");
}

#[test]
fn audit2rbac_demo_log_takes_time_from_the_v1beta1_timestamp() {
    let lake = tempfile::tempdir().expect("tempdir");
    let s = ingest(
        lake.path(),
        &[&public("audit2rbac-demo/demo.log")],
        &["--cluster", "demo"],
    );
    assert_eq!(s["rows"], 37);
    assert_eq!(s["quarantined"], 0);
    let rows = query(
        lake.path(),
        "SELECT min(ts) AS first, count(*) FILTER (WHERE status_code = 403) AS denied, count(DISTINCT impersonated_username) AS imp, min(cluster) AS c FROM events",
    );
    assert_eq!(rows[0]["first"], "2017-09-11T19:55:05.000000Z");
    assert_eq!(rows[0]["denied"], 11);
    assert_eq!(rows[0]["imp"], 3);
    assert_eq!(rows[0]["c"], "demo");
}

#[test]
fn every_bad_input_ends_as_rows_or_quarantine_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");

    // Truncated gzip: the complete lines before the cut are rows.
    let gz = gzip(events("gz", 2000).as_bytes());
    std::fs::write(dir.path().join("truncated.log.gz"), &gz[..gz.len() * 2 / 3]).expect("write");
    // A half-written last line.
    let mut half = events("half", 3);
    half.push_str(&event("half-last", 5, "bob")[..200]);
    std::fs::write(dir.path().join("half.log"), half).expect("write");
    // Invalid UTF-8 between good lines.
    let mut bad_utf8 = events("utf", 2).into_bytes();
    bad_utf8.extend_from_slice(b"{\"auditID\":\"\xff\xfe\"}\n");
    bad_utf8.extend_from_slice(events("utf2", 1).as_bytes());
    std::fs::write(dir.path().join("utf8.log"), bad_utf8).expect("write");
    // A 5 MB event (a huge response body).
    let big_body = "x".repeat(5 << 20);
    let big = event("big", 7, "carol").replacen(
        "\"annotations\"",
        &format!(
            "\"responseObject\":{{\"kind\":\"PodList\",\"blob\":\"{big_body}\"}},\"annotations\""
        ),
        1,
    );
    std::fs::write(dir.path().join("big.log"), big + "\n").expect("write");
    // Binary garbage.
    let garbage: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("garbage.bin"), garbage).expect("write");

    let s = ingest(&lake, &[dir.path()], &[]);

    let q = quarantine(&lake);
    let reasons: Vec<String> = q
        .iter()
        .map(|r| format!("{}: {}", r["source_file"], r["reason"]))
        .collect();
    let by_file = |name: &str| {
        q.iter()
            .filter(|r| {
                r["source_file"]
                    .as_str()
                    .expect("a string field")
                    .ends_with(name)
            })
            .count()
    };
    assert!(by_file("truncated.log.gz") >= 1, "{reasons:#?}");
    assert!(
        q.iter().any(|r| r["reason"]
            .as_str()
            .expect("a string field")
            .contains("ends early")),
        "the truncation itself is reported: {reasons:#?}"
    );
    assert_eq!(by_file("half.log"), 1, "{reasons:#?}");
    assert!(q.iter().any(|r| {
        r["reason"]
            .as_str()
            .expect("a string field")
            .starts_with("incomplete last line")
    }));
    assert_eq!(by_file("utf8.log"), 1, "{reasons:#?}");
    assert!(
        q.iter().any(|r| r["raw_b64"].is_string()),
        "non-UTF-8 kept as base64"
    );
    assert!(by_file("garbage.bin") >= 1, "{reasons:#?}");
    assert_eq!(by_file("big.log"), 0, "{reasons:#?}");

    let rows = count(&lake, "SELECT count(*) FROM events");
    assert_eq!(rows, s["rows"].as_i64().unwrap_or(-2));
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE audit_id LIKE 'half-%'"
        ),
        3
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE audit_id LIKE 'utf%'"
        ),
        3
    );
    assert_eq!(
        count(
            &lake,
            "SELECT max(length(response_object)) FROM events WHERE audit_id = 'big'"
        ),
        ((5 << 20) + r#"{"kind":"PodList","blob":""}"#.len()) as i64
    );
    let gz_rows = count(
        &lake,
        "SELECT count(*) FROM events WHERE audit_id LIKE 'gz-%'",
    );
    assert!(gz_rows > 500 && gz_rows < 2000, "{gz_rows}");
    // Nothing lost: every quarantined record plus every row accounts for the lines.
    assert_eq!(
        s["lines"].as_i64(),
        Some(rows + q.len() as i64 - 1),
        "{s}\n{reasons:#?}"
    );
}

#[test]
fn renamed_copies_are_skipped_and_grown_files_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let log = dir.path().join("audit.log");
    std::fs::write(&log, events("a", 100)).expect("write");
    let s = ingest(&lake, &[&log], &[]);
    assert_eq!(s["rows"], 100);

    // Rotated by rename, and a compressed copy of the same content: nothing new.
    let rotated = dir.path().join("audit-2026-01-05T10-00-00.000.log");
    std::fs::rename(&log, &rotated).expect("rename");
    std::fs::write(
        dir.path().join("audit-copy.log.gz"),
        gzip(&std::fs::read(&rotated).expect("read")),
    )
    .expect("write");
    let s = ingest(&lake, &[dir.path()], &[]);
    assert_eq!(s["rows"], 0, "{s}");
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 100);

    // The live file grew: only the new lines are read.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&rotated)
        .expect("open");
    f.write_all(events("b", 25).as_bytes()).expect("append");
    drop(f);
    let s = ingest(&lake, &[&rotated], &[]);
    assert_eq!(s["rows"], 25, "{s}");
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 125);
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT audit_id) FROM events"),
        125
    );
    assert_eq!(
        count(
            &lake,
            "SELECT min(source_line) FROM events WHERE audit_id LIKE 'b-%'"
        ),
        101
    );
}

#[test]
fn a_half_written_line_is_read_again_when_the_file_grows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let log = dir.path().join("audit.log");
    let last = event("last", 9, "dave");
    std::fs::write(&log, format!("{}{}", events("x", 2), &last[..100])).expect("write");
    let s = ingest(&lake, &[&log], &[]);
    assert_eq!(
        (s["rows"].as_i64(), s["quarantined"].as_i64()),
        (Some(2), Some(1))
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open");
    f.write_all(format!("{}\n", &last[100..]).as_bytes())
        .expect("append");
    drop(f);
    let s = ingest(&lake, &[&log], &[]);
    assert_eq!(s["rows"], 1, "{s}");
    assert_eq!(
        count(&lake, "SELECT count(*) FROM events WHERE audit_id = 'last'"),
        1
    );
}

#[test]
fn exact_duplicates_are_counted_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = event("dup", 1, "erin");
    let other_stage = line.replace("ResponseComplete", "RequestReceived");
    std::fs::write(
        dir.path().join("a.log"),
        format!("{line}\n{line}\n{other_stage}\n"),
    )
    .expect("write");
    let s = ingest(&dir.path().join("lake"), &[&dir.path().join("a.log")], &[]);
    assert_eq!(
        (s["rows"].as_i64(), s["duplicates"].as_i64()),
        (Some(2), Some(1)),
        "{s}"
    );
}

#[test]
fn a_killed_ingest_is_finished_by_the_next_run_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let mut paths = Vec::new();
    for f in 0..6 {
        let p = dir.path().join(format!("audit-{f}.log"));
        std::fs::write(&p, events(&format!("k{f}"), 40_000)).expect("write");
        paths.push(p);
    }
    for kill_after_ms in [150u64, 600, 1500] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubetrail"))
            .args(["ingest", "--quiet", "--lake"])
            .arg(&lake)
            .args(&paths)
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let s = ingest(
        &lake,
        &paths.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 240_000, "{s}");
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT audit_id) FROM events"),
        240_000
    );
    assert!(
        !lake.join("_kubetrail/staging").exists()
            || std::fs::read_dir(lake.join("_kubetrail/staging"))
                .map(|d| d.count())
                .unwrap_or(0)
                == 0
    );
    assert!(!lake.join("_kubetrail/journal.json").exists());
}

#[test]
fn secret_values_never_reach_the_lake_or_the_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let secret = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"s1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets","verb":"create","user":{"username":"alice"},"sourceIPs":["192.0.2.9"],"objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"stringData\":{\"password\":\"hunter2-hunter2\"}}"}},"stringData":{"password":"hunter2-hunter2"},"type":"Opaque"},"responseObject":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db"},"data":{"password":"aHVudGVyMi1odW50ZXIy"},"type":"Opaque"},"requestReceivedTimestamp":"2026-01-05T10:00:00.000000Z","stageTimestamp":"2026-01-05T10:00:00.010000Z"}"#;
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06YWRtaW4ifQ.c2lnbmF0dXJlc2lnbmF0dXJl";
    let review = format!(
        r#"{{"kind":"Event","level":"RequestResponse","auditID":"t1","stage":"ResponseComplete","requestURI":"/apis/authentication.k8s.io/v1/tokenreviews","verb":"create","user":{{"username":"system:node:n1"}},"objectRef":{{"resource":"tokenreviews","apiGroup":"authentication.k8s.io","apiVersion":"v1"}},"requestObject":{{"kind":"TokenReview","spec":{{"token":"{token}"}}}},"responseObject":{{"kind":"TokenReview","status":{{"authenticated":true,"user":{{"username":"system:serviceaccount:kube-system:admin"}}}}}},"requestReceivedTimestamp":"2026-01-05T10:00:01.000000Z"}}"#
    );
    // The same secret in a line that cannot become a row (no time at all).
    let broken = secret.replace("\"requestReceivedTimestamp\":\"2026-01-05T10:00:00.000000Z\",\"stageTimestamp\":\"2026-01-05T10:00:00.010000Z\"", "\"x\":1");
    std::fs::write(
        dir.path().join("s.log"),
        format!("{secret}\n{review}\n{broken}\n"),
    )
    .expect("write");
    let s = ingest(&lake, &[&dir.path().join("s.log")], &[]);
    assert_eq!(
        (s["rows"].as_i64(), s["quarantined"].as_i64()),
        (Some(2), Some(1)),
        "{s}"
    );

    let rows = query(
        &lake,
        "SELECT audit_id, request_object, response_object, object_type, review_user, review_allowed FROM events ORDER BY audit_id",
    );
    let all = serde_json::to_string(&rows).expect("rows as JSON");
    assert!(
        !all.contains("hunter2") && !all.contains("aHVudGVy") && !all.contains(token),
        "{all}"
    );
    let req: Value =
        serde_json::from_str(rows[0]["request_object"].as_str().expect("a request body"))
            .expect("json");
    let resp: Value = serde_json::from_str(
        rows[0]["response_object"]
            .as_str()
            .expect("a response body"),
    )
    .expect("json");
    assert!(
        req["stringData"]["password"]
            .as_str()
            .expect("a string field")
            .starts_with("sha256:")
    );
    assert_eq!(
        req["stringData"]["password"], resp["data"]["password"],
        "stringData and data of one value agree"
    );
    assert_eq!(rows[0]["object_type"], "Opaque");
    assert_eq!(
        rows[1]["review_user"],
        "system:serviceaccount:kube-system:admin"
    );
    assert_eq!(rows[1]["review_allowed"], true);

    // Nothing the lake holds, read back as rows (every column) and as quarantine records
    // (Parquet is compressed: grepping its bytes would prove nothing).
    let every_row = query(&lake, "SELECT * FROM events");
    assert_eq!(every_row.len(), 2);
    let quarantined = common::quarantine(&lake);
    assert_eq!(quarantined.len(), 1);
    let text = format!(
        "{}{}",
        serde_json::to_string(&every_row).expect("rows as JSON"),
        serde_json::to_string(&quarantined).expect("records as JSON")
    );
    for value in ["hunter2", "aHVudGVy", token] {
        assert!(!text.contains(value), "{value} reached the lake: {text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let qdir = lake.join("_kubetrail/quarantine");
        for e in std::fs::read_dir(qdir).expect("quarantine dir") {
            let mode = e
                .expect("entry")
                .metadata()
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

#[test]
fn event_lists_arrays_documents_and_compressed_streams_are_all_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let e = |id: &str| event(id, 3, "frank");
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{},{}]}}"#,
        e("l1"),
        e("l2")
    );
    std::fs::write(dir.path().join("webhook.json"), format!("{list}\n")).expect("write");
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<Value>(&list.replace("l1", "p1").replace("l2", "p2"))
            .expect("json"),
    )
    .expect("pretty");
    std::fs::write(dir.path().join("pretty.json"), pretty).expect("write");
    std::fs::write(
        dir.path().join("array.json"),
        format!("[{},\n{}]", e("a1"), e("a2")),
    )
    .expect("write");
    let mut two_members = gzip(format!("{}\n", e("g1")).as_bytes());
    two_members.extend(gzip(format!("{}\n", e("g2")).as_bytes()));
    std::fs::write(dir.path().join("rotated-no-extension"), two_members).expect("write");
    std::fs::write(
        dir.path().join("z.zst"),
        zstd::encode_all(format!("{}\n", e("z1")).as_bytes(), 3).expect("zstd"),
    )
    .expect("write");
    let s = ingest(&lake, &[dir.path()], &[]);
    assert_eq!(s["rows"], 9, "{s}");
    assert_eq!(s["quarantined"], 0, "{s}");
    let formats = query(
        &lake,
        "SELECT source_format, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(formats.len(), 3, "{formats:?}");

    // stdin
    let out = kubetrail()
        .args(["ingest", "--json", "--cluster", "stdin-cluster", "--lake"])
        .arg(&lake)
        .arg("-")
        .write_stdin(format!("{}\n", e("stdin1")))
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE cluster = 'stdin-cluster'"
        ),
        1
    );
}

#[test]
fn strict_mode_exits_4_when_anything_was_quarantined_and_missing_inputs_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.log"), "not json\n").expect("write");
    kubetrail()
        .args(["ingest", "--quiet", "--strict", "--lake"])
        .arg(dir.path().join("lake"))
        .arg(dir.path().join("bad.log"))
        .assert()
        .code(4);
    let out = kubetrail()
        .args(["ingest", "--lake"])
        .arg(dir.path().join("lake"))
        .arg(dir.path().join("nope.log"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.log"));
}

#[test]
fn a_small_truncated_gzip_is_quarantined_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = gzip(events("tiny", 2).as_bytes());
    std::fs::write(dir.path().join("tiny.log.gz"), &gz[..gz.len() / 2]).expect("write");
    let s = ingest(
        &dir.path().join("lake"),
        &[&dir.path().join("tiny.log.gz")],
        &[],
    );
    assert_eq!(s["errors"].as_array().map(Vec::len), Some(0), "{s}");
    let q = quarantine(&dir.path().join("lake"));
    assert!(!q.is_empty(), "{s}");
    assert!(q.iter().all(|r| {
        r["source_file"]
            .as_str()
            .expect("a string field")
            .ends_with("tiny.log.gz")
    }));
}
