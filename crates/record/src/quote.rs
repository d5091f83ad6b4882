//! Quotes: the best bid and offer at one moment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::id::IdHasher;
use super::time::canonical;
use super::{
    FieldError, Price, Provider, Quantity, QuoteTag, RecordId, SchemaVersion, Symbol, check_token,
};

/// A crossed quote (bid above ask) is kept, not rejected: crossed and locked markets happen
/// for real across venues, and a data lake that hid them would misreport the market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    pub kind: QuoteTag,
    pub schema_version: SchemaVersion,
    pub id: RecordId,
    pub provider: Provider,
    pub symbol: Symbol,
    #[serde(deserialize_with = "super::rfc3339::deserialize")]
    pub event_ts: DateTime<Utc>,
    #[serde(deserialize_with = "super::rfc3339::deserialize")]
    pub ingest_ts: DateTime<Utc>,
    pub bid_price: Price,
    pub bid_size: Quantity,
    pub ask_price: Price,
    pub ask_size: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask_exchange: Option<String>,
}

impl Quote {
    /// A quote with its id derived from its content.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        provider: Provider,
        symbol: Symbol,
        event_ts: DateTime<Utc>,
        ingest_ts: DateTime<Utc>,
        bid_price: Price,
        bid_size: Quantity,
        ask_price: Price,
        ask_size: Quantity,
    ) -> Self {
        let mut quote = Quote {
            kind: QuoteTag,
            schema_version: SchemaVersion,
            id: RecordId::UNSET,
            provider,
            symbol,
            event_ts,
            ingest_ts,
            bid_price,
            bid_size,
            ask_price,
            ask_size,
            bid_exchange: None,
            ask_exchange: None,
        };
        quote.id = quote.derive_id();
        quote
    }

    pub fn with_exchanges(mut self, bid: Option<String>, ask: Option<String>) -> Self {
        self.bid_exchange = bid;
        self.ask_exchange = ask;
        self.id = self.derive_id();
        self
    }

    pub fn derive_id(&self) -> RecordId {
        IdHasher::new("quote")
            .part(self.provider.as_str())
            .part(self.symbol.as_str())
            .int(canonical(self.event_ts))
            .int(self.bid_price.to_scaled())
            .int(self.bid_size.to_scaled())
            .int(self.ask_price.to_scaled())
            .int(self.ask_size.to_scaled())
            .part(self.bid_exchange.as_deref().unwrap_or(""))
            .part(self.ask_exchange.as_deref().unwrap_or(""))
            .finish()
    }

    pub(crate) fn validate_fields(&self) -> Result<(), FieldError> {
        if let Some(x) = &self.bid_exchange {
            check_token("bid_exchange", x, 16)?;
        }
        if let Some(x) = &self.ask_exchange {
            check_token("ask_exchange", x, 16)?;
        }
        Ok(())
    }
}
