//! The `source:` settings of the Finnhub (WebSocket stream or REST polling); the client itself is in `stockfeed-producer`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackoffConfig, RateLimitConfig};
use crate::secret::SecretSource;

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FinnhubMode {
    /// WebSocket trades.
    #[default]
    Stream,
    /// REST `/quote` every `pollInterval`, emitting 1d bars (see the module docs).
    Poll,
}

/// `source:` section for `provider: finnhub`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinnhubConfig {
    /// The API key.
    pub token: SecretSource,
    #[serde(default)]
    pub mode: FinnhubMode,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_ws_url")]
    pub ws_url: String,
    /// Time between polls of all tickers (`mode: poll`).
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub poll_interval: Duration,
    #[serde(default = "default_rate_limit")]
    pub rate_limit: RateLimitConfig,
    /// Timeout of one REST request, and of opening the WebSocket.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// Reconnect when the socket is silent for this long, pong included (see `ws.rs`).
    #[serde(default = "default_read_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub read_timeout: Duration,
    /// Wait after the key is refused before trying again (re-reading it).
    #[serde(default = "default_unauthorized_retry", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub unauthorized_retry: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn default_base_url() -> String {
    "https://finnhub.io/api/v1".into()
}
fn default_ws_url() -> String {
    "wss://ws.finnhub.io".into()
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_rate_limit() -> RateLimitConfig {
    RateLimitConfig::new(60, Duration::from_secs(60))
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
