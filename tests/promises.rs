//! The README's promises under hostile and unlucky input: no Secret value or credential is
//! stored (rows or quarantine), and no event is lost or doubled, whatever the crash.

mod common;

use std::path::{Path, PathBuf};

use common::{count, event, events, ingest, kubetrail, query};
use serde_json::Value;

/// Every value of every row and every quarantine record, as one text.
fn everything(lake: &Path) -> String {
    let rows = query(lake, "SELECT * FROM events");
    assert!(!rows.is_empty(), "the lake has rows");
    let mut all = serde_json::to_string(&rows).expect("rows as JSON");
    for q in common::quarantine(lake) {
        all.push_str(&q.to_string());
        if let Some(b64) = q["raw_b64"].as_str() {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("raw_b64 is base64");
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    all
}

fn assert_none_survives(all: &str, planted: &[&str]) {
    for p in planted {
        assert!(!all.contains(p), "{p:?} reached the lake:\n{all}");
    }
}

/// An event on `resource` with a request body and annotations given as JSON text.
fn with_body(id: &str, resource: &str, verb: &str, body: &str, annotations: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/{resource}/db","verb":"{verb}","user":{{"username":"alice"}},"sourceIPs":["192.0.2.9"],"objectRef":{{"resource":"{resource}","namespace":"prod","name":"db","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestObject":{body},"requestReceivedTimestamp":"2026-01-05T10:00:00.000000Z","stageTimestamp":"2026-01-05T10:00:00.010000Z","annotations":{annotations}}}"#
    )
}

// Values planted below; none may be stored anywhere.
const B64: &str = "UGxhbnRlZFNlY3JldDE="; // "PlantedSecret1"
const PLAIN: &str = "PlantedSecret2";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.UGxhbnRlZFNpZ25hdHVyZQ";
const TOKEN: &str = "PlantedToken0123456789";

#[test]
fn secret_values_in_hostile_bodies_and_outside_bodies_never_reach_rows_or_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let deep = format!(
        "{}{{\"data\":{{\"p\":\"{B64}\"}}}}{}",
        "{\"a\":".repeat(150),
        "}".repeat(150)
    );
    let bodies = [
        // 1. JSON patch adding annotations whose last-applied copy holds data.
        format!(
            r#"[{{"op":"add","path":"/metadata/annotations","value":{{"kubectl.kubernetes.io/last-applied-configuration":"{{\"apiVersion\":\"v1\",\"data\":{{\"password\":\"{B64}\"}}}}"}}}}]"#
        ),
        // 2. JSON patch replacing the root with the whole object (no kind).
        format!(r#"[{{"op":"replace","path":"","value":{{"data":{{"password":"{B64}"}}}}}}]"#),
        // 3. A value that looks like a marker.
        format!(r#"{{"stringData":{{"password":"sha256:{PLAIN}"}}}}"#),
        // 4-7. Bodies the parser refuses: a lone surrogate, 1e999, a duplicate key, deep nesting.
        format!(r#"{{"data":{{"password":"{B64}","x":"\ud800"}}}}"#),
        format!(r#"{{"data":{{"password":"{B64}"}},"n":1e999}}"#),
        format!(r#"{{"data":{{"password":"{B64}"}},"data":{{}}}}"#),
        deep,
    ];
    let mut lines: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| with_body(&format!("b{i}"), "secrets", "patch", b, "{}"))
        .collect();
    // 8. A mutating webhook's patch annotation on a Secret.
    let patch = format!(
        r#"{{\"configuration\":\"m\",\"webhook\":\"w\",\"patch\":[{{\"op\":\"add\",\"path\":\"/data/password\",\"value\":\"{B64}\"}}],\"patchType\":\"JSONPatch\"}}"#
    );
    lines.push(with_body(
        "w1",
        "secrets",
        "create",
        r#"{"kind":"Secret"}"#,
        &format!(r#"{{"patch.webhook.admission.k8s.io/round_0_index_0":"{patch}"}}"#),
    ));
    // Outside bodies: a JWT as an exec argument, a bearer token in the user agent, tokens in
    // user.extra, a kubeconfig in a ConfigMap, Bearer<TAB>, Basic credentials.
    let exec = event("x1", 2, "bob")
        .replace(
            "/api/v1/namespaces/default/pods?limit=500\\u0026watch=false",
            &format!("/api/v1/namespaces/default/pods/web/exec?command=curl\\u0026command=-H\\u0026command=Authorization%3A+Bearer+{TOKEN}\\u0026command={JWT}\\u0026container=web"),
        )
        .replace(r#""resource":"pods""#, r#""resource":"pods","subresource":"exec","name":"web""#)
        .replace(
            "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
            &format!("scanner/1.0 Bearer {TOKEN}"),
        )
        .replace(
            r#""groups":["system:authenticated"]"#,
            &format!(r#""groups":["system:authenticated"],"extra":{{"id-token":["{JWT}"],"note":["Bearer\t{TOKEN}"]}}"#),
        );
    lines.push(exec);
    let kubeconfig = format!(
        r#"{{"kind":"ConfigMap","data":{{"kubeconfig":"users:\n- name: a\n  user:\n    token: {TOKEN}\n    client-key-data: {B64}\n","auth":"Basic {B64}"}}}}"#
    );
    lines.push(with_body("c1", "configmaps", "create", &kubeconfig, "{}"));
    std::fs::write(dir.path().join("a.log"), lines.join("\n") + "\n").expect("write");

    let s = ingest(&lake, &[&dir.path().join("a.log")], &[]);
    // The deeply nested line may be refused as a whole event (quarantined) or stored with its
    // body replaced; either way it is accounted for, and nothing of it leaks.
    let (rows, quarantined) = (s["rows"].as_i64(), s["quarantined"].as_i64());
    assert_eq!(
        rows.zip(quarantined).map(|(r, q)| r + q),
        Some(lines.len() as i64),
        "{s}"
    );
    assert!(rows >= Some(lines.len() as i64 - 1), "{s}");
    let all = everything(&lake);
    assert_none_survives(&all, &[B64, PLAIN, JWT, TOKEN]);
    // What remains is useful: the exec command still says what ran.
    let exec = query(
        &lake,
        "SELECT exec_command FROM events WHERE audit_id = 'x1'",
    );
    let cmd = exec[0]["exec_command"].as_str().expect("a string field");
    assert!(
        cmd.starts_with("curl -H Authorization: Bearer sha256:"),
        "{cmd}"
    );
}

#[test]
fn secret_values_in_lines_that_cannot_be_parsed_never_reach_the_quarantine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let secret = with_body(
        "q1",
        "secrets",
        "create",
        &format!(
            r#"{{"kind":"Secret","data":{{"password":"{B64}"}},"stringData":{{"pw":"{PLAIN}"}}}}"#
        ),
        "{}",
    );
    let cut = &secret[..secret.find(PLAIN).expect("planted") + PLAIN.len()];
    // A CRI partial piece, a CloudWatch truncated message, a cut-off AKS record, invalid UTF-8.
    let cri = format!("2026-01-05T10:00:00.000000000Z stdout P {cut}");
    let escaped = serde_json::to_string(&secret).expect("escape");
    let cloudwatch = format!(
        r#"{{"logEvents":[{{"id":"1","timestamp":1767607200000,"message":{}}}]}}"#,
        serde_json::to_string(&format!("{}[Truncated...]", &secret[..secret.len() - 40]))
            .expect("escape")
    );
    let aks = format!(
        r#"{{"records":[{{"category":"kube-audit","properties":{{"log":{}"#,
        &escaped[..escaped.len() - 30]
    );
    let mut bytes = Vec::new();
    for l in [&cri, &cloudwatch, &aks] {
        bytes.extend_from_slice(l.as_bytes());
        bytes.push(b'\n');
    }
    let mut invalid = cut.as_bytes().to_vec();
    invalid.insert(20, 0xff);
    bytes.extend_from_slice(&invalid);
    bytes.push(b'\n');
    bytes.extend_from_slice(event("ok", 1, "carol").as_bytes());
    bytes.push(b'\n');
    // The half-written last line of a live audit.log.
    bytes.extend_from_slice(cut.as_bytes());
    std::fs::write(dir.path().join("live.log"), &bytes).expect("write");

    let s = ingest(&lake, &[&dir.path().join("live.log")], &[]);
    assert_eq!(
        (s["rows"].as_i64(), s["quarantined"].as_i64()),
        (Some(1), Some(5)),
        "{s}"
    );
    let all = everything(&lake);
    assert_none_survives(&all, &[B64, PLAIN]);
}

#[test]
fn a_kill_after_a_commit_neither_loses_nor_doubles_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let mut paths = Vec::new();
    for f in 0..3 {
        let p = dir.path().join(format!("audit-{f}.log"));
        std::fs::write(&p, events(&format!("k{f}"), 60_000)).expect("write");
        paths.push(p);
    }
    // Commits every ~4 MiB. Each run is killed just after a commit it made (seen as a new
    // state file), a little later each round, so kills land inside inputs whatever the
    // machine's speed.
    let state_of = || std::fs::read_to_string(lake.join("_kubetrail/state.json")).ok();
    let mut kills_after_a_commit = 0;
    for round in 0..4u64 {
        let before = state_of();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubetrail"))
            .args(["ingest", "--quiet", "--commit-bytes", "4000000", "--lake"])
            .arg(&lake)
            .args(&paths)
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let mut exited = false;
        while state_of() == before && std::time::Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                exited = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(40 * round));
        let _ = child.kill();
        let _ = child.wait();
        if exited {
            break;
        }
        kills_after_a_commit += usize::from(state_of() != before);
    }
    assert!(
        kills_after_a_commit >= 3,
        "only {kills_after_a_commit} kills landed after a commit: the test proves little"
    );
    let s = ingest(
        &lake,
        &paths.iter().map(|p| p.as_path()).collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 180_000, "{s}");
    assert_eq!(
        count(&lake, "SELECT count(DISTINCT audit_id) FROM events"),
        180_000
    );
    assert!(!lake.join("_kubetrail/journal.json").exists());
}

#[test]
fn the_same_content_under_two_names_in_one_run_is_read_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("audit.log");
    std::fs::write(&a, events("h", 500)).expect("write");
    let b = dir.path().join("audit.log.1");
    std::fs::hard_link(&a, &b).expect("hard link");
    let s = ingest(&dir.path().join("lake"), &[&a, &b], &[]);
    assert_eq!(
        (
            s["rows"].as_i64(),
            s["duplicates"].as_i64(),
            s["files_skipped"].as_i64()
        ),
        (Some(500), Some(0), Some(1)),
        "{s}"
    );
}

#[test]
fn files_that_only_begin_alike_are_each_read_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let common_start = events("same", 40); // well over 4 KiB
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let c = dir.path().join("c.log");
    // a and b: same beginning and the same size, different ends; c: longer than a.
    std::fs::write(&a, format!("{common_start}{}", events("aa", 10))).expect("write");
    std::fs::write(&b, format!("{common_start}{}", events("bb", 10))).expect("write");
    std::fs::write(
        &c,
        format!("{common_start}{}{}", events("cc", 10), events("cd", 5)),
    )
    .expect("write");
    assert_eq!(
        std::fs::metadata(&a).map(|m| m.len()).ok(),
        std::fs::metadata(&b).map(|m| m.len()).ok()
    );
    ingest(&lake, &[&a], &[]);
    let s = ingest(&lake, &[&b, &c], &[]);
    assert_eq!(s["files_skipped"].as_i64(), Some(0), "{s}");
    for prefix in ["aa", "bb", "cc", "cd"] {
        let n = count(
            &lake,
            &format!("SELECT count(*) FROM events WHERE audit_id LIKE '{prefix}-%'"),
        );
        assert_eq!(n, if prefix == "cd" { 5 } else { 10 }, "{prefix}: {s}");
    }
}

#[test]
fn a_last_line_cut_inside_a_character_is_read_again_when_the_file_grows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let log = dir.path().join("audit.log");
    let full = event("utf", 5, "zoë");
    let cut_at = full.find('ë').expect("planted") + 1; // inside the two bytes of ë
    let mut bytes = events("u", 3).into_bytes();
    bytes.extend_from_slice(&full.as_bytes()[..cut_at]);
    std::fs::write(&log, &bytes).expect("write");
    let first = ingest(&lake, &[&log], &[]);
    assert_eq!(
        (first["rows"].as_i64(), first["quarantined"].as_i64()),
        (Some(3), Some(1)),
        "{first}"
    );
    let again = ingest(&lake, &[&log], &[]);
    assert_eq!(
        (again["rows"].as_i64(), again["quarantined"].as_i64()),
        (Some(0), Some(0)),
        "{again}"
    );
    bytes.extend_from_slice(&full.as_bytes()[cut_at..]);
    bytes.push(b'\n');
    std::fs::write(&log, &bytes).expect("grow");
    let grown = ingest(&lake, &[&log], &[]);
    assert_eq!(grown["rows"].as_i64(), Some(1), "{grown}");
    let users = query(&lake, "SELECT username FROM events WHERE audit_id = 'utf'");
    assert_eq!(users[0]["username"], "zoë");
}

#[test]
fn documents_are_resumed_by_content_never_by_a_stale_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    // A one-byte `[` file, then a real JSON array.
    let bracket = dir.path().join("bracket.json");
    std::fs::write(&bracket, "[").expect("write");
    ingest(&lake, &[&bracket], &[]);
    let array = dir.path().join("array.json");
    let items: Vec<String> = (0..20)
        .map(|i| event(&format!("arr-{i}"), i, "dan"))
        .collect();
    std::fs::write(&array, format!("[{}]", items.join(","))).expect("write");
    let s = ingest(&lake, &[&array], &[]);
    assert_eq!(
        (s["rows"].as_i64(), s["quarantined"].as_i64()),
        (Some(20), Some(0)),
        "{s}"
    );

    // A pretty EventList cut off, then the whole one in its place.
    let list = dir.path().join("batch.json");
    let pretty = serde_json::to_string_pretty(&serde_json::json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": (0..30).map(|i| serde_json::from_str::<Value>(&event(&format!("el-{i}"), i, "eve")).expect("event")).collect::<Vec<_>>(),
    }))
    .expect("pretty");
    std::fs::write(&list, &pretty[..pretty.len() / 2]).expect("write");
    let cut = ingest(&lake, &[&list], &[]);
    let first = cut["rows"].as_i64().expect("rows");
    assert!(
        first > 5 && first < 30,
        "the items before the cut are read: {cut}"
    );
    assert_eq!(
        cut["quarantined"].as_i64(),
        Some(1),
        "the cut is recorded: {cut}"
    );
    let unchanged = ingest(&lake, &[&list], &[]);
    assert_eq!(
        (
            unchanged["rows"].as_i64(),
            unchanged["quarantined"].as_i64()
        ),
        (Some(0), Some(0)),
        "{unchanged}"
    );
    std::fs::write(&list, &pretty).expect("write");
    let whole = ingest(&lake, &[&list], &[]);
    assert_eq!(
        (whole["rows"].as_i64(), whole["quarantined"].as_i64()),
        (Some(30 - first), Some(0)),
        "{whole}"
    );
    let again = ingest(&lake, &[&list], &[]);
    assert_eq!(
        (again["rows"].as_i64(), again["files_skipped"].as_i64()),
        (Some(0), Some(1)),
        "{again}"
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE audit_id LIKE 'el-%'"
        ),
        30
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(DISTINCT audit_id) FROM events WHERE audit_id LIKE 'el-%'"
        ),
        30
    );
}

