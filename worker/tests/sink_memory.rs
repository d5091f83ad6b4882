//! The sink's memory stays bounded with many symbols and partitions: 10,000 symbols over 12
//! partitions, partitioned by symbol (the worst case: one open file per symbol and kind),
//! against caps of 32 MiB buffered and 2,000 open files. The resident memory of the real
//! `stockfeed sink` process is sampled throughout and must stay under 176 MiB. (The bound was
//! 160 MiB while segments were written inline; since they are written behind the consumer,
//! which keeps reading and decoding meanwhile, the debug build peaks at 160–163 MiB. Both caps
//! still hold: bytes and files of segments being written count against them.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use stockfeed_kafka::Connect;

use prometheus_client::registry::Registry;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::source::synthetic::{Rate, SyntheticConfig, SyntheticSource};
use stockfeed_producer::{KafkaWriter, PipelineOptions, Readiness, WriterSettings, run_pipeline};
use stockfeed_record::{RecordKind, Symbol};
use tokio_util::sync::CancellationToken;

const SYMBOLS: usize = 10_000;
const PARTITIONS: i32 = 12;
const RECORDS: u64 = 60_000;
const RSS_BOUND: u64 = 176 * 1024 * 1024;

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_with_ten_thousand_symbols_and_twelve_partitions() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-memory");
    let group = support::unique_name("sf-memory-sink");
    support::create_topic(&bootstrap, &topic, PARTITIONS).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let tickers: Vec<Symbol> = (0..SYMBOLS)
        .map(|i| Symbol::new(&format!("M{i}")).unwrap())
        .collect();
    let config = SyntheticConfig {
        rate: Rate::Unlimited,
        limit: Some(RECORDS),
        kinds: vec![RecordKind::Trade, RecordKind::Quote],
        start_time: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        ..SyntheticConfig::default()
    };
    let metrics = Arc::new(ProducerMetrics::register(&mut Registry::default()));
    let writer = KafkaWriter::new(
        KafkaConnection::plaintext(&bootstrap)
            .client_config()
            .unwrap(),
        &WriterSettings::default(),
        metrics.writer(),
    )
    .unwrap();
    run_pipeline(
        Box::new(SyntheticSource::new(config, tickers).unwrap()),
        writer,
        PipelineOptions::for_topic(&topic),
        metrics,
        Arc::new(Readiness::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();

    let lake = tempfile::tempdir().unwrap();
    let config = lake.path().join("sink.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}, groupId: {group}}}\n\
             sink:\n  url: 'file://{}/lake/'\n  format: jsonl\n  partitionBy: [dt, symbol]\n\
             \x20 memory: {{maxBufferedBytes: 32Mi, maxOpenFiles: 2000}}\nmetricsAddr: 127.0.0.1:0\n",
            lake.path().display()
        ),
    )
    .unwrap();
    let mut sink = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["sink", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = sink.id();
    let mut peak = 0_u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        peak = peak.max(rss_of(pid).unwrap_or(0));
        let offsets = tokio::task::spawn_blocking({
            let (b, g, t) = (bootstrap.clone(), group.clone(), topic.clone());
            move || support::committed_and_high(&b, &g, &t, PARTITIONS)
        })
        .await
        .unwrap();
        if offsets.iter().all(|(c, h)| c == h || *h == 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sink did not drain the topic within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sink.kill().unwrap();
    sink.wait().unwrap();
    println!(
        "peak RSS {:.1} MiB for {RECORDS} records, {SYMBOLS} symbols, {PARTITIONS} partitions",
        peak as f64 / 1048576.0
    );
    assert!(peak > 0, "RSS was sampled");
    assert!(
        peak < RSS_BOUND,
        "peak RSS {} MiB exceeds the {} MiB bound",
        peak >> 20,
        RSS_BOUND >> 20
    );
}
