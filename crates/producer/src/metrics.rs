//! Prometheus metrics of the producer, served on `/metrics` by `stockfeed-telemetry`. Label
//! values never carry secrets: only provider names, record kinds, symbols and fixed error
//! classes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use stockfeed_telemetry::latency_histogram;

pub use stockfeed_kafka::metrics::{ErrorLabels, WriterMetrics};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordLabels {
    pub provider: String,
    pub kind: String,
    pub symbol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub provider: String,
    /// `ok`, `client_error`, `server_error`, `rate_limited`, `unauthorized`, `timeout`, `network`.
    pub outcome: String,
}

/// Everything the producer mode exports.
pub struct ProducerMetrics {
    pub records: Family<RecordLabels, Counter>,
    pub duplicates: Family<ProviderLabels, Counter>,
    pub dlq: Family<ProviderLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub delivered: Counter,
    pub delivery_latency: Histogram,
    pub buffer_bytes: Gauge,
    pub buffer_capacity_bytes: Gauge,
    pub source_ready: Gauge,
    pub api_latency: Family<RequestLabels, Histogram>,
}

impl ProducerMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = ProducerMetrics {
            records: Family::default(),
            duplicates: Family::default(),
            dlq: Family::default(),
            errors: Family::default(),
            delivered: Counter::default(),
            delivery_latency: latency_histogram(),
            buffer_bytes: Gauge::default(),
            buffer_capacity_bytes: Gauge::default(),
            source_ready: Gauge::default(),
            api_latency: Family::new_with_constructor(latency_histogram),
        };
        let r = registry.sub_registry_with_prefix("stockfeed_producer");
        r.register(
            "records",
            "Valid records accepted for delivery, by provider, kind and symbol",
            m.records.clone(),
        );
        r.register(
            "duplicates",
            "Records dropped as repeats within the dedup window",
            m.duplicates.clone(),
        );
        r.register(
            "dlq",
            "Payloads and records sent to the dead-letter topic",
            m.dlq.clone(),
        );
        r.register("errors", "Errors by class", m.errors.clone());
        r.register(
            "delivered",
            "Records acknowledged by Kafka (acks=all)",
            m.delivered.clone(),
        );
        r.register(
            "delivery_latency_seconds",
            "From hand-over to librdkafka to the broker's acknowledgement",
            m.delivery_latency.clone(),
        );
        r.register(
            "buffer_bytes",
            "Bytes produced but not yet acknowledged",
            m.buffer_bytes.clone(),
        );
        r.register(
            "buffer_capacity_bytes",
            "Bound on unacknowledged bytes before backpressure",
            m.buffer_capacity_bytes.clone(),
        );
        r.register(
            "source_ready",
            "1 when the market-data source is healthy",
            m.source_ready.clone(),
        );
        r.register(
            "api_request_duration_seconds",
            "Market-data API calls by provider and outcome",
            m.api_latency.clone(),
        );
        m
    }
}

impl ProducerMetrics {
    /// The producer's delivery counters as the Kafka writer updates them.
    pub fn writer(&self) -> WriterMetrics {
        WriterMetrics {
            errors: self.errors.clone(),
            delivered: self.delivered.clone(),
            delivery_latency: self.delivery_latency.clone(),
            buffer_bytes: self.buffer_bytes.clone(),
            buffer_capacity_bytes: self.buffer_capacity_bytes.clone(),
        }
    }
}
