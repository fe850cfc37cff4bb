//! Parquet modular encryption of the sensitive columns (`--encryption-key-file`): bodies and user
//! extra are unreadable in the files without the key, everything reads back the same with it,
//! the other columns (and `verify`) need no key, and a lake never mixes encrypted and plaintext
//! files or keys.

mod common;

use std::path::{Path, PathBuf};

use common::{finding_ids, kubetrail, stdout_of};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Generated events with attacks (seed 5): bodies of pods, secrets and RBAC objects, and user
/// extra of service-account tokens.
fn generated(dir: &Path) -> PathBuf {
    let log = dir.join("audit.log");
    stdout_of(
        kubetrail()
            .args([
                "gen", "--seed", "5", "--days", "1", "--events", "3000", "--out",
            ])
            .arg(&log),
    );
    log
}

fn write_key(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", format!("{byte:02x}").repeat(32))).expect("key");
    path
}

/// Ingest with one redaction key for every lake of a test (`redaction.key` beside the lake), so
/// that Secret markers compare equal across lakes.
fn ingest(lake: &Path, log: &Path, key: Option<&Path>) -> std::process::Output {
    let redaction = lake.with_file_name("redaction.key");
    if !redaction.exists() {
        std::fs::write(&redaction, [0x5a; 32]).expect("redaction key");
    }
    let mut cmd = kubetrail();
    cmd.args(["ingest", "-q", "--key-file"])
        .arg(&redaction)
        .arg("--lake")
        .arg(lake)
        .arg(log);
    if let Some(k) = key {
        cmd.arg("--encryption-key-file").arg(k);
    }
    cmd.output().expect("run ingest")
}

fn query(lake: &Path, key: Option<&Path>, sql: &str) -> std::process::Output {
    let mut cmd = kubetrail();
    cmd.args(["query", "--format", "jsonl", "--lake"]).arg(lake);
    if let Some(k) = key {
        cmd.arg("--encryption-key-file").arg(k);
    }
    cmd.arg(sql).output().expect("run query")
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

fn data_files(lake: &Path) -> Vec<PathBuf> {
    let files = common::files_with_extension(&lake.join("events"), "parquet");
    assert!(!files.is_empty(), "no data files under {}", lake.display());
    files
}

/// Read one top-level column of `file` with the Parquet reader alone, no key: the rows, or the
/// error.
fn read_column_without_key(file: &Path, column: &str) -> Result<usize, String> {
    let f = std::fs::File::open(file).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string())?;
    let index = builder
        .schema()
        .index_of(column)
        .map_err(|e| e.to_string())?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| e.to_string())?;
    let mut rows = 0;
    for batch in reader {
        rows += batch.map_err(|e| e.to_string())?.num_rows();
    }
    Ok(rows)
}

/// The same generated log ingested into `plain` and, with the key `lake.key`, into `secret`.
fn plain_and_encrypted(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let log = generated(dir);
    let key = write_key(dir, "lake.key", 0x3c);
    let (plain, secret) = (dir.join("plain"), dir.join("secret"));
    ok(ingest(&plain, &log, None));
    ok(ingest(&secret, &log, Some(&key)));
    (key, plain, secret)
}

const SENSITIVE: [&str; 3] = ["request_object", "response_object", "user_extra"];

const EVERYTHING: &str = "SELECT * FROM events ORDER BY source_file, source_line, audit_id, stage";

#[test]
fn an_encrypted_lake_reads_back_the_same_rows_and_findings_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, plain, secret) = plain_and_encrypted(dir.path());

    // Every sensitive column is encrypted in every file, and nothing else is.
    for file in data_files(&secret) {
        for column in SENSITIVE {
            let read = read_column_without_key(&file, column);
            assert!(
                read.is_err(),
                "{column} of {} reads without the key: {read:?}",
                file.display()
            );
        }
        let f = std::fs::File::open(&file).expect("open");
        let schema = ParquetRecordBatchReaderBuilder::try_new(f)
            .expect("plaintext footer")
            .schema()
            .clone();
        for field in schema.fields() {
            let column = field.name().as_str();
            if SENSITIVE.contains(&column) {
                continue;
            }
            let read = read_column_without_key(&file, column);
            assert!(
                read.as_ref().is_ok_and(|n| *n > 0),
                "{column} of {}: {read:?}",
                file.display()
            );
        }
    }
    for file in data_files(&plain) {
        assert!(read_column_without_key(&file, "request_object").is_ok());
    }

    let rows = ok(query(&plain, None, EVERYTHING));
    assert!(
        rows.contains("\"request_object\":\"{"),
        "bodies in the plain lake"
    );
    assert_eq!(ok(query(&secret, Some(&key), EVERYTHING)), rows);

    let detect = |lake: &Path, key: Option<&Path>| {
        let mut cmd = kubetrail();
        cmd.args(["detect", "-q", "--format", "jsonl", "--lake"])
            .arg(lake);
        if let Some(k) = key {
            cmd.env("KUBETRAIL_ENCRYPTION_KEY_FILE", k);
        }
        finding_ids(&ok(cmd.output().expect("run detect")))
    };
    let findings = detect(&plain, None);
    assert!(findings.len() > 5, "the generated attacks give findings");
    assert_eq!(detect(&secret, Some(&key)), findings);
}

