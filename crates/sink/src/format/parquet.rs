//! Parquet through arrow-rs, with the types Athena engine v3 and Glue read natively (see
//! `columns.rs` for the type choices).
//!
//! Determinism: arrow-rs writes no time or random id into a file; its `created_by` names only
//! the library version, and the embedded Arrow schema and our key/value entries are fixed
//! strings. So the bytes depend only on the sorted rows, the options and the library version.

use std::sync::Arc;

use arrow_array::builder::{
    Decimal128Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::{EncodeError, FormatOptions, ParquetCompression};
use stockfeed_record::lake::columns::{Cell, Column, ColumnType, columns};
use stockfeed_record::{Record, RecordKind, SCHEMA_VERSION};

/// File-level key/value metadata naming the record schema version, so a reader can tell
/// versions apart without opening a row group.
pub const SCHEMA_VERSION_KEY: &str = "stockfeed.schema_version";
/// File-level key/value metadata naming the record kind.
pub const KIND_KEY: &str = "stockfeed.kind";

/// The Arrow schema of a `kind` file, straight from the column list.
pub fn arrow_schema(kind: RecordKind) -> Schema {
    Schema::new(
        columns(kind)
            .iter()
            .map(|c| Field::new(c.name, c.ty.arrow_type(), c.nullable))
            .collect::<Vec<_>>(),
    )
}

pub(super) fn encode(
    options: &FormatOptions,
    kind: RecordKind,
    records: &[&Record],
) -> Result<Vec<u8>, EncodeError> {
    let cols = columns(kind);
    let schema = Arc::new(arrow_schema(kind));
    let rows_per_group = usize::try_from(options.row_group_rows)
        .unwrap_or(usize::MAX)
        .max(1);
    let props = properties(options, kind, &cols, rows_per_group)?;
    let mut writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(props))?;
    for chunk in records.chunks(rows_per_group) {
        let arrays = arrays(&cols, chunk)?;
        writer.write(&RecordBatch::try_new(Arc::clone(&schema), arrays)?)?;
    }
    Ok(writer.into_inner()?)
}

/// Columns whose values are (nearly) all distinct within a file.
const UNIQUE_COLUMNS: [&str; 4] = ["id", "event_ts", "ingest_ts", "trade_id"];

fn properties(
    options: &FormatOptions,
    kind: RecordKind,
    cols: &[Column],
    rows_per_group: usize,
) -> Result<WriterProperties, EncodeError> {
    let compression = match options.parquet_compression {
        ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::try_new(options.zstd_level)?),
        ParquetCompression::Snappy => Compression::SNAPPY,
        ParquetCompression::None => Compression::UNCOMPRESSED,
    };
    // Declares the row order `encode` sorted by, so engines that use it can skip a sort. Leaf
    // indices equal column indices because every list column comes after the header.
    let sorted_by = ["symbol", "event_ts", "id"]
        .iter()
        .filter_map(|name| cols.iter().position(|c| c.name == *name))
        .filter_map(|i| i32::try_from(i).ok())
        .map(|column_idx| SortingColumn {
            column_idx,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let mut builder = WriterProperties::builder();
    // Dictionary encoding pays off for repeated values (symbols, providers, prices) and only
    // costs for unique ones: arrow-rs hashes every value into a dictionary page, compresses
    // that page, then falls back to plain encoding once it is full, in every row group.
    for name in UNIQUE_COLUMNS {
        if cols.iter().any(|c| c.name == name) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
    }
    Ok(builder
        .set_compression(compression)
        .set_max_row_group_row_count(Some(rows_per_group))
        .set_sorting_columns(Some(sorted_by))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(SCHEMA_VERSION_KEY.to_owned(), SCHEMA_VERSION.to_string()),
            KeyValue::new(KIND_KEY.to_owned(), kind.as_str().to_owned()),
        ]))
        .build())
}

/// One column's Arrow builder while a chunk of rows is filled.
///
/// Chunks are filled a row at a time, every column at once: each record is then read from
/// memory once. Filling a column at a time visited every record once per column, and since
/// rows are in sorted order (scattered over the segment) most of those visits were cache
/// misses: a sixth of the sink's time went to building arrays that way.
enum Builder {
    String(StringBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder),
    Int(Int32Builder),
    BigInt(Int64Builder),
    StringList(ListBuilder<StringBuilder>),
}

/// Text bytes reserved per row up front for a string column (ids take 32).
const TEXT_BYTES_PER_ROW: usize = 16;

