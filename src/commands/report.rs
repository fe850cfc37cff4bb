//! `kubetrail report`: detect over a window, then write the HTML report and its JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ReportArgs;
use crate::report;

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    f.write_all(bytes)
        .and_then(|()| f.flush())
        .with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let lake = &args.lake.lake;
    let opts = super::detect::options(lake, args.lake.column_key()?, &args.scope, &args.findings)?;
    let selected = super::detect::select(lake, args.scope.cluster.clone(), &args.findings, false)?;
    let detected = super::detect::run_detect(&opts, &selected, args.quiet)?;
    let rt = super::runtime()?;
    let doc = rt
        .block_on(report::build(
            lake,
            detected,
            &selected,
            args.findings.execution.limit(),
            opts.column_key.as_ref(),
            &opts.engine,
        ))
        .with_context(|| format!("building the report over lake {}", lake.display()))?;
    let html = report::html::render(&doc)?;
    write_file(&args.out, html.as_bytes())?;
    if let Some(p) = &args.json {
        let mut text = serde_json::to_string_pretty(&doc)?;
        text.push('\n');
        write_file(p, text.as_bytes())?;
    }
    if !args.quiet {
        eprintln!(
            "wrote {}{}: {} finding(s){} over {} events",
            args.out.display(),
            args.json
                .as_ref()
                .map(|p| format!(" and {}", p.display()))
                .unwrap_or_default(),
            doc.findings.len(),
            doc.severity_note(),
            doc.headline.events
        );
    }
    // The files are written and show the failures; the exit code says the run was incomplete.
    for f in &doc.coverage.failures {
        eprintln!("error: rule {} failed: {}", f.rule_id, f.error);
    }
    if !doc.coverage.failures.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
