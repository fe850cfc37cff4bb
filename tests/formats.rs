//! Every wrapper a platform puts around audit events, round-tripped: the same canonical events
//! (one padded past 40 KiB with multi-byte characters, one that is only `kind: Event` with an
//! audit apiVersion and times), wrapped as each platform wraps them, ingest to rows identical to
//! the bare events' apart from the wrapper columns. Fixtures are written here after the shapes in
//! shared/audit-formats.md.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use serde_json::Value;
use serde_json::value::RawValue;

/// Columns that say how an event was wrapped (they may differ between wrappers).
const WRAPPER_COLUMNS: &[&str] = &[
    "source_format",
    "wrapper_ts",
    "wrapper_stream",
    "source_file",
    "source_line",
    "cluster",
];

/// An event padded past 40 KiB, with characters of 2 and 3 bytes in its body.
fn padded(id: &str, second: u32) -> String {
    let e = event(id, second, "dave");
    let pad = "é€x-".repeat(6000);
    let body = format!(r#","requestObject":{{"metadata":{{"annotations":{{"note":"{pad}"}}}}}}}}"#);
    let out = format!("{}{body}", &e[..e.len() - 1]);
    assert!(out.len() > 40 << 10);
    out
}

/// An object that is an audit Event only by its kind and apiVersion.
fn minimal(second: u32) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","requestReceivedTimestamp":"2026-01-05T10:00:{second:02}.000005Z","stageTimestamp":"2026-01-05T10:00:{second:02}.100005Z"}}"#
    )
}

fn canonical() -> Vec<String> {
    vec![
        event("rt-1", 1, "alice"),
        event("rt-2", 2, "bob"),
        padded("rt-big", 3),
        event("rt-3", 4, "carol"),
        minimal(5),
    ]
}

/// The events' `requestReceivedTimestamp`, for wrappers that carry a time of their own.
fn time_of(ev: &str) -> String {
    let v: Value = serde_json::from_str(ev).expect("event JSON");
    v["requestReceivedTimestamp"]
        .as_str()
        .expect("a string field")
        .to_owned()
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Rows of a lake, ordered, without the wrapper columns.
fn rows(lake: &Path) -> Vec<Value> {
    query(lake, "SELECT * FROM events ORDER BY ts, audit_id")
        .into_iter()
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                for k in WRAPPER_COLUMNS {
                    o.remove(*k);
                }
            }
            r
        })
        .collect()
}

fn column(lake: &Path, sql: &str) -> Vec<String> {
    query(lake, sql)
        .iter()
        .map(|r| {
            let o = r.as_object().expect("row");
            o.values()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn reasons(lake: &Path) -> Vec<String> {
    quarantine(lake)
        .iter()
        .map(|q| q["reason"].as_str().expect("a string field").to_owned())
        .collect()
}

/// Ingest `bytes` as one file into a new lake under `dir`; the summary.
fn ingest_bytes(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    extra: &[&str],
) -> (std::path::PathBuf, Value) {
    let file = dir.join(name);
    std::fs::write(&file, bytes).expect("write input");
    let lake = dir.join(format!("lake-{name}"));
    let s = ingest(&lake, &[&file], extra);
    (lake, s)
}

// ---------------------------------------------------------------------------------------------
// How each platform wraps the events.

fn bare(events: &[String]) -> Vec<u8> {
    events
        .iter()
        .map(|e| format!("{e}\n"))
        .collect::<String>()
        .into_bytes()
}

fn insights_csv(events: &[String]) -> Vec<u8> {
    let mut out = String::from("@timestamp,@message,@logStream,@log\n");
    // Logs Insights lists the newest first.
    for e in events.iter().rev() {
        let ts = time_of(e).replace('T', " ");
        out.push_str(&format!(
            "{},{},kube-apiserver-audit-0a1b,{}\n",
            &ts[..23],
            csv_field(e),
            "123456789012:/aws/eks/prod-eks/cluster"
        ));
    }
    out.into_bytes()
}

fn insights_json(events: &[String]) -> Vec<u8> {
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "  {{\"@timestamp\": \"{}\", \"@message\": {}, \"@logStream\": \"kube-apiserver-audit-0a1b\", \"@log\": \"123456789012:/aws/eks/prod-eks/cluster\"}}",
                &time_of(e).replace('T', " ")[..23],
                quoted(e)
            )
        })
        .collect();
    format!("[\n{}\n]\n", rows.join(",\n")).into_bytes()
}