impl Builder {
    /// A builder of `ty`'s Arrow type, as `ColumnType::arrow_type` defines it (precision,
    /// scale, time zone, list item), so the arrays always match the schema.
    fn new(ty: ColumnType, rows: usize) -> Self {
        let data_type = ty.arrow_type();
        match (ty, data_type) {
            (ColumnType::Timestamp, t) => Builder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_data_type(t),
            ),
            (ColumnType::Decimal, t) => {
                Builder::Decimal(Decimal128Builder::with_capacity(rows).with_data_type(t))
            }
            (ColumnType::StringList, DataType::List(item)) => Builder::StringList(
                ListBuilder::with_capacity(StringBuilder::new(), rows).with_field(item),
            ),
            (ColumnType::Int, _) => Builder::Int(Int32Builder::with_capacity(rows)),
            (ColumnType::BigInt, _) => Builder::BigInt(Int64Builder::with_capacity(rows)),
            // `arrow_type` makes every list a `List`; were it not, the first row would fail as
            // a schema mismatch (a list cell for a string builder).
            (ColumnType::String | ColumnType::StringList, _) => Builder::String(
                StringBuilder::with_capacity(rows, rows * TEXT_BYTES_PER_ROW),
            ),
        }
    }

    /// Appends `column`'s value of `record`; the builder was made for that column's type.
    fn append(&mut self, column: &Column, record: &Record) -> Result<(), EncodeError> {
        let mismatch = || EncodeError::SchemaMismatch {
            column: column.name,
        };
        let cell = column.cell(record).ok_or_else(mismatch)?;
        match (self, cell) {
            (Builder::String(b), Cell::Text(v)) => b.append_option(v),
            (Builder::String(b), Cell::Id(id)) => {
                b.append_value(std::str::from_utf8(&id.hex()).unwrap_or_default())
            }
            // `timestamp_micros` floors: sub-microsecond digits are dropped.
            (Builder::Timestamp(b), Cell::Timestamp(ts)) => b.append_value(ts.timestamp_micros()),
            (Builder::Decimal(b), Cell::Decimal(v)) => {
                b.append_option(v.map(|d| i128::from(d.scaled())))
            }
            (Builder::Int(b), Cell::Int(v)) => b.append_value(v),
            (Builder::BigInt(b), Cell::Count(v)) => {
                b.append_option(v.map(|n| signed(n, column, record)).transpose()?)
            }
            (Builder::StringList(b), Cell::TextList(items)) => {
                for i in items {
                    b.values().append_value(i);
                }
                b.append(true);
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::String(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b) => Arc::new(b.finish()),
            Builder::Decimal(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::BigInt(mut b) => Arc::new(b.finish()),
            Builder::StringList(mut b) => Arc::new(b.finish()),
        }
    }
}

/// A chunk of rows as one Arrow array per column, in column order.
fn arrays(cols: &[Column], rows: &[&Record]) -> Result<Vec<ArrayRef>, EncodeError> {
    let mut builders = cols
        .iter()
        .map(|c| Builder::new(c.ty, rows.len()))
        .collect::<Vec<_>>();
    for record in rows {
        for (column, builder) in cols.iter().zip(&mut builders) {
            builder.append(column, record)?;
        }
    }
    Ok(builders.into_iter().map(Builder::finish).collect())
}

fn signed(value: u64, column: &Column, record: &Record) -> Result<i64, EncodeError> {
    i64::try_from(value).map_err(|_| EncodeError::Unrepresentable {
        id: record.id().to_string(),
        column: column.name,
        problem: format!("{value} exceeds the largest bigint"),
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, Write};

    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::ParquetMetaData;

    use super::*;
    use crate::format::{Format, encode as encode_any};
    use stockfeed_record::samples::sample;

    /// Reads a file back with the crate's own reader; the integration tests use independent
    /// readers (pyarrow, DuckDB) for the values.
    fn read(bytes: &[u8]) -> (arrow_schema::SchemaRef, ParquetMetaData) {
        let mut file = tempfile::tempfile().unwrap_or_else(|e| panic!("{e}"));
        file.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
        file.rewind().unwrap_or_else(|e| panic!("{e}"));
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).unwrap_or_else(|e| panic!("{e}"));
        (
            Arc::clone(builder.schema()),
            builder.metadata().as_ref().clone(),
        )
    }

    #[test]
    fn file_schema_is_the_column_list() {
        for kind in RecordKind::ALL {
            let records: Vec<_> = sample().into_iter().filter(|r| r.kind() == kind).collect();
            let out = encode_any(Format::Parquet, &FormatOptions::default(), kind, &records)
                .unwrap_or_else(|e| panic!("{e}"));
            let (schema, meta) = read(&out.bytes);
            let cols = columns(kind);
            assert_eq!(schema.fields().len(), cols.len());
            for (field, col) in schema.fields().iter().zip(&cols) {
                assert_eq!(field.name(), col.name);
                assert_eq!(field.data_type(), &col.ty.arrow_type(), "{}", col.name);
                assert_eq!(field.is_nullable(), col.nullable, "{}", col.name);
            }
            let kv = meta
                .file_metadata()
                .key_value_metadata()
                .cloned()
                .unwrap_or_default();
            let version = SCHEMA_VERSION.to_string();
            assert!(
                kv.iter()
                    .any(|e| e.key == SCHEMA_VERSION_KEY && e.value.as_deref() == Some(&*version))
            );
            assert_eq!(meta.file_metadata().num_rows(), records.len() as i64);
        }
    }
}
