//! Market-data sources: where records come from.
//!
//! Every source implements one small trait, [`Source`]: it runs until shutdown, hands each
//! normalised record to an [`Emitter`], and hands each payload it could not turn into a record
//! to the same emitter as a rejection (which the producer sends to the dead-letter topic with
//! the reason and the raw bytes). Sources never crash on bad data, and they never produce to
//! Kafka themselves: the producer owns batching, dedup, validation and delivery.
//!
//! `Emitter::record` waits when the producer's buffer is full; that wait is the backpressure
//! that slows a fast source (synthetic, replay) or pauses a poller while Kafka is down.
//!
//! Each provider lives in its own module with its own config type and tests.

pub mod alpaca;
pub mod alphavantage;
pub mod backoff;
pub mod bar_tracker;
pub mod emitter;
pub mod finnhub;
pub mod http;
pub mod market_time;
pub mod normalise;
pub mod ratelimit;
pub mod redact;
pub mod replay;
pub mod resume_point;
pub mod retry;
pub mod synthetic;
pub mod ws;
pub mod yahoo;

pub use backoff::BackoffConfig;
pub use emitter::{Emitter, Rejected, SourceHealth, SourceItem, Stopped};
pub use resume_point::ResumePoint;
pub use stockfeed_spec::source::SourceConfig;

use futures_util::future::BoxFuture;

use stockfeed_record::{Provider, Symbol};

/// A market-data source. Implementations keep their own connection state, retries and rate
/// limits; see the module docs for the contract.
pub trait Source: Send + 'static {
    fn provider(&self) -> Provider;

    /// Runs until `out.shutdown()` fires (then returns `Ok`) or a fatal, non-retryable
    /// configuration error occurs. Transient failures (timeouts, 5xx, disconnects, 429) are
    /// retried inside with backoff; invalid credentials mark the source unhealthy via
    /// [`Emitter::set_health`] and are retried slowly, re-reading the secret each time, so a
    /// rotated Secret is picked up without a restart.
    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>>;

    /// True when a restarted source emits the same records again, in the same order, with each
    /// (symbol, kind)'s event times never decreasing (a replayed file, seeded synthetic data).
    /// The producer then skips, after a restart, every record older than the newest of its
    /// (symbol, kind) already in the topic (see `producer::resume`). Live feeds say false: a
    /// late or corrected print there is news, not a repeat; they rely on the dedup window.
    fn deterministic_order(&self) -> bool {
        false
    }
}

/// A failure that stops a source. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{provider} source is misconfigured: {message}")]
    Config { provider: Provider, message: String },
    #[error("{provider} source cannot read its input {path}: {message}")]
    Input {
        provider: Provider,
        path: String,
        message: String,
    },
    #[error("{provider} source stopped: the producer is no longer accepting records")]
    Stopped { provider: Provider },
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
