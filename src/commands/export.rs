//! `kubetrail rules export`: the rule pack as SQL for Spark, DuckDB or Trino.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rules::export::{Bounds, Dialect, Source, Target};

use crate::cli::ExportArgs;

/// Where the exported statements read `events` from.
fn source(args: &ExportArgs, dialect: Dialect) -> Result<Source> {
    let source = match (&args.lake, &args.table) {
        (Some(_), _) if dialect == Dialect::Trino => bail!(
            "trino reads the lake through a Hive table, not its files: give --table CATALOG.SCHEMA.TABLE (docs/engines.md shows how to create it)"
        ),
        (Some(lake), _) if store::is_remote(lake) => {
            Source::Bucket(lake.to_string_lossy().trim_end_matches('/').to_string())
        }
        (Some(lake), _) => {
            query::session::check_lake(lake)
                .with_context(|| format!("--lake {}", lake.display()))?;
            let abs = std::fs::canonicalize(lake)
                .with_context(|| format!("resolving --lake {}", lake.display()))?;
            Source::Lake(abs)
        }
        (None, Some(table)) => Source::Table(table.clone()),
        (None, None) => Source::Table("events".into()),
    };
    // Before reading a bucket: whether the engine can read this source at all.
    source.check(dialect).map_err(anyhow::Error::msg)?;
    if let Source::Bucket(url) = &source {
        require_lake_in_bucket(url)?;
    }
    Ok(source)
}

/// Fails unless the bucket URL holds a lake (its manifest), so that no pack is written for a
/// typo'd or empty URL.
fn require_lake_in_bucket(url: &str) -> Result<()> {
    let remote = store::RemoteLake::open(url).with_context(|| format!("--lake {url}"))?;
    let manifest = super::runtime()?
        .block_on(remote.manifest())
        .with_context(|| format!("--lake {url}"))?;
    if manifest.is_none() {
        bail!(store::StoreError::NoLake(url.to_string()));
    }
    Ok(())
}

fn bounds(args: &ExportArgs) -> Result<Bounds> {
    let baseline = query::timearg::parse_duration(&args.baseline)
        .with_context(|| format!("--baseline {:?} is not a duration like 7d", args.baseline))?;
    let (Some(since), Some(until)) = (&args.since, &args.until) else {
        return Ok(Bounds::Parameters);
    };
    let now = chrono::Utc::now();
    let since = query::timearg::parse_time(since, now).map_err(anyhow::Error::msg)?;
    let until = query::timearg::parse_time(until, now).map_err(anyhow::Error::msg)?;
    if until <= since {
        bail!("--until must be after --since");
    }
    Ok(Bounds::Fixed {
        since,
        until,
        baseline,
    })
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let dialect = args.dialect.dialect();
    let target = Target {
        dialect,
        source: source(&args, dialect)?,
        bounds: bounds(&args)?,
    };
    let all = rules::pack::load(args.rules_dirs.as_slice())?;
    for id in &args.rule_ids {
        if !all.iter().any(|r| &r.id == id) {
            bail!(rules::RuleError::Unknown(id.clone()));
        }
    }
    let selected: Vec<_> = all
        .into_iter()
        .filter(|r| args.rule_ids.is_empty() || args.rule_ids.contains(&r.id))
        .collect();
    let export = rules::export::export(&selected, &target);
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("kubetrail-rules-{dialect}")));
    export.write(&dir)?;
    for s in &export.not_exported {
        eprintln!("not exported: {}: {}", s.rule_id, s.reason);
    }
    if !args.quiet {
        eprintln!(
            "rules export: {} of {} rules written for {dialect} to {}; {} not exported (listed in {})",
            export.exported.len(),
            selected.len(),
            dir.display(),
            export.not_exported.len(),
            dir.join(rules::export::INDEX_FILE).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
