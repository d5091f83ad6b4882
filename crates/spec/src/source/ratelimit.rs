//! Request-budget settings as a source's configuration writes them; the token bucket itself is
//! in `stockfeed-producer`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `requests` per `per`, e.g. `{requests: 60, per: 1m}`. Up to `requests` may go out at once
/// (the bucket starts full), then one every `per / requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests: u32,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub per: Duration,
}

impl RateLimitConfig {
    pub const fn new(requests: u32, per: Duration) -> Self {
        Self { requests, per }
    }

    /// Names the problem for a configuration error, or `None` when usable.
    pub fn problem(&self) -> Option<String> {
        if self.requests == 0 {
            return Some("rateLimit.requests must be at least 1".into());
        }
        if self.per.is_zero() {
            return Some("rateLimit.per must be longer than 0s".into());
        }
        None
    }
}
