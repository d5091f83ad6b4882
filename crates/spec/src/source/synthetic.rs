//! The `source:` settings of the synthetic ticks; the client itself is in `stockfeed-producer`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use stockfeed_record::RecordKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Same seed, same start time: same records.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Records per second across all symbols, or `unlimited` (as fast as the producer takes).
    #[serde(default)]
    pub rate: Rate,
    /// Stop after this many records (benchmarks, tests); unset runs until shutdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Simulated clock start; defaults to the wall clock at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// Which kinds to emit; default all three.
    #[serde(default = "all_kinds")]
    pub kinds: Vec<RecordKind>,
    /// Annualised volatility of the mid price (0.3 = 30 %).
    #[serde(default = "default_volatility")]
    pub volatility: f64,
    /// Mean simulated time between records, e.g. `1ms`; default `1 / rate` (10 µs when
    /// unlimited). Lets an unlimited run cover minutes of event time, so minute bars close.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    #[schemars(with = "Option<String>")]
    pub mean_gap: Option<std::time::Duration>,
    /// Start the simulated clock this long before start-up, e.g. `1h` (instead of `startTime`).
    /// With `meanGap` the clock then runs fast until it reaches the wall clock, and never
    /// passes it: an hour of history in a minute, then live ticks.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde::option"
    )]
    #[schemars(with = "Option<String>")]
    pub start_ago: Option<std::time::Duration>,
}

fn default_seed() -> u64 {
    42
}

fn all_kinds() -> Vec<RecordKind> {
    RecordKind::ALL.to_vec()
}

fn default_volatility() -> f64 {
    0.3
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: default_seed(),
            rate: Rate::default(),
            limit: None,
            start_time: None,
            kinds: all_kinds(),
            volatility: default_volatility(),
            mean_gap: None,
            start_ago: None,
        }
    }
}

/// How fast to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
#[schemars(with = "serde_json::Value")]
pub enum Rate {
    PerSecond(u64),
    Unlimited,
}

impl Default for Rate {
    fn default() -> Self {
        Rate::PerSecond(10)
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::PerSecond(n) => s.serialize_u64(*n),
            Rate::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Err(serde::de::Error::custom(
                "rate must be at least 1 record/s, or `unlimited`",
            )),
            Raw::Number(n) => Ok(Rate::PerSecond(n)),
            Raw::Text(t) if t == "unlimited" => Ok(Rate::Unlimited),
            Raw::Text(t) => Err(serde::de::Error::custom(format!(
                "rate `{t}` is neither a number of records per second nor `unlimited`"
            ))),
        }
    }
}
