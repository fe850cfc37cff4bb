//! Running rules over a lake: the analysed window, the history before it for baseline rules,
//! a check that each rule's data is in the lake at the audit level it needs, and findings.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use datafusion::execution::memory_pool::MemoryLimit as PoolLimit;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use crate::allowlist::Allowlist;
use crate::error::{Result, RuleError};
use crate::finding::{self, Finding};
use crate::rule::{Level, Rule, Severity};
use query::lake::TextColumns;
use query::session::{self, Scope, Window};

/// Version of the detect report JSON.
pub const REPORT_SCHEMA_VERSION: &str = "1";

/// What to analyse.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub lake: PathBuf,
    pub cluster: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// How much history before the window baseline rules learn from.
    pub baseline: Duration,
    pub min_severity: Severity,
    pub allowlist: Allowlist,
    /// Threat-intel addresses (`--ioc-file`) for `ioc_label(source_ip, ts)`.
    pub iocs: std::sync::Arc<query::ioc::IocList>,
    /// How much memory the rules' queries may hold (`--memory-limit`).
    pub memory: query::memory::MemoryLimit,
    /// The key of an encrypted lake (`--encryption-key-file`): rules that read bodies need it.
    pub column_key: Option<ingest::sink::encryption::ColumnKey>,
    /// Where the rules' queries run (`--engine`); planned here either way.
    pub engine: query::engine::Engine,
    /// How many rules run at once (`--jobs`); at least one.
    pub jobs: usize,
}

/// Rules run at once by default: two. Two rules at a time fill the cores one rule's plan leaves
/// idle (10M events: 42.0 s instead of 47.5 s), and since each rule hands back what it freed once
/// the process holds half the query pool, the two peaks no longer add up (442 MiB of RSS against
/// 428-448 MiB one at a time; 30M under a 1 GiB limit: 837 MiB).
pub const DEFAULT_JOBS: usize = 2;

/// The lake as detect saw it, so a report can be reproduced.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LakeInfo {
    pub path: String,
    pub events: i64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    /// Hash of the lake's ingest state (which inputs, how far read).
    pub state_fingerprint: Option<String>,
}

/// A rule that could not see what it needs.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub rule_id: String,
    /// `blind`: events exist but below the audit level the rule needs; `no-data`: no events on
    /// the rule's resources in the window.
    pub status: &'static str,
    pub detail: String,
}

/// A rule whose SQL failed.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFailure {
    pub rule_id: String,
    pub error: String,
}

/// How long one rule took, for finding the slow ones (`jq '.timings | sort_by(-.seconds)'`).
/// Rules run `--jobs` at a time, so with more than one the times overlap and add up to more
/// than the run's.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTiming {
    pub rule_id: String,
    pub seconds: f64,
    pub findings: usize,
}

/// Everything one detect run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: &'static str,
    pub tool_version: &'static str,
    pub rule_pack_version: String,
    pub generated_at: String,
    pub lake: LakeInfo,
    pub cluster: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub baseline: String,
    /// How much of the lake lies before the analysed window as `events_history` (at most
    /// `baseline`). Every rule analyses the window from its first event; baseline rules also
    /// compare with the window's own earlier events, and say so where that history is short.
    pub history_before_window: String,
    pub rules_run: usize,
    pub findings: Vec<Finding>,
    /// Findings sharing an identity (anonymous callers: an address) within an hour, as sequences.
    pub incidents: Vec<crate::incident::Incident>,
    pub suppressed: usize,
    pub coverage: Vec<Coverage>,
    pub failures: Vec<RuleFailure>,
    pub timings: Vec<RuleTiming>,
}

fn ts_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `7d`, `6h`, `5h59m59s`: the units a person would write, largest first.
fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3600, "h"),
        (s % 3600 / 60, "m"),
        (s % 60, "s"),
    ];
    for (value, unit) in parts {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    out
}

/// Run one rule in `ctx` over the window; returns its findings.
pub async fn run_rule(ctx: &SessionContext, rule: &Rule, window: &Window) -> Result<Vec<Finding>> {
    session::register_window(ctx, window).await?;
    run_in_window(ctx, rule).await
}

