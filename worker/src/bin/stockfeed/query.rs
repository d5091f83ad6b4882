//! `stockfeed query`: SQL over a StockFeed's lake with the embedded engine
//! (see `stockfeed_query`).
//!
//! ```text
//! stockfeed query -f feed.yaml "SELECT symbol, count(*) FROM trades WHERE dt = '2026-11-26' GROUP BY 1"
//! stockfeed query -f feed.yaml --file examples/sql/ohlcv_1m.sql --format csv
//! stockfeed query --lake s3://market-lake/raw/stocks/ --lake-format parquet --partition-by dt,hour \
//!     --database markets --s3-endpoint http://127.0.0.1:19000 --s3-path-style "SHOW TABLES"
//! stockfeed query -f feed.yaml --plot aapl.png --symbol AAPL [--since 2026-11-26T14:30]
//! stockfeed query -f feed.yaml --plot aapl.svg "SELECT bar_start, open, high, low, close, volume ..."
//! ```
//!
//! `--plot` draws a candlestick chart instead of printing rows (`stockfeed_query::plot`):
//! without SQL, of `--symbol`'s rows in the lake's `bars_1m` table; with SQL, of its result.
//! Standard output then gets one line saying what was written where.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use stockfeed_query::plot::{self, PlotError, Series, Window};
use stockfeed_query::{Lake, LakeSource, OutputFormat, QueryError, ResultWriter};
use stockfeed_record::Symbol;
use stockfeed_record::lake::layout::{PartitionBy, PartitionKey};
use stockfeed_sink::format::Format;
use stockfeed_spec::FeedManifest;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("lake-source").required(true).args(["feed", "lake"]))]
#[command(group = clap::ArgGroup::new("sql-source").args(["sql", "file"]))]
pub struct QueryArgs {
    /// The SQL statement (one; a trailing `;` is fine). Optional with --plot --symbol.
    sql: Option<String>,
    /// Read the statement from this file instead (`-` for standard input).
    #[arg(long, value_name = "SQL_FILE")]
    file: Option<PathBuf>,
    /// StockFeed manifest whose lake to query (tables named as its catalog.glue defines them);
    /// with several StockFeed documents, every one's tables are registered.
    #[arg(long, short = 'f', value_name = "FEED_YAML")]
    feed: Option<PathBuf>,
    /// Only the StockFeed of this metadata.name from the manifest file.
    #[arg(long, requires = "feed")]
    name: Option<String>,
    /// Output: an aligned table, CSV with a header, or JSON lines.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table, conflicts_with = "plot")]
    format: Output,
    /// Print what the query read (files, bytes, requests) to standard error.
    #[arg(long)]
    stats: bool,

