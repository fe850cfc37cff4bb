//! `kubetrail compact` and the readers that read the manifest: the same rows and findings after
//! a compaction, readers that never see a file the manifest does not list (uncommitted, replaced
//! or stray), partition pruning kept, and a compaction killed or crashed at any point leaving a
//! lake whose readers see every row exactly once and that the next writer finishes.

mod common;

use std::path::{Path, PathBuf};

use common::{count, kubetrail, stdout_of};
use serde_json::Value;

/// A lake of many small files: `events` generated events (seed 7, two days, with attacks),
/// cut into `pieces` inputs ingested one at a time, alternately into clusters `c1` and `c2`.
fn lake_of_small_files(dir: &Path, events: u64, pieces: usize) -> PathBuf {
    let all = dir.join("all.log");
    stdout_of(
        kubetrail()
            .args(["gen", "--seed", "7", "--days", "2", "--events"])
            .arg(events.to_string())
            .arg("--out")
            .arg(&all),
    );
    let text = std::fs::read_to_string(&all).expect("generated log");
    let lines: Vec<&str> = text.lines().collect();
    let per = lines.len().div_ceil(pieces);
    let lake = dir.join("lake");
    for (n, chunk) in lines.chunks(per).enumerate() {
        let piece = dir.join(format!("piece-{n:02}.log"));
        std::fs::write(&piece, chunk.join("\n") + "\n").expect("write piece");
        let cluster = if n % 2 == 0 { "c1" } else { "c2" };
        stdout_of(
            kubetrail()
                .args(["ingest", "-q", "--cluster", cluster, "--lake"])
                .arg(&lake)
                .arg(&piece),
        );
    }
    lake
}

/// Every row of the lake as JSON lines, in one total order: what "the same rows" means.
fn rows(lake: &Path) -> String {
    stdout_of(
        kubetrail()
            .args(["query", "--format", "jsonl", "--lake"])
            .arg(lake)
            .arg(
                "SELECT * FROM events ORDER BY cluster, source_file, source_line, audit_id, stage",
            ),
    )
}

/// Rows, distinct audit ids and an order-free checksum of the rows, by SQL.
fn tally(lake: &Path) -> Value {
    let out = stdout_of(
        kubetrail()
            .args(["query", "--format", "jsonl", "--lake"])
            .arg(lake)
            .arg(
                "SELECT count(*) AS n, count(DISTINCT audit_id) AS ids, \
                 md5(string_agg(h, ',' ORDER BY h)) AS checksum \
                 FROM (SELECT audit_id, md5(concat_ws('|', cluster, day, source_file, source_line, \
                 audit_id, stage, ts, stage_ts, verb, request_uri, username, source_ip, user_agent, \
                 resource, subresource, namespace, name, status_code, request_object, \
                 response_object)) AS h FROM events)",
            ),
    );
    serde_json::from_str(out.trim()).expect("tally row")
}

fn findings(lake: &Path) -> String {
    stdout_of(
        kubetrail()
            .args(["detect", "-q", "--format", "jsonl", "--lake"])
            .arg(lake),
    )
}

/// What `events_summary` says per key, and the same computed from `events`, as JSON lines.
fn summary_and_events(lake: &Path) -> (String, String) {
    const KEYS: &str =
        "cluster, day, username, source_ip, user_agent, verb, resource, namespace, subresource";
    let run = |sql: String| {
        stdout_of(
            kubetrail()
                .args(["query", "--format", "jsonl", "--lake"])
                .arg(lake)
                .arg(sql),
        )
    };
    (
        run(format!(
            "SELECT {KEYS}, sum(events) AS n, min(first_ts) AS first_ts, max(last_ts) AS last_ts \
             FROM events_summary GROUP BY {KEYS} ORDER BY {KEYS}"
        )),
        run(format!(
            "SELECT {KEYS}, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts \
             FROM events GROUP BY {KEYS} ORDER BY {KEYS}"
        )),
    )
}

fn summary_files(lake: &Path) -> Vec<PathBuf> {
    files_under(&lake.join("summary"))
}

fn data_files(lake: &Path) -> Vec<PathBuf> {
    files_under(&lake.join("events"))
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    common::files_with_extension(dir, "parquet")
}

