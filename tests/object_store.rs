//! The lake on object storage, against a real S3-compatible server started on loopback: moto's
//! server mode (`pip install 'moto[server]'`), which implements S3's conditional puts
//! (`If-Match`, `If-None-Match`) that the lake's commit relies on, and needs no credentials or
//! disk set-up. Where moto is missing the tests skip with a note, except under `CI`, where that
//! is a failure (`.ci/run` installs it).
//!
//! The same inputs go into a lake in a folder and a lake in a bucket; every reader must answer
//! the same from both.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{findings, in_ci, kubetrail, stdout_of};
use futures::TryStreamExt;
use object_store::ObjectStore;
use serde_json::Value;

const BUCKET: &str = "audit-lakes";

/// A moto S3 server on a free loopback port, with one empty bucket; killed when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    /// Start it, or `None` (after a note) where moto is not installed and this is not CI.
    fn start() -> Option<S3Server> {
        let probe = StdCommand::new("python3")
            .args(["-c", "import moto.server"])
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            other => {
                assert!(
                    !in_ci(),
                    "CI: moto's server is not installed (pip install 'moto[server]'): {other:?}"
                );
                eprintln!("note: moto's server is not installed; the S3 tests are skipped");
                return None;
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = StdCommand::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server.create_bucket(port);
        Some(server)
    }

    /// `PUT /BUCKET`: moto takes it unsigned.
    fn create_bucket(&self, port: u16) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            s,
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("answer");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "create bucket: {answer}"
        );
    }

    /// `kubetrail` with the standard AWS variables pointing at this server.
    fn kubetrail(&self) -> Command {
        let mut cmd = kubetrail();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    /// A client of the bucket.
    fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .build()
            .expect("s3 client")
    }

    /// Every object in the bucket: key and size.
    fn objects(&self) -> Vec<(String, u64)> {
        let s3 = self.client();
        let rt = runtime();
        let metas: Vec<_> = rt
            .block_on(s3.list(None).try_collect::<Vec<_>>())
            .expect("list");
        let mut out: Vec<_> = metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        out.sort();
        out
    }

    /// Put `bytes` at `key` in the bucket, as someone copying files in by hand would.
    fn put(&self, key: &str, bytes: Vec<u8>) {
        let s3 = self.client();
        let rt = runtime();
        rt.block_on(object_store::ObjectStoreExt::put(
            &s3,
            &object_store::path::Path::parse(key).expect("key"),
            bytes.into(),
        ))
        .expect("put");
    }
}

/// A runtime for the test's own requests to the bucket.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generated events (with attacks) in `dir/NAME.log`.
fn generated(dir: &Path, name: &str, seed: u32, events: u32) -> std::path::PathBuf {
    let out = dir.join(format!("{name}.log"));
    stdout_of(
        kubetrail()
            .args(["gen", "--attacks", "all", "--days", "2", "--seed"])
            .arg(seed.to_string())
            .arg("--events")
            .arg(events.to_string())
            .arg("--out")
            .arg(&out),
    );
    out
}

/// Ingest `input` as `cluster` into `lake` (a folder or a URL) with `cmd`; the JSON summary.
fn ingest(mut cmd: Command, lake: &str, cluster: &str, input: &Path) -> Value {
    let out = stdout_of(
        cmd.args(["ingest", "--json", "--cluster", cluster, "--lake", lake])
            .arg(input),
    );
    serde_json::from_str(&out).expect("summary is JSON")
}

/// `kubetrail query --format jsonl` over `lake` with `cmd`: the rows.
fn rows(mut cmd: Command, lake: &str, sql: &str) -> Vec<Value> {
    stdout_of(cmd.args(["query", "--format", "jsonl", "--lake", lake, sql]))
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl row"))
        .collect()
}

