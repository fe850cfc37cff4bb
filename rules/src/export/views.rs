//! The views an exported rule reads, as common table expressions in front of its query:
//! `events` (the lake's files, or a table the engine already has), `events_window` (the
//! analysed window) and `events_history` (the baseline before it), with the window bounds
//! either fixed or as the engine's own parameters.
//!
//! They mean what `kubetrail detect` means by them (`query::session::register_window`): the
//! window is `since <= ts < until`, the history `since - baseline <= ts < since`.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use ingest::schema::{Kind, all_columns, col};

use super::dialect::Dialect;
use super::reason::Unsupported;

/// Where `events` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A table (or view) the engine already has over the lake, with the lake's columns,
    /// `cluster` and `day` included: a Hive table on Trino, a catalog table on Spark.
    Table(String),
    /// The lake's Parquet files under `LAKE/events/cluster=*/day=*/`, read directly (an
    /// absolute path; Spark and DuckDB only).
    Lake(PathBuf),
    /// The same files in a lake on object storage, by the URL kubetrail reads it at
    /// (`s3://BUCKET/PREFIX`, `gs://...`, `az://...`, `abfss://...`); the engine reads them with
    /// its own object-store support and credentials (DuckDB's httpfs or azure extension, Spark's
    /// Hadoop connectors). Spark and DuckDB only.
    Bucket(String),
}

impl Source {
    /// Whether `dialect` can read `events` from this source: the check a command makes before
    /// exporting any rule, with the reason when it cannot.
    pub fn check(&self, dialect: Dialect) -> Result<(), Unsupported> {
        events(self, dialect).map(|_| ())
    }

    /// How the source reads in a script's header and the export's index.
    pub fn describe(&self) -> String {
        match self {
            Source::Lake(p) => p.display().to_string(),
            Source::Bucket(url) => url.clone(),
            Source::Table(t) => t.clone(),
        }
    }
}

/// The lake's root as `dialect` names it: a folder as it is, a bucket URL in the scheme the
/// engine's connector registers (Spark's Hadoop S3 connector is `s3a://`; its Azure one wants
/// the account in the URL, which `az://CONTAINER/...` lacks).
fn lake_root(source: &Source, dialect: Dialect) -> Result<Option<String>, Unsupported> {
    let url = match source {
        Source::Table(_) => return Ok(None),
        Source::Lake(p) => return Ok(Some(p.to_string_lossy().into_owned())),
        Source::Bucket(url) => url.trim_end_matches('/'),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(Some(url.to_owned()));
    };
    let scheme = scheme.to_ascii_lowercase();
    let spelled = match (dialect, scheme.as_str()) {
        (Dialect::Spark, "s3" | "s3a") => format!("s3a://{rest}"),
        (Dialect::Spark, "az" | "azure" | "adl") => {
            return Err(Unsupported::Construct {
                what: format!(
                    "reading {url}: Spark's Azure connector needs the storage account in the URL; give the lake as abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH"
                ),
                dialect,
            });
        }
        (Dialect::Duckdb, "s3a") => format!("s3://{rest}"),
        _ => format!("{scheme}://{rest}"),
    };
    Ok(Some(spelled))
}

/// The analysed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// Fixed: the script is complete.
    Fixed {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        /// How far `events_history` reaches before `since`.
        baseline: Duration,
    },
    /// The engine's parameters: see [`Bounds::parameter_help`].
    Parameters,
}

/// The parameters of a parametrised export, by name.
pub const PARAMETERS: [&str; 3] = [
    "kubetrail_since",
    "kubetrail_until",
    "kubetrail_history_since",
];

