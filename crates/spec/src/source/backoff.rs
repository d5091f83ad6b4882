//! Retry backoff settings as a source's configuration writes them; the backoff itself is in
//! `stockfeed-producer`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Backoff settings as written in a source's configuration (`backoff: {initial: 500ms, max: 1m}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackoffConfig {
    /// Delay before the first retry.
    #[serde(with = "humantime_serde", default = "default_initial")]
    #[schemars(with = "String")]
    pub initial: Duration,
    /// Longest delay between retries.
    #[serde(with = "humantime_serde", default = "default_max")]
    #[schemars(with = "String")]
    pub max: Duration,
}

fn default_initial() -> Duration {
    Duration::from_millis(500)
}

fn default_max() -> Duration {
    Duration::from_secs(60)
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: default_initial(),
            max: default_max(),
        }
    }
}
