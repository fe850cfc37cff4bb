//! `kubetrail query`, `kubetrail shell` and `kubetrail schema`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use query::output::{self, Format};
use query::session::{self, Scope};
use query::timearg::parse_time;

use crate::cli::{OutputFormat, QueryArgs, SchemaArgs, ScopeArgs, ShellArgs};

pub fn format(f: OutputFormat) -> Format {
    match f {
        OutputFormat::Table => Format::Table,
        OutputFormat::Csv => Format::Csv,
        OutputFormat::Json => Format::Json,
        OutputFormat::Jsonl => Format::Jsonl,
    }
}

pub fn scope(args: &ScopeArgs) -> Result<Scope> {
    let now = Utc::now();
    let time = |s: &Option<String>| -> Result<Option<chrono::DateTime<Utc>>> {
        s.as_deref()
            .map(|t| parse_time(t, now).map_err(anyhow::Error::msg))
            .transpose()
    };
    Ok(Scope {
        cluster: args.cluster.clone(),
        since: time(&args.since).context("--since")?,
        until: time(&args.until).context("--until")?,
    })
}

pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let scope = scope(&args.scope)?;
    let key = args.lake.column_key()?;
    let engine = args.execution.engine()?;
    let started = std::time::Instant::now();
    let batches = rt.block_on(async {
        let ctx = session::open_with(
            &args.lake.lake,
            &scope,
            args.execution.limit(),
            key.as_ref(),
        )
        .await?;
        query::engine::attach(&ctx, &engine);
        query::run::collect(&ctx, &args.sql).await
    })?;
    match &args.out {
        Some(path) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            );
            output::write(&batches, format(args.format), &mut f)?;
            f.flush()?;
        }
        None => {
            super::to_stdout(|out| Ok(output::write(&batches, format(args.format), out)?))?;
        }
    }
    if args.timer {
        eprintln!("{}", output::timing(&batches, started.elapsed()));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn shell(args: ShellArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let scope = scope(&args.scope)?;
    let key = args.lake.column_key()?;
    let ctx = rt.block_on(session::open_with(
        &args.lake.lake,
        &scope,
        args.execution.limit(),
        key.as_ref(),
    ))?;
    query::engine::attach(&ctx, &args.execution.engine()?);
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".kubetrail_history"));
    let mut sh = query::shell::Shell {
        rt: &rt,
        ctx,
        format: Format::Table,
        timer: true,
    };
    sh.run(history)?;
    Ok(ExitCode::SUCCESS)
}

pub fn schema(args: SchemaArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let cols: Vec<_> = ingest::schema::all_columns()
                .map(|c| serde_json::json!({"name": c.name, "type": c.kind.sql_name(), "nullable": c.nullable, "description": c.doc}))
                .collect();
            let doc = serde_json::json!({"schema_version": ingest::schema::SCHEMA_VERSION, "table": "events", "columns": cols});
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        OutputFormat::Jsonl => {
            // One column per line; each carries the table and schema version it belongs to.
            for c in ingest::schema::all_columns() {
                let line = serde_json::json!({"schema_version": ingest::schema::SCHEMA_VERSION, "table": "events", "name": c.name, "type": c.kind.sql_name(), "nullable": c.nullable, "description": c.doc});
                writeln!(out, "{line}")?;
            }
        }
        OutputFormat::Csv => {
            writeln!(out, "name,type,description")?;
            for c in ingest::schema::all_columns() {
                writeln!(
                    out,
                    "{},\"{}\",\"{}\"",
                    c.name,
                    c.kind.sql_name(),
                    c.doc.replace('"', "\"\"")
                )?;
            }
        }
        OutputFormat::Table => {
            writeln!(
                out,
                "table events, schema version {}",
                ingest::schema::SCHEMA_VERSION
            )?;
            for c in ingest::schema::all_columns() {
                writeln!(out, "{:<26} {:<26} {}", c.name, c.kind.sql_name(), c.doc)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
