//! `kubetrail shell`: an interactive SQL prompt over the lake, with line editing, history,
//! multi-line statements ending in `;`, dot commands and timing per query.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use chrono::Utc;
use datafusion::prelude::SessionContext;
use tokio::runtime::Runtime;

use crate::output::{self, Format};
use crate::run;
use crate::session::{Window, register_window};
use crate::timearg::{parse_duration, parse_time};

const HELP: &str = "\
Statements end with ';' and may span lines. Tables: events, events_summary (and, after .window,
events_window, events_history and their summaries summary_window and summary_history, the views
detection rules read).

  .schema [COLUMN]     columns of events with their types and meaning
  .tables              tables and views
  .window SINCE [UNTIL] [BASELINE]
                       define events_window (SINCE..UNTIL), events_history (BASELINE before
                       SINCE; default 7d) and their summaries, e.g. `.window 24h` or `.window 2026-01-05 2026-01-06 7d`,
                       so a rule's SQL pastes in unchanged
  .format table|csv|json|jsonl
  .timer on|off        print the time each query took (default on)
  .help                this text
  .quit                leave (or Ctrl-D)

Examples:
  SELECT username, count(*) FROM events WHERE resource = 'secrets' GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
  SELECT ts, username, verb, request_uri FROM events WHERE username = 'system:anonymous' LIMIT 20;
  SELECT json_get_str(request_object, 'roleRef', 'name') FROM events WHERE resource = 'clusterrolebindings';";

/// The shell's state between lines.
pub struct Shell<'a> {
    pub rt: &'a Runtime,
    pub ctx: SessionContext,
    pub format: Format,
    pub timer: bool,
}

/// What one line of input did.
enum Step {
    Continue,
    Quit,
}

impl Shell<'_> {
    /// Run until `.quit` or end of input. Reads with line editing on a terminal, plainly otherwise.
    pub fn run(&mut self, history: Option<std::path::PathBuf>) -> std::io::Result<()> {
        let interactive = std::io::stdin().is_terminal();
        if interactive {
            eprintln!(
                "kubetrail shell: SQL over the lake's `events` table. Type .help for help, .quit to leave."
            );
            let mut rl = match rustyline::DefaultEditor::new() {
                Ok(rl) => rl,
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            };
            if let Some(h) = &history {
                let _ = rl.load_history(h);
            }
            let mut buf = String::new();
            loop {
                let prompt = if buf.is_empty() {
                    "kubetrail> "
                } else {
                    "      ...> "
                };
                match rl.readline(prompt) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = rl.add_history_entry(line.as_str());
                        }
                        if let Step::Quit = self.line(&line, &mut buf) {
                            break;
                        }
                    }
                    Err(rustyline::error::ReadlineError::Interrupted) => buf.clear(),
                    Err(_) => break,
                }
            }
            if let Some(h) = &history {
                let _ = rl.save_history(h);
            }
        } else {
            let stdin = std::io::stdin();
            let mut buf = String::new();
            for line in stdin.lock().lines() {
                if let Step::Quit = self.line(&line?, &mut buf) {
                    return Ok(());
                }
            }
            if !buf.trim().is_empty() {
                self.statement(&std::mem::take(&mut buf));
            }
        }
        Ok(())
    }

    fn line(&mut self, line: &str, buf: &mut String) -> Step {
        let trimmed = line.trim();
        if buf.trim().is_empty() && trimmed.starts_with('.') {
            return self.command(trimmed);
        }
        buf.push_str(line);
        buf.push('\n');
        if trimmed.ends_with(';') {
            for stmt in run::split_statements(buf) {
                self.statement(&stmt);
            }
            buf.clear();
        }
        Step::Continue
    }

    fn statement(&mut self, sql: &str) {
        let started = Instant::now();
        let result = self.rt.block_on(run::collect(&self.ctx, sql));
        match result {
            Ok(batches) => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = output::write(&batches, self.format, &mut out) {
                    eprintln!("error: {e}");
                }
                let _ = out.flush();
                if self.timer {
                    eprintln!("{}", output::timing(&batches, started.elapsed()));
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }

    fn command(&mut self, cmd: &str) -> Step {
        let mut words = cmd.split_whitespace();
        let name = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        match name {
            ".quit" | ".exit" | ".q" => return Step::Quit,
            ".help" | ".h" => {
                let _ = writeln!(std::io::stdout(), "{HELP}");
            }
            ".schema" => {
                for c in ingest::schema::all_columns() {
                    if args.is_empty() || args.contains(&c.name) {
                        let _ = writeln!(
                            std::io::stdout(),
                            "{:<26} {:<26} {}",
                            c.name,
                            c.kind.sql_name(),
                            c.doc
                        );
                    }
                }
            }
            ".tables" => self.statement(
                "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
            ),
            ".format" => match args.first().copied() {
                Some("table") => self.format = Format::Table,
                Some("csv") => self.format = Format::Csv,
                Some("json") => self.format = Format::Json,
                Some("jsonl") => self.format = Format::Jsonl,
                _ => eprintln!("usage: .format table|csv|json|jsonl"),
            },
            ".timer" => self.timer = args.first() != Some(&"off"),
            ".window" => self.window(&args),
            other => eprintln!("unknown command {other}; .help lists the commands"),
        }
        Step::Continue
    }

    fn window(&mut self, args: &[&str]) {
        let now = Utc::now();
        let parse = |s: &str| parse_time(s, now);
        let since = match args.first().map(|s| parse(s)) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => return eprintln!("error: {e}"),
            None => return eprintln!("usage: .window SINCE [UNTIL] [BASELINE], e.g. .window 24h"),
        };
        let until = match args.get(1).map(|s| parse(s)) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => return eprintln!("error: {e}"),
            None => None,
        };
        let baseline = match args.get(2) {
            Some(b) => match parse_duration(b) {
                Some(d) => d,
                None => return eprintln!("error: baseline {b:?} is not a duration like 7d"),
            },
            None => chrono::Duration::days(7),
        };
        let w = Window {
            since,
            until,
            baseline,
        };
        match self.rt.block_on(register_window(&self.ctx, &w)) {
            Ok(()) => eprintln!(
                "events_window, events_history, summary_window and summary_history defined"
            ),
            Err(e) => eprintln!("error: {e}"),
        }
    }
}