/// `kubetrail verify` exit code and faults.
fn verify(lake: &Path) -> (Option<i32>, String) {
    let out = kubetrail()
        .args(["verify", "--lake"])
        .arg(lake)
        .output()
        .expect("run verify");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn compact_json(lake: &Path, extra: &[&str]) -> Value {
    let out = stdout_of(
        kubetrail()
            .args(["compact", "--json", "--lake"])
            .arg(lake)
            .args(extra),
    );
    serde_json::from_str(&out).expect("compact summary JSON")
}

#[test]
fn compaction_keeps_every_row_and_every_finding_and_the_lake_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 12_000, 8);
    let before_files = data_files(&lake);
    let (before_rows, before_tally, before_findings) = (rows(&lake), tally(&lake), findings(&lake));
    assert_eq!(before_tally["n"].as_i64(), Some(12_000), "{before_tally}");
    assert!(
        !before_findings.is_empty(),
        "the generated attacks give findings"
    );

    let s = compact_json(&lake, &[]);
    let after_files = data_files(&lake);
    // 2 clusters x 2 days, each partition now one file.
    assert_eq!(after_files.len(), 4, "{after_files:?}");
    assert_eq!(s["compacted"].as_array().map(Vec::len), Some(4), "{s}");
    let files_in: u64 = s["compacted"]
        .as_array()
        .expect("compacted")
        .iter()
        .filter_map(|c| c["files_in"].as_u64())
        .sum();
    assert_eq!(files_in as usize, before_files.len(), "{s}");
    assert!(after_files.iter().all(|f| !before_files.contains(f)));

    assert_eq!(tally(&lake), before_tally);
    assert_eq!(rows(&lake), before_rows, "the rows changed");
    assert_eq!(findings(&lake), before_findings, "the findings changed");
    assert_eq!(verify(&lake).0, Some(0), "{}", verify(&lake).1);

    // A second run has nothing left to merge and changes nothing.
    let again = compact_json(&lake, &[]);
    assert_eq!(
        again["compacted"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );
    assert_eq!(again["partitions_unchanged"].as_u64(), Some(4), "{again}");
    assert_eq!(data_files(&lake), after_files);
}

#[test]
fn the_summary_counts_what_events_holds_before_and_after_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 6_000, 6);
    let (summary, events) = summary_and_events(&lake);
    assert!(events.lines().count() > 10, "{events}");
    assert_eq!(summary, events, "the summary differs from events");
    // One summary file next to each data file.
    assert_eq!(summary_files(&lake).len(), data_files(&lake).len());

    compact_json(&lake, &[]);
    let (summary_after, events_after) = summary_and_events(&lake);
    assert_eq!(events_after, events);
    assert_eq!(
        summary_after, events,
        "the merged summary differs from events"
    );
    // 2 clusters x 2 days: one summary file each.
    assert_eq!(summary_files(&lake).len(), 4, "{:?}", summary_files(&lake));
    assert_eq!(verify(&lake).0, Some(0), "{}", verify(&lake).1);
}

#[test]
fn a_target_size_cuts_the_merged_rows_into_several_sorted_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 12_000, 12);
    let before = rows(&lake);
    let c1 = |lake: &Path| -> Vec<(PathBuf, u64)> {
        data_files(lake)
            .into_iter()
            .filter(|f| f.to_string_lossy().contains("cluster=c1"))
            .map(|f| {
                let len = std::fs::metadata(&f).expect("size").len();
                (f, len)
            })
            .collect()
    };
    let c2 = |lake: &Path| -> Vec<PathBuf> {
        data_files(lake)
            .into_iter()
            .filter(|f| f.to_string_lossy().contains("cluster=c2"))
            .collect()
    };
    let c2_before = c2(&lake);
    // Every c1 file is smaller than the target; three of them together are not.
    let target = c1(&lake).iter().map(|f| f.1).max().expect("c1 files") + 1;
    let s = compact_json(
        &lake,
        &["--cluster", "c1", "--target-size", &target.to_string()],
    );
    let compacted = s["compacted"].as_array().expect("compacted");
    assert_eq!(compacted.len(), 2, "{s}");
    for c in compacted {
        assert!(
            c["partition"]
                .as_str()
                .is_some_and(|p| p.starts_with("cluster=c1/")),
            "{c}"
        );
        assert!(c["files_out"].as_u64() > Some(1), "{c}");
    }
    // Files are cut at about the target size (at the rows that took that size in the inputs).
    for (f, len) in c1(&lake) {
        assert!(
            len < 2 * target,
            "{}: {len} bytes, target {target}",
            f.display()
        );
    }
    // c2 was not selected: its files are as they were.
    assert_eq!(c2(&lake), c2_before);
    assert_eq!(rows(&lake), before);
    assert_eq!(verify(&lake).0, Some(0), "{}", verify(&lake).1);
}

#[test]
fn readers_never_see_a_data_file_the_manifest_does_not_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 2_000, 2);
    let n = count(&lake, "SELECT count(*) FROM events");
    assert_eq!(n, 2_000);
    // A file in events/ that no commit published (a commit killed before its manifest, a
    // compaction's replaced file not yet deleted, or a copy made by hand).
    let file = data_files(&lake).remove(0);
    std::fs::copy(&file, file.with_file_name("part-stray-00000.parquet")).expect("copy");
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), n);
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) - count(DISTINCT audit_id || stage || source_file || source_line) FROM events"
        ),
        0
    );
}

