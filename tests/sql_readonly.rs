//! SQL stays read-only: no statement given to `query` or the shell, and no dot-command, writes a
//! file, changes the lake, redefines `events` or reads a file outside the lake.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// A lake with one event, a folder outside it holding a file a query must not read, and the
/// places hostile statements try to write to.
struct Scene {
    _dir: tempfile::TempDir,
    lake: PathBuf,
    outside: PathBuf,
    secret_csv: PathBuf,
    parquet_copy: PathBuf,
}

fn scene() -> Scene {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    ingest(
        &lake,
        &[&public(
            "falco-k8s-audit/trace_files/create_clusterrolebinding.json",
        )],
        &["--cluster", "c1"],
    );
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    let secret_csv = outside.join("secret.csv");
    std::fs::write(&secret_csv, "name,value\nroot,TOPSECRET-VALUE\n").expect("write");
    // A copy of a lake file outside the lake: readable as Parquet, but not through `events`.
    let parquet_copy = outside.join("copy.parquet");
    let first = files(&lake)
        .into_keys()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("the lake has a Parquet file");
    std::fs::copy(&first, &parquet_copy).expect("copy");
    Scene {
        _dir: dir,
        lake,
        outside,
        secret_csv,
        parquet_copy,
    }
}

/// Every file under `dir` with its bytes: a change to any of them shows.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(path, bytes);
            }
        }
    }
    out
}

/// The hostile statements; `{out}` is a path in the outside folder, `{secret}` and `{parquet}`
/// files there.
const HOSTILE: &[&str] = &[
    "SET datafusion.execution.target_partitions = 1",
    "SET TIME ZONE = '+05:00'",
    "RESET datafusion.execution.batch_size",
    "COPY (SELECT 1 AS a) TO '{out}.csv'",
    "COPY (SELECT * FROM events) TO '{out}.parquet' STORED AS PARQUET",
    "COPY events TO '{out}-dir/' STORED AS CSV",
    "CREATE TABLE t AS SELECT * FROM events",
    "CREATE TABLE t (a INT)",
    "CREATE VIEW v AS SELECT 1",
    "CREATE OR REPLACE VIEW events AS SELECT * FROM events WHERE false",
    "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{secret}'",
    "CREATE EXTERNAL TABLE x (a INT) STORED AS PARQUET LOCATION '{out}-ext/'",
    "CREATE FUNCTION f(a INT) RETURNS INT RETURN a + 1",
    "CREATE FUNCTION f(INT) RETURNS INT RETURN $1 + 1",
    "CREATE SCHEMA s",
    "CREATE DATABASE d",
    "INSERT INTO events SELECT * FROM events",
    "INSERT INTO events (audit_id) VALUES ('forged')",
    "UPDATE events SET verb = 'get'",
    "DELETE FROM events",
    "TRUNCATE events",
    "DROP VIEW events",
    "DROP TABLE events",
    "DROP TABLE IF EXISTS lake_events",
    "ALTER TABLE events RENAME TO gone",
    "EXPLAIN ANALYZE INSERT INTO events SELECT * FROM events",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}-explain.csv'",
    "EXPLAIN INSERT INTO events SELECT * FROM events",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "BEGIN",
    "START TRANSACTION",
    "COMMIT",
    "SELECT 1; DROP VIEW events",
    "SELECT 1; COPY (SELECT 1) TO '{out}-multi.csv'",
    "SELECT * FROM '{secret}'",
    "SELECT * FROM '{parquet}'",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_parquet('{parquet}')",
    "SELECT * FROM read_json('{secret}')",
    "SELECT * FROM parquet_metadata('{parquet}')",
];

fn fill(sql: &str, s: &Scene) -> String {
    sql.replace("{out}", &s.outside.join("written").display().to_string())
        .replace("{secret}", &s.secret_csv.display().to_string())
        .replace("{parquet}", &s.parquet_copy.display().to_string())
}

fn event_count(lake: &Path) -> i64 {
    count(lake, "SELECT count(*) AS n FROM events")
}

#[test]
fn query_refuses_every_statement_that_writes_or_reads_outside_the_lake() {
    let s = scene();
    let lake_before = files(&s.lake);
    let outside_before = files(&s.outside);
    let n = event_count(&s.lake);
    assert!(n > 0, "the scene's lake has events");
    for sql in HOSTILE {
        let sql = fill(sql, &s);
        let out = kubetrail()
            .args(["query", "--format", "csv", "--lake"])
            .arg(&s.lake)
            .arg(&sql)
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{sql} was not refused:\n{stdout}\n{stderr}"
        );
        assert!(stderr.starts_with("error: "), "{sql}: {stderr}");
        assert!(!stdout.contains("TOPSECRET"), "{sql} read outside the lake");
        assert_eq!(files(&s.lake), lake_before, "{sql} changed the lake");
        assert_eq!(files(&s.outside), outside_before, "{sql} wrote a file");
    }
    assert_eq!(event_count(&s.lake), n);
}

