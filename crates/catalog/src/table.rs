//! The Glue table of each record kind, as a pure function of the sink's settings.
//!
//! One external table per kind (`{tablePrefix}trades`, `quotes`, `bars`) because the sink writes
//! one kind per object under `{prefix}{kind}/` and the kinds have different columns. The columns
//! come from [`stockfeed_record::lake::columns`], the one list the Parquet and CSV writers use too,
//! so the catalog cannot disagree with the files.
//!
//! Per format:
//! - **parquet**: `ParquetHiveSerDe` with `MapredParquetInputFormat`/`OutputFormat`; column
//!   types as in `columns.rs` (`decimal(18,8)`, `timestamp`, `array<string>`, ...).
//! - **jsonl**: the OpenX `JsonSerDe` with `TextInputFormat` and
//!   `HiveIgnoreKeyTextOutputFormat`, columns matched to JSON keys by name (the wire form's
//!   extra `kind` key is ignored). Gzipped files (`jsonl.gz`, `formatOptions.jsonlGzip`) need no
//!   other table: Hadoop's text input decompresses by file extension, so plain and gzipped
//!   objects can even share a table.
//! - **csv**: `OpenCSVSerde` with the header row skipped (`skip.header.line.count=1`). That
//!   SerDe reads by position and parses only `int`/`bigint`/`double`/`boolean` (and timestamps
//!   only as epoch milliseconds); it fails on an empty numeric cell and has no arrays. So every
//!   column is `string` except the never-empty `int`/`bigint` ones; decimals, RFC 3339
//!   timestamps and the `|`-joined `conditions` are read as text: cast them in the query
//!   (`CAST(price AS decimal(18,8))`, `from_iso8601_timestamp(event_ts)`,
//!   `split(conditions, '|')`), or use parquet for typed columns.
//!
//! Partition keys follow `partitionBy` (`dt`, `hour`, `symbol`; all `string`, as the folder
//! names are text). `symbol` is also a data column in every file, and Hive refuses a table with
//! the same name twice, so with `partitionBy: [dt, symbol]` the partition key is called
//! [`SYMBOL_PARTITION_KEY`] (`symbol_partition`), mapped to the `symbol=` folders. We keep the
//! data column rather than dropping it because CSV is read by position (dropping a middle
//! column would shift every later one), and because every format then has the same columns.
//! Filter on `symbol_partition = 'AAPL'` to read only that symbol's folders.
//!
//! With partition projection, Athena computes the partitions from table properties instead of
//! the catalog: `dt` as a `date` (`yyyy-MM-dd`, daily, from the earliest event time validation
//! accepts, 1971-02-08, to tomorrow: a record may lie up to a day ahead, and its partition must
//! be visible the day it is written, not only once that day comes), `hour` as an
//! `integer` 0..23 with two digits, `symbol_partition` as `injected` (queries must then filter
//! it with `=`), and `storage.location.template` spelling out the sink's folders exactly.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_glue::error::BuildError;
use aws_sdk_glue::types::{Column as GlueColumn, SerDeInfo, StorageDescriptor, Table, TableInput};

use stockfeed_record::SCHEMA_VERSION;
use stockfeed_record::lake::columns::{Column, ColumnType, columns};
use stockfeed_record::lake::layout::{Dataset, PartitionBy, PartitionKey};
use stockfeed_record::lake::{SYMBOL_PARTITION_KEY, table_name};
use stockfeed_spec::format::Format;
use stockfeed_spec::lake::LakeUrl;

/// `TableType` of every table: the data lives in S3 and outlives the table.
pub const EXTERNAL_TABLE: &str = "EXTERNAL_TABLE";

pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
pub const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
pub const JSON_SERDE: &str = "org.openx.data.jsonserde.JsonSerDe";
pub const CSV_SERDE: &str = "org.apache.hadoop.hive.serde2.OpenCSVSerde";
pub const TEXT_INPUT: &str = "org.apache.hadoop.mapred.TextInputFormat";
pub const TEXT_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";

/// Where the lake is: the sink's `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLocation {
    pub bucket: String,
    /// Empty or ending in `/`.
    pub prefix: String,
}

