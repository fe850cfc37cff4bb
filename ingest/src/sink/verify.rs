//! `kubetrail verify`: the lake's data files, manifest, state and journal checked against each
//! other. Reads only; every fault comes with the path, what is wrong and how to repair it.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::layout::META_DIR;
use super::manifest::{self, Manifest};
use crate::error::Result;

/// How to repair a data file that is missing, changed or unreadable.
pub const RESTORE: &str = "restore the file from a backup, or re-ingest its inputs into a new lake";

/// One thing wrong with a lake.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Fault {
    pub path: String,
    pub fault: String,
    pub repair: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Verdict {
    /// Data files of `events` checked, and their rows.
    pub files_checked: usize,
    pub rows: u64,
    /// Summary files checked (`summary/`, see `crate::summary`).
    pub summary_files_checked: usize,
    pub faults: Vec<Fault>,
}

impl Verdict {
    pub fn sound(&self) -> bool {
        self.faults.is_empty()
    }
}

/// Check the lake at `root`.
pub fn verify(root: &Path) -> Result<Verdict> {
    let mut v = Verdict::default();
    let meta = root.join(META_DIR);
    let fault = |path: &Path, fault: String, repair: &str| Fault {
        path: path.display().to_string(),
        fault,
        repair: repair.to_string(),
    };
    if !meta.is_dir() {
        v.faults.push(fault(
            root,
            "not a kubetrail lake (no _kubetrail/ folder)".into(),
            "check the --lake path",
        ));
        return Ok(v);
    }
    let journal = meta.join("journal.json");
    if journal.exists() {
        v.faults.push(fault(
            &journal,
            "a commit was interrupted (a killed ingest, compact or serve roll-up); its files may be half moved, and files it replaced may still be there (readers see what the manifest lists)".into(),
            "run `kubetrail compact --lake LAKE` or any ingest into this lake: a writer finishes the commit before anything else",
        ));
    }
    let mut has_manifest = true;
    let manifest = match Manifest::load(root) {
        Ok(Some(m)) => m,
        Ok(None) => {
            has_manifest = false;
            v.faults.push(fault(
                &Manifest::path(root),
                "no manifest (a lake written before manifests existed)".into(),
                "run any ingest into this lake: it records the files it finds",
            ));
            Manifest::default()
        }
        Err(e) => {
            has_manifest = false;
            v.faults.push(fault(
                &Manifest::path(root),
                e.to_string(),
                "restore _kubetrail/manifest.json from a backup; if none, move it away and run an ingest to rebuild it from the files",
            ));
            Manifest::default()
        }
    };
    let listed: HashMap<&str, &manifest::DataFile> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    for f in &manifest.files {
        let path = root.join(&f.path);
        let is_summary = f
            .path
            .starts_with(&format!("{}/", crate::summary::SUMMARY_DIR));
        if is_summary {
            v.summary_files_checked += 1;
        } else {
            v.files_checked += 1;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => {
                v.faults.push(fault(
                    &path,
                    format!("missing ({} rows listed in the manifest)", f.rows),
                    RESTORE,
                ));
                continue;
            }
        };
        if meta.len() != f.size {
            v.faults.push(fault(
                &path,
                format!(
                    "{} bytes, the manifest says {} (truncated or overwritten)",
                    meta.len(),
                    f.size
                ),
                RESTORE,
            ));
            continue;
        }
        match manifest::checksum(&path) {
            Ok(sum) if sum == f.checksum => {}
            Ok(_) => {
                v.faults.push(fault(
                    &path,
                    "checksum differs from the manifest (the file was changed or is corrupt)"
                        .into(),
                    RESTORE,
                ));
                continue;
            }
            Err(e) => {
                v.faults
                    .push(fault(&path, e.to_string(), "check the file's permissions"));
                continue;
            }
        }
        match manifest::parquet_rows(&path) {
            Ok(rows) if rows == f.rows => {
                if !is_summary {
                    v.rows += rows;
                }
            }
            Ok(rows) => v.faults.push(fault(
                &path,
                format!("{rows} rows in the footer, the manifest says {}", f.rows),
                RESTORE,
            )),
            Err(e) => v.faults.push(fault(
                &path,
                format!("not a readable Parquet file: {e}"),
                RESTORE,
            )),
        }
    }
    for path in manifest::data_files(root)? {
        let rel = manifest::relative(root, &path);
        if has_manifest && !listed.contains_key(rel.as_str()) {
            v.faults.push(fault(
                &path,
                "a data file the manifest does not list (copied in, or left by a tool other than kubetrail)".into(),
                "move it out of events/; ingest its events with `kubetrail ingest` if they belong here",
            ));
        }
    }
    Ok(v)
}