#[test]
fn writing_statements_are_refused_as_read_only_not_as_syntax_errors() {
    // The refusal must come from the read-only check, whatever DataFusion would do after it.
    let s = scene();
    for sql in [
        "COPY (SELECT 1 AS a) TO '{out}.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{secret}'",
        "CREATE OR REPLACE VIEW events AS SELECT 1",
        "CREATE FUNCTION f(INT) RETURNS INT RETURN $1 + 1",
        "CREATE SCHEMA s",
        "TRUNCATE events",
        "COPY events TO '{out}-dir/' STORED AS CSV",
        "RESET datafusion.execution.batch_size",
        "EXECUTE p",
        "INSERT INTO events SELECT * FROM events",
        "DELETE FROM events",
        "DROP VIEW events",
        "SET datafusion.execution.target_partitions = 1",
        "EXPLAIN ANALYZE INSERT INTO events SELECT * FROM events",
        "PREPARE p AS SELECT 1",
    ] {
        let sql = fill(sql, &s);
        let out = kubetrail()
            .args(["query", "--lake"])
            .arg(&s.lake)
            .arg(&sql)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("read-only"), "{sql}: {stderr}");
    }
}

#[test]
fn several_statements_in_one_query_are_refused_with_a_hint() {
    let s = scene();
    let out = kubetrail()
        .args(["query", "--lake"])
        .arg(&s.lake)
        .arg("SELECT 1; DROP VIEW events")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one statement"), "{stderr}");
}

#[test]
fn harmless_statements_still_run() {
    // The refusals above must not come from a query path that refuses everything.
    let s = scene();
    for sql in [
        "SELECT count(*) AS n FROM generate_series(1, 3)",
        "EXPLAIN SELECT count(*) FROM events",
        "DESCRIBE events",
        "SHOW ALL",
        "SELECT table_name FROM information_schema.tables",
    ] {
        stdout_of(
            kubetrail()
                .args(["query", "--format", "csv", "--lake"])
                .arg(&s.lake)
                .arg(sql),
        );
    }
}

#[test]
fn the_shell_refuses_them_too_and_events_stays_the_lake() {
    let s = scene();
    let lake_before = files(&s.lake);
    let outside_before = files(&s.outside);
    let n = event_count(&s.lake);
    let mut script = String::new();
    for sql in HOSTILE {
        script.push_str(&fill(sql, &s));
        script.push_str(";\n");
    }
    // Dot-commands other shells have for reading and writing files, or running programs.
    for dot in [
        ".read {secret}",
        ".output {out}-dot.txt",
        ".once {out}-once.txt",
        ".shell touch {out}-shell",
        ".system touch {out}-system",
        ".import {secret} t",
        ".open {out}-open.db",
        ".save {out}-save.db",
        ".dump",
        ".load {out}.so",
        ".cd /",
    ] {
        script.push_str(&fill(dot, &s));
        script.push('\n');
    }
    script.push_str(".window 2018-10-26' OR true --\n");
    script.push_str(".format csv\nSELECT count(*) AS n FROM events;\n.tables\n");
    let out = kubetrail()
        .args(["shell", "--lake"])
        .arg(&s.lake)
        .write_stdin(script)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&format!("n\n{n}\n")), "{stdout}\n{stderr}");
    assert!(!stdout.contains("TOPSECRET"), "{stdout}");
    // Nothing but `events`, the files it reads and the summary (no view, table or schema was
    // created).
    let tables: Vec<&str> = stdout
        .lines()
        .filter(|l| l.ends_with(",VIEW") || l.ends_with(",BASE TABLE"))
        .collect();
    assert_eq!(
        tables,
        [
            "events,VIEW",
            "events_summary,BASE TABLE",
            "lake_events,BASE TABLE"
        ],
        "{stdout}"
    );
    let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    let unknown = stderr
        .lines()
        .filter(|l| l.starts_with("unknown command"))
        .count();
    // Every hostile statement is an error (the multi-statement lines run as two: the SELECT 1
    // part succeeds), every dot-command is unknown, the .window time is rejected.
    assert_eq!(errors, HOSTILE.len() + 1, "{stderr}");
    assert_eq!(unknown, 11, "{stderr}");
    assert_eq!(files(&s.lake), lake_before, "the shell changed the lake");
    assert_eq!(files(&s.outside), outside_before, "the shell wrote a file");
}