fn envelope(events: &[&String]) -> String {
    let items: Vec<String> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                r#"{{"id":"3{i}","timestamp":1767607201000,"message":{}}}"#,
                quoted(e)
            )
        })
        .collect();
    format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/eks/prod-eks/cluster","logStream":"kube-apiserver-audit-0a1b","subscriptionFilters":["to-firehose"],"logEvents":[{}]}}"#,
        items.join(",")
    )
}

const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1767607201000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;

/// gzip members of subscription envelopes, back to back with no newline between the objects.
fn firehose(events: &[String]) -> Vec<u8> {
    let members = [
        envelope(&[&events[0], &events[1]]),
        CONTROL.to_string(),
        envelope(&[&events[2]]),
        envelope(&events[3..].iter().collect::<Vec<_>>()),
    ];
    members.iter().flat_map(|m| gzip(m.as_bytes())).collect()
}

fn subscription_lines(events: &[String]) -> Vec<u8> {
    events
        .iter()
        .map(|e| envelope(&[e]) + "\n")
        .collect::<String>()
        .into_bytes()
}

fn export_task(events: &[String]) -> Vec<u8> {
    events
        .iter()
        .map(|e| format!("{}Z {e}\n", &time_of(e)[..23]))
        .collect::<String>()
        .into_bytes()
}

/// CRI lines; the padded event split into 16 KiB pieces (cutting characters in two), with a
/// stderr line between its pieces.
fn cri(events: &[String]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for e in events {
        let ts = "2026-01-05T10:00:05.000000001Z";
        let bytes = e.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(16 << 10).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let tag = if i + 1 == pieces.len() { "F" } else { "P" };
            out.extend_from_slice(format!("{ts} stdout {tag} ").as_bytes());
            out.extend_from_slice(piece);
            out.push(b'\n');
            if i == 0 && pieces.len() > 1 {
                out.extend_from_slice(
                    format!("{ts} stderr F I0105 10:00:05.000 1 trace.go:236] slow\n").as_bytes(),
                );
            }
        }
    }
    out
}

fn docker(events: &[String]) -> Vec<u8> {
    events
        .iter()
        .map(|e| {
            format!(
                "{{\"log\":{},\"stream\":\"stdout\",\"time\":\"2026-01-05T10:00:06.000000001Z\"}}\n",
                quoted(&format!("{e}\n"))
            )
        })
        .collect::<String>()
        .into_bytes()
}

const RESOURCE_ID: &str = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS";

fn aks_records(events: &[String]) -> Vec<u8> {
    let records: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                r#"{{"time":"2026-01-05T10:00:01.1234567Z","resourceId":"{RESOURCE_ID}","category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","properties":{{"log":{},"stream":"stdout","pod":"kube-apiserver-7d9f"}}}}"#,
                quoted(&format!("{e}\n"))
            )
        })
        .collect();
    format!("{{\"records\":[{}]}}\n", records.join(",")).into_bytes()
}

/// (Event field, AKSAudit column, whether the column is `dynamic`).
const AKS_COLUMNS: &[(&str, &str, bool)] = &[
    ("level", "Level", false),
    ("auditID", "AuditId", false),
    ("stage", "Stage", false),
    ("requestURI", "RequestUri", false),
    ("verb", "Verb", false),
    ("user", "User", true),
    ("impersonatedUser", "ImpersonatedUser", true),
    ("sourceIPs", "SourceIps", true),
    ("userAgent", "UserAgent", false),
    ("objectRef", "ObjectRef", true),
    ("responseStatus", "ResponseStatus", true),
    ("requestObject", "RequestObject", true),
    ("responseObject", "ResponseObject", true),
    ("requestReceivedTimestamp", "RequestReceivedTime", false),
    ("stageTimestamp", "StageReceivedTime", false),
    ("annotations", "Annotations", true),
];

