//! `stockfeed query`: SQL over a StockFeed's lake with the embedded engine
//! (see `stockfeed_worker::query`).
//!
//! ```text
//! stockfeed query -f feed.yaml "SELECT symbol, count(*) FROM trades WHERE dt = '2026-11-26' GROUP BY 1"
//! stockfeed query -f feed.yaml --file examples/sql/ohlcv_1m.sql --format csv
//! stockfeed query --lake s3://market-lake/raw/stocks/ --lake-format parquet --partition-by dt,hour \
//!     --database markets --s3-endpoint http://127.0.0.1:19000 --s3-path-style "SHOW TABLES"
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use stockfeed_worker::feed::FeedManifest;
use stockfeed_worker::query::{Lake, LakeSource, OutputFormat, QueryError, ResultWriter};
use stockfeed_worker::sink::format::Format;
use stockfeed_worker::sink::layout::{PartitionBy, PartitionKey};

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("lake-source").required(true).args(["feed", "lake"]))]
#[command(group = clap::ArgGroup::new("sql-source").required(true).args(["sql", "file"]))]
pub struct QueryArgs {
    /// The SQL statement (one; a trailing `;` is fine).
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
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    format: Output,
    /// Print what the query read (files, bytes, requests) to standard error.
    #[arg(long)]
    stats: bool,

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
    #[arg(long, default_value = stockfeed_worker::query::DEFAULT_DATABASE, requires = "lake", help_heading = "Lake without a manifest")]
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

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let sql = match (&args.sql, &args.file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).context("cannot read SQL from stdin")?
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read SQL file {}", path.display()))?,
        (None, None) => anyhow::bail!("give the SQL as an argument or with --file"),
    };
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
    Ok(ExitCode::SUCCESS)
}

/// `--athena`: the same SQL through Athena, printed with the same writers (as text columns,
/// which is what Athena returns).
async fn athena(args: &QueryArgs, sql: String) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use stockfeed_worker::catalog::athena::{AthenaClient, AthenaQuery};

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