/// Run one rule in `ctx`, whose window views are defined.
async fn run_in_window(ctx: &SessionContext, rule: &Rule) -> Result<Vec<Finding>> {
    // rows are folded into findings as batches come, so a rule with many evidence rows holds
    // its findings, not its rows
    let mut grouping = finding::Grouping::default();
    query::run::for_each_batch(ctx, &rule.sql, |batch| grouping.add_batch(batch))
        .await
        .map_err(|e| match e {
            query::QueryError::OutOfMemory(message) => RuleError::OutOfMemory {
                rule: rule.id.clone(),
                message,
            },
            e => RuleError::Run {
                rule: rule.id.clone(),
                message: e.to_string(),
            },
        })?;
    crate::body_name::fill(ctx, grouping.firsts_mut()).await?;
    let findings = grouping.finish(rule);
    // what the rule's plan and rows held goes back to the system once the process holds half
    // the query pool (three quarters of --memory-limit, so 384 MiB by default): the next rule's
    // peak then adds to what the findings hold, not to every earlier rule's leftovers (below
    // that, the pages stay for the next rule to reuse)
    if let PoolLimit::Finite(pool) = ctx.runtime_env().memory_pool.memory_limit() {
        heap::release_freed_above(pool as u64 / 2);
    }
    Ok(findings)
}

fn level_rank(level: &str) -> u8 {
    match level {
        "RequestResponse" => 3,
        "Request" => 2,
        "Metadata" => 1,
        _ => 0,
    }
}

/// The highest audit level seen per resource in the current `events_window`.
async fn levels(ctx: &SessionContext) -> Result<Vec<(String, u8)>> {
    let batches = query::run::collect(
        ctx,
        "SELECT coalesce(resource, '') AS resource, level FROM events_window GROUP BY 1, 2",
    )
    .await?;
    Ok(finding::rows(&batches)
        .into_iter()
        .map(|r| {
            let res = r
                .get("resource")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let lvl = level_rank(r.get("level").and_then(|v| v.as_str()).unwrap_or_default());
            (res, lvl)
        })
        .collect())
}

fn coverage_of(rule: &Rule, seen: &[(String, u8)]) -> Option<Coverage> {
    let need = match rule.level {
        Level::Metadata => 1,
        Level::Request => 2,
        Level::RequestResponse => 3,
    };
    if rule.resources.is_empty() {
        return seen.is_empty().then(|| Coverage {
            rule_id: rule.id.clone(),
            status: "no-data",
            detail: "no events in the window".into(),
        });
    }
    let on: Vec<u8> = seen
        .iter()
        .filter(|(r, _)| rule.resources.contains(r))
        .map(|(_, l)| *l)
        .collect();
    if on.is_empty() {
        return Some(Coverage {
            rule_id: rule.id.clone(),
            status: "no-data",
            detail: format!("no events on {} in the window", rule.resources.join(", ")),
        });
    }
    let best = on.into_iter().max().unwrap_or(0);
    (best < need).then(|| Coverage {
        rule_id: rule.id.clone(),
        status: "blind",
        detail: format!(
            "needs audit level {} on {}; the lake has only {} (see docs/audit-policy.yaml)",
            rule.level.as_str(),
            rule.resources.join(", "),
            ["none", "Metadata", "Request", "RequestResponse"][best as usize]
        ),
    })
}

async fn lake_info(
    ctx: &SessionContext,
    opts: &DetectOptions,
) -> Result<(LakeInfo, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
    let batches = query::run::collect(
        ctx,
        "SELECT count(*) AS n, min(ts) AS first, max(ts) AS last FROM events",
    )
    .await?;
    let rows = finding::rows(&batches);
    let row = rows.first().cloned().unwrap_or_default();
    let first = row.get("first").and_then(|v| v.as_str()).map(str::to_owned);
    let last = row.get("last").and_then(|v| v.as_str()).map(str::to_owned);
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let state = std::fs::read(opts.lake.join("_kubetrail/state.json"))
        .ok()
        .map(|b| format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&b)));
    let info = LakeInfo {
        path: opts.lake.display().to_string(),
        events: row.get("n").and_then(|v| v.as_i64()).unwrap_or(0),
        first_event: first.clone(),
        last_event: last.clone(),
        state_fingerprint: state,
    };
    Ok((info, parse(&first), parse(&last)))
}

