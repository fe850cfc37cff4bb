//! `kubetrail verify`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::VerifyArgs;

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let lake = args.lake.lake.as_path();
    let verdict = if store::is_remote(lake) {
        let remote = store::RemoteLake::open(&lake.to_string_lossy())?;
        super::runtime()?
            .block_on(remote.verify())
            .map_err(anyhow::Error::from)
    } else {
        ingest::sink::verify::verify(lake).map_err(anyhow::Error::from)
    }
    .with_context(|| format!("verifying lake {}", lake.display()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&verdict)?)?;
    } else {
        for f in &verdict.faults {
            writeln!(out, "{}: {}\n  repair: {}", f.path, f.fault, f.repair)?;
        }
        if verdict.sound() {
            writeln!(
                out,
                "lake {} is sound: {} data file(s), {} rows, each matching the manifest",
                lake.display(),
                verdict.files_checked,
                verdict.rows
            )?;
        } else {
            writeln!(
                out,
                "lake {}: {} fault(s) in {} data file(s) checked",
                lake.display(),
                verdict.faults.len(),
                verdict.files_checked
            )?;
        }
    }
    Ok(if verdict.sound() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
