//! kubetrail's detection rules and the engine that runs them.
//!
//! A rule is a YAML file under `rules/pack/<category>/<id>.yaml`: metadata (id, title, category,
//! severity, MITRE ATT&CK, the audit level it needs, a description for triage), a SQL query over
//! the views `events_window` and `events_history`, and test events that must make it fire or
//! keep it quiet. The pack is embedded in the binary at build time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rules::RuleError> {
//! let pack = rules::pack::builtin()?;
//! let opts = rules::engine::DetectOptions {
//!     lake: "kubetrail-lake".into(), cluster: None, since: None, until: None,
//!     baseline: chrono::Duration::days(7), min_severity: rules::rule::Severity::Info,
//!     allowlist: Default::default(), iocs: Default::default(),
//!     memory: query::memory::MemoryLimit::machine_default(), column_key: None,
//!     engine: Default::default(), jobs: rules::engine::DEFAULT_JOBS,
//! };
//! let report = rules::engine::detect(&opts, &pack, &|_, _, _| {}).await?;
//! println!("{} findings", report.findings.len());
//! # Ok(()) }
//! ```

pub mod allowlist;
pub mod body_name;
pub mod contract;
pub mod engine;
pub mod error;
pub mod export;
pub mod finding;
pub mod incident;
pub mod pack;
pub use rules_spec::rule;
pub mod sigma;
pub mod testing;

pub use error::{Result, RuleError};
