//! A DataFusion session over a lake: the `events` table (a view over the lake's files that fills
//! the columns older files lack), audit SQL functions, the settings that make Parquet pruning
//! work, and the `events_window` / `events_history` views the rules read (with their summaries,
//! see [`crate::summarised`]).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use ingest::sink::encryption::{ColumnKey, Marker};

use crate::error::{QueryError, Result};
use crate::lake::{Encryption, EventsTable, LakeRoot, TextColumns};
use crate::memory::MemoryLimit;
use crate::timearg::sql_ts;

/// What `events` shows: `--cluster`, `--since` and `--until` narrow it without a WHERE clause.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub cluster: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Scope {
    /// The WHERE clause of the scope, or `None` when it is unrestricted.
    pub fn predicate(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(c) = &self.cluster {
            parts.push(format!("cluster = '{}'", c.replace('\'', "''")));
        }
        if let Some(s) = self.since {
            parts.push(format!("ts >= {}", sql_ts(s)));
        }
        if let Some(u) = self.until {
            parts.push(format!("ts < {}", sql_ts(u)));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }
}

/// The ingest-time summary table (see `ingest::summary`).
pub const SUMMARY_TABLE: &str = "events_summary";

/// Name under which the lake's files are registered; `events` is a view over it.
pub const LAKE_TABLE: &str = "lake_events";
/// The view over [`LAKE_TABLE`] that analysts and rules read.
const EVENTS_VIEW: &str = "events";

/// `CREATE VIEW events`: every column of [`LAKE_TABLE`] in schema order, the columns older files
/// lack filled from the others (so `actor_kind` is never null, whichever schema wrote a row), and
/// the scope's WHERE clause.
fn events_view_sql(scope: &Scope, sealed: bool) -> String {
    let columns: Vec<String> = ingest::schema::all_columns()
        .map(|column| {
            let name = column.name;
            if sealed && ingest::sink::encryption::ENCRYPTED_COLUMNS.contains(&name) {
                return format!("{} AS \"{name}\"", crate::sealed::expression(name));
            }
            match crate::lake::DERIVED_COLUMNS
                .iter()
                .find(|(derived, _)| *derived == name)
            {
                Some((_, expr)) => format!("coalesce(\"{name}\", {expr}) AS \"{name}\""),
                None => format!("\"{name}\""),
            }
        })
        .collect();
    let mut sql = format!(
        "CREATE VIEW {EVENTS_VIEW} AS SELECT {} FROM {LAKE_TABLE}",
        columns.join(", ")
    );
    if let Some(pred) = scope.predicate() {
        sql.push_str(" WHERE ");
        sql.push_str(&pred);
    }
    sql
}

/// Refuse a path that is not a lake: readers never create anything in it, and a mistyped path
/// must not answer "no rows" as if the lake were clean.
pub fn check_lake(lake: &Path) -> Result<()> {
    use ingest::sink::layout::{EVENTS_DIR, META_DIR};
    if !lake.exists() {
        return Err(QueryError::NoLake(lake.to_path_buf()));
    }
    if !lake.join(META_DIR).is_dir() && !lake.join(EVENTS_DIR).is_dir() {
        return Err(QueryError::NotALake(lake.to_path_buf()));
    }
    Ok(())
}

/// A session with kubetrail's settings and SQL functions, holding at most `memory`, and no
/// tables yet.
fn with_functions(memory: MemoryLimit) -> Result<SessionContext> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = SessionConfig::new()
        .with_target_partitions(threads)
        .with_information_schema(true)
        .with_parquet_pruning(true)
        .with_collect_statistics(false);
    let opts = config.options_mut();
    // Not `pushdown_filters`: in DataFusion 55 a pushed-down predicate that reads a list column
    // (e.g. `regexp_like(array_to_string(pod_tolerations, '|'), ...)` in an OR) is dropped by the
    // scan while the FilterExec above it is removed, so rows pass unfiltered. Row-group and page
    // pruning from statistics and bloom filters still apply.
    opts.execution.parquet.pushdown_filters = false;
    // Not leaf-expression pushdown: in DataFusion 55 a query that reads a map or struct field
    // (`object_labels['...']`) through a view that computes a column under its own name drops
    // the computation (apache/datafusion#25414): `events.actor_kind` read as the raw, null
    // column of files from before schema 1.2.
    opts.optimizer.enable_leaf_expression_pushdown = false;
    // A sort that spilled reserves this much to merge its runs; DataFusion's 10 MB default alone
    // exceeds a small limit once a rule sorts in several window functions at once.
    opts.execution.sort_spill_reservation_bytes = memory.sort_merge_reservation();
    opts.execution.parquet.enable_page_index = true;
    opts.execution.parquet.bloom_filter_on_read = true;
    opts.sql_parser.enable_ident_normalization = true;
    // PostgreSQL's grammar: the generic dialect allows trailing commas in select lists and so
    // reads `SELECT ts, cluster FROM events` as `CLUSTER BY`.
    opts.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    // Sorts, aggregations and joins reserve from the pool and spill to the temporary folder
    // when it is full; a query that still cannot fit fails naming the limit.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(memory.pool())
        .build_arc()?;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    let mut ctx = SessionContext::new_with_state(state);
    register_functions(&mut ctx)?;
    Ok(ctx)
}

