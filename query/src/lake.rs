//! The lake's Parquet files as one table (`lake_events`, under the `events` view), with Hive
//! partitions `cluster` and `day`.
//!
//! The table lists `events/` through the session's object store; in a lake with a manifest that
//! store lists only the committed files (see [`crate::committed`]).
//!
//! A filter on `ts` also prunes `day` partitions: the table derives `day` bounds from `ts` bounds
//! before listing files, so a one-hour query opens one day's files, not the whole lake.
//!
//! Files written before a column existed (`actor_kind` before schema 1.2) read it as null, so this
//! table declares such columns nullable; analysts and rules read the `events` view over it
//! ([`crate::session`]), which fills them (see [`DERIVED_COLUMNS`]).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::common::config::{
    ColumnDecryptionProperties, ConfigFileDecryptionProperties, TableParquetOptions,
};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::TableProvider;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown, col, lit};
use datafusion::physical_plan::ExecutionPlan;

use datafusion::arrow::datatypes::{Field, Schema};
use ingest::schema::{col as c, file_schema};
use ingest::sink::encryption::{ColumnKey, encrypted_leaves};

/// Required columns that files of an older schema lack, each with the SQL that computes it from
/// columns every file has. The `events` view yields `coalesce(column, expression)`.
pub const DERIVED_COLUMNS: &[(&str, &str)] =
    &[(c::ACTOR_KIND, "actor_kind(\"username\", \"user_groups\")")];

/// How the lake's text columns are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextColumns {
    /// As `Utf8` arrays: each row's text copied out of its Parquet page. What `query` and
    /// `shell` read, and `report` for its own tables: DataFusion's memory accounting counts
    /// every byte a query holds.
    Copied,
    /// As string views (`Utf8View`) into the decoded pages: a column stored with a dictionary, or
    /// plain, is not copied row by row, which was most of what decoding cost the rule pack (its
    /// 10M-event run 44 -> 27 s). What `detect` (and `report` and `nightly`, which run it)
    /// read under a limit of at least [`TextColumns::VIEWS_FROM`]. DataFusion's accounting then
    /// counts a view, not the page it points into, so an aggregate that keeps every value
    /// (`array_agg` of bodies) can hold more than the limit; the pack has none. And grouping by
    /// view columns reserves 2 MiB per key column at once (see docs/upstream, "String views and
    /// the memory pool").
    Views,
}

impl TextColumns {
    /// The smallest memory limit under which the rule pack reads string views: it needs about
    /// 320 MiB with them (permission-discovery-sweep's groupings), under 64 MiB without.
    pub const VIEWS_FROM: u64 = 512 << 20;

    /// How the rule pack reads text under `limit`: views when the limit leaves room for them.
    pub fn for_rules(limit: crate::memory::MemoryLimit) -> Self {
        if limit.bytes() >= Self::VIEWS_FROM {
            TextColumns::Views
        } else {
            TextColumns::Copied
        }
    }
}

