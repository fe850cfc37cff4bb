//! One module per command; each returns the exit code.

mod compact;
mod demo;
mod detect;
mod export;
mod ingest;
mod nightly;
mod query;
mod report;
mod serve;
mod sigma;
mod timeline;
mod verify;

use std::io::Write;
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
        Command::Verify(args) => verify::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Report(args) => report::run(args),
        Command::Timeline(args) => timeline::run(args),
        Command::Nightly(args) => nightly::run(args),
        Command::Serve(args) => serve::run(args),
        #[cfg(feature = "ballista")]
        Command::BallistaScheduler(args) => {
            runtime()?.block_on(crate::engine::ballista::run_scheduler(args.bind))?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "ballista")]
        Command::BallistaExecutor(args) => {
            let opts = crate::engine::ballista::ExecutorOptions {
                scheduler: args.scheduler,
                bind_host: args.bind,
                external_host: args.external_host,
                port: args.port,
                grpc_port: args.grpc_port,
                cores: args
                    .cores
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                work_dir: args.work_dir,
                memory_pool_size: args.memory_limit.map(|m| m.bytes()),
            };
            runtime()?.block_on(crate::engine::ballista::run_executor(opts))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The tokio runtime the DataFusion commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// True if `e` is (or was caused by) a write to a closed pipe: `kubetrail query ... | head`.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}

/// `result` of writing a command's output, with a closed pipe counted as success: the reader
/// has what it wanted, and the command still ends with its own exit code.
pub fn closed_pipe_ok(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

/// Write a command's output to (locked, flushed) stdout with [`closed_pipe_ok`]. Commands
/// print their results through this, never with `println!`, which panics on a closed pipe.
pub fn to_stdout(write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    closed_pipe_ok(write(&mut out).and_then(|()| Ok(out.flush()?)))
}
