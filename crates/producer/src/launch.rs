//! Everything between a producer configuration and a running pipeline, shared by
//! `stockfeed produce` and `stockfeed run`: this replica's tickers, the source, the topic
//! check and the Kafka writer.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use tracing::Instrument;

use tokio_util::sync::CancellationToken;

use stockfeed_kafka::Connect;

use super::{ProducerConfig, ProducerError, Readiness, Summary, run_pipeline};
use super::{ProducerSettings, TopicTail};
use crate::metrics::ProducerMetrics;
use crate::source::build_source;
use stockfeed_kafka::KafkaConfigError;
use stockfeed_record::Symbol;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("invalid shard: {0}")]
    Shard(String),
    #[error(transparent)]
    Kafka(#[from] KafkaConfigError),
    #[error(transparent)]
    Producer(#[from] ProducerError),
}

/// Runs the producer until its source ends or `shutdown` fires.
pub async fn run(
    config: &ProducerConfig,
    metrics: Arc<ProducerMetrics>,
    readiness: Arc<Readiness>,
    shutdown: CancellationToken,
) -> Result<Summary, LaunchError> {
    let shard = config.shard().map_err(LaunchError::Shard)?;
    let tickers = shard.select(&config.tickers);
    tracing::info!(
        shard = shard.index(),
        of = shard.count(),
        tickers = ?tickers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        topic = %config.kafka.topic,
        "starting producer"
    );
    if tickers.is_empty() {
        tracing::warn!(
            "this replica's shard has no tickers (more replicas than tickers); idling until shutdown"
        );
        shutdown.cancelled().await;
        return Ok(Summary::default());
    }
    let source = build_source(&config.source, &tickers).map_err(ProducerError::from)?;
    let base = config.kafka.connection.client_config()?;
    let mut options = config.pipeline_options();
    stockfeed_kafka::preflight::check_topics(
        &base,
        &[options.topic.clone(), options.dlq_topic.clone()],
        &shutdown,
    )
    .await
    .map_err(ProducerError::from)?;
    if config.producer.resume_scan > 0 {
        options.resume =
            read_topic_tail(&base, &options.topic, &tickers, config.producer.resume_scan).await;
    }
    let writer = super::KafkaWriter::new(base, &config.writer_settings(), metrics.writer())
        .map_err(ProducerError::from)?;
    Ok(run_pipeline(source, writer, options, metrics, readiness, shutdown).await?)
}

/// How long start-up may spend reading the topic's tail before going on without it.
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads what earlier runs left in the topic for these tickers. A failure is not fatal: the
/// producer then starts from nothing, which can repeat records but never loses one.
async fn read_topic_tail(
    base: &ClientConfig,
    topic: &str,
    tickers: &[Symbol],
    per_partition: u64,
) -> Option<TopicTail> {
    let base = base.clone();
    let topic_name = topic.to_owned();
    let symbols: HashSet<Symbol> = tickers.iter().cloned().collect();
    let began = Instant::now();
    let read = tokio::task::spawn_blocking(move || {
        super::resume::read_tail(&base, &topic_name, &symbols, per_partition, RESUME_TIMEOUT)
    })
    .instrument(tracing::info_span!("resume_scan", %topic, per_partition))
    .await;
    match read {
        Ok(Ok(tail)) => {
            tracing::info!(
                %topic,
                messages = tail.messages,
                records_of_this_shard = tail.records(),
                undecodable = tail.undecodable,
                took_ms = began.elapsed().as_millis() as u64,
                "read the topic's tail: records an earlier run delivered will not be sent again"
            );
            Some(tail)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the topic's tail; records an earlier run delivered may be sent again");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "the topic-tail reader failed; records an earlier run delivered may be sent again");
            None
        }
    }
}