impl Bounds {
    /// How a person supplies the parameters on `dialect`, for the header of each file.
    pub fn parameter_help(self, dialect: Dialect, history: bool) -> Option<String> {
        if self != Bounds::Parameters {
            return None;
        }
        Some(match dialect {
            Dialect::Duckdb => format!(
                "SET VARIABLE kubetrail_since = TIMESTAMP '...'; and likewise kubetrail_until{} (UTC) before running it",
                if history {
                    ", kubetrail_history_since"
                } else {
                    ""
                }
            ),
            Dialect::Spark => format!(
                "set kubetrail_since, kubetrail_until{} to TIMESTAMP literals (spark-sql -d NAME=..., or spark.conf.set in Python)",
                if history {
                    ", kubetrail_history_since"
                } else {
                    ""
                }
            ),
            Dialect::Trino => format!(
                "EXECUTE with the positional parameters since, until{} (TIMESTAMP, UTC)",
                if history {
                    ", history_since, since"
                } else {
                    ""
                }
            ),
        })
    }
}

fn parameter(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Duckdb => format!("getvariable('{name}')"),
        Dialect::Spark => format!("${{{name}}}"),
        Dialect::Trino => "?".to_string(),
    }
}

fn quoted_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `name` quoted as an identifier in the PostgreSQL form the rules use (rendered for the
/// engine by [`Dialect::render`]).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The `events` CTE body.
fn events(source: &Source, dialect: Dialect) -> Result<String, Unsupported> {
    match (source, dialect) {
        (Source::Table(name), _) => Ok(format!("SELECT * FROM {name}")),
        (Source::Lake(_) | Source::Bucket(_), Dialect::Duckdb) => {
            let root = lake_root(source, dialect)?.unwrap_or_default();
            let files = format!("{root}/{}/*/*/*.parquet", ingest::sink::layout::EVENTS_DIR);
            // DuckDB reads a UTC-adjusted Parquet timestamp as TIMESTAMPTZ, which date_trunc and
            // comparisons with literals read in the session's time zone: turn each into a
            // TIMESTAMP in UTC, as DataFusion has it.
            let mut replaced: Vec<String> = all_columns()
                .filter(|c| c.kind == Kind::Timestamp)
                .map(|c| format!("timezone('UTC', {0}) AS {0}", c.name))
                .collect();
            // Files written before schema 1.2 have no actor_kind (union_by_name reads NULL):
            // decided from the user as ingest decides it, as `kubetrail query` does.
            replaced.push(format!(
                "coalesce({k}, {case}) AS {k}",
                k = col::ACTOR_KIND,
                case = ingest::ActorKind::case_sql(col::USERNAME, col::USER_GROUPS)
            ));
            Ok(format!(
                "SELECT * REPLACE ({}) FROM read_parquet({}, hive_partitioning = true, \
                 hive_types = {{'{}': VARCHAR, '{}': DATE}}, union_by_name = true)",
                replaced.join(", "),
                quoted_text(&files),
                col::CLUSTER,
                col::DAY,
            ))
        }
        (Source::Lake(_) | Source::Bucket(_), Dialect::Spark) => {
            let root = lake_root(source, dialect)?.unwrap_or_default();
            let dir = format!("{root}/{}", ingest::sink::layout::EVENTS_DIR);
            Ok(format!("SELECT * FROM parquet.{}", ident(&dir)))
        }
        (Source::Lake(_) | Source::Bucket(_), Dialect::Trino) => Err(Unsupported::Construct {
            what: "reading Parquet files by path (give the lake's Hive table instead)".into(),
            dialect,
        }),
    }
}

/// The CTEs in front of a rule: `events`, `events_window` and, when the rule reads it,
/// `events_history`, each `name AS (query)` in the rules' PostgreSQL form.
pub fn ctes(
    source: &Source,
    bounds: Bounds,
    dialect: Dialect,
    history: bool,
) -> Result<Vec<String>, Unsupported> {
    let (window, past) = match bounds {
        Bounds::Fixed {
            since,
            until,
            baseline,
        } => {
            let t = |x| dialect.timestamp(x);
            let d = |x| dialect.date(x);
            let start = since - baseline;
            (
                format!(
                    "ts >= {} AND ts < {} AND day >= {} AND day <= {}",
                    t(since),
                    t(until),
                    d(since),
                    d(until)
                ),
                format!(
                    "ts >= {} AND ts < {} AND day >= {} AND day <= {}",
                    t(start),
                    t(since),
                    d(start),
                    d(since)
                ),
            )
        }
        Bounds::Parameters => {
            let [since, until, history_since] = PARAMETERS.map(|p| parameter(dialect, p));
            (
                format!("ts >= {since} AND ts < {until}"),
                format!("ts >= {history_since} AND ts < {since}"),
            )
        }
    };
    let mut out = Vec::new();
    // A table already called `events` is read as it is: `events AS (SELECT * FROM events)`
    // would name itself.
    if source != &Source::Table("events".into()) {
        out.push(format!("events AS ({})", events(source, dialect)?));
    }
    out.push(format!(
        "events_window AS (SELECT * FROM events WHERE {window})"
    ));
    if history {
        out.push(format!(
            "events_history AS (SELECT * FROM events WHERE {past})"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn fixed_bounds_give_detects_window_and_history() {
        let bounds = Bounds::Fixed {
            since: at("2026-01-05T06:00:00Z"),
            until: at("2026-01-06T00:00:00Z"),
            baseline: Duration::days(7),
        };
        let got = ctes(&Source::Table("t".into()), bounds, Dialect::Trino, true).expect("ctes");
        assert_eq!(got[0], "events AS (SELECT * FROM t)");
        assert!(
            got[1].contains("ts >= TIMESTAMP '2026-01-05 06:00:00.000000' AND ts < TIMESTAMP '2026-01-06 00:00:00.000000'"),
            "{}",
            got[1]
        );
        assert!(
            got[2].contains("ts >= TIMESTAMP '2025-12-29 06:00:00.000000' AND ts < TIMESTAMP '2026-01-05 06:00:00.000000'"),
            "{}",
            got[2]
        );
    }

    #[test]
    fn history_is_defined_only_for_rules_that_read_it() {
        let got = ctes(
            &Source::Table("events_all".into()),
            Bounds::Parameters,
            Dialect::Duckdb,
            false,
        )
        .expect("ctes");
        assert_eq!(got.len(), 2);
        assert!(
            got[1].contains("getvariable('kubetrail_since')"),
            "{}",
            got[1]
        );
    }

    #[test]
    fn a_lake_in_a_bucket_is_read_at_its_url_in_each_engines_scheme() {
        let s3 = Source::Bucket("s3://audit/prod/".into());
        let duck = ctes(&s3, Bounds::Parameters, Dialect::Duckdb, false).expect("duckdb");
        assert!(
            duck[0].contains("read_parquet('s3://audit/prod/events/*/*/*.parquet'"),
            "{}",
            duck[0]
        );
        let spark = ctes(&s3, Bounds::Parameters, Dialect::Spark, false).expect("spark");
        assert!(
            spark[0].contains(r#"parquet."s3a://audit/prod/events""#),
            "{}",
            spark[0]
        );
        let gs = Source::Bucket("gs://audit".into());
        let spark = ctes(&gs, Bounds::Parameters, Dialect::Spark, false).expect("spark");
        assert!(
            spark[0].contains(r#"parquet."gs://audit/events""#),
            "{}",
            spark[0]
        );
        let az = Source::Bucket("az://logs/lake".into());
        assert!(az.check(Dialect::Duckdb).is_ok());
        let refused = az
            .check(Dialect::Spark)
            .expect_err("spark needs the account");
        assert!(refused.to_string().contains("abfss://"), "{refused}");
        assert!(s3.check(Dialect::Trino).is_err());
    }

    #[test]
    fn trino_reads_a_table_not_files() {
        let got = ctes(
            &Source::Lake("/lake".into()),
            Bounds::Parameters,
            Dialect::Trino,
            false,
        );
        assert!(got.is_err());
    }
}