    /// Draw a candlestick chart with volume to this file (.png or .svg) instead of printing
    /// rows: of --symbol's 1-minute bars (table bars_1m) when no SQL is given, otherwise of the
    /// result, which needs a time column (event_ts, minute, bar_start, start or ts) and open,
    /// high, low, close, volume. Text needs a TrueType font: STOCKFEED_FONT or DejaVu Sans.
    #[arg(
        long,
        value_name = "FILE.png|FILE.svg",
        conflicts_with = "athena",
        help_heading = "Chart"
    )]
    plot: Option<PathBuf>,
    /// The symbol to chart (its bars_1m rows); with SQL, the name in the chart's title (which
    /// must match the result's symbol column, if it has one).
    #[arg(long, value_parser = parse_symbol, requires = "plot", help_heading = "Chart")]
    symbol: Option<Symbol>,
    /// Only bars starting at or after this time (UTC): 2026-11-26, 2026-11-26T14:30 or RFC 3339.
    #[arg(long, value_parser = plot::parse_instant, requires = "symbol", conflicts_with = "sql-source", help_heading = "Chart")]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only bars starting before this time (UTC), same forms as --since.
    #[arg(long, value_parser = plot::parse_instant, requires = "symbol", conflicts_with = "sql-source", help_heading = "Chart")]
    until: Option<chrono::DateTime<chrono::Utc>>,

    /// Run the SQL in Amazon Athena instead of the embedded engine, against the StockFeed's Glue
    /// database (or --database with --lake); credentials and region from the AWS chain.
    #[arg(long, help_heading = "Athena")]
    athena: bool,
    /// Athena workgroup.
    #[arg(
        long,
        default_value = "primary",
        requires = "athena",
        help_heading = "Athena"
    )]
    workgroup: String,
    /// Where Athena writes result files (s3://bucket/prefix/); default: the workgroup's setting.
    #[arg(
        long,
        value_name = "S3_URL",
        requires = "athena",
        help_heading = "Athena"
    )]
    athena_output: Option<String>,
    /// Stop the query after this long.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, requires = "athena", help_heading = "Athena")]
    athena_timeout: std::time::Duration,

    /// A lake without a manifest: s3://bucket/prefix/ or file:///path/.
    #[arg(long, value_name = "URL", help_heading = "Lake without a manifest")]
    lake: Option<String>,
    /// File format of the lake's objects.
    #[arg(long, value_enum, default_value_t = LakeFormat::Parquet, requires = "lake", help_heading = "Lake without a manifest")]
    lake_format: LakeFormat,
    /// JSON lines are gzipped (`.jsonl.gz`).
    #[arg(long, requires = "lake", help_heading = "Lake without a manifest")]
    gzip: bool,
    /// Hive partition folders: dt | dt,hour | dt,symbol.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "dt,hour",
        requires = "lake",
        help_heading = "Lake without a manifest"
    )]
    partition_by: Vec<PartitionArg>,
    /// Database the tables are registered under.
    #[arg(long, default_value = stockfeed_query::DEFAULT_DATABASE, requires = "lake", help_heading = "Lake without a manifest")]
    database: String,
    /// Prefix of the table names (`{prefix}trades`, ...).
    #[arg(
        long,
        default_value = "",
        requires = "lake",
        help_heading = "Lake without a manifest"
    )]
    table_prefix: String,
    /// Endpoint of an S3-compatible server (default: AWS, or AWS_ENDPOINT_URL).
    #[arg(
        long,
        value_name = "URL",
        requires = "lake",
        help_heading = "Lake without a manifest"
    )]
    s3_endpoint: Option<String>,
    /// AWS region (default: AWS_REGION or the profile).
    #[arg(long, requires = "lake", help_heading = "Lake without a manifest")]
    s3_region: Option<String>,
    /// Path-style S3 addressing, which most S3-compatible servers need.
    #[arg(long, requires = "lake", help_heading = "Lake without a manifest")]
    s3_path_style: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LakeFormat {
    Parquet,
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PartitionArg {
    Dt,
    Hour,
    Symbol,
}

fn parse_symbol(text: &str) -> Result<Symbol, String> {
    Symbol::new(text).map_err(|e| format!("symbol {e}"))
}

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => Some(sql.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            Some(std::io::read_to_string(std::io::stdin()).context("cannot read SQL from stdin")?)
        }
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read SQL file {}", path.display()))?,
        ),
        (None, None) => None,
    };
    if let Some(path) = &args.plot {
        return chart(&args, path, sql).await;
    }
    let sql = sql.context(
        "give the SQL as an argument or with --file (or --plot FILE --symbol SYMBOL for a chart)",
    )?;
    if args.athena {
        return athena(&args, sql).await;
    }
    let sources = sources(&args)?;
    let lake = Lake::open_all(sources).await?;
    let mut stream = lake.stream(&sql).await?;

    let format = match args.format {
        Output::Table => OutputFormat::Table,
        Output::Csv => OutputFormat::Csv,
        Output::Json => OutputFormat::Json,
    };
    let stdout = std::io::stdout().lock();
    let schema = stream.schema();
    let mut writer = ResultWriter::new(format, &schema, std::io::BufWriter::new(stdout))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(QueryError::from_execution)?;
        writer.write(&batch)?;
    }
    writer.finish()?.flush()?;

    if args.stats {
        print_stats(&lake);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_stats(lake: &Lake) {
    let s = lake.stats().snapshot();
    eprintln!(
        "read {} file{}, {} bytes in {} request{} ({} listing{})",
        s.files.len(),
        if s.files.len() == 1 { "" } else { "s" },
        s.bytes,
        s.requests,
        if s.requests == 1 { "" } else { "s" },
        s.lists,
        if s.lists == 1 { "" } else { "s" },
    );
}

/// `--plot`: the chart of `--symbol`'s derived bars (no SQL) or of the SQL's result, written to
/// `path`; one line on standard output says what was drawn.
async fn chart(args: &QueryArgs, path: &Path, sql: Option<String>) -> anyhow::Result<ExitCode> {
    // What can fail without reading the lake fails first: the file name and the font.
    plot::ChartFormat::from_path(path)?;
    plot::register_font()?;
    let sources = sources(args)?;
    let (sql, no_rows) = match sql {
        Some(sql) => (sql, PlotError::NoRows),
        None => {
            let symbol = args.symbol.as_ref().context(
                "--plot without SQL draws a symbol's 1-minute bars: give --symbol SYMBOL \
                 (or the SQL to plot)",
            )?;
            let [source] = sources.as_slice() else {
                anyhow::bail!(
                    "the manifest holds {} StockFeeds; choose the one to plot with --name",
                    sources.len()
                );
            };
            let window = Window {
                since: args.since,
                until: args.until,
            };
            let no_bars = PlotError::NoBars {
                symbol: symbol.to_string(),
                window: window.to_string(),
                lake: source.url.clone(),
            };
            (plot::bars_sql(source, symbol, &window), no_bars)
        }
    };
    let lake = Lake::open_all(sources).await?;
    let (schema, batches) = lake.collect(&sql).await?;
    if args.stats {
        print_stats(&lake);
    }
    let series = Series::from_batches(&schema, &batches)?;
    if let (Some(wanted), Some(found)) = (&args.symbol, &series.symbol) {
        anyhow::ensure!(
            wanted.as_str() == found,
            "--symbol {wanted}, but the result's symbol column holds {found}"
        );
    }
    if series.candles.is_empty() {
        return Err(no_rows.into());
    }
    let info = plot::plot(path, series, args.symbol.as_ref().map(Symbol::as_str))?;
    println!(
        "wrote {} ({} bar{}): {}",
        path.display(),
        info.bars,
        if info.bars == 1 { "" } else { "s" },
        info.title()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--athena`: the same SQL through Athena, printed with the same writers (as text columns,
/// which is what Athena returns).
async fn athena(args: &QueryArgs, sql: String) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use stockfeed_catalog::athena::{AthenaClient, AthenaQuery};

    let (database, region) = match &args.feed {
        Some(feed) => {
            let manifests = crate::run::load(std::slice::from_ref(feed))?;
            let m = manifests
                .iter()
                .find(|m| args.name.as_ref().is_none_or(|n| &m.metadata.name == n))
                .context("no such StockFeed in the manifest")?;
            let glue = m.spec.catalog.glue.as_ref().with_context(|| {
                format!(
                    "StockFeed {} has no catalog.glue: Athena needs its Glue database",
                    m.metadata.name
                )
            })?;
            (glue.database.clone(), glue.region.clone())
        }
        None => (args.database.clone(), args.s3_region.clone()),
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let client = AthenaClient::from_sdk_config(&loader.load().await);
    let result = client
        .run(&AthenaQuery {
            database: Some(database),
            workgroup: args.workgroup.clone(),
            output_location: args.athena_output.clone(),
            timeout: args.athena_timeout,
            ..AthenaQuery::new(sql)
        })
        .await?;
    let schema = Arc::new(Schema::new(
        result
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..result.columns.len())
        .map(|i| {
            Arc::new(StringArray::from_iter(
                result.rows.iter().map(|r| r.get(i).cloned().flatten()),
            )) as ArrayRef
        })
        .collect();
    let format = match args.format {
        Output::Table => OutputFormat::Table,
        Output::Csv => OutputFormat::Csv,
        Output::Json => OutputFormat::Json,
    };
    let mut writer = ResultWriter::new(
        format,
        &schema,
        std::io::BufWriter::new(std::io::stdout().lock()),
    )?;
    if !result.columns.is_empty() {
        writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
    }
    writer.finish()?.flush()?;
    if args.stats {
        eprintln!(
            "Athena query {} scanned {} bytes",
            result.query_execution_id,
            result.data_scanned_bytes.unwrap_or(0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sources(args: &QueryArgs) -> anyhow::Result<Vec<LakeSource>> {
    if let Some(feed) = &args.feed {
        let manifests = crate::run::load(std::slice::from_ref(feed))?;
        let manifests: Vec<FeedManifest> = match &args.name {
            Some(name) => {
                let names: Vec<String> =
                    manifests.iter().map(|m| m.metadata.name.clone()).collect();
                let chosen: Vec<FeedManifest> = manifests
                    .into_iter()
                    .filter(|m| &m.metadata.name == name)
                    .collect();
                anyhow::ensure!(
                    !chosen.is_empty(),
                    "{} has no StockFeed named {name}; it has {}",
                    feed.display(),
                    names.join(", ")
                );
                chosen
            }
            None => manifests,
        };
        return manifests
            .iter()
            .map(|m| {
                LakeSource::from_feed(&m.spec)
                    .with_context(|| format!("StockFeed {}", m.metadata.name))
            })
            .collect();
    }
    let url = args
        .lake
        .clone()
        .context("give a StockFeed manifest (-f) or a lake URL (--lake)")?;
    let mut source = LakeSource::new(
        url,
        match args.lake_format {
            LakeFormat::Parquet => Format::Parquet,
            LakeFormat::Jsonl => Format::Jsonl,
            LakeFormat::Csv => Format::Csv,
        },
    );
    source.gzip = args.gzip;
    source.partition_by = PartitionBy::new(
        args.partition_by
            .iter()
            .map(|p| match p {
                PartitionArg::Dt => PartitionKey::Dt,
                PartitionArg::Hour => PartitionKey::Hour,
                PartitionArg::Symbol => PartitionKey::Symbol,
            })
            .collect(),
    )
    .map_err(|e| anyhow::anyhow!("--partition-by: {e}"))?;
    source.database = args.database.clone();
    source.table_prefix = args.table_prefix.clone();
    source.s3.endpoint = args.s3_endpoint.clone();
    source.s3.region = args.s3_region.clone();
    source.s3.force_path_style = args.s3_path_style;
    Ok(vec![source])
}
