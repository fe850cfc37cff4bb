//! End-to-end tests of what a hostile or unlucky user feeds kubetrail (issue 9): inputs that are
//! the lake itself, symlink loops, FIFOs, odd file names; cluster names with `/`; log text that
//! carries terminal escape sequences; a closed stdout; a `--lake` that is not a lake.

mod common;

use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Long enough for a debug build on a busy 2-core machine, short enough to catch a hang.
const HANG: Duration = Duration::from_secs(120);

fn skipped(summary: &Value) -> Vec<String> {
    summary["skipped"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .expect("the summary lists skipped inputs")
}

fn ingest_json(cmd: &mut assert_cmd::Command) -> Value {
    let out = stdout_of(cmd.timeout(HANG));
    serde_json::from_str(&out).expect("summary is JSON")
}

#[test]
fn ingest_dot_with_the_lake_inside_never_reads_the_lakes_own_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("audit.log"), events("a", 20)).expect("write");
    let run = || {
        ingest_json(
            kubetrail()
                .current_dir(dir.path())
                .args(["ingest", "--json", "."]),
        )
    };
    let first = run();
    assert_eq!(first["rows"], 20, "{first}");
    // Now the default lake `./kubetrail-lake` exists inside `.`: its key, state, Parquet files
    // and quarantine must not be read as input.
    let second = run();
    assert_eq!(second["quarantined"], 0, "{second}");
    assert_eq!(second["rows"], 0, "{second}");
    assert_eq!(second["lines"], 0, "{second}");
    let skipped = skipped(&second);
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("./kubetrail-lake: inside the lake")),
        "{skipped:?}"
    );
    assert_eq!(
        count(
            &dir.path().join("kubetrail-lake"),
            "SELECT count(*) AS n FROM events"
        ),
        20
    );
}

#[test]
fn a_directory_with_symlinks_to_itself_is_walked_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let sub = logs.join("sub");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::write(logs.join("audit.log"), events("a", 5)).expect("write");
    std::fs::write(sub.join("b.log"), events("b", 4)).expect("write");
    // Two links to itself (today's walk branches twice at every level), one to its parent,
    // and a second name for `sub`.
    std::os::unix::fs::symlink(".", sub.join("again")).expect("symlink");
    std::os::unix::fs::symlink(&sub, sub.join("and-again")).expect("symlink");
    std::os::unix::fs::symlink("..", sub.join("up")).expect("symlink");
    std::os::unix::fs::symlink("sub", logs.join("twice")).expect("symlink");
    let lake = dir.path().join("lake");
    let summary = ingest_json(
        kubetrail()
            .args(["ingest", "--json", "--lake"])
            .arg(&lake)
            .arg(&logs),
    );
    assert_eq!(summary["files"], 2, "{summary}");
    assert_eq!(summary["rows"], 9, "{summary}");
    assert_eq!(summary["files_skipped"], 4, "{summary}");
    let skipped = skipped(&summary);
    for link in ["sub/again", "sub/and-again", "sub/up", "logs/twice"] {
        assert!(
            skipped
                .iter()
                .any(|s| s.contains(&format!("/{link}: same directory as"))),
            "{link}: {skipped:?}"
        );
    }
}

fn mkfifo(path: &Path) {
    let status = StdCommand::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

#[test]
fn a_fifo_in_a_directory_is_skipped_with_a_reason_instead_of_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    std::fs::write(logs.join("audit.log"), events("a", 5)).expect("write");
    mkfifo(&logs.join("pipe.log"));
    let summary = ingest_json(
        kubetrail()
            .args(["ingest", "--json", "--lake"])
            .arg(dir.path().join("lake"))
            .arg(&logs),
    );
    assert_eq!(summary["rows"], 5, "{summary}");
    assert_eq!(summary["files_skipped"], 1, "{summary}");
    let skipped = skipped(&summary);
    assert!(
        skipped[0].ends_with("pipe.log: FIFO (named pipe), not a regular file (never opened)"),
        "{skipped:?}"
    );
}

