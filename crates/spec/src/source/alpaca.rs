//! The `source:` settings of the Alpaca Market Data v2 stream; the client itself is in `stockfeed-producer`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::BackoffConfig;
use crate::secret::SecretSource;

/// `source:` section for `provider: alpaca`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlpacaConfig {
    pub key_id: SecretSource,
    pub secret_key: SecretSource,
    /// `iex` (free plan), `sip`, `delayed_sip`, or `test`.
    #[serde(default = "default_feed")]
    pub feed: String,
    #[serde(default = "default_ws_url")]
    pub ws_url: String,
    #[serde(default = "yes")]
    pub trades: bool,
    #[serde(default = "yes")]
    pub quotes: bool,
    /// Minute bars (and their `updatedBars` corrections).
    #[serde(default = "yes")]
    pub bars: bool,
    #[serde(default)]
    pub daily_bars: bool,
    /// Timeout of connecting and of each handshake step.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    #[serde(default = "default_read_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub read_timeout: Duration,
    #[serde(default = "default_unauthorized_retry", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub unauthorized_retry: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn default_feed() -> String {
    "iex".into()
}
fn default_ws_url() -> String {
    "wss://stream.data.alpaca.markets".into()
}
fn yes() -> bool {
    true
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_unauthorized_retry() -> Duration {
    Duration::from_secs(300)
}
