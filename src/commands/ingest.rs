//! `kubetrail ingest`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use ingest::{IngestOptions, Progress};
use query::output::visible;

use crate::cli::IngestArgs;

pub fn run(args: IngestArgs) -> Result<ExitCode> {
    // URLs of objects in buckets are listed here; folders and files by the pipeline
    let (urls, paths): (Vec<_>, Vec<_>) = args
        .inputs
        .iter()
        .cloned()
        .partition(|p| store::is_remote(p));
    let mut opts = IngestOptions::new(args.lake.lake.clone(), paths);
    opts.cluster = args.cluster.clone();
    opts.threads = args.threads;
    opts.commit_bytes = args.commit_bytes;
    opts.lock_wait = args.lock.lock_wait;
    opts.input_format = args.input_format.reader();
    opts.column_key = args.lake.column_key()?;
    opts.key = args.redaction.source();
    let summary = into_lake(&mut opts, &urls, args.quiet)
        .with_context(|| format!("ingesting into lake {}", args.lake.lake.display()))?;
    if !args.quiet {
        super::to_stdout(|out| {
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
            } else {
                print_summary(out, &summary, &args.lake.lake)?;
            }
            Ok(())
        })?;
    }
    for e in &summary.errors {
        eprintln!("error: {}", visible(e));
    }
    if !summary.errors.is_empty() {
        return Ok(ExitCode::from(1));
    }
    if args.strict && summary.quarantined > 0 {
        eprintln!(
            "--strict: {} input record(s) were quarantined",
            summary.quarantined
        );
        return Ok(ExitCode::from(4));
    }
    Ok(ExitCode::SUCCESS)
}

/// Ingest `opts`' inputs and the objects under `urls` into `opts.lake`, a folder or a bucket:
/// what `ingest` and `nightly` run.
pub fn into_lake(
    opts: &mut IngestOptions,
    urls: &[std::path::PathBuf],
    quiet: bool,
) -> Result<ingest::Summary> {
    let remote_lake = store::is_remote(&opts.lake);
    if remote_lake || !urls.is_empty() {
        with_object_store(opts, urls, remote_lake, quiet)
    } else {
        run_with_progress(opts, quiet)
    }
}

/// Ingest where a bucket is involved: objects under `urls` are inputs (streamed, see
/// `store::objects`), and a lake on object storage is written through a local staging lake
/// seeded with its metadata, then uploaded and committed (see `store::publish`); the summary then
/// names the remote lake's quarantine files.
fn with_object_store(
    opts: &mut IngestOptions,
    urls: &[std::path::PathBuf],
    remote_lake: bool,
    quiet: bool,
) -> Result<ingest::Summary> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = opts.lake.to_string_lossy().into_owned();
    let lake = remote_lake
        .then(|| store::RemoteLake::open(&url))
        .transpose()?;
    let mut skipped = Vec::new();
    for input in urls {
        let input = input.to_string_lossy();
        let listed = rt.block_on(store::inputs_at(&input, lake.as_ref(), rt.handle()))?;
        opts.objects.extend(listed.inputs);
        skipped.extend(listed.skipped);
    }
    let with_skipped = |mut summary: ingest::Summary| {
        summary.files_skipped += skipped.len() as u64;
        summary.skipped.extend(skipped.iter().cloned());
        summary
    };
    let Some(lake) = lake else {
        return run_with_progress(opts, quiet).map(with_skipped);
    };
    let staged = rt.block_on(lake.stage())?;
    opts.lake = staged.path().to_path_buf();
    let staging = staged.path().to_path_buf();
    // messages name the remote lake, not the staging folder that stands in for it
    let mut summary = run_with_progress(opts, quiet).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            format!("{e:#}").replace(&*staging.to_string_lossy(), &url)
        )
    })?;
    let published = rt.block_on(staged.publish())?;
    for q in &mut summary.quarantine_files {
        if let Ok(rel) = q.strip_prefix(&staging) {
            *q = format!(
                "{url}/{}",
                ingest::sink::manifest::relative(Path::new(""), rel)
            )
            .into();
        }
    }
    if !quiet {
        eprintln!(
            "kubetrail: committed {} file(s), {} rows, {:.1} MiB to {url} ({} manifest put(s))",
            published.files,
            published.rows,
            mib(published.bytes),
            published.attempts
        );
    }
    Ok(with_skipped(summary))
}

/// Ingest with a progress bar on a terminal (bytes read of the total).
pub fn run_with_progress(opts: &IngestOptions, quiet: bool) -> Result<ingest::Summary> {
    let progress = Arc::new(Progress::default());
    let show = !quiet && std::io::stderr().is_terminal();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = show.then(|| {
        let progress = progress.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} ingest [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            while !done.load(Ordering::Relaxed) {
                bar.set_length(progress.bytes_total.load(Ordering::Relaxed));
                bar.set_position(progress.bytes_read.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        })
    });
    let result = ingest::ingest(opts, &progress);
    done.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    Ok(result?)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The summary a person reads; names from the inputs are shown with [`visible`].
pub fn print_summary(
    out: &mut dyn Write,
    s: &ingest::Summary,
    lake: &std::path::Path,
) -> std::io::Result<()> {
    writeln!(
        out,
        "ingested {} file(s) ({} skipped, listed below): {} lines -> {} rows, {} duplicates, {} quarantined",
        s.files, s.files_skipped, s.lines, s.rows, s.duplicates, s.quarantined
    )?;
    writeln!(
        out,
        "read {:.1} MiB, wrote {:.1} MiB in {} Parquet file(s) to {}, {:.1} s, {:.0} events/s",
        mib(s.bytes_in),
        mib(s.bytes_out),
        s.files_written,
        visible(&lake.display().to_string()),
        s.seconds,
        s.events_per_second
    )?;
    for p in &s.partitions {
        writeln!(out, "  partition {}", visible(p))?;
    }
    for skipped in &s.skipped {
        writeln!(out, "  skipped {}", visible(skipped))?;
    }
    for q in &s.quarantine_files {
        writeln!(
            out,
            "  quarantine: {} (see reasons there)",
            visible(&q.display().to_string())
        )?;
    }
    Ok(())
}
