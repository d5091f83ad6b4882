//! `stockfeed query` over lakes the real sink wrote from a real Kafka topic: the example SQL of
//! `examples/sql/` against an independent computation (DuckDB from the test venv reads the same
//! files; exact decimal arithmetic in Python), partition pruning measured by the files actually
//! read, clear errors, and the same rows from Parquet, JSON lines (plain and gzipped), CSV,
//! `[dt, symbol]` folders and S3.
//!
//! One lake set is written per test binary (six sinks on one topic) and shared by the tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use chrono::{DateTime, TimeZone, Utc};
use prometheus_client::registry::Registry;
use stockfeed_query::output::render;
use stockfeed_query::{Lake, LakeSource, OutputFormat, QueryError};
use stockfeed_record::lake::layout::{PartitionBy, PartitionKey};
use stockfeed_record::{Price, Provider, Quantity, Record, RecordKind, Symbol, Trade};
use stockfeed_sink::format::Format;
use stockfeed_sink::metrics::{KindLabels, SinkMetrics};
use stockfeed_sink::storage::s3::StaticCredentials;
use stockfeed_sink::{SinkConfig, SinkReadiness, run_sink};
use stockfeed_spec::secret::SecretSource;
use support::python::run_python;
use tokio_util::sync::CancellationToken;

const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "NVDA", "BRK.B"];
const TRADES_PER_SYMBOL_DAY: usize = 400;
const DAYS: [u32; 2] = [25, 26];

// ---------------------------------------------------------------------------------------------
// Records

/// Trades of four symbols on two days, from 14:58 UTC for about six minutes each (so two `hour`
/// folders a day), 0.4 to 1.3 s apart, with a 7 s gap every 97 trades and an exact 5 s gap
/// (not a gap for `> 5 s`) every 131, sub-cent prices and half-share sizes. Event times are
/// distinct within a symbol, so first/last trades are well defined.
fn trades() -> Vec<Record> {
    let mut out = Vec::new();
    for (d, day) in DAYS.iter().enumerate() {
        let start = Utc.with_ymd_and_hms(2026, 11, *day, 14, 58, 0).unwrap();
        for (s, symbol) in SYMBOLS.iter().enumerate() {
            let mut t = start + chrono::Duration::microseconds(s as i64 * 137);
            let mut price: i64 = (100 + 50 * s as i64 + 3 * d as i64) * 100_000_000 + 12_345_678;
            for i in 0..TRADES_PER_SYMBOL_DAY {
                let step = if i % 97 == 96 {
                    7_000_000
                } else if i % 131 == 130 {
                    5_000_000
                } else {
                    400_000 + ((i * 7919 + s * 104_729) % 900_000) as i64
                };
                t += chrono::Duration::microseconds(step);
                price += ((i as i64 * 7919 + s as i64 * 31) % 2001 - 1000) * 10_001;
                let size = ((1 + (i * 13 + s) % 300) as i64) * 100_000_000
                    + if i % 5 == 0 { 50_000_000 } else { 0 };
                out.push(
                    Trade::new(
                        Provider::Synthetic,
                        Symbol::new(symbol).unwrap(),
                        t,
                        t + chrono::Duration::milliseconds(15),
                        Price::from_scaled(price).unwrap(),
                        Quantity::from_scaled(size).unwrap(),
                    )
                    .with_exchange("V")
                    .with_conditions(vec!["@".into()])
                    .with_trade_id(format!("{symbol}-{day}-{i}"))
                    .into(),
                );
            }
        }
    }
    // On the 26th, nine more symbols with one to three trades each at 16:00 (so more than ten
    // movers, several of them unchanged, which ties them at 0 %).
    let late = Utc.with_ymd_and_hms(2026, 11, 26, 16, 0, 0).unwrap();
    for (j, symbol) in [
        "TSLA", "SPY", "AMZN", "GOOGL", "META", "IBM", "ORCL", "AMD", "INTC",
    ]
    .iter()
    .enumerate()
    {
        for k in 0..(j % 3 + 1) {
            let t = late + chrono::Duration::milliseconds((j * 1000 + k * 10) as i64);
            let cents = 5_000 + j as i64 * 1_111 + if j % 2 == 0 { k as i64 * 37 } else { 0 };
            out.push(
                Trade::new(
                    Provider::Synthetic,
                    Symbol::new(symbol).unwrap(),
                    t,
                    t,
                    Price::from_scaled(cents * 1_000_000 + 1).unwrap(),
                    Quantity::from_scaled(100_000_000).unwrap(),
                )
                .into(),
            );
        }
    }
    out
}

