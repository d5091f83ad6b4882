//! The HTTP endpoints every long-running mode serves, started the same way.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use stockfeed_telemetry::server::ReadinessCheck;
use tokio_util::sync::CancellationToken;

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until `shutdown`.
pub async fn start(
    addr: SocketAddr,
    registry: Registry,
    ready: ReadinessCheck,
    shutdown: &CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (bound, server) =
        stockfeed_telemetry::server::serve(addr, Arc::new(registry), ready, shutdown.clone())
            .await
            .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
    tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    Ok(server)
}
