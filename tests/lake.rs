//! The lake guards itself: private files whatever the umask, a key that is never silently
//! replaced and may live outside the lake, and `verify` finding every damaged file.

mod common;

use std::path::Path;

use common::{events, ingest, kubetrail};
use serde_json::Value;

fn lake_with_data(dir: &Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let log = dir.join("audit.log");
    std::fs::write(&log, events("v", 300)).expect("write");
    ingest(&lake, &[&log], &[]);
    lake
}

fn verify(lake: &Path) -> (Option<i32>, Value) {
    let out = kubetrail()
        .args(["verify", "--json", "--lake"])
        .arg(lake)
        .output()
        .expect("run verify");
    let v = serde_json::from_slice(&out.stdout).expect("verdict JSON");
    (out.status.code(), v)
}

fn faults(v: &Value) -> Vec<String> {
    v["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .map(|f| format!("{} {}", f["path"], f["fault"]))
        .collect()
}

#[cfg(unix)]
#[test]
fn every_file_and_folder_of_a_lake_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let log = dir.path().join("audit.log");
    std::fs::write(&log, format!("{}{{not json\n", events("p", 10))).expect("write");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000; exec "$0" ingest --quiet --lake "$1" "$2""#)
        .arg(assert_cmd::cargo::cargo_bin("kubetrail"))
        .arg(&lake)
        .arg(&log)
        .status()
        .expect("run");
    assert!(status.success());
    let mut seen = 0;
    let mut stack = vec![lake.clone()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).expect("meta");
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(
                std::fs::read_dir(&p)
                    .expect("dir")
                    .map(|e| e.expect("entry").path()),
            );
        } else {
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        seen += 1;
    }
    // lake, _kubetrail, events, cluster=, day=, a data file, key, lock, state, manifest,
    // quarantine folder and file.
    assert!(seen >= 12, "only {seen} entries: the walk proves little");
}

#[test]
fn a_lake_with_data_refuses_to_make_a_new_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_with_data(dir.path());
    std::fs::remove_file(lake.join("_kubetrail/key")).expect("remove key");
    let log = dir.path().join("more.log");
    std::fs::write(&log, events("m", 5)).expect("write");
    let out = kubetrail()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg(&log)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redaction key is missing"), "{stderr}");
    assert!(!lake.join("_kubetrail/key").exists());
}

#[test]
fn the_key_may_live_outside_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let key = dir.path().join("secret/lake.key");
    std::fs::create_dir_all(key.parent().expect("parent")).expect("mkdir");
    let log = dir.path().join("audit.log");
    std::fs::write(&log, events("k", 5)).expect("write");
    let s = ingest(&lake, &[&log], &["--key-file", key.to_str().expect("utf8")]);
    assert_eq!(s["rows"].as_i64(), Some(5));
    assert!(key.exists() && !lake.join("_kubetrail/key").exists());
    // Another input with the same key file is fine; without it the lake has no key.
    let more = dir.path().join("more.log");
    std::fs::write(&more, events("k2", 5)).expect("write");
    let out = kubetrail()
        .args(["ingest", "--lake"])
        .arg(&lake)
        .arg(&more)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let s = ingest(
        &lake,
        &[&more],
        &["--key-file", key.to_str().expect("utf8")],
    );
    assert_eq!(s["rows"].as_i64(), Some(5));
}

#[test]
fn verify_passes_a_sound_lake_and_names_each_damaged_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_with_data(dir.path());
    let more = dir.path().join("more.log");
    std::fs::write(&more, events("w", 300).replace("2026-01-05", "2026-01-06")).expect("write");
    ingest(&lake, &[&more], &[]);
    let (code, v) = verify(&lake);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["rows"].as_i64(), Some(600));
    assert_eq!(v["files_checked"].as_i64(), Some(2));

    let files = ingest::sink::manifest::data_files(&lake).expect("files");
    assert_eq!(files.len(), 2);
    // One file cut short, one with a flipped byte, one extra file, then one missing.
    let bytes = std::fs::read(&files[0]).expect("read");
    std::fs::write(&files[0], &bytes[..bytes.len() / 2]).expect("truncate");
    let mut other = std::fs::read(&files[1]).expect("read");
    other[100] ^= 0xff;
    std::fs::write(&files[1], &other).expect("corrupt");
    let extra = files[1].with_file_name("part-stray.parquet");
    std::fs::write(&extra, &bytes).expect("extra");
    let (code, v) = verify(&lake);
    assert_eq!(code, Some(1));
    let f = faults(&v);
    assert_eq!(f.len(), 3, "{f:?}");
    assert!(f[0].contains("truncated"), "{f:?}");
    assert!(f[1].contains("checksum"), "{f:?}");
    assert!(
        f[2].contains("part-stray") && f[2].contains("does not list"),
        "{f:?}"
    );
    std::fs::remove_file(&files[0]).expect("remove");
    let (_, v) = verify(&lake);
    assert!(faults(&v)[0].contains("missing"), "{v}");
}

#[test]
fn verify_reports_an_interrupted_commit_and_a_folder_that_is_not_a_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_with_data(dir.path());
    std::fs::write(lake.join("_kubetrail/journal.json"), "{}").expect("journal");
    let (code, v) = verify(&lake);
    assert_eq!(code, Some(1));
    assert!(faults(&v)[0].contains("interrupted"), "{v}");
    let (code, v) = verify(dir.path());
    assert_eq!(code, Some(1));
    assert!(faults(&v)[0].contains("not a kubetrail lake"), "{v}");
}

/// A second writer waits for the lake's lock up to `--lock-wait`, says whom it waits for, and
/// fails naming the holder when the wait runs out; it goes ahead once the holder lets go.
#[test]
fn a_writer_waits_for_the_lock_names_its_holder_and_gives_up_after_lock_wait() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_with_data(dir.path());
    let log = dir.path().join("more.log");
    std::fs::write(&log, events("w", 50)).expect("write");

    let lock_path = lake.join("_kubetrail").join("lock");
    let mut holder = std::fs::File::options()
        .write(true)
        .open(&lock_path)
        .expect("open lock");
    holder.lock().expect("hold the lake lock");
    holder.set_len(0).expect("truncate");
    holder
        .write_all(b"pid 4242, kubetrail serve, since 2026-12-06T08:00:00Z\n")
        .expect("record holder");

    let refused = kubetrail()
        .args(["ingest", "--quiet", "--lock-wait", "1s", "--lake"])
        .arg(&lake)
        .arg(&log)
        .output()
        .expect("run ingest");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "locked by pid 4242, kubetrail serve, since 2026-12-06T08:00:00Z; waiting up to 1s"
        ),
        "the waiting writer says whom it waits for: {stderr}"
    );
    assert!(
        stderr.contains("another writer (pid 4242, kubetrail serve")
            && stderr.contains("--lock-wait"),
        "the refusal names the holder and the flag: {stderr}"
    );

    let mut waiting = std::process::Command::new(env!("CARGO_BIN_EXE_kubetrail"))
        .env_remove("KUBETRAIL_LAKE")
        .args([
            "ingest",
            "--quiet",
            "--json",
            "--lock-wait",
            "60s",
            "--lake",
        ])
        .arg(&lake)
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start ingest");
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(
        waiting.try_wait().expect("poll").is_none(),
        "the writer waits while the lock is held"
    );
    holder.unlock().expect("let go");
    let done = waiting.wait_with_output().expect("ingest finishes");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        common::count(&lake, "SELECT count(*) FROM events"),
        350,
        "both ingests' rows are in the lake"
    );
}
