//! `kubetrail demo` end to end: it generates a day of a small cluster with attacks, ingests it,
//! runs every rule and shows the high and critical findings.

mod common;

use common::*;

#[test]
fn demo_generates_ingests_and_shows_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let started = std::time::Instant::now();
    let out = kubetrail()
        .arg("demo")
        .arg(&run)
        .output()
        .expect("run demo");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    eprintln!("demo took {:.1} s", elapsed.as_secs_f64());

    // The three steps ran, in order.
    let steps: Vec<usize> = ["1/3 generating", "2/3 ingesting", "3/3 running"]
        .iter()
        .map(|s| stderr.find(s).unwrap_or(usize::MAX))
        .collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]) && steps[2] != usize::MAX,
        "{stderr}"
    );

    // What it printed matches the report it wrote.
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("findings.json")).expect("findings.json written"),
    )
    .expect("findings.json is JSON");
    let findings = report["findings"].as_array().expect("findings array");
    let high: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("high" | "critical")))
        .collect();
    assert!(!high.is_empty(), "the demo's attacks give high findings");
    assert!(
        stdout.contains(&format!(
            "{} high or critical findings shown; {} more",
            high.len(),
            findings.len() - high.len()
        )),
        "{stdout}"
    );
    for f in &high {
        let id = f["rule_id"].as_str().expect("rule_id");
        assert!(stdout.contains(id), "{id} not shown:\n{stdout}");
    }
    assert!(
        report["rules_run"].as_u64().is_some_and(|n| n >= 90),
        "{}",
        report["rules_run"]
    );
    assert!(report["failures"].as_array().is_some_and(Vec::is_empty));

    // The lake it names answers queries, and the truth file lists the injected attacks.
    let lake = run.join("lake");
    assert!(stdout.contains("kubetrail shell --lake"), "{stdout}");
    assert_eq!(
        count(&lake, "SELECT count(*) AS n FROM events") as u64,
        report["lake"]["events"].as_u64().expect("events")
    );
    let truth = std::fs::read_to_string(run.join("truth.jsonl")).expect("truth.jsonl");
    assert!(truth.lines().count() > 0);
}