/// `kubetrail detect --format jsonl` over `lake`: rule, finding ID and the audit IDs it cites,
/// of each finding, sorted.
fn findings(mut cmd: Command, lake: &str) -> Vec<(String, String, Vec<String>)> {
    let out = cmd
        .args(["detect", "--format", "jsonl", "--quiet", "--lake", lake])
        .output()
        .expect("run detect");
    assert!(
        out.status.success(),
        "detect over {lake}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("finding");
            let text = |key: &str| v[key].as_str().expect(key).to_string();
            let cited = v["audit_ids"]
                .as_array()
                .expect("audit_ids")
                .iter()
                .map(|id| id.as_str().expect("audit id").to_string())
                .collect();
            (text("rule_id"), text("finding_id"), cited)
        })
        .collect();
    found.sort();
    found
}

const PER_CLUSTER: &str = "SELECT cluster, day, verb, count(*) AS n, count(DISTINCT audit_id) AS ids, \
    min(ts) AS first, max(ts) AS last FROM events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

#[test]
fn a_lake_in_a_bucket_answers_as_the_same_lake_in_a_folder() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("lake");
    let local = local.to_str().expect("utf-8 path");
    let remote = format!("s3://{BUCKET}/teams/sec/lake");
    let a = generated(dir.path(), "a", 3, 3000);
    let b = generated(dir.path(), "b", 4, 2000);
    // a cluster name that the layout percent-encodes, so the bucket's keys and the partition
    // values are checked too
    // lines that cannot be rows, for the quarantine
    let mut b_text = std::fs::read(&b).expect("b");
    b_text.extend_from_slice(b"{\"kind\": \"Event\", truncated\nnot json at all\n");
    std::fs::write(&b, b_text).expect("b");
    for (cluster, input) in [("prod/eu", &a), ("lab", &b)] {
        let there = ingest(s3.kubetrail(), &remote, cluster, input);
        let here = ingest(kubetrail(), local, cluster, input);
        assert_eq!(there["rows"], here["rows"], "{cluster}");
        assert!(there["rows"].as_u64().unwrap_or(0) > 1000, "{there}");
    }
    let keys: Vec<String> = s3.objects().into_iter().map(|(k, _)| k).collect();
    assert!(
        keys.iter()
            .any(|k| k.starts_with("teams/sec/lake/events/cluster=prod%2Feu/day=")),
        "{keys:?}"
    );
    assert!(keys.contains(&"teams/sec/lake/_kubetrail/manifest.json".to_string()));

    let per_cluster = rows(kubetrail(), local, PER_CLUSTER);
    assert!(per_cluster.len() > 10, "{per_cluster:?}");
    assert_eq!(rows(s3.kubetrail(), &remote, PER_CLUSTER), per_cluster);
    let one = "SELECT count(*) AS n FROM events WHERE cluster = 'prod/eu' AND verb = 'get'";
    assert_eq!(
        rows(s3.kubetrail(), &remote, one),
        rows(kubetrail(), local, one)
    );
    let summary = "SELECT cluster, sum(events) AS n FROM events_summary GROUP BY 1 ORDER BY 1";
    assert_eq!(
        rows(s3.kubetrail(), &remote, summary),
        rows(kubetrail(), local, summary)
    );

    let expected = findings(kubetrail(), local);
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(findings(s3.kubetrail(), &remote), expected);

    // the report reads the quarantine from the bucket, and the timeline the same requests
    let report = |mut cmd: Command, lake: &str, name: &str| -> Value {
        let json = dir.path().join(format!("{name}.json"));
        stdout_of(
            cmd.args(["report", "--quiet", "--lake", lake, "--out"])
                .arg(dir.path().join(format!("{name}.html")))
                .arg("--json")
                .arg(&json),
        );
        serde_json::from_slice(&std::fs::read(&json).expect("report json")).expect("json")
    };
    let here = report(kubetrail(), local, "here");
    let there = report(s3.kubetrail(), &remote, "there");
    assert!(
        here["coverage"]["quarantined_lines"].as_u64() > Some(0),
        "{}",
        here["coverage"]
    );
    assert_eq!(there["coverage"], here["coverage"]);
    assert_eq!(there["findings"], here["findings"]);
    let cited = expected
        .iter()
        .find_map(|(_, _, ids)| ids.first())
        .expect("a finding citing a request");
    let timeline = |mut cmd: Command, lake: &str| {
        stdout_of(cmd.args([
            "timeline",
            "--format",
            "jsonl",
            "--audit-id",
            cited,
            "--lake",
            lake,
        ]))
    };
    let steps = timeline(kubetrail(), local);
    assert!(steps.lines().count() > 0);
    assert_eq!(timeline(s3.kubetrail(), &remote), steps);
}