fn fields(e: &str) -> std::collections::BTreeMap<String, Box<RawValue>> {
    serde_json::from_str(e).expect("event JSON")
}

/// Log Analytics JSON export: an array of rows, `dynamic` columns as JSON.
fn aks_table_json(events: &[String]) -> Vec<u8> {
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            let f = fields(e);
            let mut cols = vec![
                r#""TenantId":"t-1""#.to_string(),
                r#""TimeGenerated":"2026-01-05T10:00:07.1234567Z""#.to_string(),
                r#""PodName":"kube-apiserver-7d9f""#.to_string(),
                format!(r#""_ResourceId":{}"#, quoted(&RESOURCE_ID.to_lowercase())),
                r#""Type":"AKSAudit""#.to_string(),
            ];
            for (field, col, _) in AKS_COLUMNS {
                if let Some(v) = f.get(*field) {
                    cols.push(format!("{}:{}", quoted(col), v.get()));
                }
            }
            format!("{{{}}}", cols.join(","))
        })
        .collect();
    format!("[{}]\n", rows.join(",\n")).into_bytes()
}

/// Log Analytics CSV export: every column a field, `dynamic` ones as JSON text, absent ones empty.
fn aks_table_csv(events: &[String]) -> Vec<u8> {
    let mut header = vec!["TenantId", "TimeGenerated [UTC]", "PodName", "_ResourceId"];
    header.extend(AKS_COLUMNS.iter().map(|(_, c, _)| *c));
    let mut out = header.join(",") + "\r\n";
    for e in events {
        let f = fields(e);
        let mut cells = vec![
            "t-1".to_string(),
            "2026-01-05T10:00:07.1234567Z".to_string(),
            "kube-apiserver-7d9f".to_string(),
            RESOURCE_ID.to_lowercase(),
        ];
        for (field, _, dynamic) in AKS_COLUMNS {
            cells.push(match f.get(*field) {
                None => String::new(),
                Some(v) if *dynamic => v.get().to_string(),
                Some(v) => serde_json::from_str::<String>(v.get()).expect("a string"),
            });
        }
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&(line.join(",") + "\r\n"));
    }
    out.into_bytes()
}

/// Go's `%q` for the strings these tests use (JSON escaping is a subset of Go's).
fn go_quote(s: &str) -> String {
    quoted(s)
}

fn legacy_line(e: &str) -> String {
    let v: Value = serde_json::from_str(e).expect("event JSON");
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let groups: Vec<String> = v
        .pointer("/user/groups")
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).map(go_quote).collect())
        .unwrap_or_default();
    format!(
        "{} AUDIT: id={} stage={} ip={} method={} user={} groups={} as=\"<self>\" asgroups=\"<lookup>\" user-agent={} namespace={} uri={} response=\"{}\"",
        s("/requestReceivedTimestamp"),
        go_quote(&s("/auditID")),
        go_quote(&s("/stage")),
        go_quote(&s("/sourceIPs/0")),
        go_quote(&s("/verb")),
        go_quote(&s("/user/username")),
        go_quote(&groups.join(",")),
        go_quote(&s("/userAgent")),
        go_quote(&s("/objectRef/namespace")),
        go_quote(&s("/requestURI")),
        v.pointer("/responseStatus/code")
            .map_or("<deferred>".into(), Value::to_string)
    )
}

// ---------------------------------------------------------------------------------------------

