//! Trades (prints): one execution at one price.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::id::IdHasher;
use super::time::canonical;
use super::{
    FieldError, Price, Provider, Quantity, RecordId, SchemaVersion, Symbol, TradeTag, check_token,
};

/// Most condition codes providers attach to one trade (Alpaca and Finnhub send a handful).
pub const MAX_CONDITIONS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    pub kind: TradeTag,
    pub schema_version: SchemaVersion,
    pub id: RecordId,
    pub provider: Provider,
    pub symbol: Symbol,
    /// When the trade happened, per the provider (UTC).
    #[serde(deserialize_with = "super::rfc3339::deserialize")]
    pub event_ts: DateTime<Utc>,
    /// When the producer received it (UTC).
    #[serde(deserialize_with = "super::rfc3339::deserialize")]
    pub ingest_ts: DateTime<Utc>,
    pub price: Price,
    pub size: Quantity,
    /// Venue code as the provider spells it (e.g. Alpaca's `V` for IEX), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// Sale-condition codes as the provider spells them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// The provider's own trade id, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<String>,
}

impl Trade {
    /// A trade with its id derived from its content; optional fields can be set afterwards
    /// with the `with_*` methods, which keep the id in step.
    pub fn new(
        provider: Provider,
        symbol: Symbol,
        event_ts: DateTime<Utc>,
        ingest_ts: DateTime<Utc>,
        price: Price,
        size: Quantity,
    ) -> Self {
        let mut trade = Trade {
            kind: TradeTag,
            schema_version: SchemaVersion,
            id: RecordId::UNSET,
            provider,
            symbol,
            event_ts,
            ingest_ts,
            price,
            size,
            exchange: None,
            conditions: Vec::new(),
            trade_id: None,
        };
        trade.id = trade.derive_id();
        trade
    }

    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = Some(exchange.into());
        self.id = self.derive_id();
        self
    }

    pub fn with_conditions(mut self, conditions: Vec<String>) -> Self {
        self.conditions = conditions;
        self.id = self.derive_id();
        self
    }

    pub fn with_trade_id(mut self, trade_id: impl Into<String>) -> Self {
        self.trade_id = Some(trade_id.into());
        self.id = self.derive_id();
        self
    }

    pub fn derive_id(&self) -> RecordId {
        let mut h = IdHasher::new("trade");
        h.part(self.provider.as_str())
            .part(self.symbol.as_str())
            .int(canonical(self.event_ts))
            .int(self.price.to_scaled())
            .int(self.size.to_scaled())
            .part(self.exchange.as_deref().unwrap_or(""))
            .part(self.trade_id.as_deref().unwrap_or(""));
        for c in &self.conditions {
            h.part(c);
        }
        h.finish()
    }

    pub(crate) fn validate_fields(&self) -> Result<(), FieldError> {
        if let Some(exchange) = &self.exchange {
            check_token("exchange", exchange, 16)?;
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(FieldError::new(
                "conditions",
                format!(
                    "has {} entries, at most {MAX_CONDITIONS} allowed",
                    self.conditions.len()
                ),
            ));
        }
        for (i, c) in self.conditions.iter().enumerate() {
            let field = format!("conditions[{i}]");
            check_token(&field, c, 8)?;
            // Every lake format must be able to hold what validation lets through: a record
            // that passes here and then fails to encode would stop its partition at every
            // restart. CSV joins the list with this character.
            if c.contains(crate::LIST_SEPARATOR) {
                return Err(FieldError::new(
                    field,
                    format!(
                        "{c:?} contains `{}`, the lake's list separator",
                        crate::LIST_SEPARATOR
                    ),
                ));
            }
        }
        if let Some(trade_id) = &self.trade_id {
            check_token("trade_id", trade_id, 64)?;
        }
        Ok(())
    }
}
