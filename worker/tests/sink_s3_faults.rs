//! The sink against an S3 server that misbehaves as real S3 does, not only "server stopped":
//! a TCP proxy in front of the test S3 server (`support/s3_proxy.rs`) answers chosen requests
//! itself with 503 SlowDown (request ids that contain "412", as AWS's hex ids do), 403
//! AccessDenied, or holds the connection open and silent (half-open). Each test checks the lake
//! against the topic. `sink_faults` runs kills against the same proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use prometheus_client::registry::Registry;
use stockfeed_sink::metrics::SinkMetrics;
use stockfeed_sink::{SinkConfig, SinkError, SinkReadiness, SinkSummary, run_sink};
use support::s3_proxy::{Fault, FaultyS3, Plan};
use tokio_util::sync::CancellationToken;

struct Feed {
    bootstrap: String,
    topic: String,
    group: String,
    bucket: String,
    ids: HashSet<stockfeed_record::RecordId>,
    s3: aws_sdk_s3::Client,
    /// Static keys in files, as for an S3-compatible store outside AWS.
    keys: tempfile::TempDir,
}

async fn feed(n: usize) -> Feed {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-s3faults");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let records = support::sample_records(n);
    support::produce_records(&bootstrap, &topic, &records).await;
    let (access, secret) = support::s3_credentials();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(support::s3_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(&access, &secret, None, None, "test"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let bucket = support::unique_name("sf-s3faults");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("S3 server running");
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("id"), &access).unwrap();
    std::fs::write(keys.path().join("secret"), &secret).unwrap();
    Feed {
        keys,
        bootstrap,
        group: support::unique_name("sf-s3faults-group"),
        ids: records.iter().map(|r| r.id()).collect(),
        topic,
        bucket,
        s3,
    }
}

fn config(f: &Feed, endpoint: &str) -> SinkConfig {
    let (access, secret) = (f.keys.path().join("id"), f.keys.path().join("secret"));
    let (access, secret) = (access.display(), secret.display());
    SinkConfig::parse(&format!(
        "kafka: {{bootstrapServers: '{}', topic: {}, groupId: {}, sessionTimeout: 6s}}\n\
         sink:\n  url: 's3://{}/raw/'\n  format: jsonl\n  flush: {{maxRecords: 100, maxAge: 1s}}\n\
         \x20 s3: {{endpoint: '{endpoint}', forcePathStyle: true, region: us-east-1, attemptTimeout: 3s, credentials: {{accessKeyId: {{file: {access}}}, secretAccessKey: {{file: {secret}}}}}}}\n",
        f.bootstrap, f.topic, f.group, f.bucket
    ))
    .unwrap()
}

fn start(
    config: SinkConfig,
) -> (
    Arc<SinkMetrics>,
    CancellationToken,
    tokio::task::JoinHandle<Result<SinkSummary, SinkError>>,
) {
    let metrics = Arc::new(SinkMetrics::register(&mut Registry::default()));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_sink(
        config,
        metrics.clone(),
        Arc::new(SinkReadiness::default()),
        shutdown.clone(),
    ));
    (metrics, shutdown, task)
}

/// Every record in the bucket, read straight from the S3 server (not through the proxy).
async fn lake_ids(f: &Feed) -> Vec<stockfeed_record::RecordId> {
    let mut ids = Vec::new();
    let listed =
        f.s3.list_objects_v2()
            .bucket(&f.bucket)
            .prefix("raw/")
            .send()
            .await
            .unwrap();
    for o in listed.contents() {
        let key = o.key().unwrap();
        if key.contains("_stockfeed/") {
            continue;
        }
        let body =
            f.s3.get_object()
                .bucket(&f.bucket)
                .key(key)
                .send()
                .await
                .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            ids.push(stockfeed_record::Record::parse_json(line).unwrap().id());
        }
    }
    ids
}

