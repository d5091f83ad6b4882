//! The sink against the real broker and a local lake: every record lands once, in the
//! partition of its event time, poison messages go to the dead-letter topic, offsets are
//! committed to the end, and a second run over the same input adds nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use stockfeed_record::{Record, RecordId};
use stockfeed_sink::metrics::SinkMetrics;
use stockfeed_sink::{SinkConfig, SinkReadiness, run_sink};
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 6;

fn config(bootstrap: &str, topic: &str, group: &str, lake: &std::path::Path) -> SinkConfig {
    SinkConfig::parse(&format!(
        "kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}, groupId: {group}, sessionTimeout: 6s}}\n\
         sink:\n  url: 'file://{}/'\n  format: jsonl\n  partitionBy: [dt, hour]\n  flush: {{maxRecords: 2000, maxBytes: 1Mi, maxAge: 1s}}\n",
        lake.display()
    ))
    .unwrap()
}

/// Runs a sink until it has written `expected` records (or 90 s pass), then shuts it down.
async fn run_until(config: SinkConfig, expected: u64) -> stockfeed_sink::SinkSummary {
    let mut registry = Registry::default();
    let metrics = Arc::new(SinkMetrics::register(&mut registry));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_sink(
        config,
        metrics.clone(),
        Arc::new(SinkReadiness::default()),
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let written: u64 = ["trade", "quote", "bar"]
            .iter()
            .map(|k| {
                metrics
                    .records_written
                    .get_or_create(&stockfeed_sink::metrics::KindLabels { kind: (*k).into() })
                    .get()
            })
            .sum();
        if written >= expected || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_once_in_its_event_time_partition() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-sink");
    let group = support::unique_name("sf-sink-group");
    support::create_topic(&bootstrap, &topic, PARTITIONS).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = support::records_across_midnight(30_000);
    support::produce_records(&bootstrap, &topic, &records[..15_000]).await;
    for i in 0..5 {
        support::produce_raw(
            &bootstrap,
            &topic,
            b"AAPL",
            format!("not json {i}").as_bytes(),
        )
        .await;
    }
    support::produce_records(&bootstrap, &topic, &records[15_000..]).await;

    let lake = tempfile::tempdir().unwrap();
    let summary = run_until(config(&bootstrap, &topic, &group, lake.path()), 30_000).await;
    assert_eq!(summary.records_written, 30_000);
    assert_eq!(summary.dead_letters, 5);

    let objects = support::read_jsonl_lake(lake.path());
    let mut seen: HashMap<RecordId, usize> = HashMap::new();
    for (path, rs) in &objects {
        let name = path.rsplit('/').next().unwrap();
        assert!(
            name.starts_with(&format!("{topic}+")) && name.ends_with(".jsonl"),
            "{path}"
        );
        for r in rs {
            *seen.entry(r.id()).or_default() += 1;
            let ts = r.event_ts();
            let want = format!(
                "{}/dt={}/hour={}/",
                r.kind(),
                ts.format("%Y-%m-%d"),
                ts.format("%H")
            );
            assert!(
                path.starts_with(&want),
                "{} record at {ts} is in {path}",
                r.kind()
            );
            assert!(
                rs.iter().all(|o| o.kind() == r.kind()),
                "one kind per object"
            );
        }
    }
    assert_eq!(seen.len(), 30_000, "every record is in the lake");
    assert!(seen.values().all(|&n| n == 1), "no record twice");
    let dts: std::collections::BTreeSet<&str> = objects
        .iter()
        .map(|(p, _)| p.split('/').nth(1).unwrap())
        .collect();
    assert_eq!(
        dts.into_iter().collect::<Vec<_>>(),
        ["dt=2026-11-25", "dt=2026-11-26"],
        "the run spans midnight"
    );

    // Offsets are committed to the end of every partition.
    let offsets = tokio::task::spawn_blocking({
        let (b, g, t) = (bootstrap.clone(), group.clone(), topic.clone());
        move || support::committed_and_high(&b, &g, &t, PARTITIONS)
    })
    .await
    .unwrap();
    for (p, (committed, high)) in offsets.iter().enumerate() {
        if *high > 0 {
            assert_eq!(committed, high, "partition {p} committed to its end");
        }
    }

    // Poison messages are in the dead-letter topic with their origin.
    let letters = support::read_raw(&bootstrap, &format!("{topic}.dlq"), 5).await;
    for l in &letters {
        assert!(l.payload.starts_with(b"not json"));
        assert_eq!(l.header("sf-dlq-stage"), Some("sink"));
        assert_eq!(l.header("sf-source-topic"), Some(topic.as_str()));
        assert!(l.header("sf-source-offset").unwrap().parse::<i64>().is_ok());
        assert!(
            l.header("sf-dlq-reason")
                .unwrap()
                .contains("sf-schema-version"),
            "{:?}",
            l.header("sf-dlq-reason")
        );
    }

    // A second group over the same topic and lake rewrites the same files: nothing added.
    let before: Vec<String> = objects.iter().map(|(p, _)| p.clone()).collect();
    let again = run_until(
        config(
            &bootstrap,
            &topic,
            &support::unique_name("sf-sink-again"),
            lake.path(),
        ),
        30_000,
    )
    .await;
    assert_eq!(again.files_written, 0, "every object already existed");
    let after: Vec<String> = support::read_jsonl_lake(lake.path())
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_recorded_in_a_manifest_is_adopted_by_the_next_run() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-sink-cut");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records: Vec<Record> = support::sample_records(500);
    support::produce_records(&bootstrap, &topic, &records).await;
    let lake = tempfile::tempdir().unwrap();
    // An earlier writer (crashed after writing its manifest) cut partition 0 at offset 123.
    let dir = lake.path().join(format!("_stockfeed/manifests/{topic}/0"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{:020}.json", 0)),
        format!(r#"{{"version":1,"topic":"{topic}","partition":0,"start":0,"end":123,"files":[],"records":123}}"#),
    )
    .unwrap();
    let summary = run_until(
        config(
            &bootstrap,
            &topic,
            &support::unique_name("sf-cut"),
            lake.path(),
        ),
        500,
    )
    .await;
    assert_eq!(summary.records_written, 500);
    let objects = support::read_jsonl_lake(lake.path());
    let names: std::collections::BTreeSet<String> = objects
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert!(names.contains(&format!("{topic}+0+{:020}.jsonl", 0)));
    assert!(
        names.contains(&format!("{topic}+0+{:020}.jsonl", 123)),
        "the second segment starts at the adopted cut: {names:?}"
    );
    let first_segment: usize = objects
        .iter()
        .filter(|(p, _)| p.ends_with(&format!("+{:020}.jsonl", 0)))
        .map(|(_, rs)| rs.len())
        .sum();
    assert_eq!(first_segment, 123);
}
