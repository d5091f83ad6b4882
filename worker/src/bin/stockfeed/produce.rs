//! `stockfeed produce`: wiring of config, metrics server, signals and the producer pipeline.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use stockfeed_producer::metrics::ProducerMetrics;
use stockfeed_producer::{ProducerConfig, Readiness, launch};
use tokio_util::sync::CancellationToken;

pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = ProducerConfig::load(path)?;
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

    let summary = launch::run(&config, metrics, readiness, shutdown.clone()).await?;
    shutdown.cancel();
    let _ = server.await;
    tracing::info!(
        records = summary.records,
        duplicates = summary.duplicates,
        already_in_topic = summary.already_in_topic,
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