#[test]
fn a_lake_without_a_manifest_is_read_by_listing_and_left_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 2_000, 2);
    let manifest = lake.join("_kubetrail/manifest.json");
    std::fs::remove_file(&manifest).expect("remove manifest");
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 2_000);
    assert!(!manifest.exists(), "a reader wrote a manifest");
}

#[test]
fn a_query_on_one_cluster_and_day_opens_only_that_partitions_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 4_000, 4);
    let plan = stdout_of(
        kubetrail()
            .args(["query", "--format", "csv", "--lake"])
            .arg(&lake)
            .arg("EXPLAIN SELECT count(*) FROM events WHERE cluster = 'c2' AND day = '2026-01-06'"),
    );
    assert!(plan.contains("cluster=c2/day=2026-01-06"), "{plan}");
    for other in ["cluster=c1", "day=2026-01-05"] {
        assert!(!plan.contains(other), "{other} is opened:\n{plan}");
    }
}

#[test]
fn compact_waits_for_the_writer_lock_another_writer_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_of_small_files(dir.path(), 2_000, 8);
    let before = data_files(&lake);
    // Another writer (an ingest, serve's roll-up) holds the lock.
    let lock = std::fs::File::options()
        .write(true)
        .open(lake.join("_kubetrail/lock"))
        .expect("lock file");
    lock.lock().expect("take the lock");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubetrail"))
        .args(["compact", "-q", "--lake"])
        .arg(&lake)
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("poll").is_none(),
        "compact did not wait for the lock"
    );
    assert_eq!(
        data_files(&lake),
        before,
        "nothing is merged while it waits"
    );
    drop(lock);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert_eq!(data_files(&lake).len(), 4, "merged once the lock was free");
}

/// The points of a commit where `KUBETRAIL_FAULT=crash:POINT` ends the process (ingest/src/fault.rs).
const CRASH_POINTS: &[&str] = &["compact-staged", "journal", "moved", "manifest", "removing"];

#[test]
fn a_compaction_crashed_at_any_point_of_its_commit_loses_and_doubles_nothing() {
    if !cfg!(debug_assertions) {
        return; // fault injection exists in debug builds only
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = lake_of_small_files(dir.path(), 3_000, 4);
    let (before_rows, before_tally) = (rows(&pristine), tally(&pristine));
    for point in CRASH_POINTS {
        let lake = dir.path().join(format!("lake-{point}"));
        copy_dir(&pristine, &lake);
        let out = kubetrail()
            .args(["compact", "--lake"])
            .arg(&lake)
            .env("KUBETRAIL_FAULT", format!("crash:{point}"))
            .output()
            .expect("run compact");
        assert_eq!(
            out.status.code(),
            Some(86),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Readers right after the crash, before any writer repairs anything.
        assert_eq!(tally(&lake), before_tally, "crash at {point}");
        assert_eq!(rows(&lake), before_rows, "crash at {point}");
        let (summary, events) = summary_and_events(&lake);
        assert_eq!(summary, events, "summary after a crash at {point}");
        let (code, faults) = verify(&lake);
        if *point == "compact-staged" {
            assert_eq!(code, Some(0), "{point}: {faults}");
        } else {
            assert_eq!(code, Some(1), "{point}: the interrupted commit is reported");
            assert!(faults.contains("journal.json"), "{point}: {faults}");
        }
        // The next writer finishes (or drops) the crashed commit first.
        compact_json(&lake, &[]);
        assert_eq!(verify(&lake).0, Some(0), "{point}: {}", verify(&lake).1);
        assert_eq!(tally(&lake), before_tally, "after the repair of {point}");
        assert_eq!(rows(&lake), before_rows, "after the repair of {point}");
        assert_eq!(data_files(&lake).len(), 4, "{point}");
        assert_eq!(summary_files(&lake).len(), 4, "{point}");
        let (summary, events) = summary_and_events(&lake);
        assert_eq!(summary, events, "summary after the repair of {point}");
        assert!(!lake.join("_kubetrail/journal.json").exists());
    }
}

#[test]
fn a_killed_compaction_is_finished_by_the_next_writer_without_losing_or_doubling_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = lake_of_small_files(dir.path(), 30_000, 10);
    let before = tally(&pristine);
    for kill_after_ms in [300u64, 800, 1500, 2500] {
        let lake = dir.path().join(format!("lake-{kill_after_ms}"));
        copy_dir(&pristine, &lake);
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("kubetrail"))
            .args(["compact", "-q", "--lake"])
            .arg(&lake)
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(tally(&lake), before, "killed after {kill_after_ms} ms");
        compact_json(&lake, &[]);
        assert_eq!(
            tally(&lake),
            before,
            "finished after a kill at {kill_after_ms} ms"
        );
        assert_eq!(verify(&lake).0, Some(0), "{}", verify(&lake).1);
        assert_eq!(data_files(&lake).len(), 4);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}
