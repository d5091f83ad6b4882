//! Ticker symbols.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest symbol accepted; also the CRD's limit, so a ticker that passes `kubectl apply` passes
/// here and the other way round.
pub const MAX_SYMBOL_LEN: usize = 15;

/// A ticker symbol matching `^[A-Z][A-Z0-9.-]{0,14}$` (e.g. `AAPL`, `BRK.B`, `BF-B`).
///
/// Sources upper-case what providers send before building a `Symbol`; this type does not, so
/// that a lower-case symbol in a Kafka message is caught as a producer bug instead of being
/// quietly merged with the upper-case one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Symbol(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_SYMBOL_LEN} characters: `{0}`")]
    TooLong(String),
    #[error(
        "`{0}` does not match ^[A-Z][A-Z0-9.-]{{0,14}}$ (upper-case letter first, then upper-case \
         letters, digits, `.` or `-`)"
    )]
    Malformed(String),
}

impl Symbol {
    pub fn new(text: &str) -> Result<Self, SymbolError> {
        if text.is_empty() {
            return Err(SymbolError::Empty);
        }
        if text.len() > MAX_SYMBOL_LEN {
            return Err(SymbolError::TooLong(text.to_owned()));
        }
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !(first_ok && rest_ok) {
            return Err(SymbolError::Malformed(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Symbol::new(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Symbol {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Symbol".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Ticker symbol, upper case",
            "pattern": "^[A-Z][A-Z0-9.-]{0,14}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_tickers() {
        for ok in ["AAPL", "BRK.B", "BF-B", "X", "SPY", "ABCDEFGHIJKLMNO"] {
            assert_eq!(Symbol::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert!(matches!(
            Symbol::new("aapl"),
            Err(SymbolError::Malformed(_))
        ));
        assert!(matches!(Symbol::new("1AB"), Err(SymbolError::Malformed(_))));
        assert!(matches!(
            Symbol::new("AA PL"),
            Err(SymbolError::Malformed(_))
        ));
        assert!(matches!(
            Symbol::new("BINANCE:BTC"),
            Err(SymbolError::Malformed(_))
        ));
        assert!(matches!(
            Symbol::new("ABCDEFGHIJKLMNOP"),
            Err(SymbolError::TooLong(_))
        ));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Symbol>("\"msft\"").is_err());
        assert_eq!(
            serde_json::from_str::<Symbol>("\"MSFT\"").unwrap().as_str(),
            "MSFT"
        );
    }
}
