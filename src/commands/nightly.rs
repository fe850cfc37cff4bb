//! `kubetrail nightly`: the cron job. Ingest what appeared or grew in the input folder, merge the
//! small files of the partitions it analyses (see [`compact_analysed`]), detect over the
//! event-time range of the rows this run added (extended back by the longest rule
//! look-back, never the wall clock), write a report of the findings with new evidence, and
//! exit 3 when one reaches `--fail-on`.
//!
//! The lake and the input may be folders or URLs of buckets (`s3://`, `gs://`, `az://`): the new
//! rows are the event files the lake's manifest lists that no earlier run analysed.
//!
//! Its state (which Parquet files were analysed, which evidence was reported) is written only
//! after the report: a run killed anywhere leaves the next run to analyse the same new files.
//! Ingest is called through the same function `kubetrail ingest` uses and resumes by its own
//! fingerprints.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use ingest::compact::CompactOptions;
use ingest::sink::layout::EVENTS_DIR;
use ingest::sink::manifest::{DataFile, Manifest};

use crate::cli::NightlyArgs;

const STATE_VERSION: &str = "1";

/// What earlier runs did.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    schema_version: String,
    /// Parquet files (relative to the lake) whose rows a run has analysed.
    analysed: BTreeSet<String>,
    /// `xxh3(rule_id, audit_id)` of every piece of evidence reported, hex.
    reported: BTreeSet<String>,
}

impl State {
    fn load(path: &Path) -> Result<State> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("reading nightly state {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                schema_version: STATE_VERSION.into(),
                ..Default::default()
            }),
            Err(e) => Err(e).with_context(|| format!("reading nightly state {}", path.display())),
        }
    }

    fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
    }
}

fn evidence_key(rule: &str, audit_id: &str) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(rule.as_bytes());
    h.update(b"\0");
    h.update(audit_id.as_bytes());
    format!("{:016x}", h.digest())
}

/// The longest `INTERVAL 'N unit'` any rule's SQL reaches back.
fn longest_lookback(rules: &[rules::rule::Rule]) -> Duration {
    let mut best = Duration::zero();
    for r in rules {
        for part in r.sql.split("INTERVAL '").skip(1) {
            let Some(end) = part.find('\'') else { continue };
            let mut words = part[..end].split_whitespace();
            let (Some(n), Some(unit)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<i64>() else { continue };
            let d = match unit.trim_end_matches('s') {
                "second" => Duration::seconds(n),
                "minute" => Duration::minutes(n),
                "hour" => Duration::hours(n),
                "day" => Duration::days(n),
                "week" => Duration::weeks(n),
                _ => continue,
            };
            best = best.max(d);
        }
    }
    best
}

/// Merge the small files of the partitions the new files are in, before the rules read them: the
/// pack and every later query then read a few large files instead of many small ones
/// (bench/RESULTS.md: the pack over a compacted day took half the time). Only files this run or
/// an earlier one analysed are merged, so the merged files hold analysed rows only and are
/// recorded as analysed; files a writer added meanwhile stay for the next run. The merged files'
/// paths; a compaction that fails is reported and leaves the files as they were.
fn compact_analysed(
    args: &NightlyArgs,
    lake: &Path,
    manifest: &Manifest,
    new: &[&DataFile],
    state: &State,
    column_key: Option<ingest::sink::encryption::ColumnKey>,
) -> Vec<String> {
    let partition = |path: &str| Path::new(path).parent().map(Path::to_path_buf);
    let partitions: BTreeSet<PathBuf> = new.iter().filter_map(|f| partition(&f.path)).collect();
    let analysed =
        |f: &DataFile| state.analysed.contains(&f.path) || new.iter().any(|n| n.path == f.path);
    let files: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| analysed(f) && partition(&f.path).is_some_and(|p| partitions.contains(&p)))
        .map(|f| f.path.clone())
        .collect();
    let mut opts = CompactOptions::new(lake.to_path_buf());
    opts.partitions = Some(
        partitions
            .iter()
            .map(|p| ingest::sink::manifest::relative(Path::new(""), p))
            .collect(),
    );
    opts.files = Some(files);
    opts.key = args.redaction.source();
    opts.column_key = column_key;
    opts.lock_wait = args.lock.lock_wait;
    match super::compact::compact_lake(&opts) {
        Ok(done) => {
            if !done.compacted.is_empty() {
                println!(
                    "compact: {} partition(s), {} file(s) merged into {}",
                    done.compacted.len(),
                    done.files_in(),
                    done.files_out()
                );
            }
            done.compacted.into_iter().flat_map(|c| c.outputs).collect()
        }
        Err(e) => {
            eprintln!("warning: {e:#}; the analysed files stay as ingest wrote them");
            Vec::new()
        }
    }
}

/// `DIR/report-2026-01-05T031500Z.html` and `.json`, unique in `dir`.
fn report_paths(dir: &Path, now: DateTime<Utc>) -> (PathBuf, PathBuf) {
    let stem = format!("report-{}", now.format("%Y-%m-%dT%H%M%SZ"));
    let mut n = 0;
    loop {
        let name = if n == 0 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let html = dir.join(format!("{name}.html"));
        let json = dir.join(format!("{name}.json"));
        if !html.exists() && !json.exists() {
            return (html, json);
        }
        n += 1;
    }
}

