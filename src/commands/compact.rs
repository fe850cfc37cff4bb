//! `kubetrail compact`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ingest::compact::{CompactOptions, CompactSummary, compact};
use query::output::visible;

use crate::cli::CompactArgs;

pub fn run(args: CompactArgs) -> Result<ExitCode> {
    let mut opts = CompactOptions::new(args.lake.lake.clone());
    opts.cluster = args.cluster.clone();
    opts.day = args.day.clone();
    opts.target_size = args.target_size;
    opts.lock_wait = args.lock.lock_wait;
    opts.column_key = args.lake.column_key()?;
    opts.key = args.redaction.source();
    let summary = compact_lake(&opts)?;
    if !args.quiet {
        super::to_stdout(|out| {
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
            } else {
                print_summary(out, &summary)?;
            }
            Ok(())
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Compact the lake at `opts.lake`, a folder or a bucket's URL: what `compact` and `nightly` run.
pub fn compact_lake(opts: &CompactOptions) -> Result<CompactSummary> {
    if store::is_remote(&opts.lake) {
        let remote = store::RemoteLake::open(&opts.lake.to_string_lossy())?;
        super::runtime()?
            .block_on(remote.compact(opts))
            .map_err(anyhow::Error::from)
    } else {
        compact(opts).map_err(anyhow::Error::from)
    }
    .with_context(|| format!("compacting lake {}", opts.lake.display()))
}

/// `1.5 MiB`, `27.0 KiB`, `512 B`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn print_summary(out: &mut dyn Write, s: &CompactSummary) -> Result<()> {
    for c in &s.compacted {
        writeln!(
            out,
            "{}: {} file(s), {} -> {} file(s), {}, {} rows",
            visible(&c.partition),
            c.files_in,
            human(c.bytes_in),
            c.files_out,
            human(c.bytes_out),
            c.rows
        )?;
    }
    for l in &s.left_alone {
        writeln!(
            out,
            "left as it is: {}: {}",
            visible(&l.path),
            visible(&l.reason)
        )?;
    }
    writeln!(
        out,
        "compacted {} partition(s): {} file(s) in ({}), {} file(s) out ({}), {} rows; {} partition(s) had nothing to merge; {:.1} s",
        s.compacted.len(),
        s.files_in(),
        human(s.bytes_in()),
        s.files_out(),
        human(s.bytes_out()),
        s.rows(),
        s.partitions_unchanged,
        s.seconds
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes_print_in_the_largest_binary_unit_under_1024() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(27_473), "26.8 KiB");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(human(5 << 30), "5.0 GiB");
    }
}
