//! Which tables a lake has and how DataFusion reads them: the same names, columns and
//! partition keys as the Glue tables of `catalog::table`, over the sink's object layout
//! (`{prefix}{kind}/dt=YYYY-MM-DD/hour=HH/{topic}+{partition}+{offset}.{ext}`).
//!
//! - Tables are `{database}.{tablePrefix}trades`, `...quotes`, `...bars` and `...bars_1m`
//!   (the sink's derived 1-minute bars, folder `bar_1m/`), the Glue database
//!   and prefix of the feed's `catalog.glue` (database `stockfeed` without one); the catalog
//!   is called `awsdatacatalog` as in Athena, and the database is the default schema, so
//!   `trades`, `markets.trades` and `awsdatacatalog.markets.trades` all work.
//! - Columns come from `sink::format::columns`, the list the writers use, so the table cannot
//!   disagree with the files. Every column is nullable, as in Hive. Parquet and JSON lines
//!   keep the lake types (`decimal(18,8)` as `Decimal128(18, 8)`, timestamps as microsecond
//!   UTC instants, `conditions` as a list); CSV has the same types except `conditions`, which
//!   is the `|`-joined text the CSV holds. (Athena's CSV tables read decimals and timestamps
//!   as strings, see `catalog::table`; here they are parsed.) JSON lines omit an empty
//!   `conditions`, which then reads as null where Parquet has an empty list.
//! - Partition columns follow `partitionBy` and are strings, as in Glue: `dt`, `hour`, and
//!   `symbol_partition` for the `symbol=` folders. A filter on them prunes folders before
//!   any file is opened; an equality on `dt` (and `hour`) even narrows the listing.
//! - Files are those with the format's extension (`.parquet`, `.jsonl` or `.jsonl.gz` as the
//!   feed's `gzip` says, `.csv`); names starting with `_` or `.` are invisible (see
//!   [`super::store`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use object_store::path::Path;
use url::Url;

use super::QueryError;
use stockfeed_record::RecordKind;
use stockfeed_record::lake::SYMBOL_PARTITION_KEY;
use stockfeed_record::lake::columns::{ColumnType, columns};
use stockfeed_record::lake::layout::{Dataset, PartitionBy, PartitionKey};
use stockfeed_record::lake::table_name;
use stockfeed_spec::format::Format;
use stockfeed_spec::lake::LakeUrl;
use stockfeed_spec::lake::S3Settings;
use stockfeed_spec::{FeedSpec, RenderContext};

/// The database of a feed without `catalog.glue`.
pub const DEFAULT_DATABASE: &str = "stockfeed";

/// The catalog name, as Athena calls the Glue Data Catalog.
pub const CATALOG: &str = "awsdatacatalog";

/// Everything needed to read a lake: where it is, how its files are written, what its tables
/// are called.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeSource {
    /// `s3://bucket/prefix/` or `file:///path/`, as `sink.url`.
    pub url: String,
    pub format: Format,
    /// JSON lines are gzipped (`.jsonl.gz`).
    pub gzip: bool,
    pub partition_by: PartitionBy,
    /// The Glue database the tables are registered under.
    pub database: String,
    /// The Glue table name prefix.
    pub table_prefix: String,
    /// How to reach an `s3://` lake.
    pub s3: S3Settings,
}

impl LakeSource {
    /// A lake with the sink's defaults: `[dt, hour]`, no gzip, database `stockfeed`, no table
    /// prefix, S3 from the default chain.
    pub fn new(url: impl Into<String>, format: Format) -> Self {
        LakeSource {
            url: url.into(),
            format,
            gzip: false,
            partition_by: PartitionBy::default(),
            database: DEFAULT_DATABASE.to_owned(),
            table_prefix: String::new(),
            s3: S3Settings::default(),
        }
    }

    /// The lake a StockFeed's sink writes, under the names its Glue catalog gives it.
    pub fn from_feed(spec: &FeedSpec) -> Result<Self, QueryError> {
        let rendered = stockfeed_spec::render(spec, &RenderContext::default())
            .map_err(|e| QueryError::Lake(format!("the StockFeed is invalid: {e}")))?;
        let partition_by = PartitionBy::new(spec.sink.partition_by.clone())
            .map_err(|e| QueryError::Lake(format!("spec.sink.partitionBy: {e}")))?;
        let (database, table_prefix) = match &spec.catalog.glue {
            Some(glue) => (glue.database.clone(), glue.table_prefix.clone()),
            None => (DEFAULT_DATABASE.to_owned(), String::new()),
        };
        Ok(LakeSource {
            url: spec.sink.url.clone(),
            format: spec.sink.format,
            gzip: spec.sink.gzip,
            partition_by,
            database,
            table_prefix,
            s3: rendered.sink.sink.s3,
        })
    }

