//! The Kafka TLS path against the harness broker's real SSL listener (hack/kafka.sh: a server
//! certificate for the service address, signed by the harness's own CA): the workers' client
//! settings connect with the CA the StockFeed names, and a wrong CA is refused by the TLS
//! handshake within the timeout, saying so, instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stockfeed_kafka::admin::{TopicAdmin, TopicOutcome, TopicRequest};
use stockfeed_kafka::{Connect, KafkaConnection, Security};
use stockfeed_spec::kafka::Tls;

/// The TLS listener and its CA, from `hack/services.sh env`; a failure, never a skip.
fn tls_listener() -> (String, PathBuf) {
    support::require_kafka();
    let servers = std::env::var("STOCKFEED_TEST_KAFKA_TLS").unwrap_or_else(|_| {
        panic!("STOCKFEED_TEST_KAFKA_TLS is unset: run through `make test` (hack/services.sh env)")
    });
    let ca = PathBuf::from(
        std::env::var("STOCKFEED_TEST_KAFKA_CA").unwrap_or_else(|_| {
            panic!(
                "STOCKFEED_TEST_KAFKA_CA is unset: run through `make test` (hack/services.sh env)"
            )
        }),
    );
    assert!(
        ca.is_file(),
        "{} is missing: start Kafka with hack/kafka.sh start",
        ca.display()
    );
    (servers, ca)
}

fn admin_over_tls(servers: &str, ca: &Path, timeout: Duration) -> TopicAdmin {
    let connection = KafkaConnection {
        bootstrap_servers: servers.to_owned(),
        security: Security::Ssl {
            tls: Tls {
                ca_file: Some(ca.to_owned()),
                ..Tls::default()
            },
        },
        client_id: Some("tls-test".into()),
    };
    // The default log level: the reason of a failed handshake is in librdkafka's log.
    let config = connection.client_config().unwrap();
    TopicAdmin::new(&config, timeout).unwrap()
}

#[tokio::test]
async fn the_named_ca_connects_and_verifies_the_brokers_address() {
    let (servers, ca) = tls_listener();
    let admin = admin_over_tls(&servers, &ca, Duration::from_secs(10));
    let request = TopicRequest {
        name: support::unique_name("tls"),
        partitions: 1,
        replication_factor: 1,
        config: BTreeMap::new(),
    };
    assert_eq!(admin.ensure(&request).await.unwrap(), TopicOutcome::Created);
    assert_eq!(admin.describe(&request.name).await.unwrap(), Some((1, 1)));
}

#[tokio::test]
async fn another_ca_is_refused_with_a_clear_error() {
    let (servers, _) = tls_listener();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the broker's CA", "-keyout"])
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let admin = admin_over_tls(&servers, &other, Duration::from_secs(4));
    let started = Instant::now();
    let err = admin
        .ensure(&TopicRequest {
            name: support::unique_name("tls-refused"),
            partitions: 1,
            replication_factor: 1,
            config: BTreeMap::new(),
        })
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // The request itself only fails with "transport failure"; the error carries what the
    // client saw, so the user reads that the broker's certificate was not trusted.
    let text = err.to_string();
    assert!(text.contains(&servers), "{text}");
    assert!(text.contains("certificate verify failed"), "{text}");
}
