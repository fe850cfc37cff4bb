//! `kubetrail detect` and `kubetrail rules`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use query::output::visible;
use rules::engine::{DetectOptions, Report};
use rules::finding::Finding;
use rules::rule::{Rule, Severity};

use crate::cli::{
    DetectArgs, DetectFormat, FindingArgs, OutputFormat, RulesCommand, ScopeArgs, SeverityArg,
};

pub fn severity(s: SeverityArg) -> Severity {
    match s {
        SeverityArg::Info => Severity::Info,
        SeverityArg::Low => Severity::Low,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::High => Severity::High,
        SeverityArg::Critical => Severity::Critical,
    }
}

fn load(dirs: &[PathBuf]) -> Result<Vec<Rule>> {
    Ok(rules::pack::load(dirs)?)
}

/// The rules a detect run uses, after --rule and --category.
pub fn select(
    lake: &Path,
    cluster: Option<String>,
    args: &FindingArgs,
    quiet: bool,
) -> Result<Vec<Rule>> {
    let all = super::sigma::with_sigma(lake, cluster, args, quiet)?;
    for id in &args.rule_ids {
        if !all.iter().any(|r| &r.id == id) {
            bail!(rules::RuleError::Unknown(id.clone()));
        }
    }
    for c in &args.category {
        if !rules::rule::CATEGORIES.contains(&c.as_str()) {
            bail!(
                "unknown category {c:?}; one of: {}",
                rules::rule::CATEGORIES.join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|r| args.rule_ids.is_empty() || args.rule_ids.contains(&r.id))
        .filter(|r| args.category.is_empty() || args.category.contains(&r.category))
        .collect())
}

/// The encryption marker of the lake at `lake`, a folder or a bucket.
fn marker(lake: &Path) -> Result<Option<ingest::sink::encryption::Marker>> {
    if store::is_remote(lake) {
        let remote = store::RemoteLake::open(&lake.to_string_lossy())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return Ok(rt.block_on(remote.marker())?);
    }
    Ok(ingest::sink::encryption::Marker::load(lake)?)
}

/// What a detect run over `lake` analyses, from the scope and finding options.
pub fn options(
    lake: &Path,
    column_key: Option<ingest::sink::encryption::ColumnKey>,
    scope: &ScopeArgs,
    args: &FindingArgs,
) -> Result<DetectOptions> {
    if column_key.is_none()
        && let Some(marker) = marker(lake)?
    {
        anyhow::bail!(
            "lake {} keeps {} encrypted (key {}), and the rules read them: pass its key with {}",
            lake.display(),
            marker.columns.join(", "),
            marker.key_id,
            ingest::sink::encryption::KEY_HINT
        );
    }
    let scope = super::query::scope(scope)?;
    let baseline = query::timearg::parse_duration(&args.baseline)
        .with_context(|| format!("--baseline {:?} is not a duration like 7d", args.baseline))?;
    let allowlist = match &args.allowlist {
        Some(p) => rules::allowlist::Allowlist::load(p)?,
        None => Default::default(),
    };
    let iocs = match &args.ioc_file {
        Some(p) => query::ioc::IocList::load(p)?,
        None => Default::default(),
    };
    Ok(DetectOptions {
        lake: lake.to_path_buf(),
        cluster: scope.cluster,
        since: scope.since,
        until: scope.until,
        baseline,
        min_severity: severity(args.min_severity),
        allowlist,
        iocs: std::sync::Arc::new(iocs),
        memory: args.execution.limit(),
        column_key,
        engine: args.execution.engine()?,
        jobs: args.jobs,
    })
}

pub fn run(args: DetectArgs) -> Result<ExitCode> {
    let opts = options(
        &args.lake.lake,
        args.lake.column_key()?,
        &args.scope,
        &args.findings,
    )?;
    let selected = select(
        &args.lake.lake,
        args.scope.cluster.clone(),
        &args.findings,
        args.quiet,
    )?;
    let report = run_detect(&opts, &selected, args.quiet)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let target = crate::findings_table::Target::detect(args.out.is_none());
    let written = write_report(&report, &selected, args.format, target, &mut out)
        .and_then(|()| Ok(out.flush()?));
    super::closed_pipe_ok(written)?;
    drop(out);
    if !args.quiet {
        print_notes(&report);
    }
    if !report.failures.is_empty() {
        for f in &report.failures {
            eprintln!("error: rule {} failed: {}", f.rule_id, f.error);
        }
        return Ok(ExitCode::from(1));
    }
    if let Some(level) = args.fail_on {
        let level = severity(level);
        if report.findings.iter().any(|f| f.severity >= level) {
            return Ok(ExitCode::from(3));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Run detection with a progress bar on a terminal.
pub fn run_detect(opts: &DetectOptions, selected: &[Rule], quiet: bool) -> Result<Report> {
    let rt = super::runtime()?;
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(selected.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} detect [{elapsed_precise}] {wide_bar} {pos}/{len} rules {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress = |done: usize, _total: usize, id: &str| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
            b.set_message(id.to_string());
        }
    };
    let report = rt
        .block_on(rules::engine::detect(opts, selected, &progress))
        .with_context(|| format!("running rules over lake {}", opts.lake.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(report)
}

fn write_report(
    report: &Report,
    selected: &[Rule],
    format: DetectFormat,
    target: crate::findings_table::Target,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        DetectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
        DetectFormat::Ocsf => {
            for f in &report.findings {
                let rule = selected.iter().find(|r| r.id == f.rule_id);
                let v = crate::ocsf::detection_finding(f, rule);
                writeln!(out, "{}", serde_json::to_string(&v)?)?;
            }
        }
        DetectFormat::Jsonl => {
            for f in &report.findings {
                writeln!(out, "{}", serde_json::to_string(f)?)?;
            }
        }
        DetectFormat::Csv => {
            writeln!(
                out,
                "severity,category,rule_id,first_seen,last_seen,cluster,username,source_ip,count,summary"
            )?;
            for f in &report.findings {
                let q = |s: &str| format!("\"{}\"", visible(s).replace('"', "\"\""));
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{}",
                    f.severity.as_str(),
                    visible(&f.category),
                    visible(&f.rule_id),
                    visible(f.first_seen.as_deref().unwrap_or_default()),
                    visible(f.last_seen.as_deref().unwrap_or_default()),
                    q(f.cluster.as_deref().unwrap_or_default()),
                    q(f.username.as_deref().unwrap_or_default()),
                    visible(f.source_ip.as_deref().unwrap_or_default()),
                    f.count,
                    q(&f.summary)
                )?;
            }
        }
        DetectFormat::Table => {
            let shown: Vec<&Finding> = report.findings.iter().collect();
            writeln!(out, "{}", crate::findings_table::table(&shown, target))?;
            writeln!(
                out,
                "{} finding(s) from {} rules over {} events ({} to {})",
                report.findings.len(),
                report.rules_run,
                report.lake.events,
                report
                    .since
                    .as_deref()
                    .or(report.lake.first_event.as_deref())
                    .unwrap_or("-"),
                report
                    .until
                    .as_deref()
                    .or(report.lake.last_event.as_deref())
                    .unwrap_or("-"),
            )?;
            for i in &report.incidents {
                writeln!(
                    out,
                    "incident {} [{}] {} to {}: {}",
                    &i.incident_id[..12.min(i.incident_id.len())],
                    i.severity.as_str(),
                    i.first_seen.as_deref().unwrap_or("-"),
                    i.last_seen.as_deref().unwrap_or("-"),
                    // usernames come from the logs: no control characters on a terminal
                    i.summary
                        .chars()
                        .map(|c| if c.is_control() { '?' } else { c })
                        .collect::<String>()
                )?;
            }
        }
    }
    Ok(())
}

fn print_notes(report: &Report) {
    if report.history_before_window == "0s" {
        eprintln!(
            "note: no history before the window: baseline rules compare with the window's earlier events and lower the severity of what they judge on less than a day"
        );
    }
    let blind: Vec<_> = report
        .coverage
        .iter()
        .filter(|c| c.status == "blind")
        .collect();
    if !blind.is_empty() {
        eprintln!("note: {} rule(s) could not see their data:", blind.len());
        for c in blind {
            eprintln!("  {}: {}", c.rule_id, c.detail);
        }
    }
    if report.suppressed > 0 {
        eprintln!(
            "note: {} finding(s) suppressed by the allow-list",
            report.suppressed
        );
    }
}

pub fn rules(cmd: RulesCommand) -> Result<ExitCode> {
    match cmd {
        RulesCommand::SigmaSql {
            file,
            sigma_mapping,
        } => super::sigma::print_sql(&file, sigma_mapping.as_deref()),
        RulesCommand::Export(args) => super::export::run(args),
        RulesCommand::List { rules_dirs, format } => {
            let all = load(&rules_dirs)?;
            let mut out = std::io::stdout().lock();
            match format {
                OutputFormat::Json => {
                    let list: Vec<_> = all.iter().map(rule_json).collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
                }
                OutputFormat::Jsonl => {
                    for r in &all {
                        writeln!(out, "{}", rule_json(r))?;
                    }
                }
                OutputFormat::Csv => {
                    writeln!(out, "id,category,severity,level,baseline,mitre,tests,title")?;
                    for r in &all {
                        writeln!(
                            out,
                            "{},{},{},{},{},{},{},{}",
                            csv_field(&r.id),
                            csv_field(&r.category),
                            r.severity.as_str(),
                            r.level.as_str(),
                            r.baseline,
                            csv_field(&r.mitre.join(" ")),
                            r.tests.len(),
                            csv_field(&r.title)
                        )?;
                    }
                }
                OutputFormat::Table => {
                    for r in &all {
                        writeln!(
                            out,
                            "{:<44} {:<20} {:<9} {}",
                            r.id,
                            r.category,
                            r.severity.as_str(),
                            r.title
                        )?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Show { id, rules_dirs } => {
            let all = load(&rules_dirs)?;
            let r = all
                .iter()
                .find(|r| r.id == id)
                .ok_or(rules::RuleError::Unknown(id))?;
            super::to_stdout(|out| {
                writeln!(
                    out,
                    "id:        {}\ntitle:     {}\ncategory:  {}\nseverity:  {}\nmitre:     {}\nlevel:     {} (on {})\nbaseline:  {}\nfile:      {}\n",
                    r.id,
                    r.title,
                    r.category,
                    r.severity.as_str(),
                    r.mitre.join(", "),
                    r.level.as_str(),
                    if r.resources.is_empty() {
                        "any resource".to_string()
                    } else {
                        r.resources.join(", ")
                    },
                    r.baseline,
                    r.origin
                )?;
                writeln!(
                    out,
                    "{}\n-- SQL (run `.window 24h` in kubetrail shell first):\n{}",
                    r.description.trim_end(),
                    r.sql.trim_end()
                )?;
                writeln!(
                    out,
                    "\ntests: {}",
                    r.tests
                        .iter()
                        .map(|t| format!("{} ({:?})", t.name, t.expect))
                        .collect::<Vec<_>>()
                        .join("; ")
                )?;
                Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test {
            rules_dirs,
            rule_ids,
            no_builtin,
        } => {
            let loaded = if no_builtin {
                rules::pack::load_dirs(&rules_dirs)?
            } else {
                load(&rules_dirs)?
            };
            for id in &rule_ids {
                if !loaded.iter().any(|r| &r.id == id) {
                    bail!(rules::RuleError::Unknown(id.clone()));
                }
            }
            let all: Vec<Rule> = loaded
                .into_iter()
                .filter(|r| rule_ids.is_empty() || rule_ids.contains(&r.id))
                .collect();
            // A private directory (mode 0700, unpredictable name) removed when dropped: a
            // predictable /tmp path could be pre-created or symlinked by another local user.
            let scratch = tempfile::Builder::new()
                .prefix("kubetrail-rules-test-")
                .tempdir()
                .context("creating a scratch directory for the rule tests")?;
            let rt = super::runtime()?;
            let outcomes = rt.block_on(rules::testing::run(&all, scratch.path()))?;
            drop(scratch);
            // Counted before printing: a closed pipe must not change the exit code.
            let failed = outcomes.iter().filter(|o| !o.passed).count();
            super::to_stdout(|out| {
                for o in &outcomes {
                    if !o.passed {
                        writeln!(
                            out,
                            "FAIL {} / {} (expected {}, got {} finding(s)){}",
                            o.rule_id,
                            o.test,
                            match o.expected_findings {
                                Some(n) => format!("Fire with {n} finding(s)"),
                                None => format!("{:?}", o.expect),
                            },
                            o.findings,
                            o.error
                                .as_deref()
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        )?;
                    }
                }
                writeln!(
                    out,
                    "rules test: {} rules, {} tests: {} passed, {} failed",
                    all.len(),
                    outcomes.len(),
                    outcomes.len() - failed,
                    failed
                )?;
                Ok(())
            })?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// One rule as `rules list --format json`/`jsonl` prints it.
fn rule_json(r: &Rule) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "category": r.category,
        "severity": r.severity,
        "title": r.title,
        "mitre": r.mitre,
        "level": r.level,
        "baseline": r.baseline,
        "tests": r.tests.len(),
    })
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