    /// Database and prefix follow Glue's rules (lowercase letters, digits, `_`), which are also
    /// what SQL can name without quotes.
    pub fn validate_names(&self) -> Result<(), QueryError> {
        let ok = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if self.database.is_empty() || !ok(&self.database) {
            return Err(QueryError::Lake(format!(
                "database `{}`: use lowercase letters, digits and `_`, as Glue does",
                self.database
            )));
        }
        if !ok(&self.table_prefix) {
            return Err(QueryError::Lake(format!(
                "table prefix `{}`: use lowercase letters, digits and `_`, as Glue does",
                self.table_prefix
            )));
        }
        Ok(())
    }

    /// `{database}.{table}` of every table, in kind order.
    pub fn table_names(&self) -> Vec<String> {
        Dataset::ALL
            .iter()
            .map(|dataset| {
                format!(
                    "{}.{}",
                    self.database,
                    table_name(&self.table_prefix, *dataset)
                )
            })
            .collect()
    }

    /// The file extension the sink gives this lake's objects, with the dot.
    pub fn extension(&self) -> &'static str {
        match self.format {
            Format::Parquet => ".parquet",
            Format::Jsonl if self.gzip => ".jsonl.gz",
            Format::Jsonl => ".jsonl",
            Format::Csv => ".csv",
        }
    }
}

/// Where a lake lives, split the way DataFusion addresses object stores.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    /// The object store's URL: `file:///` or `s3://bucket`.
    pub store_url: Url,
    /// The lake's root inside that store.
    pub root: Path,
    /// The lake's root as a URL ending in `/`.
    pub root_url: Url,
    /// The bucket, for `s3://` lakes.
    pub bucket: Option<String>,
}

impl Location {
    pub fn parse(url: &str) -> Result<Self, QueryError> {
        let bad = |why: String| {
            QueryError::Lake(format!(
                "lake URL `{url}`: {why}; use s3://bucket/prefix/ or file:///absolute/path/"
            ))
        };
        match LakeUrl::parse(url).map_err(|e| bad(e.to_string()))? {
            LakeUrl::File(path) => {
                let root_url = Url::from_directory_path(&path)
                    .map_err(|()| bad("not an absolute path".into()))?;
                let root = Path::from_url_path(root_url.path())
                    .map_err(|e| bad(format!("unusable path: {e}")))?;
                let store_url = Url::parse("file:///").map_err(|e| bad(e.to_string()))?;
                Ok(Location {
                    store_url,
                    root,
                    root_url,
                    bucket: None,
                })
            }
            LakeUrl::S3 { bucket, prefix } => {
                let store_url =
                    Url::parse(&format!("s3://{bucket}")).map_err(|e| bad(e.to_string()))?;
                let root_url = Url::parse(&format!("s3://{bucket}/{prefix}"))
                    .map_err(|e| bad(e.to_string()))?;
                let root = Path::parse(prefix.trim_end_matches('/'))
                    .map_err(|e| bad(format!("unusable prefix: {e}")))?;
                Ok(Location {
                    store_url,
                    root,
                    root_url,
                    bucket: Some(bucket),
                })
            }
        }
    }

    /// The folder of one dataset, `{root}{dir}/`.
    fn kind_url(&self, dataset: Dataset) -> Result<ListingTableUrl, QueryError> {
        let url = self
            .root_url
            .join(&format!("{}/", dataset.dir()))
            .map_err(|e| QueryError::Lake(format!("{}: {e}", self.root_url)))?;
        ListingTableUrl::parse(url.as_str())
            .map_err(|e| QueryError::Lake(format!("{url}: {}", e.message())))
    }
}

/// The Arrow type of a lake column in a table of `format`.
pub(crate) fn arrow_type(format: Format, ty: ColumnType) -> DataType {
    match (format, ty) {
        (Format::Csv, ColumnType::StringList) => DataType::Utf8,
        _ => ty.arrow_type(),
    }
}