#[test]
fn readers_see_committed_files_only_and_write_nothing_to_the_bucket() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = format!("s3://{BUCKET}/lake");
    let a = generated(dir.path(), "a", 5, 1500);
    let first = ingest(s3.kubetrail(), &remote, "lab", &a);
    let rows_in = first["rows"].as_i64().expect("rows");
    assert!(
        !s3.objects().iter().any(|(k, _)| k.ends_with("state.json")),
        "the resume record is committed inside the manifest, not as an object of its own"
    );
    // a file copied in by hand, next to the committed ones: no manifest lists it
    let (key, _) = s3
        .objects()
        .into_iter()
        .find(|(k, _)| k.starts_with("lake/events/") && k.ends_with(".parquet"))
        .expect("a data file");
    let stray = key.replace("part-", "copied-part-");
    let rt = runtime();
    let bytes = rt.block_on(async {
        let lake = store::RemoteLake::with_store(&format!("s3://{BUCKET}"), Arc::new(s3.client()))
            .expect("lake");
        lake.read(&key).await.expect("read").expect("exists").0
    });
    s3.put(&stray, bytes.to_vec());
    let before = s3.objects();

    let n = "SELECT count(*) AS n FROM events";
    assert_eq!(rows(s3.kubetrail(), &remote, n)[0]["n"], rows_in);
    findings(s3.kubetrail(), &remote);
    // verify checks every listed object and names the one no manifest lists
    let out = s3
        .kubetrail()
        .args(["verify", "--json", "--lake", &remote])
        .output()
        .expect("run verify");
    assert_eq!(out.status.code(), Some(1), "the stray object is a fault");
    let verdict: Value = serde_json::from_slice(&out.stdout).expect("verdict");
    assert_eq!(verdict["rows"], rows_in, "{verdict}");
    let faults = verdict["faults"].as_array().expect("faults");
    assert_eq!(faults.len(), 1, "{verdict}");
    assert_eq!(
        faults[0]["path"],
        format!("s3://{BUCKET}/{stray}"),
        "{verdict}"
    );
    assert_eq!(s3.objects(), before, "a reader changed the bucket");

    // a second run adds to the lake; the input it already holds is skipped, not doubled
    let b = generated(dir.path(), "b", 6, 1000);
    let second = ingest(s3.kubetrail(), &remote, "lab", &b);
    let again = ingest(s3.kubetrail(), &remote, "lab", &a);
    assert_eq!(again["rows"], 0, "{again}");
    assert_eq!(
        rows(s3.kubetrail(), &remote, n)[0]["n"],
        rows_in + second["rows"].as_i64().expect("rows")
    );
}

#[test]
fn a_url_that_holds_no_lake_or_a_local_only_command_is_refused_and_nothing_is_created() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = format!("s3://{BUCKET}/nothing-here");
    let out = s3
        .kubetrail()
        .current_dir(dir.path())
        .args(["query", "--lake", &empty, "SELECT count(*) FROM events"])
        .output()
        .expect("run query");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("no lake at {empty}")), "{stderr}");
    for (command, says) in [
        ("verify", format!("no lake at {empty}")),
        ("compact", format!("no lake at {empty}")),
    ] {
        let out = s3
            .kubetrail()
            .current_dir(dir.path())
            .args([command, "--lake", &empty])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}");
        assert!(stderr.contains(&says), "{command}: {stderr}");
    }
    assert!(s3.objects().is_empty(), "{:?}", s3.objects());
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "a folder was created for the URL"
    );
}