async fn run_to_the_end(f: &Feed, endpoint: &str, n: u64) {
    let (metrics, shutdown, task) = start(config(f, endpoint));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while support::records_written(&metrics) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} written in 120 s",
            support::records_written(&metrics)
        );
        assert!(!task.is_finished(), "the sink stopped: {:?}", task.await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

async fn assert_exactly_once(f: &Feed) {
    let ids = lake_ids(f).await;
    let unique: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "records written twice");
    let missing = f.ids.difference(&unique).count();
    let extra = unique.difference(&f.ids).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "the lake is not the topic: {missing} records missing, {extra} not from it"
    );
    let (b, g, t) = (f.bootstrap.clone(), f.group.clone(), f.topic.clone());
    let offsets = tokio::task::spawn_blocking(move || support::committed_and_high(&b, &g, &t, 1))
        .await
        .unwrap();
    assert_eq!(offsets[0].0, offsets[0].1, "not committed to the end");
}

/// Throttling: the first dozen PUTs get 503 SlowDown with AWS-style request ids that contain
/// "412" — more than the SDK's own three attempts absorb, so the sink's retry sees them too.
/// Every record lands once. (Whether the SDK's last attempt surfaces as a service error varies
/// from run to run, so this is not the guard of the "412 in the response" classification: the
/// unit test in crates/sink/src/storage/s3.rs is.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_answers_are_retried_and_every_record_lands_once() {
    let f = feed(500).await;
    let proxy = FaultyS3::start(Plan::First {
        fault: Fault::SlowDown,
        method: Some("PUT"),
        count: 12,
    })
    .await;
    run_to_the_end(&f, &proxy.endpoint, 500).await;
    // Rounds of three exhaust the SDK's own attempts and reach the sink's retry.
    let served = proxy.faults_served();
    assert!(
        served >= 4,
        "only {served} faults served: the test shows nothing"
    );
    assert_exactly_once(&f).await;
}

/// A half-open connection: the first two PUTs are accepted and never answered.
/// The attempt times out, the request is retried, and the sink carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_times_out_and_the_sink_carries_on() {
    let f = feed(300).await;
    let proxy = FaultyS3::start(Plan::First {
        fault: Fault::Silent,
        method: Some("PUT"),
        count: 2,
    })
    .await;
    run_to_the_end(&f, &proxy.endpoint, 300).await;
    assert_exactly_once(&f).await;
}

/// Access denied is not retried for ever behind a green `/readyz`: the sink stops, saying
/// which request S3 refused, and commits nothing it did not write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_stops_the_sink_with_the_reason() {
    let f = feed(100).await;
    let proxy = FaultyS3::start(Plan::First {
        fault: Fault::Denied,
        method: None,
        count: usize::MAX,
    })
    .await;
    let (_, _, task) = start(config(&f, &proxy.endpoint));
    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the sink retried an AccessDenied for a minute")
        .unwrap()
        .expect_err("the sink ran on without its lake");
    let text = err.to_string();
    assert!(
        text.contains("refused") && text.contains("AccessDenied"),
        "{text}"
    );
    let (b, g, t) = (f.bootstrap.clone(), f.group.clone(), f.topic.clone());
    let offsets = tokio::task::spawn_blocking(move || support::committed_and_high(&b, &g, &t, 1))
        .await
        .unwrap();
    assert!(
        offsets[0].0 <= 0,
        "committed {} without a lake",
        offsets[0].0
    );
}

/// S3 that keeps answering 503: the sink retries (it may recover), but `/readyz`
/// stops saying ready within a little over the stall limit, with the error, so a rollout does
/// not count a sink that writes nothing as available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_says_so_when_lake_writes_keep_failing() {
    let f = feed(100).await;
    // Every request (a PUT on a connection a passed-through GET opened would get through).
    let proxy = FaultyS3::start(Plan::First {
        fault: Fault::SlowDown,
        method: None,
        count: usize::MAX,
    })
    .await;
    let readiness = Arc::new(SinkReadiness::default());
    let metrics = Arc::new(SinkMetrics::register(&mut Registry::default()));
    let task = tokio::spawn(run_sink(
        config(&f, &proxy.endpoint),
        metrics,
        readiness.clone(),
        CancellationToken::new(),
    ));
    let deadline =
        tokio::time::Instant::now() + stockfeed_sink::run::STORE_STALL + Duration::from_secs(30);
    let reason = loop {
        if let Err(reason) = readiness.check()
            && reason.contains("writes to the lake have failed")
        {
            break reason;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still ready: {:?}",
            readiness.check()
        );
        assert!(!task.is_finished(), "the sink stopped on a transient error");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        reason.contains("SlowDown") || reason.contains("503"),
        "{reason}"
    );
    task.abort();
}
