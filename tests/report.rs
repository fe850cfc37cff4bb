//! `kubetrail report`, `timeline` and `detect --format ocsf` end to end, on a generated day with
//! attacks plus a few planted requests (markup in an object name and a user agent, a create
//! named only in its body, one request logged at two stages).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use serde_json::{Value, json};

const WINDOW: [&str; 4] = [
    "--since",
    "2026-01-05T00:00:00Z",
    "--until",
    "2026-01-06T00:00:00Z",
];

/// A planted audit event: `extra` is merged over a v1 Metadata event.
fn planted(id: &str, stage: &str, at: &str, user: &str, ua: &str, extra: Value) -> String {
    let mut v = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": stage, "verb": "get", "requestURI": "/api/v1/namespaces/default/pods/x",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["198.51.100.66"], "userAgent": ua,
        "objectRef": {"resource": "pods", "namespace": "default", "name": "x", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": at, "stageTimestamp": at,
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}
    });
    if let (Some(base), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in more {
            base.insert(k.clone(), x.clone());
        }
    }
    v.to_string()
}

pub const XSS_NAME: &str = "<script>alert('name')</script>";
pub const XSS_UA: &str = "<script>alert('ua')</script>";

fn planted_events() -> String {
    let binding = planted(
        "planted-binding",
        "ResponseComplete",
        "2026-01-05T12:00:00.000000Z",
        "mallory",
        XSS_UA,
        json!({
            "level": "Request", "verb": "create",
            "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 201},
            "requestObject": {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": XSS_NAME},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory"}]}
        }),
    );
    let pod = planted(
        "planted-pod",
        "ResponseComplete",
        "2026-01-05T12:05:00.000000Z",
        "mallory",
        "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
        json!({
            "level": "Request", "verb": "create",
            "requestURI": "/api/v1/namespaces/default/pods",
            "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 201},
            "requestObject": {"kind": "Pod", "apiVersion": "v1",
                "metadata": {"generateName": "evil-", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                    "securityContext": {"privileged": true}}]}}
        }),
    );
    // One request at two stages, and someone else's request between them.
    let mut lines = vec![binding, pod];
    for (id, stage, at) in [
        ("tl-1", "RequestReceived", "2026-01-05T13:00:00.000000Z"),
        ("tl-1", "ResponseComplete", "2026-01-05T13:00:00.000000Z"),
        ("tl-2", "ResponseComplete", "2026-01-05T13:02:00.000000Z"),
    ] {
        let mut extra = json!({"stageTimestamp": "2026-01-05T13:00:00.250000Z"});
        if stage == "RequestReceived" {
            extra["responseStatus"] = Value::Null;
            extra["stageTimestamp"] = json!(at);
        }
        if id == "tl-2" {
            extra["stageTimestamp"] = json!("2026-01-05T13:02:00.010000Z");
        }
        lines.push(planted(id, stage, at, "tl-user", "tl-agent/1.0", extra));
    }
    lines.push(planted(
        "tl-other",
        "ResponseComplete",
        "2026-01-05T13:01:00.000000Z",
        "someone-else",
        "tl-agent/1.0",
        json!({}),
    ));
    lines.join("\n") + "\n"
}

struct Lake {
    _dir: tempfile::TempDir,
    lake: PathBuf,
    dir: PathBuf,
}

/// One lake for every test in this file: a generated day with attacks and the planted events.
fn lake() -> &'static Lake {
    static LAKE: OnceLock<Lake> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("audit.log");
        kubetrail()
            .args(["gen", "--events", "20000", "--seed", "7", "--out"])
            .arg(&log)
            .assert()
            .success();
        let extra = dir.path().join("planted.log");
        std::fs::write(&extra, planted_events()).expect("write planted");
        let lake = dir.path().join("lake");
        let s = ingest(&lake, &[&log, &extra], &["--cluster", "lab"]);
        assert_eq!(s["quarantined"], 0, "{s}");
        Lake {
            dir: dir.path().to_path_buf(),
            lake,
            _dir: dir,
        }
    })
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn detect_jsonl(lake: &Path, extra: &[&str]) -> Vec<Value> {
    jsonl(&stdout_of(
        kubetrail()
            .args(["detect", "--quiet", "--format", "jsonl", "--lake"])
            .arg(lake)
            .args(WINDOW)
            .args(extra),
    ))
}

/// Run `report` and return (HTML, JSON).
fn report(name: &str, extra: &[&str]) -> (String, Value) {
    let l = lake();
    let html = l.dir.join(format!("{name}.html"));
    let json = l.dir.join(format!("{name}.json"));
    kubetrail()
        .args(["report", "--quiet", "--lake"])
        .arg(&l.lake)
        .args(WINDOW)
        .args(extra)
        .arg("--out")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let html = std::fs::read_to_string(&html).expect("html written");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("json");
    (html, json)
}

