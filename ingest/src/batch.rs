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

impl ColBuilder {
    fn new(kind: Kind, capacity: usize) -> Self {
        match kind {
            Kind::Timestamp => ColBuilder::Ts(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            Kind::Int64 => ColBuilder::I64(Int64Builder::with_capacity(capacity)),
            Kind::Int32 => ColBuilder::I32(Int32Builder::with_capacity(capacity)),
            Kind::Bool => ColBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Str | Kind::Date => ColBuilder::Str(StringBuilder::with_capacity(capacity, 16)),
            Kind::StrList => ColBuilder::List(ListBuilder::new(StringBuilder::new())),
            Kind::StrMap => ColBuilder::Map(MapBuilder::new(
                None,
                StringBuilder::new(),
                StringBuilder::new(),
            )),
            Kind::StrListMap => ColBuilder::ListMap(MapBuilder::new(
                None,
                StringBuilder::new(),
                ListBuilder::new(StringBuilder::new()),
            )),
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

impl EventBatchBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        let cols = FILE_COLUMNS
            .iter()
            .map(|c| ColBuilder::new(c.kind, capacity))
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