/// Register kubetrail's SQL functions in `ctx`: the JSON functions and the audit ones. Engines
/// that run plans in other processes register the same set there (see [`crate::engine`]).
pub fn register_functions(ctx: &mut SessionContext) -> Result<()> {
    datafusion_functions_json::register_all(ctx)?;
    // who counts as a person, workload, node, control plane, cloud or anonymous: one place
    ctx.register_udf(crate::actor::udf());
    // the subject a CertificateSigningRequest asks for, decoded from spec.request
    ctx.register_udf(crate::csr::udf());
    // threat-intel addresses: none until detect --ioc-file registers its list
    ctx.register_udf(crate::ioc::udf(Default::default()));
    Ok(())
}

/// A session whose `events`, `events_window` and `events_history` have the lake's columns and no
/// rows: rules are planned against it at load, so a rule that names a missing column or returns
/// the wrong columns is refused before any lake is read.
pub async fn schema_only() -> Result<SessionContext> {
    let ctx = with_functions(MemoryLimit::MIN)?;
    let columns: Vec<_> = ingest::schema::all_columns()
        .map(ingest::schema::field)
        .collect();
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(columns));
    ctx.register_table(
        "events",
        Arc::new(datafusion::datasource::empty::EmptyTable::new(schema)),
    )?;
    let mut summary: Vec<_> = ingest::summary::file_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    summary.extend(
        ingest::schema::all_columns()
            .filter(|c| {
                c.name == ingest::schema::col::CLUSTER || c.name == ingest::schema::col::DAY
            })
            .map(ingest::schema::field),
    );
    ctx.register_table(
        SUMMARY_TABLE,
        Arc::new(datafusion::datasource::empty::EmptyTable::new(Arc::new(
            datafusion::arrow::datatypes::Schema::new(summary),
        ))),
    )?;
    register_window(
        &ctx,
        &Window {
            since: None,
            until: None,
            baseline: Duration::zero(),
        },
    )
    .await?;
    Ok(ctx)
}

/// A session with `events` over the lake at `lake` (see [`check_lake`]), holding at most the
/// memory `KUBETRAIL_MEMORY_LIMIT` sets, else the default (see [`crate::memory`]), and reading
/// an encrypted lake's sensitive columns with the key `KUBETRAIL_ENCRYPTION_KEY_FILE` names.
pub async fn open(lake: &Path, scope: &Scope) -> Result<SessionContext> {
    let key = match std::env::var_os(KEY_FILE_VAR) {
        Some(path) => Some(ColumnKey::load(Path::new(&path))?),
        None => None,
    };
    open_with(lake, scope, MemoryLimit::from_env()?, key.as_ref()).await
}

/// The variable naming the column encryption key file (the readers' `--encryption-key-file`).
pub const KEY_FILE_VAR: &str = "KUBETRAIL_ENCRYPTION_KEY_FILE";

/// [`open`] with an explicit memory limit (`--memory-limit`) and column key
/// (`--encryption-key-file`; ignored for a lake that is not encrypted, refused if it is not the
/// lake's key). Without the key, an encrypted lake's sensitive columns cannot be read. `lake` is
/// a folder or an object-store URL (`s3://bucket/prefix`, see [`store::RemoteLake`]).
pub async fn open_with(
    lake: &Path,
    scope: &Scope,
    memory: MemoryLimit,
    column_key: Option<&ColumnKey>,
) -> Result<SessionContext> {
    open_reading(lake, scope, memory, column_key, TextColumns::Copied).await
}

/// [`open_with`], reading text columns as `text` says: the rule pack reads them as string
/// views (see [`TextColumns`]).
pub async fn open_reading(
    lake: &Path,
    scope: &Scope,
    memory: MemoryLimit,
    column_key: Option<&ColumnKey>,
    text: TextColumns,
) -> Result<SessionContext> {
    if store::is_remote(lake) {
        let remote = store::RemoteLake::open(&lake.to_string_lossy())?;
        return open_remote(&remote, scope, memory, column_key, text).await;
    }
    check_lake(lake)?;
    let ctx = with_functions(memory)?;
    let encryption = encryption(&ctx, lake, Marker::load(lake)?, column_key)?;
    // A lake with a manifest is read as it lists: only committed files, each once. Only this
    // session's file system goes through it.
    if let Some(committed) = crate::committed::CommittedFiles::of_lake(lake)? {
        let local = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
        ctx.register_object_store(local.as_ref(), Arc::new(committed));
    }
    register_tables(&ctx, LakeRoot::Local(lake), encryption, scope, text).await?;
    Ok(ctx)
}