#[test]
fn a_fifo_or_device_named_on_the_command_line_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.log");
    mkfifo(&fifo);
    for (input, kind) in [
        (fifo.as_path(), "FIFO (named pipe)"),
        (Path::new("/dev/null"), "character device"),
    ] {
        let out = kubetrail()
            .args(["ingest", "--lake"])
            .arg(dir.path().join("lake"))
            .arg(input)
            .timeout(HANG)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("input {} is a {kind}", input.display())),
            "{stderr}"
        );
    }
}

#[test]
fn non_utf8_names_are_ingested_and_hidden_files_are_counted() {
    use std::os::unix::ffi::OsStringExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let name = std::ffi::OsString::from_vec(b"audit-\xe9t\xe9.log".to_vec());
    std::fs::write(logs.join(name), events("latin1", 7)).expect("write");
    std::fs::write(logs.join(".audit.log.swp"), events("hidden", 3)).expect("write");
    let summary = ingest_json(
        kubetrail()
            .args(["ingest", "--json", "--lake"])
            .arg(dir.path().join("lake"))
            .arg(&logs),
    );
    assert_eq!(summary["files"], 1, "{summary}");
    assert_eq!(summary["rows"], 7, "{summary}");
    assert_eq!(summary["files_skipped"], 1, "{summary}");
    let skipped = skipped(&summary);
    assert!(
        skipped[0].ends_with(".audit.log.swp: hidden (name starts with '.')"),
        "{skipped:?}"
    );
    let rows = query(
        &dir.path().join("lake"),
        "SELECT DISTINCT source_file FROM events",
    );
    assert!(
        rows[0]["source_file"]
            .as_str()
            .is_some_and(|f| f.ends_with("audit-\u{fffd}t\u{fffd}.log")),
        "{rows:?}"
    );
}

/// A `kubectl exec` by `user` that rule pod-exec-attach reports.
fn exec_event(id: &str, user: &str, command_query: &str, user_agent: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/default/pods/web-0/exec?{command_query}&container=app&stdin=true&tty=true","verb":"create","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["203.0.113.9"],"userAgent":"{user_agent}","objectRef":{{"resource":"pods","namespace":"default","name":"web-0","subresource":"exec","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":101}},"requestReceivedTimestamp":"2026-01-05T10:00:00.000000Z","stageTimestamp":"2026-01-05T10:00:00.100000Z"}}"#
    ) + "\n"
}

fn write_log(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn cluster_names_with_slashes_are_stored_as_given_and_kept_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let arn = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";
    let inputs = [
        ("prod/eu", "eu-slash", 3),
        ("prod_eu", "eu-underscore", 5),
        (arn, "arn", 2),
    ];
    for (cluster, user, n) in inputs {
        let text: String = (0..n)
            .map(|i| {
                exec_event(
                    &format!("{user}-{i}"),
                    user,
                    "command=sh",
                    "kubectl/v1.30.1",
                )
            })
            .collect();
        let log = write_log(dir.path(), &format!("{user}.log"), &text);
        let summary = ingest(&lake, &[&log], &["--cluster", cluster]);
        assert_eq!(summary["rows"], n, "{summary}");
    }
    // DuckDB and Spark read the layout too: Hive's percent-encoding, one directory per name.
    for dirname in [
        "cluster=prod%2Feu",
        "cluster=prod_eu",
        "cluster=arn%3Aaws%3Aeks%3Aeu-west-1%3A111122223333%3Acluster%2Fprod",
    ] {
        assert!(lake.join("events").join(dirname).is_dir(), "{dirname}");
    }
    let rows = query(
        &lake,
        "SELECT cluster, count(*) AS n FROM events GROUP BY cluster ORDER BY cluster",
    );
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["cluster"].as_str().expect("a string field").to_string(),
                r["n"].as_i64().expect("an integer field"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (arn.to_string(), 2),
            ("prod/eu".to_string(), 3),
            ("prod_eu".to_string(), 5)
        ]
    );
    for (cluster, user, n) in inputs {
        let out = stdout_of(
            kubetrail()
                .args(["query", "--format", "jsonl", "--lake"])
                .arg(&lake)
                .args(["--cluster", cluster])
                .arg("SELECT cluster, username, count(*) AS n FROM events GROUP BY 1, 2"),
        );
        let rows: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("jsonl"))
            .collect();
        assert_eq!(rows.len(), 1, "--cluster {cluster}: {out}");
        assert_eq!(rows[0]["cluster"], cluster);
        assert_eq!(rows[0]["username"], user);
        assert_eq!(rows[0]["n"], n);
        // The same through plain SQL, which DataFusion could turn into a directory prefix.
        let sql = format!("SELECT count(*) AS n FROM events WHERE cluster = '{cluster}'");
        assert_eq!(count(&lake, &sql), n, "{sql}");

        let out = stdout_of(
            kubetrail()
                .args(["detect", "--format", "jsonl", "--rule", "pod-exec-attach"])
                .arg("--lake")
                .arg(&lake)
                .args(["--cluster", cluster]),
        );
        let findings: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("finding"))
            .collect();
        assert!(!findings.is_empty(), "--cluster {cluster}: no findings");
        for f in &findings {
            assert_eq!(f["cluster"], cluster, "{f}");
            assert_eq!(f["username"], user, "{f}");
        }
    }
}