/// Run `run` on each of `items`, `jobs` at a time (a new one starts as soon as any ends), calling `finished` as each first run ends;
/// each result comes back with how long it took, in `items`' order. A result that `alone` picks
/// (a rule that ran out of memory next to others) is replaced by a second run of its item, after
/// the others, with nothing beside it.
async fn run_each<'a, T, R, Fut>(
    items: &'a [T],
    jobs: usize,
    run: impl Fn(&'a T) -> Fut,
    alone: impl Fn(&R) -> bool,
    finished: impl Fn(&T),
) -> Vec<(R, std::time::Duration)>
where
    Fut: std::future::Future<Output = R>,
{
    let (run, finished) = (&run, &finished);
    let timed = |(at, item): (usize, &'a T)| async move {
        let started = std::time::Instant::now();
        let result = run(item).await;
        finished(item);
        (at, (result, started.elapsed()))
    };
    let jobs = jobs.max(1);
    // unordered, then put back in order: `buffered` keeps a finished result in its `jobs`
    // slots until every item before it is done, so one long item would run alone
    let mut done: Vec<_> = futures::stream::iter(items.iter().enumerate().map(timed))
        .buffer_unordered(jobs)
        .collect()
        .await;
    done.sort_unstable_by_key(|(at, _)| *at);
    let mut results: Vec<_> = done.into_iter().map(|(_, r)| r).collect();
    if jobs > 1 {
        for (item, slot) in items.iter().zip(results.iter_mut()) {
            if alone(&slot.0) {
                let started = std::time::Instant::now();
                let again = run(item).await;
                *slot = (again, slot.1 + started.elapsed());
            }
        }
    }
    results
}

/// The session rules run in: the lake read with `text` as given, the remote engine if any, the
/// threat-intel function.
async fn rules_session(
    opts: &DetectOptions,
    scope: &Scope,
    text: TextColumns,
) -> Result<SessionContext> {
    let ctx = session::open_reading(
        &opts.lake,
        scope,
        opts.memory,
        opts.column_key.as_ref(),
        text,
    )
    .await?;
    query::engine::attach(&ctx, &opts.engine);
    ctx.register_udf(query::ioc::udf(opts.iocs.clone()));
    Ok(ctx)
}

fn is_out_of_memory(result: &Result<Vec<Finding>>) -> bool {
    matches!(result, Err(RuleError::OutOfMemory { .. }))
}

/// `KUBETRAIL_FAULT=oom-with-views:RULE_ID` (debug builds only): the rule runs out of memory
/// whenever it reads text as string views, for the test of the retry with text copied.
fn fault_oom_with_views(rule_id: &str) -> bool {
    #[cfg(debug_assertions)]
    if let Ok(spec) = std::env::var("KUBETRAIL_FAULT") {
        return spec.strip_prefix("oom-with-views:") == Some(rule_id);
    }
    let _ = rule_id;
    false
}

