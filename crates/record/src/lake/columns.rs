//! The lake schema: which columns a file of each record kind has, in which order, with which
//! types, and how each value is read off a record.
//!
//! This list is the single source of truth for the Parquet schema, the CSV header and (later)
//! the Glue table definition, so a column added here shows up everywhere at once and the
//! catalog can never disagree with the files. Name, type and value accessor sit on one line per
//! column, so they cannot drift apart either.
//!
//! Type choices (Athena engine v3 / Hive names in brackets):
//! - prices and sizes: `Decimal128(18, 8)` [`decimal(18,8)`], stored by Parquet as INT64: the
//!   record model guarantees every value fits (see `record/decimal.rs`), and equality on exact
//!   decimals is what dedup and joins need;
//! - times: `Timestamp(Microsecond, "UTC")` [`timestamp`]; nanoseconds are truncated (floored)
//!   to microseconds because Athena/Hive read Parquet timestamps in millis or micros only, and
//!   nanosecond `INT64` timestamps come back wrong or unreadable in older Hive readers;
//! - `schema_version`: `Int32` [`int`]: Parquet has no 16-bit physical type (int16 is an
//!   annotated INT32), and a plain `int` is what every reader and crawler maps without surprise;
//! - `trade_count`: `Int64` [`bigint`]: Hive has no unsigned types;
//! - `interval`: its text form (`1m`, `1h`) [`string`], the same as on the wire;
//! - trade `conditions`: `List<Utf8>` [`array<string>`], never null: an empty list means "no
//!   conditions" (the JSON form omits the key instead).
//!
//! Partition columns (`dt`, `hour`) are not in the files: Hive-style readers take them from the
//! object path, and a copy inside the file could only disagree with it.

use std::borrow::Cow;

use arrow_schema::{DataType, Field, TimeUnit};
use chrono::{DateTime, Utc};

use crate::{Bar, Price, Quantity, Quote, Record, RecordId, RecordKind, Trade};

/// Total digits of the lake's decimals; with scale 8 every value fits a 64-bit integer.
pub const DECIMAL_PRECISION: u8 = 18;

/// The time zone of the Arrow timestamp columns: marks them as instants (Parquet
/// `isAdjustedToUTC = true`), not wall-clock times.
pub const TIMEZONE: &str = "UTC";

/// The name of a list column's element field, as the Parquet LIST spec names it.
pub const LIST_ITEM: &str = "element";

/// The value types a lake column can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// An instant, UTC, microsecond precision.
    Timestamp,
    /// An exact decimal, `DECIMAL(18, 8)`.
    Decimal,
    /// A signed 32-bit integer.
    Int,
    /// A signed 64-bit integer.
    BigInt,
    /// A list of UTF-8 texts.
    StringList,
}

impl ColumnType {
    /// The type as Glue and Athena DDL spell it.
    pub const fn hive_type(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Decimal => "decimal(18,8)",
            ColumnType::Int => "int",
            ColumnType::BigInt => "bigint",
            ColumnType::StringList => "array<string>",
        }
    }

    /// The Arrow type the Parquet writer uses.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(TIMEZONE.into()))
            }
            ColumnType::Decimal => {
                DataType::Decimal128(DECIMAL_PRECISION, crate::DECIMAL_SCALE as i8)
            }
            ColumnType::Int => DataType::Int32,
            ColumnType::BigInt => DataType::Int64,
            ColumnType::StringList => DataType::List(std::sync::Arc::new(Field::new(
                LIST_ITEM,
                DataType::Utf8,
                false,
            ))),
        }
    }
}

/// One value of a column, borrowed from the record where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'r> {
    Text(Option<Cow<'r, str>>),
    Timestamp(DateTime<Utc>),
    Decimal(Option<Exact>),
    /// A record id, as its hex text (kept apart from `Text`: formatting it into a `String`
    /// per row showed in the sink's profile).
    Id(RecordId),
    Int(i32),
    /// Unsigned in the record model; the writers check it fits a signed 64-bit column.
    Count(Option<u64>),
    TextList(&'r [String]),
}

/// An exact decimal from the record model, either kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exact {
    Price(Price),
    Quantity(Quantity),
}

