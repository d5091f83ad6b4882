//! Sink throughput from a pre-filled topic, side by side with the consume-only limit: a bare
//! rdkafka drain of the same topic in the same run.
//!
//! Run with `make bench-sink` (starts Kafka and the S3 server). Fills a fresh 6-partition topic
//! with BENCH_RECORDS synthetic records (default 10,000,000), then, each with its own consumer
//! group: (1) drains it with a bare rdkafka consumer, (2) runs `stockfeed sink` writing Parquet
//! to a local `file://` lake, (3) runs `stockfeed sink` writing Parquet to the S3 server. Prints
//! records/s, MB/s (of Kafka payload), the ratio to the bare drain and each sink's peak RSS.
//!
//! Knobs for iterating (environment): `BENCH_RECORDS` (default 10,000,000); `BENCH_TOPIC` to
//! reuse a topic filled by an earlier run (`BENCH_KEEP_TOPIC=1` keeps it; otherwise the
//! benchmark deletes the topic it filled, 2.6 GB at 10M records); `BENCH_SINKS` (`file,s3`,
//! default both) to run only some sinks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark reports failure by panicking

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockfeed_kafka::Connect;

use prometheus_client::registry::Registry;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::source::synthetic::{Rate, SyntheticConfig, SyntheticSource};
use stockfeed_producer::{KafkaWriter, PipelineOptions, Readiness, WriterSettings, run_pipeline};
use stockfeed_record::Symbol;
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 6;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Run {
    name: String,
    records: u64,
    bytes: u64,
    secs: f64,
    peak_rss: Option<u64>,
}

fn high_watermarks(bootstrap: &str, topic: &str) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect()
}

fn committed(bootstrap: &str, group: &str, topic: &str) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..PARTITIONS)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(rdkafka::Offset::Offset(o)) => o,
            _ => 0,
        })
        .collect()
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The consume-only limit: poll every message of the topic, touching its payload.
fn bare_drain(bootstrap: &str, topic: &str, total: u64) -> Run {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-drain-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let started = Instant::now();
    let (mut n, mut bytes) = (0_u64, 0_u64);
    while n < total {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            n += 1;
            bytes += m.payload().map_or(0, |p| p.len() as u64);
        }
    }
    Run {
        name: "bare rdkafka drain".into(),
        records: n,
        bytes,
        secs: started.elapsed().as_secs_f64(),
        peak_rss: rss_of(std::process::id()),
    }
}

fn sink(
    bootstrap: &str,
    topic: &str,
    total: u64,
    bytes: u64,
    name: &str,
    url: &str,
    s3: &str,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let group = format!(
        "bench-sink-{}-{}",
        std::process::id(),
        name.replace(' ', "-")
    );
    let config = dir.path().join("sink.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}, groupId: {group}}}\n\
             sink:\n  url: '{url}'\n  format: parquet\n  flush: {{maxRecords: 500000, maxBytes: 128Mi, maxAge: 2s}}\n  memory: {{maxBufferedBytes: 1Gi}}\n{s3}\
             metricsAddr: 127.0.0.1:0\n"
        ),
    )
    .unwrap();
    let (access, secret) = (
        env_or("STOCKFEED_S3_ACCESS_KEY", "stockfeed"),
        env_or("STOCKFEED_S3_SECRET_KEY", "stockfeed-local-secret"),
    );
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["sink", "--config"])
        .arg(&config)
        .env("AWS_ACCESS_KEY_ID", access)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let high = high_watermarks(bootstrap, topic);
    let mut peak = 0;
    loop {
        peak = peak.max(rss_of(child.id()).unwrap_or(0));
        if committed(bootstrap, &group, topic) == high {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = started.elapsed().as_secs_f64();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    Run {
        name: name.into(),
        records: total,
        bytes,
        secs,
        peak_rss: Some(peak),
    }
}

/// Creates `topic` and its dead-letter topic and fills it with `records` synthetic records.
async fn fill(
    admin: &AdminClient<DefaultClientContext>,
    bootstrap: &str,
    topic: &str,
    records: u64,
) {
    for t in [topic.to_owned(), format!("{topic}.dlq")] {
        let nt = NewTopic::new(&t, PARTITIONS, TopicReplication::Fixed(1));
        for r in admin
            .create_topics([&nt], &AdminOptions::new())
            .await
            .unwrap()
        {
            r.unwrap();
        }
    }
    println!("filling {topic} with {records} records ...");
    let tickers: Vec<Symbol> = (0..500)
        .map(|i| Symbol::new(&format!("B{i}")).unwrap())
        .collect();
    let config = SyntheticConfig {
        rate: Rate::Unlimited,
        limit: Some(records),
        start_time: Some(chrono::Utc::now() - chrono::Duration::hours(6)),
        ..SyntheticConfig::default()
    };
    let metrics = Arc::new(ProducerMetrics::register(&mut Registry::default()));
    let writer = KafkaWriter::new(
        KafkaConnection::plaintext(bootstrap)
            .client_config()
            .unwrap(),
        &WriterSettings::default(),
        metrics.writer(),
    )
    .unwrap();
    let filled = run_pipeline(
        Box::new(SyntheticSource::new(config, tickers).unwrap()),
        writer,
        PipelineOptions::for_topic(topic),
        metrics,
        Arc::new(Readiness::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let total: u64 = high_watermarks(bootstrap, topic)
        .iter()
        .map(|h| *h as u64)
        .sum();
    assert_eq!(total, filled.records);
}

/// Runs the sink against the S3 server, in a fresh bucket named after the topic.
async fn sink_to_s3(
    bootstrap: &str,
    s3_endpoint: &str,
    topic: &str,
    total: u64,
    bytes: u64,
) -> Run {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(
            &aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(s3_endpoint)
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    env_or("STOCKFEED_S3_ACCESS_KEY", "stockfeed"),
                    env_or("STOCKFEED_S3_SECRET_KEY", "stockfeed-local-secret"),
                    None,
                    None,
                    "bench",
                ))
                .load()
                .await,
        )
        .force_path_style(true)
        .build(),
    );
    let bucket = topic.to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let s3_block =
        format!("  s3: {{endpoint: '{s3_endpoint}', forcePathStyle: true, region: us-east-1}}\n");
    let s3_url = format!("s3://{bucket}/lake/");
    let (b, t) = (bootstrap.to_owned(), topic.to_owned());
    let run = tokio::task::spawn_blocking(move || {
        sink(
            &b,
            &t,
            total,
            bytes,
            "sink parquet -> S3 (s3s-fs)",
            &s3_url,
            &s3_block,
        )
    })
    .await
    .unwrap();
    empty_bucket(&s3, &bucket).await;
    run
}

