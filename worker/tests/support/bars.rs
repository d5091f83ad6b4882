//! An independent statement of the derived-bar rules (`sink::bars`) for the integration tests:
//! the bars a lake must hold, computed from the topic's records in offset order, and the
//! topic read back partition by partition.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use rust_decimal::Decimal;
use stockfeed_record::Record;

/// What a test compares of one bar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BarRow {
    pub symbol: String,
    pub start: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub trades: u64,
}

impl BarRow {
    pub fn of(record: &Record) -> Option<BarRow> {
        let Record::Bar(b) = record else { return None };
        Some(BarRow {
            symbol: b.symbol.as_str().to_owned(),
            start: b.event_ts,
            open: b.open.get(),
            high: b.high.get(),
            low: b.low.get(),
            close: b.close.get(),
            volume: b.volume.get().normalize(),
            trades: b.trade_count.unwrap_or(0),
        })
    }
}

/// Every record of `topic`, per partition in offset order, read with `assign` (no group).
pub fn read_partitions(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Vec<Record>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "unused-by-assign")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
            consumer.assign(&tpl).unwrap();
            let mut out = Vec::new();
            let mut next = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while next < high {
                assert!(
                    std::time::Instant::now() < deadline,
                    "reading partition {p}"
                );
                let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
                    continue;
                };
                let msg = msg.expect("consume");
                next = msg.offset() + 1;
                if let Ok(r) = Record::parse_json(msg.payload().unwrap_or_default()) {
                    out.push(r);
                }
            }
            out
        })
        .collect()
}

/// The closed 1-minute bars of one partition's records: a minute closes once a trade of the
/// partition is `lateness` past its end (counting a trade's time as at most a minute past its
/// ingest time); a trade of a closed minute is left out.
pub fn expected_bars(records: &[Record], lateness: Span) -> Vec<BarRow> {
    struct Acc {
        first: (DateTime<Utc>, Decimal),
        last: (DateTime<Utc>, Decimal),
        high: Decimal,
        low: Decimal,
        volume: Decimal,
        trades: u64,
    }
    let mut open: BTreeMap<(String, DateTime<Utc>), Acc> = BTreeMap::new();
    let mut watermark: Option<DateTime<Utc>> = None;
    let closes = |start: DateTime<Utc>, w: DateTime<Utc>| start + Span::minutes(1) + lateness <= w;
    for r in records {
        let Record::Trade(t) = r else { continue };
        let start = t.event_ts.duration_trunc(Span::minutes(1)).unwrap();
        if watermark.is_some_and(|w| closes(start, w)) {
            continue;
        }
        let (p, s) = (t.price.get(), t.size.get());
        let acc = open
            .entry((t.symbol.as_str().to_owned(), start))
            .or_insert(Acc {
                first: (t.event_ts, p),
                last: (t.event_ts, p),
                high: p,
                low: p,
                volume: Decimal::ZERO,
                trades: 0,
            });
        if t.event_ts < acc.first.0 {
            acc.first = (t.event_ts, p);
        }
        if t.event_ts >= acc.last.0 {
            acc.last = (t.event_ts, p);
        }
        acc.high = acc.high.max(p);
        acc.low = acc.low.min(p);
        acc.volume += s;
        acc.trades += 1;
        // A trade moves the watermark at most a minute past its ingest time (docs: README,
        // "Derived 1-minute bars").
        let reach = t.event_ts.min(t.ingest_ts + Span::minutes(1));
        watermark = Some(watermark.map_or(reach, |w| w.max(reach)));
    }
    open.into_iter()
        .filter(|((_, start), _)| watermark.is_some_and(|w| closes(*start, w)))
        .map(|((symbol, start), a)| BarRow {
            symbol,
            start,
            open: a.first.1,
            high: a.high,
            low: a.low,
            close: a.last.1,
            volume: a.volume.normalize(),
            trades: a.trades,
        })
        .collect()
}
