//! `kubetrail timeline`.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};

use crate::cli::{TimelineArgs, TimelineFormat};
use crate::findings_table::{PIPE_WIDTH, Target};
use crate::timeline::{self, Line, Subject, Timeline};

fn duration(flag: &str, s: &str) -> Result<chrono::Duration> {
    query::timearg::parse_duration(s)
        .with_context(|| format!("{flag} {s:?} is not a duration like 30m or 2h"))
}

/// Rule IDs by audit ID, from a detect run over the timeline's window.
fn cited(
    args: &TimelineArgs,
    scope: &crate::cli::ScopeArgs,
    column_key: Option<ingest::sink::encryption::ColumnKey>,
) -> Result<HashMap<String, Vec<String>>> {
    let opts = super::detect::options(&args.lake.lake, column_key, scope, &args.findings)?;
    let selected = super::detect::select(
        &args.lake.lake,
        args.scope.cluster.clone(),
        &args.findings,
        true,
    )?;
    let report = super::detect::run_detect(&opts, &selected, false)?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for f in &report.findings {
        for id in &f.audit_ids {
            let rules = out.entry(id.clone()).or_default();
            if !rules.contains(&f.rule_id) {
                rules.push(f.rule_id.clone());
            }
        }
    }
    Ok(out)
}

pub fn run(args: TimelineArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let column_key = args.lake.column_key()?;
    let engine = args.findings.execution.engine()?;
    let gap = duration("--session-gap", &args.session_gap)?;
    let mut scope_args = args.scope.clone();
    let (subject, anchor) = match (&args.user, &args.ip, &args.object, &args.audit_id) {
        (Some(u), _, _, _) => (Subject::User(u.clone()), None),
        (_, Some(a), _, _) => (Subject::Ip(a.clone()), None),
        (_, _, Some(o), _) => (Subject::object(o)?, None),
        (_, _, _, Some(id)) => {
            let lake_scope = query::session::Scope {
                cluster: args.scope.cluster.clone(),
                ..Default::default()
            };
            let found = rt.block_on(async {
                let ctx = query::session::open_with(
                    &args.lake.lake,
                    &lake_scope,
                    args.findings.execution.limit(),
                    column_key.as_ref(),
                )
                .await?;
                query::engine::attach(&ctx, &engine);
                timeline::find_request(&ctx, id).await
            })?;
            let Some((user, at)) = found else {
                bail!(
                    "audit ID {id:?} is not in lake {}{}",
                    args.lake.lake.display(),
                    args.scope
                        .cluster
                        .as_deref()
                        .map(|c| format!(" (cluster {c})"))
                        .unwrap_or_default()
                );
            };
            let around = duration("--around", &args.around)?;
            let fmt = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
            if scope_args.since.is_none() {
                scope_args.since = Some(fmt(at - around));
            }
            if scope_args.until.is_none() {
                scope_args.until = Some(fmt(at + around));
            }
            (Subject::User(user), Some(id.clone()))
        }
        _ => bail!("one of --user, --ip, --object or --audit-id is required"),
    };
    let findings = if args.no_findings {
        HashMap::new()
    } else {
        cited(&args, &scope_args, column_key.clone())?
    };
    let scope = super::query::scope(&scope_args)?;
    let opts = timeline::Options {
        session_gap: gap,
        limit: args.limit,
        findings,
        anchor,
    };
    let tl = rt
        .block_on(async {
            let ctx = query::session::open_with(
                &args.lake.lake,
                &scope,
                args.findings.execution.limit(),
                column_key.as_ref(),
            )
            .await?;
            query::engine::attach(&ctx, &engine);
            timeline::build(&ctx, &subject, &opts).await
        })
        .with_context(|| format!("building the timeline of {subject}"))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        TimelineFormat::Jsonl => {
            for l in &tl.lines {
                writeln!(out, "{}", serde_json::to_string(l)?)?;
            }
        }
        TimelineFormat::Table => write_table(&tl, Target::detect(true), &mut out)?,
    }
    out.flush()?;
    if tl.truncated {
        eprintln!(
            "note: more than {} requests matched; the first {} are shown (--limit)",
            args.limit, args.limit
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn short(ts: &str) -> String {
    ts.get(..23).unwrap_or(ts).replace('T', " ")
}

fn notes(l: &Line) -> String {
    let mut n = Vec::new();
    if l.anchor {
        n.push("<< this request".to_string());
    }
    if let Some(u) = &l.impersonated_username {
        n.push(format!("impersonating {u}"));
    }
    if !l.findings.is_empty() {
        n.push(format!("FINDING {}", l.findings.join(", ")));
    }
    if let Some(c) = &l.change {
        n.push(c.clone());
    }
    n.join("; ")
}

fn write_table(tl: &Timeline, target: Target, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "timeline of {}: {} request(s) in {} session(s)",
        tl.subject,
        tl.lines.len(),
        tl.sessions.len()
    )?;
    if !tl.token_origins.is_empty() {
        writeln!(out, "service-account tokens came from:")?;
        for o in &tl.token_origins {
            writeln!(
                out,
                "  pod {} on node {} ({} requests)",
                o.pod_name.as_deref().unwrap_or("-"),
                o.node_name.as_deref().unwrap_or("-"),
                o.requests
            )?;
        }
    }
    for s in &tl.sessions {
        writeln!(
            out,
            "\nsession {}: {} from {} with {:?}, {} to {}, {} request(s)",
            s.id,
            s.username.as_deref().unwrap_or("-"),
            s.source_ip.as_deref().unwrap_or("-"),
            s.user_agent.as_deref().unwrap_or("-"),
            short(&s.first),
            short(&s.last),
            s.requests
        )?;
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header([
                "time", "verb", "object", "status", "ms", "stages", "audit id", "notes",
            ]);
        if target == Target::Plain {
            t.force_no_tty().set_width(PIPE_WIDTH);
        }
        for l in tl.lines.iter().filter(|l| l.session == s.id) {
            t.add_row([
                short(&l.ts),
                l.verb.clone().unwrap_or_default(),
                l.object(),
                l.status_code.map(|c| c.to_string()).unwrap_or_default(),
                l.latency_ms.map(|m| format!("{m}")).unwrap_or_default(),
                l.stages.len().to_string(),
                l.audit_id.clone().unwrap_or_default(),
                notes(l),
            ]);
        }
        for i in [0, 3, 5] {
            if let Some(c) = t.column_mut(i) {
                c.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}
