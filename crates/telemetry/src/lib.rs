//! What every StockFeed process (operator and workers) shares for being observed: logging set-up
//! with secret-safe filters, the HTTP server for `/metrics`, `/healthz` and `/readyz`, and
//! process figures for metrics.
//!
//! It knows no stage: each stage registers its own metrics in the registry it is handed.

pub mod server;

use tracing_subscriber::EnvFilter;

/// Logs to stderr: JSON when not on a terminal (containers, where logs are collected and
/// parsed), human-readable on a terminal. `RUST_LOG` overrides the default `info` level.
pub fn init() {
    use std::io::IsTerminal;
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let filter = filter(&spec);

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().with_current_span(true).init();
    }
}

/// The log filter for a `RUST_LOG`-style spec. HTTP and WebSocket libraries log raw requests
/// and frames at trace level, and those carry API keys (Finnhub's `?token=`, Alpaca's auth
/// frame); they are capped at `info` whatever the spec says, so a secret can never reach the
/// logs through a dependency.
pub fn filter(spec: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("info"));
    for noisy in [
        "tungstenite",
        "tokio_tungstenite",
        "hyper",
        "hyper_util",
        "h2",
        "reqwest",
        "rustls",
    ] {
        if let Ok(directive) = format!("{noisy}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// The buckets of every latency histogram of the project: 0.5 ms to about 65 s, doubling, so
/// dashboards can compare any two of them.
pub fn latency_histogram() -> prometheus_client::metrics::histogram::Histogram {
    use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// Resident set size of this process, from /proc (Linux); `None` elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn trace_of_http_libraries_is_capped_even_when_asked_for() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(super::filter("trace,tungstenite=trace,hyper=trace"))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "tungstenite::handshake::client", "Request: GET /?token=SECRET-1");
            tracing::trace!(target: "hyper::proto", "SECRET-2");
            tracing::trace!(target: "stockfeed_producer::source", "our own trace line");
        });
        let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!logs.contains("SECRET"), "{logs}");
        assert!(
            logs.contains("our own trace line"),
            "other targets keep their level: {logs}"
        );
    }
}