/// The file schema as the lake is read: [`DERIVED_COLUMNS`] nullable, since older files lack
/// them, and text columns as `text` says.
pub fn read_schema(text: TextColumns) -> SchemaRef {
    let schema = file_schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let derived = DERIVED_COLUMNS.iter().any(|(name, _)| name == f.name());
            let field = f.as_ref().clone().with_nullable(f.is_nullable() || derived);
            match (text, field.data_type()) {
                (TextColumns::Views, DataType::Utf8) => field.with_data_type(DataType::Utf8View),
                _ => field,
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Where a lake's table folders are: a local folder, or a lake on object storage.
#[derive(Debug, Clone, Copy)]
pub enum LakeRoot<'a> {
    Local(&'a Path),
    Remote(&'a store::RemoteLake),
}

impl LakeRoot<'_> {
    /// The URL of the table folder `dir`, as a listing table takes it. A local folder's is
    /// absolute and canonical, as the committed-files store lists it, even when the folder does
    /// not exist yet (nothing is created).
    fn table_url(&self, dir: &str) -> Result<ListingTableUrl> {
        match self {
            LakeRoot::Local(lake) => {
                let path = lake.join(dir);
                let abs = std::fs::canonicalize(&path).unwrap_or_else(|_| {
                    std::fs::canonicalize(lake)
                        .map(|l| l.join(dir))
                        .unwrap_or(path)
                });
                ListingTableUrl::parse(format!("{}/", abs.display()))
            }
            LakeRoot::Remote(lake) => ListingTableUrl::parse(lake.table_url(dir)),
        }
    }
}

/// The lake's Parquet files as one table, with columns of older files unfilled (see
/// [`read_schema`]); registered as `lake_events` under the `events` view.
#[derive(Debug)]
pub struct EventsTable {
    inner: Arc<ListingTable>,
}

impl EventsTable {
    /// The table over `lake/events/`. The lake may be empty, `events/` may be missing: nothing is
    /// created (readers never write to the lake). `encryption` says whether the lake is
    /// encrypted and with which key it is read; without the key the sensitive columns cannot be
    /// read, the others can.
    pub fn open(lake: LakeRoot<'_>, encryption: Encryption<'_>, text: TextColumns) -> Result<Self> {
        let format = match encryption {
            Encryption::None => ParquetFormat::default(),
            Encryption::Key(key) => ParquetFormat::default().with_options(decrypting(key)?),
            // The page indexes of encrypted columns are encrypted too, and DataFusion reads
            // every column's: without the key, pages are pruned by row-group statistics only.
            Encryption::NoKey => {
                let mut options = TableParquetOptions::default();
                options.global.enable_page_index = false;
                ParquetFormat::default().with_options(options)
            }
        };
        Ok(EventsTable {
            inner: Arc::new(partitioned(
                lake,
                ingest::sink::layout::EVENTS_DIR,
                read_schema(text),
                format,
            )?),
        })
    }
}

/// How the lake's sensitive columns are read (see `ingest::sink::encryption`).
#[derive(Debug, Clone, Copy)]
pub enum Encryption<'k> {
    /// The lake is not encrypted.
    None,
    /// Encrypted, read with its key.
    Key(&'k ColumnKey),
    /// Encrypted, and no key given: the other columns only.
    NoKey,
}

/// Parquet read options that decrypt the sensitive columns with `key`.
fn decrypting(key: &ColumnKey) -> Result<TableParquetOptions> {
    let schema = ingest::sink::parquet::parquet_schema()
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut options = TableParquetOptions::default();
    options.crypto.file_decryption = Some(ConfigFileDecryptionProperties {
        footer_key_as_hex: key.hex(),
        column_decryption_properties: encrypted_leaves(&schema)
            .into_iter()
            .map(|leaf| {
                let column = ColumnDecryptionProperties {
                    column_key_as_hex: key.hex(),
                };
                (leaf, column)
            })
            .collect(),
        aad_prefix_as_hex: String::new(),
        footer_signature_verification: true,
    });
    Ok(options)
}

/// The lake's `events_summary` table over `lake/summary/` (see [`ingest::summary`]), with the
/// same Hive partitions `cluster` and `day`. Nothing is created if the folder is missing.
pub fn summary_table(lake: LakeRoot<'_>) -> Result<Arc<ListingTable>> {
    Ok(Arc::new(partitioned(
        lake,
        ingest::summary::SUMMARY_DIR,
        ingest::summary::file_schema(),
        ParquetFormat::default(),
    )?))
}

/// The Parquet files under `lake/DIR/cluster=/day=/` as one table with those two partition
/// columns.
fn partitioned(
    lake: LakeRoot<'_>,
    dir: &str,
    schema: SchemaRef,
    format: ParquetFormat,
) -> Result<ListingTable> {
    let url = lake.table_url(dir)?;
    let options = ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            (c::CLUSTER.to_string(), DataType::Utf8),
            (c::DAY.to_string(), DataType::Date32),
        ]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ListingTable::try_new(config)
}

/// `cluster = 'NAME'` as `cluster IN ('NAME')` when NAME's partition directory is percent-encoded
/// (`prod/eu` is in `cluster=prod%2Feu`, see [`ingest::sink::layout::partition_value`]).
///
/// DataFusion turns `cluster = 'NAME'` into a listing prefix `cluster=NAME`, escaping fewer
/// characters than Hive does (not `:` `=` `*` ...), so that prefix may name a directory that does
/// not exist and the rows are missed. The `IN` form gives no prefix: every `cluster=` directory is
/// listed and its decoded value compared, which is always right.
pub fn cluster_by_value(filter: Expr) -> Expr {
    let rewritten = filter.clone().transform_up(|e| {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = &e
        else {
            return Ok(Transformed::no(e));
        };
        let (column, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(column), Expr::Literal(v, _))
            | (Expr::Literal(v, _), Expr::Column(column))
                if column.name == c::CLUSTER =>
            {
                (column, v)
            }
            _ => return Ok(Transformed::no(e)),
        };
        match value.try_as_str().flatten() {
            Some(name) if ingest::sink::layout::partition_value(name) != name => {
                let in_list = Expr::Column(column.clone()).in_list(vec![lit(name)], false);
                Ok(Transformed::yes(in_list))
            }
            _ => Ok(Transformed::no(e)),
        }
    });
    // The closure never fails; were it to, the filter stays as it was.
    rewritten.map_or(filter, |t| t.data)
}

