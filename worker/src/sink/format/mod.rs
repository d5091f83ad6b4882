//! File encoders: a batch of records of one kind in, the bytes of one lake object out.
//!
//! Encoding is a pure function of the *set* of records and the options: the batch is sorted
//! first and no file carries a wall-clock time, a random id or a host name. So a sink that
//! crashes and re-reads the same Kafka offsets writes byte-identical objects, and an overwrite
//! of an object by a retry can never change what readers see.
//!
//! The column list in [`columns`] is the lake schema that the Parquet and CSV writers (and the
//! Glue table) share; JSON lines carry the wire form unchanged.

pub mod columns;
mod csv;
mod jsonl;
mod order;
mod parquet;

use crate::record::{Record, RecordKind};

pub use columns::{Column, ColumnType, columns};

/// The file format of lake objects.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Columnar, compressed, typed: what Athena scans fastest and cheapest.
    #[default]
    Parquet,
    /// One wire-format JSON record per line, optionally gzipped.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// Compression of Parquet column chunks.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    /// Best ratio at a speed close to snappy; read by Athena engine v3, Trino, Spark, DuckDB.
    #[default]
    Zstd,
    /// For older readers that lack zstd.
    Snappy,
    None,
}

/// The default rows per Parquet row group: large enough for efficient column chunks, small
/// enough that a reader can skip row groups by their statistics within one flushed file.
pub const DEFAULT_ROW_GROUP_ROWS: u32 = 128 * 1024;

/// The default zstd level. Level 1 (also arrow-rs's default) made files no larger than zstd's
/// own default of 3 on market data (69 vs 71 MiB for 3M records: the columns are dictionary-
/// and run-length-encoded before compression) for ~4 % less sink CPU.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// How files are encoded; every field has a default, so `{}` is a valid value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FormatOptions {
    /// Parquet column compression: zstd (default), snappy or none.
    pub parquet_compression: ParquetCompression,
    /// zstd level for Parquet, 1 (fastest) to 22 (smallest); default 3.
    #[schemars(range(min = 1, max = 22))]
    pub zstd_level: i32,
    /// Maximum rows per Parquet row group; default 131072.
    #[schemars(range(min = 1))]
    pub row_group_rows: u32,
    /// Gzip JSON-lines files (`.jsonl.gz`); default false.
    pub jsonl_gzip: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            parquet_compression: ParquetCompression::Zstd,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            jsonl_gzip: false,
        }
    }
}

impl FormatOptions {
    /// Checks the ranges that serde cannot; call at start-up so a bad value fails before any
    /// record is consumed. [`encode`] checks again.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if !(1..=22).contains(&self.zstd_level) {
            return Err(EncodeError::InvalidOption {
                field: "zstdLevel",
                problem: format!("must be 1 to 22, got {}", self.zstd_level),
            });
        }
        if self.row_group_rows == 0 {
            return Err(EncodeError::InvalidOption {
                field: "rowGroupRows",
                problem: "must be at least 1, got 0".to_owned(),
            });
        }
        Ok(())
    }
}

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
    #[error("format option `{field}` {problem}")]
    InvalidOption {
        field: &'static str,
        problem: String,
    },
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
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::record::{Bar, Ohlc, Price, Provider, Quantity, Quote, Symbol, Trade};

    fn at(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 14, 30, 0)
            .single()
            .map(|t| t + chrono::Duration::nanoseconds(i64::from(nanos)))
            .unwrap_or_default()
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn q(text: &str) -> Quantity {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn sym(text: &str) -> Symbol {
        Symbol::new(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// One or two records of each kind, with optional fields both set and unset.
    pub(crate) fn sample() -> Vec<Record> {
        let trade = Trade::new(
            Provider::Finnhub,
            sym("AAPL"),
            at(123_456_789),
            at(200_000_000),
            p("189.1234"),
            q("100"),
        );
        let full = trade
            .clone()
            .with_exchange("V")
            .with_conditions(vec!["@".into(), "I".into()])
            .with_trade_id("t-1");
        let quote = Quote::new(
            Provider::Alpaca,
            sym("MSFT"),
            at(5),
            at(9),
            p("412.01"),
            q("3"),
            p("412.02"),
            q("0.5"),
        );
        let ohlc = Ohlc {
            open: p("10"),
            high: p("11"),
            low: p("9.5"),
            close: p("10.25"),
        };
        let interval = "1m".parse().unwrap_or_else(|e| panic!("{e}"));
        let bar = Bar::new(
            Provider::Yahoo,
            sym("NVDA"),
            at(0),
            at(1),
            interval,
            ohlc,
            q("1000"),
        );
        let bar_stats = bar.clone().with_stats(Some(p("10.1")), Some(42));
        vec![
            full.into(),
            trade.into(),
            quote.into(),
            bar.into(),
            bar_stats.into(),
        ]
    }

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
            Some(EncodeError::InvalidOption {
                field: "zstdLevel",
                ..
            })
        ));
        let bad = FormatOptions {
            row_group_rows: 0,
            ..FormatOptions::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn options_default_from_empty_object_and_reject_unknown_fields() {
        let parsed: FormatOptions = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, FormatOptions::default());
        assert_eq!(parsed.row_group_rows, 131_072);
        let parsed: FormatOptions =
            serde_json::from_str(r#"{"parquetCompression":"snappy","jsonlGzip":true}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.parquet_compression, ParquetCompression::Snappy);
        assert!(parsed.jsonl_gzip);
        assert!(serde_json::from_str::<FormatOptions>(r#"{"gzip":true}"#).is_err());
        let format: Format = serde_json::from_str("\"csv\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format, Format::Csv);
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