/// [`open_with`] for a lake on object storage: read through its manifest, from its bucket.
pub async fn open_remote(
    lake: &store::RemoteLake,
    scope: &Scope,
    memory: MemoryLimit,
    column_key: Option<&ColumnKey>,
    text: TextColumns,
) -> Result<SessionContext> {
    let ctx = with_functions(memory)?;
    let committed = crate::committed::CommittedFiles::of_remote(lake).await?;
    let encryption = encryption(
        &ctx,
        Path::new(lake.url()),
        lake.marker().await?,
        column_key,
    )?;
    ctx.register_object_store(lake.store_url(), Arc::new(committed));
    register_tables(&ctx, LakeRoot::Remote(lake), encryption, scope, text).await?;
    Ok(ctx)
}

/// How the lake's sensitive columns are read, given its encryption marker and the key given;
/// without the key, the sealed-column functions stand in for them.
fn encryption<'k>(
    ctx: &SessionContext,
    lake: &Path,
    marker: Option<Marker>,
    column_key: Option<&'k ColumnKey>,
) -> Result<Encryption<'k>> {
    Ok(match (marker, column_key) {
        (Some(marker), Some(key)) => {
            marker.check(lake, key)?;
            Encryption::Key(key)
        }
        (Some(marker), None) => {
            for udf in crate::sealed::udfs(&marker.key_id) {
                ctx.register_udf(udf);
            }
            Encryption::NoKey
        }
        (None, _) => Encryption::None,
    })
}

/// From now on read `lake`'s text columns in `ctx` (opened by [`open_reading`]) as `text`: its
/// tables and the `events` view are registered again over the same committed files (the
/// session's store lists the files it listed when it opened, so no later commit comes in). The
/// window views must be registered again after it ([`register_window`]).
pub async fn read_text_as(
    ctx: &SessionContext,
    lake: &Path,
    scope: &Scope,
    column_key: Option<&ColumnKey>,
    text: TextColumns,
) -> Result<()> {
    let remote = match store::is_remote(lake) {
        true => Some(store::RemoteLake::open(&lake.to_string_lossy())?),
        false => None,
    };
    let (root, marker) = match &remote {
        Some(remote) => (LakeRoot::Remote(remote), remote.marker().await?),
        None => (LakeRoot::Local(lake), Marker::load(lake)?),
    };
    let encryption = encryption(ctx, lake, marker, column_key)?;
    for name in [EVENTS_VIEW, LAKE_TABLE, SUMMARY_TABLE] {
        ctx.deregister_table(name)?;
    }
    register_tables(ctx, root, encryption, scope, text).await
}

/// `lake_events`, `events_summary` and the `events` view over the lake at `root`.
async fn register_tables(
    ctx: &SessionContext,
    root: LakeRoot<'_>,
    encryption: Encryption<'_>,
    scope: &Scope,
    text: TextColumns,
) -> Result<()> {
    let table = Arc::new(EventsTable::open(root, encryption, text)?);
    // per cluster, day, identity, address, agent and action: counts and first/last time
    // (unaffected by the scope: filter on cluster and day)
    ctx.register_table(SUMMARY_TABLE, crate::lake::summary_table(root)?)?;
    ctx.register_table(LAKE_TABLE, table)?;
    let sealed = matches!(encryption, Encryption::NoKey);
    ctx.sql(&events_view_sql(scope, sealed)).await?;
    // which partitions the summary views may read from the summary: decided at the first window
    let summaries = Arc::new(crate::summarised::Summaries::new(scope.clone()));
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(summaries);
    Ok(())
}

/// The analysed window and the history before it, as the rules see them.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// How far back `events_history` reaches before `since`.
    pub baseline: Duration,
}

/// (Re)define `events_window` and `events_history` over `events`, and their summaries
/// `summary_window` and `summary_history` (see [`crate::summarised`]).
pub async fn register_window(ctx: &SessionContext, w: &Window) -> Result<()> {
    let mut window = Vec::new();
    if let Some(s) = w.since {
        window.push(format!("ts >= {}", sql_ts(s)));
    }
    if let Some(u) = w.until {
        window.push(format!("ts < {}", sql_ts(u)));
    }
    let where_window = if window.is_empty() {
        "TRUE".to_string()
    } else {
        window.join(" AND ")
    };
    let where_history = match w.since {
        Some(s) => format!("ts >= {} AND ts < {}", sql_ts(s - w.baseline), sql_ts(s)),
        None => "FALSE".to_string(),
    };
    for (name, pred) in [
        ("events_window", where_window),
        ("events_history", where_history),
    ] {
        ctx.sql(&format!("DROP VIEW IF EXISTS {name}")).await?;
        ctx.sql(&format!(
            "CREATE VIEW {name} AS SELECT * FROM events WHERE {pred}"
        ))
        .await?;
    }
    let history = w.since.map(|s| (s - w.baseline, s));
    for (name, sql) in crate::summarised::view_sql(ctx, (w.since, w.until), history).await? {
        ctx.sql(&format!("DROP VIEW IF EXISTS {name}")).await?;
        ctx.sql(&sql).await?;
    }
    Ok(())
}