/// The lake's commit needs the server to honour `If-Match` on a put (see docs/lake.md): a put on
/// a manifest version that is no longer current must fail, or concurrent commits could drop each
/// other's files.
#[test]
fn the_server_refuses_a_manifest_put_on_a_version_that_is_no_longer_current() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = format!("s3://{BUCKET}/cas");
    ingest(
        s3.kubetrail(),
        &remote,
        "lab",
        &generated(dir.path(), "a", 8, 300),
    );
    let rt = runtime();
    rt.block_on(async {
        let lake = store::RemoteLake::with_store(&remote, Arc::new(s3.client())).expect("lake");
        let (_, stale) = lake.manifest().await.expect("read").expect("manifest");
        let object = lake.object("_kubetrail/manifest.json");
        let update = |version| object_store::PutOptions {
            mode: object_store::PutMode::Update(version),
            ..Default::default()
        };
        let store = lake.store();
        store
            .put_opts(
                &object,
                b"{\"version\":1,\"files\":[]}".to_vec().into(),
                update(stale.clone()),
            )
            .await
            .expect("a put on the current version");
        let err = store
            .put_opts(&object, b"{}".to_vec().into(), update(stale))
            .await
            .expect_err("a put on a stale version");
        assert!(
            matches!(err, object_store::Error::Precondition { .. }),
            "{err}"
        );
    });
}

#[test]
fn objects_in_a_bucket_are_inputs_read_like_files_gzip_and_resume_included() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let a = generated(dir.path(), "a", 9, 1200);
    let b = generated(dir.path(), "b", 10, 800);
    let a_bytes = std::fs::read(&a).expect("a");
    // b in two gzip members, as a rotated and appended log is
    let b_text = std::fs::read(&b).expect("b");
    let cut = b_text.len() / 2;
    let mut b_gz = common::gzip(&b_text[..cut]);
    b_gz.extend(common::gzip(&b_text[cut..]));
    s3.put("incoming/2026/a.log", a_bytes);
    s3.put("incoming/2026/b.log.gz", b_gz);
    s3.put("incoming/2026/.partial", b"not an audit event".to_vec());

    let from_files = dir.path().join("from-files");
    let here = ingest(kubetrail(), from_files.to_str().expect("utf-8"), "lab", &a);
    let here_b = ingest(kubetrail(), from_files.to_str().expect("utf-8"), "lab", &b);
    let from_bucket = dir.path().join("from-bucket");
    let from_bucket = from_bucket.to_str().expect("utf-8");
    let url = format!("s3://{BUCKET}/incoming/");
    let there = ingest(s3.kubetrail(), from_bucket, "lab", Path::new(&url));
    assert_eq!(
        there["rows"].as_u64(),
        Some(here["rows"].as_u64().unwrap_or(0) + here_b["rows"].as_u64().unwrap_or(0)),
        "{there}"
    );
    assert_eq!(there["quarantined"], 0, "{there}");
    let skipped = there["skipped"].to_string();
    assert!(skipped.contains(".partial: hidden"), "{skipped}");
    assert_eq!(
        rows(kubetrail(), from_bucket, PER_CLUSTER),
        rows(
            kubetrail(),
            from_files.to_str().expect("utf-8"),
            PER_CLUSTER
        )
    );
    // the objects are recorded like files: a second run skips both
    let again = ingest(s3.kubetrail(), from_bucket, "lab", Path::new(&url));
    assert_eq!(again["rows"], 0, "{again}");
    assert_eq!(again["files_skipped"], 3, "{again}");

    // one object by its URL; a URL with nothing there is an error naming it
    let one = dir.path().join("one");
    let single = format!("s3://{BUCKET}/incoming/2026/a.log");
    let just_a = ingest(
        s3.kubetrail(),
        one.to_str().expect("utf-8"),
        "lab",
        Path::new(&single),
    );
    assert_eq!(just_a["rows"], here["rows"]);
    let missing = format!("s3://{BUCKET}/nowhere/");
    let out = s3
        .kubetrail()
        .args(["ingest", "--lake"])
        .arg(&one)
        .arg(&missing)
        .output()
        .expect("run ingest");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&missing), "{stderr}");
}

