//! Paths where an ordinary sequence of events used to lose or duplicate records (review of
//! 2026-12-03, C1, H1-H4, M2, M3), each against the real broker and a local lake: a SIGTERM
//! before an adopted cut is reached, a dead letter the broker refuses, a poison message too
//! large for the DLQ, transactional input after a crash, a writer that finds cuts made while it
//! stalled, records no lake format can hold, lost group offsets, and adopted cuts larger
//! together than the memory cap.

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
    write_manifest_of(lake, topic, 0, start, end);
}

/// The manifest an earlier writer of `partition` would have left for the cut `start..end`.
fn write_manifest_of(lake: &std::path::Path, topic: &str, partition: i32, start: i64, end: i64) {
    let dir = lake.join(format!("_stockfeed/manifests/{topic}/{partition}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{start:020}.json")),
        format!(r#"{{"version":1,"topic":"{topic}","partition":{partition},"start":{start},"end":{end},"files":[],"records":{}}}"#, end - start),
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

    // The crash: the second segment's files exist, its lake checkpoint and its commit were
    // never written.
    support::commit_offset(&bootstrap, &group, &topic, 0, 100);
    std::fs::remove_file(
        lake.path()
            .join(format!("_stockfeed/offsets/{topic}/0.json")),
    )
    .unwrap();
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

/// A writer that stalled holding a segment (SIGSTOP, a VM pause, a long GC) finds, when it goes
/// on, that the partition's new owner cut the same offsets meanwhile: [0, 300) and [300, 600).
/// It must write what it holds under exactly those cuts and start its own at 600; putting
/// [300, 1000) under the name of the cut at 300 duplicates 600..1000 for whoever continues at
/// 600 (review H2). The cuts are recorded while this sink holds every record unwritten, as the
/// other owner's would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_finds_cuts_made_while_it_stalled_splits_at_every_one() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-zombie");
    let group = support::unique_name("sf-zombie-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    support::produce_records(&bootstrap, &topic, &support::sample_records(1000)).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = config(&bootstrap, &topic, &group, lake.path());
    cfg.sink.flush.max_age = Duration::from_secs(8);
    let sink = start(cfg.clone());
    // Every record held (the gauge stops moving), none written: then the other writer's cuts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let now = sink.metrics.buffered_bytes.get();
        if now > 0 && now == last {
            break;
        }
        last = now;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sink never read the records"
        );
    }
    assert_eq!(
        support::records_written(&sink.metrics),
        0,
        "written before the cuts were made"
    );
    write_manifest(lake.path(), &topic, 0, 300);
    write_manifest(lake.path(), &topic, 300, 600);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while support::records_written(&sink.metrics) < 1000 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();
    // Whoever continues from the committed offset adds nothing.
    let sink = start(cfg);
    tokio::time::sleep(Duration::from_secs(5)).await;
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();

    let files = support::read_jsonl_lake(lake.path());
    let mut ids: Vec<_> = files
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(Record::id))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((n, ids.len()), (1000, 1000), "every record once");
    let mut starts: Vec<&str> = files
        .iter()
        .map(|(name, _)| name.rsplit('+').next().unwrap().split('.').next().unwrap())
        .collect();
    starts.sort_unstable();
    starts.dedup();
    assert_eq!(
        starts,
        [
            "00000000000000000000",
            "00000000000000000300",
            "00000000000000000600"
        ],
        "files named after the recorded cuts"
    );
    assert_eq!(committed(&bootstrap, &group, &topic).await, 1000);
}

