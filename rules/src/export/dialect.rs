//! The engines the pack exports to, and how each one spells what the rules' SQL says: text
//! literals, quoted identifiers, type names, timestamps and the lake's files.

use chrono::{DateTime, Utc};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::reason::Unsupported;

/// An engine the rule pack is exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Apache Spark SQL (3.4 and later; the tests run 4.x), through `spark-sql` or `spark.sql()`.
    Spark,
    /// DuckDB (1.1 and later), through its CLI or `duckdb.sql()`.
    Duckdb,
    /// Trino (and Starburst, Athena engine 3) over a Hive table of the lake.
    Trino,
}

impl Dialect {
    /// Every dialect, in the order `--dialect` lists them.
    pub const ALL: [Dialect; 3] = [Dialect::Spark, Dialect::Duckdb, Dialect::Trino];

    /// The name `--dialect` takes and the export index records.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Spark => "spark",
            Dialect::Duckdb => "duckdb",
            Dialect::Trino => "trino",
        }
    }

    /// The dialect called `name`.
    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The type a text column is cast to.
    pub fn text_type(self) -> &'static str {
        match self {
            Dialect::Spark => "STRING",
            Dialect::Duckdb | Dialect::Trino => "VARCHAR",
        }
    }

    /// A timestamp literal for the instant `t`, comparable with the lake's `ts` column as the
    /// engine reads it (see [`super::views`]).
    pub fn timestamp(self, t: DateTime<Utc>) -> String {
        match self {
            // Spark's TIMESTAMP is an instant: the zone makes the literal mean the same instant
            // whatever spark.sql.session.timeZone is.
            Dialect::Spark => format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            // DuckDB: the events view turns `ts` into a TIMESTAMP in UTC; Trino's Hive connector
            // reads Parquet timestamps as TIMESTAMP in UTC (hive.parquet.time-zone = UTC).
            Dialect::Duckdb | Dialect::Trino => {
                format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
            }
        }
    }

    /// A DATE literal for the UTC day of `t`, for the `day` partition.
    pub fn date(self, t: DateTime<Utc>) -> String {
        format!("DATE '{}'", t.format("%Y-%m-%d"))
    }

    /// Render SQL written in the PostgreSQL form the rules use (double-quoted identifiers,
    /// standard `'...'` literals where a backslash is a backslash) as this engine reads it.
    ///
    /// Only Spark differs: it quotes identifiers with backticks (a double-quoted word is a text
    /// literal there) and reads a backslash in a literal as an escape, so `'\.'` must be written
    /// `'\\.'` for a regular expression to see `\.`.
    pub fn render(self, sql: &str) -> Result<String, Unsupported> {
        if self != Dialect::Spark {
            return Ok(sql.to_string());
        }
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize()
            .map_err(|e| Unsupported::Syntax(format!("re-reading the translated SQL: {e}")))?;
        let mut out = String::with_capacity(sql.len() + sql.len() / 8);
        for token in tokens {
            match token {
                Token::SingleQuotedString(s) => out.push_str(&spark_text(&s)),
                Token::Word(w) if w.quote_style == Some('"') => {
                    out.push('`');
                    out.push_str(&w.value.replace('`', "``"));
                    out.push('`');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        Ok(out)
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Spark SQL text literal holding exactly `s`: backslashes and quotes escaped with a
/// backslash (Spark unescapes literals by default, `spark.sql.parser.escapedStringLiterals`).
fn spark_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_reads_backslashes_and_quotes_in_literals_as_written() {
        let got = Dialect::Spark
            .render(r#"SELECT "cluster" FROM t WHERE regexp_like(x, '^a\.b''s')"#)
            .expect("renders");
        assert_eq!(
            got,
            r"SELECT `cluster` FROM t WHERE regexp_like(x, '^a\\.b\'s')"
        );
    }

    #[test]
    fn duckdb_and_trino_keep_standard_literals_and_identifiers() {
        let sql = r#"SELECT "cluster" FROM t WHERE x = 'a\.b''s'"#;
        assert_eq!(Dialect::Duckdb.render(sql).expect("renders"), sql);
        assert_eq!(Dialect::Trino.render(sql).expect("renders"), sql);
    }

    #[test]
    fn every_dialect_is_found_by_its_name() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::parse(d.name()), Some(d));
        }
        assert_eq!(Dialect::parse("postgres"), None);
    }
}