/// A sink URL that Glue cannot catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("sink url `{0}` is not a valid s3://bucket/prefix/ or file:/// URL")]
    Invalid(String),
    #[error(
        "sink url `{0}` is a local directory; the Glue catalog can only describe an s3:// lake"
    )]
    NotS3(String),
}

impl LakeLocation {
    /// Parses the sink URL the same way the sink does, so the tables point where it writes.
    pub fn parse(sink_url: &str) -> Result<Self, LocationError> {
        match LakeUrl::parse(sink_url) {
            Ok(LakeUrl::S3 { bucket, prefix }) => Ok(LakeLocation { bucket, prefix }),
            Ok(LakeUrl::File(_)) => Err(LocationError::NotS3(sink_url.to_owned())),
            Err(_) => Err(LocationError::Invalid(sink_url.to_owned())),
        }
    }

    /// `s3://bucket/prefix/`.
    pub fn root_url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The folder of one dataset, `s3://bucket/prefix/trade/`: the table's location.
    pub fn kind_url(&self, dataset: Dataset) -> String {
        format!("s3://{}/{}{}/", self.bucket, self.prefix, dataset.dir())
    }
}

/// One column or partition key of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    /// Hive type, e.g. `decimal(18,8)`.
    pub hive_type: String,
    pub comment: Option<String>,
}

impl ColumnDef {
    fn new(name: &str, hive_type: &str, comment: Option<&str>) -> Self {
        ColumnDef {
            name: name.to_owned(),
            hive_type: hive_type.to_owned(),
            comment: comment.map(str::to_owned),
        }
    }
}

/// What a Glue table should look like (or, from [`TableDef::observed`], what it looks like):
/// the fields StockFeed manages, in a form that compares and prints plainly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub name: String,
    pub description: String,
    pub table_type: String,
    /// Table properties (`EXTERNAL`, `classification`, `projection.*`, ...).
    pub parameters: BTreeMap<String, String>,
    pub location: String,
    pub columns: Vec<ColumnDef>,
    pub partition_keys: Vec<ColumnDef>,
    pub input_format: String,
    pub output_format: String,
    pub serde_library: String,
    pub serde_parameters: BTreeMap<String, String>,
}

/// Everything a table definition depends on.
#[derive(Debug, Clone, Copy)]
pub struct TableSource<'a> {
    pub lake: &'a LakeLocation,
    pub table_prefix: &'a str,
    pub format: Format,
    pub partition_by: &'a PartitionBy,
    pub partition_projection: bool,
}

/// The table of `dataset`.
pub fn table_def(source: &TableSource<'_>, dataset: Dataset) -> TableDef {
    let format = source.format;
    let kind = dataset.kind();
    let location = source.lake.kind_url(dataset);
    let columns = columns(kind)
        .iter()
        .map(|c| ColumnDef::new(c.name, hive_type(format, c), None))
        .collect();
    let partition_keys: Vec<ColumnDef> = source
        .partition_by
        .keys()
        .iter()
        .map(|key| partition_key(*key))
        .collect();

    let mut parameters = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        parameters.insert(k.to_owned(), v.to_owned());
    };
    set("EXTERNAL", "TRUE");
    set("classification", classification(format));
    set("stockfeed.record_kind", kind.as_str());
    set("stockfeed.schema_version", &SCHEMA_VERSION.to_string());
    if format == Format::Csv {
        set("skip.header.line.count", "1");
    }
    if source.partition_projection {
        set("projection.enabled", "true");
        for key in source.partition_by.keys() {
            match key {
                PartitionKey::Dt => {
                    set("projection.dt.type", "date");
                    set("projection.dt.format", "yyyy-MM-dd");
                    set("projection.dt.range", &dt_projection_range());
                    set("projection.dt.interval", "1");
                    set("projection.dt.interval.unit", "DAYS");
                }
                PartitionKey::Hour => {
                    set("projection.hour.type", "integer");
                    set("projection.hour.range", "0,23");
                    set("projection.hour.digits", "2");
                }
                PartitionKey::Symbol => {
                    set(
                        &format!("projection.{SYMBOL_PARTITION_KEY}.type"),
                        "injected",
                    );
                }
            }
        }
        set(
            "storage.location.template",
            &location_template(&location, source.partition_by),
        );
    }

    let (input_format, output_format, serde_library, serde_parameters) = match format {
        Format::Parquet => (
            PARQUET_INPUT,
            PARQUET_OUTPUT,
            PARQUET_SERDE,
            BTreeMap::from([("serialization.format".to_owned(), "1".to_owned())]),
        ),
        Format::Jsonl => (TEXT_INPUT, TEXT_OUTPUT, JSON_SERDE, BTreeMap::new()),
        Format::Csv => (
            TEXT_INPUT,
            TEXT_OUTPUT,
            CSV_SERDE,
            BTreeMap::from([
                ("separatorChar".to_owned(), ",".to_owned()),
                ("quoteChar".to_owned(), "\"".to_owned()),
            ]),
        ),
    };

    TableDef {
        name: table_name(source.table_prefix, dataset),
        description: format!(
            "StockFeed {} ({}) written by the sink under {location}; \
             managed by StockFeed, manual changes are reverted",
            match dataset {
                Dataset::Bars1m => "1-minute bars derived from trades".to_owned(),
                _ => format!("{kind} records"),
            },
            classification(format)
        ),
        table_type: EXTERNAL_TABLE.to_owned(),
        parameters,
        location,
        columns,
        partition_keys,
        input_format: input_format.to_owned(),
        output_format: output_format.to_owned(),
        serde_library: serde_library.to_owned(),
        serde_parameters,
    }
}

