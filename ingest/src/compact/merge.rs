//! A k-way merge of lake files, each sorted by [`SORT_COLUMNS`], into one stream of batches in
//! the same order. Each input is read a batch at a time, so memory holds one batch per input
//! (together at most [`ROWS_IN_MEMORY`] rows) and one output batch, whatever the files hold.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use crate::error::{IngestError, Result, lake_err};
use crate::schema::{file_schema, index_of};
use crate::sink::encryption::ColumnKey;
use crate::sink::parquet::{SORT_COLUMNS, parquet_schema};

/// Most files merged at once; more are merged in rounds (see `compact`).
pub const MAX_FAN_IN: usize = 32;
/// Rows held by all inputs together: divided among them, at least [`MIN_BATCH_ROWS`] each.
pub const ROWS_IN_MEMORY: usize = 16 * 1024;
const MIN_BATCH_ROWS: usize = 256;
/// Rows per output batch.
pub const OUTPUT_ROWS: usize = 4 * 1024;

/// One input: its reader, the batch being merged and where in it the merge is.
struct Cursor {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    keys: Rows,
    pos: usize,
    /// Index of `batch` in [`SortedMerge::live`].
    slot: usize,
}

/// The merged rows of several sorted files, in sort order.
pub struct SortedMerge {
    cursors: Vec<Option<Cursor>>,
    /// The next row of each input that has one, smallest first; ties go to the earlier input.
    heap: BinaryHeap<Reverse<(OwnedRow, usize)>>,
    converter: RowConverter,
    key_columns: Vec<usize>,
    /// The batches the output batch being built takes rows from.
    live: Vec<RecordBatch>,
    rows: u64,
}

