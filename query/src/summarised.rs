//! `summary_window` and `summary_history`: per cluster, day, identity, address, user agent, verb,
//! resource, namespace and subresource, how many events `events_window` (`events_history`) has
//! and their first and last time. First-seen and baseline rules read these thousands of rows
//! instead of every event.
//!
//! Each view is exactly `SELECT cluster, day, <keys>, count(*), min(ts), max(ts) FROM
//! events_window GROUP BY ...` ([`aggregate_sql`]), up to how rows are split: a partition whose
//! rows the view takes whole, and whose ingest-time summary (`events_summary`, see
//! `ingest::summary`) counts every one of its events, is read from the summary (a row per key
//! per data file: add `events`, take the least `first_ts` and the greatest `last_ts`); any other
//! partition (cut by the window's or the scope's bounds, or ingested before summaries existed)
//! is aggregated from its events. Which partitions are summarised whole is decided once per
//! session by comparing the two tables' counts per partition.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use ingest::schema::col;
use ingest::summary::{EVENTS, FIRST_TS, KEY_COLUMNS, LAST_TS};

use crate::error::Result;
use crate::session::{LAKE_TABLE, SUMMARY_TABLE, Scope};

/// The view over `events_window`.
pub const WINDOW_VIEW: &str = "summary_window";
/// The view over `events_history`.
pub const HISTORY_VIEW: &str = "summary_history";

/// The columns of both views, in order.
fn columns() -> Vec<String> {
    let mut out = vec![quoted(col::CLUSTER), quoted(col::DAY)];
    out.extend(KEY_COLUMNS.iter().map(|c| quoted(c)));
    out.extend([EVENTS, FIRST_TS, LAST_TS].map(quoted));
    out
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// The summary of the rows of `view` (an `events`-shaped table) that pass `filter`, computed from
/// the rows: what the summary views are, and what an engine without the lake's summary files
/// reads for them.
pub fn aggregate_sql(view: &str, filter: &str) -> String {
    let mut keys = vec![quoted(col::CLUSTER), quoted(col::DAY)];
    keys.extend(KEY_COLUMNS.iter().map(|c| quoted(c)));
    let keys = keys.join(", ");
    let ts = quoted(col::TS);
    format!(
        "SELECT {keys}, count(*) AS \"{EVENTS}\", min({ts}) AS \"{FIRST_TS}\", \
         max({ts}) AS \"{LAST_TS}\" FROM {view} WHERE {filter} GROUP BY {keys}"
    )
}

/// One partition of the lake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Partition {
    cluster: String,
    day: NaiveDate,
}

impl Partition {
    /// Whether every event of the partition is inside `[since, until)`.
    fn inside(&self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
        let start = self.day.and_time(chrono::NaiveTime::MIN).and_utc();
        let end = start + Duration::days(1);
        since.is_none_or(|s| s <= start) && until.is_none_or(|u| end <= u)
    }

    /// The partition as `"cluster" || '/' || day` spells it: no listing prefix is derived from
    /// it (see `crate::lake::cluster_by_value`), and the day's fixed width keeps it unambiguous.
    fn key(&self) -> String {
        format!("{}/{}", self.cluster, self.day)
    }
}

/// What a session's summary views need: the scope its `events` view has and, once a window is
/// first defined, the partitions whose summary counts every event.
#[derive(Debug)]
pub struct Summaries {
    scope: Scope,
    covered: Mutex<Option<Arc<BTreeSet<Partition>>>>,
}

impl Summaries {
    pub fn new(scope: Scope) -> Self {
        Summaries {
            scope,
            covered: Mutex::new(None),
        }
    }

    /// The partitions whose summary rows add up to exactly their events, counted once.
    async fn covered(&self, ctx: &SessionContext) -> Result<Arc<BTreeSet<Partition>>> {
        if let Some(known) = self.cached() {
            return Ok(known);
        }
        let sql = format!(
            "SELECT CAST(e.\"cluster\" AS VARCHAR) AS c, CAST(e.\"day\" AS VARCHAR) AS d \
             FROM (SELECT \"cluster\", \"day\", count(*) AS n FROM {LAKE_TABLE} GROUP BY 1, 2) e \
             JOIN (SELECT \"cluster\", \"day\", sum(\"{EVENTS}\") AS n FROM {SUMMARY_TABLE} \
                   GROUP BY 1, 2) s \
             ON s.\"cluster\" = e.\"cluster\" AND s.\"day\" = e.\"day\" AND s.n = e.n"
        );
        let batches = crate::run::collect(ctx, &sql).await?;
        let mut covered = BTreeSet::new();
        for batch in &batches {
            // text as the session types it (Utf8View in DataFusion's default)
            let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
            let (c, d) = (text(0)?, text(1)?);
            let (Some(c), Some(d)) = (c.as_string_opt::<i32>(), d.as_string_opt::<i32>()) else {
                continue;
            };
            for row in 0..batch.num_rows() {
                if c.is_null(row) || d.is_null(row) {
                    continue;
                }
                // a day that does not parse is not summarised: its events are aggregated
                if let Ok(day) = NaiveDate::parse_from_str(d.value(row), "%Y-%m-%d") {
                    covered.insert(Partition {
                        cluster: c.value(row).to_owned(),
                        day,
                    });
                }
            }
        }
        let covered = Arc::new(covered);
        if let Ok(mut slot) = self.covered.lock() {
            *slot = Some(covered.clone());
        }
        Ok(covered)
    }

