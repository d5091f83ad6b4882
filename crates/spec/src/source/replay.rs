//! The `source:` settings of the replay of a historical file; the client itself is in `stockfeed-producer`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use stockfeed_record::BarInterval;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: ReplayFormat,
    #[serde(default)]
    pub speed: Speed,
    /// Length of the bars in a `csvBars` file.
    #[serde(default = "one_day")]
    #[schemars(with = "String")]
    pub interval: BarInterval,
    /// Replay only records at or after this time (RFC 3339 or `YYYY-MM-DD`), e.g. the last year
    /// of a long history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Replay only records before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// The default `interval` of CSV bars: daily.
pub fn one_day() -> BarInterval {
    BarInterval::from_seconds(86_400).unwrap_or_else(|_| unreachable!())
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ReplayFormat {
    #[default]
    CsvBars,
    CsvTrades,
    Jsonl,
}

/// `realtime`, an acceleration such as `x60` or `x86400`, or `max` (as fast as the producer
/// takes records).
#[derive(Debug, Clone, Copy, Default, PartialEq, schemars::JsonSchema)]
#[schemars(with = "String")]
pub enum Speed {
    Factor(f64),
    #[default]
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("speed `{s}` is not `realtime`, `max` or `x<factor>` such as `x60`");
        match s {
            "realtime" => Ok(Speed::Factor(1.0)),
            "max" => Ok(Speed::Max),
            _ => {
                let factor: f64 = s
                    .strip_prefix('x')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if factor.is_finite() && factor > 0.0 {
                    Ok(Speed::Factor(factor))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl Serialize for Speed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Speed::Factor(f) if *f == 1.0 => s.serialize_str("realtime"),
            Speed::Factor(f) => s.collect_str(&format_args!("x{f}")),
            Speed::Max => s.serialize_str("max"),
        }
    }
}

impl<'de> Deserialize<'de> for Speed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
