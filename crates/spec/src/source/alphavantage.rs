//! The `source:` settings of the Alpha Vantage polling; the client itself is in `stockfeed-producer`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackoffConfig, RateLimitConfig};
use crate::secret::SecretSource;

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum AlphaVantageFunction {
    /// `TIME_SERIES_INTRADAY`: bars of `interval`.
    #[default]
    Intraday,
    /// `GLOBAL_QUOTE`: the day so far, as a 1d bar.
    GlobalQuote,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum AlphaVantageInterval {
    #[serde(rename = "1min")]
    #[default]
    Min1,
    #[serde(rename = "5min")]
    Min5,
    #[serde(rename = "15min")]
    Min15,
    #[serde(rename = "30min")]
    Min30,
    #[serde(rename = "60min")]
    Min60,
}

impl AlphaVantageInterval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Min1 => "1min",
            Self::Min5 => "5min",
            Self::Min15 => "15min",
            Self::Min30 => "30min",
            Self::Min60 => "60min",
        }
    }
}

/// `source:` section for `provider: alphavantage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlphaVantageConfig {
    pub api_key: SecretSource,
    #[serde(default)]
    pub function: AlphaVantageFunction,
    #[serde(default)]
    pub interval: AlphaVantageInterval,
    /// The full query endpoint (RapidAPI's differs).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub poll_interval: Duration,
    /// The free plan allows 25 requests a day; the bucket spreads them out.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: RateLimitConfig,
    /// Pause after a rate-limit answer (`Note` / `Information`), which carries no Retry-After.
    #[serde(default = "default_rate_limited_pause", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub rate_limited_pause: Duration,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    #[serde(default = "default_unauthorized_retry", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub unauthorized_retry: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn default_base_url() -> String {
    "https://www.alphavantage.co/query".into()
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_rate_limit() -> RateLimitConfig {
    RateLimitConfig::new(25, Duration::from_secs(24 * 3600))
}
fn default_rate_limited_pause() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_unauthorized_retry() -> Duration {
    Duration::from_secs(300)
}
