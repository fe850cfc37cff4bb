//! Rows of several batches gathered into one batch, in a given order.
//!
//! Writing a sorted file and merging sorted files both gather rows: `(batch, row)` pairs in
//! output order. When those pairs mostly continue each other (compaction's merge of sorted
//! files, or a file made of chunks the parse stage already sorted), each stretch of consecutive
//! rows of one batch is copied as one range; when they do not, the rows are copied one by one
//! ([`interleave_record_batch`]), which is cheaper per row for short stretches.

use arrow::array::{
    ArrayData, ArrayRef, AsArray, Capacities, MutableArrayData, RecordBatch, make_array,
};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

/// Below this many rows per stretch on average, rows are copied one by one.
const MIN_MEAN_RUN: usize = 4;

/// A stretch of consecutive rows of one source batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    source: usize,
    start: usize,
    len: usize,
}

/// The rows `rows` (`(source, row)` pairs, in output order) of `sources` as one batch.
pub fn gather(
    sources: &[&RecordBatch],
    rows: &[(usize, usize)],
) -> Result<RecordBatch, ArrowError> {
    let runs = runs(rows);
    if sources.is_empty() || runs.len() * MIN_MEAN_RUN > rows.len() {
        return interleave_record_batch(sources, rows);
    }
    by_ranges(sources, &runs, rows.len())
}

/// The rows of `runs` (`rows` in all), each run copied as one range.
fn by_ranges(
    sources: &[&RecordBatch],
    runs: &[Run],
    rows: usize,
) -> Result<RecordBatch, ArrowError> {
    // only the sources the rows come from take part (a slice of a big merge draws on few)
    let mut local = vec![usize::MAX; sources.len()];
    let mut used = Vec::new();
    for run in runs {
        if local[run.source] == usize::MAX {
            local[run.source] = used.len();
            used.push(run.source);
        }
    }
    let schema = sources[0].schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for c in 0..schema.fields().len() {
        let data: Vec<ArrayData> = used
            .iter()
            .map(|&s| sources[s].column(c).to_data())
            .collect();
        let capacities = match schema.field(c).data_type() {
            DataType::Utf8 => {
                let bytes = runs
                    .iter()
                    .map(|r| {
                        let offsets = sources[r.source].column(c).as_string::<i32>().offsets();
                        (offsets[r.start + r.len] - offsets[r.start]) as usize
                    })
                    .sum();
                Capacities::Binary(rows, Some(bytes))
            }
            _ => Capacities::Array(rows),
        };
        let mut out = MutableArrayData::with_capacities(data.iter().collect(), false, capacities);
        for run in runs {
            out.try_extend(local[run.source], run.start, run.start + run.len)?;
        }
        columns.push(make_array(out.freeze()));
    }
    RecordBatch::try_new(schema, columns)
}

/// `rows` as maximal stretches of consecutive rows of one source.
fn runs(rows: &[(usize, usize)]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for &(source, row) in rows {
        match runs.last_mut() {
            Some(r) if r.source == source && r.start + r.len == row => r.len += 1,
            _ => runs.push(Run {
                source,
                start: row,
                len: 1,
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, ListBuilder, StringArray, StringBuilder};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(ids: &[i64], names: &[Option<&str>], tags: &[&[&str]]) -> RecordBatch {
        let mut list = ListBuilder::new(StringBuilder::new());
        for t in tags {
            for v in *t {
                list.values().append_value(v);
            }
            list.append(!t.is_empty());
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
                Arc::new(list.finish()),
            ],
        )
        .expect("batch")
    }

    /// Long stretches (copied as ranges) and scattered rows (copied one by one) give the same
    /// batch as gathering every row on its own.
    #[test]
    fn ranges_and_single_rows_gather_the_same_rows_in_the_same_order() {
        let a = batch(
            &[0, 1, 2, 3, 4, 5],
            &[
                Some("a0"),
                None,
                Some("a2"),
                Some("a3"),
                Some(""),
                Some("a5"),
            ],
            &[&["x"], &[], &["y", "z"], &["w"], &[], &["v"]],
        );
        let b = batch(
            &[10, 11, 12, 13],
            &[Some("b0"), Some("b1"), None, Some("b3")],
            &[&[], &["p", "q"], &["r"], &[]],
        );
        let sources = [&a, &b];
        let stretched: Vec<(usize, usize)> = vec![
            (1, 1),
            (1, 2),
            (1, 3),
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (0, 4),
            (0, 5),
            (1, 0),
        ];
        let scattered: Vec<(usize, usize)> = vec![(0, 5), (1, 0), (0, 1), (1, 3), (0, 2)];
        for rows in [&stretched, &scattered] {
            let want = interleave_record_batch(&sources, rows).expect("interleave");
            let ranged = by_ranges(&sources, &runs(rows), rows.len()).expect("ranges");
            assert_eq!(ranged, want);
            assert_eq!(gather(&sources, rows).expect("gather"), want);
        }
        assert_eq!(runs(&stretched).len(), 3);
        let got = gather(&sources, &stretched).expect("gather");
        let ids = got.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(ids.values(), &[11, 12, 13, 0, 1, 2, 3, 4, 5, 10]);
    }
}
