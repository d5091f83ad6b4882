//! File encoders: a batch of records of one kind in, the bytes of one lake object out.
//!
//! Encoding is a pure function of the *set* of records and the options: the batch is sorted
//! first and no file carries a wall-clock time, a random id or a host name. So a sink that
//! crashes and re-reads the same Kafka offsets writes byte-identical objects, and an overwrite
//! of an object by a retry can never change what readers see.
//!
//! The column list in [`columns`] is the lake schema that the Parquet and CSV writers (and the
//! Glue table) share; JSON lines carry the wire form unchanged.

mod csv;
mod jsonl;
mod order;
mod parquet;

use stockfeed_record::{Record, RecordKind};

pub use stockfeed_record::lake::columns::{Column, ColumnType, columns};
pub use stockfeed_spec::format::{
    DEFAULT_ROW_GROUP_ROWS, DEFAULT_ZSTD_LEVEL, Format, FormatOptions, InvalidFormatOption,
    ParquetCompression,
};

/// The bytes of one lake object and what to name and label it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    /// File name extension without the dot: `parquet`, `jsonl`, `jsonl.gz` or `csv`.
    pub extension: &'static str,
    /// The object's `Content-Type`.
    pub content_type: &'static str,
    pub rows: usize,
}

/// Why a batch could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "record {index} of the batch is a {found}, but the batch is for {expected} records: \
         a file holds one kind only"
    )]
    MixedKinds {
        index: usize,
        expected: RecordKind,
        found: RecordKind,
    },
    #[error(transparent)]
    InvalidOption(#[from] InvalidFormatOption),
    #[error("record {id}: column `{column}` cannot be written: {problem}")]
    Unrepresentable {
        id: String,
        column: &'static str,
        problem: String,
    },
    /// A column's accessor and declared type disagree: a bug in `columns.rs`.
    #[error("column `{column}` yields values that do not match its declared type (a bug)")]
    SchemaMismatch { column: &'static str },
    #[error("building Arrow arrays: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("writing Parquet: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
    #[error("writing CSV: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("writing to memory: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes a batch as one file. All records must be of `kind` (error otherwise). Rows are
/// written in (symbol, event_ts, id) order — deterministic — whatever order `records` is in.
pub fn encode(
    format: Format,
    options: &FormatOptions,
    kind: RecordKind,
    records: &[Record],
) -> Result<Encoded, EncodeError> {
    options.validate()?;
    if let Some((index, r)) = records.iter().enumerate().find(|(_, r)| r.kind() != kind) {
        return Err(EncodeError::MixedKinds {
            index,
            expected: kind,
            found: r.kind(),
        });
    }
    let records = order::sorted_rows(records);
    let records = &records[..];
    let rows = records.len();
    let (bytes, extension, content_type) = match format {
        Format::Parquet => (
            parquet::encode(options, kind, records)?,
            "parquet",
            "application/vnd.apache.parquet",
        ),
        Format::Jsonl if options.jsonl_gzip => {
            (jsonl::encode_gzip(records)?, "jsonl.gz", "application/gzip")
        }
        Format::Jsonl => (jsonl::encode(records), "jsonl", "application/jsonl"),
        Format::Csv => (csv::encode(kind, records)?, "csv", "text/csv"),
    };
    Ok(Encoded {
        bytes,
        extension,
        content_type,
        rows,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stockfeed_record::samples::sample;

    fn of_kind(kind: RecordKind) -> Vec<Record> {
        sample().into_iter().filter(|r| r.kind() == kind).collect()
    }

    #[test]
    fn refuses_a_mixed_batch() {
        let records = sample();
        let err = encode(
            Format::Jsonl,
            &FormatOptions::default(),
            RecordKind::Trade,
            &records,
        )
        .err();
        assert!(
            matches!(
                err,
                Some(EncodeError::MixedKinds {
                    index: 2,
                    expected: RecordKind::Trade,
                    found: RecordKind::Quote
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_invalid_options() {
        let bad = FormatOptions {
            zstd_level: 23,
            ..FormatOptions::default()
        };
        let records = of_kind(RecordKind::Trade);
        let err = encode(Format::Parquet, &bad, RecordKind::Trade, &records).err();
        assert!(matches!(
            err,
            Some(EncodeError::InvalidOption(InvalidFormatOption {
                field: "zstdLevel",
                ..
            }))
        ));
        let bad = FormatOptions {
            row_group_rows: 0,
            ..FormatOptions::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn extensions_and_content_types() {
        let gz = FormatOptions {
            jsonl_gzip: true,
            ..FormatOptions::default()
        };
        let plain = FormatOptions::default();
        for (format, options, ext) in [
            (Format::Parquet, &plain, "parquet"),
            (Format::Jsonl, &plain, "jsonl"),
            (Format::Jsonl, &gz, "jsonl.gz"),
            (Format::Csv, &plain, "csv"),
        ] {
            let records = of_kind(RecordKind::Bar);
            let out = encode(format, options, RecordKind::Bar, &records)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(out.extension, ext);
            assert_eq!(out.rows, 2);
            assert!(!out.bytes.is_empty());
        }
    }

    #[test]
    fn sorts_by_symbol_time_and_id() {
        let mut records = sample();
        records.reverse();
        let records = order::sorted_rows(&records);
        let keys: Vec<_> = records
            .iter()
            .map(|r| (r.symbol().as_str().to_owned(), r.event_ts()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}
