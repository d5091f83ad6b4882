//! The file formats of lake objects and their encoding options, as configuration writes them;
//! the encoders are in `stockfeed-sink`.

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
    pub fn validate(&self) -> Result<(), InvalidFormatOption> {
        if !(1..=22).contains(&self.zstd_level) {
            return Err(InvalidFormatOption {
                field: "zstdLevel",
                problem: format!("must be 1 to 22, got {}", self.zstd_level),
            });
        }
        if self.row_group_rows == 0 {
            return Err(InvalidFormatOption {
                field: "rowGroupRows",
                problem: "must be at least 1, got 0".to_owned(),
            });
        }
        Ok(())
    }
}

/// A format option out of its range, naming the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("format option `{field}` {problem}")]
pub struct InvalidFormatOption {
    pub field: &'static str,
    pub problem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
