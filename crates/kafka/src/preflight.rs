//! Start-up checks against the cluster, so a misconfiguration fails at once with a clear
//! message instead of as a stream of delivery errors.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "Kafka topic `{0}` does not exist; create it first (the operator does this for a StockFeed), \
         the producer never relies on auto-creation"
    )]
    MissingTopic(String),
    #[error("cannot create a Kafka client: {0}")]
    Client(#[source] KafkaError),
    #[error("shut down before Kafka became reachable")]
    ShutDown,
}

/// Waits until the cluster answers (retrying with backoff while it does not: a producer may
/// start before its broker) and checks that every topic exists.
pub async fn check_topics(
    base: &ClientConfig,
    topics: &[String],
    shutdown: &CancellationToken,
) -> Result<(), PreflightError> {
    let consumer: BaseConsumer = base.create().map_err(PreflightError::Client)?;
    let consumer = std::sync::Arc::new(consumer);
    let mut delay = Duration::from_millis(500);
    loop {
        let c = consumer.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(None, Duration::from_secs(10)).map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                    .map(|t| t.name().to_owned())
                    .collect::<Vec<_>>()
            })
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled));
        match fetched {
            Ok(existing) => {
                return match topics.iter().find(|t| !existing.contains(t)) {
                    Some(missing) => Err(PreflightError::MissingTopic(missing.clone())),
                    None => Ok(()),
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "Kafka is not reachable yet");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return Err(PreflightError::ShutDown),
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
