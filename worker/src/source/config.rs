//! Which source to run, as written in a StockFeed manifest's `source` section (with the secret
//! references already turned into environment variables or mounted files by the operator).

use serde::{Deserialize, Serialize};

use super::{Source, SourceError, alpaca, alphavantage, finnhub, replay, synthetic, yahoo};
use crate::record::Symbol;

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

/// Builds the configured source for the given tickers (this replica's shard).
pub fn build_source(
    config: &SourceConfig,
    tickers: &[Symbol],
) -> Result<Box<dyn Source>, SourceError> {
    Ok(match config {
        SourceConfig::Synthetic(c) => Box::new(synthetic::SyntheticSource::new(
            c.clone(),
            tickers.to_vec(),
        )?),
        SourceConfig::Replay(c) => {
            Box::new(replay::ReplaySource::new(c.clone(), tickers.to_vec())?)
        }
        SourceConfig::Finnhub(c) => {
            Box::new(finnhub::FinnhubSource::new(c.clone(), tickers.to_vec())?)
        }
        SourceConfig::AlphaVantage(c) => Box::new(alphavantage::AlphaVantageSource::new(
            c.clone(),
            tickers.to_vec(),
        )?),
        SourceConfig::Yahoo(c) => Box::new(yahoo::YahooSource::new(c.clone(), tickers.to_vec())?),
        SourceConfig::Alpaca(c) => {
            Box::new(alpaca::AlpacaSource::new(c.clone(), tickers.to_vec())?)
        }
    })
}
