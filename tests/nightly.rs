//! `kubetrail nightly` run as cron would: two files, nothing new, a third file.

mod common;

use std::path::Path;

use common::*;

fn generate(path: &Path, start: &str, seed: &str) {
    kubetrail()
        .args([
            "gen", "--events", "8000", "--seed", seed, "--start", start, "--out",
        ])
        .arg(path)
        .assert()
        .success();
}

fn files_with(dir: &Path, ext: &str) -> usize {
    files_with_extension(dir, ext).len()
}

fn nightly(lake: &Path, input: &Path, reports: &Path) -> (i32, String) {
    nightly_with(lake, input, reports, &[])
}

/// [`nightly`] with more flags.
fn nightly_with(lake: &Path, input: &Path, reports: &Path, flags: &[&str]) -> (i32, String) {
    let out = kubetrail()
        .args(["nightly", "--fail-on", "high"])
        .args(flags)
        .arg("--lake")
        .arg(lake)
        .arg("--input")
        .arg(input)
        .arg("--report-dir")
        .arg(reports)
        .output()
        .expect("run nightly");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "no escape codes without a terminal"
    );
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn nightly_ingests_each_file_once_and_reports_only_new_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("incoming");
    std::fs::create_dir_all(&input).expect("mkdir");
    let (lake, reports) = (dir.path().join("lake"), dir.path().join("reports"));
    generate(&input.join("a.log"), "2026-01-05T00:00:00Z", "1");
    generate(&input.join("b.log"), "2026-01-06T00:00:00Z", "2");

    let (code, out) = nightly(&lake, &input, &reports);
    assert_eq!(code, 3, "first run finds the generated attacks:\n{out}");
    let rows = count(&lake, "SELECT count(*) FROM events");
    let parquet = files_with(&lake, "parquet");
    assert_eq!(files_with(&reports, "html"), 1);
    assert_eq!(files_with(&reports, "json"), 2, "report and state");

    let (code, out) = nightly(&lake, &input, &reports);
    assert_eq!(code, 0, "second run has nothing new:\n{out}");
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), rows);
    assert_eq!(
        files_with(&lake, "parquet"),
        parquet,
        "no Parquet file written"
    );
    assert_eq!(files_with(&reports, "html"), 1, "no report written");

    generate(&input.join("c.log"), "2026-01-07T00:00:00Z", "3");
    let (code, out) = nightly(&lake, &input, &reports);
    assert_eq!(code, 3, "third file brings new attacks:\n{out}");
    assert_eq!(files_with(&reports, "html"), 2);
    let per_file = query(
        &lake,
        "SELECT source_file, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(per_file.len(), 3, "{per_file:?}");
    let days: i64 = count(
        &lake,
        "SELECT count(*) FROM events WHERE ts < TIMESTAMP '2026-01-07T00:00:00Z'",
    );
    assert_eq!(days, rows, "the first two files were not ingested again");
}

#[test]
fn nightly_killed_in_the_middle_finishes_on_the_next_run_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("incoming");
    std::fs::create_dir_all(&input).expect("mkdir");
    let (lake, reports) = (dir.path().join("lake"), dir.path().join("reports"));
    for (name, start, seed) in [
        ("a.log", "2026-01-05T00:00:00Z", "4"),
        ("b.log", "2026-01-06T00:00:00Z", "5"),
    ] {
        kubetrail()
            .args([
                "gen", "--events", "60000", "--seed", seed, "--start", start, "--out",
            ])
            .arg(input.join(name))
            .assert()
            .success();
    }
    // Killed at points inside its ingest and, later, inside its detection.
    for kill_after_ms in [700u64, 2500, 6000] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubetrail"))
            .args(["nightly", "--fail-on", "high", "--lake"])
            .arg(&lake)
            .arg("--input")
            .arg(&input)
            .arg("--report-dir")
            .arg(&reports)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (code, out) = nightly(&lake, &input, &reports);
    assert!(
        code == 3 || code == 0,
        "the run after the kills completes:\n{out}"
    );
    assert_eq!(
        count(&lake, "SELECT count(*) FROM events"),
        120_000,
        "{out}"
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(DISTINCT audit_id || '/' || stage) FROM events"
        ),
        120_000
    );
    let (code, out) = nightly(&lake, &input, &reports);
    assert_eq!(code, 0, "nothing new after that:\n{out}");
}

#[test]
fn nightly_writes_with_the_redaction_key_kept_outside_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("incoming");
    std::fs::create_dir_all(&input).expect("mkdir");
    let (lake, reports) = (dir.path().join("lake"), dir.path().join("reports"));
    let key = dir.path().join("redaction.key");
    std::fs::write(&key, [0x42; 32]).expect("key");
    let first = input.join("a.log");
    generate(&first, "2026-01-05T00:00:00Z", "1");
    ingest(
        &lake,
        &[&first],
        &["--key-file", key.to_str().expect("utf8")],
    );
    assert!(
        !lake.join("_kubetrail/key").exists(),
        "the key stays outside"
    );

    generate(&input.join("b.log"), "2026-01-06T00:00:00Z", "2");
    let out = kubetrail()
        .env("KUBETRAIL_KEY_FILE", &key)
        .args(["nightly", "--lake"])
        .arg(&lake)
        .arg("--input")
        .arg(&input)
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .expect("run nightly");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!lake.join("_kubetrail/key").exists(), "no second key made");
    let per_file = query(&lake, "SELECT count(DISTINCT source_file) AS n FROM events");
    assert_eq!(per_file[0]["n"], 2, "{per_file:?}");
}

#[test]
fn nightly_merges_the_files_it_analysed_and_does_not_analyse_the_merged_file_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("incoming");
    std::fs::create_dir_all(&input).expect("mkdir");
    let (lake, reports) = (dir.path().join("lake"), dir.path().join("reports"));
    let events = lake.join("events");
    generate(&input.join("a.log"), "2026-01-05T00:00:00Z", "1");
    let (code, out) = nightly(&lake, &input, &reports);
    assert_eq!(code, 3, "{out}");
    assert!(
        !out.contains("compact:"),
        "one file: nothing to merge\n{out}"
    );

    // a second input of the same day: its file is analysed alone, then merged with the first
    generate(&input.join("b.log"), "2026-01-05T00:00:00Z", "2");
    let (_, out) = nightly(&lake, &input, &reports);
    assert!(out.contains("analysing 1 new Parquet file(s)"), "{out}");
    assert!(
        out.contains("compact: 1 partition(s), 2 file(s) merged into 1"),
        "{out}"
    );
    assert_eq!(files_with(&events, "parquet"), 1);
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 16000);

    let (code, out) = nightly(&lake, &input, &reports);
    assert_eq!(code, 0, "the merged file holds analysed rows only:\n{out}");
    assert!(out.contains("nothing new to analyse"), "{out}");

    // --no-compact leaves them as ingest wrote them
    generate(&input.join("c.log"), "2026-01-05T00:00:00Z", "3");
    let (_, printed) = nightly_with(&lake, &input, &reports, &["--no-compact"]);
    assert!(
        printed.contains("analysing 1 new Parquet file(s)"),
        "{printed}"
    );
    assert!(!printed.contains("compact:"), "{printed}");
    assert_eq!(files_with(&events, "parquet"), 2);
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 24000);
}