/// Ingest 21 events, the 11th line holding `boom`, with `KUBETRAIL_FAULT=fault` (debug builds)
/// and `extra` arguments.
fn ingest_with_fault(
    dir: &Path,
    fault: &str,
    extra: &[&str],
) -> (PathBuf, PathBuf, std::process::Output) {
    let lake = dir.join("lake");
    let log = dir.join("audit.log");
    let lines = format!(
        "{}{}\n{}",
        events("p", 10),
        event("boom", 1, "mallory"),
        events("q", 10)
    );
    std::fs::write(&log, lines).expect("write");
    let out = kubetrail()
        .env("KUBETRAIL_FAULT", fault)
        .args(["ingest", "--quiet"])
        .args(extra)
        .arg("--lake")
        .arg(&lake)
        .arg(&log)
        .output()
        .expect("run");
    (lake, log, out)
}

#[test]
fn a_parser_panic_quarantines_its_line_and_fails_the_run_loudly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, _log, out) = ingest_with_fault(dir.path(), "panic-line:boom", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("panicked on") && stderr.contains("audit.log:11"),
        "{stderr}"
    );
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 20);
    let q = common::quarantine(&lake);
    assert_eq!(q.len(), 1);
    assert!(
        q[0]["reason"]
            .as_str()
            .expect("a string field")
            .contains("panicked"),
        "{q:?}"
    );
}

#[test]
fn a_dead_parser_thread_fails_the_run_and_commits_nothing_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, log, out) = ingest_with_fault(dir.path(), "panic-worker:boom", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not processed"), "{stderr}");
    assert!(!lake.join("_kubetrail/state.json").exists());
    // Without the fault, the rerun ingests everything once.
    let s = ingest(&lake, &[&log], &[]);
    assert_eq!(s["rows"].as_i64(), Some(21), "{s}");
}

#[test]
fn a_dead_encoder_thread_fails_the_run_and_commits_nothing_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // the encoder dies on the files of cluster `boom`
    let (lake, log, out) =
        ingest_with_fault(dir.path(), "panic-encoder:boom", &["--cluster", "boom"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("encoder thread stopped"), "{stderr}");
    assert!(!lake.join("_kubetrail/state.json").exists());
    assert!(common::files_with_extension(&lake, "parquet").is_empty());
    // Without the fault, the rerun ingests everything once.
    let s = ingest(&lake, &[&log], &["--cluster", "boom"]);
    assert_eq!(s["rows"].as_i64(), Some(21), "{s}");
}
