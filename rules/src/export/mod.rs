//! The rule pack for other engines: each rule's SQL translated for Spark, DuckDB or Trino, as one
//! statement that defines the views it reads (`events`, `events_window`, `events_history`) and
//! selects one row per matching request with a text `audit_id`.
//!
//! ```no_run
//! # fn demo() -> Result<(), rules::RuleError> {
//! use rules::export::{Bounds, Dialect, Source, Target};
//! let pack = rules::pack::builtin()?;
//! let target = Target {
//!     dialect: Dialect::Duckdb,
//!     source: Source::Lake("/data/lake".into()),
//!     bounds: Bounds::Parameters,
//! };
//! let export = rules::export::export(&pack, &target);
//! export.write("pack-duckdb".as_ref())?;
//! # Ok(()) }
//! ```
//!
//! The parts, one job each: [`dialect`] (how an engine spells literals, identifiers, types),
//! [`translate`] (DataFusion functions and syntax to the engine's), [`inline`] (kubetrail's
//! own functions as plain SQL), [`unnest`] (Trino's CROSS JOIN UNNEST), [`views`] (the views over the lake and the window bounds),
//! [`script`] (one rule as one statement) and [`reason`] (why a rule is left out).

pub mod dialect;
pub mod inline;
pub mod reason;
pub mod script;
pub mod translate;
pub mod unnest;
pub mod views;

use std::path::Path;

use serde::Serialize;

pub use dialect::Dialect;
pub use reason::Unsupported;
pub use script::Target;
pub use views::{Bounds, Source};

use crate::error::{Result, RuleError};
use crate::rule::Rule;

/// Version of `index.json`.
pub const INDEX_SCHEMA_VERSION: &str = "1";

/// The index file an export writes beside the rules' files.
pub const INDEX_FILE: &str = "index.json";

/// One exported rule.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub rule_id: String,
    /// `RULE_ID.sql`
    pub file: String,
    #[serde(skip)]
    pub sql: String,
}

/// One rule left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub rule_id: String,
    /// The reason as a sentence.
    pub reason: String,
    /// The reason as data.
    pub detail: Unsupported,
}

/// The pack for one engine.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub schema_version: &'static str,
    pub tool_version: &'static str,
    pub rule_pack_version: String,
    pub dialect: Dialect,
    /// The lake's files or the table the statements read.
    pub source: String,
    /// The window, or `null` when the statements take it as parameters.
    pub since: Option<String>,
    pub until: Option<String>,
    pub baseline_seconds: Option<i64>,
    pub exported: Vec<Exported>,
    pub not_exported: Vec<Skipped>,
}

/// Translate every rule for `target`; rules that cannot be translated are listed, not fatal.
pub fn export(rules: &[Rule], target: &Target) -> Export {
    let mut exported = Vec::new();
    let mut not_exported = Vec::new();
    for rule in rules {
        match script::statement(rule, target) {
            Ok(sql) => exported.push(Exported {
                rule_id: rule.id.clone(),
                file: format!("{}.sql", rule.id),
                sql,
            }),
            Err(detail) => not_exported.push(Skipped {
                rule_id: rule.id.clone(),
                reason: detail.to_string(),
                detail,
            }),
        }
    }
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (since, until, baseline_seconds) = match target.bounds {
        Bounds::Fixed {
            since,
            until,
            baseline,
        } => (
            Some(stamp(since)),
            Some(stamp(until)),
            Some(baseline.num_seconds()),
        ),
        Bounds::Parameters => (None, None, None),
    };
    Export {
        schema_version: INDEX_SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        rule_pack_version: crate::pack::pack_version(),
        dialect: target.dialect,
        source: target.source.describe(),
        since,
        until,
        baseline_seconds,
        exported,
        not_exported,
    }
}

impl Export {
    /// Write `DIR/RULE_ID.sql` for each exported rule and `DIR/index.json`, creating `dir`.
    /// Files of rules no longer exported are not removed.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| RuleError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for e in &self.exported {
            let path = dir.join(&e.file);
            std::fs::write(&path, &e.sql).map_err(io(&path))?;
        }
        let path = dir.join(INDEX_FILE);
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| RuleError::Other(format!("encoding {}: {e}", path.display())))?;
        std::fs::write(&path, json + "\n").map_err(io(&path))?;
        Ok(())
    }
}
