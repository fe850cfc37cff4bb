//! What was not analysed: lines the ingest quarantined, hours a cluster that normally logs
//! went silent, and rules that could not see their data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use chrono::DateTime;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::facts::{int, rows, text};

/// A cluster "normally logs" when at least this share of the hours between its first and last
/// event in the window have events; only then are its silent hours gaps.
const NORMALLY_LOGS: f64 = 0.5;
const HOUR: i64 = 3600;

#[derive(Debug, Clone, Serialize, Default)]
pub struct NotAnalysed {
    /// Lines the ingest could not read, from every run into this lake (quarantine records are
    /// not dated by event, so they are not narrowed to the window).
    pub quarantined_lines: u64,
    pub quarantine_files: usize,
    pub gaps: Vec<Gap>,
    /// Rules that ran without seeing their data (detect's coverage).
    pub rules: Vec<rules::engine::Coverage>,
    pub failures: Vec<rules::engine::RuleFailure>,
}

/// Hours without a single event from a cluster that logs in most hours.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Gap {
    pub cluster: String,
    /// First silent hour (UTC, RFC 3339).
    pub from: String,
    /// End of the last silent hour.
    pub until: String,
    pub hours: i64,
}

/// Count the quarantined lines under `LAKE/_kubetrail/quarantine` (read only), in a folder or
/// on object storage.
pub async fn quarantined(lake: &Path) -> Result<(u64, usize)> {
    if store::is_remote(lake) {
        let remote = store::RemoteLake::open(&lake.to_string_lossy())?;
        let files = remote.contents_under("_kubetrail/quarantine").await?;
        let lines = files.iter().map(|f| lines_in(f)).sum();
        return Ok((lines, files.len()));
    }
    let dir = lake.join("_kubetrail").join("quarantine");
    let mut lines = 0u64;
    let mut files = 0usize;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p)?;
                files += 1;
                lines += lines_in(&bytes);
            }
        }
    }
    Ok((lines, files))
}

/// Non-empty lines of a quarantine file.
fn lines_in(bytes: &[u8]) -> u64 {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64
}

fn rfc3339(epoch: i64) -> String {
    DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| epoch.to_string())
}

/// Silent hours of each cluster from its hourly event counts (hour start in epoch seconds).
pub fn gaps_of(hours: &BTreeMap<String, BTreeSet<i64>>) -> Vec<Gap> {
    let mut out = Vec::new();
    for (cluster, seen) in hours {
        let (Some(&first), Some(&last)) = (seen.first(), seen.last()) else {
            continue;
        };
        let span = (last - first) / HOUR + 1;
        if span < 3 || (seen.len() as f64) < NORMALLY_LOGS * span as f64 {
            continue;
        }
        let mut h = first;
        while h <= last {
            if seen.contains(&h) {
                h += HOUR;
                continue;
            }
            let start = h;
            while h <= last && !seen.contains(&h) {
                h += HOUR;
            }
            out.push(Gap {
                cluster: cluster.clone(),
                from: rfc3339(start),
                until: rfc3339(h),
                hours: (h - start) / HOUR,
            });
        }
    }
    out
}

/// Gaps in the window's audit stream.
pub async fn gaps(ctx: &SessionContext) -> Result<Vec<Gap>> {
    let found = rows(
        ctx,
        "SELECT \"cluster\" AS c, CAST(date_part('epoch', date_bin(INTERVAL '3600 seconds', ts)) \
         AS BIGINT) AS h FROM events GROUP BY 1, 2",
    )
    .await?;
    let mut hours: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for r in &found {
        hours
            .entry(text(r, "c").unwrap_or_default())
            .or_default()
            .insert(int(r, "h"));
    }
    Ok(gaps_of(&hours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_hours_of_a_busy_cluster_are_gaps_and_a_sparse_one_has_none() {
        let base = 1_767_571_200; // 2026-01-05T00:00:00Z
        let mut hours = BTreeMap::new();
        let busy: BTreeSet<i64> = (0..24)
            .filter(|h| !(5..8).contains(h))
            .map(|h| base + h * HOUR)
            .collect();
        hours.insert("prod".to_string(), busy);
        hours.insert(
            "lab".to_string(),
            [base, base + 10 * HOUR, base + 20 * HOUR].into(),
        );
        let g = gaps_of(&hours);
        assert_eq!(
            g,
            [Gap {
                cluster: "prod".into(),
                from: "2026-01-05T05:00:00Z".into(),
                until: "2026-01-05T08:00:00Z".into(),
                hours: 3
            }]
        );
    }
}
