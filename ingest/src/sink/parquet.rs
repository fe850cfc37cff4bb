//! Parquet files of the lake: sorted by resource then time, zstd, page statistics and page indexes, bloom
//! filters on the columns analysts look up by value, and the schema version in the metadata.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use arrow::array::{Array, RecordBatch, UInt32Array};
use arrow::error::ArrowError;

use arrow::compute::{SortColumn, concat, lexsort_to_indices};
use arrow::row::{Row, RowConverter, Rows, SortField};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::{ColumnPath, SchemaDescriptor};

use super::encryption::ColumnKey;

use crate::error::{IngestError, Result, lake_err};
use crate::schema::{SCHEMA_VERSION, SCHEMA_VERSION_KEY, col, file_schema, index_of};

/// Rows per row group: small enough that statistics prune, large enough to compress well.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// The order of rows in a file. Resource first: nearly every rule and most questions name the
/// resource (`secrets`, `clusterrolebindings`, `pods`), and page statistics then skip the pages of
/// every other resource. Time second: within a resource, pages cover short time spans, so page
/// statistics still skip by time, and the day partitions prune before that.
pub const SORT_COLUMNS: &[&str] = &[col::RESOURCE, col::TS, col::SOURCE_LINE];
/// Integer columns that change little from row to row (times within a resource, line numbers):
/// delta encoding stores them in a few bits per row, where a dictionary of distinct values would
/// store them whole.
pub const DELTA_COLUMNS: &[&str] = &[col::TS, col::STAGE_TS, col::WRAPPER_TS, col::SOURCE_LINE];
/// Columns compressed at zstd level 1 instead of 6: audit IDs are random (level 6 searches them
/// for matches it does not find, and its output is larger), and bodies are long repetitive JSON
/// that level 1 already shrinks about 30-fold; together they are two thirds of the bytes the
/// compressor sees.
pub const FAST_COLUMNS: &[&str] = &[col::AUDIT_ID, col::REQUEST_OBJECT, col::RESPONSE_OBJECT];
/// Rows gathered at a time from the buffered batches while a sorted file is written: a row
/// group is written in slices of this many rows, so the sorted copy held in memory is one slice,
/// not the row group (a file of ingest's is usually smaller than one row group, so that copy was
/// the whole file). Measured on 300,000 generated events (6 files of about 55,000 rows): peak
/// RSS of ingest 404-414 MiB gathering whole row groups, 336 MiB with 4,096-row slices for
/// 0.01% more bytes; 8,192 and 32,768 rows cost 0.14-0.19% more bytes (pages end elsewhere).
const GATHER_ROWS: usize = 4 * 1024;
/// Columns with bloom filters: looked up by exact value.
pub const BLOOM_COLUMNS: &[&str] = &[col::USERNAME, col::SOURCE_IP, col::NAME, col::NAMESPACE];

/// The lake's Parquet schema (as the Arrow writer derives it from the events schema).
pub fn parquet_schema() -> Result<SchemaDescriptor> {
    ArrowSchemaConverter::new()
        .convert(&file_schema())
        .map_err(|e| IngestError::Other(format!("the events schema as Parquet: {e}")))
}

/// Writer properties of every lake file; with a column key, the sensitive columns are encrypted
/// (see [`super::encryption`]).
fn properties(key: Option<&ColumnKey>) -> Result<WriterProperties> {
    // Measured on a million generated events (bench/RESULTS.md): level 6 for every column gave
    // 37.2 MB, level 1 for every column 38.7 MB; with the columns below at level 1 and the others
    // at 6, 37.2 MB again for a third less encoding time.
    let level = ZstdLevel::try_new(6).map_err(|e| IngestError::Other(e.to_string()))?;
    let fast = ZstdLevel::try_new(1).map_err(|e| IngestError::Other(e.to_string()))?;
    let sorting = SORT_COLUMNS
        .iter()
        .map(|name| SortingColumn {
            column_idx: index_of(name).unwrap_or(0) as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SCHEMA_VERSION_KEY.to_string(),
            SCHEMA_VERSION.to_string(),
        )]))
        .set_created_by(format!("kubetrail {}", env!("CARGO_PKG_VERSION")));
    for name in FAST_COLUMNS {
        b = b.set_column_compression(ColumnPath::from(*name), Compression::ZSTD(fast));
    }
    for name in DELTA_COLUMNS {
        let path = ColumnPath::from(*name);
        b = b
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    for name in BLOOM_COLUMNS {
        let path = ColumnPath::from(*name);
        b = b
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), 0.01)
            .set_column_bloom_filter_max_ndv(path, 20_000);
    }
    if let Some(key) = key {
        b = b.with_file_encryption_properties(key.encryption(&parquet_schema()?)?);
    }
    Ok(b.build())
}

