//! Everything between a producer configuration and a running pipeline, shared by
//! `stockfeed produce` and `stockfeed run`: this replica's tickers, the source, the topic
//! check and the Kafka writer.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{ProducerConfig, ProducerError, Readiness, Summary, run_pipeline};
use crate::kafka::KafkaConfigError;
use crate::metrics::ProducerMetrics;
use crate::source::build_source;

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
    let options = config.pipeline_options();
    super::preflight::check_topics(
        &base,
        &[options.topic.clone(), options.dlq_topic.clone()],
        &shutdown,
    )
    .await
    .map_err(ProducerError::from)?;
    let writer = super::KafkaWriter::new(base, &config.writer_settings(), metrics.clone())
        .map_err(ProducerError::from)?;
    Ok(run_pipeline(source, writer, options, metrics, readiness, shutdown).await?)
}
