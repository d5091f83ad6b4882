//! Picking up where an earlier producer run left off, so a restart does not send again what the
//! topic already holds.
//!
//! Kafka's idempotent producer removes duplicates only within one producer session, and the dedup
//! window lives in memory: after a crash, a seeded synthetic or replay source starts again from
//! its first record, a WebSocket replays recent trades and a REST poller fetches the same bars
//! again. So at start-up the producer reads the tail of every partition of its topic and keeps,
//! for the symbols of its own shard:
//!
//! - the ids of the newest records, which seed the dedup window (every source);
//! - the newest event time per (symbol, kind). A source that re-emits the same records in the
//!   same per-(symbol, kind) event-time order after a restart ([`Source::deterministic_order`])
//!   skips everything older than that: the partition log is a prefix of what one producer
//!   session sent (idempotence refuses a batch whose predecessor is missing), and one symbol's
//!   records all go to one partition, so anything the source emitted before the newest delivered
//!   record of its (symbol, kind) is in the topic. Records *at* that time go through the
//!   preloaded dedup window, which tells the delivered ones from the rest.
//!
//! Reading less than the whole history is safe in one direction only: what the scan does not
//! see is sent again (a duplicate in the topic, never a loss). The scan's size is
//! `producer.resumeScan` messages per partition.
//!
//! [`Source::deterministic_order`]: crate::source::Source::deterministic_order

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use stockfeed_record::{Record, RecordId, Symbol};

use crate::source::ResumePoint;
use crate::source::resume_point::NewestByKind;

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("cannot create a Kafka consumer to read the tail of `{topic}`: {source}")]
    Client {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot read the partitions of `{topic}`: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic `{0}` has no partitions")]
    NoPartitions(String),
    #[error("cannot read the offsets of `{topic}` partition {partition}: {source}")]
    Watermarks {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("cannot read `{topic}`: {source}")]
    Consume {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error(
        "reading the tail of `{topic}` took longer than {timeout:?} ({partitions_left} partitions unfinished)"
    )]
    Timeout {
        topic: String,
        timeout: Duration,
        partitions_left: usize,
    },
}

/// What the topic's tail says about this shard's symbols.
#[derive(Debug, Default, Clone)]
pub struct TopicTail {
    /// Ids of records seen, with their event time; order is not significant.
    recent: Vec<(DateTime<Utc>, RecordId)>,
    newest: HashMap<Symbol, NewestByKind>,
    /// Messages read, whatever their symbol.
    pub messages: u64,
    /// Messages that are not records (should not happen on a topic only producers write).
    pub undecodable: u64,
}

impl TopicTail {
    /// Notes one record found in the topic.
    pub fn observe(&mut self, record: &Record) {
        self.recent.push((record.event_ts(), record.id()));
        let slot =
            &mut self.newest.entry(record.symbol().clone()).or_default()[record.kind().index()];
        if slot.is_none_or(|newest| record.event_ts() > newest) {
            *slot = Some(record.event_ts());
        }
    }

    /// Records of this shard's symbols found.
    pub fn records(&self) -> usize {
        self.recent.len()
    }

    /// The ids to seed a dedup window of `capacity` with, oldest event first, so the window's
    /// first-in-first-out eviction keeps the newest.
    pub fn ids_for_window(&mut self, capacity: usize) -> Vec<RecordId> {
        self.recent.sort_unstable_by_key(|(ts, _)| *ts);
        let skip = self.recent.len().saturating_sub(capacity);
        self.recent[skip..].iter().map(|(_, id)| *id).collect()
    }

    /// The newest event time per (symbol, kind), for sources that replay in order.
    pub fn into_resume_point(self) -> ResumePoint {
        ResumePoint::from_newest(self.newest)
    }
}

