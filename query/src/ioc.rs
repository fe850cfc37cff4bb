//! Threat intelligence from the user: addresses and networks to look for in `source_ip`, each
//! with a label and the time it was valid, read from a CSV file (`detect --ioc-file`).
//!
//! ```csv
//! # address or CIDR, label, valid from, valid to (RFC 3339 or a date; empty = open)
//! address,label,valid_from,valid_to
//! 203.0.113.66,tor exit (feed X),2026-01-01,2026-02-01
//! 198.51.100.0/24,actor Y staging,,
//! 2001:db8:66::/48,actor Y v6,2026-01-10T00:00:00Z,
//! ```
//!
//! In SQL, `ioc_label(source_ip, ts)` is the label of the first indicator holding the address at
//! that time, or NULL; a session without a list answers NULL for every address, so rules that
//! use it stay pasteable into `kubetrail shell`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};

/// One indicator: a network, its label and when it was valid (microseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Indicator {
    pub network: IpAddr,
    pub prefix: u8,
    pub label: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

impl Indicator {
    fn holds(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(a)) => self.holds(IpAddr::V6(a.to_ipv6_mapped())),
            (IpAddr::V4(n), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| {
                Indicator {
                    network: IpAddr::V4(n),
                    ..self.clone()
                }
                .holds(IpAddr::V4(a))
            }),
        }
    }

    fn valid_at(&self, ts: Option<i64>) -> bool {
        match ts {
            None => self.valid_from.is_none() && self.valid_to.is_none(),
            Some(t) => {
                self.valid_from.is_none_or(|f| t >= f) && self.valid_to.is_none_or(|u| t < u)
            }
        }
    }
}

/// A list of indicators (serialisable, so that an engine can ship `ioc_label` with its list to
/// the processes that run a plan).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IocList {
    pub indicators: Vec<Indicator>,
}

fn time(s: &str) -> std::result::Result<Option<i64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc).timestamp_micros()));
    }
    if let Some(t) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(Some(t.and_utc().timestamp_micros()));
    }
    Err(format!(
        "{s:?} is not a time: expected RFC 3339 (2026-01-05T10:00:00Z) or a date (2026-01-05)"
    ))
}

fn network(s: &str) -> std::result::Result<(IpAddr, u8), String> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("prefix length {p:?} of {s:?} is not 0..={max}")),
        },
    };
    Ok((ip, prefix))
}

impl IocList {
    /// Parse CSV text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut indicators = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let bad = |message: String| QueryError::Ioc {
                file: origin.to_string(),
                line: i + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            // the header line
            if fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("address"))
            {
                continue;
            }
            if fields.len() != 4 {
                return Err(bad(format!(
                    "expected 4 fields (address or CIDR, label, valid_from, valid_to), found {}",
                    fields.len()
                )));
            }
            let (network, prefix) = network(fields[0]).map_err(bad)?;
            let label = fields[1].trim_matches('"').to_string();
            if label.is_empty() {
                return Err(bad("the label is empty".into()));
            }
            let valid_from = time(fields[2]).map_err(bad)?;
            let valid_to = time(fields[3]).map_err(bad)?;
            if let (Some(f), Some(t)) = (valid_from, valid_to)
                && f >= t
            {
                return Err(bad("valid_from is not before valid_to".into()));
            }
            indicators.push(Indicator {
                network,
                prefix,
                label,
                valid_from,
                valid_to,
            });
        }
        Ok(IocList { indicators })
    }

    /// Read and parse a CSV file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            QueryError::Sql(format!("reading indicator file {}: {e}", path.display()))
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The label of the first indicator holding `ip` at `ts` (microseconds since the epoch).
    pub fn label(&self, ip: &str, ts: Option<i64>) -> Option<&str> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        self.indicators
            .iter()
            .find(|i| i.holds(ip) && i.valid_at(ts))
            .map(|i| i.label.as_str())
    }
}

/// The SQL function's name.
pub const FUNCTION: &str = "ioc_label";

/// The SQL function `ioc_label(source_ip, ts)` over `list`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IocLabel {
    list: Arc<IocList>,
    signature: Signature,
}

