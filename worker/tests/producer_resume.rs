//! A restarted producer against the real broker: what an earlier run delivered is not sent
//! again (see `producer::resume`).
//!
//! - An in-order source (seeded synthetic data) restarted from its first record skips what the
//!   topic holds and sends the rest: the topic ends with every record exactly once.
//! - A live source (no order promise) repeating records after a restart has the repeats caught
//!   by the dedup window seeded from the topic, while a late print older than what the topic
//!   holds is still sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use stockfeed_kafka::Connect;

use futures_util::future::BoxFuture;
use prometheus_client::registry::Registry;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::launch;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::resume::read_tail;
use stockfeed_producer::source::synthetic::Generator;
use stockfeed_producer::source::{Emitter, Source, SourceError, SourceHealth};
use stockfeed_producer::{
    KafkaWriter, PipelineOptions, ProducerConfig, Readiness, Summary, WriterSettings, run_pipeline,
};
use stockfeed_record::{Provider, Record, RecordId, Symbol, Trade};
use tokio_util::sync::CancellationToken;

const TICKERS: [&str; 4] = ["AAPL", "MSFT", "NVDA", "AMZN"];

fn metrics() -> Arc<ProducerMetrics> {
    Arc::new(ProducerMetrics::register(&mut Registry::default()))
}

/// A `stockfeed produce` configuration: seeded synthetic data from a fixed start, stopping
/// after `limit` records.
fn synthetic_config(bootstrap: &str, topic: &str, start: &str, limit: u64) -> ProducerConfig {
    ProducerConfig::parse(&format!(
        "tickers: [{}]\n\
         source: {{provider: synthetic, seed: 7, rate: unlimited, limit: {limit}, startTime: '{start}', meanGap: 2ms}}\n\
         kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}}}\n\
         metricsAddr: 127.0.0.1:0\n",
        TICKERS.join(", ")
    ))
    .unwrap()
}

async fn produce(config: &ProducerConfig) -> Summary {
    tokio::time::timeout(
        Duration::from_secs(120),
        launch::run(
            config,
            metrics(),
            Arc::new(Readiness::default()),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("the producer finishes")
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_in_order_source_sends_only_what_the_topic_lacks() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-resume");
    support::create_topic(&bootstrap, &topic, 3).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let start_text = start.to_rfc3339();

    // The source's first 3,000 records, generated independently with the same settings.
    let full = synthetic_config(&bootstrap, &topic, &start_text, 3_000);
    let stockfeed_spec::source::SourceConfig::Synthetic(synthetic) = &full.source else {
        panic!("synthetic source expected");
    };
    let tickers: Vec<Symbol> = TICKERS.iter().map(|s| Symbol::new(s).unwrap()).collect();
    let mut generator = Generator::new(synthetic, &tickers, start);
    let expected: Vec<RecordId> = (0..3_000)
        .map(|_| generator.next_record(chrono::Utc::now()).id())
        .collect();

    // A first run that stopped after 1,200 records (as if it had been killed there).
    let first = produce(&synthetic_config(&bootstrap, &topic, &start_text, 1_200)).await;
    assert_eq!((first.records, first.duplicates), (1_200, 0));

    // Restarted from the first record: the 1,200 are recognised, the other 1,800 sent.
    let second = produce(&full).await;
    assert_eq!(
        second.records, 1_800,
        "only what the topic lacked is sent: {second:?}"
    );
    assert_eq!(second.duplicates, 1_200, "{second:?}");
    assert!(
        second.already_in_topic > 1_100,
        "most repeats are skipped by event time, the rest by the seeded window: {second:?}"
    );

    // A third, identical run sends nothing.
    let third = produce(&full).await;
    assert_eq!((third.records, third.duplicates), (0, 3_000), "{third:?}");

    let got = support::read_topic(&bootstrap, &topic, 3_000).await;
    let mut got_ids: Vec<RecordId> = got.iter().map(|m| m.record.id()).collect();
    got_ids.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got_ids, want, "every record exactly once");
    // And each symbol's records are still in the source's order.
    for symbol in TICKERS {
        let order: HashMap<RecordId, usize> = expected
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let positions: Vec<usize> = got
            .iter()
            .filter(|m| m.record.symbol().as_str() == symbol)
            .map(|m| order[&m.record.id()])
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{symbol} out of order"
        );
    }
}

/// A live feed's script: no order promise, so only the dedup window protects against repeats.
struct Live(Vec<Record>);

impl Source for Live {
    fn provider(&self) -> Provider {
        Provider::Finnhub
    }
    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            out.set_health(SourceHealth::Ready);
            for r in self.0 {
                if out.record(r).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

async fn run_live(bootstrap: &str, topic: &str, script: Vec<Record>) -> Summary {
    let base = KafkaConnection::plaintext(bootstrap)
        .client_config()
        .unwrap();
    let symbols: HashSet<Symbol> = script.iter().map(|r| r.symbol().clone()).collect();
    let (reader_base, reader_topic) = (base.clone(), topic.to_owned());
    let tail = tokio::task::spawn_blocking(move || {
        read_tail(
            &reader_base,
            &reader_topic,
            &symbols,
            50_000,
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap()
    .expect("the topic's tail is readable");
    let metrics = metrics();
    let writer = KafkaWriter::new(base, &WriterSettings::default(), metrics.writer()).unwrap();
    let options = PipelineOptions {
        resume: Some(tail),
        ..PipelineOptions::for_topic(topic)
    };
    run_pipeline(
        Box::new(Live(script)),
        writer,
        options,
        metrics,
        Arc::new(Readiness::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_source_repeating_itself_after_a_restart_is_deduplicated_from_the_topic() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-resume-live");
    support::create_topic(&bootstrap, &topic, 3).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = support::sample_records(400);
    // A poison message a foreign writer left in the topic does not stop the tail reader.
    support::produce_raw(&bootstrap, &topic, b"AAPL", b"not json").await;

    let first = run_live(&bootstrap, &topic, records[..300].to_vec()).await;
    assert_eq!(first.records, 300);

    // After the restart the feed replays its last 300 records, sends 100 new ones and a late
    // print older than anything of its symbol in the topic: that one is news, not a repeat.
    let oldest = records[0].event_ts() - chrono::Duration::seconds(5);
    let late: Record = Trade::new(
        Provider::Finnhub,
        records[0].symbol().clone(),
        oldest,
        oldest,
        "101.25".parse().unwrap(),
        "7".parse().unwrap(),
    )
    .into();
    let mut replayed = records.clone();
    replayed.push(late.clone());
    let second = run_live(&bootstrap, &topic, replayed).await;
    assert_eq!(
        (second.records, second.duplicates, second.already_in_topic),
        (101, 300, 0),
        "{second:?}"
    );

    // 300 + 101 records and the poison message.
    let got = support::read_raw(&bootstrap, &topic, 402).await;
    let ids: Vec<RecordId> = got
        .iter()
        .filter_map(|m| Record::parse_json(&m.payload).ok())
        .map(|r| r.id())
        .collect();
    let distinct: HashSet<RecordId> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 401);
    assert_eq!(distinct.len(), 401, "no record twice");
    assert!(distinct.contains(&late.id()), "the late print was sent");
}
