//! The `source:` settings of the Yahoo Finance chart API polling; the client itself is in `stockfeed-producer`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackoffConfig, RateLimitConfig};

/// `source:` section for `provider: yahoo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct YahooConfig {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Yahoo's interval name: 1m 2m 5m 15m 30m 60m 90m 1h 1d 5d 1wk.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Yahoo's range name, e.g. 1d, 5d.
    #[serde(default = "default_range")]
    pub range: String,
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub poll_interval: Duration,
    /// Yahoo publishes no limit; this keeps well below where it starts answering 429.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: RateLimitConfig,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub request_timeout: Duration,
    /// Yahoo needs no key; a 401/403 means the client is blocked, retried this slowly.
    #[serde(default = "default_unauthorized_retry", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub unauthorized_retry: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Yahoo throttles unknown clients harder; a browser-like agent is advisable.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
}

fn default_base_url() -> String {
    "https://query2.finance.yahoo.com".into()
}
fn default_interval() -> String {
    "1m".into()
}
fn default_range() -> String {
    "1d".into()
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_rate_limit() -> RateLimitConfig {
    RateLimitConfig::new(60, Duration::from_secs(60))
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_unauthorized_retry() -> Duration {
    Duration::from_secs(300)
}
fn default_user_agent() -> String {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36".into()
}