/// The `classification` property, as Glue crawlers and the console name formats.
pub fn classification(format: Format) -> &'static str {
    match format {
        Format::Parquet => "parquet",
        Format::Jsonl => "json",
        Format::Csv => "csv",
    }
}

/// The Hive type of a column in a table of `format` (see the module docs for CSV).
pub fn hive_type(format: Format, column: &Column) -> &'static str {
    match format {
        Format::Parquet | Format::Jsonl => column.hive_type,
        Format::Csv => match column.ty {
            ColumnType::Int | ColumnType::BigInt if !column.nullable => column.hive_type,
            _ => "string",
        },
    }
}

fn partition_key(key: PartitionKey) -> ColumnDef {
    match key {
        PartitionKey::Dt => ColumnDef::new(
            "dt",
            "string",
            Some("event date in UTC, yyyy-MM-dd (folder dt=)"),
        ),
        PartitionKey::Hour => ColumnDef::new(
            "hour",
            "string",
            Some("event hour in UTC, 00 to 23 (folder hour=)"),
        ),
        PartitionKey::Symbol => ColumnDef::new(
            SYMBOL_PARTITION_KEY,
            "string",
            Some("the symbol of folder symbol=; equals column symbol; filter on it with ="),
        ),
    }
}

/// `s3://bucket/prefix/trade/dt=${dt}/hour=${hour}/`: the sink's folders (see
/// `sink::layout::partition_dir_for`) with each value replaced by its partition key.
pub fn location_template(kind_url: &str, partition_by: &PartitionBy) -> String {
    let mut template = kind_url.to_owned();
    for key in partition_by.keys() {
        template.push_str(match key {
            PartitionKey::Dt => "dt=${dt}/",
            PartitionKey::Hour => "hour=${hour}/",
            PartitionKey::Symbol => "symbol=${symbol_partition}/",
        });
    }
    template
}

/// True for table properties StockFeed sets or removes; other properties (added by Athena, a
/// crawler or a person) are left alone and never count as a difference.
fn owned_parameter(key: &str) -> bool {
    matches!(
        key,
        "EXTERNAL" | "classification" | "skip.header.line.count" | "storage.location.template"
    ) || key.starts_with("projection.")
        || key.starts_with("stockfeed.")
}