#[test]
fn without_the_key_the_other_columns_read_and_the_bodies_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, plain, secret) = plain_and_encrypted(dir.path());

    let counts = "SELECT count(*) AS n, count(DISTINCT username) AS users, max(ts) AS last \
                  FROM events WHERE resource = 'secrets'";
    assert_eq!(
        ok(query(&secret, None, counts)),
        ok(query(&plain, None, counts))
    );

    let out = query(&secret, None, "SELECT request_object FROM events LIMIT 1");
    assert!(!out.status.success(), "bodies read without the key");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column request_object is encrypted") && err.contains("--encryption-key-file"),
        "the refusal says why and what to pass: {err}"
    );

    // detection reads bodies: refused up front, not rule by rule
    let out = kubetrail()
        .args(["detect", "-q", "--lake"])
        .arg(&secret)
        .output()
        .expect("detect");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--encryption-key-file") && err.lines().count() == 1,
        "{err}"
    );

    // verify reads footers and checksums, not bodies: no key needed
    let v = kubetrail()
        .args(["verify", "--lake"])
        .arg(&secret)
        .output()
        .expect("verify");
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

#[test]
fn a_lake_refuses_a_wrong_key_a_missing_key_and_a_late_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = generated(dir.path());
    let key = write_key(dir.path(), "lake.key", 0x3c);
    let other = write_key(dir.path(), "other.key", 0x11);
    let secret = dir.path().join("secret");
    ok(ingest(&secret, &log, Some(&key)));
    let files = data_files(&secret);

    let second = dir.path().join("more.log");
    std::fs::write(&second, common::events("more", 20)).expect("write");
    for (key, expect) in [
        (None, "pass that key"),
        (Some(other.as_path()), "encrypted with key"),
    ] {
        let out = ingest(&secret, &second, key);
        assert!(!out.status.success(), "ingest with key {key:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{err}");
    }
    let out = query(&secret, Some(&other), "SELECT count(*) FROM events");
    assert!(
        !out.status.success(),
        "a wrong key is refused by readers too"
    );
    assert_eq!(
        data_files(&secret),
        files,
        "nothing written by refused writers"
    );

    // A lake holding plaintext files cannot start encrypting: its bodies would stay readable.
    let plain = dir.path().join("plain");
    ok(ingest(&plain, &log, None));
    let out = ingest(&plain, &second, Some(&key));
    assert!(
        !out.status.success(),
        "encryption started on a plaintext lake"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("new lake"));

    // Compaction reads and writes with the key; the merged files are encrypted too.
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<&str> = text.lines().collect();
    let pieces = dir.path().join("pieces");
    for (n, half) in lines.chunks(lines.len().div_ceil(2)).enumerate() {
        let piece = dir.path().join(format!("piece-{n}.log"));
        std::fs::write(&piece, half.join("\n") + "\n").expect("write piece");
        ok(ingest(&pieces, &piece, Some(&key)));
    }
    let before = ok(query(&pieces, Some(&key), EVERYTHING));
    let files_before = data_files(&pieces);
    let redaction = pieces.with_file_name("redaction.key");
    let summary = kubetrail()
        .args(["compact", "--json", "--key-file"])
        .arg(&redaction)
        .arg("--lake")
        .arg(&pieces)
        .output()
        .expect("compact");
    assert!(!summary.status.success(), "compaction without the key");
    assert!(String::from_utf8_lossy(&summary.stderr).contains("pass that key"));
    let summary = kubetrail()
        .args(["compact", "--json", "--key-file"])
        .arg(&redaction)
        .arg("--lake")
        .arg(&pieces)
        .arg("--encryption-key-file")
        .arg(&key)
        .output()
        .expect("compact");
    let summary: serde_json::Value = serde_json::from_str(&ok(summary)).expect("summary JSON");
    let files_in: u64 = summary["compacted"]
        .as_array()
        .expect("compacted")
        .iter()
        .filter_map(|c| c["files_in"].as_u64())
        .sum();
    assert!(files_in >= 2, "nothing merged: {summary}");
    let files_after = data_files(&pieces);
    assert!(files_after.iter().all(|f| !files_before.contains(f)));
    assert_eq!(ok(query(&pieces, Some(&key), EVERYTHING)), before);
    for file in files_after {
        assert!(read_column_without_key(&file, "request_object").is_err());
    }
}
