//! Results as a table, CSV, JSON or JSON lines. Every column type renders: lists, maps and
//! structs as JSON text in the table and CSV, as JSON values in JSON; times as RFC 3339 UTC.

use std::borrow::Cow;
use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

use crate::error::Result;

/// Output formats of `query` and the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

/// One cell as a JSON value.
pub fn cell(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let text = scalar_text(array, row);
            text.parse::<i64>()
                .map(|n| Value::Number(n.into()))
                .or_else(|_| text.parse::<u64>().map(|n| Value::Number(n.into())))
                .unwrap_or(Value::String(text))
        }
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => {
            let text = scalar_text(array, row);
            text.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .unwrap_or(Value::String(text))
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            Value::Array((0..list.len()).map(|i| cell(list.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>().value(row);
            Value::Array((0..list.len()).map(|i| cell(list.as_ref(), i)).collect())
        }
        DataType::FixedSizeList(_, _) => {
            let list = array.as_fixed_size_list().value(row);
            Value::Array((0..list.len()).map(|i| cell(list.as_ref(), i)).collect())
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            let mut m = Map::new();
            for i in 0..entries.len() {
                let k = match cell(keys.as_ref(), i) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(k, cell(values.as_ref(), i));
            }
            Value::Object(m)
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut m = Map::new();
            for (i, f) in fields.iter().enumerate() {
                m.insert(f.name().clone(), cell(s.column(i).as_ref(), row));
            }
            Value::Object(m)
        }
        DataType::Timestamp(unit, _) => Value::String(timestamp_text(array, row, *unit)),
        _ => Value::String(scalar_text(array, row)),
    }
}

fn scalar_text(array: &dyn Array, row: usize) -> String {
    let opts = FormatOptions::default();
    match ArrayFormatter::try_new(array, &opts) {
        Ok(f) => f.value(row).to_string(),
        Err(_) => String::new(),
    }
}

fn timestamp_text(array: &dyn Array, row: usize, unit: TimeUnit) -> String {
    use datafusion::arrow::datatypes::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    let micros = match unit {
        TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row) * 1_000_000,
        TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(row) * 1000,
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(row),
        TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row) / 1000,
    };
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => micros.to_string(),
    }
}

/// A cell as text for the table and CSV formats (nested values as compact JSON, null empty).
pub fn cell_text(array: &dyn Array, row: usize) -> String {
    cell_str(array, row).unwrap_or_default()
}

