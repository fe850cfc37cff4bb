//! Sigma rules compiled to SQL and run over small lakes with known answers: every event goes
//! through the real ingester, the compiled SQL runs over `events_window`, and the test checks
//! exactly which events (audit IDs) matched.
//!
//! The rules here are written for these tests in the shapes SigmaHQ uses; no SigmaHQ rule is
//! part of this repository (their licence is the DRL).

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use rules::sigma::{self, Mapping};
use serde_json::{Value, json};

const BASE: &str = "2026-01-10T10:00:00Z";

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(BASE)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A completed audit event `id` at `BASE + secs`, with `extra` merged over a plain pod `get`.
fn ev(id: &str, secs: i64, extra: Value) -> Value {
    let mut e = json!({
        "verb": "get",
        "requestURI": "/api/v1/namespaces/web/pods/frontend",
        "user": {"username": "alice", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"],
        "userAgent": "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b",
        "objectRef": {"resource": "pods", "namespace": "web", "name": "frontend", "apiVersion": "v1"},
    });
    if let (Some(m), Value::Object(x)) = (e.as_object_mut(), extra) {
        for (k, v) in x {
            m.insert(k, v);
        }
    }
    rules::testing::complete(&e, id.to_string(), base() + Duration::seconds(secs))
}

/// Events e0, e1, ... one second apart, each `extra` merged over the plain event.
fn events(extras: Vec<Value>) -> Vec<Value> {
    extras
        .into_iter()
        .enumerate()
        .map(|(i, x)| ev(&format!("e{i}"), i as i64, x))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// Load `rule_yaml` (one or more documents), ingest `events`, run every loaded rule and return
/// the audit IDs each matched; `Err` carries the not-loaded lines.
async fn run(rule_yaml: &str, events: &[Value]) -> Result<Vec<BTreeSet<String>>, String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write(tmp.path(), "rule.yml", rule_yaml);
    let mapping = Mapping::builtin().expect("mapping");
    let mut loaded = sigma::load(&[file], &mapping).map_err(|e| e.to_string())?;
    let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
    let input = write(tmp.path(), "audit.jsonl", &lines);
    let lake = tmp.path().join("lake");
    let mut opts = ingest::IngestOptions::new(lake.clone(), vec![input]);
    opts.threads = 1;
    let summary = ingest::ingest(&opts, &ingest::Progress::default()).expect("ingest");
    assert_eq!(summary.quarantined, 0, "test events must ingest");
    let ctx = query::session::open(&lake, &Default::default())
        .await
        .expect("session");
    let window = query::session::Window {
        since: None,
        until: None,
        baseline: Duration::days(1),
    };
    query::session::register_window(&ctx, &window)
        .await
        .expect("window");
    sigma::check_plans(&ctx, &mut loaded).await;
    if !loaded.not_loaded.is_empty() {
        return Err(loaded
            .not_loaded
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let mut out = Vec::new();
    for r in &loaded.rules {
        let batches = query::run::collect(&ctx, &r.sql)
            .await
            .unwrap_or_else(|e| panic!("rule {} failed: {e}\n{}", r.id, r.sql));
        let ids = rules::finding::rows(&batches)
            .iter()
            .filter_map(|row| {
                row.get("audit_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        out.push(ids);
    }
    Ok(out)
}

/// The audit IDs one single-rule file matched.
async fn matched(rule_yaml: &str, events: &[Value]) -> BTreeSet<String> {
    match run(rule_yaml, events).await {
        Ok(mut sets) => {
            assert_eq!(sets.len(), 1, "one rule expected");
            sets.remove(0)
        }
        Err(e) => panic!("rule did not load: {e}"),
    }
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A rule with this detection body (YAML indented by four spaces under `detection:`).
fn rule(detection: &str) -> String {
    format!(
        "title: test rule\nid: 11111111-2222-3333-4444-555555555555\nstatus: test\nlogsource:\n    product: kubernetes\n    service: audit\ndetection:\n{detection}\nlevel: high\ntags:\n    - attack.execution\n    - attack.t1609\n"
    )
}

#[tokio::test]
async fn plain_values_match_case_insensitively_and_lists_are_or() {
    let r = rule(
        "    sel:\n        verb:\n            - create\n            - delete\n        objectRef.resource: Pods\n    condition: sel",
    );
    let evs = events(vec![
        json!({"verb": "create"}),
        json!({"verb": "DELETE"}),
        json!({"verb": "get"}),
        json!({"verb": "create", "objectRef": {"resource": "secrets", "namespace": "web"}}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0", "e1"]));
}

#[tokio::test]
async fn cased_compares_exactly() {
    let r = rule("    sel:\n        user.username|cased: Alice\n    condition: sel");
    let evs = events(vec![
        json!({"user": {"username": "Alice"}}),
        json!({"user": {"username": "alice"}}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0"]));
}

#[tokio::test]
async fn contains_startswith_endswith() {
    let evs = events(vec![
        json!({"requestURI": "/api/v1/namespaces/web/pods/frontend/exec?command=%2Fbin%2Fsh"}),
        json!({"requestURI": "/apis/apps/v1/deployments"}),
        json!({"requestURI": "/healthz"}),
    ]);
    let c = rule("    sel:\n        requestURI|contains: '%2fbin%2fsh'\n    condition: sel");
    assert_eq!(matched(&c, &evs).await, ids(&["e0"]));
    let s = rule("    sel:\n        requestURI|startswith: /APIS/\n    condition: sel");
    assert_eq!(matched(&s, &evs).await, ids(&["e1"]));
    let e = rule("    sel:\n        requestURI|endswith: 'z'\n    condition: sel");
    assert_eq!(matched(&e, &evs).await, ids(&["e2"]));
}

#[tokio::test]
async fn all_requires_every_value() {
    let r = rule(
        "    sel:\n        userAgent|contains|all:\n            - kubectl\n            - linux\n    condition: sel",
    );
    let evs = events(vec![
        json!({"userAgent": "kubectl/v1.30 (linux/amd64)"}),
        json!({"userAgent": "kubectl/v1.30 (darwin/arm64)"}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0"]));
}

#[tokio::test]
async fn wildcards_and_escapes() {
    let evs = events(vec![
        json!({"objectRef": {"resource": "pods", "namespace": "web", "name": "a*b"}}),
        json!({"objectRef": {"resource": "pods", "namespace": "web", "name": "axxb"}}),
        json!({"objectRef": {"resource": "pods", "namespace": "web", "name": "a_b"}}),
        json!({"objectRef": {"resource": "pods", "namespace": "web", "name": "ab"}}),
    ]);
    let star = rule("    sel:\n        objectRef.name: 'a*b'\n    condition: sel");
    assert_eq!(matched(&star, &evs).await, ids(&["e0", "e1", "e2", "e3"]));
    let escaped = rule("    sel:\n        objectRef.name: 'a\\*b'\n    condition: sel");
    assert_eq!(matched(&escaped, &evs).await, ids(&["e0"]));
    let quest = rule("    sel:\n        objectRef.name: 'a?b'\n    condition: sel");
    assert_eq!(matched(&quest, &evs).await, ids(&["e0", "e2"]));
    // `_` is literal in Sigma, not a LIKE wildcard.
    let underscore = rule("    sel:\n        objectRef.name|contains: '_'\n    condition: sel");
    assert_eq!(matched(&underscore, &evs).await, ids(&["e2"]));
}

#[tokio::test]
async fn lone_star_means_present_and_null_means_absent() {
    let evs = events(vec![
        json!({"objectRef": {"resource": "pods", "namespace": "web", "subresource": "exec"}}),
        json!({}),
    ]);
    let star = rule("    sel:\n        objectRef.subresource: '*'\n    condition: sel");
    assert_eq!(matched(&star, &evs).await, ids(&["e0"]));
    let null = rule("    sel:\n        objectRef.subresource: null\n    condition: sel");
    assert_eq!(matched(&null, &evs).await, ids(&["e1"]));
    let exists = rule("    sel:\n        objectRef.subresource|exists: false\n    condition: sel");
    assert_eq!(matched(&exists, &evs).await, ids(&["e1"]));
}

#[tokio::test]
async fn regex_is_case_sensitive_unless_i() {
    let evs = events(vec![
        json!({"userAgent": "Trufflehog/3.0"}),
        json!({"userAgent": "trufflehog/3.0"}),
    ]);
    let plain = rule("    sel:\n        userAgent|re: '^truffle.*/3'\n    condition: sel");
    assert_eq!(matched(&plain, &evs).await, ids(&["e1"]));
    let insensitive = rule("    sel:\n        userAgent|re|i: '^truffle.*/3'\n    condition: sel");
    assert_eq!(matched(&insensitive, &evs).await, ids(&["e0", "e1"]));
}

#[tokio::test]
async fn cidr_matches_source_addresses_in_any_position() {
    let r = rule(
        "    sel:\n        sourceIPs|cidr:\n            - 10.0.0.0/8\n            - 192.168.4.0/23\n    condition: sel",
    );
    let evs = events(vec![
        json!({"sourceIPs": ["10.2.3.4"]}),
        json!({"sourceIPs": ["203.0.113.9", "192.168.5.1"]}),
        json!({"sourceIPs": ["192.168.6.1"]}),
        json!({"sourceIPs": ["110.0.0.1"]}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0", "e1"]));
}

#[tokio::test]
async fn list_columns_match_when_any_element_matches() {
    let r = rule("    sel:\n        user.groups: system:masters\n    condition: sel");
    let evs = events(vec![
        json!({"user": {"username": "root", "groups": ["system:authenticated", "system:masters"]}}),
        json!({"user": {"username": "bob", "groups": ["system:authenticated", "system:masters-x"]}}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0"]));
    let prefix =
        rule("    sel:\n        user.groups|startswith: 'SYSTEM:MAST'\n    condition: sel");
    assert_eq!(matched(&prefix, &evs).await, ids(&["e0", "e1"]));
}

#[tokio::test]
async fn numbers_compare_as_numbers_and_mismatched_types_as_text() {
    let evs = events(vec![
        json!({"responseStatus": {"code": 403}}),
        json!({"responseStatus": {"code": 401}}),
        json!({"responseStatus": {"code": 200}}),
    ]);
    let list = rule(
        "    sel:\n        responseStatus.code:\n            - 401\n            - 403\n    condition: sel",
    );
    assert_eq!(matched(&list, &evs).await, ids(&["e0", "e1"]));
    let text = rule("    sel:\n        responseStatus.code: '403'\n    condition: sel");
    assert_eq!(matched(&text, &evs).await, ids(&["e0"]));
    // SigmaHQ writes responseStatus.code: 'ALLOW': it matches nothing rather than failing.
    let word = rule("    sel:\n        responseStatus.code: 'ALLOW'\n    condition: sel");
    assert_eq!(matched(&word, &evs).await, ids(&[]));
    let gte = rule("    sel:\n        responseStatus.code|gte: 401\n    condition: sel");
    assert_eq!(matched(&gte, &evs).await, ids(&["e0", "e1"]));
    let lt = rule("    sel:\n        responseStatus.code|lt: 401\n    condition: sel");
    assert_eq!(matched(&lt, &evs).await, ids(&["e2"]));
    let gt = rule("    sel:\n        responseStatus.code|gt: 401\n    condition: sel");
    assert_eq!(matched(&gt, &evs).await, ids(&["e0"]));
    let lte = rule("    sel:\n        responseStatus.code|lte: 401\n    condition: sel");
    assert_eq!(matched(&lte, &evs).await, ids(&["e1", "e2"]));
}

#[tokio::test]
async fn base64_and_base64offset_find_encoded_text() {
    // "curl http" encoded at each of the three offsets inside a longer base64 string: prefixes
    // of 0, 2 and 4 bytes (a prefix of 3 bytes would keep the alignment of the first).
    let payloads = ["curl http://x", "a curl http://x", "abc curl http://x"];
    let mut extras: Vec<Value> = payloads
        .iter()
        .map(|p| {
            use base64::Engine as _;
            let enc = base64::engine::general_purpose::STANDARD.encode(p);
            json!({"requestURI": format!("/api/v1/namespaces/web/pods/frontend/exec?command=echo&command={enc}")})
        })
        .collect();
    extras.push(json!({"requestURI": "/api/v1/namespaces/web/pods/frontend/exec?command=ls"}));
    let evs = events(extras);
    let offset = rule(
        "    sel:\n        requestURI|base64offset|contains|cased: 'curl http'\n    condition: sel",
    );
    assert_eq!(matched(&offset, &evs).await, ids(&["e0", "e1", "e2"]));
    let plain = rule(
        "    sel:\n        requestURI|base64|contains|cased: 'curl http://x'\n    condition: sel",
    );
    assert_eq!(matched(&plain, &evs).await, ids(&["e0"]));
}

#[tokio::test]
async fn expand_uses_the_mapping_placeholders() {
    let r = rule(
        "    sel:\n        objectRef.namespace|expand: '%system_namespaces%'\n    condition: sel",
    );
    let evs = events(vec![
        json!({"objectRef": {"resource": "pods", "namespace": "kube-system"}}),
        json!({"objectRef": {"resource": "pods", "namespace": "kube-public"}}),
        json!({"objectRef": {"resource": "pods", "namespace": "web"}}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0", "e1"]));
    let unknown =
        rule("    sel:\n        objectRef.namespace|expand: '%nowhere%'\n    condition: sel");
    let err = run(&unknown, &evs).await.expect_err("not loaded");
    assert!(err.contains("%nowhere%"), "{err}");
}

#[tokio::test]
async fn fieldref_compares_two_fields() {
    let r = rule(
        "    sel:\n        user.username|fieldref: impersonatedUser.username\n    condition: sel",
    );
    let evs = events(vec![
        json!({"user": {"username": "bob"}, "impersonatedUser": {"username": "bob"}}),
        json!({"user": {"username": "bob"}, "impersonatedUser": {"username": "root"}}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0"]));
}

#[tokio::test]
async fn keywords_search_the_text_columns() {
    let r = rule("    keywords:\n        - trufflehog\n        - 'xmrig'\n    condition: keywords");
    let evs = events(vec![
        json!({"userAgent": "TruffleHog/3"}),
        json!({"verb": "create", "requestObject": {"kind": "Pod", "spec": {"containers": [{"name": "m", "image": "evil/xmrig:1"}]}}}),
        json!({}),
    ]);
    assert_eq!(matched(&r, &evs).await, ids(&["e0", "e1"]));
}

fn deployment(volumes: Value, caps: Value) -> Value {
    json!({"verb": "create", "objectRef": {"resource": "deployments", "namespace": "web", "apiGroup": "apps", "apiVersion": "v1"},
           "requestObject": {"kind": "Deployment", "spec": {"template": {"spec": {
               "volumes": volumes,
               "containers": [{"name": "c", "image": "nginx", "securityContext": {"capabilities": caps}}]}}}}})
}

#[tokio::test]
async fn host_path_and_capabilities_match_keys_at_any_depth() {
    let evs = events(vec![
        deployment(
            json!([{"name": "root", "hostPath": {"path": "/"}}]),
            json!({}),
        ),
        deployment(
            json!([{"name": "tmp", "emptyDir": {}}]),
            json!({"add": ["SYS_ADMIN"]}),
        ),
        deployment(json!([]), json!({})),
        json!({"verb": "create", "requestObject": {"kind": "Pod", "spec": {"volumes": [{"name": "h", "hostPath": {"path": "/var/run/docker.sock"}}], "containers": [{"name": "c", "image": "x"}]}}}),
    ]);
    let host = rule("    sel:\n        hostPath: '*'\n    condition: sel");
    assert_eq!(matched(&host, &evs).await, ids(&["e0", "e3"]));
    let caps = rule("    sel:\n        capabilities: '*'\n    condition: sel");
    assert_eq!(matched(&caps, &evs).await, ids(&["e1"]));
    let sock = rule("    sel:\n        hostPath|endswith: 'docker.sock'\n    condition: sel");
    assert_eq!(matched(&sock, &evs).await, ids(&["e3"]));
}

#[tokio::test]
async fn bare_api_group_annotations_and_body_paths_resolve() {
    let evs = events(vec![
        json!({"verb": "create", "objectRef": {"resource": "selfsubjectrulesreviews", "apiGroup": "authorization.k8s.io", "apiVersion": "v1"}}),
        json!({"verb": "create", "objectRef": {"resource": "services", "namespace": "web", "apiVersion": "v1"},
               "requestObject": {"kind": "Service", "spec": {"type": "NodePort"}}}),
        json!({"responseStatus": {"code": 403}}),
    ]);
    let group = rule("    sel:\n        apiGroup: authorization.k8s.io\n    condition: sel");
    assert_eq!(matched(&group, &evs).await, ids(&["e0"]));
    let body = rule("    sel:\n        requestObject.spec.type: nodeport\n    condition: sel");
    assert_eq!(matched(&body, &evs).await, ids(&["e1"]));
    let ann = rule(
        "    sel:\n        annotations.authorization.k8s.io/decision: forbid\n    condition: sel",
    );
    assert_eq!(matched(&ann, &evs).await, ids(&["e2"]));
}

#[tokio::test]
async fn conditions_and_or_not_parentheses_and_quantifiers() {
    let evs = events(vec![
        json!({"verb": "create", "user": {"username": "mallory"}}),
        json!({"verb": "create", "user": {"username": "system:serviceaccount:kube-system:deployment-controller"}}),
        json!({"verb": "delete", "user": {"username": "mallory"}}),
        json!({"verb": "get", "user": {"username": "mallory"}}),
    ]);
    let det = "    sel_create:\n        verb: create\n    sel_delete:\n        verb: delete\n    filter_system:\n        user.username|startswith: 'system:'\n";
    let cases = [
        ("sel_create and not filter_system", vec!["e0"]),
        ("1 of sel_* and not filter_system", vec!["e0", "e2"]),
        (
            "(sel_create or sel_delete) and not filter_system",
            vec!["e0", "e2"],
        ),
        ("all of sel_*", vec![]),
        ("1 of them", vec!["e0", "e1", "e2"]),
        ("not 1 of them", vec!["e3"]),
        (
            "sel_create and filter_system or sel_delete",
            vec!["e1", "e2"],
        ),
    ];
    for (cond, want) in cases {
        let r = rule(&format!("{det}    condition: {cond}"));
        assert_eq!(matched(&r, &evs).await, ids(&want), "condition {cond}");
    }
    // A list of conditions means any of them.
    let r = rule(&format!(
        "{det}    condition:\n        - sel_create and not filter_system\n        - sel_delete"
    ));
    assert_eq!(matched(&r, &evs).await, ids(&["e0", "e2"]));
    // A list of maps means any map.
    let r = rule(
        "    sel:\n        - verb: delete\n        - verb: create\n          user.username: mallory\n    condition: sel",
    );
    assert_eq!(matched(&r, &evs).await, ids(&["e0", "e2"]));
}

#[tokio::test]
async fn unknown_fields_and_foreign_logsources_are_not_loaded_with_reasons() {
    let evs = events(vec![json!({})]);
    let r = rule("    sel:\n        objectRef.resourse: pods\n    condition: sel");
    let err = run(&r, &evs).await.expect_err("not loaded");
    assert!(
        err.starts_with("sigma: not loaded: 11111111-2222-3333-4444-555555555555 ("),
        "{err}"
    );
    assert!(
        err.contains("unknown field \"objectRef.resourse\""),
        "{err}"
    );
    assert!(err.contains("objectRef.resource"), "{err}");
    let windows = "title: w\nid: w1\nlogsource: {product: windows, category: process_creation}\ndetection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel\n";
    let err = run(windows, &evs).await.expect_err("not loaded");
    assert!(err.contains("is not Kubernetes audit"), "{err}");
    let wide = rule("    sel:\n        requestURI|wide: x\n    condition: sel");
    assert!(
        run(&wide, &evs)
            .await
            .expect_err("refused")
            .contains("|wide")
    );
    // A pattern the regex engine refuses (look-behind) does not load instead of failing the run.
    let lookbehind = rule("    sel:\n        userAgent|re: '(?<=x)y'\n    condition: sel");
    assert!(
        run(&lookbehind, &evs)
            .await
            .expect_err("refused")
            .contains("userAgent|re")
    );
    let bad = rule("    sel:\n        verb: get\n    condition: sel and other");
    assert!(
        run(&bad, &evs)
            .await
            .expect_err("refused")
            .contains("other")
    );
}

fn correlation(kind: &str, extra: &str) -> String {
    format!(
        "title: secret reads\nid: base-secret-get\nname: secret_get\nlogsource: {{product: kubernetes, service: audit}}\ndetection:\n    sel:\n        verb: get\n        objectRef.resource: secrets\n    condition: sel\nlevel: low\n---\ntitle: many secret reads\nid: corr-1\ncorrelation:\n    type: {kind}\n    rules: [secret_get]\n    group-by: [user.username]\n    timespan: 1m\n{extra}level: high\ntags: [attack.t1552.007]\n"
    )
}

fn secret_get(id: &str, secs: i64, user: &str, name: &str) -> Value {
    ev(
        id,
        secs,
        json!({"user": {"username": user}, "objectRef": {"resource": "secrets", "namespace": "web", "name": name, "apiVersion": "v1"}}),
    )
}

#[tokio::test]
async fn event_count_fires_for_bursts_within_the_timespan_per_group() {
    let mut evs = Vec::new();
    // mallory: 3 reads in 20 s (a burst); bob: 3 reads spread over 3 minutes.
    for (i, s) in [0, 10, 20].iter().enumerate() {
        evs.push(secret_get(&format!("m{i}"), *s, "mallory", "db"));
    }
    for (i, s) in [0, 90, 180].iter().enumerate() {
        evs.push(secret_get(&format!("b{i}"), *s, "bob", "db"));
    }
    // A request logged at two stages counts once.
    let mut twice = secret_get("c0", 5, "carol", "db");
    twice["stage"] = json!("RequestReceived");
    evs.push(twice);
    evs.push(secret_get("c0", 5, "carol", "db"));
    evs.push(secret_get("c1", 6, "carol", "db"));
    let r = correlation("event_count", "    condition: {gte: 3}\n");
    let got = run(&r, &evs).await.expect("loads");
    // The base rule is generate: false, so only the correlation runs.
    assert_eq!(got, vec![ids(&["m0", "m1", "m2"])]);
}

#[tokio::test]
async fn value_count_counts_distinct_values_in_the_timespan() {
    let mut evs = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        evs.push(secret_get(&format!("m{i}"), i as i64 * 5, "mallory", name));
    }
    for i in 0..4 {
        evs.push(secret_get(&format!("b{i}"), i * 5, "bob", "same"));
    }
    let r = correlation(
        "value_count",
        "    condition: {gte: 3, field: objectRef.name}\n",
    );
    let got = run(&r, &evs).await.expect("loads");
    assert_eq!(got, vec![ids(&["m0", "m1", "m2"])]);
}

#[tokio::test]
async fn temporal_needs_every_rule_within_the_timespan() {
    let r = "title: exec\nid: r-exec\nlogsource: {product: kubernetes, service: audit}\ndetection:\n    sel:\n        objectRef.subresource: exec\n    condition: sel\n---\ntitle: binding\nid: r-bind\nlogsource: {product: kubernetes, service: audit}\ndetection:\n    sel:\n        objectRef.resource: clusterrolebindings\n        verb: create\n    condition: sel\n---\ntitle: exec then bind\nid: corr-t\ncorrelation:\n    type: temporal\n    rules: [r-exec, r-bind]\n    group-by: [user.username]\n    timespan: 5m\n    generate: true\nlevel: critical\n";
    let exec = |id: &str, s: i64, u: &str| {
        ev(
            id,
            s,
            json!({"verb": "create", "user": {"username": u}, "objectRef": {"resource": "pods", "namespace": "web", "name": "f", "subresource": "exec", "apiVersion": "v1"}}),
        )
    };
    let bind = |id: &str, s: i64, u: &str| {
        ev(
            id,
            s,
            json!({"verb": "create", "user": {"username": u}, "objectRef": {"resource": "clusterrolebindings", "name": "x", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"}}),
        )
    };
    let evs = vec![
        exec("m0", 0, "mallory"),
        bind("m1", 60, "mallory"),
        exec("b0", 0, "bob"),
        bind("b1", 900, "bob"),
        bind("c1", 30, "carol"),
    ];
    let got = run(r, &evs).await.expect("loads");
    // generate: true keeps the two base rules; the correlation (last) fires for mallory only.
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], ids(&["b0", "m0"]));
    assert_eq!(got[2], ids(&["m0", "m1"]));
}

#[test]
fn compiled_rules_carry_sigma_metadata() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write(
        tmp.path(),
        "r.yml",
        &rule(
            "    sel:\n        verb: create\n        objectRef.subresource: exec\n    condition: sel",
        ),
    );
    let loaded = sigma::load(&[file], &Mapping::builtin().expect("mapping")).expect("load");
    let r = &loaded.rules[0];
    assert_eq!(r.id, "11111111-2222-3333-4444-555555555555");
    assert_eq!(r.title, "test rule");
    assert_eq!(r.severity, rules::rule::Severity::High);
    assert_eq!(r.mitre, ["T1609"]);
    assert_eq!(r.category, "exec-into-pod");
    assert!(r.sql.contains("FROM events_window"), "{}", r.sql);
}
