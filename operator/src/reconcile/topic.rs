//! The StockFeed's topic and its dead-letter topic, ensured through the Kafka admin API.

use std::time::Duration;

use stockfeed_kafka::admin::{TopicAdmin, TopicOutcome, TopicRequest};
use stockfeed_kafka::{Connect, KafkaConnection, Security};
use stockfeed_spec::FeedSpec;

use crate::conditions::{Observed, TOPIC_READY};
use crate::crd::TopicStatus;

pub struct TopicResult {
    pub condition: Observed,
    pub status: Option<TopicStatus>,
    /// Set when the topic was created in this reconcile (for an event).
    pub created: bool,
}

/// Ensures both topics; never returns an error, because every failure is the user's to see in
/// the condition.
pub async fn ensure(spec: &FeedSpec, timeout: Duration) -> TopicResult {
    let k = &spec.kafka;
    if k.security.is_some() {
        // The operator would need the workers' Kafka credentials; it does not read Secret
        // values, so on secured clusters topics are created by the cluster's own tooling.
        return TopicResult {
            condition: Observed::ok(
                TOPIC_READY,
                "NotManaged",
                format!(
                    "the operator does not create topics on TLS/SASL clusters; create {} and {} \
                     (partitions {}, replication {}) with your cluster's tooling",
                    k.topic,
                    dlq(spec),
                    k.partitions,
                    k.replication_factor
                ),
            ),
            status: None,
            created: false,
        };
    }
    let connection = KafkaConnection {
        bootstrap_servers: k.bootstrap_servers.clone(),
        security: Security::Plaintext,
        client_id: Some("stockfeed-operator".into()),
    };
    let admin = match connection
        .client_config()
        .map_err(|e| e.to_string())
        .and_then(|c| TopicAdmin::new(&c, timeout).map_err(|e| e.to_string()))
    {
        Ok(a) => a,
        Err(message) => return failed("InvalidKafkaSettings", message),
    };
    let main = TopicRequest {
        name: k.topic.clone(),
        partitions: k.partitions,
        replication_factor: k.replication_factor,
        config: k.topic_config.clone(),
    };
    let dead_letters = TopicRequest {
        name: dlq(spec),
        config: Default::default(),
        ..main.clone()
    };
    let outcome = match admin.ensure(&main).await {
        Ok(o) => o,
        Err(e) => return failed(reason(&e), e.to_string()),
    };
    if let Err(e) = admin.ensure(&dead_letters).await {
        return failed(reason(&e), e.to_string());
    }
    match outcome {
        TopicOutcome::Created => TopicResult {
            condition: Observed::ok(TOPIC_READY, "Created", format!("created topic {}", k.topic)),
            status: Some(TopicStatus {
                name: k.topic.clone(),
                partitions: k.partitions,
                replication_factor: k.replication_factor.into(),
            }),
            created: true,
        },
        TopicOutcome::Exists {
            partitions,
            replication_factor,
            differences,
        } => TopicResult {
            // Data flows either way; a difference is reported, never "fixed" by the operator.
            condition: if differences.is_empty() {
                Observed::ok(TOPIC_READY, "Exists", format!("topic {} exists", k.topic))
            } else {
                Observed::ok(
                    TOPIC_READY,
                    "ExistsWithDifferences",
                    format!(
                        "topic {} {}; the operator does not change existing topics",
                        k.topic,
                        differences.join("; ")
                    ),
                )
            },
            status: Some(TopicStatus {
                name: k.topic.clone(),
                partitions,
                replication_factor,
            }),
            created: false,
        },
    }
}

fn dlq(spec: &FeedSpec) -> String {
    spec.kafka
        .dlq_topic
        .clone()
        .unwrap_or_else(|| stockfeed_kafka::dlq_topic(&spec.kafka.topic))
}

fn reason(e: &stockfeed_kafka::admin::AdminError) -> &'static str {
    use stockfeed_kafka::admin::AdminError;
    match e {
        AdminError::Unreachable { .. } => "KafkaUnreachable",
        AdminError::Create { .. } => "TopicCreateFailed",
        AdminError::Describe { .. } => "TopicDescribeFailed",
        AdminError::Delete { .. } => "TopicDeleteFailed",
        AdminError::Client(_) => "InvalidKafkaSettings",
    }
}

/// On deletion of a StockFeed whose `kafka.deletionPolicy` is `Delete`: deletes the topic and
/// its dead-letter topic. `Ok(None)` when the policy keeps them (or the operator does not manage
/// this cluster's topics); an error keeps the finalizer, so it is retried.
pub async fn delete(spec: &FeedSpec, timeout: Duration) -> Result<Option<String>, String> {
    let k = &spec.kafka;
    if k.deletion_policy.is_retain() || k.security.is_some() {
        return Ok(None);
    }
    let connection = KafkaConnection {
        bootstrap_servers: k.bootstrap_servers.clone(),
        security: Security::Plaintext,
        client_id: Some("stockfeed-operator".into()),
    };
    let admin = connection
        .client_config()
        .map_err(|e| e.to_string())
        .and_then(|c| TopicAdmin::new(&c, timeout).map_err(|e| e.to_string()))?;
    let dlq = dlq(spec);
    let deleted = admin
        .delete(&[k.topic.as_str(), dlq.as_str()])
        .await
        .map_err(|e| {
            format!("{e}; the StockFeed stays until its topics are deleted (or set spec.kafka.deletionPolicy: Retain)")
        })?;
    Ok(Some(if deleted.is_empty() {
        format!("topics {} and {dlq} were already gone", k.topic)
    } else {
        format!(
            "deleted topics {} (spec.kafka.deletionPolicy: Delete)",
            deleted.join(", ")
        )
    }))
}

fn failed(reason: &str, message: String) -> TopicResult {
    TopicResult {
        condition: Observed::failed(TOPIC_READY, reason, message),
        status: None,
        created: false,
    }
}
