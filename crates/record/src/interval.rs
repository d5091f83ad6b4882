//! Bar intervals.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The length of a bar, a whole number of seconds between 1 second and 7 days, written as the
/// largest unit that divides it evenly (`30s`, `1m`, `15m`, `1h`, `1d`). One spelling per length
/// keeps partition values and ids stable whatever the provider called it (`60min`, `1Min`, `1h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BarInterval {
    seconds: u32,
}

const MAX_SECONDS: u32 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a bar interval: expected a number and a unit s, m, h or d, from 1s to 7d (e.g. 1m, 5m, 1h, 1d)"
)]
pub struct IntervalError(String);

impl BarInterval {
    pub fn from_seconds(seconds: u32) -> Result<Self, IntervalError> {
        if seconds == 0 || seconds > MAX_SECONDS {
            return Err(IntervalError(format!("{seconds}s")));
        }
        Ok(Self { seconds })
    }

    pub fn seconds(self) -> u32 {
        self.seconds
    }
}

impl FromStr for BarInterval {
    type Err = IntervalError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || IntervalError(text.to_owned());
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (number, unit) = text.split_at(split);
        let number: u32 = number.parse().map_err(|_| err())?;
        let unit_seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(err()),
        };
        let seconds = number.checked_mul(unit_seconds).ok_or_else(err)?;
        Self::from_seconds(seconds).map_err(|_| err())
    }
}

impl fmt::Display for BarInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        match () {
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3600) => write!(f, "{}h", s / 3600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl Serialize for BarInterval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BarInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::text::parse_str(d, "a bar interval", str::parse)
    }
}

impl schemars::JsonSchema for BarInterval {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BarInterval".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Bar length in its canonical spelling: the largest unit of s, m, h, d that divides it",
            "pattern": "^[1-9][0-9]*[smhd]$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spelling() {
        assert_eq!("60m".parse::<BarInterval>().unwrap().to_string(), "1h");
        assert_eq!("90s".parse::<BarInterval>().unwrap().to_string(), "90s");
        assert_eq!("1d".parse::<BarInterval>().unwrap().seconds(), 86_400);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "m", "0m", "5", "5x", "8d", "-1m", "99999999999d"] {
            assert!(bad.parse::<BarInterval>().is_err(), "{bad}");
        }
    }
}