    fn cached(&self) -> Option<Arc<BTreeSet<Partition>>> {
        self.covered.lock().ok().and_then(|slot| slot.clone())
    }
}

/// `CREATE VIEW` statements of the two summary views for a window `[since, until)` and a history
/// `[history_since, since)` (`None` for no history); a session without [`Summaries`] (the
/// schema-only one rules are planned against) aggregates every partition.
pub(crate) async fn view_sql(
    ctx: &SessionContext,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    history: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<[(&'static str, String); 2]> {
    let summaries = ctx.state().config().get_extension::<Summaries>();
    let (scope, covered) = match &summaries {
        Some(s) => (Some(&s.scope), s.covered(ctx).await?),
        None => (None, Arc::new(BTreeSet::new())),
    };
    let whole = |since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| -> Vec<&Partition> {
        let Some(scope) = scope else {
            return Vec::new();
        };
        let since = later(since, scope.since);
        let until = earlier(until, scope.until);
        covered
            .iter()
            .filter(|p| scope.cluster.as_ref().is_none_or(|c| *c == p.cluster))
            .filter(|p| p.inside(since, until))
            .collect()
    };
    let window_parts = whole(window.0, window.1);
    let history_parts = match history {
        Some((from, to)) => whole(Some(from), Some(to)),
        None => Vec::new(),
    };
    Ok([
        (
            WINDOW_VIEW,
            view(WINDOW_VIEW, "events_window", &window_parts),
        ),
        (
            HISTORY_VIEW,
            view(HISTORY_VIEW, "events_history", &history_parts),
        ),
    ])
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The view `name` over `events_view`: the summary's rows of `whole`, the events' of the rest.
fn view(name: &str, events_view: &str, whole: &[&Partition]) -> String {
    let from_summary = if whole.is_empty() {
        "FALSE".to_string()
    } else {
        let keys: Vec<String> = whole
            .iter()
            .map(|p| format!("'{}'", p.key().replace('\'', "''")))
            .collect();
        format!(
            "\"{}\" || '/' || CAST(\"{}\" AS VARCHAR) IN ({})",
            col::CLUSTER,
            col::DAY,
            keys.join(", ")
        )
    };
    format!(
        "CREATE VIEW {name} AS SELECT {columns} FROM {SUMMARY_TABLE} WHERE {from_summary} \
         UNION ALL {aggregated}",
        columns = columns().join(", "),
        aggregated = aggregate_sql(events_view, &format!("NOT ({from_summary})")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Partition {
        Partition {
            cluster: "c".into(),
            day: NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day"),
        }
    }

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc),
        )
    }

    /// An audit event at `ts` by `user` from `ip` with `agent`.
    fn event(id: usize, ts: &str, user: &str, ip: &str, agent: &str, verb: &str) -> String {
        serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("id-{id}"), "stage": "ResponseComplete",
            "requestURI": "/api/v1/namespaces/web/pods", "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": [ip], "userAgent": agent,
            "objectRef": {"resource": "pods", "namespace": "web", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 200},
            "requestReceivedTimestamp": ts, "stageTimestamp": ts,
        })
        .to_string()
    }

    /// Events on 2026-01-04, -05 and -06 of cluster `c`, ingested in two runs (two data files,
    /// so two summary rows per key, in some partitions), and then the summary of 2026-01-06
    /// removed as if that day had been ingested before summaries existed.
    fn lake(dir: &std::path::Path) -> std::path::PathBuf {
        let users = ["alice", "bob", "system:serviceaccount:web:app"];
        let ips = ["10.0.0.1", "203.0.113.9"];
        let agents = ["kubectl/v1.30.1", "curl/8.5.0"];
        let verbs = ["get", "list"];
        let lake = dir.join("lake");
        for run in 0..2 {
            let mut lines = String::new();
            for i in 0..240 {
                let n = run * 1000 + i;
                let ts = format!(
                    "2026-01-0{}T{:02}:{:02}:{:02}.{:06}Z",
                    4 + i % 3,
                    (i * 7 + run * 5) % 24,
                    i % 60,
                    (i * 13) % 60,
                    n
                );
                lines.push_str(&event(
                    n,
                    &ts,
                    users[i % 3],
                    ips[(i / 3) % 2],
                    agents[(i / 2) % 2],
                    verbs[(i / 5) % 2],
                ));
                lines.push('\n');
            }
            let input = dir.join(format!("audit-{run}.jsonl"));
            std::fs::write(&input, lines).expect("write events");
            let mut opts = ingest::IngestOptions::new(lake.clone(), vec![input]);
            opts.cluster = Some("c".into());
            opts.threads = 1;
            let done = ingest::ingest(&opts, &ingest::Progress::default()).expect("ingest");
            assert_eq!(done.quarantined, 0, "test events must ingest");
        }
        let manifest = ingest::sink::manifest::Manifest::path(&lake);
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("json");
        let files = m["files"].as_array_mut().expect("files");
        let gone = "summary/cluster=c/day=2026-01-06/";
        for f in files
            .iter()
            .filter(|f| f["path"].as_str().is_some_and(|p| p.starts_with(gone)))
        {
            let path = lake.join(f["path"].as_str().unwrap_or_default());
            std::fs::remove_file(path).expect("remove summary file");
        }
        files.retain(|f| f["path"].as_str().is_some_and(|p| !p.starts_with(gone)));
        std::fs::write(&manifest, m.to_string()).expect("rewrite manifest");
        lake
    }

    /// `view`'s rows added up per key, as text.
    async fn per_key(ctx: &SessionContext, from: &str) -> String {
        let keys = format!("\"cluster\", \"day\", {}", KEY_COLUMNS.join(", "));
        let sql = format!(
            "SELECT {keys}, sum(events) AS events, min(first_ts) AS first_ts, \
             max(last_ts) AS last_ts FROM ({from}) GROUP BY {keys} ORDER BY {keys}"
        );
        let batches = crate::run::collect(ctx, &sql).await.expect("query");
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string()
    }

    #[tokio::test]
    async fn the_summary_views_equal_the_events_they_summarise_whatever_the_bounds() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let lake = lake(tmp.path());
        let at = |s: &str| at(s).expect("time");
        // (scope, window since, until, baseline)
        let cases = [
            (Scope::default(), None, None, 0),
            (Scope::default(), Some(at("2026-01-05T00:00:00Z")), None, 1),
            (
                Scope::default(),
                Some(at("2026-01-05T00:00:00Z")),
                Some(at("2026-01-07T00:00:00Z")),
                2,
            ),
            (
                Scope::default(),
                Some(at("2026-01-05T10:30:00Z")),
                Some(at("2026-01-06T12:00:00Z")),
                1,
            ),
            (
                Scope {
                    cluster: Some("c".into()),
                    since: Some(at("2026-01-04T06:00:00Z")),
                    until: None,
                },
                Some(at("2026-01-05T00:00:00Z")),
                None,
                1,
            ),
            (
                Scope {
                    cluster: Some("other".into()),
                    ..Scope::default()
                },
                None,
                None,
                0,
            ),
        ];
        for (scope, since, until, days) in cases {
            let ctx = crate::session::open(&lake, &scope).await.expect("session");
            let window = crate::session::Window {
                since,
                until,
                baseline: Duration::days(days),
            };
            crate::session::register_window(&ctx, &window)
                .await
                .expect("window");
            for (view, events) in [
                (WINDOW_VIEW, "events_window"),
                (HISTORY_VIEW, "events_history"),
            ] {
                let summarised = per_key(&ctx, &format!("SELECT * FROM {view}")).await;
                let counted = per_key(&ctx, &aggregate_sql(events, "TRUE")).await;
                assert_eq!(
                    summarised, counted,
                    "{view} for {scope:?} {since:?}..{until:?}, baseline {days} days"
                );
            }
        }
        // the summarised partitions are the two whose summaries count all their events
        let ctx = crate::session::open(&lake, &Scope::default())
            .await
            .expect("session");
        let summaries = ctx
            .state()
            .config()
            .get_extension::<Summaries>()
            .expect("summaries");
        let covered: Vec<String> = summaries
            .covered(&ctx)
            .await
            .expect("covered")
            .iter()
            .map(Partition::key)
            .collect();
        assert_eq!(covered, ["c/2026-01-04", "c/2026-01-05"]);
    }

    #[test]
    fn a_partition_is_whole_only_when_both_bounds_leave_its_day_entire() {
        let p = day("2026-01-05");
        assert!(p.inside(None, None));
        assert!(p.inside(at("2026-01-05T00:00:00Z"), at("2026-01-06T00:00:00Z")));
        assert!(!p.inside(at("2026-01-05T00:00:01Z"), None));
        assert!(!p.inside(None, at("2026-01-05T23:59:59Z")));
        assert!(p.inside(at("2026-01-01T00:00:00Z"), None));
    }

    #[test]
    fn the_summary_part_names_each_whole_partition_and_the_events_part_the_rest() {
        let p = Partition {
            cluster: "prod/eu's".into(),
            ..day("2026-01-05")
        };
        let sql = view("summary_window", "events_window", &[&p]);
        assert!(
            sql.contains("IN ('prod/eu''s/2026-01-05')"),
            "the partition's key, quoted: {sql}"
        );
        assert!(sql.contains("FROM events_window WHERE NOT ("), "{sql}");
        let none = view("summary_window", "events_window", &[]);
        assert!(
            none.contains("WHERE FALSE UNION ALL") && none.contains("WHERE NOT (FALSE)"),
            "{none}"
        );
    }
}
