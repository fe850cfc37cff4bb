//! Times on the command line: RFC 3339, a date, or a duration back from now (`90m`, `24h`, `7d`).

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Parse a duration such as `30s`, `90m`, `24h`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    match unit {
        "s" => Some(Duration::seconds(n)),
        "m" | "min" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        "w" => Some(Duration::weeks(n)),
        _ => None,
    }
}

/// Parse a point in time relative to `now`.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Some(d) = parse_duration(s) {
        return Ok(now - d);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "cannot read time {s:?}: expected RFC 3339 (2026-01-05T10:00:00Z), a date (2026-01-05) or a duration back from now (24h, 7d)"
    ))
}

/// A timestamp literal for SQL.
pub fn sql_ts(t: DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_count_back_from_now() {
        let now = Utc::now();
        assert_eq!(parse_time("24h", now), Ok(now - Duration::hours(24)));
        assert_eq!(parse_time("7d", now), Ok(now - Duration::days(7)));
    }

    #[test]
    fn absolute_times_and_dates_are_accepted_and_junk_is_explained() {
        let now = Utc::now();
        assert!(parse_time("2026-01-05T10:00:00Z", now).is_ok());
        assert!(parse_time("2026-01-05", now).is_ok());
        let err = parse_time("last tuesday", now).unwrap_err();
        assert!(err.contains("RFC 3339"));
    }
}
