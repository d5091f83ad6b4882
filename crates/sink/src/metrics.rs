//! Prometheus metrics of the sink, served on `/metrics` by `stockfeed-telemetry`. Label values
//! are record kinds, partitions and fixed error classes, never data or secrets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use stockfeed_telemetry::latency_histogram;

pub use stockfeed_kafka::metrics::ErrorLabels;

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
    /// Dead letters the broker refused after they were sent (the partition stops, uncommitted).
    pub dlq_refused: Counter,
    /// Partitions resumed from the lake's checkpoint because Kafka's offset was behind it.
    pub resumed_from_lake: Counter,
    /// Times fetching was paused so adopted cuts complete within the memory cap.
    pub paused_for_adopted_cuts: Counter,
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
            dlq_refused: Counter::default(),
            resumed_from_lake: Counter::default(),
            paused_for_adopted_cuts: Counter::default(),
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
            "dlq_refused",
            "Dead letters the broker refused (no Write ACL, too large); the sink stops before committing past them",
            m.dlq_refused.clone(),
        );
        r.register(
            "resumed_from_lake",
            "Partitions resumed from the lake's checkpoint, further than the group's committed offset (offsets expired, another group, a reset)",
            m.resumed_from_lake.clone(),
        );
        r.register(
            "paused_for_adopted_cuts",
            "Times fetching was paused so that cuts adopted from an earlier writer complete one at a time within the memory cap",
            m.paused_for_adopted_cuts.clone(),
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
