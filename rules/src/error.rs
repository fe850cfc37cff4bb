//! Errors of the rules library: each names the rule file or id it is about.

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rule file {file}: {message}")]
    Parse { file: String, message: String },
    #[error("rule file {file}: {message}")]
    Invalid { file: String, message: String },
    /// Rules whose SQL or metadata break the rule contract, one line each.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Contract(Vec<crate::contract::Violation>),
    #[error("rule {0} is defined twice")]
    Duplicate(String),
    #[error("no rule with id {0}; `kubetrail rules list` shows them")]
    Unknown(String),
    #[error("reading rules from {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rule {rule}: {message}")]
    Run { rule: String, message: String },
    /// The rule's query needed more memory than the limit allows.
    #[error("rule {rule}: {message}")]
    OutOfMemory { rule: String, message: String },
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = RuleError> = std::result::Result<T, E>;

impl From<rules_spec::rule::RuleFileError> for RuleError {
    fn from(e: rules_spec::rule::RuleFileError) -> Self {
        use rules_spec::rule::RuleFileError as F;
        match e {
            F::Parse { file, message } => RuleError::Parse { file, message },
            F::Invalid { file, message } => RuleError::Invalid { file, message },
        }
    }
}
