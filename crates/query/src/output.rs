//! Query results as text: an aligned table for people, CSV and JSON lines for programs.
//!
//! Values are written exactly: decimals with their full scale (`189.12340000`, as Athena
//! shows `decimal(18,8)`), never through a float; timestamps in RFC 3339, UTC ones with `Z`
//! (`2026-11-26T14:30:00.123456Z`, the sink's CSV spelling). In JSON lines, decimals and
//! timestamps are strings (as prices are in the record wire format, so no reader turns them
//! into binary floats), integers and floats are numbers, lists are arrays, null is `null`.
//! In the table and CSV, lists are shown as `[a, b]`; null is `NULL` in the table and an empty
//! field in CSV.

use std::io::Write;
use std::str::FromStr;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, LargeListArray, ListArray,
};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns with a header and a row count.
    #[default]
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per row.
    Json,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" | "jsonl" => Ok(OutputFormat::Json),
            other => Err(format!(
                "unknown output format `{other}`: use table, csv or json"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("formatting a value: {0}")]
    Arrow(#[from] ArrowError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the result: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes a result as it arrives, batch by batch (the table buffers, to align its columns).
pub struct ResultWriter<W: Write> {
    format: OutputFormat,
    schema: Schema,
    out: Option<W>,
    csv: Option<csv::Writer<W>>,
    /// Table cells so far, row by row.
    rows: Vec<Vec<String>>,
}

impl<W: Write> ResultWriter<W> {
    pub fn new(format: OutputFormat, schema: &Schema, out: W) -> Result<Self, OutputError> {
        let mut writer = ResultWriter {
            format,
            schema: schema.clone(),
            out: None,
            csv: None,
            rows: Vec::new(),
        };
        match format {
            OutputFormat::Csv => {
                let mut csv = csv::WriterBuilder::new().from_writer(out);
                csv.write_record(schema.fields().iter().map(|f| f.name().as_str()))?;
                writer.csv = Some(csv);
            }
            OutputFormat::Table | OutputFormat::Json => writer.out = Some(out),
        }
        Ok(writer)
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        match self.format {
            OutputFormat::Table => {
                let columns = texts(batch, "NULL")?;
                for row in 0..batch.num_rows() {
                    self.rows
                        .push(columns.iter().map(|c| c[row].clone()).collect());
                }
            }
            OutputFormat::Csv => {
                let columns = texts(batch, "")?;
                if let Some(csv) = self.csv.as_mut() {
                    for row in 0..batch.num_rows() {
                        csv.write_record(columns.iter().map(|c| c[row].as_str()))?;
                    }
                }
            }
            OutputFormat::Json => {
                if let Some(out) = self.out.as_mut() {
                    for line in json_lines(batch)? {
                        out.write_all(line.as_bytes())?;
                        out.write_all(b"\n")?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes what is buffered and flushes; returns the writer.
    pub fn finish(mut self) -> Result<W, OutputError> {
        if let Some(csv) = self.csv.take() {
            return csv
                .into_inner()
                .map_err(|e| OutputError::Io(std::io::Error::other(e.to_string())));
        }
        let mut out = self
            .out
            .take()
            .ok_or_else(|| OutputError::Io(std::io::Error::other("writer already finished")))?;
        if self.format == OutputFormat::Table {
            write_table(&self.schema, &self.rows, &mut out)?;
        }
        out.flush()?;
        Ok(out)
    }
}

/// Every batch at once (for tests and small results).
pub fn render(
    format: OutputFormat,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<String, OutputError> {
    let mut writer = ResultWriter::new(format, schema, Vec::new())?;
    for batch in batches {
        writer.write(batch)?;
    }
    let bytes = writer.finish()?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn format_options(null: &str) -> FormatOptions<'_> {
    FormatOptions::new()
        .with_null(null)
        .with_display_error(false)
}

/// `+00:00` at the end of a UTC instant becomes `Z`.
fn utc_as_z(ty: &DataType, text: String) -> String {
    match ty {
        DataType::Timestamp(_, Some(_)) => match text.strip_suffix("+00:00") {
            Some(head) => format!("{head}Z"),
            None => text,
        },
        _ => text,
    }
}

/// Each column of `batch` as display texts.
fn texts(batch: &RecordBatch, null: &str) -> Result<Vec<Vec<String>>, OutputError> {
    let options = format_options(null);
    batch
        .columns()
        .iter()
        .map(|column| {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            Ok((0..column.len())
                .map(|row| utc_as_z(column.data_type(), formatter.value(row).to_string()))
                .collect())
        })
        .collect()
}

fn is_numeric(ty: &DataType) -> bool {
    ty.is_numeric()
}

fn write_table<W: Write>(
    schema: &Schema,
    rows: &[Vec<String>],
    out: &mut W,
) -> std::io::Result<()> {
    let fields = schema.fields();
    let mut widths: Vec<usize> = fields.iter().map(|f| f.name().chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let pad = |text: &str, width: usize, right: bool| {
        let fill = " ".repeat(width.saturating_sub(text.chars().count()));
        if right {
            format!("{fill}{text}")
        } else {
            format!("{text}{fill}")
        }
    };
    let header: Vec<String> = fields
        .iter()
        .zip(&widths)
        .map(|(f, w)| pad(f.name(), *w, is_numeric(f.data_type())))
        .collect();
    writeln!(out, "{}", header.join(" | ").trim_end())?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("-+-"))?;
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(fields.iter().zip(&widths))
            .map(|(cell, (f, w))| pad(cell, *w, is_numeric(f.data_type())))
            .collect();
        writeln!(out, "{}", cells.join(" | ").trim_end())?;
    }
    let n = rows.len();
    writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })
}

/// Each row of `batch` as the text of a JSON object, keys in column order (serde_json's map
/// would sort them).
fn json_lines(batch: &RecordBatch) -> Result<Vec<String>, OutputError> {
    let schema = batch.schema();
    let keys = schema
        .fields()
        .iter()
        .map(|f| serde_json::to_string(f.name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::from)?;
    let columns = batch
        .columns()
        .iter()
        .map(json_values)
        .collect::<Result<Vec<_>, _>>()?;
    (0..batch.num_rows())
        .map(|row| {
            let mut line = String::from("{");
            for (i, (key, values)) in keys.iter().zip(&columns).enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(key);
                line.push(':');
                line.push_str(&values[row].to_string());
            }
            line.push('}');
            Ok(line)
        })
        .collect()
}

/// Every value of `array` as JSON.
fn json_values(array: &ArrayRef) -> Result<Vec<Value>, OutputError> {
    let ty = array.data_type();
    let nested = |values: &dyn Fn(usize) -> ArrayRef| -> Result<Vec<Value>, OutputError> {
        (0..array.len())
            .map(|row| {
                if array.is_null(row) {
                    Ok(Value::Null)
                } else {
                    json_values(&values(row)).map(Value::Array)
                }
            })
            .collect()
    };
    match ty {
        DataType::List(_) => {
            let list: &ListArray = array.as_list();
            nested(&|row| list.value(row))
        }
        DataType::LargeList(_) => {
            let list: &LargeListArray = array.as_list();
            nested(&|row| list.value(row))
        }
        DataType::FixedSizeList(_, _) => {
            let list: &FixedSizeListArray = array.as_fixed_size_list();
            nested(&|row| list.value(row))
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let children = s
                .columns()
                .iter()
                .map(json_values)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((0..array.len())
                .map(|row| {
                    if array.is_null(row) {
                        return Value::Null;
                    }
                    let mut object = Map::new();
                    for (f, values) in fields.iter().zip(&children) {
                        object.insert(f.name().clone(), values[row].clone());
                    }
                    Value::Object(object)
                })
                .collect())
        }
        _ => {
            let options = format_options("");
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            Ok((0..array.len())
                .map(|row| {
                    if array.is_null(row) {
                        return Value::Null;
                    }
                    let text = utc_as_z(ty, formatter.value(row).to_string());
                    scalar_json(ty, text)
                })
                .collect())
        }
    }
}

fn scalar_json(ty: &DataType, text: String) -> Value {
    match ty {
        DataType::Boolean => Value::Bool(text == "true"),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64 => match Number::from_str(&text) {
            Ok(n) => Value::Number(n),
            // NaN and infinities have no JSON number.
            Err(_) => Value::String(text),
        },
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Decimal128Array, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
        TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{Field, TimeUnit};

    use super::*;

    fn sample() -> (Schema, RecordBatch) {
        let schema = Schema::new(vec![
            Field::new("symbol", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(18, 8), true),
            Field::new(
                "event_ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("n", DataType::Int64, true),
            Field::new("ratio", DataType::Float64, true),
            Field::new(
                "conditions",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ]);
        let mut conditions = ListBuilder::new(StringBuilder::new());
        conditions.values().append_value("@");
        conditions.values().append_value("I");
        conditions.append(true);
        conditions.append(false);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("AAPL"), Some("BRK.B, \"A\"")])),
            Arc::new(
                Decimal128Array::from(vec![Some(18_912_340_000_i128), None])
                    .with_precision_and_scale(18, 8)
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_795_703_400_123_456), Some(0)])
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(vec![Some(350), None])),
            Arc::new(Float64Array::from(vec![Some(0.5), Some(f64::NAN)])),
            Arc::new(conditions.finish()),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), columns)
            .unwrap_or_else(|e| panic!("{e}"));
        (schema, batch)
    }

    #[test]
    fn table_aligns_columns_and_counts_rows() {
        let (schema, batch) = sample();
        let text = render(OutputFormat::Table, &schema, &[batch]).unwrap_or_else(|e| panic!("{e}"));
        let expected = "\
symbol     |        price | event_ts                    |    n | ratio | conditions
-----------+--------------+-----------------------------+------+-------+-----------
AAPL       | 189.12340000 | 2026-11-26T14:30:00.123456Z |  350 |   0.5 | [@, I]
BRK.B, \"A\" |         NULL | 1970-01-01T00:00:00Z        | NULL |   NaN | NULL
(2 rows)
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn csv_quotes_where_needed_and_leaves_nulls_empty() {
        let (schema, batch) = sample();
        let text = render(OutputFormat::Csv, &schema, &[batch]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "symbol,price,event_ts,n,ratio,conditions\n\
             AAPL,189.12340000,2026-11-26T14:30:00.123456Z,350,0.5,\"[@, I]\"\n\
             \"BRK.B, \"\"A\"\"\",,1970-01-01T00:00:00Z,,NaN,\n"
        );
    }

    #[test]
    fn json_lines_keep_decimals_exact_and_types_apart() {
        let (schema, batch) = sample();
        let text = render(OutputFormat::Json, &schema, &[batch]).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({"symbol": "AAPL", "price": "189.12340000",
                "event_ts": "2026-11-26T14:30:00.123456Z", "n": 350, "ratio": 0.5,
                "conditions": ["@", "I"]})
        );
        assert_eq!(
            lines[1],
            serde_json::json!({"symbol": "BRK.B, \"A\"", "price": null,
                "event_ts": "1970-01-01T00:00:00Z", "n": null, "ratio": "NaN",
                "conditions": null})
        );
        // Column order is kept.
        assert!(text.starts_with("{\"symbol\":"), "{text}");
    }

    #[test]
    fn an_empty_result_still_has_its_header() {
        let (schema, _) = sample();
        let table = render(OutputFormat::Table, &schema, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(table.ends_with("(0 rows)\n"), "{table}");
        let csv = render(OutputFormat::Csv, &schema, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(csv, "symbol,price,event_ts,n,ratio,conditions\n");
        let json = render(OutputFormat::Json, &schema, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, "");
        assert_eq!("jsonl".parse::<OutputFormat>(), Ok(OutputFormat::Json));
        assert!("xml".parse::<OutputFormat>().is_err());
    }
}
