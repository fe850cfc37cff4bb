//! Helpers shared by the end-to-end tests: run the binary, query a lake, make inputs.

#![allow(dead_code)]

pub mod findings;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The `kubetrail` binary with a lake that no environment variable overrides.
pub fn kubetrail() -> Command {
    let mut cmd = Command::cargo_bin("kubetrail").expect("binary built");
    cmd.env_remove("KUBETRAIL_LAKE");
    cmd
}

/// True when `CI` is set: a test that needs an engine or server the machine lacks fails instead
/// of skipping with a note.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Where the bundled public samples are.
pub fn public(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/public")
        .join(rel)
}

/// Run `cmd`; fail the test with its output unless it exits 0; return its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run kubetrail");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{:?} failed ({}): {}\n{stdout}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// What two detect runs must agree on: each finding of `detect --format jsonl` output as
/// "rule_id [audit IDs]", sorted.
pub fn finding_ids(jsonl: &str) -> Vec<String> {
    let mut ids: Vec<String> = jsonl
        .lines()
        .map(|l| {
            let f: Value = serde_json::from_str(l).expect("a finding per line");
            format!("{} {}", f["rule_id"], f["audit_ids"])
        })
        .collect();
    ids.sort();
    ids
}

/// Ingest `inputs` into `lake` and return the JSON summary.
pub fn ingest(lake: &Path, inputs: &[&Path], extra: &[&str]) -> Value {
    let out = stdout_of(
        kubetrail()
            .arg("ingest")
            .arg("--lake")
            .arg(lake)
            .arg("--json")
            .args(extra)
            .args(inputs),
    );
    serde_json::from_str(&out).expect("summary is JSON")
}

/// Run SQL over `lake` and return the rows as JSON objects.
pub fn query(lake: &Path, sql: &str) -> Vec<Value> {
    stdout_of(
        kubetrail()
            .args(["query", "--format", "jsonl", "--lake"])
            .arg(lake)
            .arg(sql),
    )
    .lines()
    .map(|l| serde_json::from_str(l).expect("jsonl row"))
    .collect()
}

/// The single number a `SELECT count(*) AS n` style query returns.
pub fn count(lake: &Path, sql: &str) -> i64 {
    let rows = query(lake, sql);
    rows.first()
        .and_then(|r| r.as_object())
        .and_then(|o| o.values().next())
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

/// Every quarantine record of a lake.
pub fn quarantine(lake: &Path) -> Vec<Value> {
    let dir = lake.join("_kubetrail/quarantine");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read quarantine file {}: {e}", p.display()));
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("quarantine jsonl")),
        );
    }
    out
}

/// A valid v1 audit event line with the given id, time offset (seconds) and user.
pub fn event(id: &str, second: u32, user: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500\u0026watch=false","verb":"list","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.7","192.0.2.1"],"userAgent":"kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b","objectRef":{{"resource":"pods","namespace":"default","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-01-05T10:{:02}:{:02}.123456Z","stageTimestamp":"2026-01-05T10:{:02}:{:02}.223456Z","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}}}"#,
        second / 60,
        second % 60,
        second / 60,
        second % 60
    )
}

/// `n` event lines, newline-terminated.
pub fn events(prefix: &str, n: u32) -> String {
    (0..n)
        .map(|i| event(&format!("{prefix}-{i}"), i % 3600, "alice") + "\n")
        .collect()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// Every file under `dir` (recursively) whose extension is `ext`, sorted; none if `dir` does not
/// exist. A folder that cannot be read fails the test.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Rewrite every Parquet file of `cluster` as schema 1.1 wrote it: without `actor_kind`, with
/// version 1.1 in its metadata.
pub fn rewrite_as_schema_1_1(lake: &std::path::Path, cluster: &str) -> usize {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::file::metadata::KeyValue;
    use datafusion::parquet::file::properties::WriterProperties;

    let mut rewritten = 0;
    let mut stack = vec![lake.join("events").join(format!("cluster={cluster}"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read partition folder") {
            let path = entry.expect("folder entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let file = std::fs::File::open(&path).expect("open parquet");
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("parquet footer")
                .build()
                .expect("parquet reader");
            let batches: Vec<_> = reader.map(|b| b.expect("record batch")).collect();
            let schema = batches[0].schema();
            let keep: Vec<usize> = (0..schema.fields().len())
                .filter(|i| schema.field(*i).name() != "actor_kind")
                .collect();
            assert_eq!(
                keep.len() + 1,
                schema.fields().len(),
                "a 1.2 file has actor_kind"
            );
            let old: Vec<_> = batches
                .iter()
                .map(|b| b.project(&keep).expect("project"))
                .collect();
            let props = WriterProperties::builder()
                .set_key_value_metadata(Some(vec![KeyValue::new(
                    "kubetrail.schema_version".to_string(),
                    "1.1".to_string(),
                )]))
                .build();
            let out = std::fs::File::create(&path).expect("rewrite parquet");
            let mut w = ArrowWriter::try_new(out, old[0].schema(), Some(props)).expect("writer");
            for b in &old {
                w.write(b).expect("write batch");
            }
            w.close().expect("close parquet");
            rewritten += 1;
        }
    }
    rewritten
}
