//! The managed clouds' and container runtimes' wrappers around audit events (fixtures written
//! here after the shapes in shared/audit-formats.md; the Elastic samples are not redistributed).

mod common;

use common::*;

fn escaped(json: &str) -> String {
    serde_json::to_string(json).expect("string")
}

#[test]
fn eks_gke_aks_and_container_log_wrappers_become_rows_with_their_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = |id: &str| event(id, 1, "carol");
    let eks = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123","logGroup":"/aws/eks/prod-eks/cluster","logStream":"kube-apiserver-audit-1","subscriptionFilters":["f"],"logEvents":[{{"id":"1","timestamp":1767607201000,"message":{}}},{{"id":"2","timestamp":1767607202000,"message":{}}}]}}"#,
        escaped(&e("eks-1")),
        escaped(&format!("{}[Truncated...]", &e("eks-cut")[..300]))
    );
    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","logEvents":[]}"#;
    let insights = format!(
        r#"{{"@timestamp":"2026-01-05 10:00:01.661","@message":{},"@logStream":"kube-apiserver-audit-1"}}"#,
        escaped(&e("ins-1"))
    );
    let aks_string = format!(
        r#"{{"time":"2026-01-05T10:00:01.1234567Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS","category":"kube-audit","properties":{{"log":{},"stream":"stdout","pod":"kube-apiserver-1"}}}}"#,
        escaped(&format!("{}\n", e("aks-1")))
    );
    let aks_records = format!(
        r#"{{"records":[{{"time":"2026-01-05T10:00:01Z","resourceId":"/X/MANAGEDCLUSTERS/PROD-AKS","properties":{{"log":{}}}}},{{"time":"2026-01-05T10:00:01Z","resourceId":"/X/MANAGEDCLUSTERS/PROD-AKS","properties":{{"log":"I0105 10:00:01 klog line"}}}}]}}"#,
        e("aks-2")
    );
    let gke = r#"{"insertId":"ins-9","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","operation":{"first":true,"id":"gke-op-1","last":true,"producer":"k8s.io"},"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"dev@example.com"},"methodName":"io.k8s.core.v1.pods.exec.create","requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"kubectl/v1.30.0"},"resourceName":"core/v1/namespaces/shop/pods/web-1/exec","serviceName":"k8s.io","status":{"code":7,"message":"denied"}},"resource":{"labels":{"cluster_name":"prod-gke","location":"eu","project_id":"p"},"type":"k8s_cluster"},"timestamp":"2026-01-05T10:00:03.123456Z","receiveTimestamp":"2026-01-05T10:00:04.000000001Z"}"#;
    let cri_f = format!("2026-01-05T10:00:05.000000001Z stdout F {}", e("cri-1"));
    let cri_p = format!(
        "2026-01-05T10:00:05.000000001Z stdout P {}",
        &e("cri-2")[..100]
    );
    let docker = format!(
        r#"{{"log":{},"stream":"stdout","time":"2026-01-05T10:00:06.000000001Z"}}"#,
        escaped(&format!("{}\n", e("docker-1")))
    );
    let lines = [
        eks,
        control.to_string(),
        insights,
        aks_string,
        aks_records,
        gke.to_string(),
        cri_f,
        cri_p,
        docker,
    ];
    std::fs::write(dir.path().join("mixed.log"), lines.join("\n") + "\n").expect("write");
    let lake = dir.path().join("lake");
    let s = ingest(&lake, &[&dir.path().join("mixed.log")], &[]);
    // eks-1, ins-1, aks-1, aks-2, gke, cri-1, docker-1
    assert_eq!(s["rows"], 7, "{s}");
    // the truncated CloudWatch message, the control message, the klog line, the CRI partial
    assert_eq!(s["quarantined"], 4, "{s}");
    let reasons: Vec<String> = quarantine(&lake)
        .iter()
        .map(|q| q["reason"].as_str().expect("a string field").to_owned())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("[Truncated...]")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("CONTROL_MESSAGE")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("CRI partial")),
        "{reasons:?}"
    );

    let rows = query(
        &lake,
        "SELECT audit_id, source_format AS f, \"cluster\" AS c FROM events ORDER BY audit_id",
    );
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["audit_id"].as_str().unwrap_or(""),
                r["f"].as_str().unwrap_or(""),
                r["c"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "aks-1 aks prod-aks",
            "aks-2 aks prod-aks",
            "cri-1 cri default",
            "docker-1 docker default",
            "eks-1 eks prod-eks",
            "gke-op-1 gke prod-gke",
            "ins-1 eks default"
        ]
    );
    let gke_row = query(
        &lake,
        "SELECT verb, resource, subresource, namespace, name, status_code, annotations['kubetrail.io/grpc-code'] AS grpc, username, source_ip FROM events WHERE source_format = 'gke'",
    );
    let r = &gke_row[0];
    assert_eq!(
        (
            r["verb"].as_str(),
            r["resource"].as_str(),
            r["subresource"].as_str()
        ),
        (Some("create"), Some("pods"), Some("exec"))
    );
    assert_eq!(
        (r["namespace"].as_str(), r["name"].as_str()),
        (Some("shop"), Some("web-1"))
    );
    assert_eq!(r["status_code"], 403);
    assert_eq!(r["grpc"], "7");
    assert_eq!(r["username"], "dev@example.com");
    assert_eq!(r["source_ip"], "203.0.113.5");
}

#[test]
fn a_broken_event_in_a_webhook_batch_is_quarantined_alone_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = r#"{"auditID":"broken","verb":}"#;
    let batch = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{},{broken},{}]}}"#,
        event("list-1", 1, "carol"),
        event("list-3", 3, "carol")
    );
    let array = format!("[{},{broken}]", event("array-1", 4, "dave"));
    let input = dir.path().join("batches.jsonl");
    std::fs::write(
        &input,
        format!("{}\n{batch}\n{array}\n", event("line-1", 0, "erin")),
    )
    .expect("write");
    let lake = dir.path().join("lake");
    let s = ingest(&lake, &[&input], &[]);
    assert_eq!(
        (s["rows"].as_u64(), s["quarantined"].as_u64()),
        (Some(4), Some(2)),
        "{s}"
    );
    let ids: Vec<String> = query(
        &lake,
        "SELECT audit_id, source_line FROM events ORDER BY ts",
    )
    .iter()
    .map(|r| {
        format!(
            "{} {}",
            r["audit_id"].as_str().unwrap_or(""),
            r["source_line"]
        )
    })
    .collect();
    assert_eq!(ids, ["line-1 1", "list-1 2", "list-3 2", "array-1 3"]);
    let q = quarantine(&lake);
    for (record, line) in q.iter().zip([2, 3]) {
        assert_eq!(record["line"], line, "{record}");
        assert!(
            record["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("invalid JSON")),
            "{record}"
        );
        assert!(
            record["raw"]
                .as_str()
                .is_some_and(|t| t.contains("broken") && !t.contains("list-1")),
            "{record}"
        );
    }
}