impl Exact {
    /// The unscaled `DECIMAL(18, 8)` integer.
    pub fn scaled(self) -> i64 {
        match self {
            Exact::Price(p) => p.to_scaled(),
            Exact::Quantity(q) => q.to_scaled(),
        }
    }
}

impl std::fmt::Display for Exact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exact::Price(p) => p.fmt(f),
            Exact::Quantity(q) => q.fmt(f),
        }
    }
}

/// Reads one column's value off a record of the column's kind.
#[derive(Clone, Copy)]
enum Getter {
    Any(for<'r> fn(&'r Record) -> Cell<'r>),
    Trade(for<'r> fn(&'r Trade) -> Cell<'r>),
    Quote(for<'r> fn(&'r Quote) -> Cell<'r>),
    Bar(for<'r> fn(&'r Bar) -> Cell<'r>),
}

/// One column of a lake table.
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// The Glue/Athena type string, e.g. `decimal(18,8)`.
    pub hive_type: &'static str,
    pub nullable: bool,
    pub ty: ColumnType,
    get: Getter,
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("hive_type", &self.hive_type)
            .field("nullable", &self.nullable)
            .finish()
    }
}

impl Column {
    const fn new(name: &'static str, ty: ColumnType, nullable: bool, get: Getter) -> Self {
        Column {
            name,
            hive_type: ty.hive_type(),
            nullable,
            ty,
            get,
        }
    }

    /// The value of this column in `record`, or `None` when the record is of another kind.
    pub fn cell<'r>(&self, record: &'r Record) -> Option<Cell<'r>> {
        match (self.get, record) {
            (Getter::Any(get), r) => Some(get(r)),
            (Getter::Trade(get), Record::Trade(r)) => Some(get(r)),
            (Getter::Quote(get), Record::Quote(r)) => Some(get(r)),
            (Getter::Bar(get), Record::Bar(r)) => Some(get(r)),
            _ => None,
        }
    }
}

fn text(value: &str) -> Cell<'_> {
    Cell::Text(Some(Cow::Borrowed(value)))
}

fn opt_text(value: Option<&str>) -> Cell<'_> {
    Cell::Text(value.map(Cow::Borrowed))
}

fn price(value: Price) -> Cell<'static> {
    Cell::Decimal(Some(Exact::Price(value)))
}

fn quantity(value: Quantity) -> Cell<'static> {
    Cell::Decimal(Some(Exact::Quantity(value)))
}

use ColumnType as T;

/// The columns every kind starts with.
const HEADER: [Column; 6] = [
    Column::new("schema_version", T::Int, false, Getter::Any(schema_version)),
    Column::new("id", T::String, false, Getter::Any(id)),
    Column::new("provider", T::String, false, Getter::Any(provider)),
    Column::new("symbol", T::String, false, Getter::Any(symbol)),
    Column::new("event_ts", T::Timestamp, false, Getter::Any(event_ts)),
    Column::new("ingest_ts", T::Timestamp, false, Getter::Any(ingest_ts)),
];

fn schema_version(_: &Record) -> Cell<'static> {
    Cell::Int(i32::from(crate::SCHEMA_VERSION))
}
fn id(r: &Record) -> Cell<'static> {
    Cell::Id(r.id())
}
fn provider(r: &Record) -> Cell<'static> {
    text(r.provider().as_str())
}
fn symbol(r: &Record) -> Cell<'_> {
    text(r.symbol().as_str())
}
fn event_ts(r: &Record) -> Cell<'static> {
    Cell::Timestamp(r.event_ts())
}
fn ingest_ts(r: &Record) -> Cell<'static> {
    Cell::Timestamp(r.ingest_ts())
}

const TRADE: [Column; 5] = [
    Column::new(
        "price",
        T::Decimal,
        false,
        Getter::Trade(|t| price(t.price)),
    ),
    Column::new(
        "size",
        T::Decimal,
        false,
        Getter::Trade(|t| quantity(t.size)),
    ),
    Column::new(
        "exchange",
        T::String,
        true,
        Getter::Trade(|t| opt_text(t.exchange.as_deref())),
    ),
    Column::new(
        "conditions",
        T::StringList,
        false,
        Getter::Trade(|t| Cell::TextList(&t.conditions)),
    ),
    Column::new(
        "trade_id",
        T::String,
        true,
        Getter::Trade(|t| opt_text(t.trade_id.as_deref())),
    ),
];

