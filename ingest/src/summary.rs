//! The `events_summary` table: per cluster, day, identity, address, user agent, verb, resource,
//! namespace and subresource, how many events there were and the first and last time.
//!
//! Ingest's write stage writes one summary file next to each data file it writes (same partition,
//! same run and number) under `summary/cluster=C/day=D/`, recorded in the manifest with it, so a
//! summary file is committed exactly when the rows it counts are. `kubetrail compact` merges a
//! partition's summary files into one. Summaries cover what was ingested by a kubetrail that
//! writes them: rows ingested earlier are in `events` only.
//!
//! Its own schema (with its own version), not a column set of `events`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::row::{RowConverter, SortField};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{IngestError, Result, lake_err};
use crate::schema::col;

/// Folder of the summary table in a lake, next to `events/`.
pub const SUMMARY_DIR: &str = "summary";
/// Version of the summary's columns, in each file's key-value metadata under
/// [`SUMMARY_VERSION_KEY`].
pub const SUMMARY_VERSION: &str = "1";
pub const SUMMARY_VERSION_KEY: &str = "kubetrail.summary_version";

/// The columns a summary row is grouped by: the `events` columns of the same names and types.
pub const KEY_COLUMNS: &[&str] = &[
    col::USERNAME,
    col::SOURCE_IP,
    col::USER_AGENT,
    col::VERB,
    col::RESOURCE,
    col::NAMESPACE,
    col::SUBRESOURCE,
];
/// How many events of the partition have this key.
pub const EVENTS: &str = "events";
/// The earliest and latest `ts` among them.
pub const FIRST_TS: &str = "first_ts";
pub const LAST_TS: &str = "last_ts";

/// Each column of `events_summary` with its meaning (partition columns `cluster` and `day` last).
pub const COLUMN_DOCS: &[(&str, &str)] = &[
    (col::USERNAME, "the identity (as in events.username)"),
    (
        col::SOURCE_IP,
        "the client address (as in events.source_ip)",
    ),
    (col::USER_AGENT, "the user agent (as in events.user_agent)"),
    (col::VERB, "the verb"),
    (col::RESOURCE, "the resource"),
    (col::NAMESPACE, "the namespace"),
    (col::SUBRESOURCE, "the subresource"),
    (
        EVENTS,
        "number of events with these values in the partition",
    ),
    (FIRST_TS, "the earliest ts among them, UTC"),
    (LAST_TS, "the latest ts among them, UTC"),
    (col::CLUSTER, "cluster (partition: summary/cluster=NAME)"),
    (col::DAY, "UTC day (partition: summary/day=YYYY-MM-DD)"),
];

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let events = crate::schema::file_schema();
    let mut fields: Vec<Field> = KEY_COLUMNS
        .iter()
        .filter_map(|name| events.field_with_name(name).ok())
        .map(|f| Field::new(f.name(), f.data_type().clone(), true))
        .collect();
    fields.push(Field::new(EVENTS, DataType::Int64, false));
    fields.push(Field::new(FIRST_TS, timestamp(), false));
    fields.push(Field::new(LAST_TS, timestamp(), false));
    Arc::new(Schema::new(fields))
});

/// The schema of a summary file (without the partition columns).
pub fn file_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Group rows by [`KEY_COLUMNS`], adding up counts and keeping the earliest first and latest last
/// time; groups keep the order in which their key first appeared.
struct Groups {
    converter: RowConverter,
    index: HashMap<Vec<u8>, usize>,
    /// Where each group's key was first seen: (batch, row) in `sources`.
    first_seen: Vec<(usize, usize)>,
    sources: Vec<Vec<ArrayRef>>,
    counts: Vec<i64>,
    first: Vec<i64>,
    last: Vec<i64>,
}

impl Groups {
    fn new() -> Result<Self> {
        let schema = file_schema();
        let converter = RowConverter::new(
            KEY_COLUMNS
                .iter()
                .filter_map(|name| schema.field_with_name(name).ok())
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(Groups {
            converter,
            index: HashMap::new(),
            first_seen: Vec::new(),
            sources: Vec::new(),
            counts: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
        })
    }

    /// Add rows whose key columns are `keys`, each counting `count(i)` events between
    /// `first(i)` and `last(i)`.
    fn add(
        &mut self,
        keys: Vec<ArrayRef>,
        count: impl Fn(usize) -> i64,
        first: &TimestampMicrosecondArray,
        last: &TimestampMicrosecondArray,
    ) -> Result<()> {
        let rows = self.converter.convert_columns(&keys)?;
        let source = self.sources.len();
        let mut used = false;
        for i in 0..rows.num_rows() {
            let key = rows.row(i);
            let g = match self.index.get(key.as_ref()) {
                Some(&g) => g,
                None => {
                    let g = self.counts.len();
                    self.index.insert(key.as_ref().to_vec(), g);
                    self.first_seen.push((source, i));
                    self.counts.push(0);
                    self.first.push(i64::MAX);
                    self.last.push(i64::MIN);
                    used = true;
                    g
                }
            };
            self.counts[g] += count(i);
            self.first[g] = self.first[g].min(first.value(i));
            self.last[g] = self.last[g].max(last.value(i));
        }
        // kept only when a new group's key comes from it
        if used {
            self.sources.push(keys);
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<RecordBatch>> {
        if self.counts.is_empty() {
            return Ok(None);
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(KEY_COLUMNS.len() + 3);
        for k in 0..KEY_COLUMNS.len() {
            let values: Vec<&dyn Array> = self.sources.iter().map(|s| s[k].as_ref()).collect();
            columns.push(interleave(&values, &self.first_seen)?);
        }
        columns.push(Arc::new(Int64Array::from(self.counts)));
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(self.first).with_timezone("UTC"),
        ));
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(self.last).with_timezone("UTC"),
        ));
        Ok(Some(RecordBatch::try_new(file_schema(), columns)?))
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| IngestError::Other(format!("kubetrail bug: no column {name} to summarise")))
}