/// Records that pass validation must be encodable by every lake format, or go to the DLQ: a
/// trade condition holding CSV's list separator used to fail the encoder after its manifest
/// was written, at every restart, on every replica (review H4). A bar whose trade count
/// exceeds BIGINT is refused the same way (it would stop a Parquet lake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_no_lake_format_can_hold_are_dead_lettered_not_fatal() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-unencodable");
    let group = support::unique_name("sf-unencodable-group");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let mut records = support::sample_records(300);
    let Record::Trade(t) = records[0].clone() else {
        panic!("sample 0 is a trade")
    };
    records.insert(100, Record::Trade(t.with_conditions(vec!["F|T".into()])));
    let Some(Record::Bar(b)) = records
        .iter()
        .find(|r| matches!(r, Record::Bar(_)))
        .cloned()
    else {
        panic!("no bar among the samples")
    };
    records.insert(200, Record::Bar(b.with_stats(None, Some(u64::MAX))));
    support::produce_records(&bootstrap, &topic, &records).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = config(&bootstrap, &topic, &group, lake.path());
    cfg.sink.format = stockfeed_sink::format::Format::Csv;
    let sink = start(cfg);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed(&bootstrap, &group, &topic).await < 302 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not committed to the end"
        );
        assert!(
            !sink.task.is_finished(),
            "the sink stopped: {:?}",
            sink.task.await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sink.shutdown.cancel();
    let summary = sink.task.await.unwrap().unwrap();
    assert_eq!((summary.records_written, summary.dead_letters), (300, 2));
    let letters = support::read_raw(&bootstrap, &format!("{topic}.dlq"), 2).await;
    let reasons: Vec<&str> = letters
        .iter()
        .filter_map(|l| l.header("sf-dlq-reason"))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("conditions[0]")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("trade_count")),
        "{reasons:?}"
    );
}

/// Deletes the records of partition 0 below `before`, as retention would.
async fn delete_records_below(bootstrap: &str, topic: &str, before: i64) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(before))
        .unwrap();
    let done = admin
        .delete_records(&tpl, &AdminOptions::new())
        .await
        .unwrap();
    assert_eq!(
        done.find_partition(topic, 0).unwrap().offset(),
        rdkafka::Offset::Offset(before)
    );
}

