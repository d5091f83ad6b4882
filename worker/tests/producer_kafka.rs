//! The producer pipeline against the real broker: records land once, in order, with headers;
//! bad input lands in the dead-letter topic with its reason and raw bytes; repeats are dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use stockfeed_kafka::Connect;

use futures_util::future::BoxFuture;
use prometheus_client::registry::Registry;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::source::synthetic::{Rate, SyntheticConfig, SyntheticSource};
use stockfeed_producer::source::{Emitter, Source, SourceError, SourceHealth};
use stockfeed_producer::{KafkaWriter, PipelineOptions, Readiness, WriterSettings, run_pipeline};
use stockfeed_record::{Provider, Record, RecordId, Symbol};
use tokio_util::sync::CancellationToken;

/// Emits a fixed script of records and rejections, then ends.
struct Scripted(Vec<Result<Record, (String, Vec<u8>)>>);

impl Source for Scripted {
    fn provider(&self) -> Provider {
        Provider::Replay
    }
    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            out.set_health(SourceHealth::Ready);
            for item in self.0 {
                let sent = match item {
                    Ok(r) => out.record(r).await,
                    Err((reason, raw)) => out.reject(reason, raw).await,
                };
                if sent.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}

async fn run(
    source: Box<dyn Source>,
    topic: &str,
) -> (stockfeed_producer::Summary, Arc<ProducerMetrics>) {
    let bootstrap = support::require_kafka();
    let mut registry = Registry::default();
    let metrics = Arc::new(ProducerMetrics::register(&mut registry));
    let base = KafkaConnection::plaintext(&bootstrap)
        .client_config()
        .unwrap();
    let writer = KafkaWriter::new(base, &WriterSettings::default(), metrics.writer()).unwrap();
    let summary = run_pipeline(
        source,
        writer,
        PipelineOptions::for_topic(topic),
        metrics.clone(),
        Arc::new(Readiness::default()),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (summary, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_records_land_once_in_order_with_headers() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-producer");
    support::create_topic(&bootstrap, &topic, 6).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let tickers: Vec<Symbol> = support::SYMBOLS
        .iter()
        .map(|s| Symbol::new(s).unwrap())
        .collect();
    let config = SyntheticConfig {
        rate: Rate::Unlimited,
        limit: Some(20_000),
        start_time: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        ..SyntheticConfig::default()
    };
    // The records the source will emit, generated independently with the same seed.
    let mut generator = stockfeed_producer::source::synthetic::Generator::new(
        &config,
        &tickers,
        config.start_time.unwrap(),
    );
    let expected: Vec<Record> = (0..20_000)
        .map(|_| generator.next_record(chrono::Utc::now()))
        .collect();

    let source = Box::new(SyntheticSource::new(config, tickers).unwrap());
    let (summary, metrics) = run(source, &topic).await;
    assert_eq!(summary.records, 20_000);
    assert_eq!(summary.lost, 0);
    assert_eq!(metrics.delivered.get(), 20_000);

    let got = support::read_topic(&bootstrap, &topic, 20_000).await;
    let got_ids: Vec<RecordId> = got.iter().map(|m| m.record.id()).collect();
    let mut sorted = got_ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 20_000, "no duplicates");
    let expected_by_id: HashMap<RecordId, &Record> = expected.iter().map(|r| (r.id(), r)).collect();
    for m in &got {
        let want = expected_by_id
            .get(&m.record.id())
            .expect("a record the source emitted");
        let mut got = m.record.clone();
        got.set_ingest_ts(want.ingest_ts());
        assert_eq!(&got, *want);
        assert_eq!(m.key, m.record.symbol().as_str());
    }
    for symbol in support::SYMBOLS {
        let sent: Vec<RecordId> = expected
            .iter()
            .filter(|r| r.symbol().as_str() == symbol)
            .map(Record::id)
            .collect();
        let arrived: Vec<RecordId> = got
            .iter()
            .filter(|m| m.record.symbol().as_str() == symbol)
            .map(|m| m.record.id())
            .collect();
        assert_eq!(arrived, sent, "order of {symbol}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_goes_to_the_dlq_with_reason_and_raw_bytes_and_repeats_are_dropped() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-producer-dlq");
    support::create_topic(&bootstrap, &topic, 3).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let good = support::sample_records(4);
    let mut invalid = good[0].clone();
    if let Record::Trade(t) = &mut invalid {
        t.event_ts = "1970-01-20T00:00:00Z".parse().unwrap(); // seconds read as milliseconds
        t.id = t.derive_id();
    }
    let script = vec![
        Ok(good[0].clone()),
        Err((
            "malformed JSON: expected value at line 1 column 1".to_owned(),
            b"{\"p\":1".to_vec(),
        )),
        Ok(good[1].clone()),
        Ok(good[0].clone()), // a repeat
        Ok(invalid),
        Ok(good[2].clone()),
        Ok(good[3].clone()),
    ];
    let (summary, metrics) = run(Box::new(Scripted(script)), &topic).await;
    assert_eq!(summary.records, 4);
    assert_eq!(summary.duplicates, 1);
    assert_eq!(summary.dead_letters, 2);
    assert_eq!(summary.lost, 0);

    let records = support::read_topic(&bootstrap, &topic, 4).await;
    let mut ids: Vec<RecordId> = records.iter().map(|m| m.record.id()).collect();
    ids.sort();
    let mut want: Vec<RecordId> = good.iter().map(Record::id).collect();
    want.sort();
    assert_eq!(ids, want);

    let letters = support::read_raw(&bootstrap, &format!("{topic}.dlq"), 2).await;
    let source_letter = letters
        .iter()
        .find(|l| l.header("sf-dlq-stage") == Some("source"))
        .unwrap();
    assert_eq!(source_letter.payload, b"{\"p\":1");
    assert!(
        source_letter
            .header("sf-dlq-reason")
            .unwrap()
            .contains("malformed JSON")
    );
    assert_eq!(source_letter.header("sf-provider"), Some("replay"));
    let validation_letter = letters
        .iter()
        .find(|l| l.header("sf-dlq-stage") == Some("validation"))
        .unwrap();
    assert!(
        validation_letter
            .header("sf-dlq-reason")
            .unwrap()
            .contains("event_ts"),
        "{:?}",
        validation_letter.header("sf-dlq-reason")
    );
    let raw: serde_json::Value = serde_json::from_slice(&validation_letter.payload).unwrap();
    assert_eq!(
        raw["event_ts"], "1970-01-20T00:00:00Z",
        "the refused record is kept whole"
    );
    // The rejected payload counts under the source's provider, the refused record under its own.
    let dlq = |p: &str| {
        metrics
            .dlq
            .get_or_create(&stockfeed_producer::metrics::ProviderLabels { provider: p.into() })
            .get()
    };
    assert_eq!((dlq("replay"), dlq("synthetic")), (1, 1));
}
