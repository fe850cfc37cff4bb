//! Timestamps as audit logs write them: RFC 3339 MicroTime, second-precision v1beta1 times,
//! zone-less CloudWatch Insights times and epoch milliseconds.

use chrono::{DateTime, NaiveDateTime};

/// Microseconds since the Unix epoch (UTC) of a timestamp string, or `None` if it is not one.
///
/// Accepts RFC 3339 with any number of fractional digits and any offset, and the zone-less
/// `YYYY-MM-DD HH:MM:SS[.fff]` form (taken as UTC).
pub fn parse_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(us) = fast_rfc3339_utc(s.as_bytes()) {
        return Some(us);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// The common case, `2024-08-11T15:04:42.938588Z`, without going through chrono's parser.
fn fast_rfc3339_utc(b: &[u8]) -> Option<i64> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut micros = 0i64;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        if rest[0] != b'.' || rest.len() < 2 {
            return None;
        }
        let frac = &rest[1..];
        let mut scale = 100_000i64;
        for &c in frac {
            if !c.is_ascii_digit() {
                return None;
            }
            micros += i64::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + min) * 60_000_000 + sec * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC day (days since the epoch) of a microsecond timestamp.
pub fn day_of(micros: i64) -> i32 {
    micros.div_euclid(86_400_000_000) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn day_string(day: i32) -> String {
    let date =
        DateTime::from_timestamp(i64::from(day) * 86_400, 0).map(|t| t.date_naive().to_string());
    date.unwrap_or_else(|| "1970-01-01".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microtime_is_parsed_exactly() {
        let us = parse_micros("2024-08-11T15:04:42.938588Z");
        let chrono_us = DateTime::parse_from_rfc3339("2024-08-11T15:04:42.938588Z")
            .map(|t| t.timestamp_micros())
            .ok();
        assert_eq!(us, chrono_us);
    }

    #[test]
    fn second_precision_and_offsets_and_nanos_are_accepted() {
        assert_eq!(parse_micros("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_micros("1970-01-01T01:00:01+01:00"), Some(1_000_000));
        assert_eq!(
            parse_micros("1970-01-01T00:00:01.123456789Z"),
            Some(1_123_456)
        );
        assert_eq!(parse_micros("1970-01-01 00:00:01.500"), Some(1_500_000));
    }

    #[test]
    fn garbage_is_not_a_time() {
        assert_eq!(parse_micros("yesterday"), None);
        assert_eq!(parse_micros(""), None);
        assert_eq!(parse_micros("2024-13-11T15:04:42Z"), None);
    }

    #[test]
    fn days_round_trip() {
        let us = parse_micros("2024-05-01T23:59:59.999999Z").expect("present");
        assert_eq!(day_string(day_of(us)), "2024-05-01");
        assert_eq!(day_string(day_of(-1)), "1969-12-31");
    }
}