fn finding_ids(findings: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = findings
        .iter()
        .map(|f| f["finding_id"].as_str().expect("finding_id").to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_reports_findings_are_exactly_detects_jsonl() {
    let l = lake();
    for options in [
        &[][..],
        &["--min-severity", "high", "--category", "rbac-escalation"][..],
    ] {
        let detected = detect_jsonl(&l.lake, options);
        assert!(!detected.is_empty(), "the generated attacks make findings");
        let (_, doc) = report(&format!("same-{}", options.len()), options);
        let reported = doc["findings"].as_array().expect("findings array");
        assert_eq!(finding_ids(reported), finding_ids(&detected));
        assert_eq!(reported, &detected, "the objects themselves are detect's");
        for key in ["posture", "coverage", "headline", "finding_details"] {
            assert!(doc.get(key).is_some(), "JSON has {key}");
        }
    }
}

#[test]
fn the_html_loads_nothing_from_elsewhere_and_escapes_markup_from_the_log() {
    let (html, doc) = report("xss", &[]);
    let lower = html.to_ascii_lowercase();
    // The planted name and user agent are in the page, as text.
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;name&#x27;)&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;")
            || html.contains("&lt;script&gt;alert("),
        "planted name shown escaped"
    );
    assert!(!lower.contains("<script"), "no script element at all");
    let ua_escaped = html.matches("&lt;script&gt;alert(&#x27;ua").count()
        + html.matches("&lt;script&gt;alert(&#39;ua").count();
    assert!(ua_escaped > 0, "planted user agent shown escaped");
    for bad in [
        "src=\"http",
        "src='http",
        "src=\"//",
        "href=\"http",
        "href='http",
        "href=\"//",
        "@import",
        "url(http",
        "url(//",
        "<link",
        "<img",
        "<iframe",
    ] {
        assert!(
            !lower.contains(bad),
            "external reference {bad:?} in the HTML"
        );
    }
    // The planted binding is a finding whose evidence names the object from the body.
    let f = doc["findings"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|f| {
                f["rule_id"] == "binding-to-privileged-role" && f["username"] == "mallory"
            })
        })
        .expect("the planted cluster-admin binding is found");
    assert_eq!(f["name"], XSS_NAME);
    for section in ["id=\"posture\"", "id=\"not-analysed\"", "<svg"] {
        assert!(html.contains(section), "{section} present");
    }
}

#[test]
fn create_requests_are_named_from_their_body_in_summaries() {
    let l = lake();
    let found = detect_jsonl(
        &l.lake,
        &[
            "--rule",
            "pod-privileged",
            "--rule",
            "binding-to-privileged-role",
        ],
    );
    let pod = found
        .iter()
        .find(|f| f["rule_id"] == "pod-privileged" && f["username"] == "mallory")
        .expect("planted privileged pod found");
    let summary = pod["summary"].as_str().expect("a string field");
    assert!(
        summary.contains("pods default/evil-* (generateName)"),
        "{summary}"
    );
    let binding = found
        .iter()
        .find(|f| f["rule_id"] == "binding-to-privileged-role" && f["username"] == "mallory")
        .expect("planted binding found");
    let summary = binding["summary"].as_str().expect("a string field");
    assert!(summary.contains(XSS_NAME), "{summary}");
    assert!(!summary.contains("clusterrolebindings -"), "{summary}");
}

fn timeline(args: &[&str]) -> Vec<Value> {
    let l = lake();
    jsonl(&stdout_of(
        kubetrail()
            .args(["timeline", "--format", "jsonl", "--lake"])
            .arg(&l.lake)
            .args(args),
    ))
}

