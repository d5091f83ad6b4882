//! Turning provider payloads into records: the steps every provider shares.
//!
//! Rejections name the field in the provider's own terms (`data[1].p`, `4. close`), because the
//! person reading the dead-letter topic has the provider's payload in front of them, not ours.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;

use super::bar_tracker::BarTracker;
use super::{Emitter, Stopped};
use stockfeed_record::{Bar, Record, Symbol};

/// The configured tickers of this source (this replica's shard). Data for any other symbol is
/// rejected: a provider that sends it is misbehaving or was subscribed by someone else.
#[derive(Debug, Clone, Default)]
pub struct Tickers(BTreeSet<Symbol>);

impl Tickers {
    pub fn new(symbols: &[Symbol]) -> Self {
        Self(symbols.iter().cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Symbol> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Upper-cases the provider's symbol and checks that it is one of ours; `field` names where
    /// it came from for the rejection reason.
    pub fn accept(&self, field: &str, raw: &str) -> Result<Symbol, String> {
        let upper = raw.trim().to_ascii_uppercase();
        let symbol = Symbol::new(&upper).map_err(|e| format!("field `{field}` {e}"))?;
        if self.0.contains(&symbol) {
            Ok(symbol)
        } else {
            Err(format!(
                "field `{field}`: symbol {symbol} is not in the configured ticker list"
            ))
        }
    }
}

/// Parses one JSON value into `T`, naming the failing field as `{prefix}.{path}`.
pub fn parse_value<T: DeserializeOwned>(
    value: &serde_json::Value,
    prefix: &str,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (true, p) => p.to_owned(),
            (false, ".") => prefix.to_owned(),
            (false, p) => format!("{prefix}.{p}"),
        };
        format!("field `{field}`: {}", e.into_inner())
    })
}

/// Parses a whole payload, saying "malformed JSON" when it is not JSON at all (or cut short).
pub fn parse_json(raw: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(raw).map_err(|e| format!("malformed JSON: {e}"))
}

/// Epoch milliseconds to UTC, refusing values chrono cannot represent.
pub fn from_millis(field: &str, ms: i64) -> Result<DateTime<Utc>, String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| format!("field `{field}`: {ms} is not a valid epoch in milliseconds"))
}

/// Epoch seconds to UTC.
pub fn from_seconds(field: &str, s: i64) -> Result<DateTime<Utc>, String> {
    Utc.timestamp_opt(s, 0)
        .single()
        .ok_or_else(|| format!("field `{field}`: {s} is not a valid epoch in seconds"))
}

/// Validates and hands over a record, or rejects it with the validation error and `raw`.
pub async fn emit(out: &Emitter, record: Record, raw: &[u8]) -> Result<(), Stopped> {
    match record.validate(out.now()) {
        Ok(()) => out.record(record).await,
        Err(e) => {
            out.reject(format!("invalid record for {}: {e}", record.symbol()), raw)
                .await
        }
    }
}

/// Like [`emit`] for a polled bar, skipping it when the tracker has already seen it.
pub async fn emit_bar(
    out: &Emitter,
    tracker: &mut BarTracker,
    bar: Bar,
    raw: &[u8],
) -> Result<(), Stopped> {
    let record = Record::Bar(bar);
    if let Err(e) = record.validate(out.now()) {
        return out
            .reject(format!("invalid record for {}: {e}", record.symbol()), raw)
            .await;
    }
    let Record::Bar(bar) = record else {
        return Ok(());
    };
    if tracker.is_new(&bar) {
        out.record(Record::Bar(bar)).await
    } else {
        Ok(())
    }
}