#[test]
fn an_encrypted_lake_in_a_bucket_needs_its_key_to_be_written_or_analysed() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("column.key");
    std::fs::write(&key, "ab".repeat(32)).expect("key");
    let remote = format!("s3://{BUCKET}/sealed");
    let a = generated(dir.path(), "a", 12, 1000);
    let out = stdout_of(
        s3.kubetrail()
            .args([
                "ingest",
                "--json",
                "--lake",
                &remote,
                "--encryption-key-file",
            ])
            .arg(&key)
            .arg(&a),
    );
    let summary: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["rows"], 1000);

    // without the key: ingest refuses naming the bucket's lake, detect refuses before any rule
    let b = generated(dir.path(), "b", 13, 500);
    let out = s3
        .kubetrail()
        .args(["ingest", "--lake", &remote])
        .arg(&b)
        .output()
        .expect("run ingest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{remote}/_kubetrail/encryption.json")),
        "{stderr}"
    );
    assert!(!stderr.contains("kubetrail-stage-"), "{stderr}");
    let out = s3
        .kubetrail()
        .args(["detect", "--lake", &remote])
        .output()
        .expect("run detect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("pass its key"), "{stderr}");
    assert!(
        !stderr.contains("failed"),
        "refused before running rules: {stderr}"
    );

    // with it: the bodies read back
    let n = "SELECT count(*) AS n FROM events WHERE request_object IS NOT NULL";
    let mut with_key = s3.kubetrail();
    with_key.arg("query").arg("--encryption-key-file").arg(&key);
    let bodies = stdout_of(with_key.args(["--format", "jsonl", "--lake", &remote, n]));
    let bodies: Value = serde_json::from_str(bodies.trim()).expect("row");
    assert!(bodies["n"].as_i64() > Some(0), "{bodies}");
}

/// `kubetrail nightly --lake URL --input FOLDER|URL` in `cwd`: exit code, the rule and cited
/// audit IDs of each finding of the report it wrote (if one), and what it printed.
fn nightly(
    mut cmd: Command,
    lake: &str,
    input: &str,
    reports: &Path,
) -> (i32, Vec<(String, Vec<String>)>, String) {
    let before: Vec<_> = list_reports(reports);
    let out = cmd
        .args([
            "nightly",
            "--fail-on",
            "high",
            "--lake",
            lake,
            "--input",
            input,
        ])
        .arg("--report-dir")
        .arg(reports)
        .output()
        .expect("run nightly");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let new: Vec<_> = list_reports(reports)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(new.len() <= 1, "{new:?}");
    let mut found = Vec::new();
    if let Some(report) = new.first() {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(report).expect("report")).expect("JSON");
        for f in doc["findings"].as_array().expect("findings") {
            let mut ids: Vec<String> = f["audit_ids"]
                .as_array()
                .expect("audit_ids")
                .iter()
                .map(|id| id.as_str().expect("id").to_string())
                .collect();
            ids.sort();
            found.push((f["rule_id"].as_str().expect("rule").to_string(), ids));
        }
        found.sort();
    }
    (out.status.code().unwrap_or(-1), found, printed)
}

/// The JSON reports in `dir` (not the state).
fn list_reports(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("report-") && n.ends_with(".json"))
        })
        .collect()
}