#[test]
fn timeline_folds_stages_keeps_time_order_and_shows_nobody_else() {
    let lines = timeline(&["--user", "tl-user", "--no-findings"]);
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["audit_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["tl-1", "tl-2"], "one line per request, in time order");
    assert_eq!(
        lines[0]["stages"],
        json!(["RequestReceived", "ResponseComplete"])
    );
    assert_eq!(lines[0]["latency_ms"], json!(250.0));
    assert_eq!(lines[0]["status_code"], 200);
    for l in &lines {
        assert_eq!(l["username"], "tl-user");
    }
    assert_eq!(
        lines[0]["session"], lines[1]["session"],
        "two minutes apart: one session"
    );
}

#[test]
fn a_generated_users_timeline_is_theirs_alone_in_order_and_marks_findings() {
    let l = lake();
    let lines = timeline(&["--user", "mallory"]);
    let want = count(
        &l.lake,
        "SELECT count(DISTINCT audit_id) FROM events WHERE username = 'mallory'",
    );
    assert_eq!(lines.len() as i64, want);
    let times: Vec<&str> = lines
        .iter()
        .map(|l| l["ts"].as_str().unwrap_or(""))
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "time order");
    assert!(lines.iter().all(|l| l["username"] == "mallory"));
    let marked = lines
        .iter()
        .find(|l| l["audit_id"] == "planted-binding")
        .expect("planted binding in mallory's timeline");
    assert!(
        marked["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|r| r == "binding-to-privileged-role")),
        "{marked}"
    );
    // --audit-id starts from one request and shows its identity around it.
    let around = timeline(&["--audit-id", "tl-2", "--no-findings"]);
    assert!(around.iter().all(|l| l["username"] == "tl-user"));
    assert!(
        around
            .iter()
            .any(|l| l["audit_id"] == "tl-2" && l["anchor"] == true)
    );
}

#[test]
fn an_objects_timeline_lists_its_writes() {
    let lines = timeline(&["--object", "pods/default/x", "--no-findings"]);
    assert!(lines.len() >= 2);
    assert!(
        lines
            .iter()
            .all(|l| l["resource"] == "pods" && l["name"] == "x")
    );
}

/// The OCSF required-field extract (see its `_source`).
fn ocsf_required() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ocsf-detection-finding-required.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("extract")).expect("json")
}

fn at<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur = vec![v];
    for part in path.split('.') {
        let (key, many) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for c in cur {
            match c.get(key) {
                Some(Value::Array(a)) if many => next.extend(a.iter()),
                Some(x) if !many => next.push(x),
                _ => {}
            }
        }
        cur = next;
    }
    cur
}

/// Every violation of the extract's required fields in one OCSF object.
fn ocsf_violations(v: &Value, schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in schema["event_required"].as_array().into_iter().flatten() {
        let k = k.as_str().expect("a string field");
        if v.get(k).is_none_or(Value::is_null) {
            out.push(format!("missing {k}"));
        }
    }
    if v["class_uid"] != schema["class_uid"] || v["category_uid"] != schema["category_uid"] {
        out.push("wrong class or category".into());
    }
    let activity = v["activity_id"].as_i64().unwrap_or(-1);
    if v["type_uid"].as_i64() != Some(2004 * 100 + activity) {
        out.push("type_uid is not class_uid * 100 + activity_id".into());
    }
    for (key, list) in [
        ("severity_id", "severity_id"),
        ("activity_id", "activity_id"),
    ] {
        if !schema[list].as_array().is_some_and(|a| a.contains(&v[key])) {
            out.push(format!("{key} {} not in the enum", v[key]));
        }
    }
    if !v["time"].is_i64() {
        out.push("time is not a timestamp in ms".into());
    }
    for (path, spec) in schema["objects"].as_object().into_iter().flatten() {
        for obj in at(v, path) {
            for k in spec["required"].as_array().into_iter().flatten() {
                let k = k.as_str().expect("a string field");
                if obj.get(k).is_none_or(Value::is_null) {
                    out.push(format!("{path} lacks {k}"));
                }
            }
            if let Some(any) = spec["at_least_one"].as_array()
                && !any
                    .iter()
                    .any(|k| obj.get(k.as_str().expect("a string field")).is_some())
            {
                out.push(format!("{path} has none of {any:?}"));
            }
        }
    }
    out
}

#[test]
fn ocsf_output_has_every_required_field_of_a_detection_finding() {
    let l = lake();
    let schema = ocsf_required();
    let ocsf = jsonl(&stdout_of(
        kubetrail()
            .args(["detect", "--quiet", "--format", "ocsf", "--lake"])
            .arg(&l.lake)
            .args(WINDOW),
    ));
    let plain = detect_jsonl(&l.lake, &[]);
    assert_eq!(ocsf.len(), plain.len());
    for (o, f) in ocsf.iter().zip(&plain) {
        let bad = ocsf_violations(o, &schema);
        assert!(bad.is_empty(), "{bad:?} in {o}");
        assert_eq!(o["finding_info"]["uid"], f["finding_id"]);
        let related: Vec<&Value> = at(o, "finding_info.related_events[].uid");
        assert_eq!(related.len(), f["audit_ids"].as_array().map_or(0, Vec::len));
        if f["mitre"].as_array().is_some_and(|m| !m.is_empty()) {
            assert!(!at(o, "finding_info.attacks[]").is_empty(), "{o}");
        }
        assert!(!o["remediation"]["desc"].as_str().unwrap_or("").is_empty());
    }
    // The check itself catches a missing field.
    let mut broken = ocsf[0].clone();
    if let Some(m) = broken["finding_info"].as_object_mut() {
        m.remove("uid");
    }
    assert!(!ocsf_violations(&broken, &schema).is_empty());
}