/// Reads the last `per_partition` messages of every partition of `topic` and keeps what
/// concerns `symbols`. Blocking: call it from `spawn_blocking`.
pub fn read_tail(
    base: &ClientConfig,
    topic: &str,
    symbols: &HashSet<Symbol>,
    per_partition: u64,
    timeout: Duration,
) -> Result<TopicTail, ResumeError> {
    let deadline = Instant::now() + timeout;
    let consumer: BaseConsumer = base
        .clone()
        // Assigned, never subscribed and never committed: the group id only satisfies
        // librdkafka, no group is joined.
        .set("group.id", "stockfeed-producer-resume")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|source| ResumeError::Client {
            topic: topic.to_owned(),
            source,
        })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|source| ResumeError::Metadata {
            topic: topic.to_owned(),
            source,
        })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ResumeError::NoPartitions(topic.to_owned()));
    }
    // The offset each partition must reach (its end when the scan began).
    let mut end_of: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|source| ResumeError::Watermarks {
                topic: topic.to_owned(),
                partition: p,
                source,
            })?;
        if high <= low {
            continue;
        }
        let start = low.max(high - i64::try_from(per_partition).unwrap_or(i64::MAX));
        assignment
            .add_partition_offset(topic, p, Offset::Offset(start))
            .map_err(|source| ResumeError::Consume {
                topic: topic.to_owned(),
                source,
            })?;
        end_of.insert(p, high);
    }
    let mut tail = TopicTail::default();
    if end_of.is_empty() {
        return Ok(tail);
    }
    consumer
        .assign(&assignment)
        .map_err(|source| ResumeError::Consume {
            topic: topic.to_owned(),
            source,
        })?;
    while !end_of.is_empty() {
        if Instant::now() > deadline {
            return Err(ResumeError::Timeout {
                topic: topic.to_owned(),
                timeout,
                partitions_left: end_of.len(),
            });
        }
        let Some(polled) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = polled.map_err(|source| ResumeError::Consume {
            topic: topic.to_owned(),
            source,
        })?;
        tail.messages += 1;
        match message.payload().map(Record::parse_json) {
            Some(Ok(record)) if symbols.contains(record.symbol()) => tail.observe(&record),
            Some(Ok(_)) => {}
            _ => tail.undecodable += 1,
        }
        let partition = message.partition();
        if end_of
            .get(&partition)
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            end_of.remove(&partition);
        }
    }
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockfeed_record::{Provider, Trade};

    fn trade(symbol: &str, second: i64, price: i64) -> Record {
        let ts = DateTime::from_timestamp(1_764_000_000 + second, 0).unwrap();
        Trade::new(
            Provider::Synthetic,
            Symbol::new(symbol).unwrap(),
            ts,
            ts,
            format!("{price}.5").parse().unwrap(),
            "100".parse().unwrap(),
        )
        .into()
    }

    #[test]
    fn newest_per_symbol_and_kind_decides_what_was_sent() {
        let mut tail = TopicTail::default();
        tail.observe(&trade("AAPL", 10, 1));
        tail.observe(&trade("AAPL", 30, 2));
        tail.observe(&trade("AAPL", 20, 3));
        tail.observe(&trade("MSFT", 5, 1));
        let point = tail.into_resume_point();
        assert!(point.already_sent(&trade("AAPL", 29, 9)));
        assert!(
            !point.already_sent(&trade("AAPL", 30, 9)),
            "the newest time itself is left to the dedup window"
        );
        assert!(!point.already_sent(&trade("AAPL", 31, 9)));
        assert!(point.already_sent(&trade("MSFT", 4, 9)));
        assert!(
            !point.already_sent(&trade("NVDA", 0, 9)),
            "a symbol not in the topic was never sent"
        );
    }

    #[test]
    fn the_window_gets_the_newest_ids_oldest_first() {
        let mut tail = TopicTail::default();
        let records: Vec<Record> = [5, 1, 4, 2, 3].map(|s| trade("AAPL", s, s)).into();
        for r in &records {
            tail.observe(r);
        }
        let by_second = |s: i64| trade("AAPL", s, s).id();
        assert_eq!(
            tail.ids_for_window(3),
            vec![by_second(3), by_second(4), by_second(5)]
        );
        assert_eq!(tail.ids_for_window(10).len(), 5);
    }
}
