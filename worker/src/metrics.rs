//! Prometheus metrics of the worker. One registry per process, served on `/metrics` by
//! `server.rs`. Label values never carry secrets: only provider names, record kinds, symbols and
//! fixed error classes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
pub struct ErrorLabels {
    /// A fixed class: `source`, `validation`, `delivery`, `dlq_delivery`, `kafka`.
    pub class: String,
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

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~65 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub partition: String,
}

/// Everything the sink mode exports.
pub struct SinkMetrics {
    pub records_written: Family<KindLabels, Counter>,
    pub bytes_written: Counter,
    pub files_written: Family<KindLabels, Counter>,
    pub files_already_present: Counter,
    pub segments_committed: Counter,
    pub flush_latency: Histogram,
    pub freshness: Histogram,
    pub lateness: Histogram,
    pub dlq: Counter,
    pub bar_late_trades: Counter,
    pub bars_open: Gauge,
    pub errors: Family<ErrorLabels, Counter>,
    pub open_files: Gauge,
    pub buffered_bytes: Gauge,
    pub lag: Family<PartitionLabels, Gauge>,
    pub rss_bytes: Gauge,
}

fn age_histogram() -> Histogram {
    // 10 ms .. ~1.5 days
    Histogram::new(exponential_buckets(0.01, 2.0, 24))
}

impl SinkMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = SinkMetrics {
            records_written: Family::default(),
            bytes_written: Counter::default(),
            files_written: Family::default(),
            files_already_present: Counter::default(),
            segments_committed: Counter::default(),
            flush_latency: latency_histogram(),
            freshness: age_histogram(),
            lateness: age_histogram(),
            dlq: Counter::default(),
            bar_late_trades: Counter::default(),
            bars_open: Gauge::default(),
            errors: Family::default(),
            open_files: Gauge::default(),
            buffered_bytes: Gauge::default(),
            lag: Family::default(),
            rss_bytes: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("stockfeed_sink");
        r.register(
            "records_written",
            "Records in objects made durable",
            m.records_written.clone(),
        );
        r.register(
            "bytes_written",
            "Bytes of objects made durable",
            m.bytes_written.clone(),
        );
        r.register("files_written", "Objects created", m.files_written.clone());
        r.register(
            "files_already_present",
            "Objects found already written by an earlier attempt (a replay after a crash or a rebalance)",
            m.files_already_present.clone(),
        );
        r.register(
            "segments_committed",
            "Segments whose offsets were committed",
            m.segments_committed.clone(),
        );
        r.register(
            "flush_latency_seconds",
            "From the decision to write a segment to its files being durable",
            m.flush_latency.clone(),
        );
        r.register(
            "freshness_seconds",
            "Write time minus event time, per record",
            m.freshness.clone(),
        );
        r.register(
            "lateness_seconds",
            "How far behind the newest event time seen in its Kafka partition a record arrived",
            m.lateness.clone(),
        );
        r.register(
            "dlq",
            "Poison messages sent to the dead-letter topic",
            m.dlq.clone(),
        );
        r.register(
            "bar_late_trades",
            "Trades that arrived after their minute's derived bar was closed (kept in trades, not in bars_1m)",
            m.bar_late_trades.clone(),
        );
        r.register(
            "bars_open",
            "Derived 1-minute bars waiting for their minute to close",
            m.bars_open.clone(),
        );
        r.register(
            "errors",
            "Errors by class (store, commit, dlq, decode)",
            m.errors.clone(),
        );
        r.register(
            "open_files",
            "Files being assembled in memory",
            m.open_files.clone(),
        );
        r.register(
            "buffered_bytes",
            "Message bytes held in memory",
            m.buffered_bytes.clone(),
        );
        r.register(
            "consumer_lag",
            "Messages behind the partition's high watermark",
            m.lag.clone(),
        );
        r.register(
            "rss_bytes",
            "Resident memory of the process",
            m.rss_bytes.clone(),
        );
        m
    }
}

/// Resident set size of this process, from /proc (Linux); `None` elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