#[test]
fn nightly_over_a_bucket_reports_what_it_reports_over_a_folder_and_analyses_each_file_once() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let incoming = dir.path().join("incoming");
    std::fs::create_dir_all(&incoming).expect("mkdir");
    let a = generated(&incoming, "a", 11, 1500);
    s3.put("exports/a.log", std::fs::read(&a).expect("generated input"));
    let remote = format!("s3://{BUCKET}/lake");
    let exports = format!("s3://{BUCKET}/exports/");
    let local = dir.path().join("lake");

    let (code, in_folder, out) = nightly(
        kubetrail(),
        &local.to_string_lossy(),
        &incoming.to_string_lossy(),
        &dir.path().join("reports-folder"),
    );
    assert_eq!(code, 3, "the generated attacks are reported:\n{out}");
    assert!(!in_folder.is_empty());
    let reports = dir.path().join("reports-bucket");
    let (code, in_bucket, out) = nightly(s3.kubetrail(), &remote, &exports, &reports);
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        in_bucket, in_folder,
        "the same input reports the same findings from a bucket"
    );

    // nothing new: nothing ingested, analysed or reported
    let n = "SELECT count(*) AS n FROM events";
    let rows_before = rows(s3.kubetrail(), &remote, n)[0]["n"].clone();
    let (code, again, out) = nightly(s3.kubetrail(), &remote, &exports, &reports);
    assert_eq!((code, again.len()), (0, 0), "{out}");
    assert!(out.contains("nothing new to analyse"), "{out}");
    assert_eq!(rows(s3.kubetrail(), &remote, n)[0]["n"], rows_before);

    // a new object: only its rows are analysed, and evidence reported before is not again
    let b = generated(dir.path(), "b", 12, 1500);
    s3.put("exports/b.log", std::fs::read(&b).expect("generated input"));
    let (code, _, out) = nightly(s3.kubetrail(), &remote, &exports, &reports);
    assert!(code == 0 || code == 3, "{out}");
    assert!(out.contains("analysing 2 new Parquet file(s)"), "{out}");
    assert_eq!(list_reports(&reports).len(), 2);
}

#[test]
fn compacting_a_bucket_lake_merges_its_files_and_changes_no_answer() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = format!("s3://{BUCKET}/lake");
    // three runs, each a file in each of the two days' partitions
    for (name, seed) in [("a", 21), ("b", 22), ("c", 23)] {
        let input = generated(dir.path(), name, seed, 800);
        ingest(s3.kubetrail(), &remote, "lab", &input);
    }
    let data_objects = |s3: &S3Server| -> Vec<String> {
        let mut keys: Vec<String> = s3
            .objects()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("lake/events/") || k.starts_with("lake/summary/"))
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(data_objects(&s3).len(), 12, "{:?}", data_objects(&s3));
    let answers = rows(s3.kubetrail(), &remote, PER_CLUSTER);
    let found = findings(s3.kubetrail(), &remote);

    let out = stdout_of(
        s3.kubetrail()
            .args(["compact", "--json", "--lake", &remote]),
    );
    let summary: Value = serde_json::from_str(&out).expect("summary");
    let compacted = summary["compacted"].as_array().expect("compacted");
    assert_eq!(compacted.len(), 2, "{summary}");
    assert!(
        compacted
            .iter()
            .all(|c| c["files_in"] == 3 && c["files_out"] == 1),
        "{summary}"
    );
    // one data and one summary file per partition; the replaced objects are gone
    assert_eq!(data_objects(&s3).len(), 4, "{:?}", data_objects(&s3));
    assert_eq!(rows(s3.kubetrail(), &remote, PER_CLUSTER), answers);
    assert_eq!(findings(s3.kubetrail(), &remote), found);
    let verified = s3
        .kubetrail()
        .args(["verify", "--lake", &remote])
        .output()
        .expect("verify");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // nothing left to merge
    let out = stdout_of(
        s3.kubetrail()
            .args(["compact", "--json", "--lake", &remote]),
    );
    let again: Value = serde_json::from_str(&out).expect("summary");
    assert_eq!(
        again["compacted"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );
    assert_eq!(again["partitions_unchanged"], 2, "{again}");
}

/// The window the exported pack and detect analyse below.
const EXPORT_SINCE: &str = "2026-01-05T12:00:00Z";
const EXPORT_UNTIL: &str = "2026-01-07T00:00:00Z";