/// An exec argument that, printed raw, sets the clipboard (OSC 52) and erases the line, and a user
/// agent with the same. `%1B` is ESC, `%07` BEL, `%C2%9B` the C1 CSI.
fn hostile_lake(dir: &Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let event = exec_event(
        "osc52",
        "mallory",
        "command=sh&command=-c&command=id%1B%5D52%3Bc%3BY3VybCBldmlsLnNo%07%1B%5B2K%C2%9B1A",
        r"kubectl/v1.30.1 \u001b]52;c;ZXZpbA==\u0007\u001b[1A",
    );
    let log = write_log(dir, "osc52.log", &event);
    let summary = ingest(&lake, &[&log], &[]);
    assert_eq!(summary["rows"], 1, "{summary}");
    lake
}

fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.contains(['\u{1b}', '\u{7}', '\u{9b}']),
        "{what} writes raw control characters: {text:?}"
    );
}

#[test]
fn query_table_and_csv_show_escape_sequences_as_visible_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = hostile_lake(dir.path());
    for format in ["table", "csv"] {
        let out = stdout_of(
            kubetrail()
                .env_remove("COLUMNS")
                .args(["query", "--format", format, "--lake"])
                .arg(&lake)
                .arg("SELECT exec_command, user_agent FROM events"),
        );
        assert_no_raw_controls(format, &out);
        assert!(
            out.contains(r"sh -c id\x1b]52;c;Y3VybCBldmlsLnNo\x07\x1b[2K\u{9b}1A"),
            "{format}: {out}"
        );
        assert!(
            out.contains(r"kubectl/v1.30.1 \x1b]52;c;ZXZpbA==\x07\x1b[1A"),
            "{format}: {out}"
        );
    }
    // JSON keeps JSON's escaping, and the value itself.
    let rows = query(&lake, "SELECT exec_command FROM events");
    assert_eq!(
        rows[0]["exec_command"],
        "sh -c id\u{1b}]52;c;Y3VybCBldmlsLnNo\u{7}\u{1b}[2K\u{9b}1A"
    );
}

#[test]
fn detect_table_and_csv_show_escape_sequences_as_visible_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = hostile_lake(dir.path());
    for format in ["table", "csv"] {
        let out = stdout_of(
            kubetrail()
                .env_remove("COLUMNS")
                .args(["detect", "--format", format, "--rule", "pod-exec-attach"])
                .arg("--lake")
                .arg(&lake),
        );
        assert_no_raw_controls(format, &out);
        // The table wraps long summaries: read its cells back without the wrapping.
        let unwrapped: String = out
            .lines()
            .flat_map(|l| l.rsplit('┆').next())
            .map(|cell| cell.trim_end_matches(['│', ' ']).trim_start())
            .collect();
        assert!(
            out.contains(r"id\x1b]52;c;Y3VybCBldmlsLnNo\x07")
                || unwrapped.contains(r"id\x1b]52;c;Y3VybCBldmlsLnNo\x07"),
            "{format}: {out}"
        );
    }
}

