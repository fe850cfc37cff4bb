//! `--engine ballista://HOST:PORT`: a scheduler and an executor started on loopback as
//! `kubetrail ballista-scheduler` and `kubetrail ballista-executor`, and `query`, `detect` and
//! `report` answering there what they answer locally.
//!
//! Built only with `--features ballista` (CI does not build it; see docs/engines.md):
//! `cargo test --features ballista --test ballista`.
#![cfg(feature = "ballista")]

mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Processes killed when the test ends, whichever way it ends.
struct Cluster {
    children: Vec<Child>,
    engine: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for(addr: SocketAddr, what: &str) {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_cluster(work: &Path) -> Cluster {
    let bin = env!("CARGO_BIN_EXE_kubetrail");
    let scheduler: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut cluster = Cluster {
        children: Vec::new(),
        engine: format!("ballista://{scheduler}"),
    };
    cluster.children.push(
        Command::new(bin)
            .args(["ballista-scheduler", "--bind", &scheduler.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the scheduler"),
    );
    wait_for(scheduler, "the scheduler");
    let flight: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    cluster.children.push(
        Command::new(bin)
            .args(["ballista-executor", "--scheduler", &scheduler.to_string()])
            .args(["--bind", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--port", &flight.port().to_string()])
            .args(["--grpc-port", &free_port().to_string()])
            .args(["--cores", "2"])
            .arg("--work-dir")
            .arg(work)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the executor"),
    );
    wait_for(flight, "the executor");
    // the executor registers with the scheduler after it listens
    std::thread::sleep(Duration::from_secs(2));
    cluster
}

fn lake_of_generated_attacks(dir: &Path) -> std::path::PathBuf {
    let log = dir.join("audit.log");
    kubetrail()
        .args([
            "gen", "--events", "20000", "--seed", "5", "--days", "2", "--out",
        ])
        .arg(&log)
        .assert()
        .success();
    let lake = dir.join("lake");
    ingest(&lake, &[&log], &["--cluster", "lab"]);
    lake
}

/// (rule, audit IDs) of every finding `detect --format jsonl` prints.
fn findings(lake: &Path, flags: &[&str]) -> BTreeSet<(String, Vec<String>)> {
    let out = stdout_of(
        kubetrail()
            .args(["detect", "--format", "jsonl", "--lake"])
            .arg(lake)
            .args(flags)
            // a job Ballista never finishes fails the test instead of hanging it
            .timeout(Duration::from_secs(300)),
    );
    out.lines()
        .map(|line| {
            let f: Value = serde_json::from_str(line).expect("a finding per line");
            let mut ids: Vec<String> = f["audit_ids"]
                .as_array()
                .expect("audit_ids")
                .iter()
                .map(|v| v.as_str().expect("an ID").to_string())
                .collect();
            ids.sort();
            (f["rule_id"].as_str().expect("rule_id").to_string(), ids)
        })
        .collect()
}

fn query_csv(lake: &Path, engine: &str, sql: &str) -> String {
    stdout_of(
        kubetrail()
            .args(["query", "--format", "csv", "--engine", engine, "--lake"])
            .arg(lake)
            .arg(sql),
    )
}

#[test]
fn the_pack_query_and_report_answer_on_ballista_what_they_answer_locally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_generated_attacks(dir.path());
    let work = dir.path().join("executor");
    std::fs::create_dir_all(&work).expect("mkdir");
    let cluster = start_cluster(&work);

    // Threat intel from the lake's own addresses: ioc_label must travel with its list.
    let ip = query(
        &lake,
        "SELECT source_ip FROM events WHERE source_ip IS NOT NULL \
         GROUP BY 1 ORDER BY count(*) ASC, 1 LIMIT 1",
    )[0]["source_ip"]
        .as_str()
        .expect("an address")
        .to_string();
    let iocs = dir.path().join("intel.csv");
    std::fs::write(
        &iocs,
        format!("address,label,valid_from,valid_to\n{ip},test feed,,\n"),
    )
    .expect("write");
    let iocs = iocs.to_string_lossy().into_owned();

    for sql in [
        "SELECT count(*) AS n, count(DISTINCT username) AS users FROM events",
        "SELECT actor_kind(username, user_groups) AS kind, verb, count(*) AS n FROM events \
         GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT username, json_get_str(request_object, 'kind') AS kind, count(*) AS n \
         FROM events WHERE request_object IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20",
    ] {
        let here = query_csv(&lake, "local", sql);
        let there = query_csv(&lake, &cluster.engine, sql);
        assert!(here.lines().count() > 1, "{sql} has rows:\n{here}");
        assert_eq!(there, here, "{sql}");
    }

    let flags = ["--ioc-file", iocs.as_str()];
    let here = findings(&lake, &flags);
    let there = findings(
        &lake,
        &[&flags[..], &["--engine", &cluster.engine]].concat(),
    );
    assert!(here.len() > 10, "the generated attacks are found: {here:?}");
    assert!(
        here.iter().any(|(rule, _)| rule == "threat-intel-address"),
        "the intel address is found locally: {here:?}"
    );
    let missing: Vec<_> = here.difference(&there).collect();
    let extra: Vec<_> = there.difference(&here).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "on Ballista, missing {missing:?}, extra {extra:?}"
    );

    let (html, json) = (dir.path().join("r.html"), dir.path().join("r.json"));
    kubetrail()
        .args(["report", "--quiet", "--engine", &cluster.engine, "--lake"])
        .arg(&lake)
        .arg("--out")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("read")).expect("report JSON");
    let reported: BTreeSet<String> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule_id"].as_str().expect("rule_id").to_string())
        .collect();
    let detected: BTreeSet<String> = findings(&lake, &[])
        .into_iter()
        .map(|(rule, _)| rule)
        .collect();
    assert_eq!(reported, detected, "the report's findings are detect's");
}
