//! One module per command; each returns the exit code.

mod demo;
mod detect;
mod ingest;
mod nightly;
mod query;
mod report;
mod timeline;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Query(args) => query::run(args),
        Command::Shell(args) => query::shell(args),
        Command::Schema(args) => query::schema(args),
        Command::Detect(args) => detect::run(args),
        Command::Gen(args) => demo::generate(args),
        Command::Demo(args) => demo::run(args),
        Command::Rules(cmd) => detect::rules(cmd),
        Command::Report(args) => report::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Nightly(args) => nightly::run(args),
    }
}

/// The tokio runtime the DataFusion commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