/// The columns of the files of one kind (partition columns excluded).
pub(crate) fn file_schema(format: Format, kind: RecordKind) -> Schema {
    Schema::new(
        columns(kind)
            .iter()
            .map(|c| Field::new(c.name, arrow_type(format, c.ty), true))
            .collect::<Vec<_>>(),
    )
}

/// The partition columns of a lake, in folder order.
pub(crate) fn partition_columns(partition_by: &PartitionBy) -> Vec<(String, DataType)> {
    partition_by
        .keys()
        .iter()
        .map(|key| {
            let name = match key {
                PartitionKey::Dt => "dt",
                PartitionKey::Hour => "hour",
                PartitionKey::Symbol => SYMBOL_PARTITION_KEY,
            };
            (name.to_owned(), DataType::Utf8)
        })
        .collect()
}

fn file_format(source: &LakeSource) -> Arc<dyn FileFormat> {
    match source.format {
        Format::Parquet => Arc::new(ParquetFormat::default()),
        Format::Jsonl => Arc::new(JsonFormat::default().with_file_compression_type(
            if source.gzip {
                FileCompressionType::GZIP
            } else {
                FileCompressionType::UNCOMPRESSED
            },
        )),
        Format::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
    }
}

/// The table of one kind.
pub(crate) fn table(
    source: &LakeSource,
    location: &Location,
    dataset: Dataset,
) -> Result<ListingTable, QueryError> {
    let options = ListingOptions::new(file_format(source))
        .with_file_extension(source.extension())
        .with_table_partition_cols(partition_columns(&source.partition_by));
    let config = ListingTableConfig::new(location.kind_url(dataset)?)
        .with_listing_options(options)
        .with_schema(Arc::new(file_schema(source.format, dataset.kind())));
    ListingTable::try_new(config).map_err(|e| {
        QueryError::Lake(format!(
            "cannot define table {}: {}",
            table_name(&source.table_prefix, dataset),
            e.message()
        ))
    })
}

/// Whether the store must show `symbol=` folders as `symbol_partition=`.
pub(crate) fn symbol_alias(source: &LakeSource) -> bool {
    source.partition_by.keys().contains(&PartitionKey::Symbol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_into_store_and_root() {
        let file = Location::parse("file:///tmp/lake/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.store_url.as_str(), "file:///");
        assert_eq!(file.root.as_ref(), "tmp/lake");
        assert_eq!(
            file.kind_url(Dataset::Trades)
                .unwrap_or_else(|e| panic!("{e}"))
                .as_str(),
            "file:///tmp/lake/trade/"
        );
        let s3 = Location::parse("s3://market-lake/raw/stocks/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s3.store_url.as_str(), "s3://market-lake");
        assert_eq!(s3.root.as_ref(), "raw/stocks");
        assert_eq!(
            s3.kind_url(Dataset::Bars)
                .unwrap_or_else(|e| panic!("{e}"))
                .as_str(),
            "s3://market-lake/raw/stocks/bar/"
        );
        let top = Location::parse("s3://market-lake/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(top.root.as_ref(), "");
        assert!(Location::parse("http://x/").is_err());
    }

    #[test]
    fn names_and_columns_match_the_glue_tables() {
        let mut source = LakeSource::new("file:///l/", Format::Csv);
        source.database = "markets".into();
        source.table_prefix = "nyse_".into();
        assert_eq!(
            source.table_names(),
            [
                "markets.nyse_trades",
                "markets.nyse_quotes",
                "markets.nyse_bars",
                "markets.nyse_bars_1m"
            ]
        );
        let schema = file_schema(Format::Csv, RecordKind::Trade);
        assert_eq!(
            schema
                .field_with_name("conditions")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::Utf8)
        );
        assert_eq!(
            file_schema(Format::Parquet, RecordKind::Trade)
                .field_with_name("price")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::Decimal128(18, 8))
        );
        let by = PartitionBy::new(vec![PartitionKey::Dt, PartitionKey::Symbol])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            partition_columns(&by),
            [
                ("dt".to_owned(), DataType::Utf8),
                ("symbol_partition".to_owned(), DataType::Utf8)
            ]
        );
        source.format = Format::Jsonl;
        source.gzip = true;
        assert_eq!(source.extension(), ".jsonl.gz");
    }
}
