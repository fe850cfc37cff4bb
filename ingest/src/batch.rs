//! Arrow builders for the `events` file schema, filled one row at a time in column order.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, MapBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;

use crate::schema::{FILE_COLUMNS, Kind, file_schema};

enum ColBuilder {
    Ts(TimestampMicrosecondBuilder),
    I64(Int64Builder),
    I32(Int32Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    List(ListBuilder<StringBuilder>),
    Map(MapBuilder<StringBuilder, StringBuilder>),
    ListMap(MapBuilder<StringBuilder, ListBuilder<StringBuilder>>),
}

/// How much string data a column's builder held when it was finished: the size to give the
/// next builder of the column, so that it fills without growing (a chunk of lines is about as
/// big as the one before it).
#[derive(Debug, Clone, Copy, Default)]
struct StrSize {
    /// Strings, and their bytes, of the column's (or its entries') string values.
    items: usize,
    bytes: usize,
    /// The same for a map's values.
    value_items: usize,
    value_bytes: usize,
}

/// Room made for one column's string data at most: a chunk of lines holds about this much
/// text (a chunk with one huge line does not make every later builder reserve as much).
const MAX_HINT_BYTES: usize = crate::source::reader::CHUNK_BYTES;

fn strings(items: usize, bytes: usize) -> StringBuilder {
    StringBuilder::with_capacity(items.min(MAX_HINT_BYTES / 8), bytes.min(MAX_HINT_BYTES))
}

impl ColBuilder {
    fn new(kind: Kind, capacity: usize, size: StrSize) -> Self {
        match kind {
            Kind::Timestamp => ColBuilder::Ts(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            Kind::Int64 => ColBuilder::I64(Int64Builder::with_capacity(capacity)),
            Kind::Int32 => ColBuilder::I32(Int32Builder::with_capacity(capacity)),
            Kind::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Str | Kind::Date => ColBuilder::Str(strings(capacity, size.bytes.max(16))),
            Kind::StrList => ColBuilder::List(ListBuilder::with_capacity(
                strings(size.items, size.bytes),
                capacity,
            )),
            Kind::StrMap => ColBuilder::Map(MapBuilder::with_capacity(
                None,
                strings(size.items, size.bytes),
                strings(size.value_items, size.value_bytes),
                capacity,
            )),
            Kind::StrListMap => ColBuilder::ListMap(MapBuilder::with_capacity(
                None,
                strings(size.items, size.bytes),
                ListBuilder::with_capacity(strings(size.value_items, size.value_bytes), size.items),
                capacity,
            )),
        }
    }

    /// The string data held now.
    fn size(&mut self) -> StrSize {
        let of = |b: &StringBuilder| (b.offsets_slice().len() - 1, b.values_slice().len());
        let (items, bytes, value_items, value_bytes) = match self {
            ColBuilder::Str(b) => (0, b.values_slice().len(), 0, 0),
            ColBuilder::List(b) => {
                let (i, n) = of(b.values_ref());
                (i, n, 0, 0)
            }
            ColBuilder::Map(b) => {
                let ((i, n), (vi, vn)) = (of(b.keys()), of(b.values()));
                (i, n, vi, vn)
            }
            ColBuilder::ListMap(b) => {
                let (i, n) = of(b.keys());
                let (vi, vn) = of(b.values().values_ref());
                (i, n, vi, vn)
            }
            _ => (0, 0, 0, 0),
        };
        StrSize {
            items,
            bytes,
            value_items,
            value_bytes,
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Ts(b) => Arc::new(b.finish()),
            ColBuilder::I64(b) => Arc::new(b.finish()),
            ColBuilder::I32(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::List(b) => Arc::new(b.finish()),
            ColBuilder::Map(b) => Arc::new(b.finish()),
            ColBuilder::ListMap(b) => Arc::new(b.finish()),
        }
    }
}

/// Rows of the `events` file schema under construction.
pub struct EventBatchBuilder {
    cols: Vec<ColBuilder>,
    rows: usize,
    /// Bytes of string data appended so far: a cheap estimate of the batch's memory.
    bytes: usize,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

/// The string data of each column of a finished batch (see [`EventBatchBuilder::sized_like`]).
#[derive(Debug, Clone, Default)]
pub struct Sizes(Vec<StrSize>);

impl EventBatchBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        Self::sized_like(capacity, &Sizes::default())
    }

    /// A builder for `capacity` rows whose string columns have room for the data `sizes`
    /// recorded (from [`EventBatchBuilder::finish_sized`] of a batch like the next one).
    pub fn sized_like(capacity: usize, sizes: &Sizes) -> Self {
        let cols = FILE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| {
                ColBuilder::new(
                    c.kind,
                    capacity,
                    sizes.0.get(i).copied().unwrap_or_default(),
                )
            })
            .collect();
        EventBatchBuilder {
            cols,
            rows: 0,
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes + self.rows * 64
    }

    /// Start a row: the returned writer takes one value per column, in schema order.
    pub fn row(&mut self) -> RowWriter<'_> {
        RowWriter {
            batch: self,
            next: 0,
        }
    }

