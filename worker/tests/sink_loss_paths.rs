//! Paths where an ordinary sequence of events used to lose records (review of 2026-12-03, C1 and
//! H1), each against the real broker and a local lake: a SIGTERM before an adopted cut is
//! reached, a dead letter the broker refuses, and a poison message too large for the DLQ.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use stockfeed_record::Record;
use stockfeed_sink::metrics::SinkMetrics;
use stockfeed_sink::{SinkConfig, SinkError, SinkReadiness, SinkSummary, run_sink};
use tokio_util::sync::CancellationToken;

fn config(bootstrap: &str, topic: &str, group: &str, lake: &std::path::Path) -> SinkConfig {
    SinkConfig::parse(&format!(
        "kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}, groupId: {group}, sessionTimeout: 6s}}\n\
         sink:\n  url: 'file://{}/'\n  format: jsonl\n  partitionBy: [dt, hour]\n  flush: {{maxRecords: 5000, maxBytes: 8Mi, maxAge: 1s}}\n",
        lake.display()
    ))
    .unwrap()
}

struct Running {
    metrics: Arc<SinkMetrics>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<SinkSummary, SinkError>>,
}

fn start(config: SinkConfig) -> Running {
    let mut registry = Registry::default();
    let metrics = Arc::new(SinkMetrics::register(&mut registry));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_sink(
        config,
        metrics.clone(),
        Arc::new(SinkReadiness::default()),
        shutdown.clone(),
    ));
    Running {
        metrics,
        shutdown,
        task,
    }
}

async fn committed(bootstrap: &str, group: &str, topic: &str) -> i64 {
    let (b, g, t) = (bootstrap.to_owned(), group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || support::committed_and_high(&b, &g, &t, 1)[0].0)
        .await
        .unwrap()
}