#[test]
fn every_wrapper_round_trips_to_the_rows_of_the_bare_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = canonical();
    let (bare_lake, s) = ingest_bytes(dir.path(), "bare.log", &bare(&events), &[]);
    assert_eq!(s["rows"], 5, "{s}");
    let want = rows(&bare_lake);
    assert_eq!(want.len(), 5);
    assert_eq!(
        want[2]["ts"], "2026-01-05T10:00:03.123456Z",
        "ts is the event's own time, to the microsecond"
    );

    type Wrapper = fn(&[String]) -> Vec<u8>;
    let wrappers: [(&str, Wrapper, &str, usize); 10] = [
        ("insights.csv", insights_csv, "eks-insights-csv", 0),
        ("insights.json", insights_json, "eks", 0),
        ("firehose.gz", firehose, "eks", 1),
        ("subscription.log", subscription_lines, "eks", 0),
        ("export-000000.gz", export_task, "eks-export", 0),
        ("cri.log", cri, "cri", 1),
        ("docker.log", docker, "docker", 0),
        ("aks-records.json", aks_records, "aks", 0),
        ("aks-table.json", aks_table_json, "aks-table", 0),
        ("aks-table.csv", aks_table_csv, "aks-table-csv", 0),
    ];
    for (name, wrap, format, quarantined) in wrappers {
        let mut bytes = wrap(&events);
        if name.ends_with(".gz") && name.starts_with("export") {
            bytes = gzip(&bytes);
        }
        let (lake, s) = ingest_bytes(dir.path(), name, &bytes, &[]);
        assert_eq!(s["rows"], 5, "{name}: {s}\n{:?}", reasons(&lake));
        assert_eq!(
            s["quarantined"],
            quarantined,
            "{name}: {:?}",
            reasons(&lake)
        );
        let got = rows(&lake);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{name}: a row differs from the bare event's");
        }
        let formats = column(&lake, "SELECT DISTINCT source_format FROM events");
        assert_eq!(formats, [format], "{name}");
    }
}

#[test]
fn wrapper_columns_keep_what_only_the_wrapper_knows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = canonical();
    let (lake, _) = ingest_bytes(dir.path(), "insights.csv", &insights_csv(&events), &[]);
    let got = column(
        &lake,
        "SELECT DISTINCT \"cluster\", wrapper_stream FROM events",
    );
    assert_eq!(got, ["prod-eks kube-apiserver-audit-0a1b"]);
    let got = query(
        &lake,
        "SELECT wrapper_ts FROM events WHERE audit_id = 'rt-1'",
    );
    let w = got[0]["wrapper_ts"].as_str().expect("a string field");
    assert!(w.starts_with("2026-01-05T10:00:01.123"), "{w}");
    // --cluster wins over the log group.
    let file = dir.path().join("insights.csv");
    let lake2 = dir.path().join("lake-named");
    ingest(&lake2, &[&file], &["--cluster", "named"]);
    assert_eq!(
        column(&lake2, "SELECT DISTINCT \"cluster\" FROM events"),
        ["named"]
    );

    let (lake, _) = ingest_bytes(dir.path(), "aks-table.csv", &aks_table_csv(&events), &[]);
    let got = column(
        &lake,
        "SELECT DISTINCT \"cluster\", wrapper_stream FROM events",
    );
    assert_eq!(got, ["prod-aks kube-apiserver-7d9f"]);
    let (lake, _) = ingest_bytes(dir.path(), "records.json", &aks_records(&events), &[]);
    let got = column(&lake, "SELECT DISTINCT wrapper_stream FROM events");
    assert_eq!(got, ["kube-apiserver-7d9f"]);
}

const GKE_ENTRY: &str = r#"{"insertId":"INSERT","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","operation":{"first":true,"id":"OPID","last":true,"producer":"k8s.io"},"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"dev@example.com"},"methodName":"io.k8s.core.v1.configmaps.create","requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"kubectl/v1.30.0"},"resourceName":"core/v1/namespaces/shop/configmaps/c","serviceName":"k8s.io","status":{"code":0},"request":{"metadata":{"name":"c"},"data":{"note":"PAD"}}},"resource":{"labels":{"cluster_name":"prod-gke","location":"eu","project_id":"p"},"type":"k8s_cluster"},"timestamp":"2026-01-05T10:00:0S.123456Z","receiveTimestamp":"2026-01-05T10:00:0S.500000001Z"}"#;

fn gke_entries() -> Vec<String> {
    (1..=3)
        .map(|i| {
            let pad = if i == 2 {
                "é€x-".repeat(6000)
            } else {
                "small".into()
            };
            GKE_ENTRY
                .replace("OPID", &format!("gke-op-{i}"))
                .replace("INSERT", &format!("ins-{i}"))
                .replace("0S", &format!("0{i}"))
                .replace("PAD", &pad)
        })
        .collect()
}

