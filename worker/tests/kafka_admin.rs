//! Topic provisioning against the real broker: created when missing, compared (never changed)
//! when present, and a clear error within the timeout when the cluster is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use stockfeed_kafka::admin::{AdminError, TopicAdmin, TopicOutcome, TopicRequest};

fn admin(servers: &str, timeout: Duration) -> TopicAdmin {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("log_level", "0");
    TopicAdmin::new(&config, timeout).unwrap()
}

#[tokio::test]
async fn creates_once_then_reports_differences() {
    let servers = support::require_kafka();
    let admin = admin(&servers, Duration::from_secs(10));
    let request = TopicRequest {
        name: support::unique_name("admin"),
        partitions: 3,
        replication_factor: 1,
        config: BTreeMap::from([("retention.ms".to_owned(), "3600000".to_owned())]),
    };
    assert_eq!(admin.ensure(&request).await.unwrap(), TopicOutcome::Created);
    assert_eq!(admin.describe(&request.name).await.unwrap(), Some((3, 1)));
    assert_eq!(
        admin.ensure(&request).await.unwrap(),
        TopicOutcome::Exists {
            partitions: 3,
            replication_factor: 1,
            differences: vec![]
        }
    );
    let wants_more = TopicRequest {
        partitions: 6,
        config: BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]),
        ..request.clone()
    };
    let TopicOutcome::Exists { differences, .. } = admin.ensure(&wants_more).await.unwrap() else {
        panic!("recreated an existing topic");
    };
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(differences[0].contains("has 3 partitions, the spec asks for 6"));
    assert!(differences[1].contains("retention.ms is 3600000"));
    // Never changed behind the user's back.
    assert_eq!(admin.describe(&request.name).await.unwrap(), Some((3, 1)));
}

#[tokio::test]
async fn an_unreachable_cluster_is_an_error_within_the_timeout() {
    let admin = admin("127.0.0.1:1", Duration::from_secs(2));
    let started = Instant::now();
    let err = admin
        .ensure(&TopicRequest {
            name: "never".into(),
            partitions: 1,
            replication_factor: 1,
            config: BTreeMap::new(),
        })
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, AdminError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
