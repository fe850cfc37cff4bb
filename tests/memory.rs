//! `--memory-limit`: queries and the rule pack hold at most the memory they are given, spill
//! what they can, and fail naming the limit (never an out-of-memory kill) when they cannot fit.

mod common;

use common::*;

/// A generated day of 20,000 events: enough for a sort that does not fit in a few MiB.
fn generated_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.log");
    stdout_of(
        kubetrail()
            .args(["gen", "--events", "20000", "--seed", "5", "--out"])
            .arg(&log),
    );
    ingest(&dir.path().join("lake"), &[&log], &["--cluster", "mem"]);
    dir
}

fn query_csv(lake: &std::path::Path, limit: Option<&str>, sql: &str) -> std::process::Output {
    let mut cmd = kubetrail();
    cmd.env_remove("KUBETRAIL_MEMORY_LIMIT")
        .args(["query", "--format", "csv", "--lake"])
        .arg(lake);
    if let Some(l) = limit {
        cmd.args(["--memory-limit", l]);
    }
    cmd.arg(sql).output().expect("run kubetrail")
}

// Every event eight times with its URI, body and user agent, sorted: about 45 MB to sort
// against a pool of 18 MB.
const LIMIT: &str = "24MiB";
const BIG_SORT: &str = "SELECT audit_id, k, request_uri, request_object, user_agent \
                        FROM events, (VALUES (1), (2), (3), (4), (5), (6), (7), (8)) AS v(k) \
                        ORDER BY request_uri, audit_id, k";

#[test]
fn a_sort_bigger_than_the_limit_spills_and_gives_the_same_rows() {
    let dir = generated_lake();
    let lake = dir.path().join("lake");
    let free = query_csv(&lake, None, BIG_SORT);
    assert!(free.status.success(), "{free:?}");
    let small = query_csv(&lake, Some(LIMIT), BIG_SORT);
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    assert!(free.stdout == small.stdout, "the spilled sort differs");
    // It did spill: the sort's metrics count the runs written to disk.
    let plan = query_csv(&lake, Some(LIMIT), &format!("EXPLAIN ANALYZE {BIG_SORT}"));
    let plan = String::from_utf8_lossy(&plan.stdout);
    let spills: u64 = plan
        .split("spill_count=")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(spills > 0, "no spill under {LIMIT}: {plan}");
}

#[test]
fn a_query_that_cannot_fit_fails_naming_the_limit() {
    let dir = generated_lake();
    let lake = dir.path().join("lake");
    // One group holding every body: an aggregate state that cannot spill.
    let sql = "SELECT array_agg(request_object) AS a FROM events";
    let out = query_csv(&lake, Some("2MiB"), sql);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("memory limit (2MiB)"), "{stderr}");
    assert!(stderr.contains("--memory-limit"), "{stderr}");
    // The environment variable sets the same limit.
    let out = kubetrail()
        .env("KUBETRAIL_MEMORY_LIMIT", "2MiB")
        .args(["query", "--lake"])
        .arg(&lake)
        .arg(sql)
        .output()
        .expect("run kubetrail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("memory limit (2MiB)"), "{stderr}");
}

/// `detect` over `lake` under `limit`: the exit code, each finding as "rule_id [audit IDs]"
/// (sorted), and its standard error (where failed rules are named).
fn detect_under(lake: &std::path::Path, limit: &str) -> (Option<i32>, Vec<String>, String) {
    detect_with(lake, limit, None)
}

/// [`detect_under`], with `KUBETRAIL_FAULT` set to `fault`.
fn detect_with(
    lake: &std::path::Path,
    limit: &str,
    fault: Option<&str>,
) -> (Option<i32>, Vec<String>, String) {
    let mut cmd = kubetrail();
    if let Some(f) = fault {
        cmd.env("KUBETRAIL_FAULT", f);
    }
    let out = cmd
        .env_remove("KUBETRAIL_MEMORY_LIMIT")
        .args(["detect", "--quiet", "--format", "jsonl", "--lake"])
        .arg(lake)
        .args(["--memory-limit", limit])
        .output()
        .expect("run kubetrail");
    let ids = finding_ids(&String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), ids, stderr)
}

#[test]
fn the_pack_under_a_small_limit_finds_what_it_finds_without_one() {
    let dir = generated_lake();
    let lake = dir.path().join("lake");
    let (code, roomy, stderr) = detect_under(&lake, "4GiB");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(roomy.len() > 10, "the generated attacks are found");
    // 512 MiB and up: text read as string views, which the pack needs about 320 MiB for here
    // (grouping view columns reserves 2 MiB per key column); below, text is copied as before.
    for limit in ["512MiB", "64MiB"] {
        let (code, findings, stderr) = detect_under(&lake, limit);
        assert_eq!(code, Some(0), "under {limit}: {stderr}");
        assert_eq!(findings, roomy, "under {limit}");
    }
    // A rule that runs out of memory reading string views (DataFusion counts a batch of views
    // as every page they point into) runs again with text copied, and finds what it found.
    let rule = roomy[0]
        .split(' ')
        .next()
        .expect("a rule id")
        .trim_matches('"');
    let fault = format!("oom-with-views:{rule}");
    let (code, findings, stderr) = detect_with(&lake, "512MiB", Some(&fault));
    assert_eq!(code, Some(0), "{rule} out of memory with views: {stderr}");
    assert_eq!(findings, roomy, "{rule} out of memory with views");
    // Far below, a rule that cannot fit fails naming the limit (never an out-of-memory kill),
    // and every other rule finds what it found.
    let (code, tight, stderr) = detect_under(&lake, "4MiB");
    let failed: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: rule ")?.split(' ').next())
        .collect();
    assert!(!failed.is_empty(), "nothing failed under 4 MiB: {stderr}");
    assert_eq!(code, Some(1), "{stderr}");
    for line in stderr.lines().filter(|l| l.starts_with("error: rule ")) {
        assert!(line.contains("memory limit (4MiB)"), "{line}");
    }
    assert!(!tight.is_empty(), "no rule ran under 4 MiB: {stderr}");
    let of_rules_that_ran: Vec<String> = roomy
        .iter()
        .filter(|f| !failed.iter().any(|r| f.starts_with(&format!("\"{r}\""))))
        .cloned()
        .collect();
    assert_eq!(tight, of_rules_that_ran);
}

#[test]
fn a_malformed_limit_is_refused_with_the_reason() {
    let out = kubetrail()
        .args(["query", "--memory-limit", "lots", "SELECT 1"])
        .output()
        .expect("run kubetrail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a size"), "{stderr}");
}