#[test]
fn gke_entries_through_pub_sub_ingest_like_the_entries_themselves() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = gke_entries();
    assert!(entries[1].len() > 40 << 10);
    let (plain, s) = ingest_bytes(dir.path(), "gke.log", &bare(&entries), &[]);
    assert_eq!(s["rows"], 3, "{s}");
    let push: String = entries[..2]
        .iter()
        .map(|e| {
            format!(
                "{{\"message\":{{\"attributes\":{{\"logging.googleapis.com/timestamp\":\"2026-01-05T10:00:01Z\"}},\"data\":\"{}\",\"messageId\":\"1\",\"publishTime\":\"2026-01-05T10:00:09.1Z\"}},\"subscription\":\"projects/p/subscriptions/audit\"}}\n",
                b64(e)
            )
        })
        .collect();
    let pull = format!(
        "{{\"receivedMessages\":[{{\"ackId\":\"a\",\"message\":{{\"data\":\"{}\",\"messageId\":\"3\"}}}}]}}\n",
        b64(&entries[2])
    );
    let (lake, s) = ingest_bytes(dir.path(), "pubsub.log", (push + &pull).as_bytes(), &[]);
    assert_eq!(s["rows"], 3, "{s} {:?}", reasons(&lake));
    assert_eq!(rows(&lake), rows(&plain));
    assert_eq!(
        column(
            &lake,
            "SELECT source_format AS a, coalesce(wrapper_stream, 'null') AS b, \"cluster\" AS c FROM events ORDER BY ts"
        ),
        [
            "gke-pubsub projects/p/subscriptions/audit prod-gke",
            "gke-pubsub projects/p/subscriptions/audit prod-gke",
            "gke-pubsub null prod-gke"
        ]
    );
}

#[test]
fn legacy_lines_give_the_fields_they_have_and_the_rest_null() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Vec<String> = canonical()
        .into_iter()
        .filter(|e| e.contains("auditID"))
        .collect();
    let (bare_lake, _) = ingest_bytes(dir.path(), "bare.log", &bare(&events), &[]);
    let text: String = events.iter().map(|e| legacy_line(e) + "\n").collect();
    for extra in [&[][..], &["--input-format", "legacy"][..]] {
        let name = format!("legacy{}.log", extra.len());
        let (lake, s) = ingest_bytes(dir.path(), &name, text.as_bytes(), extra);
        assert_eq!(s["rows"], 4, "{s} {:?}", reasons(&lake));
        let cols = "ts, audit_id, stage, verb, request_uri, username, user_groups, source_ip, user_agent, namespace, status_code";
        let sql = format!("SELECT {cols} FROM events ORDER BY ts");
        assert_eq!(query(&lake, &sql), query(&bare_lake, &sql));
        let nulls = column(
            &lake,
            "SELECT count(level) + count(resource) + count(request_object) + count(decision) AS n FROM events",
        );
        assert_eq!(nulls, ["0"]);
        assert_eq!(
            column(&lake, "SELECT DISTINCT source_format FROM events"),
            ["legacy"]
        );
    }
}