/// `detect` over the export window of `lake`: the audit IDs it cites, by rule.
fn detected_by_rule(mut cmd: Command, lake: &str) -> findings::ByRule {
    findings::by_rule(&stdout_of(
        cmd.args(["detect", "--quiet", "--format", "jsonl", "--lake", lake])
            .args(["--since", EXPORT_SINCE, "--until", EXPORT_UNTIL]),
    ))
}

/// `rules export --lake s3://...` writes scripts that read the bucket at its URL, in each
/// engine's scheme; a URL that holds no lake is refused before anything is written.
///
/// With `KUBETRAIL_HTTPFS_PYTHON` naming a python3 whose duckdb loads the httpfs extension (by
/// hand: CI's DuckDB has no httpfs offline; `pip install duckdb==1.5.5
/// duckdb-extension-httpfs==1.5.5` gives one), the exported pack also runs on DuckDB over the
/// bucket and must find, rule by rule, the requests detect finds.
#[test]
fn rules_exported_for_a_lake_in_a_bucket_read_the_bucket() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let remote = format!("s3://{BUCKET}/export/lake");
    let input = generated(dir.path(), "a", 11, 4000);
    ingest(s3.kubetrail(), &remote, "lab", &input);
    let export = |dialect: &str| {
        let out = dir.path().join(format!("pack-{dialect}"));
        stdout_of(
            s3.kubetrail()
                .args(["rules", "export", "--quiet", "--dialect", dialect])
                .args(["--lake", &remote, "--since", EXPORT_SINCE])
                .args(["--until", EXPORT_UNTIL, "--out"])
                .arg(&out),
        );
        out
    };
    for (dialect, reads) in [
        (
            "duckdb",
            format!("read_parquet('s3://{BUCKET}/export/lake/events/*/*/*.parquet'"),
        ),
        (
            "spark",
            format!("parquet.`s3a://{BUCKET}/export/lake/events`"),
        ),
    ] {
        let script = std::fs::read_to_string(export(dialect).join("pod-privileged.sql"))
            .expect("an exported rule");
        assert!(script.contains(&reads), "{dialect}: {script}");
    }

    let none = dir.path().join("pack-none");
    let out = s3
        .kubetrail()
        .args(["rules", "export", "--dialect", "duckdb", "--lake"])
        .arg(format!("s3://{BUCKET}/nothing/here"))
        .arg("--out")
        .arg(&none)
        .output()
        .expect("run export");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("no lake at s3://{BUCKET}/nothing/here")),
        "{stderr}"
    );
    assert!(
        !none.exists(),
        "nothing is written for a URL without a lake"
    );

    let Ok(python) = std::env::var("KUBETRAIL_HTTPFS_PYTHON") else {
        eprintln!(
            "note: KUBETRAIL_HTTPFS_PYTHON is not set; the exported pack is not run on DuckDB over the bucket"
        );
        return;
    };
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/run_pack.py");
    let pack = dir.path().join("pack-duckdb");
    let run = StdCommand::new(&python)
        .arg(&driver)
        .args(["duckdb"])
        .arg(&pack)
        .arg(&remote)
        .envs(s3.kubetrail().get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .expect("run the DuckDB driver");
    assert!(
        run.status.success(),
        "run_pack.py: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: Value = serde_json::from_slice(&run.stdout).expect("the driver prints JSON");
    let detected = detected_by_rule(s3.kubetrail(), &remote);
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(pack.join("index.json")).expect("index.json"),
    )
    .expect("index is JSON");
    let exported = findings::rule_ids(&index, "exported");
    let firing =
        findings::assert_engine_finds_what_detect_finds("duckdb", &result, &exported, &detected);
    assert!(firing >= 30, "only {firing} rules fired");
    let rows = rows(s3.kubetrail(), &remote, "SELECT count(*) AS n FROM events");
    assert_eq!(
        result["lake"]["rows"], rows[0]["n"],
        "DuckDB reads every row"
    );
    eprintln!("duckdb over the bucket: {firing} rules firing, the same requests as detect");
}
