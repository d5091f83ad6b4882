//! Records through a real Apache Kafka broker and back: equality, per-key order, headers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::HashMap;
use std::time::Duration;
use stockfeed_kafka::Connect;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use stockfeed_kafka::{KafkaConnection, OutgoingMessage, decode_message};
use stockfeed_record::{Record, RecordId};

const RECORDS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_round_trip_with_keys_headers_and_order() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-roundtrip");
    support::create_topic(&bootstrap, &topic, 6).await;

    // Produce through the same connection settings the workers use, with the delivery
    // guarantees the producer issue asks for: idempotent, acks=all, compressed.
    let mut config = KafkaConnection::plaintext(&bootstrap)
        .client_config()
        .unwrap();
    let producer: FutureProducer = config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    let records = support::sample_records(RECORDS);
    let mut deliveries = Vec::with_capacity(RECORDS);
    for record in &records {
        let msg = OutgoingMessage::from_record(record);
        let delivery = producer
            .send_result(
                FutureRecord::to(&topic)
                    .key(&msg.key)
                    .payload(&msg.payload)
                    .headers(msg.headers()),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
        deliveries.push(delivery);
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery future dropped")
            .expect("broker refused a record");
    }

    // Read back with an independent consumer group from the beginning.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", support::unique_name("sf-roundtrip-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();

    let now = chrono::Utc::now();
    let mut consumed: Vec<Record> = Vec::with_capacity(RECORDS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while consumed.len() < RECORDS {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {RECORDS} records came back within 60s",
                    consumed.len()
                )
            })
            .expect("consumer error");
        let headers = msg.headers().expect("message has headers");
        let pairs: Vec<(String, String)> = headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                )
            })
            .collect();
        let record = decode_message(Some(headers), msg.key(), msg.payload(), now)
            .expect("decodes and validates");
        assert_eq!(
            pairs,
            vec![
                ("sf-kind".to_owned(), record.kind().to_string()),
                ("sf-schema-version".to_owned(), "1".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ],
            "headers round-trip unchanged"
        );
        consumed.push(record);
    }

    // Equality as multisets, by id.
    let by_id = |rs: &[Record]| -> HashMap<RecordId, Record> {
        rs.iter().map(|r| (r.id(), r.clone())).collect()
    };
    let produced_map = by_id(&records);
    assert_eq!(produced_map.len(), RECORDS, "sample ids are distinct");
    assert_eq!(
        by_id(&consumed),
        produced_map,
        "every record came back, unchanged, once"
    );

    // Per-key order: each symbol's records arrive in the order they were produced.
    for symbol in support::SYMBOLS {
        let sent: Vec<RecordId> = records
            .iter()
            .filter(|r| r.symbol().as_str() == symbol)
            .map(Record::id)
            .collect();
        let got: Vec<RecordId> = consumed
            .iter()
            .filter(|r| r.symbol().as_str() == symbol)
            .map(Record::id)
            .collect();
        assert_eq!(got, sent, "order of {symbol}");
    }
}