pub fn run(args: NightlyArgs) -> Result<ExitCode> {
    // a folder or a bucket's URL, for the lake and for the input
    let lake = args.lake.lake.clone();
    std::fs::create_dir_all(&args.report_dir)
        .with_context(|| format!("creating {}", args.report_dir.display()))?;
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| args.report_dir.join("nightly-state.json"));
    let mut state = State::load(&state_path)?;
    let quiet = !std::io::stderr().is_terminal();

    let (urls, paths) = if store::is_remote(&args.input) {
        (vec![args.input.clone()], Vec::new())
    } else {
        (Vec::new(), vec![args.input.clone()])
    };
    let mut opts = ingest::IngestOptions::new(lake.clone(), paths);
    opts.key = args.redaction.source();
    opts.column_key = args.lake.column_key()?;
    opts.cluster = args.cluster.clone();
    opts.lock_wait = args.lock.lock_wait;
    let summary = super::ingest::into_lake(&mut opts, &urls, quiet).with_context(|| {
        format!(
            "ingesting {} into lake {}",
            args.input.display(),
            lake.display()
        )
    })?;
    println!(
        "ingest: {} file(s) read, {} already in the lake, {} rows added, {} quarantined",
        summary.files, summary.files_skipped, summary.rows, summary.quarantined
    );
    for e in &summary.errors {
        eprintln!("error: {e}");
    }

    let rt = super::runtime()?;
    // the committed event files, as readers see them; those no run analysed are new
    let manifest = rt
        .block_on(query::files::manifest(&lake))?
        .unwrap_or_default();
    let new: Vec<&DataFile> = manifest
        .files
        .iter()
        .filter(|f| Path::new(&f.path).starts_with(EVENTS_DIR) && !state.analysed.contains(&f.path))
        .collect();
    if new.is_empty() {
        println!("nothing new to analyse; no report written");
        return Ok(if summary.errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let Some((first, last)) = rt.block_on(query::files::time_range(&lake, &new))? else {
        println!("the new files hold no events; no report written");
        state.analysed.extend(new.iter().map(|f| f.path.clone()));
        state.save(&state_path)?;
        return Ok(ExitCode::SUCCESS);
    };
    let merged = if args.no_compact {
        Vec::new()
    } else {
        compact_analysed(
            &args,
            &lake,
            &manifest,
            &new,
            &state,
            opts.column_key.clone(),
        )
    };
    let selected = super::detect::select(&lake, None, &args.findings, false)?;
    let lookback = longest_lookback(&selected);
    let since = first - lookback;
    let until = last + Duration::microseconds(1);
    let scope = crate::cli::ScopeArgs {
        cluster: args.cluster.clone(),
        since: Some(since.to_rfc3339()),
        until: Some(until.to_rfc3339()),
    };
    println!(
        "analysing {} new Parquet file(s): events {} to {}, window from {} (longest rule look-back {}h)",
        new.len(),
        first.to_rfc3339(),
        last.to_rfc3339(),
        since.to_rfc3339(),
        lookback.num_hours()
    );
    let detect_opts =
        super::detect::options(&lake, opts.column_key.clone(), &scope, &args.findings)?;
    let mut detected = super::detect::run_detect(&detect_opts, &selected, true)?;

    // Report a finding unless every piece of its evidence was reported before.
    let mut continuing = Vec::new();
    detected.findings.retain(|f| {
        let seen = f
            .audit_ids
            .iter()
            .filter(|id| state.reported.contains(&evidence_key(&f.rule_id, id)))
            .count();
        if seen == f.audit_ids.len() && !f.audit_ids.is_empty() {
            return false;
        }
        if seen > 0 {
            continuing.push(f.finding_id.clone());
        }
        true
    });
    let failed = !detected.failures.is_empty();
    for f in &detected.failures {
        eprintln!("error: rule {} failed: {}", f.rule_id, f.error);
    }
    let keys: Vec<String> = detected
        .findings
        .iter()
        .flat_map(|f| f.audit_ids.iter().map(|id| evidence_key(&f.rule_id, id)))
        .collect();
    let level = args.fail_on.map(super::detect::severity);
    let alarming = level.is_some_and(|l| detected.findings.iter().any(|f| f.severity >= l));

    let mut doc = rt.block_on(crate::report::build(
        &lake,
        detected,
        &selected,
        args.findings.execution.limit(),
        detect_opts.column_key.as_ref(),
        &detect_opts.engine,
    ))?;
    doc.continuing = continuing;
    let (html_path, json_path) = report_paths(&args.report_dir, Utc::now());
    std::fs::write(&html_path, crate::report::html::render(&doc)?)
        .with_context(|| format!("writing {}", html_path.display()))?;
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;

    state.analysed.extend(new.iter().map(|f| f.path.clone()));
    state.analysed.extend(merged);
    state.reported.extend(keys);
    state.schema_version = STATE_VERSION.into();
    state.save(&state_path)?;

    println!(
        "{} new finding(s){}{}; report {}",
        doc.findings.len(),
        doc.severity_note(),
        if doc.continuing.is_empty() {
            String::new()
        } else {
            format!(", {} continuing earlier ones", doc.continuing.len())
        },
        html_path.display()
    );
    if failed || !summary.errors.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(if alarming {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