fn keys_of(batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    KEY_COLUMNS
        .iter()
        .map(|name| column(batch, name).cloned())
        .collect()
}

/// The summary of `batches` of `events` rows (one partition).
pub fn summarize(batches: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    let mut groups = Groups::new()?;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let ts = column(b, col::TS)?.as_primitive::<TimestampMicrosecondType>();
        groups.add(keys_of(b)?, |_| 1, ts, ts)?;
    }
    groups.finish()
}

/// Summary rows of one partition (several files' worth) merged into one summary.
pub fn merge(batches: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    let mut groups = Groups::new()?;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let counts = column(b, EVENTS)?.as_primitive::<arrow::datatypes::Int64Type>();
        let first = column(b, FIRST_TS)?.as_primitive::<TimestampMicrosecondType>();
        let last = column(b, LAST_TS)?.as_primitive::<TimestampMicrosecondType>();
        groups.add(keys_of(b)?, |i| counts.value(i), first, last)?;
    }
    groups.finish()
}

/// Read every row of a summary file (they are small: one row per distinct key of a partition).
pub fn read(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path).map_err(lake_err(path))?;
    let perr = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(perr)?
        .build()
        .map_err(perr)?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        out.push(RecordBatch::try_new(
            file_schema(),
            batch.columns().to_vec(),
        )?);
    }
    Ok(out)
}

/// Write a summary file (private to the owner). Returns (rows, bytes).
pub fn write(path: &Path, batch: &RecordBatch) -> Result<(u64, u64)> {
    if let Some(parent) = path.parent() {
        crate::sink::layout::private_dir(parent)?;
    }
    let perr = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let level = ZstdLevel::try_new(3).map_err(|e| IngestError::Other(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SUMMARY_VERSION_KEY.to_string(),
            SUMMARY_VERSION.to_string(),
        )]))
        .set_created_by(format!("kubetrail {}", env!("CARGO_PKG_VERSION")))
        .build();
    let file = crate::quarantine::private_file(path)?;
    let mut writer = ArrowWriter::try_new(file, file_schema(), Some(props)).map_err(perr)?;
    writer.write(batch).map_err(perr)?;
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(lake_err(path))?;
    let bytes = file.metadata().map_err(lake_err(path))?.len();
    Ok((batch.num_rows() as u64, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    /// `events`-like rows with only the summary's columns: (user, verb, ts).
    fn events(rows: &[(Option<&str>, &str, i64)]) -> RecordBatch {
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for name in KEY_COLUMNS {
            fields.push(Field::new(*name, DataType::Utf8, true));
            columns.push(Arc::new(match *name {
                col::USERNAME => StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()),
                col::VERB => StringArray::from(rows.iter().map(|r| Some(r.1)).collect::<Vec<_>>()),
                _ => StringArray::from(vec![Some("x"); rows.len()]),
            }));
        }
        fields.push(Field::new(col::TS, timestamp(), false));
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
    }

    fn groups(b: &RecordBatch) -> Vec<(Option<String>, String, i64, i64, i64)> {
        let user = column(b, col::USERNAME).expect("user").as_string::<i32>();
        let verb = column(b, col::VERB).expect("verb").as_string::<i32>();
        let n = column(b, EVENTS)
            .expect("n")
            .as_primitive::<arrow::datatypes::Int64Type>();
        let f = column(b, FIRST_TS)
            .expect("f")
            .as_primitive::<TimestampMicrosecondType>();
        let l = column(b, LAST_TS)
            .expect("l")
            .as_primitive::<TimestampMicrosecondType>();
        (0..b.num_rows())
            .map(|i| {
                (
                    (!user.is_null(i)).then(|| user.value(i).to_string()),
                    verb.value(i).to_string(),
                    n.value(i),
                    f.value(i),
                    l.value(i),
                )
            })
            .collect()
    }

    #[test]
    fn events_are_counted_per_key_with_their_first_and_last_time() {
        let a = events(&[
            (Some("alice"), "get", 5),
            (None, "get", 1),
            (Some("alice"), "get", 2),
        ]);
        let b = events(&[(Some("alice"), "list", 9), (Some("alice"), "get", 7)]);
        let s = summarize(&[a, b]).expect("summarize").expect("rows");
        let alice = || Some("alice".to_string());
        assert_eq!(
            groups(&s),
            [
                (alice(), "get".into(), 3, 2, 7),
                (None, "get".into(), 1, 1, 1),
                (alice(), "list".into(), 1, 9, 9),
            ]
        );
    }

    #[test]
    fn merged_summaries_equal_the_summary_of_all_the_events() {
        // alice's gets are counted in both parts, twice in the first
        let a = events(&[
            (Some("alice"), "get", 5),
            (None, "get", 1),
            (Some("alice"), "get", 3),
        ]);
        let b = events(&[(Some("alice"), "get", 2), (Some("bob"), "list", 9)]);
        let whole = summarize(&[a.clone(), b.clone()])
            .expect("s")
            .expect("rows");
        let parts = [
            summarize(&[a]).expect("s").expect("rows"),
            summarize(&[b]).expect("s").expect("rows"),
        ];
        let merged = merge(&parts).expect("merge").expect("rows");
        assert_eq!(groups(&merged), groups(&whole));
        assert_eq!(merged.schema(), file_schema());
    }
}