/// A lake data file written batch by batch, in the order the batches come (the caller keeps
/// them in [`SORT_COLUMNS`] order), with the properties, sort columns and key-value metadata of
/// every lake file. Memory: the row group being built, as for [`write_sorted`].
pub struct FileWriter {
    path: std::path::PathBuf,
    writer: ArrowWriter<std::fs::File>,
    rows: u64,
}

impl FileWriter {
    /// Create `path` (private to the owner) and its folder; `key` encrypts the sensitive columns.
    pub fn create(path: &Path, key: Option<&ColumnKey>) -> Result<Self> {
        if let Some(parent) = path.parent() {
            super::layout::private_dir(parent)?;
        }
        let file = crate::quarantine::private_file(path)?;
        let writer = ArrowWriter::try_new(file, file_schema(), Some(properties(key)?)).map_err(
            |source| IngestError::Parquet {
                path: path.to_path_buf(),
                source,
            },
        )?;
        Ok(FileWriter {
            path: path.to_path_buf(),
            writer,
            rows: 0,
        })
    }

    /// Append rows (row groups end every [`ROW_GROUP_ROWS`] rows).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|source| IngestError::Parquet {
                path: self.path.clone(),
                source,
            })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finish the file and sync it. Returns (rows, bytes).
    pub fn finish(self) -> Result<(u64, u64)> {
        let path = self.path;
        let file = self
            .writer
            .into_inner()
            .map_err(|source| IngestError::Parquet {
                path: path.clone(),
                source,
            })?;
        file.sync_all().map_err(lake_err(&path))?;
        let bytes = file.metadata().map_err(lake_err(&path))?.len();
        Ok((self.rows, bytes))
    }
}

