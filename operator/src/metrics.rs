//! The operator's Prometheus metrics: reconciles, failures by step, reconcile duration, and
//! whether this replica is the leader.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: String,
}

pub struct Metrics {
    reconciles: Counter,
    failures: Family<ErrorLabels, Counter>,
    duration: Histogram,
    pub leader: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them under `stockfeed_operator_*`.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let m = Metrics {
            reconciles: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            leader: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("stockfeed_operator");
        r.register("reconciles", "Reconciles started", m.reconciles.clone());
        r.register(
            "reconcile_failures",
            "Reconciles that failed, by step",
            m.failures.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            m.duration.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader lease",
            m.leader.clone(),
        );
        Arc::new(m)
    }

    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    pub fn failed(&self, error: &str) {
        self.failures
            .get_or_create(&ErrorLabels {
                error: error.to_owned(),
            })
            .inc();
    }

    /// Records the reconcile's duration when dropped, whichever way it ends.
    pub fn reconcile_timer(&self) -> Timer {
        Timer {
            start: Instant::now(),
            histogram: self.duration.clone(),
        }
    }
}

pub struct Timer {
    start: Instant,
    histogram: Histogram,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}
