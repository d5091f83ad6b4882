//! Producer throughput against the local broker, side by side with Apache Kafka's own
//! `ProducerPerformance` (kafka-producer-perf-test) from the same jars as the broker.
//!
//! Run with `make bench-producer` (starts Kafka if needed). Both sides send the same number of
//! records with the same payloads (our synthetic records' JSON, given to the perf tool as a
//! payload file), acks=all, idempotence, the same compression, linger and batch size, to a fresh
//! topic each. Prints records/s, MB/s and the ratio ours / perf tool.
//!
//! Environment: STOCKFEED_TEST_KAFKA (default 127.0.0.1:19092), BENCH_RECORDS (default
//! 1,000,000), BENCH_COMPRESSION (default lz4), KAFKA_CLASSPATH (set by the make target).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark reports failure by panicking

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockfeed_kafka::Connect;

use prometheus_client::registry::Registry;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::source::synthetic::{Generator, Rate, SyntheticConfig, SyntheticSource};
use stockfeed_producer::{KafkaWriter, PipelineOptions, Readiness, WriterSettings, run_pipeline};
use stockfeed_record::Symbol;
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 6;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn create_topic(bootstrap: &str, name: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topic = NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

fn tickers() -> Vec<Symbol> {
    (0..100)
        .map(|i| Symbol::new(&format!("SYM{i}")).unwrap())
        .collect()
}

fn config(records: u64) -> SyntheticConfig {
    SyntheticConfig {
        rate: Rate::Unlimited,
        limit: Some(records),
        start_time: Some(chrono::Utc::now() - chrono::Duration::hours(2)),
        ..SyntheticConfig::default()
    }
}

struct Result {
    records: u64,
    bytes: u64,
    secs: f64,
}

impl Result {
    fn rps(&self) -> f64 {
        self.records as f64 / self.secs
    }
    fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs / (1024.0 * 1024.0)
    }
}