/// The rows of `batches` in [`SORT_COLUMNS`] order, as (batch, row), by sorting their sort
/// columns concatenated.
fn sort_whole(batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>> {
    let schema = file_schema();
    let mut keys = Vec::with_capacity(SORT_COLUMNS.len());
    for name in SORT_COLUMNS {
        let i = index_of(name).unwrap_or(0);
        let columns: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        let values = if columns.is_empty() {
            arrow::array::new_empty_array(schema.field(i).data_type())
        } else {
            concat(&columns)?
        };
        keys.push(SortColumn {
            values,
            options: None,
        });
    }
    let order = lexsort_to_indices(&keys, None)?;
    // where each batch's rows start in the concatenated columns
    let starts: Vec<u32> = batches
        .iter()
        .scan(0u32, |at, b| {
            let start = *at;
            *at += b.num_rows() as u32;
            Some(start)
        })
        .collect();
    Ok(order
        .values()
        .iter()
        .map(|&at| {
            let batch = starts.partition_point(|&s| s <= at) - 1;
            (batch, (at - starts[batch]) as usize)
        })
        .collect())
}

/// The rows of `batches` in [`SORT_COLUMNS`] order, as (batch, row), by merging them: `None`
/// unless every batch is sorted already. Each row's sort key is compared in arrow's row format,
/// a few times per row (the heap holds one row per batch), where sorting them whole compares
/// each row's columns about log2(rows) times.
fn merge_order(batches: &[RecordBatch]) -> Option<Vec<(usize, usize)>> {
    let schema = file_schema();
    let columns: Vec<usize> = SORT_COLUMNS
        .iter()
        .map(|name| index_of(name).unwrap_or(0))
        .collect();
    let fields = columns
        .iter()
        .map(|&i| SortField::new(schema.field(i).data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).ok()?;
    let mut keys: Vec<Rows> = Vec::with_capacity(batches.len());
    for b in batches {
        let sort_columns: Vec<_> = columns.iter().map(|&i| b.column(i).clone()).collect();
        let rows = converter.convert_columns(&sort_columns).ok()?;
        if (1..rows.num_rows()).any(|i| rows.row(i - 1) > rows.row(i)) {
            return None;
        }
        keys.push(rows);
    }
    let total = keys.iter().map(Rows::num_rows).sum();
    let mut order = Vec::with_capacity(total);
    let mut heap: BinaryHeap<Reverse<(Row<'_>, usize, usize)>> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.num_rows() > 0)
        .map(|(b, k)| Reverse((k.row(0), b, 0)))
        .collect();
    while let Some(Reverse((_, b, r))) = heap.pop() {
        order.push((b, r));
        if r + 1 < keys[b].num_rows() {
            heap.push(Reverse((keys[b].row(r + 1), b, r + 1)));
        }
    }
    Some(order)
}

/// The order of `batch`'s rows by [`SORT_COLUMNS`]: the row that comes first, then the next.
/// The parse stage sorts each chunk's rows with it, so that [`write_sorted`] merges long
/// stretches of sorted rows (copied as ranges) instead of gathering rows one by one.
pub fn sort_order(batch: &RecordBatch) -> std::result::Result<UInt32Array, ArrowError> {
    let keys: Vec<SortColumn> = SORT_COLUMNS
        .iter()
        .map(|name| SortColumn {
            values: batch.column(index_of(name).unwrap_or(0)).clone(),
            options: None,
        })
        .collect();
    lexsort_to_indices(&keys, None)
}

/// Sort `batches` by [`SORT_COLUMNS`] and write them as one Parquet file.
/// Returns (rows, bytes written). `key` encrypts the sensitive columns.
///
/// The order comes from merging the batches when each is sorted already (ingest's parsed chunks
/// are: [`sort_order`]), else from sorting their sort columns concatenated; rows are then
/// gathered from the batches in sort order [`GATHER_ROWS`] at a time, so writing needs one slice of extra memory
/// (and the row group's encoded pages), not a second copy of the file's rows.
pub fn write_sorted(
    path: &Path,
    batches: &[RecordBatch],
    key: Option<&ColumnKey>,
) -> Result<(u64, u64)> {
    // (batch, row) of each row in sort order: merged when every batch is sorted (ingest's
    // chunks are), else sorted whole
    let order = match merge_order(batches) {
        Some(order) => order,
        None => sort_whole(batches)?,
    };
    let schema = file_schema();
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    if let Some(parent) = path.parent() {
        super::layout::private_dir(parent)?;
    }
    let file = crate::quarantine::private_file(path)?;
    let perr = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties(key)?)).map_err(perr)?;
    for group in order.chunks(ROW_GROUP_ROWS) {
        for slice in group.chunks(GATHER_ROWS) {
            let sorted = super::gather::gather(&sources, slice)?;
            writer.write(&sorted).map_err(perr)?;
        }
        // end the row group here: the next one starts with the next part of the sort order
        writer.flush().map_err(perr)?;
    }
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(lake_err(path))?;
    let bytes = file.metadata().map_err(lake_err(path))?.len();
    Ok((order.len() as u64, bytes))
}

/// Rows for tests of sorted files.
#[cfg(test)]
pub(crate) mod testing {
    use arrow::array::RecordBatch;

    use crate::schema::{file_schema, index_of};

    /// Rows of the events schema with only the sort columns set: (resource, ts micros, line).
    pub(crate) fn batch(rows: &[(Option<&str>, i64, i64)]) -> RecordBatch {
        use arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray, new_null_array};
        let schema = file_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    crate::schema::col::RESOURCE => std::sync::Arc::new(StringArray::from(
                        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                    )),
                    crate::schema::col::TS => std::sync::Arc::new(
                        TimestampMicrosecondArray::from(
                            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    crate::schema::col::SOURCE_LINE => {
                        std::sync::Arc::new(arrow::array::Int64Array::from(
                            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                        ))
                    }
                    crate::schema::col::SOURCE_FILE => {
                        std::sync::Arc::new(StringArray::from(vec!["audit.log"; rows.len()]))
                    }
                    crate::schema::col::ACTOR_KIND => {
                        std::sync::Arc::new(StringArray::from(vec!["person"; rows.len()]))
                    }
                    _ => new_null_array(f.data_type(), rows.len()),
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("batch")
    }

    pub(crate) fn keys_of(b: &RecordBatch) -> Vec<(Option<String>, i64)> {
        use arrow::array::{Array, AsArray};
        let res = b
            .column(index_of(crate::schema::col::RESOURCE).expect("col"))
            .as_string::<i32>();
        let ts = b
            .column(index_of(crate::schema::col::TS).expect("col"))
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        (0..b.num_rows())
            .map(|i| {
                (
                    (!res.is_null(i)).then(|| res.value(i).to_string()),
                    ts.value(i),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::testing::{batch, keys_of};
    use super::*;

    /// Batches that are each sorted are merged; one that is not makes them sorted whole; both
    /// give the rows in the same order.
    #[test]
    fn sorted_batches_are_merged_and_unsorted_ones_sorted_whole_into_one_order() {
        let sorted = [
            batch(&[(None, 3, 1), (Some("pods"), 1, 2), (Some("pods"), 7, 3)]),
            batch(&[]),
            batch(&[(None, 1, 4), (Some("pods"), 7, 1), (Some("secrets"), 2, 5)]),
            batch(&[(Some("leases"), 9, 6), (Some("pods"), 4, 7)]),
        ];
        let merged = merge_order(&sorted).expect("each batch is sorted: merged");
        assert_eq!(merged, sort_whole(&sorted).expect("sort"));
        assert_eq!(
            merged,
            [
                (2, 0),
                (0, 0),
                (3, 0),
                (0, 1),
                (3, 1),
                (2, 1),
                (0, 2),
                (2, 2)
            ]
        );
        let mut unsorted = sorted.to_vec();
        unsorted.push(batch(&[(Some("secrets"), 1, 8), (Some("pods"), 2, 9)]));
        assert!(
            merge_order(&unsorted).is_none(),
            "the last batch is not sorted"
        );
    }

    /// Gathering a row group in slices keeps the order whole: rows spread over several batches
    /// and several slices come out sorted, each once, in row groups of [`ROW_GROUP_ROWS`].
    #[test]
    fn a_file_of_many_slices_is_sorted_whole_in_full_row_groups() {
        let resources = [Some("secrets"), None, Some("pods"), Some("leases")];
        let n = ROW_GROUP_ROWS + 3 * GATHER_ROWS + 17;
        // descending times: every slice of the output draws on every batch
        let rows: Vec<(Option<&str>, i64, i64)> = (0..n)
            .map(|i| (resources[i % resources.len()], (n - i) as i64, i as i64))
            .collect();
        let cut = [0, 5, n / 3, n - 1, n];
        let batches: Vec<RecordBatch> = cut.windows(2).map(|w| batch(&rows[w[0]..w[1]])).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sorted.parquet");
        assert_eq!(
            write_sorted(&path, &batches, None).expect("write").0,
            n as u64
        );

        let file = std::fs::File::open(&path).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("footer");
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [ROW_GROUP_ROWS as i64, (n - ROW_GROUP_ROWS) as i64]);
        let mut got = Vec::new();
        for b in reader.build().expect("reader") {
            got.extend(keys_of(&b.expect("batch")));
        }
        let mut want: Vec<(Option<String>, i64)> = rows
            .iter()
            .map(|r| (r.0.map(str::to_string), r.1))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }
}
