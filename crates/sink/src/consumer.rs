//! The Kafka side of the sink: consumer settings, rebalance events and lag from statistics.

use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;

use crate::metrics::{PartitionLabels, SinkMetrics};

/// What the rebalance callbacks saw, for the main loop to act on before the next message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// Called by librdkafka inside `poll`, so events are queued in order with the messages: a
/// revocation is always seen before any message of a later assignment.
pub struct SinkContext {
    pub topic: String,
    pub events: Arc<Mutex<Vec<RebalanceEvent>>>,
    pub metrics: Arc<SinkMetrics>,
}

fn partitions(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for SinkContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (id, p) in &topic.partitions {
                if *id >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .lag
                        .get_or_create(&PartitionLabels {
                            partition: id.to_string(),
                        })
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for SinkContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = partitions(list);
            tracing::info!(partitions = ?revoked, "partitions revoked: dropping their unwritten segments");
            if let Ok(mut events) = self.events.lock() {
                events.push(RebalanceEvent::Revoked(revoked));
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let assigned = partitions(list);
            tracing::info!(partitions = ?assigned, "partitions assigned");
            if let Ok(mut events) = self.events.lock() {
                events.push(RebalanceEvent::Assigned(assigned));
            }
        }
    }
}