#[test]
fn a_file_mixing_vanilla_gke_aks_and_text_lines_ingests_each_line_by_its_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = |id: &str, s: u32| event(id, s, "erin");
    let lines = [
        e("mix-vanilla", 0),
        gke_entries()[0].clone(),
        String::from_utf8(aks_records(&[e("mix-aks", 2)])).expect("utf-8"),
        String::from_utf8(aks_table_json(&[e("mix-table", 3)]))
            .expect("utf-8")
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        legacy_line(&e("mix-legacy", 4)),
        format!("2026-01-05T10:00:05.000Z {}", e("mix-export", 5)),
        format!(
            "2026-01-05T10:00:06.000000001Z stdout F {}",
            e("mix-cri", 6)
        ),
        r#"{"insertId":"x","logName":"projects/p/logs/y","timestamp":"2026-01-05T10:00:07Z"}"#
            .into(),
    ];
    let text = lines.map(|l| l.trim_end().to_string()).join("\n") + "\n";
    let (lake, s) = ingest_bytes(dir.path(), "mixed.log", text.as_bytes(), &[]);
    assert_eq!(s["rows"], 7, "{s} {:?}", reasons(&lake));
    assert_eq!(
        column(
            &lake,
            "SELECT audit_id, source_format FROM events ORDER BY ts"
        ),
        [
            "mix-vanilla event",
            "gke-op-1 gke",
            "mix-aks aks",
            "mix-table aks-table",
            "mix-legacy legacy",
            "mix-export eks-export",
            "mix-cri cri"
        ]
    );
    assert_eq!(
        reasons(&lake),
        [
            "not an audit event nor a known wrapper: closest to GKE LogEntry (has insertId, logName, timestamp) but protoPayload is missing"
        ]
    );
}

#[test]
fn firehose_objects_keep_going_after_a_bad_envelope_and_quarantine_a_truncated_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = canonical();
    let bad = r#"{"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/prod-eks/cluster","logEvents":[{"id":"1" "message":"x"}]}"#;
    let mut bytes = gzip(envelope(&[&events[0]]).as_bytes());
    bytes.extend(gzip(bad.as_bytes()));
    bytes.extend(gzip(envelope(&[&events[1]]).as_bytes()));
    let last = gzip(envelope(&[&events[2], &events[3]]).as_bytes());
    bytes.extend(&last[..last.len() / 2]);
    let (lake, s) = ingest_bytes(dir.path(), "firehose-cut.gz", &bytes, &[]);
    assert_eq!(
        column(&lake, "SELECT audit_id FROM events ORDER BY ts"),
        ["rt-1", "rt-2"],
        "{s}"
    );
    let reasons = reasons(&lake);
    assert!(
        reasons.iter().any(|r| r.starts_with("invalid JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("input ends early")),
        "the cut member is reported: {reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("truncated JSON document")),
        "what the cut member held is quarantined: {reasons:?}"
    );
}

#[test]
fn a_cri_partial_run_cut_off_at_the_end_is_quarantined_and_joined_once_the_file_grows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = canonical();
    let full = cri(&events[..3]);
    // Everything up to the last piece of the padded event (the last line).
    let body = &full[..full.len() - 1];
    let cut = memchr_last(body) + 1;
    let file = dir.path().join("kube-apiserver.log");
    std::fs::write(&file, &full[..cut]).expect("write");
    let lake = dir.path().join("lake");
    let s = ingest(&lake, &[&file], &[]);
    assert_eq!(s["rows"], 2, "{s}");
    let reasons = reasons(&lake);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("CRI partial line cut off: 2 partial piece(s)")),
        "{reasons:?}"
    );
    // The runtime writes the final piece: the event is read whole, nothing twice.
    std::fs::write(&file, &full).expect("write");
    let s = ingest(&lake, &[&file], &[]);
    assert_eq!(s["rows"], 1, "{s}");
    assert_eq!(
        column(&lake, "SELECT audit_id FROM events ORDER BY ts"),
        ["rt-1", "rt-2", "rt-big"]
    );
    let pad = "é€x-".repeat(6000);
    assert_eq!(
        column(
            &lake,
            "SELECT request_object FROM events WHERE audit_id = 'rt-big'"
        ),
        [format!(
            r#"{{"metadata":{{"annotations":{{"note":"{pad}"}}}}}}"#
        )]
    );
}

fn memchr_last(b: &[u8]) -> usize {
    b.iter().rposition(|&c| c == b'\n').expect("a newline")
}

