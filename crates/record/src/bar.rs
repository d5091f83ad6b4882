//! Bars (candles): open, high, low, close and volume over an interval.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::id::IdHasher;
use super::time::canonical;
use super::{
    BarInterval, BarTag, FieldError, Price, Provider, Quantity, RecordId, SchemaVersion, Symbol,
};

/// `event_ts` is the start of the bar, as every provider we read stamps it; partitioning by the
/// start keeps a day's bars in that day's partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bar {
    pub kind: BarTag,
    pub schema_version: SchemaVersion,
    pub id: RecordId,
    pub provider: Provider,
    pub symbol: Symbol,
    /// Start of the bar (UTC).
    #[serde(deserialize_with = "super::rfc3339::deserialize")]
    pub event_ts: DateTime<Utc>,
    #[serde(deserialize_with = "super::rfc3339::deserialize")]
    pub ingest_ts: DateTime<Utc>,
    pub interval: BarInterval,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Quantity,
    /// Volume-weighted average price, where the provider gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vwap: Option<Price>,
    /// Number of trades in the bar, where the provider gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_count: Option<u64>,
}

/// The four prices of a bar, grouped so constructors take one argument for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ohlc {
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
}

impl Bar {
    /// A bar with its id derived from its content.
    pub fn new(
        provider: Provider,
        symbol: Symbol,
        start: DateTime<Utc>,
        ingest_ts: DateTime<Utc>,
        interval: BarInterval,
        ohlc: Ohlc,
        volume: Quantity,
    ) -> Self {
        let mut bar = Bar {
            kind: BarTag,
            schema_version: SchemaVersion,
            id: RecordId::UNSET,
            provider,
            symbol,
            event_ts: start,
            ingest_ts,
            interval,
            open: ohlc.open,
            high: ohlc.high,
            low: ohlc.low,
            close: ohlc.close,
            volume,
            vwap: None,
            trade_count: None,
        };
        bar.id = bar.derive_id();
        bar
    }

    pub fn with_stats(mut self, vwap: Option<Price>, trade_count: Option<u64>) -> Self {
        self.vwap = vwap;
        self.trade_count = trade_count;
        self.id = self.derive_id();
        self
    }

    pub fn derive_id(&self) -> RecordId {
        IdHasher::new("bar")
            .part(self.provider.as_str())
            .part(self.symbol.as_str())
            .int(canonical(self.event_ts))
            .int(i64::from(self.interval.seconds()))
            .int(self.open.to_scaled())
            .int(self.high.to_scaled())
            .int(self.low.to_scaled())
            .int(self.close.to_scaled())
            .int(self.volume.to_scaled())
            .int(self.vwap.map_or(-1, |v| v.to_scaled()))
            .int(
                self.trade_count
                    .map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX)),
            )
            .finish()
    }

    pub(crate) fn validate_fields(&self) -> Result<(), FieldError> {
        // Parquet and Glue hold the count as a signed 64-bit integer (BIGINT); a larger one
        // would pass here and then stop the sink's partition at every restart.
        if let Some(n) = self.trade_count
            && i64::try_from(n).is_err()
        {
            return Err(FieldError::new(
                "trade_count",
                format!("{n} is above {} (BIGINT)", i64::MAX),
            ));
        }
        let (o, h, l, c) = (self.open, self.high, self.low, self.close);
        if h < l {
            return Err(FieldError::new("high", format!("{h} is below low {l}")));
        }
        if h < o || h < c {
            return Err(FieldError::new(
                "high",
                format!("{h} is below open {o} or close {c}"),
            ));
        }
        if l > o || l > c {
            return Err(FieldError::new(
                "low",
                format!("{l} is above open {o} or close {c}"),
            ));
        }
        Ok(())
    }
}