/// Deletes what the S3 run wrote, so repeated runs do not fill the disk.
async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page.unwrap().contents() {
            if let Some(key) = object.key() {
                s3.delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    s3.delete_bucket().bucket(bucket).send().await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bootstrap = env_or("STOCKFEED_TEST_KAFKA", "127.0.0.1:19092");
    let s3_endpoint = env_or("STOCKFEED_TEST_S3", "http://127.0.0.1:19000");
    let records: u64 = env_or("BENCH_RECORDS", "10000000").parse().unwrap();
    let reuse = std::env::var("BENCH_TOPIC").ok();
    let topic = reuse
        .clone()
        .unwrap_or_else(|| format!("bench-sink-{}", chrono::Utc::now().format("%H%M%S")));
    let sinks = env_or("BENCH_SINKS", "file,s3");

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    if reuse.is_none() {
        fill(&admin, &bootstrap, &topic, records).await;
    }
    let total: u64 = high_watermarks(&bootstrap, &topic)
        .iter()
        .map(|h| *h as u64)
        .sum();

    let (b, t) = (bootstrap.clone(), topic.clone());
    let drain = tokio::task::spawn_blocking(move || bare_drain(&b, &t, total))
        .await
        .unwrap();
    let bytes = drain.bytes;
    let mut runs = vec![drain];
    if sinks.split(',').any(|s| s == "file") {
        let lake = tempfile::tempdir().unwrap();
        let file_url = format!("file://{}/lake/", lake.path().display());
        let (b, t) = (bootstrap.clone(), topic.clone());
        let to_file = tokio::task::spawn_blocking(move || {
            sink(
                &b,
                &t,
                total,
                bytes,
                "sink parquet -> file://",
                &file_url,
                "",
            )
        })
        .await
        .unwrap();
        runs.push(to_file);
    }
    if sinks.split(',').any(|s| s == "s3") {
        runs.push(sink_to_s3(&bootstrap, &s3_endpoint, &topic, total, bytes).await);
    }
    if reuse.is_none() && std::env::var_os("BENCH_KEEP_TOPIC").is_none() {
        for r in admin
            .delete_topics(&[&topic, &format!("{topic}.dlq")], &AdminOptions::new())
            .await
            .unwrap()
        {
            r.unwrap();
        }
    }

    println!();
    println!(
        "{total} records ({:.0} MB of JSON payload), {PARTITIONS} partitions, 2 cores shared with the broker",
        bytes as f64 / 1e6
    );
    println!(
        "{:<30} {:>12} {:>9} {:>10} {:>12}",
        "", "records/s", "MB/s", "vs drain", "peak RSS"
    );
    let drain_secs = runs[0].secs;
    for run in &runs {
        println!(
            "{:<30} {:>12.0} {:>9.1} {:>9.2}x {:>9} MiB",
            run.name,
            run.records as f64 / run.secs,
            run.bytes as f64 / run.secs / 1e6,
            drain_secs / run.secs,
            run.peak_rss.map_or("?".into(), |r| (r >> 20).to_string())
        );
    }
    // One machine-readable line for `make bench` (hack/bench.sh collects it).
    let machine: Vec<_> = runs
        .iter()
        .map(|run| {
            serde_json::json!({
                "name": run.name,
                "rps": run.records as f64 / run.secs,
                "mb_s": run.bytes as f64 / run.secs / 1e6,
                "ratio": drain_secs / run.secs,
                "peak_rss_mib": run.peak_rss.map(|r| r >> 20),
            })
        })
        .collect();
    println!(
        "BENCH-RESULT {}",
        serde_json::json!({"bench": "sink", "records": total, "runs": machine})
    );
}
