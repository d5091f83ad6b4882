//! Where objects go in the lake. Keys are a pure function of the input (topic, Kafka partition,
//! the segment's first offset, the record's kind and event time), so a retry or a replay after a
//! crash writes the same key again instead of a second copy.
//!
//! `{prefix}{kind}/dt=YYYY-MM-DD/hour=HH/{topic}+{partition}+{start:020}.{ext}`
//!
//! Partition values come from the record's event time in UTC, never the wall clock, so late
//! records land in the partition of when they happened. Bookkeeping lives under
//! `{prefix}_stockfeed/`, which Hive, Glue and Athena skip (names starting with `_`).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::{Record, RecordKind};

/// The tables of a lake: one folder (and one Glue table) each. Three hold the records as
/// consumed; `Bars1m` holds the bars the sink derives from trades (see `sink::bars`), with
/// the bar columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    Trades,
    Quotes,
    Bars,
    Bars1m,
}

impl Dataset {
    pub const ALL: [Dataset; 4] = [
        Dataset::Trades,
        Dataset::Quotes,
        Dataset::Bars,
        Dataset::Bars1m,
    ];

    /// Where the records of `kind` go as consumed.
    pub fn of(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Trade => Dataset::Trades,
            RecordKind::Quote => Dataset::Quotes,
            RecordKind::Bar => Dataset::Bars,
        }
    }

    /// The folder under the lake prefix, e.g. `trade`.
    pub fn dir(self) -> &'static str {
        match self {
            Dataset::Trades => "trade",
            Dataset::Quotes => "quote",
            Dataset::Bars => "bar",
            Dataset::Bars1m => "bar_1m",
        }
    }

    /// The table name after the catalog's `tablePrefix`, e.g. `trades`.
    pub fn table_suffix(self) -> &'static str {
        match self {
            Dataset::Trades => "trades",
            Dataset::Quotes => "quotes",
            Dataset::Bars => "bars",
            Dataset::Bars1m => "bars_1m",
        }
    }

    /// The kind of its rows, which fixes its columns.
    pub fn kind(self) -> RecordKind {
        match self {
            Dataset::Trades => RecordKind::Trade,
            Dataset::Quotes => RecordKind::Quote,
            Dataset::Bars | Dataset::Bars1m => RecordKind::Bar,
        }
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir())
    }
}

/// Hive partition columns below the kind, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKey {
    Dt,
    Hour,
    Symbol,
}

/// The supported `partitionBy` choices; other combinations are refused at start-up because
/// Glue tables and partition projection are defined for these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBy(Vec<PartitionKey>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partitionBy {0:?} is not supported; use [dt], [dt, hour] or [dt, symbol]")]
pub struct PartitionByError(pub Vec<PartitionKey>);

impl PartitionBy {
    pub fn new(keys: Vec<PartitionKey>) -> Result<Self, PartitionByError> {
        use PartitionKey::*;
        match keys.as_slice() {
            [Dt] | [Dt, Hour] | [Dt, Symbol] => Ok(PartitionBy(keys)),
            _ => Err(PartitionByError(keys)),
        }
    }

    pub fn keys(&self) -> &[PartitionKey] {
        &self.0
    }
}

impl Default for PartitionBy {
    fn default() -> Self {
        PartitionBy(vec![PartitionKey::Dt, PartitionKey::Hour])
    }
}

/// The partition directory of a record, e.g. `trade/dt=2026-11-26/hour=14/`.
pub fn partition_dir(partition_by: &PartitionBy, record: &Record) -> String {
    partition_dir_for(
        partition_by,
        record.kind(),
        record.event_ts(),
        record.symbol().as_str(),
    )
}

pub fn partition_dir_for(
    partition_by: &PartitionBy,
    kind: RecordKind,
    ts: DateTime<Utc>,
    symbol: &str,
) -> String {
    partition_dir_in(partition_by, Dataset::of(kind), ts, symbol)
}

/// The partition directory of a row of `dataset`, e.g. `bar_1m/dt=2026-11-26/hour=14/`.
pub fn partition_dir_in(
    partition_by: &PartitionBy,
    dataset: Dataset,
    ts: DateTime<Utc>,
    symbol: &str,
) -> String {
    let mut dir = format!("{}/", dataset.dir());
    for key in partition_by.keys() {
        match key {
            PartitionKey::Dt => dir.push_str(&format!(
                "dt={:04}-{:02}-{:02}/",
                ts.year(),
                ts.month(),
                ts.day()
            )),
            PartitionKey::Hour => dir.push_str(&format!("hour={:02}/", ts.hour())),
            PartitionKey::Symbol => dir.push_str(&format!("symbol={symbol}/")),
        }
    }
    dir
}

/// The object name of one file of a segment.
pub fn file_name(topic: &str, partition: i32, start_offset: i64, extension: &str) -> String {
    format!("{topic}+{partition}+{start_offset:020}.{extension}")
}

/// The key of the derived-bar state of a partition as of `offset` (see `sink::bars`).
pub fn bar_state_key(topic: &str, partition: i32, offset: i64) -> String {
    format!("_stockfeed/bars/{topic}/{partition}/{offset:020}.json")
}

/// The key of a partition's lake checkpoint: the end of the last segment whose files all
/// exist (see `sink::checkpoint`), relative to the lake prefix.
pub fn checkpoint_key(topic: &str, partition: i32) -> String {
    format!("_stockfeed/offsets/{topic}/{partition}.json")
}

/// The key of a segment's manifest, relative to the lake prefix.
pub fn manifest_key(topic: &str, partition: i32, start_offset: i64) -> String {
    format!("_stockfeed/manifests/{topic}/{partition}/{start_offset:020}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let ts: DateTime<Utc> = "2026-11-26T23:59:59.999Z".parse().unwrap();
        let by = PartitionBy::default();
        assert_eq!(
            partition_dir_for(&by, RecordKind::Trade, ts, "AAPL"),
            "trade/dt=2026-11-26/hour=23/"
        );
        let by = PartitionBy::new(vec![PartitionKey::Dt, PartitionKey::Symbol]).unwrap();
        assert_eq!(
            partition_dir_for(&by, RecordKind::Bar, ts, "BRK.B"),
            "bar/dt=2026-11-26/symbol=BRK.B/"
        );
        let midnight: DateTime<Utc> = "2026-11-27T00:00:00Z".parse().unwrap();
        let by = PartitionBy::new(vec![PartitionKey::Dt]).unwrap();
        assert_eq!(
            partition_dir_for(&by, RecordKind::Quote, midnight, "X"),
            "quote/dt=2026-11-27/"
        );
        assert_eq!(
            partition_dir_in(&by, Dataset::Bars1m, midnight, "X"),
            "bar_1m/dt=2026-11-27/"
        );
        assert_eq!(
            bar_state_key("stocks", 3, 42),
            "_stockfeed/bars/stocks/3/00000000000000000042.json"
        );
        assert_eq!(
            file_name("stocks", 3, 42, "parquet"),
            "stocks+3+00000000000000000042.parquet"
        );
        assert_eq!(
            manifest_key("stocks", 3, 42),
            "_stockfeed/manifests/stocks/3/00000000000000000042.json"
        );
    }

    #[test]
    fn odd_partitionings_are_refused() {
        assert!(PartitionBy::new(vec![PartitionKey::Hour]).is_err());
        assert!(PartitionBy::new(vec![]).is_err());
        assert!(
            PartitionBy::new(vec![
                PartitionKey::Dt,
                PartitionKey::Hour,
                PartitionKey::Symbol
            ])
            .is_err()
        );
    }
}