impl SortedMerge {
    /// Open `paths` (lake files of the current schema, decrypted with `key` in an encrypted
    /// lake) for merging.
    pub fn open(paths: &[PathBuf], key: Option<&ColumnKey>) -> Result<Self> {
        let schema = file_schema();
        let key_columns = SORT_COLUMNS
            .iter()
            .map(|name| {
                index_of(name).ok_or_else(|| {
                    IngestError::Other(format!("kubetrail bug: sort column {name} not in schema"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The order ingest writes (`write_sorted`): ascending, nulls first.
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        let batch_rows = (ROWS_IN_MEMORY / paths.len().max(1)).max(MIN_BATCH_ROWS);
        let mut merge = SortedMerge {
            cursors: Vec::with_capacity(paths.len()),
            heap: BinaryHeap::with_capacity(paths.len()),
            converter,
            key_columns,
            live: Vec::new(),
            rows: 0,
        };
        for (n, path) in paths.iter().enumerate() {
            let reader = open_reader(path, batch_rows, key)?;
            let cursor = merge.load(path.clone(), reader)?;
            if let Some(c) = &cursor {
                merge.heap.push(Reverse((c.keys.row(0).owned(), n)));
            }
            merge.cursors.push(cursor);
        }
        Ok(merge)
    }

    /// Rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next batch of the input's first non-empty batch, registered as live; `None` at end.
    fn load(
        &mut self,
        path: PathBuf,
        mut reader: ParquetRecordBatchReader,
    ) -> Result<Option<Cursor>> {
        loop {
            let Some(batch) = reader.next().transpose().map_err(|e| read_err(&path, e))? else {
                return Ok(None);
            };
            if batch.num_rows() == 0 {
                continue;
            }
            let keys = self.keys(&batch)?;
            let slot = self.live.len();
            self.live.push(batch.clone());
            return Ok(Some(Cursor {
                path,
                reader,
                batch,
                keys,
                pos: 0,
                slot,
            }));
        }
    }

    fn keys(&self, batch: &RecordBatch) -> Result<Rows> {
        let columns: Vec<_> = self
            .key_columns
            .iter()
            .map(|&i| std::sync::Arc::clone(batch.column(i)))
            .collect();
        Ok(self.converter.convert_columns(&columns)?)
    }

    /// The next at most [`OUTPUT_ROWS`] rows in sort order, `None` when every input is done.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut take: Vec<(usize, usize)> = Vec::with_capacity(OUTPUT_ROWS);
        while take.len() < OUTPUT_ROWS {
            let Some(Reverse((key, n))) = self.heap.pop() else {
                break;
            };
            let Some(cursor) = self.cursors[n].as_mut() else {
                continue;
            };
            take.push((cursor.slot, cursor.pos));
            cursor.pos += 1;
            if cursor.pos == cursor.batch.num_rows() {
                let Some(done) = self.cursors[n].take() else {
                    continue;
                };
                let (path, reader) = (done.path, done.reader);
                self.cursors[n] = self.load(path, reader)?;
            }
            if let Some(cursor) = self.cursors[n].as_ref() {
                let next = cursor.keys.row(cursor.pos);
                if next < key.row() {
                    return Err(IngestError::Compact {
                        path: cursor.path.clone(),
                        message: format!(
                            "rows are not in the lake's order ({}); compact merges files ingest wrote, which are",
                            SORT_COLUMNS.join(", ")
                        ),
                    });
                }
                self.heap.push(Reverse((next.owned(), n)));
            }
        }
        if take.is_empty() {
            return Ok(None);
        }
        let sources: Vec<&RecordBatch> = self.live.iter().collect();
        let merged = crate::sink::gather::gather(&sources, &take)?;
        // Rows from here on come from the batches the inputs hold now.
        self.live.clear();
        for cursor in self.cursors.iter_mut().flatten() {
            cursor.slot = self.live.len();
            self.live.push(cursor.batch.clone());
        }
        self.rows += merged.num_rows() as u64;
        Ok(Some(RecordBatch::try_new(
            file_schema(),
            merged.columns().to_vec(),
        )?))
    }
}

fn read_err(path: &Path, e: arrow::error::ArrowError) -> IngestError {
    IngestError::Compact {
        path: path.to_path_buf(),
        message: format!("cannot read rows: {e}"),
    }
}

/// A reader of `path` in batches of `rows`, refusing a file whose columns are not the lake's.
fn open_reader(
    path: &Path,
    rows: usize,
    key: Option<&ColumnKey>,
) -> Result<ParquetRecordBatchReader> {
    let file = std::fs::File::open(path).map_err(lake_err(path))?;
    let perr = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut options = ArrowReaderOptions::new();
    if let Some(key) = key {
        options = options.with_file_decryption_properties(key.decryption(&parquet_schema()?)?);
    }
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).map_err(perr)?;
    let expected = file_schema();
    if builder.schema().fields() != expected.fields() {
        return Err(IngestError::Compact {
            path: path.to_path_buf(),
            message: "its columns are not the events schema of this kubetrail version".into(),
        });
    }
    builder.with_batch_size(rows).build().map_err(perr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::parquet::testing::{batch, keys_of};
    use crate::sink::parquet::write_sorted;

    /// The sort keys of every row the merge yields, in its order.
    fn merged_keys(merge: &mut SortedMerge) -> Vec<(Option<String>, i64)> {
        let mut keys = Vec::new();
        while let Some(out) = merge.next_batch().expect("merge") {
            keys.extend(keys_of(&out));
        }
        keys
    }

    #[test]
    fn sorted_files_merge_into_one_sorted_stream_with_every_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        let c = dir.path().join("c.parquet");
        write_sorted(
            &a,
            &[batch(&[
                (Some("pods"), 5, 1),
                (Some("secrets"), 1, 2),
                (None, 9, 3),
            ])],
            None,
        )
        .expect("a");
        write_sorted(
            &b,
            &[batch(&[(Some("pods"), 2, 1), (Some("pods"), 7, 2)])],
            None,
        )
        .expect("b");
        write_sorted(&c, &[batch(&[(Some("secrets"), 0, 1), (None, 3, 2)])], None).expect("c");
        let mut merge = SortedMerge::open(&[a, b, c], None).expect("open");
        let got = merged_keys(&mut merge);
        let p = |s: &str| Some(s.to_string());
        assert_eq!(
            got,
            [
                (None, 3),
                (None, 9),
                (p("pods"), 2),
                (p("pods"), 5),
                (p("pods"), 7),
                (p("secrets"), 0),
                (p("secrets"), 1),
            ]
        );
        assert_eq!(merge.rows(), 7);
    }

    /// Ingest hands the writer a partition's rows as many batches, one per parsed chunk: the file
    /// holds every row of all of them, in one sort order across the batches.
    #[test]
    fn a_file_written_from_several_batches_is_sorted_across_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.parquet");
        let batches = [
            batch(&[(Some("secrets"), 4, 1), (Some("pods"), 9, 2), (None, 5, 3)]),
            batch(&[]),
            batch(&[(Some("pods"), 1, 4), (Some("secrets"), 2, 5)]),
            batch(&[(None, 1, 6), (Some("pods"), 9, 1)]),
        ];
        assert_eq!(write_sorted(&a, &batches, None).expect("a").0, 7);
        let got = merged_keys(&mut SortedMerge::open(&[a], None).expect("open"));
        let p = |s: &str| Some(s.to_string());
        assert_eq!(
            got,
            [
                (None, 1),
                (None, 5),
                (p("pods"), 1),
                (p("pods"), 9),
                (p("pods"), 9),
                (p("secrets"), 2),
                (p("secrets"), 4),
            ]
        );
    }

    #[test]
    fn a_merged_file_has_the_metadata_and_sort_columns_ingest_writes() {
        use parquet::file::reader::FileReader;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        write_sorted(&a, &[batch(&[(Some("pods"), 5, 1)])], None).expect("a");
        write_sorted(&b, &[batch(&[(Some("pods"), 2, 1)])], None).expect("b");
        let out = dir.path().join("out.parquet");
        let mut merge = SortedMerge::open(&[a.clone(), b], None).expect("open");
        let mut w = crate::sink::parquet::FileWriter::create(&out, None).expect("create");
        while let Some(batch) = merge.next_batch().expect("merge") {
            w.write(&batch).expect("write");
        }
        assert_eq!(w.finish().expect("finish").0, 2);
        let footer = |p: &Path| {
            let r = parquet::file::serialized_reader::SerializedFileReader::new(
                std::fs::File::open(p).expect("open"),
            )
            .expect("footer");
            let m = r.metadata();
            (
                m.file_metadata().key_value_metadata().cloned(),
                m.file_metadata().created_by().map(str::to_string),
                m.row_group(0).sorting_columns().cloned(),
                m.file_metadata().schema_descr().columns().len(),
            )
        };
        let ingested = footer(&a);
        assert!(
            ingested.0.as_ref().is_some_and(|kv| kv
                .iter()
                .any(|k| k.key == crate::schema::SCHEMA_VERSION_KEY)),
            "{ingested:?}"
        );
        assert_eq!(footer(&out), ingested);
    }

    #[test]
    fn a_file_out_of_order_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.parquet");
        // written as it is, not sorted
        let mut w = crate::sink::parquet::FileWriter::create(&a, None).expect("create");
        w.write(&batch(&[(Some("secrets"), 1, 1), (Some("pods"), 2, 2)]))
            .expect("write");
        w.finish().expect("finish");
        let b = dir.path().join("b.parquet");
        write_sorted(&b, &[batch(&[(Some("pods"), 0, 1)])], None).expect("b");
        let mut merge = SortedMerge::open(&[a, b], None).expect("open");
        let err = std::iter::from_fn(|| merge.next_batch().transpose())
            .find_map(Result::err)
            .expect("refused");
        assert!(err.to_string().contains("a.parquet"), "{err}");
    }
}