const QUOTE: [Column; 6] = [
    Column::new(
        "bid_price",
        T::Decimal,
        false,
        Getter::Quote(|q| price(q.bid_price)),
    ),
    Column::new(
        "bid_size",
        T::Decimal,
        false,
        Getter::Quote(|q| quantity(q.bid_size)),
    ),
    Column::new(
        "ask_price",
        T::Decimal,
        false,
        Getter::Quote(|q| price(q.ask_price)),
    ),
    Column::new(
        "ask_size",
        T::Decimal,
        false,
        Getter::Quote(|q| quantity(q.ask_size)),
    ),
    Column::new(
        "bid_exchange",
        T::String,
        true,
        Getter::Quote(|q| opt_text(q.bid_exchange.as_deref())),
    ),
    Column::new(
        "ask_exchange",
        T::String,
        true,
        Getter::Quote(|q| opt_text(q.ask_exchange.as_deref())),
    ),
];

const BAR: [Column; 8] = [
    Column::new(
        "interval",
        T::String,
        false,
        Getter::Bar(|b| Cell::Text(Some(Cow::Owned(b.interval.to_string())))),
    ),
    Column::new("open", T::Decimal, false, Getter::Bar(|b| price(b.open))),
    Column::new("high", T::Decimal, false, Getter::Bar(|b| price(b.high))),
    Column::new("low", T::Decimal, false, Getter::Bar(|b| price(b.low))),
    Column::new("close", T::Decimal, false, Getter::Bar(|b| price(b.close))),
    Column::new(
        "volume",
        T::Decimal,
        false,
        Getter::Bar(|b| quantity(b.volume)),
    ),
    Column::new(
        "vwap",
        T::Decimal,
        true,
        Getter::Bar(|b| Cell::Decimal(b.vwap.map(Exact::Price))),
    ),
    Column::new(
        "trade_count",
        T::BigInt,
        true,
        Getter::Bar(|b| Cell::Count(b.trade_count)),
    ),
];

/// The columns of a `kind` file, in file order: the shared header, then the kind's own fields.
/// A bar's `event_ts` is the bar's start time.
pub fn columns(kind: RecordKind) -> Vec<Column> {
    let own: &[Column] = match kind {
        RecordKind::Trade => &TRADE,
        RecordKind::Quote => &QUOTE,
        RecordKind::Bar => &BAR,
    };
    HEADER.iter().chain(own).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::sample;

    #[test]
    fn names_are_unique_lowercase_and_not_partition_keys() {
        for kind in RecordKind::ALL {
            let cols = columns(kind);
            let mut names: Vec<_> = cols.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), cols.len(), "{kind}: duplicate column");
            for name in names {
                assert!(
                    name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{name}: Glue lower-cases names, so only lowercase is safe"
                );
                assert!(!["dt", "hour", "kind"].contains(&name), "{name}");
            }
        }
    }

    /// Every accessor yields the cell variant its declared type needs, and null only where the
    /// column is nullable; otherwise a writer would fail at run time.
    #[test]
    fn cells_match_declared_types() {
        for record in sample() {
            for column in columns(record.kind()) {
                let cell = column.cell(&record).expect("own kind");
                let (matches, is_null) = match (&cell, column.ty) {
                    (Cell::Text(v), T::String) => (true, v.is_none()),
                    (Cell::Id(_), T::String) => (true, false),
                    (Cell::Timestamp(_), T::Timestamp) => (true, false),
                    (Cell::Decimal(v), T::Decimal) => (true, v.is_none()),
                    (Cell::Int(_), T::Int) => (true, false),
                    (Cell::Count(v), T::BigInt) => (true, v.is_none()),
                    (Cell::TextList(_), T::StringList) => (true, false),
                    _ => (false, false),
                };
                assert!(matches, "{}: {cell:?} is not {:?}", column.name, column.ty);
                assert!(!is_null || column.nullable, "{}: null", column.name);
            }
        }
    }

    #[test]
    fn other_kinds_have_no_value() {
        let trade_only = columns(RecordKind::Trade)
            .into_iter()
            .find(|c| c.name == "price")
            .expect("price column");
        let quote = sample()
            .into_iter()
            .find(|r| r.kind() == RecordKind::Quote)
            .expect("a quote");
        assert_eq!(trade_only.cell(&quote), None);
    }
}