/// The group's offsets are gone (a feed suspended past `offsets.retention.minutes`, the lake
/// moved from `stockfeed run` to the operator, a reset) and retention has removed the start of
/// the topic, so no recorded cut begins where the topic now starts. The sink resumes from the
/// lake's checkpoint instead of writing the retained records a second time (review M3), then
/// writes what comes after once. A checkpoint beyond the end of the topic (recreated, or another
/// topic's lake) stops the sink rather than skip records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_lost_its_offsets_resumes_from_the_lake() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-lost-offsets");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = support::sample_records(3500);
    support::produce_records(&bootstrap, &topic, &records[..3000]).await;
    let lake = tempfile::tempdir().unwrap();
    let first = support::unique_name("sf-lost-offsets-a");
    let mut cfg = config(&bootstrap, &topic, &first, lake.path());
    cfg.sink.flush.max_records = 1000;
    let sink = start(cfg.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed(&bootstrap, &first, &topic).await < 3000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first group never caught up"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();
    delete_records_below(&bootstrap, &topic, 1500).await;

    // Another group (no offsets): it starts where the topic starts now, 1500, not a cut.
    let second = support::unique_name("sf-lost-offsets-b");
    cfg.kafka.group_id = Some(second.clone());
    let sink = start(cfg.clone());
    // Nothing new to read yet: the group is brought up to the lake all the same.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed(&bootstrap, &second, &topic).await < 3000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group was not brought up to the lake"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    support::produce_records(&bootstrap, &topic, &records[3000..]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed(&bootstrap, &second, &topic).await < 3500 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "second group never caught up"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sink.shutdown.cancel();
    let summary = sink.task.await.unwrap().unwrap();
    assert_eq!(
        summary.records_written, 500,
        "only the new records are written"
    );
    assert_eq!(sink.metrics.resumed_from_lake.get(), 1);
    let mut ids: Vec<_> = support::read_jsonl_lake(lake.path())
        .into_iter()
        .flat_map(|(_, rs)| rs.into_iter().map(|r| r.id()))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((n, ids.len()), (3500, 3500), "every record once");

    // The lake says 3500; a topic of that name with 100 records is another topic.
    let other = tempfile::tempdir().unwrap();
    let fresh = support::unique_name("sf-lake-ahead");
    support::create_topic(&bootstrap, &fresh, 1).await;
    support::create_topic(&bootstrap, &format!("{fresh}.dlq"), 1).await;
    support::produce_records(&bootstrap, &fresh, &records[..100]).await;
    let dir = other.path().join(format!("_stockfeed/offsets/{fresh}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("0.json"),
        format!(r#"{{"version":1,"topic":"{fresh}","partition":0,"end":3500}}"#),
    )
    .unwrap();
    let group = support::unique_name("sf-lake-ahead-group");
    let sink = start(config(&bootstrap, &fresh, &group, other.path()));
    let err = tokio::time::timeout(Duration::from_secs(60), sink.task)
        .await
        .expect("the sink ran on with a lake ahead of its topic")
        .unwrap()
        .expect_err("the sink skipped records to a checkpoint beyond the topic");
    assert!(
        matches!(
            err,
            SinkError::LakeAhead {
                lake: 3500,
                high: 100,
                ..
            }
        ),
        "{err}"
    );
    assert!(support::read_jsonl_lake(other.path()).is_empty());
}

/// After a crash every partition's restart adopts the cut its last writer recorded, and an
/// adopted cut is held whole until it is complete: together they can be many times the
/// memory cap (the first writer cut them at different moments, or the limits were lowered
/// since). Reading them all at once would run out of memory at every restart; the sink must
/// complete them one at a time, pausing the other partitions, and still write every record
/// once (review M2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_cuts_larger_together_than_the_memory_cap_complete_one_at_a_time() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    const PARTITIONS: i32 = 12;
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-adopted-memory");
    let group = support::unique_name("sf-adopted-memory-group");
    support::create_topic(&bootstrap, &topic, PARTITIONS).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = support::sample_records(120_000);
    // Round robin, so that no one cut is most of the data.
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut held_by_partition = vec![0usize; PARTITIONS as usize];
    let mut deliveries = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let msg = stockfeed_kafka::OutgoingMessage::from_record(r);
        let p = i as i32 % PARTITIONS;
        // What the sink counts for a record it holds: payload plus its per-record overhead.
        held_by_partition[p as usize] += msg.payload.len() + 320;
        let record = FutureRecord::to(&topic)
            .partition(p)
            .key(&msg.key)
            .payload(&msg.payload)
            .headers(msg.headers());
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for d in deliveries {
        d.await.unwrap().unwrap();
    }
    let held: usize = held_by_partition.iter().sum();
    let largest = held_by_partition.iter().copied().max().unwrap();
    let lake = tempfile::tempdir().unwrap();
    for p in 0..PARTITIONS {
        write_manifest_of(lake.path(), &topic, p, 0, 10_000);
    }
    let cap = 8 * 1024 * 1024;
    // Held at once at most: the cap, the cut being completed, and what was already fetched
    // for the others when they were paused (librdkafka's queue, a quarter of the cap, and the
    // reader's batches). Measured with 12 partitions: 15-16 MB held with the pauses, 21-24 MB
    // without (bound 21 MB): librdkafka tends to serve one partition after another, so without
    // pauses the peak is not all the cuts at once here; the pause count is the sharper guard.
    let read_ahead = 6 * 1024 * 1024;
    let bound = cap + largest + read_ahead;
    assert!(
        bound < held * 3 / 4,
        "the test cannot tell: {bound} vs {held}"
    );
    let mut cfg = config(&bootstrap, &topic, &group, lake.path());
    cfg.sink.flush.max_records = 1_000_000;
    cfg.sink.flush.max_bytes = 1 << 30;
    cfg.sink.memory.max_buffered_bytes = Some(cap);
    let sink = start(cfg);
    let mut peak = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while support::records_written(&sink.metrics) < records.len() as u64 {
        assert!(tokio::time::Instant::now() < deadline, "not all written");
        assert!(!sink.task.is_finished(), "the sink stopped");
        peak = peak.max(sink.metrics.buffered_bytes.get());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sink.shutdown.cancel();
    sink.task.await.unwrap().unwrap();
    assert!(
        (peak as usize) < bound,
        "peak {peak} bytes held, above {bound}: of {held} in the adopted cuts, at most \
         {largest} in one (cap {cap})"
    );
    eprintln!("held at most {peak} bytes (bound {bound}, adopted cuts {held})");
    assert!(sink.metrics.paused_for_adopted_cuts.get() > 0);
    let mut ids: Vec<_> = support::read_jsonl_lake(lake.path())
        .into_iter()
        .flat_map(|(_, rs)| rs.into_iter().map(|r| r.id()))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (n, ids.len()),
        (records.len(), records.len()),
        "every record once"
    );
    let after = {
        let (b, g, t) = (bootstrap.clone(), group.clone(), topic.clone());
        tokio::task::spawn_blocking(move || support::committed_and_high(&b, &g, &t, PARTITIONS))
            .await
            .unwrap()
    };
    assert!(
        after.iter().all(|&(c, h)| c == h && h == 10_000),
        "{after:?}"
    );
}