impl TableDef {
    /// The `TableInput` of CreateTable and UpdateTable.
    pub fn to_input(&self) -> Result<TableInput, BuildError> {
        let glue_columns = |cols: &[ColumnDef]| -> Result<Vec<GlueColumn>, BuildError> {
            cols.iter()
                .map(|c| {
                    GlueColumn::builder()
                        .name(&c.name)
                        .r#type(&c.hive_type)
                        .set_comment(c.comment.clone())
                        .build()
                })
                .collect()
        };
        let to_map = |m: &BTreeMap<String, String>| -> HashMap<String, String> {
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        TableInput::builder()
            .name(&self.name)
            .description(&self.description)
            .table_type(&self.table_type)
            .set_parameters(Some(to_map(&self.parameters)))
            .set_partition_keys(Some(glue_columns(&self.partition_keys)?))
            .storage_descriptor(
                StorageDescriptor::builder()
                    .set_columns(Some(glue_columns(&self.columns)?))
                    .location(&self.location)
                    .input_format(&self.input_format)
                    .output_format(&self.output_format)
                    .compressed(false)
                    .serde_info(
                        SerDeInfo::builder()
                            .serialization_library(&self.serde_library)
                            .set_parameters(Some(to_map(&self.serde_parameters)))
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    /// The managed fields of a table as GetTable returned it.
    pub fn observed(table: &Table) -> TableDef {
        let columns = |cols: &[GlueColumn]| {
            cols.iter()
                .map(|c| ColumnDef {
                    name: c.name().to_owned(),
                    hive_type: c.r#type().unwrap_or_default().to_owned(),
                    comment: c.comment().map(str::to_owned),
                })
                .collect()
        };
        let to_map = |m: Option<&HashMap<String, String>>| -> BTreeMap<String, String> {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        };
        let sd = table.storage_descriptor();
        let serde = sd.and_then(StorageDescriptor::serde_info);
        TableDef {
            name: table.name().to_owned(),
            description: table.description().unwrap_or_default().to_owned(),
            table_type: table.table_type().unwrap_or_default().to_owned(),
            parameters: to_map(table.parameters()),
            location: sd
                .and_then(StorageDescriptor::location)
                .unwrap_or_default()
                .to_owned(),
            columns: sd.map(|sd| columns(sd.columns())).unwrap_or_default(),
            partition_keys: columns(table.partition_keys()),
            input_format: sd
                .and_then(StorageDescriptor::input_format)
                .unwrap_or_default()
                .to_owned(),
            output_format: sd
                .and_then(StorageDescriptor::output_format)
                .unwrap_or_default()
                .to_owned(),
            serde_library: serde
                .and_then(SerDeInfo::serialization_library)
                .unwrap_or_default()
                .to_owned(),
            serde_parameters: to_map(serde.and_then(SerDeInfo::parameters)),
        }
    }

    /// How `observed` differs from this (desired) definition, one line per field; empty when
    /// no update is needed. Table properties that StockFeed does not own are ignored, so
    /// properties added by Athena or a crawler cause no update loop.
    pub fn differences(&self, observed: &TableDef) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, want: &dyn std::fmt::Debug, have: &dyn std::fmt::Debug| {
            let (w, h) = (format!("{want:?}"), format!("{have:?}"));
            if w != h {
                out.push(format!("{name}: {h} -> {w}"));
            }
        };
        field("Description", &self.description, &observed.description);
        field("TableType", &self.table_type, &observed.table_type);
        field("Location", &self.location, &observed.location);
        field("Columns", &self.columns, &observed.columns);
        field(
            "PartitionKeys",
            &self.partition_keys,
            &observed.partition_keys,
        );
        field("InputFormat", &self.input_format, &observed.input_format);
        field("OutputFormat", &self.output_format, &observed.output_format);
        field(
            "SerializationLibrary",
            &self.serde_library,
            &observed.serde_library,
        );
        field(
            "SerdeInfo.Parameters",
            &self.serde_parameters,
            &observed.serde_parameters,
        );
        let owned = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .filter(|(k, _)| owned_parameter(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let (want, have) = (owned(&self.parameters), owned(&observed.parameters));
        for key in want
            .keys()
            .chain(have.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            match (want.get(key), have.get(key)) {
                (Some(w), Some(h)) if w == h => {}
                (w, h) => out.push(format!("Parameters[{key}]: {h:?} -> {w:?}")),
            }
        }
        out
    }
}

/// The `dt` values a record can have: validation's window (`stockfeed_record::check_plausible`), from its
/// earliest plausible day to one day past the clock (`MAX_FUTURE_SKEW`), in Athena's relative
/// syntax so the end moves with the clock.
fn dt_projection_range() -> String {
    let earliest = stockfeed_record::earliest_plausible().format("%Y-%m-%d");
    let ahead = stockfeed_record::MAX_FUTURE_SKEW.num_days().max(1);
    format!("{earliest},NOW+{ahead}DAYS")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake() -> LakeLocation {
        LakeLocation::parse("s3://market-lake/raw/stocks/").unwrap()
    }

    fn def(format: Format, keys: Vec<PartitionKey>, projection: bool, kind: Dataset) -> TableDef {
        let lake = lake();
        let by = PartitionBy::new(keys).unwrap();
        table_def(
            &TableSource {
                lake: &lake,
                table_prefix: "raw_",
                format,
                partition_by: &by,
                partition_projection: projection,
            },
            kind,
        )
    }

    fn names(cols: &[ColumnDef]) -> Vec<&str> {
        cols.iter().map(|c| c.name.as_str()).collect()
    }

    fn column<'a>(t: &'a TableDef, name: &str) -> &'a ColumnDef {
        t.columns.iter().find(|c| c.name == name).unwrap()
    }

    use PartitionKey::{Dt, Hour, Symbol};

    #[test]
    fn locations_and_names() {
        let lake = lake();
        assert_eq!(lake.bucket, "market-lake");
        assert_eq!(lake.root_url(), "s3://market-lake/raw/stocks/");
        assert_eq!(
            lake.kind_url(Dataset::Trades),
            "s3://market-lake/raw/stocks/trade/"
        );
        let bare = LakeLocation::parse("s3://lake").unwrap();
        assert_eq!(bare.kind_url(Dataset::Bars), "s3://lake/bar/");
        assert_eq!(LakeLocation::parse("s3://lake/a/b").unwrap().prefix, "a/b/");
        assert!(matches!(
            LakeLocation::parse("file:///tmp/lake/"),
            Err(LocationError::NotS3(_))
        ));
        assert!(matches!(
            LakeLocation::parse("gs://x/"),
            Err(LocationError::Invalid(_))
        ));
        assert_eq!(table_name("", Dataset::Trades), "trades");
        assert_eq!(table_name("raw_", Dataset::Quotes), "raw_quotes");
        assert_eq!(table_name("x", Dataset::Bars), "xbars");
    }

    #[test]
    fn parquet_trades_by_dt_and_hour_with_projection() {
        let t = def(Format::Parquet, vec![Dt, Hour], true, Dataset::Trades);
        assert_eq!(t.name, "raw_trades");
        assert_eq!(t.table_type, "EXTERNAL_TABLE");
        assert_eq!(t.location, "s3://market-lake/raw/stocks/trade/");
        assert_eq!(t.serde_library, PARQUET_SERDE);
        assert_eq!(t.input_format, PARQUET_INPUT);
        assert_eq!(t.output_format, PARQUET_OUTPUT);
        assert_eq!(
            names(&t.columns),
            [
                "schema_version",
                "id",
                "provider",
                "symbol",
                "event_ts",
                "ingest_ts",
                "price",
                "size",
                "exchange",
                "conditions",
                "trade_id"
            ]
        );
        assert_eq!(column(&t, "price").hive_type, "decimal(18,8)");
        assert_eq!(column(&t, "event_ts").hive_type, "timestamp");
        assert_eq!(column(&t, "conditions").hive_type, "array<string>");
        assert_eq!(column(&t, "schema_version").hive_type, "int");
        assert_eq!(names(&t.partition_keys), ["dt", "hour"]);
        assert!(t.partition_keys.iter().all(|k| k.hive_type == "string"));

        let p = &t.parameters;
        let get = |k: &str| p.get(k).map(String::as_str);
        assert_eq!(get("EXTERNAL"), Some("TRUE"));
        assert_eq!(get("classification"), Some("parquet"));
        assert_eq!(get("projection.enabled"), Some("true"));
        assert_eq!(get("projection.dt.type"), Some("date"));
        assert_eq!(get("projection.dt.format"), Some("yyyy-MM-dd"));
        // Every day validation accepts a record for, tomorrow included.
        assert_eq!(get("projection.dt.range"), Some("1971-02-08,NOW+1DAYS"));
        assert_eq!(get("projection.dt.interval"), Some("1"));
        assert_eq!(get("projection.dt.interval.unit"), Some("DAYS"));
        assert_eq!(get("projection.hour.type"), Some("integer"));
        assert_eq!(get("projection.hour.range"), Some("0,23"));
        assert_eq!(get("projection.hour.digits"), Some("2"));
        assert_eq!(
            get("storage.location.template"),
            Some("s3://market-lake/raw/stocks/trade/dt=${dt}/hour=${hour}/")
        );
        assert_eq!(get("skip.header.line.count"), None);
        assert_eq!(get("stockfeed.record_kind"), Some("trade"));
    }

    /// The template must produce exactly the folders the sink writes.
    #[test]
    fn template_matches_the_sink_layout() {
        use stockfeed_record::lake::layout::partition_dir_in;
        let ts: chrono::DateTime<chrono::Utc> = "2026-11-26T04:05:06Z".parse().unwrap();
        let lake = lake();
        for keys in [vec![Dt], vec![Dt, Hour], vec![Dt, Symbol]] {
            let by = PartitionBy::new(keys).unwrap();
            for kind in Dataset::ALL {
                let template = location_template(&lake.kind_url(kind), &by);
                let filled = template
                    .replace("${dt}", "2026-11-26")
                    .replace("${hour}", "04")
                    .replace("${symbol_partition}", "BRK.B");
                let written = format!(
                    "{}{}",
                    lake.root_url(),
                    partition_dir_in(&by, kind, ts, "BRK.B")
                );
                assert_eq!(filled, written);
            }
        }
    }

    #[test]
    fn symbol_partition_does_not_repeat_the_symbol_column() {
        for format in [Format::Parquet, Format::Jsonl, Format::Csv] {
            for kind in Dataset::ALL {
                let t = def(format, vec![Dt, Symbol], true, kind);
                assert_eq!(names(&t.partition_keys), ["dt", SYMBOL_PARTITION_KEY]);
                let mut all: Vec<&str> = names(&t.columns);
                all.extend(names(&t.partition_keys));
                let n = all.len();
                all.sort_unstable();
                all.dedup();
                assert_eq!(all.len(), n, "{format:?} {kind}: a name appears twice");
                assert!(names(&t.columns).contains(&"symbol"));
                assert_eq!(
                    t.parameters
                        .get("projection.symbol_partition.type")
                        .unwrap(),
                    "injected"
                );
                assert!(
                    t.parameters["storage.location.template"].ends_with(&format!(
                        "/{}/dt=${{dt}}/symbol=${{symbol_partition}}/",
                        kind.dir()
                    ))
                );
                assert!(!t.parameters.contains_key("projection.hour.type"));
            }
        }
    }

    #[test]
    fn dt_only_and_projection_off() {
        let t = def(Format::Parquet, vec![Dt], true, Dataset::Quotes);
        assert_eq!(names(&t.partition_keys), ["dt"]);
        assert_eq!(
            t.parameters["storage.location.template"],
            "s3://market-lake/raw/stocks/quote/dt=${dt}/"
        );
        let off = def(Format::Parquet, vec![Dt, Hour], false, Dataset::Quotes);
        assert!(off.parameters.keys().all(|k| !k.starts_with("projection.")));
        assert!(!off.parameters.contains_key("storage.location.template"));
        assert_eq!(names(&off.partition_keys), ["dt", "hour"]);
        assert_eq!(off.parameters["EXTERNAL"], "TRUE");
    }

    #[test]
    fn jsonl_uses_the_openx_serde_and_typed_columns() {
        let t = def(Format::Jsonl, vec![Dt, Hour], true, Dataset::Bars);
        assert_eq!(t.name, "raw_bars");
        assert_eq!(t.serde_library, JSON_SERDE);
        assert_eq!(t.input_format, TEXT_INPUT);
        assert_eq!(t.output_format, TEXT_OUTPUT);
        assert_eq!(t.parameters["classification"], "json");
        assert_eq!(column(&t, "vwap").hive_type, "decimal(18,8)");
        assert_eq!(column(&t, "trade_count").hive_type, "bigint");
        assert!(!t.parameters.contains_key("skip.header.line.count"));
    }

    #[test]
    fn csv_skips_the_header_and_reads_text_columns() {
        let t = def(Format::Csv, vec![Dt, Hour], false, Dataset::Trades);
        assert_eq!(t.serde_library, CSV_SERDE);
        assert_eq!(t.input_format, TEXT_INPUT);
        assert_eq!(t.output_format, TEXT_OUTPUT);
        assert_eq!(t.parameters["skip.header.line.count"], "1");
        assert_eq!(t.parameters["classification"], "csv");
        assert_eq!(t.serde_parameters["separatorChar"], ",");
        assert_eq!(t.serde_parameters["quoteChar"], "\"");
        // Same names, same order as the CSV header the sink writes.
        let header: Vec<&str> = columns(stockfeed_record::RecordKind::Trade)
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names(&t.columns), header);
        assert_eq!(column(&t, "schema_version").hive_type, "int");
        for text in ["price", "event_ts", "conditions", "exchange"] {
            assert_eq!(column(&t, text).hive_type, "string", "{text}");
        }
        let bars = def(Format::Csv, vec![Dt], false, Dataset::Bars);
        // Nullable numbers come as empty cells, which OpenCSVSerde cannot parse as bigint.
        assert_eq!(column(&bars, "trade_count").hive_type, "string");
    }

    #[test]
    fn input_round_trips_and_equal_definitions_have_no_differences() {
        let t = def(Format::Csv, vec![Dt, Symbol], true, Dataset::Trades);
        let input = t.to_input().unwrap();
        assert_eq!(input.name(), "raw_trades");
        assert_eq!(input.table_type(), Some("EXTERNAL_TABLE"));
        let sd = input.storage_descriptor().unwrap();
        assert_eq!(sd.location(), Some("s3://market-lake/raw/stocks/trade/"));
        assert_eq!(
            sd.serde_info().unwrap().serialization_library(),
            Some(CSV_SERDE)
        );
        // What GetTable would return for it.
        let table = Table::builder()
            .name(input.name())
            .set_description(input.description().map(str::to_owned))
            .set_table_type(input.table_type().map(str::to_owned))
            .set_parameters(input.parameters().cloned())
            .set_partition_keys(Some(input.partition_keys().to_vec()))
            .set_storage_descriptor(input.storage_descriptor().cloned())
            .build()
            .unwrap();
        let observed = TableDef::observed(&table);
        assert_eq!(observed, t);
        assert!(t.differences(&observed).is_empty());

        // Properties someone else added are not differences; our own are.
        let mut extra = observed.clone();
        extra
            .parameters
            .insert("transient_lastDdlTime".into(), "1".into());
        assert!(t.differences(&extra).is_empty());
        extra
            .parameters
            .insert("projection.hour.type".into(), "integer".into());
        extra.parameters.remove("skip.header.line.count");
        assert_eq!(
            t.differences(&extra),
            [
                "Parameters[projection.hour.type]: Some(\"integer\") -> None",
                "Parameters[skip.header.line.count]: None -> Some(\"1\")"
            ]
        );
    }

    #[test]
    fn a_format_change_is_a_difference() {
        let csv = def(Format::Csv, vec![Dt, Hour], true, Dataset::Trades);
        let parquet = def(Format::Parquet, vec![Dt, Hour], true, Dataset::Trades);
        let diffs = parquet.differences(&csv);
        let fields: Vec<&str> = diffs
            .iter()
            .map(|d| d.split(':').next().unwrap_or_default())
            .collect();
        for f in [
            "Description",
            "Columns",
            "InputFormat",
            "OutputFormat",
            "SerializationLibrary",
            "SerdeInfo.Parameters",
            "Parameters[classification]",
            "Parameters[skip.header.line.count]",
        ] {
            assert!(fields.contains(&f), "{f} missing from {diffs:#?}");
        }
        assert!(!fields.contains(&"Location"));
        assert!(!fields.contains(&"PartitionKeys"));
    }
}