fn write_manifest(lake: &std::path::Path, topic: &str, start: i64, end: i64) {
    let dir = lake.join(format!("_stockfeed/manifests/{topic}/0"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{start:020}.json")),
        format!(r#"{{"version":1,"topic":"{topic}","partition":0,"start":{start},"end":{end},"files":[],"records":{}}}"#, end - start),
    )
    .unwrap();
}

/// An earlier writer cut [0, 1000) and died before writing its files. The next sink adopts the
/// cut; stopped before it has read to 1000, it must neither write the cut's files from part of
/// its records (those names would then exist, and the full set would never be written) nor
/// commit 1000. The sink after it completes the cut once the records are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_before_an_adopted_cut_is_reached_writes_and_commits_nothing() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-adopted");
    let group = support::unique_name("sf-adopted-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records: Vec<Record> = support::sample_records(1000);
    support::produce_records(&bootstrap, &topic, &records[..300]).await;
    let lake = tempfile::tempdir().unwrap();
    write_manifest(lake.path(), &topic, 0, 1000);

    let sink = start(config(&bootstrap, &topic, &group, lake.path()));
    // Wait until the 300 records are held, then a little longer: the cut is still not reached.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sink.metrics.buffered_bytes.get() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sink never read the records"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sink.shutdown.cancel();
    let summary = sink.task.await.unwrap().unwrap();
    assert_eq!(
        summary.records_written, 0,
        "part of an adopted cut was written"
    );
    assert!(
        support::read_jsonl_lake(lake.path()).is_empty(),
        "data files of the unfinished cut exist"
    );
    let c = committed(&bootstrap, &group, &topic).await;
    assert!(c <= 0, "committed {c}: offsets that were never written");

    // The rest arrives; the next sink completes the same cut, every record once.
    support::produce_records(&bootstrap, &topic, &records[300..]).await;
    let sink = start(config(&bootstrap, &topic, &group, lake.path()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while support::records_written(&sink.metrics) < 1000 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();
    let mut ids: Vec<_> = support::read_jsonl_lake(lake.path())
        .into_iter()
        .flat_map(|(_, rs)| rs.into_iter().map(|r| r.id()))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((n, ids.len()), (1000, 1000), "every record once");
    assert_eq!(committed(&bootstrap, &group, &topic).await, 1000);
}

/// The DLQ topic accepts no message of this size (as with a missing Write ACL, the broker
/// refuses each dead letter after it was sent). The record is in neither the lake nor the DLQ,
/// so the sink must stop, saying why, without committing past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_the_broker_refuses_stops_the_commit() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-dlq-refused");
    let group = support::unique_name("sf-dlq-refused-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    let admin = {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &bootstrap);
        stockfeed_kafka::admin::TopicAdmin::new(&c, Duration::from_secs(10)).unwrap()
    };
    admin
        .ensure(&stockfeed_kafka::admin::TopicRequest {
            name: format!("{topic}.dlq"),
            partitions: 1,
            replication_factor: 1,
            config: BTreeMap::from([("max.message.bytes".to_owned(), "100".to_owned())]),
        })
        .await
        .unwrap();
    let records: Vec<Record> = support::sample_records(200);
    support::produce_records(&bootstrap, &topic, &records[..100]).await;
    support::produce_raw(
        &bootstrap,
        &topic,
        b"AAPL",
        b"not json, and the DLQ will not take it",
    )
    .await;
    support::produce_records(&bootstrap, &topic, &records[100..]).await;

    let lake = tempfile::tempdir().unwrap();
    let sink = start(config(&bootstrap, &topic, &group, lake.path()));
    let outcome = tokio::time::timeout(Duration::from_secs(90), sink.task)
        .await
        .expect("the sink kept running past a refused dead letter")
        .unwrap();
    let err = outcome.expect_err("the sink committed past a refused dead letter");
    assert!(matches!(err, SinkError::DlqRefused { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{topic}.dlq")) && text.contains("Write"),
        "{text}"
    );
    assert_eq!(sink.metrics.dlq_refused.get(), 1);
    let c = committed(&bootstrap, &group, &topic).await;
    assert!(
        c <= 100,
        "committed {c}, past the refused poison message at offset 100"
    );
}

/// A poison message too large to dead-letter whole must not stop the partition for ever: its
/// whole payload goes to the lake's bookkeeping, its head to the DLQ with where the rest is,
/// and the records around it are written and committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_poison_message_is_kept_whole_in_the_lake_and_headed_in_the_dlq() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-dlq-big");
    let group = support::unique_name("sf-dlq-big-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records: Vec<Record> = support::sample_records(200);
    support::produce_records(&bootstrap, &topic, &records[..100]).await;
    let big = vec![b'x'; 700 * 1024];
    support::produce_raw(&bootstrap, &topic, b"AAPL", &big).await;
    support::produce_records(&bootstrap, &topic, &records[100..]).await;

    let lake = tempfile::tempdir().unwrap();
    let sink = start(config(&bootstrap, &topic, &group, lake.path()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while committed(&bootstrap, &group, &topic).await < 201 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not committed to the end"
        );
        assert!(
            !sink.task.is_finished(),
            "the sink stopped on an oversized poison message"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();
    let kept = lake
        .path()
        .join(format!("_stockfeed/dlq/{topic}/0/{:020}.bin", 100));
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        big,
        "the whole message in the lake"
    );
    let letters = support::read_raw(&bootstrap, &format!("{topic}.dlq"), 1).await;
    assert_eq!(letters[0].payload.len(), 64 * 1024);
    assert_eq!(letters[0].header("sf-dlq-original-bytes"), Some("716800"));
    assert!(
        letters[0]
            .header("sf-dlq-original")
            .unwrap()
            .ends_with("00000000000000000100.bin")
    );
    let n: usize = support::read_jsonl_lake(lake.path())
        .iter()
        .map(|(_, rs)| rs.len())
        .sum();
    assert_eq!(n, 200);
}

/// Records from a transactional producer have a commit marker after each transaction, at the
/// offset a segment ending there commits. A writer that wrote a segment's files but crashed
/// before its commit leaves the group at that marker; the next sink must name its segment as
/// the writer did (by the committed offset, not the first record after the marker), find the
/// manifest, and add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_between_write_and_commit_transactional_records_are_not_written_twice() {
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-txn");
    let group = support::unique_name("sf-txn-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records: Vec<Record> = support::sample_records(200);
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", support::unique_name("sf-txn-producer"))
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(10)).unwrap();
    for batch in records.chunks(100) {
        producer.begin_transaction().unwrap();
        for r in batch {
            let msg = stockfeed_kafka::OutgoingMessage::from_record(r);
            producer
                .send(
                    FutureRecord::to(&topic)
                        .key(&msg.key)
                        .payload(&msg.payload)
                        .headers(msg.headers()),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
        producer
            .commit_transaction(Duration::from_secs(10))
            .unwrap();
    }
    // Offsets: records 0..99, marker 100, records 101..200, marker 201.
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = config(&bootstrap, &topic, &group, lake.path());
    cfg.sink.flush.max_records = 100;
    let sink = start(cfg.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while support::records_written(&sink.metrics) < 200 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();
    assert_eq!(
        support::read_jsonl_lake(lake.path())
            .iter()
            .map(|(_, r)| r.len())
            .sum::<usize>(),
        200
    );

    // The crash: the second segment's files exist, its commit never happened.
    support::commit_offset(&bootstrap, &group, &topic, 0, 100);
    let sink = start(cfg);
    tokio::time::sleep(Duration::from_secs(6)).await;
    sink.shutdown.cancel();
    let again = sink.task.await.unwrap().unwrap();
    let n: usize = support::read_jsonl_lake(lake.path())
        .iter()
        .map(|(_, r)| r.len())
        .sum();
    assert_eq!(n, 200, "records written twice after the crash");
    assert_eq!(again.files_written, 0);
}

/// A manifest that cannot be read (truncated by a broken store, edited by hand) must stop the
/// sink with its key: ignoring it would cut the segment differently from the writer that
/// recorded it and write the same records under a second name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_manifest_stops_the_sink_naming_it() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-bad-manifest");
    let group = support::unique_name("sf-bad-manifest-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    support::produce_records(&bootstrap, &topic, &support::sample_records(50)).await;
    let lake = tempfile::tempdir().unwrap();
    let dir = lake.path().join(format!("_stockfeed/manifests/{topic}/0"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{:020}.json", 0)),
        b"{\"version\":1,\"topic\":",
    )
    .unwrap();
    let sink = start(config(&bootstrap, &topic, &group, lake.path()));
    let err = tokio::time::timeout(Duration::from_secs(60), sink.task)
        .await
        .expect("the sink ran on past an unreadable manifest")
        .unwrap()
        .expect_err("the sink ignored an unreadable manifest");
    assert!(matches!(err, SinkError::Unreadable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("_stockfeed/manifests/{topic}/0/")),
        "{err}"
    );
    assert!(support::read_jsonl_lake(lake.path()).is_empty());
    assert!(committed(&bootstrap, &group, &topic).await <= 0);
}