/// Run `kubetrail ARGS` with its stdout closed before it writes: `kubetrail ... | head -0`.
fn with_stdout_closed(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = StdCommand::new(kubetrail().get_program())
        .env_remove("KUBETRAIL_LAKE")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_output_quietly_and_keeps_the_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let log = write_log(dir.path(), "audit.log", &events("a", 50));
    let os = |s: &str| std::ffi::OsString::from(s);
    let lake_arg = lake.clone().into_os_string();
    let cases: Vec<(Vec<std::ffi::OsString>, i32)> = vec![
        (
            vec![
                os("ingest"),
                os("--lake"),
                lake_arg.clone(),
                log.clone().into_os_string(),
            ],
            0,
        ),
        (
            vec![
                os("query"),
                os("--lake"),
                lake_arg.clone(),
                os("SELECT * FROM events"),
            ],
            0,
        ),
        (vec![os("rules"), os("show"), os("pod-exec-attach")], 0),
        (vec![os("gen"), os("--list-scenarios")], 0),
    ];
    for (args, code) in cases {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (got, stderr) = with_stdout_closed(&args);
        assert_eq!(got, Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // A finding at or above --fail-on still fails the run when nobody reads the report.
    let exec = write_log(
        dir.path(),
        "exec.log",
        &exec_event("e1", "mallory", "command=sh", "kubectl/v1.30.1"),
    );
    ingest(&lake, &[&exec], &[]);
    let args = [
        os("detect"),
        os("--lake"),
        lake_arg,
        os("--rule"),
        os("pod-exec-attach"),
        os("--fail-on"),
        os("low"),
    ];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let (got, stderr) = with_stdout_closed(&args);
    assert_eq!(got, Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn readers_refuse_a_folder_that_is_not_a_lake_and_leave_it_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_lake = dir.path().join("my-documents");
    std::fs::create_dir(&not_lake).expect("mkdir");
    std::fs::write(not_lake.join("notes.txt"), "hello").expect("write");
    let missing = dir.path().join("no-such-lake");
    for lake in [&not_lake, &missing] {
        for args in [
            vec!["query", "SELECT count(*) FROM events"],
            vec!["detect", "--fail-on", "low"],
            vec!["shell"],
        ] {
            let out = kubetrail()
                .args(&args)
                .arg("--lake")
                .arg(lake)
                .write_stdin("SELECT 1;\n")
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?} {stderr}");
            let expected = if lake == &not_lake {
                format!(
                    "{} is not a kubetrail lake: a lake is a folder holding `_kubetrail/` or `events/`",
                    lake.display()
                )
            } else {
                format!("no lake at {}", lake.display())
            };
            assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(&not_lake)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(left, ["notes.txt"]);
    assert!(!missing.exists());
}

#[test]
fn a_lake_without_events_yet_answers_no_rows_and_is_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(lake.join("_kubetrail")).expect("mkdir");
    assert_eq!(count(&lake, "SELECT count(*) AS n FROM events"), 0);
    assert!(!lake.join("events").exists());
}

#[test]
fn an_error_that_quotes_a_hostile_file_name_shows_its_escapes_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = dir
        .path()
        .join("audit\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J.log");
    let out = kubetrail()
        .args(["ingest", "--lake"])
        .arg(dir.path().join("lake"))
        .arg(&name)
        .output()
        .expect("run ingest");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert_no_raw_controls("the error", &err);
    assert!(err.contains("\\x1b]52;c;ZXZpbA==\\x07"), "{err}");
}