/// Days since the epoch of a timestamp literal, if `e` is one.
fn literal_day(e: &Expr) -> Option<i32> {
    let micros = match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::TimestampMicrosecond(Some(v), _) => *v,
            ScalarValue::TimestampNanosecond(Some(v), _) => v.div_euclid(1000),
            ScalarValue::TimestampMillisecond(Some(v), _) => v * 1000,
            ScalarValue::TimestampSecond(Some(v), _) => v * 1_000_000,
            _ => return None,
        },
        Expr::Cast(cast) => return literal_day(&cast.expr),
        Expr::TryCast(cast) => return literal_day(&cast.expr),
        _ => return None,
    };
    Some(micros.div_euclid(86_400_000_000) as i32)
}

fn is_ts(e: &Expr) -> bool {
    matches!(e, Expr::Column(column) if column.name == c::TS)
}

/// `day` bounds implied by a filter on `ts`.
pub fn day_filters(filter: &Expr) -> Vec<Expr> {
    let day = |d: i32| lit(ScalarValue::Date32(Some(d)));
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, value) = if is_ts(left) {
                (*op, right.as_ref())
            } else if is_ts(right) {
                match op.swap() {
                    Some(op) => (op, left.as_ref()),
                    None => return vec![],
                }
            } else if *op == Operator::And {
                let mut out = day_filters(left);
                out.extend(day_filters(right));
                return out;
            } else {
                return vec![];
            };
            let Some(d) = literal_day(value) else {
                return vec![];
            };
            match op {
                Operator::Gt | Operator::GtEq => vec![col(c::DAY).gt_eq(day(d))],
                Operator::Lt | Operator::LtEq => vec![col(c::DAY).lt_eq(day(d))],
                Operator::Eq => vec![col(c::DAY).eq(day(d))],
                _ => vec![],
            }
        }
        Expr::Between(b) if is_ts(&b.expr) && !b.negated => {
            match (literal_day(&b.low), literal_day(&b.high)) {
                (Some(lo), Some(hi)) => vec![col(c::DAY).between(day(lo), day(hi))],
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut all: Vec<Expr> = filters.iter().cloned().map(cluster_by_value).collect();
        for f in filters {
            all.extend(day_filters(f));
        }
        self.inner.scan(state, projection, &all, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_range_on_ts_bounds_the_day_partition() {
        let ts = |v: i64| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(v),
                Some("UTC".into()),
            ))
        };
        let day0 = 86_400_000_000i64 * 20_000;
        let f = col(c::TS)
            .gt_eq(ts(day0 + 5))
            .and(col(c::TS).lt(ts(day0 + 86_400_000_000)));
        let got: Vec<String> = day_filters(&f).iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("day >="), "{got:?}");
        assert!(got[1].contains("day <="), "{got:?}");
    }

    #[test]
    fn filters_on_other_columns_add_nothing() {
        assert!(day_filters(&col(c::USERNAME).eq(lit("alice"))).is_empty());
    }
}
