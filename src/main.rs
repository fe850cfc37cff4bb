//! `kubetrail`: forensic analysis of Kubernetes audit logs.
//!
//! `main` parses arguments, runs the command and maps the outcome to an exit code:
//! 0 success, 1 error, 2 usage, 3 findings at or above `--fail-on`, 4 `--strict` and something
//! was quarantined.

mod cli;
mod commands;
mod engine;
mod findings_table;
mod ocsf;
mod report;
mod timeline;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `kubetrail query ... | head` closes stdout early: that is not an error.
            if commands::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            // Errors quote file names and values from the logs: no raw control characters (line
            // breaks of a multi-line message stay).
            let text = format!("{e:#}");
            let lines: Vec<_> = text.split('\n').map(query::output::visible).collect();
            eprintln!("error: {}", lines.join("\n"));
            ExitCode::from(1)
        }
    }
}