#[test]
fn cri_pieces_across_a_chunk_boundary_are_joined() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Whole lines up to 300 KiB before the 4 MiB chunk size, then an event of 600 KiB split into
    // pieces (so a chunk ends among them), then more whole lines.
    let mut events: Vec<String> = Vec::new();
    let mut size = 0;
    while size < (4 << 20) - (300 << 10) {
        let e = event(&format!("w-{}", events.len()), 10, "u");
        size += e.len() + 40;
        events.push(e);
    }
    let whole = events.len();
    let e = event("rt-huge", 3599, "u");
    let huge = format!(
        r#"{},"requestObject":{{"note":"{}"}}}}"#,
        &e[..e.len() - 1],
        "é€x-".repeat(90_000)
    );
    events.push(huge);
    events.extend((0..10).map(|i| event(&format!("z-{i}"), 20, "u")));
    let bytes = cri(&events);
    let (lake, s) = ingest_bytes(dir.path(), "big.log", &bytes, &[]);
    assert_eq!(s["rows"], whole as u64 + 11, "{s} {:?}", reasons(&lake));
    assert_eq!(s["quarantined"], 1, "the stderr line: {:?}", reasons(&lake));
    assert_eq!(
        column(
            &lake,
            "SELECT count(*) AS n FROM events WHERE audit_id = 'rt-huge'"
        ),
        ["1"]
    );
}

#[test]
fn input_format_forces_one_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = canonical();
    // An Insights CSV export without @timestamp is not recognised by its header...
    let mut csv = String::from("@message,@logStream\n");
    for e in &events {
        csv.push_str(&format!("{},kube-apiserver-audit-1\n", csv_field(e)));
    }
    let (lake, s) = ingest_bytes(dir.path(), "no-time.csv", csv.as_bytes(), &[]);
    assert_eq!(s["rows"], 0, "{s}");
    // ... and is read when its reader is forced.
    let (lake2, s) = ingest_bytes(
        dir.path(),
        "no-time2.csv",
        csv.as_bytes(),
        &["--input-format", "eks-insights-csv"],
    );
    assert_eq!(s["rows"], 5, "{s} {:?}", reasons(&lake2));
    assert!(!quarantine(&lake).is_empty());
    // A reader forced on another format quarantines every line, saying so.
    let (lake, s) = ingest_bytes(
        dir.path(),
        "records.json",
        &aks_records(&events[..1]),
        &["--input-format", "event"],
    );
    assert_eq!(s["rows"], 0, "{s}");
    assert_eq!(
        reasons(&lake),
        [
            "not an audit Event or EventList (--input-format event); use --input-format auto to detect the format"
        ]
    );
    // Every reader reads its own format.
    let cases: [(&str, Vec<u8>); 8] = [
        ("event", bare(&events)),
        ("firehose", firehose(&events)),
        ("eks", subscription_lines(&events)),
        ("eks-export", export_task(&events)),
        ("cri", cri(&events)),
        ("docker", docker(&events)),
        ("aks", aks_records(&events)),
        ("aks-table-csv", aks_table_csv(&events)),
    ];
    for (format, bytes) in cases {
        let name = format!("forced-{format}");
        let (lake, s) = ingest_bytes(dir.path(), &name, &bytes, &["--input-format", format]);
        assert_eq!(s["rows"], 5, "{format}: {s} {:?}", reasons(&lake));
    }
    let (lake, s) = ingest_bytes(
        dir.path(),
        "forced-gke",
        &bare(&gke_entries()),
        &["--input-format", "gke"],
    );
    assert_eq!(s["rows"], 3, "{s} {:?}", reasons(&lake));
}

#[test]
fn gzip_of_a_firehose_file_written_in_several_members_streams() {
    // Many members, many envelopes: read as a stream of documents, not as one line.
    let dir = tempfile::tempdir().expect("tempdir");
    let events: Vec<String> = (0..3000)
        .map(|i| event(&format!("f-{i}"), i % 3600, "u"))
        .collect();
    let mut bytes = Vec::new();
    for part in events.chunks(50) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(envelope(&part.iter().collect::<Vec<_>>()).as_bytes())
            .expect("gzip");
        bytes.extend(enc.finish().expect("gzip"));
    }
    let (lake, s) = ingest_bytes(dir.path(), "many.gz", &bytes, &[]);
    assert_eq!(s["rows"], 3000, "{s} {:?}", reasons(&lake));
    assert_eq!(s["quarantined"], 0);
}
