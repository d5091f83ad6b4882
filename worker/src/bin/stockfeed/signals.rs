//! Signal handling shared by the long-running modes.

use tokio_util::sync::CancellationToken;

/// SIGTERM (Kubernetes) and Ctrl-C both start a graceful shutdown; a second one exits at once.
pub fn spawn_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        for round in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            if round == 0 {
                tracing::info!("shutdown requested: finishing in-flight work");
                shutdown.cancel();
            } else {
                tracing::warn!("second signal: exiting at once");
                std::process::exit(130);
            }
        }
    });
}
