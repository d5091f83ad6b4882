//! The sink writing Parquet to the S3-compatible server, read back by DuckDB (an independent
//! reader) with Hive partitioning: every record once, partition columns agree with event time,
//! decimals exact, and no file holds more rows than `maxRecords`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use prometheus_client::registry::Registry;
use stockfeed_sink::metrics::{KindLabels, SinkMetrics};
use stockfeed_sink::{SinkConfig, SinkReadiness, run_sink};
use support::python::run_python;
use tokio_util::sync::CancellationToken;

const RECORDS: usize = 12_000;
const MAX_RECORDS: usize = 1500;

const QUERY: &str = r#"
import json, sys
import duckdb
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.execute("SET autoinstall_known_extensions=false")
con.execute("SET autoload_known_extensions=false")
root = sys.argv[1]
out = {}
src = f"read_parquet('{root}/trade/*/*/*.parquet', hive_partitioning=true, filename=true)"
out["trades"] = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {src}").fetchone()
out["bad_partition"] = con.execute(
    f"SELECT count(*) FROM {src} WHERE strftime(event_ts AT TIME ZONE 'UTC', '%Y-%m-%d') <> CAST(dt AS VARCHAR) "
    f"OR CAST(strftime(event_ts AT TIME ZONE 'UTC', '%H') AS INTEGER) <> CAST(hour AS INTEGER)").fetchone()[0]
out["max_rows_per_file"] = con.execute(f"SELECT max(n) FROM (SELECT filename, count(*) n FROM {src} GROUP BY filename)").fetchone()[0]
out["price_type"] = con.execute(f"SELECT typeof(price) FROM {src} LIMIT 1").fetchone()[0]
out["prices"] = [r[0] for r in con.execute(f"SELECT CAST(price AS VARCHAR) FROM {src} ORDER BY id LIMIT 3").fetchall()]
all_kinds = f"read_parquet('{root}/*/*/*/*.parquet', union_by_name=true)"
out["all"] = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {all_kinds}").fetchone()
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_on_s3_reads_back_in_duckdb() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-s3pq");
    support::create_topic(&bootstrap, &topic, 3).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = support::records_across_midnight(RECORDS);
    support::produce_records(&bootstrap, &topic, &records).await;

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
    let bucket = support::unique_name("sf-s3pq");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("S3 server running (make services-up)");

    // Static keys from mounted files, as for an S3-compatible store outside AWS.
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("id"), &access).unwrap();
    std::fs::write(keys.path().join("secret"), &secret).unwrap();
    let config = SinkConfig::parse(&format!(
        "kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}, groupId: {}}}\n\
         sink:\n  url: 's3://{bucket}/raw/stocks/'\n  format: parquet\n  flush: {{maxRecords: {MAX_RECORDS}, maxAge: 2s}}\n\
         \x20 s3: {{endpoint: '{}', forcePathStyle: true, region: us-east-1, credentials: {{accessKeyId: {{file: {}}}, secretAccessKey: {{file: {}}}}}}}\n",
        support::unique_name("sf-s3pq-sink"),
        support::s3_endpoint(),
        keys.path().join("id").display(),
        keys.path().join("secret").display()
    ))
    .unwrap();
    let metrics = Arc::new(SinkMetrics::register(&mut Registry::default()));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_sink(
        config,
        metrics.clone(),
        Arc::new(SinkReadiness::default()),
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
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
        if written >= RECORDS as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {written} of {RECORDS} records written in 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();

    // Download the table as it is (data objects only) and let DuckDB read it.
    let local = tempfile::tempdir().unwrap();
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("raw/stocks/")
        .send()
        .await
        .unwrap();
    assert!(
        listed.next_continuation_token().is_none(),
        "more than one page of objects"
    );
    for object in listed.contents() {
        let key = object.key().unwrap();
        let rel = key.strip_prefix("raw/stocks/").unwrap();
        if rel.starts_with('_') {
            continue;
        }
        assert!(rel.ends_with(".parquet"), "{rel}");
        let body = s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let path = local.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let out: serde_json::Value =
        serde_json::from_str(&run_python(QUERY, &[local.path().to_str().unwrap()])).unwrap();
    let trades = records
        .iter()
        .filter(|r| r.kind() == stockfeed_record::RecordKind::Trade)
        .count();
    assert_eq!(out["trades"], serde_json::json!([trades, trades]), "{out}");
    assert_eq!(out["all"], serde_json::json!([RECORDS, RECORDS]), "{out}");
    assert_eq!(
        out["bad_partition"], 0,
        "dt/hour agree with event_ts: {out}"
    );
    assert!(
        out["max_rows_per_file"].as_u64().unwrap() <= MAX_RECORDS as u64,
        "{out}"
    );
    assert_eq!(out["price_type"], "DECIMAL(18,8)", "{out}");
}
