//! Logging set-up for the binaries.

use tracing_subscriber::EnvFilter;

/// Logs to stderr: JSON when not on a terminal (containers, where logs are collected and
/// parsed), human-readable on a terminal. `RUST_LOG` overrides the default `info` level.
pub fn init() {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().with_current_span(true).init();
    }
}