/// `ioc_label` over `list`, ready to register (again) in a session.
pub fn udf(list: Arc<IocList>) -> ScalarUDF {
    ScalarUDF::new_from_impl(IocLabel {
        list,
        signature: Signature::any(2, Volatility::Immutable),
    })
}

/// The list `udf` holds, when it is an `ioc_label` function made by [`udf`].
pub fn list_of(udf: &ScalarUDF) -> Option<Arc<IocList>> {
    let inner: &dyn std::any::Any = udf.inner().as_ref();
    inner
        .downcast_ref::<IocLabel>()
        .map(|label| Arc::clone(&label.list))
}

impl ScalarUDFImpl for IocLabel {
    fn name(&self) -> &str {
        FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [ips, times] = arrays.as_slice() else {
            return exec_err!("ioc_label(source_ip, ts) takes two arguments");
        };
        let mut out = StringBuilder::with_capacity(rows, 0);
        if self.list.indicators.is_empty() || ips.data_type() == &DataType::Null {
            (0..rows).for_each(|_| out.append_null());
            let array: ArrayRef = Arc::new(out.finish());
            return Ok(ColumnarValue::Array(array));
        }
        let ips = cast(ips, &DataType::Utf8)?;
        let ips = ips.as_string::<i32>();
        let micros = match times.data_type() {
            DataType::Null => None,
            DataType::Timestamp(_, _) => {
                let t = cast(times, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                Some(cast(&t, &DataType::Int64)?)
            }
            other => return exec_err!("ioc_label: ts must be a timestamp, not {other}"),
        };
        let micros = micros.as_ref().map(|m| m.as_primitive::<Int64Type>());
        for row in 0..rows {
            if ips.is_null(row) {
                out.append_null();
                continue;
            }
            let ts = micros.and_then(|m| (!m.is_null(row)).then(|| m.value(row)));
            out.append_option(self.list.label(ips.value(row), ts));
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = "# test feed\naddress,label,valid_from,valid_to\n\
        203.0.113.66,tor exit,2026-01-01,2026-02-01\n\
        198.51.100.0/24,actor staging,,\n\
        2001:db8:66::/48,actor v6,2026-01-10T00:00:00Z,\n";

    fn at(s: &str) -> Option<i64> {
        time(s).expect("time")
    }

    #[test]
    fn addresses_and_networks_match_within_their_validity() {
        let l = IocList::parse(FEED, "feed.csv").expect("parses");
        assert_eq!(l.indicators.len(), 3);
        assert_eq!(l.label("203.0.113.66", at("2026-01-15")), Some("tor exit"));
        assert_eq!(l.label("203.0.113.66", at("2026-02-02")), None);
        assert_eq!(l.label("203.0.113.67", at("2026-01-15")), None);
        assert_eq!(
            l.label("198.51.100.200", at("2020-01-01")),
            Some("actor staging")
        );
        assert_eq!(l.label("198.51.101.1", at("2026-01-15")), None);
        assert_eq!(
            l.label("2001:db8:66:1::5", at("2026-01-11")),
            Some("actor v6")
        );
        assert_eq!(l.label("2001:db8:66:1::5", at("2026-01-09")), None);
        assert_eq!(l.label("not an address", at("2026-01-11")), None);
    }

    #[test]
    fn bad_lines_are_named_by_file_line_and_reason() {
        let err = IocList::parse(
            "address,label,valid_from,valid_to\n10.0.0.0/33,x,,\n",
            "f.csv",
        )
        .expect_err("prefix too long")
        .to_string();
        assert!(err.starts_with("f.csv:2:"), "{err}");
        assert!(err.contains("prefix length"), "{err}");
        let err = IocList::parse("1.2.3.4,x,yesterday,\n", "f.csv")
            .expect_err("bad time")
            .to_string();
        assert!(
            err.starts_with("f.csv:1:") && err.contains("not a time"),
            "{err}"
        );
        let err = IocList::parse("1.2.3.4,x\n", "f.csv")
            .expect_err("short")
            .to_string();
        assert!(err.contains("expected 4 fields"), "{err}");
    }
}