/// The trades above plus 900 records of every kind around midnight (`dt` 25 hour 23 and
/// `dt` 26 hour 00), for ten symbols.
fn records() -> Vec<Record> {
    let mut all = trades();
    all.extend(support::records_across_midnight(900));
    all
}

// ---------------------------------------------------------------------------------------------
// The lakes

struct Fixture {
    /// Lakes by name: parquet, jsonl, jsonl_gz, csv (all `[dt, hour]`) and by_symbol (parquet,
    /// `[dt, symbol]`), each a `file://` directory.
    lakes: BTreeMap<&'static str, PathBuf>,
    /// The S3 lake: its URL and a source that reaches it.
    s3: LakeSource,
    /// Records written, per kind.
    counts: BTreeMap<RecordKind, usize>,
    _dir: tempfile::TempDir,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The lakes, written once per test binary on a thread of their own (tests run on their own
/// runtimes, which cannot block on another).
fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(write_lakes())
        })
        .join()
        .unwrap()
    })
}

async fn write_lakes() -> Fixture {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-query");
    support::create_topic(&bootstrap, &topic, 3).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = records();
    support::produce_records(&bootstrap, &topic, &records).await;
    let mut counts = BTreeMap::new();
    for r in &records {
        *counts.entry(r.kind()).or_insert(0) += 1;
    }

    // The S3 bucket and its static keys (as files, the way a mounted Secret provides them).
    let (access, secret) = support::s3_credentials();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(support::s3_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(&access, &secret, None, None, "test"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let bucket = support::unique_name("sf-query");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("S3 server running (make services-up)");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s3-id"), &access).unwrap();
    std::fs::write(dir.path().join("s3-secret"), &secret).unwrap();
    let s3_yaml = format!(
        "  s3: {{endpoint: '{}', forcePathStyle: true, region: us-east-1, credentials: \
         {{accessKeyId: {{file: {}}}, secretAccessKey: {{file: {}}}}}}}\n",
        support::s3_endpoint(),
        dir.path().join("s3-id").display(),
        dir.path().join("s3-secret").display()
    );

    let mut lakes = BTreeMap::new();
    let mut sinks = Vec::new();
    for (name, format, partition_by, extra) in [
        ("parquet", "parquet", "[dt, hour]", ""),
        ("jsonl", "jsonl", "[dt, hour]", ""),
        (
            "jsonl_gz",
            "jsonl",
            "[dt, hour]",
            "  formatOptions: {jsonlGzip: true}\n",
        ),
        ("csv", "csv", "[dt, hour]", ""),
        ("by_symbol", "parquet", "[dt, symbol]", ""),
    ] {
        let path = dir.path().join(name);
        let url = format!("file://{}/", path.display());
        sinks.push(sink_config(
            &bootstrap,
            &topic,
            &url,
            format,
            partition_by,
            extra,
        ));
        lakes.insert(name, path);
    }
    let s3_url = format!("s3://{bucket}/raw/stocks/");
    sinks.push(sink_config(
        &bootstrap,
        &topic,
        &s3_url,
        "parquet",
        "[dt, hour]",
        &s3_yaml,
    ));

    let total = records.len() as u64;
    let runs: Vec<_> = sinks
        .into_iter()
        .map(|config| tokio::spawn(run_until(config, total)))
        .collect();
    for run in runs {
        run.await.unwrap();
    }

    // Files a Hive reader must not see: a hidden copy and one under an `_` folder, both valid
    // Parquet (a copy of a real file), so reading them would double rows.
    let parquet = &lakes["parquet"];
    let real = visible_files(parquet, "trade", ".parquet")
        .into_iter()
        .next()
        .unwrap();
    let dir_of_real = real.parent().unwrap();
    std::fs::copy(&real, dir_of_real.join(".in-progress.parquet")).unwrap();
    std::fs::create_dir_all(dir_of_real.join("_temporary")).unwrap();
    std::fs::copy(&real, dir_of_real.join("_temporary/part-0.parquet")).unwrap();

    let mut s3_source = LakeSource::new(s3_url, Format::Parquet);
    s3_source.s3.endpoint = Some(support::s3_endpoint());
    s3_source.s3.region = Some("us-east-1".into());
    s3_source.s3.force_path_style = true;
    s3_source.s3.credentials = Some(StaticCredentials {
        access_key_id: SecretSource::File(dir.path().join("s3-id")),
        secret_access_key: SecretSource::File(dir.path().join("s3-secret")),
    });
    Fixture {
        lakes,
        s3: s3_source,
        counts,
        _dir: dir,
    }
}

fn sink_config(
    bootstrap: &str,
    topic: &str,
    url: &str,
    format: &str,
    partition_by: &str,
    extra: &str,
) -> SinkConfig {
    SinkConfig::parse(&format!(
        "kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}, groupId: {}}}\n\
         sink:\n  url: '{url}'\n  format: {format}\n  partitionBy: {partition_by}\n  \
         flush: {{maxRecords: 700, maxAge: 1s}}\n{extra}",
        support::unique_name("sf-query-sink")
    ))
    .unwrap()
}

/// Runs a sink until it has written `expected` records, then stops it.
async fn run_until(config: SinkConfig, expected: u64) {
    let url = config.sink.url.clone();
    let metrics = Arc::new(SinkMetrics::register(&mut Registry::default()));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_sink(
        config,
        metrics.clone(),
        Arc::new(SinkReadiness::default()),
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let written: u64 = ["trade", "quote", "bar"]
            .iter()
            .map(|k| {
                metrics
                    .records_written
                    .get_or_create(&KindLabels { kind: (*k).into() })
                    .get()
            })
            .sum();
        if written >= expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sink to {url}: only {written} of {expected} records written in 3 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

/// Data files of one kind by the Hive rule, found by walking the directory (independently of
/// the query code): names ending in `extension`, no path segment starting with `_` or `.`.
fn visible_files(lake: &Path, kind: &str, extension: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![lake.join(kind)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(extension) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn relative(lake: &Path, files: &[PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .map(|f| f.strip_prefix(lake).unwrap().to_string_lossy().into_owned())
        .collect()
}

fn source(name: &str, format: Format, partition_by: &[PartitionKey]) -> LakeSource {
    let lake = &fixture().lakes[name];
    let mut s = LakeSource::new(format!("file://{}/", lake.display()), format);
    s.partition_by = PartitionBy::new(partition_by.to_vec()).unwrap();
    s
}

fn parquet_source() -> LakeSource {
    source(
        "parquet",
        Format::Parquet,
        &[PartitionKey::Dt, PartitionKey::Hour],
    )
}

// ---------------------------------------------------------------------------------------------
// Results as comparable rows

/// A timestamp cell in one spelling: RFC 3339, six fractional digits, `Z`.
fn normalize(cell: &str) -> String {
    match DateTime::parse_from_rfc3339(cell) {
        Ok(t) => t
            .with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string(),
        Err(_) => cell.to_owned(),
    }
}

/// Rows of a query, every cell as text (decimals with their full scale), via the CSV output.
async fn rows(lake: &Lake, sql: &str) -> Vec<Vec<String>> {
    let (schema, batches) = lake
        .collect(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    let text = render(OutputFormat::Csv, &schema, &batches).unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(normalize).collect())
        .collect()
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/sql")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The independent computation: DuckDB reads the files and aggregates; Python divides exactly.

const REFERENCE: &str = r#"
import json, sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_UP, getcontext
import duckdb

getcontext().prec = 100
files = json.loads(sys.argv[1])
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.execute("SET autoinstall_known_extensions=false")
con.execute("SET autoload_known_extensions=false")
con.execute(f"CREATE VIEW trades AS SELECT * FROM read_parquet({files!r}, hive_partitioning=true)")

EIGHT = Decimal("0.00000001")
def q8(x):
    return format(x.quantize(EIGHT, rounding=ROUND_HALF_UP), "f")
def ts(us):
    t = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
def rows(sql):
    return con.execute(sql).fetchall()
V = lambda col: f"CAST({col} AS VARCHAR)"

out = {}
out["ohlcv_1m"] = [
    [s, ts(bar), o, h, l, c, vol, q8(Decimal(num) / Decimal(den)), str(n)]
    for s, bar, o, h, l, c, vol, num, den, n in rows(f"""
        SELECT symbol, (epoch_us(event_ts) // 60000000) * 60000000,
               {V('arg_min(price, event_ts)')}, {V('max(price)')}, {V('min(price)')},
               {V('arg_max(price, event_ts)')}, {V('sum(size)')},
               {V('sum(CAST(price AS DECIMAL(38, 8)) * CAST(size AS DECIMAL(38, 8)))')}, {V('sum(size)')}, count(*)
        FROM trades WHERE CAST(dt AS VARCHAR) = '2026-11-26' GROUP BY ALL""")]
out["vwap"] = [
    [d, s, q8(Decimal(num) / Decimal(den)), vol, str(n)]
    for d, s, num, den, vol, n in rows(f"""
        SELECT CAST(dt AS VARCHAR), symbol, {V('sum(CAST(price AS DECIMAL(38, 8)) * CAST(size AS DECIMAL(38, 8)))')}, {V('sum(size)')},
               {V('sum(size)')}, count(*)
        FROM trades WHERE CAST(dt AS VARCHAR) BETWEEN '2026-11-25' AND '2026-11-26' GROUP BY ALL""")]
movers = []
for s, first, last, n in rows(f"""
        SELECT symbol, {V('arg_min(price, event_ts)')}, {V('arg_max(price, event_ts)')}, count(*)
        FROM trades WHERE CAST(dt AS VARCHAR) = '2026-11-26' GROUP BY ALL"""):
    pct = (Decimal(last) - Decimal(first)) * 100 / Decimal(first)
    movers.append((-abs(pct.quantize(EIGHT, rounding=ROUND_HALF_UP)), s, [s, first, last, q8(pct), str(n)]))
movers.sort(key=lambda m: (m[0], m[1]))
out["top_movers"] = [m[2] for m in movers[:10]]
out["gaps"] = [
    [s, ts(prev), ts(cur), cur - prev]
    for s, prev, cur in rows("""
        SELECT symbol, prev, cur FROM (
            SELECT symbol, epoch_us(event_ts) AS cur,
                   lag(epoch_us(event_ts)) OVER (PARTITION BY symbol ORDER BY event_ts) AS prev
            FROM trades WHERE CAST(dt AS VARCHAR) = '2026-11-26')
        WHERE prev IS NOT NULL AND cur - prev > 5000000""")]
print(json.dumps(out))
"#;

/// A duration as DataFusion prints it (ISO 8601: `PT7S`, `PT7.000137S`).
fn iso_duration(micros: i64) -> String {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        format!("PT{secs}S")
    } else {
        let digits = format!("{frac:06}");
        format!("PT{secs}.{}S", digits.trim_end_matches('0'))
    }
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_sql_matches_an_independent_duckdb_computation() {
    let fx = fixture();
    let lake_dir = &fx.lakes["parquet"];
    let files: Vec<String> = visible_files(lake_dir, "trade", ".parquet")
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let reference: serde_json::Value = serde_json::from_str(&run_python(
        REFERENCE,
        &[&serde_json::to_string(&files).unwrap()],
    ))
    .unwrap();
    let expected = |name: &str| -> Vec<Vec<String>> {
        reference[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect()
    };

    let lake = Lake::open(parquet_source()).await.unwrap();

    let ohlcv = rows(&lake, &example("ohlcv_1m.sql")).await;
    // 4 symbols trading about 6 minutes, plus the midnight records' symbols.
    assert!(ohlcv.len() > 20, "{} bars", ohlcv.len());
    assert_eq!(sorted(ohlcv), sorted(expected("ohlcv_1m")), "ohlcv_1m.sql");

    let vwap = rows(&lake, &example("vwap.sql")).await;
    assert!(vwap.iter().any(|r| r[0] == "2026-11-25") && vwap.iter().any(|r| r[0] == "2026-11-26"));
    assert_eq!(sorted(vwap), sorted(expected("vwap")), "vwap.sql");

    // Order matters here (largest moves first, then by symbol), so no sorting.
    let movers = rows(&lake, &example("top_movers.sql")).await;
    assert_eq!(movers.len(), 10);
    assert_eq!(movers, expected("top_movers"), "top_movers.sql");

    let gaps = rows(&lake, &example("gaps.sql")).await;
    let want: Vec<Vec<String>> = expected("gaps")
        .into_iter()
        .map(|mut r| {
            let micros: i64 = r[3].parse().unwrap();
            r[3] = iso_duration(micros);
            r
        })
        .collect();
    // Each of the 4 symbols has 7 s gaps on 2026-11-26 (every 97th trade); exact 5 s gaps
    // (every 131st) are not reported.
    assert!(want.len() >= 4 * 4, "{want:?}");
    assert_eq!(sorted(gaps), sorted(want), "gaps.sql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dt_filter_reads_only_that_days_files() {
    let fx = fixture();
    let dir = &fx.lakes["parquet"];
    let all = relative(dir, &visible_files(dir, "trade", ".parquet"));
    let day: BTreeSet<String> = all
        .iter()
        .filter(|f| f.starts_with("trade/dt=2026-11-25/"))
        .cloned()
        .collect();
    assert!(!day.is_empty() && day.len() < all.len(), "{all:?}");

    let lake = Lake::open(parquet_source()).await.unwrap();
    let day_rows = rows(
        &lake,
        "SELECT count(*), sum(size) FROM trades WHERE dt = '2026-11-25'",
    )
    .await;
    let read = lake.stats().snapshot();
    assert_eq!(
        read.files,
        day,
        "files opened for dt = '2026-11-25' (of {} trade files)",
        all.len()
    );
    let expected_day = trades()
        .iter()
        .filter(|r| r.event_ts().format("%Y-%m-%d").to_string() == "2026-11-25")
        .count()
        + support::records_across_midnight(900)
            .iter()
            .filter(|r| {
                r.kind() == RecordKind::Trade
                    && r.event_ts().format("%Y-%m-%d").to_string() == "2026-11-25"
            })
            .count();
    assert_eq!(day_rows[0][0], expected_day.to_string());

    // A filter on the second partition column cannot narrow the listing, but still keeps the
    // other folders' files unopened. (A new session each time: a session caches the Parquet
    // footers it has read, so a second query may read fewer files.)
    let lake = Lake::open(parquet_source()).await.unwrap();
    rows(&lake, "SELECT max(price) FROM trades WHERE hour = '15'").await;
    let hour: BTreeSet<String> = all
        .iter()
        .filter(|f| f.contains("/hour=15/"))
        .cloned()
        .collect();
    assert!(!hour.is_empty());
    assert_eq!(lake.stats().snapshot().files, hour);

    // Without a partition filter every visible file is read, and the planted hidden ones are
    // not (they would double a folder's rows).
    let lake = Lake::open(parquet_source()).await.unwrap();
    let count = rows(&lake, "SELECT count(*) FROM trades").await;
    assert_eq!(lake.stats().snapshot().files, all);
    assert_eq!(count[0][0], fx.counts[&RecordKind::Trade].to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_sql_and_missing_tables_are_named() {
    let lake = Lake::open(parquet_source()).await.unwrap();
    let err = lake.plan("SELEC * FROM trades").await.unwrap_err();
    assert!(matches!(err, QueryError::InvalidSql(_)), "{err:?}");
    assert!(err.to_string().contains("SELEC"), "{err}");

    let err = lake
        .plan("SELECT * FROM stockfeed.trade")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `stockfeed.trade` does not exist; the lake has stockfeed.trades, \
         stockfeed.quotes, stockfeed.bars, stockfeed.bars_1m"
    );
    let err = lake
        .plan("SELECT nope FROM trades WHERE dt = '2026-11-26'")
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Plan(ref m) if m.contains("nope")),
        "{err:?}"
    );
    for sql in [
        "INSERT INTO trades SELECT * FROM trades",
        "COPY (SELECT 1) TO '/tmp/stockfeed-query-test.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'http://127.0.0.1:9/x.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = lake.plan(sql).await.unwrap_err();
        assert!(matches!(err, QueryError::NotAllowed(_)), "{sql}: {err:?}");
    }
    let err = lake.plan("SELECT 1; SELECT 2").await.unwrap_err();
    assert!(err.to_string().contains("2 statements"), "{err}");

    // The command: one line on stderr, exit code 2.
    let dir = &fixture().lakes["parquet"];
    for (sql, want) in [
        (
            "SELECT * FROM trade",
            "table `trade` does not exist; the lake has stockfeed.trades",
        ),
        ("SELEC 1", "invalid SQL: "),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stockfeed"))
            .args([
                "query",
                "--lake",
                &format!("file://{}/", dir.display()),
                sql,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sql}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(want),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_and_layout_gives_the_same_rows() {
    let fx = fixture();
    let dt_hour = [PartitionKey::Dt, PartitionKey::Hour];
    let lakes = [
        ("parquet", source("parquet", Format::Parquet, &dt_hour)),
        ("jsonl", source("jsonl", Format::Jsonl, &dt_hour)),
        ("jsonl_gz", {
            let mut s = source("jsonl_gz", Format::Jsonl, &dt_hour);
            s.gzip = true;
            s
        }),
        ("csv", source("csv", Format::Csv, &dt_hour)),
        (
            "by_symbol",
            source(
                "by_symbol",
                Format::Parquet,
                &[PartitionKey::Dt, PartitionKey::Symbol],
            ),
        ),
        ("s3", fx.s3.clone()),
    ];
    // Counts per table, and sums that would show a lost digit or a shifted CSV column.
    let summary = "SELECT (SELECT count(*) FROM trades) AS trades, \
                   (SELECT count(*) FROM quotes) AS quotes, (SELECT count(*) FROM bars) AS bars, \
                   (SELECT sum(price * size) FROM trades) AS notional, \
                   (SELECT sum(ask_price) FROM quotes) AS asks, \
                   (SELECT sum(vwap) FROM bars) AS vwaps, \
                   (SELECT count(DISTINCT id) FROM trades) AS ids, \
                   (SELECT min(event_ts) FROM trades) AS first_trade, \
                   (SELECT max(ingest_ts) FROM bars) AS last_bar, \
                   (SELECT count(*) FROM trades WHERE dt = '2026-11-26') AS day_trades";
    let mut results = Vec::new();
    for (name, source) in lakes {
        let lake = Lake::open(source)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let r = rows(&lake, summary).await;
        results.push((name, r));
    }
    let (_, first) = &results[0];
    assert_eq!(first[0][0], fx.counts[&RecordKind::Trade].to_string());
    assert_eq!(first[0][1], fx.counts[&RecordKind::Quote].to_string());
    assert_eq!(first[0][2], fx.counts[&RecordKind::Bar].to_string());
    assert_eq!(first[0][6], first[0][0], "ids are unique");
    for (name, r) in &results[1..] {
        assert_eq!(r, first, "{name} differs from parquet");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbol_folders_are_the_symbol_partition_column() {
    let by = source(
        "by_symbol",
        Format::Parquet,
        &[PartitionKey::Dt, PartitionKey::Symbol],
    );
    let dir = fixture().lakes["by_symbol"].clone();
    let lake = Lake::open(by).await.unwrap();
    let r = rows(
        &lake,
        "SELECT symbol_partition, count(*), count(DISTINCT symbol) FROM trades \
         WHERE dt = '2026-11-26' AND symbol_partition = 'BRK.B' GROUP BY symbol_partition",
    )
    .await;
    assert_eq!(
        r,
        [vec![
            "BRK.B".to_owned(),
            TRADES_PER_SYMBOL_DAY.to_string(),
            "1".to_owned()
        ]]
    );
    let want = relative(
        &dir,
        &visible_files(&dir, "trade", ".parquet")
            .into_iter()
            .filter(|f| f.to_string_lossy().contains("/dt=2026-11-26/symbol=BRK.B/"))
            .collect::<Vec<_>>(),
    );
    assert!(!want.is_empty());
    assert_eq!(lake.stats().snapshot().files, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reads_a_feed_manifest() {
    let dir = &fixture().lakes["csv"];
    let manifest = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        manifest.path(),
        format!(
            "apiVersion: stockfeed.dev/v1alpha1\nkind: StockFeed\nmetadata: {{name: q}}\n\
             spec:\n  tickers: [AAPL]\n  source: {{provider: synthetic}}\n  \
             kafka: {{bootstrapServers: '127.0.0.1:9', topic: q}}\n  \
             sink: {{url: 'file://{}/', format: csv, partitionBy: [dt, hour]}}\n  \
             catalog: {{glue: {{database: markets, tablePrefix: nyse_}}}}\n",
            dir.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| -> (String, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stockfeed"))
            .arg("query")
            .arg("-f")
            .arg(manifest.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (csv, stderr) = run(&[
        "--stats",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM markets.nyse_trades WHERE dt = '2026-11-25'",
    ]);
    let day = trades()
        .iter()
        .filter(|r| r.event_ts().format("%Y-%m-%d").to_string() == "2026-11-25")
        .count()
        + support::records_across_midnight(900)
            .iter()
            .filter(|r| {
                r.kind() == RecordKind::Trade
                    && r.event_ts().format("%Y-%m-%d").to_string() == "2026-11-25"
            })
            .count();
    assert_eq!(csv, format!("n\n{day}\n"));
    let day_files = visible_files(dir, "trade", ".csv")
        .iter()
        .filter(|f| f.to_string_lossy().contains("/dt=2026-11-25/"))
        .count();
    assert!(
        stderr.contains(&format!("read {day_files} files, ")),
        "{stderr}"
    );

    // A SQL file, JSON lines out: decimals stay exact strings.
    let sql = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        sql.path(),
        "-- the newest AAPL trade\nSELECT symbol, price, event_ts FROM nyse_trades \
         WHERE symbol = 'AAPL' ORDER BY event_ts DESC LIMIT 1;\n",
    )
    .unwrap();
    let (json, _) = run(&["--format", "json", "--file", sql.path().to_str().unwrap()]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let newest = trades()
        .into_iter()
        .filter(|r| r.symbol().as_str() == "AAPL")
        .max_by_key(Record::event_ts)
        .unwrap();
    let Record::Trade(t) = newest else {
        unreachable!()
    };
    assert_eq!(row["symbol"], "AAPL");
    assert_eq!(row["price"], eight_decimals(&t.price.to_string()));
    assert_eq!(
        normalize(row["event_ts"].as_str().unwrap()),
        t.event_ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    );
}

/// A decimal text with exactly eight fractional digits, as decimal(18,8) prints.
fn eight_decimals(text: &str) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    format!("{int}.{frac:0<8}")
}