/// A cell as text (nested values as compact JSON), `None` when it is null.
pub fn cell_str(array: &dyn Array, row: usize) -> Option<String> {
    match cell(array, row) {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// `s` safe to print on a terminal: control characters (U+0000 to U+001F except tab, and U+007F
/// to U+009F) replaced by visible escapes, `\n`, `\r`, `\x1b` or `\u{9b}`, so that log text
/// (an exec argument, a user agent) cannot move the cursor, erase a line or set the clipboard
/// (OSC 52). Every table and CSV output passes its text through this, whether or not stdout is
/// a terminal; JSON keeps its own escaping.
pub fn visible(s: &str) -> Cow<'_, str> {
    let hidden = |c: char| c != '\t' && c.is_control();
    if !s.contains(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write `batches` to `out` in `format`.
pub fn write(batches: &[RecordBatch], format: Format, out: &mut dyn Write) -> Result<()> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        if format == Format::Json {
            writeln!(out, "[]")?;
        }
        return Ok(());
    };
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    match format {
        Format::Table => {
            let mut table = Table::new();
            table
                .load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(names.iter().map(|n| visible(n).into_owned()));
            if let Some((w, _)) = terminal_width() {
                table.set_width(w);
            }
            for b in batches {
                for row in 0..b.num_rows() {
                    table.add_row(
                        b.columns()
                            .iter()
                            .map(|c| truncate(&visible(&cell_text(c.as_ref(), row)), 400)),
                    );
                }
            }
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            writeln!(
                out,
                "{}",
                names
                    .iter()
                    .map(|n| csv_field(&visible(n)))
                    .collect::<Vec<_>>()
                    .join(",")
            )?;
            for b in batches {
                for row in 0..b.num_rows() {
                    let fields: Vec<String> = b
                        .columns()
                        .iter()
                        .map(|c| csv_field(&visible(&cell_text(c.as_ref(), row))))
                        .collect();
                    writeln!(out, "{}", fields.join(","))?;
                }
            }
        }
        Format::Json | Format::Jsonl => {
            let mut first = true;
            if format == Format::Json {
                write!(out, "[")?;
            }
            for b in batches {
                for row in 0..b.num_rows() {
                    let mut m = Map::new();
                    for (i, name) in names.iter().enumerate() {
                        m.insert(name.clone(), cell(b.column(i).as_ref(), row));
                    }
                    let text = Value::Object(m).to_string();
                    if format == Format::Json {
                        if !first {
                            write!(out, ",")?;
                        }
                        write!(out, "\n{text}")?;
                    } else {
                        writeln!(out, "{text}")?;
                    }
                    first = false;
                }
            }
            if format == Format::Json {
                writeln!(out, "\n]")?;
            }
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

fn terminal_width() -> Option<(u16, u16)> {
    let cols = std::env::var("COLUMNS").ok()?.parse().ok()?;
    Some((cols, 0))
}

/// The line `--timer` and the shell's `.timer` print after a result: `12 row(s) in 0.034 s`.
pub fn timing(batches: &[RecordBatch], elapsed: std::time::Duration) -> String {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    format!("{rows} row(s) in {:.3} s", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ListBuilder, MapBuilder, StringBuilder};
    use std::sync::Arc;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(visible("plain\ttab ü"), "plain\ttab ü");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(
            visible("a\u{1b}]52;c;cm0=\u{7}b\r\n\u{7f}\u{9b}2K\u{0}"),
            "a\\x1b]52;c;cm0=\\x07b\\r\\n\\x7f\\u{9b}2K\\x00"
        );
    }

    #[test]
    fn escape_sequences_in_cells_are_not_written_raw_to_table_or_csv() {
        let cmd = "sh -c id\u{1b}]52;c;Y3VybCBldmlsLnNo\u{7}\u{1b}[2K\u{9b}1A";
        let batch = RecordBatch::try_from_iter(vec![(
            "exec_command",
            Arc::new(datafusion::arrow::array::StringArray::from(vec![cmd])) as Arc<dyn Array>,
        )])
        .expect("batch");
        for format in [Format::Table, Format::Csv] {
            let mut out = Vec::new();
            write(std::slice::from_ref(&batch), format, &mut out).expect("write");
            let text = String::from_utf8(out).unwrap_or_default();
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{9b}']),
                "{format:?}: {text:?}"
            );
            assert!(
                text.contains("id\\x1b]52;c;Y3VybCBldmlsLnNo\\x07\\x1b[2K\\u{9b}1A"),
                "{text}"
            );
        }
        let mut out = Vec::new();
        write(&[batch], Format::Jsonl, &mut out).expect("jsonl");
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.contains("id\\u001b]52;"), "{text}");
    }

    #[test]
    fn lists_and_maps_render_as_json_in_csv() {
        let mut l = ListBuilder::new(StringBuilder::new());
        l.values().append_value("a");
        l.values().append_value("b,c");
        l.append(true);
        let mut m = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        m.keys().append_value("k");
        m.values().append_value("v");
        let _ = m.append(true);
        let batch = RecordBatch::try_from_iter(vec![
            ("groups", Arc::new(l.finish()) as Arc<dyn Array>),
            ("annotations", Arc::new(m.finish()) as Arc<dyn Array>),
        ])
        .expect("batch");
        let mut out = Vec::new();
        write(&[batch], Format::Csv, &mut out).expect("csv");
        let text = String::from_utf8(out).unwrap_or_default();
        assert_eq!(
            text,
            "groups,annotations\n\"[\"\"a\"\",\"\"b,c\"\"]\",\"{\"\"k\"\":\"\"v\"\"}\"\n"
        );
    }
}