/// Run `rules` over the lake. `progress(done, total, rule_id)` is called as rules finish.
pub async fn detect<'a>(
    opts: &DetectOptions,
    rules: &'a [Rule],
    progress: &(dyn Fn(usize, usize, &str) + Sync),
) -> Result<Report> {
    let scope = Scope {
        cluster: opts.cluster.clone(),
        since: None,
        until: None,
    };
    // text as string views where the limit leaves room: decoding without a copy of every
    // row's text
    let text = TextColumns::for_rules(opts.memory);
    let ctx = rules_session(opts, &scope, text).await?;
    let (lake, lake_min, _lake_max) = lake_info(&ctx, opts).await?;

    // No warm-up: every rule analyses the window from its first event. Baseline rules compare
    // with `events_history` and with the window's earlier events, and lower their findings'
    // severity where that history is short.
    let history = match (lake_min, opts.since) {
        (Some(first), Some(since)) if since > first => std::cmp::min(opts.baseline, since - first),
        _ => Duration::zero(),
    };
    let plain = Window {
        since: opts.since,
        until: opts.until,
        baseline: opts.baseline,
    };

    session::register_window(&ctx, &plain).await?;
    let seen = levels(&ctx).await?;

    let mut findings = Vec::new();
    let mut coverage = Vec::new();
    let mut failures = Vec::new();
    let mut suppressed = 0;
    let mut timings = Vec::with_capacity(rules.len());
    // `jobs` rules at a time; one that ran out of memory next to others runs again alone, so
    // that sharing the memory limit changes no finding
    let done = std::sync::atomic::AtomicUsize::new(0);
    let ctx_ref = &ctx;
    let mut results = run_each(
        rules,
        opts.jobs,
        |rule: &'a Rule| async move {
            if text == TextColumns::Views && fault_oom_with_views(&rule.id) {
                return Err(RuleError::OutOfMemory {
                    rule: rule.id.clone(),
                    message: "fault injected by KUBETRAIL_FAULT".into(),
                });
            }
            run_in_window(ctx_ref, rule).await
        },
        is_out_of_memory,
        |rule| {
            let finished = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(finished, rules.len(), &rule.id);
        },
    )
    .await;
    // A rule that ran out of memory reading text as string views, alone too, runs once more
    // with text copied: DataFusion counts a batch of views as every page its views point into
    // (a sort of a few thousand filtered rows of 30M events asked for 74 MB per batch, by turns),
    // where copied text counts as what it is. So a limit that the rule fits changes no finding.
    // The same session, so the same committed files; if it cannot switch, the failures stand.
    let local = query::engine::remote(&ctx).is_none();
    if text == TextColumns::Views && local && results.iter().any(|(r, _)| is_out_of_memory(r)) {
        let copied = async {
            let key = opts.column_key.as_ref();
            session::read_text_as(&ctx, &opts.lake, &scope, key, TextColumns::Copied).await?;
            session::register_window(&ctx, &plain).await
        };
        if copied.await.is_ok() {
            for (rule, (result, took)) in rules.iter().zip(results.iter_mut()) {
                if is_out_of_memory(result) {
                    let started = std::time::Instant::now();
                    *result = run_in_window(&ctx, rule).await;
                    *took += started.elapsed();
                }
            }
        }
    }
    for (rule, (result, took)) in rules.iter().zip(results) {
        if let Some(c) = coverage_of(rule, &seen) {
            coverage.push(c);
        }
        timings.push(RuleTiming {
            rule_id: rule.id.clone(),
            seconds: took.as_secs_f64(),
            findings: result.as_ref().map_or(0, Vec::len),
        });
        match result {
            Ok(found) => {
                for f in found {
                    if f.severity < opts.min_severity {
                        continue;
                    }
                    if opts.allowlist.matches(&f).is_some() {
                        suppressed += 1;
                        continue;
                    }
                    findings.push(f);
                }
            }
            Err(e) => failures.push(RuleFailure {
                rule_id: rule.id.clone(),
                error: e.to_string(),
            }),
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first_seen.cmp(&b.first_seen))
            .then_with(|| a.rule_id.cmp(&b.rule_id))
    });
    let incidents = crate::incident::group(&findings);
    Ok(Report {
        schema_version: REPORT_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        rule_pack_version: crate::pack::pack_version(),
        generated_at: ts_text(Utc::now()),
        lake,
        cluster: opts.cluster.clone(),
        since: opts.since.map(ts_text),
        until: opts.until.map(ts_text),
        baseline: human(opts.baseline),
        history_before_window: human(history),
        rules_run: rules.len(),
        findings,
        incidents,
        suppressed,
        coverage,
        failures,
        timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each item takes as many polls as its value; the result says how many other items were
    /// running when it started and which run of the item it was.
    #[tokio::test]
    async fn results_keep_the_items_order_and_a_picked_one_runs_again_alone() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let runs_of_20 = AtomicUsize::new(0);
        let starts = std::sync::Mutex::new(Vec::new());
        let finished = std::sync::Mutex::new(Vec::new());
        let items = [30, 1, 20, 2, 5];
        let results = run_each(
            &items,
            2,
            |&polls: &usize| {
                let (running, runs_of_20, starts) = (&running, &runs_of_20, &starts);
                async move {
                    let beside = running.fetch_add(1, Ordering::SeqCst);
                    starts.lock().expect("lock").push((polls, beside));
                    let run = if polls == 20 {
                        runs_of_20.fetch_add(1, Ordering::SeqCst) + 1
                    } else {
                        1
                    };
                    for _ in 0..polls {
                        tokio::task::yield_now().await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    (polls, beside, run)
                }
            },
            |&(polls, _, run)| polls == 20 && run == 1,
            |&item| finished.lock().expect("lock").push(item),
        )
        .await;
        let got: Vec<(usize, usize, usize)> = results.into_iter().map(|(r, _)| r).collect();
        // in the items' order although 1, 2 and 5 end before 30
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), items);
        // 20 ran beside another item first, then again with none beside it
        assert_eq!(got[2], (20, 0, 2));
        // two at a time all along: 20 starts as soon as 1 ends, while 30 still runs
        let starts = starts.lock().expect("lock").clone();
        assert_eq!(starts[..3], [(30, 0), (1, 1), (20, 1)], "{starts:?}");
        assert_eq!(got[0].1, 0, "30 started first, alone");
        assert!(got[1].1 == 1, "1 started beside 30: two at a time");
        let mut ended = finished.lock().expect("lock").clone();
        assert_ne!(ended, items, "ends are reported as they happen");
        ended.sort_unstable();
        assert_eq!(ended, [1, 2, 5, 20, 30], "each first run reported once");
    }

    #[test]
    fn durations_read_the_way_a_person_writes_them() {
        assert_eq!(human(Duration::days(7)), "7d");
        assert_eq!(human(Duration::hours(6)), "6h");
        assert_eq!(human(Duration::seconds(21_599)), "5h59m59s");
        assert_eq!(human(Duration::seconds(90_061)), "1d1h1m1s");
        assert_eq!(human(Duration::zero()), "0s");
    }
}
