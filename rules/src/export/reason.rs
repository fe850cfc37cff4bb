//! Why a rule could not be exported to an engine.

use serde::Serialize;

use super::dialect::Dialect;

/// Why a rule's SQL has no faithful form on an engine. The rule is left out of the export and
/// listed with this reason (stderr and `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Unsupported {
    /// A function kubetrail registers whose work needs Rust code, not SQL.
    KubetrailFunction { name: String, why: &'static str },
    /// A DataFusion function with no translation to the engine.
    Function { name: String, dialect: Dialect },
    /// A construct the engine spells so differently that the rule must be rewritten by hand.
    Construct { what: String, dialect: Dialect },
    /// SQL the exporter cannot read (it reads what DataFusion's PostgreSQL dialect reads).
    Syntax(String),
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::KubetrailFunction { name, why } => write!(f, "{name}(): {why}"),
            Unsupported::Function { name, dialect } => {
                write!(f, "function {name}() has no translation to {dialect}")
            }
            Unsupported::Construct { what, dialect } => write!(f, "{what} on {dialect}"),
            Unsupported::Syntax(message) => write!(f, "cannot read the SQL: {message}"),
        }
    }
}

impl Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}
