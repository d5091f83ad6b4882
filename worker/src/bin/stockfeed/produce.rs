//! `stockfeed produce`: wiring of config, metrics server, signals and the producer pipeline.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use stockfeed_worker::metrics::ProducerMetrics;
use stockfeed_worker::producer::{KafkaWriter, ProducerConfig, Readiness, run_pipeline};
use stockfeed_worker::source::build_source;
use tokio_util::sync::CancellationToken;

pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = ProducerConfig::load(path)?;
    let shard = config
        .shard()
        .map_err(anyhow::Error::msg)
        .context("invalid shard")?;
    let tickers = shard.select(&config.tickers);
    tracing::info!(
        shard = shard.index(),
        of = shard.count(),
        tickers = ?tickers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        topic = %config.kafka.topic,
        "starting producer"
    );

    let shutdown = CancellationToken::new();
    crate::signals::spawn_handler(shutdown.clone());

    let mut registry = Registry::default();
    let metrics = Arc::new(ProducerMetrics::register(&mut registry));
    let readiness = Arc::new(Readiness::default());
    let ready = readiness.clone();
    let server = crate::endpoints::start(
        config.metrics_addr,
        registry,
        Arc::new(move || ready.check()),
        &shutdown,
    )
    .await?;

    if tickers.is_empty() {
        tracing::warn!(
            "this replica's shard has no tickers (more replicas than tickers); idling until shutdown"
        );
        shutdown.cancelled().await;
        return Ok(ExitCode::SUCCESS);
    }

    let source = build_source(&config.source, &tickers)?;
    let base = config.kafka.connection.client_config()?;
    let options = config.pipeline_options();
    stockfeed_worker::producer::preflight::check_topics(
        &base,
        &[options.topic.clone(), options.dlq_topic.clone()],
        &shutdown,
    )
    .await?;
    let writer = KafkaWriter::new(base, &config.writer_settings(), metrics.clone())?;
    let summary = run_pipeline(
        source,
        writer,
        options,
        metrics,
        readiness,
        shutdown.clone(),
    )
    .await?;
    shutdown.cancel();
    let _ = server.await;
    tracing::info!(
        records = summary.records,
        duplicates = summary.duplicates,
        dead_letters = summary.dead_letters,
        lost = summary.lost,
        "producer stopped"
    );
    if summary.lost > 0 {
        tracing::error!(
            lost = summary.lost,
            "some records were not acknowledged by Kafka"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
