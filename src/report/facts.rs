//! The window's activity in figures: headline counts, activity and denials over time, the most
//! active identities and addresses. Each is one SQL statement over `events` (already narrowed
//! to the report's cluster and window).

use anyhow::{Context, Result};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value};

/// Rows of a statement as JSON objects.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Map<String, Value>>> {
    let batches = query::run::collect(ctx, sql)
        .await
        .with_context(|| format!("running {sql}"))?;
    Ok(rules::finding::rows(&batches))
}

pub fn text(row: &Map<String, Value>, key: &str) -> Option<String> {
    match row.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

pub fn int(row: &Map<String, Value>, key: &str) -> i64 {
    match row.get(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A request as counted here: one per audit ID, the stage that closes it (or the only line a
/// log without stages has).
pub const ONE_PER_REQUEST: &str = "(stage IS NULL OR stage IN ('ResponseComplete', 'Panic'))";

/// Denied: refused by authentication or authorization.
pub const DENIED: &str = "(status_code IN (401, 403) OR decision = 'forbid')";

/// The window in headline figures.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Headline {
    /// Audit log lines (every stage of every request).
    pub events: i64,
    /// Requests (one per audit ID).
    pub requests: i64,
    pub denied: i64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub clusters: Vec<ClusterCount>,
    pub identities: i64,
    pub source_addresses: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterCount {
    pub cluster: String,
    pub events: i64,
}

pub async fn headline(ctx: &SessionContext) -> Result<Headline> {
    let r = rows(
        ctx,
        &format!(
            "SELECT count(*) AS events, \
             sum(CASE WHEN {ONE_PER_REQUEST} THEN 1 ELSE 0 END) AS requests, \
             sum(CASE WHEN {ONE_PER_REQUEST} AND {DENIED} THEN 1 ELSE 0 END) AS denied, \
             min(ts) AS first_event, max(ts) AS last_event, \
             count(DISTINCT username) AS identities, count(DISTINCT source_ip) AS addresses \
             FROM events"
        ),
    )
    .await?;
    let row = r.first().cloned().unwrap_or_default();
    let clusters = rows(
        ctx,
        "SELECT \"cluster\" AS c, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC",
    )
    .await?
    .iter()
    .map(|r| ClusterCount {
        cluster: text(r, "c").unwrap_or_default(),
        events: int(r, "n"),
    })
    .collect();
    Ok(Headline {
        events: int(&row, "events"),
        requests: int(&row, "requests"),
        denied: int(&row, "denied"),
        first_event: text(&row, "first_event"),
        last_event: text(&row, "last_event"),
        clusters,
        identities: int(&row, "identities"),
        source_addresses: int(&row, "addresses"),
    })
}

/// Requests and denials per time bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Start of the bucket, seconds since the Unix epoch.
    pub start: i64,
    pub requests: i64,
    pub denied: i64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Activity {
    /// Bucket width in seconds.
    pub bucket_seconds: i64,
    pub buckets: Vec<Bucket>,
}

/// A bucket width that gives at most a few hundred bars over `span_seconds`.
pub fn bucket_seconds(span_seconds: i64) -> i64 {
    const HOUR: i64 = 3600;
    match span_seconds {
        s if s <= 2 * HOUR => 60,
        s if s <= 12 * HOUR => 10 * 60,
        s if s <= 8 * 24 * HOUR => HOUR,
        s if s <= 45 * 24 * HOUR => 6 * HOUR,
        _ => 24 * HOUR,
    }
}

pub async fn activity(ctx: &SessionContext, bucket: i64) -> Result<Activity> {
    let sql = format!(
        "SELECT CAST(date_part('epoch', date_bin(INTERVAL '{bucket} seconds', ts)) AS BIGINT) AS b, \
         count(*) AS requests, sum(CASE WHEN {DENIED} THEN 1 ELSE 0 END) AS denied \
         FROM events WHERE {ONE_PER_REQUEST} GROUP BY 1 ORDER BY 1"
    );
    let buckets = rows(ctx, &sql)
        .await?
        .iter()
        .map(|r| Bucket {
            start: int(r, "b"),
            requests: int(r, "requests"),
            denied: int(r, "denied"),
        })
        .collect();
    Ok(Activity {
        bucket_seconds: bucket,
        buckets,
    })
}

/// One entry of a top-N list.
#[derive(Debug, Clone, Serialize)]
pub struct Top {
    pub key: String,
    pub requests: i64,
    pub denied: i64,
}

/// The `limit` most active values of `column` (requests, of which denied).
pub async fn top(ctx: &SessionContext, column: &str, limit: usize) -> Result<Vec<Top>> {
    let sql = format!(
        "SELECT coalesce({column}, '(none)') AS k, count(*) AS n, \
         sum(CASE WHEN {DENIED} THEN 1 ELSE 0 END) AS denied \
         FROM events WHERE {ONE_PER_REQUEST} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}"
    );
    Ok(rows(ctx, &sql)
        .await?
        .iter()
        .map(|r| Top {
            key: text(r, "k").unwrap_or_default(),
            requests: int(r, "n"),
            denied: int(r, "denied"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_with_the_window() {
        assert_eq!(bucket_seconds(3600), 60);
        assert_eq!(bucket_seconds(86_400), 3600);
        assert_eq!(bucket_seconds(30 * 86_400), 6 * 3600);
        assert_eq!(bucket_seconds(400 * 86_400), 86_400);
    }
}
