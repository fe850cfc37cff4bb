//! Chart geometry for the report's inline SVG: positions and sizes are computed here, the
//! template draws them (so every label from the audit log goes through its HTML escaping).

use chrono::DateTime;
use serde::Serialize;

use super::facts::{Activity, Top};

/// A rectangle in viewBox units, with a tooltip.
#[derive(Debug, Clone, Serialize)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub title: String,
}

/// A tick label on an axis.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// A finding marked on the time axis.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub severity: &'static str,
    pub title: String,
}

/// Counts over time as vertical bars.
#[derive(Debug, Clone, Serialize)]
pub struct TimeChart {
    pub width: f64,
    pub height: f64,
    /// Plot area: left, top, right, bottom.
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub bars: Vec<Rect>,
    pub markers: Vec<Marker>,
    pub xticks: Vec<Tick>,
    pub yticks: Vec<Tick>,
    pub empty: bool,
}

/// A labelled horizontal bar.
#[derive(Debug, Clone, Serialize)]
pub struct BarRow {
    pub label: String,
    pub value: i64,
    pub note: String,
    pub label_y: f64,
    pub bar_y: f64,
    pub bar_w: f64,
}

/// Values by label as horizontal bars, one row per value.
#[derive(Debug, Clone, Serialize)]
pub struct BarChart {
    pub width: f64,
    pub height: f64,
    pub bar_h: f64,
    pub rows: Vec<BarRow>,
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn when(epoch: i64, bucket: i64) -> String {
    let Some(t) = DateTime::from_timestamp(epoch, 0) else {
        return epoch.to_string();
    };
    if bucket >= 86_400 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// Parse an RFC 3339 time to epoch seconds.
pub fn epoch(ts: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(ts).ok().map(|t| t.timestamp())
}

/// The time chart of `activity`: `denied` picks the denied counts instead of all requests;
/// `marks` are (time, severity, label) of findings.
pub fn time_chart(
    activity: &Activity,
    denied: bool,
    marks: &[(i64, &'static str, String)],
) -> TimeChart {
    let (width, height) = (720.0, 220.0);
    let (left, top, right, bottom) = (
        56.0,
        if marks.is_empty() { 10.0 } else { 26.0 },
        712.0,
        190.0,
    );
    let mut chart = TimeChart {
        width,
        height,
        left,
        top,
        right,
        bottom,
        bars: vec![],
        markers: vec![],
        xticks: vec![],
        yticks: vec![],
        empty: true,
    };
    let b = activity.bucket_seconds.max(1);
    let (Some(first), Some(last)) = (activity.buckets.first(), activity.buckets.last()) else {
        return chart;
    };
    let (t0, t1) = (first.start, last.start + b);
    let n = ((t1 - t0) / b).max(1);
    let value = |bk: &super::facts::Bucket| if denied { bk.denied } else { bk.requests };
    let max = activity.buckets.iter().map(value).max().unwrap_or(0).max(1);
    chart.empty = activity.buckets.iter().all(|bk| value(bk) == 0);
    let slot = (right - left) / n as f64;
    let x_of = |t: i64| left + (t - t0) as f64 / (t1 - t0).max(1) as f64 * (right - left);
    for bk in &activity.buckets {
        let v = value(bk);
        if v == 0 {
            continue;
        }
        let h = v as f64 / max as f64 * (bottom - top);
        chart.bars.push(Rect {
            x: round(x_of(bk.start)),
            y: round(bottom - h),
            w: round((slot - 1.0).max(0.5)),
            h: round(h),
            title: format!("{}: {v}", when(bk.start, b.min(3600))),
        });
    }
    for (t, severity, label) in marks {
        if *t < t0 || *t > t1 {
            continue;
        }
        chart.markers.push(Marker {
            x: round(x_of(*t)),
            y: top - 12.0,
            severity,
            title: label.clone(),
        });
    }
    let ticks = 5;
    for i in 0..=ticks {
        let t = t0 + (t1 - t0) * i / ticks;
        chart.xticks.push(Tick {
            at: round(x_of(t)),
            label: when(t, b),
        });
    }
    for v in [0, max / 2, max] {
        chart.yticks.push(Tick {
            at: round(bottom - v as f64 / max as f64 * (bottom - top)),
            label: v.to_string(),
        });
    }
    chart
}

/// Horizontal bars for `(label, value, note)`.
pub fn bar_chart(items: &[(String, i64, String)]) -> BarChart {
    let (width, row, bar_h) = (480.0, 38.0, 14.0);
    let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1);
    let rows = items
        .iter()
        .enumerate()
        .map(|(i, (label, value, note))| {
            let y = i as f64 * row;
            BarRow {
                label: label.clone(),
                value: *value,
                note: note.clone(),
                label_y: y + 14.0,
                bar_y: y + 19.0,
                bar_w: round((*value as f64 / max as f64 * (width - 80.0)).max(1.0)),
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        width,
        height: (rows.len() as f64 * row).max(row),
        bar_h,
        rows,
    }
}

/// The top-N list as bar chart items, denied requests as the note.
pub fn top_items(top: &[Top]) -> Vec<(String, i64, String)> {
    top.iter()
        .map(|t| {
            let note = if t.denied > 0 {
                format!("{} denied", t.denied)
            } else {
                String::new()
            };
            (t.key.clone(), t.requests, note)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::facts::Bucket;

    #[test]
    fn bars_stay_inside_the_plot_and_findings_are_marked_at_their_time() {
        let a = Activity {
            bucket_seconds: 3600,
            buckets: (0..24)
                .map(|h| Bucket {
                    start: 1_767_571_200 + h * 3600,
                    requests: 10 + h,
                    denied: h % 2,
                })
                .collect(),
        };
        let c = time_chart(
            &a,
            false,
            &[(1_767_571_200 + 12 * 3600, "high", "x".into())],
        );
        assert_eq!(c.bars.len(), 24);
        for b in &c.bars {
            assert!(b.x >= c.left && b.x + b.w <= c.right + 0.5, "{b:?}");
            assert!(b.y >= c.top - 0.1 && b.y + b.h <= c.bottom + 0.1, "{b:?}");
        }
        assert_eq!(c.markers.len(), 1);
        assert!((c.markers[0].x - (c.left + c.right) / 2.0).abs() < 1.0);
        let d = time_chart(&a, true, &[]);
        assert_eq!(d.bars.len(), 12, "only hours with denials have bars");
    }
}
