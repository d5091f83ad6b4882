//! `stockfeed sink`: wiring of config, metrics server, signals and the sink loop.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use stockfeed_sink::metrics::SinkMetrics;
use stockfeed_sink::{SinkConfig, SinkReadiness, run_sink};
use tokio_util::sync::CancellationToken;

pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = SinkConfig::load(path)?;
    let shutdown = CancellationToken::new();
    crate::signals::spawn_handler(shutdown.clone());

    let mut registry = Registry::default();
    let metrics = Arc::new(SinkMetrics::register(&mut registry));
    let readiness = Arc::new(SinkReadiness::default());
    let ready = readiness.clone();
    let server = crate::endpoints::start(
        config.metrics_addr,
        registry,
        Arc::new(move || ready.check()),
        &shutdown,
    )
    .await?;

    let summary = run_sink(config, metrics, readiness, shutdown.clone()).await?;
    shutdown.cancel();
    let _ = server.await;
    tracing::info!(
        records_written = summary.records_written,
        files_written = summary.files_written,
        segments = summary.segments,
        dead_letters = summary.dead_letters,
        "sink stopped"
    );
    Ok(ExitCode::SUCCESS)
}
