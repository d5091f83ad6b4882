//! Which source to run, as written in a StockFeed manifest's `source` section (with the secret
//! references already turned into environment variables or mounted files by the operator).

use serde::{Deserialize, Serialize};

pub mod alpaca;
pub mod alphavantage;
pub mod backoff;
pub mod finnhub;
pub mod ratelimit;
pub mod replay;
pub mod synthetic;
pub mod yahoo;

pub use backoff::BackoffConfig;
pub use ratelimit::RateLimitConfig;

/// One variant per provider, tagged by `provider:` as in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SourceConfig {
    Synthetic(synthetic::SyntheticConfig),
    Replay(replay::ReplayConfig),
    Finnhub(finnhub::FinnhubConfig),
    AlphaVantage(alphavantage::AlphaVantageConfig),
    Yahoo(yahoo::YahooConfig),
    Alpaca(alpaca::AlpacaConfig),
}
