//! The channel from a source to the producer, plus the source's health.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use stockfeed_record::{Provider, Record};

/// What a source hands to the producer.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceItem {
    Record(Record),
    Rejected(Rejected),
}

/// A payload (or part of one) that could not become a valid record. Goes to `<topic>.dlq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub provider: Provider,
    /// Human-readable cause, naming the field where there is one. Never contains secrets.
    pub reason: String,
    /// The bytes as received from the provider (or the line of the replay file).
    pub raw: Vec<u8>,
}

/// How a source is doing; drives `/readyz` and the `source_health` metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceHealth {
    /// Connecting or waiting for the first response.
    Starting,
    /// Receiving data (or at least valid, empty responses).
    Ready,
    /// Retrying after transient failures (timeouts, 5xx, disconnects, rate limits).
    Degraded(String),
    /// The provider refused our credentials; retried slowly. Not ready.
    Unauthorized(String),
}

impl SourceHealth {
    pub fn is_ready(&self) -> bool {
        matches!(self, SourceHealth::Ready | SourceHealth::Degraded(_))
    }
}

/// The producer stopped accepting items (shutdown or a fatal producer error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the producer is no longer accepting records")]
pub struct Stopped;

/// Handed to [`super::Source::run`]. Cheap to clone.
#[derive(Clone)]
pub struct Emitter {
    provider: Provider,
    tx: mpsc::Sender<SourceItem>,
    shutdown: CancellationToken,
    health: Arc<watch::Sender<SourceHealth>>,
    metrics: Option<Arc<crate::metrics::ProducerMetrics>>,
    resume: Option<Arc<super::ResumePoint>>,
}

impl Emitter {
    /// Creates an emitter and the receiving end for the producer (or a test).
    pub fn new(
        provider: Provider,
        capacity: usize,
        shutdown: CancellationToken,
    ) -> (
        Emitter,
        mpsc::Receiver<SourceItem>,
        watch::Receiver<SourceHealth>,
    ) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (health_tx, health_rx) = watch::channel(SourceHealth::Starting);
        let emitter = Emitter {
            provider,
            tx,
            shutdown,
            health: Arc::new(health_tx),
            metrics: None,
            resume: None,
        };
        (emitter, rx, health_rx)
    }

    /// Reports API latency to the producer's metrics (set by the pipeline).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::ProducerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// What an earlier run delivered (set by the pipeline for in-order sources).
    pub fn with_resume_point(mut self, resume: Option<Arc<super::ResumePoint>>) -> Self {
        self.resume = resume;
        self
    }

    /// True when an earlier run already delivered `record` (see `crate::resume`). The
    /// pipeline drops such records itself; an in-order source asks only so it does not pace
    /// them, and a restarted run catches up at once instead of at the configured rate.
    pub fn already_delivered(&self, record: &Record) -> bool {
        self.resume.as_ref().is_some_and(|r| r.already_sent(record))
    }

    /// Records one provider API call: how long it took and how it ended (`ok`, `client_error`,
    /// `server_error`, `rate_limited`, `unauthorized`, `timeout`, `network`).
    pub fn observe_request(&self, elapsed: std::time::Duration, outcome: &'static str) {
        if let Some(m) = &self.metrics {
            m.api_latency
                .get_or_create(&crate::metrics::RequestLabels {
                    provider: self.provider.to_string(),
                    outcome: outcome.to_owned(),
                })
                .observe(elapsed.as_secs_f64());
        }
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Hands over one record, waiting while the producer's buffer is full.
    pub async fn record(&self, record: Record) -> Result<(), Stopped> {
        self.send(SourceItem::Record(record)).await
    }

    /// Hands over a payload that could not become a record, with the reason.
    pub async fn reject(
        &self,
        reason: impl std::fmt::Display,
        raw: impl Into<Vec<u8>>,
    ) -> Result<(), Stopped> {
        let rejected = Rejected {
            provider: self.provider,
            reason: reason.to_string(),
            raw: raw.into(),
        };
        self.send(SourceItem::Rejected(rejected)).await
    }

    async fn send(&self, item: SourceItem) -> Result<(), Stopped> {
        tokio::select! {
            biased;
            sent = self.tx.send(item) => sent.map_err(|_| Stopped),
            () = self.shutdown.cancelled() => Err(Stopped),
        }
    }

    pub fn set_health(&self, health: SourceHealth) {
        self.health.send_if_modified(|current| {
            if *current == health {
                false
            } else {
                *current = health;
                true
            }
        });
    }

    /// Fires when the process is shutting down; sources select on it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Ingest time for new records.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
