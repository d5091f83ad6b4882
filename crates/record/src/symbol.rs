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
///
/// Held inline (no heap allocation): the sink decodes, sorts and groups millions of records by
/// symbol, and a boxed string per record was a measurable share of its time.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Symbol {
    /// Bytes in use; the rest of `bytes` stays zero, so the derived equality and hash hold.
    len: u8,
    bytes: [u8; MAX_SYMBOL_LEN],
}

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
        let mut bytes = [0_u8; MAX_SYMBOL_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Self {
            len: text.len() as u8,
            bytes,
        })
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII (checked in `new`), so this never falls back.
        std::str::from_utf8(self.used()).unwrap_or_default()
    }

    fn used(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// An integer that orders symbols as their text does, for sorting without byte-wise
    /// comparisons: the bytes read big-endian. The zero padding after the text sorts before
    /// every allowed character, so a symbol sorts before the longer ones it starts.
    pub fn order_key(&self) -> u128 {
        let mut wide = [0_u8; 16];
        wide[..MAX_SYMBOL_LEN].copy_from_slice(&self.bytes);
        u128::from_be_bytes(wide)
    }
}

/// Alphabetical, as the text compares (byte order equals `str` order).
impl Ord for Symbol {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Symbol").field(&self.as_str()).finish()
    }
}

impl Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::text::parse_str(deserializer, "a ticker symbol", Symbol::new)
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
    fn orders_equals_and_hashes_as_its_text() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let hash = |s: &Symbol| {
            let mut h = DefaultHasher::new();
            s.hash(&mut h);
            h.finish()
        };
        let mut symbols: Vec<Symbol> = ["MSFT", "A", "BRK.B", "AA", "BRK-B", "ABCDEFGHIJKLMNO"]
            .into_iter()
            .map(|t| Symbol::new(t).unwrap())
            .collect();
        symbols.sort();
        let sorted: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
        let mut expected = sorted.clone();
        expected.sort_unstable();
        assert_eq!(sorted, expected);
        assert_eq!(sorted[0], "A");
        let a = Symbol::new("AAPL").unwrap();
        assert_eq!(a, a.clone());
        assert_eq!(hash(&a), hash(&Symbol::new("AAPL").unwrap()));
        assert_ne!(a, Symbol::new("AAP").unwrap());
        assert_eq!(format!("{a:?}"), "Symbol(\"AAPL\")");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"AAPL\"");
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