/// The generator alone: how fast the synthetic source can make records (and, with `json`,
/// also serialise them as the producer does).
fn generator_only(records: u64, json: bool) -> Result {
    let cfg = config(records);
    let mut generator = Generator::new(&cfg, &tickers(), cfg.start_time.unwrap());
    let now = chrono::Utc::now();
    let started = Instant::now();
    let mut bytes = 0_u64;
    for _ in 0..records {
        let record = std::hint::black_box(generator.next_record(now));
        if json {
            bytes += record.to_json().len() as u64;
        }
    }
    Result {
        records,
        bytes,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Writes `n` sample payloads for the perf tool and returns their mean size.
fn payload_file(path: &std::path::Path, n: usize) -> usize {
    let cfg = config(n as u64);
    let mut generator = Generator::new(&cfg, &tickers(), cfg.start_time.unwrap());
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut total = 0;
    for _ in 0..n {
        let json = generator.next_record(chrono::Utc::now()).to_json();
        total += json.len();
        file.write_all(&json).unwrap();
        file.write_all(b"\n").unwrap();
    }
    total / n
}

async fn ours(bootstrap: &str, topic: &str, records: u64, compression: &str) -> Result {
    let mut registry = Registry::default();
    let metrics = Arc::new(ProducerMetrics::register(&mut registry));
    let base = KafkaConnection::plaintext(bootstrap)
        .client_config()
        .unwrap();
    let settings = WriterSettings {
        compression: compression.to_owned(),
        ..WriterSettings::default()
    };
    let writer = KafkaWriter::new(base, &settings, metrics.writer()).unwrap();
    let source = Box::new(SyntheticSource::new(config(records), tickers()).unwrap());
    let mut options = PipelineOptions::for_topic(topic);
    options.dedup_window = 100_000;
    let started = Instant::now();
    let summary = run_pipeline(
        source,
        writer,
        options,
        metrics.clone(),
        Arc::new(Readiness::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.records, records);
    assert_eq!(summary.lost, 0);
    assert_eq!(
        metrics.delivered.get(),
        records,
        "every record acknowledged before the clock stopped"
    );
    Result {
        records,
        bytes: 0,
        secs,
    }
}

fn perf_tool(
    bootstrap: &str,
    topic: &str,
    records: u64,
    payloads: &std::path::Path,
    compression: &str,
) -> Result {
    let classpath = std::env::var("KAFKA_CLASSPATH")
        .expect("KAFKA_CLASSPATH (run through `make bench-producer`)");
    let output = std::process::Command::new("java")
        .args([
            "-Xmx1g",
            "-cp",
            &classpath,
            "org.apache.kafka.tools.ProducerPerformance",
        ])
        .args([
            "--topic",
            topic,
            "--num-records",
            &records.to_string(),
            "--throughput",
            "-1",
        ])
        .args(["--payload-file", &payloads.display().to_string()])
        .arg("--producer-props")
        .args([
            format!("bootstrap.servers={bootstrap}"),
            "acks=all".into(),
            "enable.idempotence=true".into(),
            format!("compression.type={compression}"),
            "linger.ms=20".into(),
            "batch.size=1000000".into(),
            "buffer.memory=67108864".into(),
        ])
        .output()
        .expect("run ProducerPerformance");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ProducerPerformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Last line: "N records sent, X records/sec (Y MB/sec), ..."
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .expect("a summary line");
    let rps: f64 = line
        .split(", ")
        .nth(1)
        .and_then(|p| p.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("records/sec");
    Result {
        records,
        bytes: 0,
        secs: records as f64 / rps,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bootstrap = env_or("STOCKFEED_TEST_KAFKA", "127.0.0.1:19092");
    let records: u64 = env_or("BENCH_RECORDS", "1000000").parse().unwrap();
    let compression = env_or("BENCH_COMPRESSION", "lz4");
    let dir = tempfile::tempdir().unwrap();
    let payloads = dir.path().join("payloads.txt");
    let record_size = payload_file(&payloads, 10_000);
    let bytes = records * record_size as u64;

    let generator = generator_only(records.max(1_000_000), false);
    println!(
        "synthetic generator alone: {:.0} records/s",
        generator.rps()
    );
    let generator = generator_only(records.max(1_000_000), true);
    println!(
        "synthetic generator + JSON encoding: {:.0} records/s ({:.1} MB/s of JSON)",
        generator.rps(),
        generator.mbps()
    );

    let stamp = chrono::Utc::now().format("%H%M%S");
    let (ours_topic, theirs_topic) = (format!("bench-ours-{stamp}"), format!("bench-perf-{stamp}"));
    for t in [&ours_topic, &format!("{ours_topic}.dlq"), &theirs_topic] {
        create_topic(&bootstrap, t).await;
    }
    // Perf tool first, then ours, so the broker's page cache warms for both alike.
    let theirs = perf_tool(&bootstrap, &theirs_topic, records, &payloads, &compression);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut us = ours(&bootstrap, &ours_topic, records, &compression).await;
    us.bytes = bytes;
    let theirs = Result { bytes, ..theirs };

    println!();
    println!(
        "{records} records of ~{record_size} B, acks=all, idempotent, {compression}, linger 20 ms, batch 1 MB, {PARTITIONS} partitions"
    );
    println!("{:<34} {:>12} {:>10}", "", "records/s", "MB/s");
    println!(
        "{:<34} {:>12.0} {:>10.1}",
        "kafka-producer-perf-test (Java)",
        theirs.rps(),
        theirs.mbps()
    );
    println!(
        "{:<34} {:>12.0} {:>10.1}",
        "stockfeed producer pipeline",
        us.rps(),
        us.mbps()
    );
    println!(
        "ratio stockfeed / perf-test: {:.2}x",
        us.rps() / theirs.rps()
    );
    // One machine-readable line for `make bench` (hack/bench.sh collects it).
    println!(
        "BENCH-RESULT {}",
        serde_json::json!({
            "bench": "producer",
            "records": records,
            "record_bytes": record_size,
            "perf_test_rps": theirs.rps(),
            "ours_rps": us.rps(),
            "ours_mb_s": us.mbps(),
            "ratio": us.rps() / theirs.rps(),
        })
    );
}
