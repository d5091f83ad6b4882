//! The counters a [`KafkaWriter`](crate::writer::KafkaWriter) keeps. They are handles onto
//! metrics that the owner registers under its own prefix (the producer's
//! `stockfeed_producer_*`), so the writer reports into whichever process uses it without knowing
//! its registry; the sink's dead-letter writer uses an unregistered set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// A fixed class: `source`, `validation`, `delivery`, `dlq_delivery`, `kafka`.
    pub class: String,
}

/// Handles onto the writer's metrics; clones share the same values.
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    pub errors: Family<ErrorLabels, Counter>,
    pub delivered: Counter,
    pub delivery_latency: Histogram,
    pub buffer_bytes: Gauge,
    pub buffer_capacity_bytes: Gauge,
}

impl WriterMetrics {
    /// Metrics that are counted but exported nowhere.
    pub fn unregistered() -> Self {
        WriterMetrics {
            errors: Family::default(),
            delivered: Counter::default(),
            delivery_latency: Histogram::new([1.0]),
            buffer_bytes: Gauge::default(),
            buffer_capacity_bytes: Gauge::default(),
        }
    }
}
