//! The broker goes away in the middle of a run and comes back: afterwards every record id is in
//! the topic exactly once. Restarts the local broker through `hack/kafka.sh`, so it lives in a
//! test binary of its own (cargo runs test binaries one after another).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stockfeed_kafka::Connect;

use prometheus_client::registry::Registry;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::source::synthetic::{Rate, SyntheticConfig, SyntheticSource};
use stockfeed_producer::{KafkaWriter, PipelineOptions, Readiness, WriterSettings, run_pipeline};
use stockfeed_record::Symbol;
use tokio_util::sync::CancellationToken;

const RECORDS: u64 = 100_000;

fn kafka_script(action: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hack/kafka.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(action)
        .status()
        .expect("run hack/kafka.sh");
    assert!(status.success(), "hack/kafka.sh {action} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_exactly_once_across_a_broker_restart() {
    let bootstrap = support::require_kafka();
    let ours = tokio::task::spawn_blocking(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hack/kafka.sh");
        std::process::Command::new("bash")
            .arg(script)
            .arg("status")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
    .await
    .unwrap();
    assert!(
        ours,
        "this test restarts the broker with hack/kafka.sh; start it with `make services-up`"
    );

    let topic = support::unique_name("sf-restart");
    support::create_topic(&bootstrap, &topic, 6).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;

    let mut registry = Registry::default();
    let metrics = Arc::new(ProducerMetrics::register(&mut registry));
    let base = KafkaConnection::plaintext(&bootstrap)
        .client_config()
        .unwrap();
    // A small budget, so the outage turns into backpressure on the source quickly.
    let settings = WriterSettings {
        max_buffer_bytes: 4 * 1024 * 1024,
        ..WriterSettings::default()
    };
    let writer = KafkaWriter::new(base, &settings, metrics.writer()).unwrap();
    let tickers: Vec<Symbol> = support::SYMBOLS
        .iter()
        .map(|s| Symbol::new(s).unwrap())
        .collect();
    let config = SyntheticConfig {
        rate: Rate::PerSecond(10_000),
        limit: Some(RECORDS),
        start_time: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        ..SyntheticConfig::default()
    };
    let source = Box::new(SyntheticSource::new(config, tickers).unwrap());
    let pipeline = tokio::spawn(run_pipeline(
        source,
        writer,
        PipelineOptions::for_topic(&topic),
        metrics.clone(),
        Arc::new(Readiness::default()),
        CancellationToken::new(),
    ));

    // Let part of the run through, then take the broker away for a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while metrics.delivered.get() < 20_000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first 20,000 records were not delivered within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::spawn_blocking(|| kafka_script("stop"))
        .await
        .unwrap();
    let delivered_when_down = metrics.delivered.get();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let buffered = metrics.buffer_bytes.get();
    assert!(
        buffered > 0 && buffered <= 4 * 1024 * 1024,
        "while the broker is down, unacknowledged bytes stay within the budget (got {buffered})"
    );
    assert!(delivered_when_down < RECORDS, "the outage happened mid-run");
    tokio::task::spawn_blocking(|| kafka_script("start"))
        .await
        .unwrap();

    let summary = tokio::time::timeout(Duration::from_secs(180), pipeline)
        .await
        .expect("the run finishes within 3 minutes of the broker's return")
        .unwrap()
        .unwrap();
    assert_eq!(summary.records, RECORDS);
    assert_eq!(summary.lost, 0);

    // Every id exactly once (read_raw also fails if more than RECORDS messages are present).
    let got = support::read_topic(&bootstrap, &topic, RECORDS as usize).await;
    let ids: HashSet<_> = got.iter().map(|m| m.record.id()).collect();
    assert_eq!(ids.len() as u64, RECORDS, "no id twice, none missing");
}