    /// [`EventBatchBuilder::finish`], and the string data each column held.
    pub fn finish_sized(&mut self) -> Result<(RecordBatch, Sizes), arrow::error::ArrowError> {
        let sizes = Sizes(self.cols.iter_mut().map(ColBuilder::size).collect());
        Ok((self.finish()?, sizes))
    }

    /// Turn the rows so far into a record batch and start afresh.
    pub fn finish(&mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(ColBuilder::finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(file_schema(), arrays)
    }
}

/// Appends the values of one row; [`RowWriter::end`] checks that every column got one.
pub struct RowWriter<'b> {
    batch: &'b mut EventBatchBuilder,
    next: usize,
}

impl RowWriter<'_> {
    fn col(&mut self) -> &mut ColBuilder {
        let i = self.next;
        self.next += 1;
        // Invariant: callers write exactly FILE_COLUMNS.len() values (checked in `end` and tests).
        &mut self.batch.cols[i]
    }

    pub fn ts(&mut self, v: Option<i64>) -> &mut Self {
        match self.col() {
            ColBuilder::Ts(b) => b.append_option(v),
            _ => unreachable!("column is not a timestamp"),
        }
        self
    }

    pub fn i64(&mut self, v: Option<i64>) -> &mut Self {
        match self.col() {
            ColBuilder::I64(b) => b.append_option(v),
            _ => unreachable!("column is not an int64"),
        }
        self
    }

    pub fn i32(&mut self, v: Option<i32>) -> &mut Self {
        match self.col() {
            ColBuilder::I32(b) => b.append_option(v),
            _ => unreachable!("column is not an int32"),
        }
        self
    }

    pub fn bool(&mut self, v: Option<bool>) -> &mut Self {
        match self.col() {
            ColBuilder::Bool(b) => b.append_option(v),
            _ => unreachable!("column is not a boolean"),
        }
        self
    }

    pub fn str(&mut self, v: Option<&str>) -> &mut Self {
        let n = v.map_or(0, str::len);
        match self.col() {
            ColBuilder::Str(b) => b.append_option(v),
            _ => unreachable!("column is not a string"),
        }
        self.batch.bytes += n;
        self
    }

    /// A list column; `None` is null, `Some` of an empty iterator an empty list.
    pub fn list<'s, I: IntoIterator<Item = &'s str>>(&mut self, v: Option<I>) -> &mut Self {
        let mut n = 0;
        match self.col() {
            ColBuilder::List(b) => match v {
                Some(items) => {
                    for s in items {
                        n += s.len() + 4;
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                None => b.append(false),
            },
            _ => unreachable!("column is not a list"),
        }
        self.batch.bytes += n;
        self
    }

    /// A map of strings; values may be null.
    pub fn map<'s, I: IntoIterator<Item = (&'s str, Option<&'s str>)>>(
        &mut self,
        v: Option<I>,
    ) -> &mut Self {
        let mut n = 0;
        match self.col() {
            ColBuilder::Map(b) => {
                if let Some(items) = v {
                    for (k, val) in items {
                        n += k.len() + val.map_or(0, str::len) + 8;
                        b.keys().append_value(k);
                        b.values().append_option(val);
                    }
                }
                // A map column is never null here: an absent map is an empty one.
                let _ = b.append(true);
            }
            _ => unreachable!("column is not a map"),
        }
        self.batch.bytes += n;
        self
    }

    /// A map of string lists (user.extra).
    pub fn list_map<'s, I, L>(&mut self, v: Option<I>) -> &mut Self
    where
        I: IntoIterator<Item = (&'s str, L)>,
        L: IntoIterator<Item = &'s str>,
    {
        let mut n = 0;
        match self.col() {
            ColBuilder::ListMap(b) => {
                if let Some(items) = v {
                    for (k, vals) in items {
                        n += k.len() + 8;
                        b.keys().append_value(k);
                        for s in vals {
                            n += s.len() + 4;
                            b.values().values().append_value(s);
                        }
                        b.values().append(true);
                    }
                }
                let _ = b.append(true);
            }
            _ => unreachable!("column is not a map of lists"),
        }
        self.batch.bytes += n;
        self
    }

    /// Finish the row.
    pub fn end(self) {
        debug_assert_eq!(
            self.next,
            FILE_COLUMNS.len(),
            "row has the wrong number of values"
        );
        self.batch.rows += 1;
    }
}
