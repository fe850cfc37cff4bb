//! Parquet files of the lake: sorted by resource then time, zstd, page statistics and page indexes, bloom
//! filters on the columns analysts look up by value, and the schema version in the metadata.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{IngestError, Result, lake_err};
use crate::schema::{SCHEMA_VERSION, SCHEMA_VERSION_KEY, col, file_schema, index_of};

/// Rows per row group: small enough that statistics prune, large enough to compress well.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// The order of rows in a file. Resource first: nearly every rule and most questions name the
/// resource (`secrets`, `clusterrolebindings`, `pods`), and page statistics then skip the pages of
/// every other resource. Time second: within a resource, pages cover short time spans, so page
/// statistics still skip by time, and the day partitions prune before that.
pub const SORT_COLUMNS: &[&str] = &[col::RESOURCE, col::TS, col::SOURCE_LINE];
/// Columns with bloom filters: looked up by exact value.
pub const BLOOM_COLUMNS: &[&str] = &[col::USERNAME, col::SOURCE_IP, col::NAME, col::NAMESPACE];

fn properties() -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(3).map_err(|e| IngestError::Other(e.to_string()))?;
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
    for name in BLOOM_COLUMNS {
        let path = ColumnPath::from(*name);
        b = b
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), 0.01)
            .set_column_bloom_filter_max_ndv(path, 20_000);
    }
    Ok(b.build())
}

/// Sort `batches` by [`SORT_COLUMNS`] and write them as one Parquet file.
/// Returns (rows, bytes written).
pub fn write_sorted(path: &Path, batches: &[RecordBatch]) -> Result<(u64, u64)> {
    let schema = file_schema();
    let all = concat_batches(&schema, batches)?;
    let keys: Vec<SortColumn> = SORT_COLUMNS
        .iter()
        .map(|name| SortColumn {
            values: Arc::clone(all.column(index_of(name).unwrap_or(0))),
            options: None,
        })
        .collect();
    let order = lexsort_to_indices(&keys, None)?;
    let sorted = take_record_batch(&all, &order)?;
    drop(all);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(lake_err(parent))?;
    }
    let file = File::create(path).map_err(lake_err(path))?;
    let perr = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties()?)).map_err(perr)?;
    writer.write(&sorted).map_err(perr)?;
    let file = writer.into_inner().map_err(perr)?;
    file.sync_all().map_err(lake_err(path))?;
    let bytes = file.metadata().map_err(lake_err(path))?.len();
    Ok((sorted.num_rows() as u64, bytes))
}
