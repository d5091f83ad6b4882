//! Reading string fields without allocating.
//!
//! `Cow<'de, str>` looks like it borrows, but serde's impl for it always builds an owned
//! `String` unless the field is marked `#[serde(borrow)]`, which a hand-written `Deserialize`
//! cannot ask for. Every record has four such fields (kind, id, symbol and, for bars, interval),
//! so the sink paid four heap allocations per record just to look at text it then copied or
//! dropped. A visitor's `visit_str` sees the text in place (borrowed from the input, or from
//! serde_json's scratch buffer when it had escapes), which is all these types need; the
//! timestamps (`rfc3339.rs`) are read the same way.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Deserialises a JSON string and hands it to `parse` without copying it; `expecting` names
/// the field's type in serde's "invalid type" errors (e.g. a number where a symbol belongs).
pub(crate) fn parse_str<'de, D, T, E>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    d.deserialize_str(StrVisitor {
        expecting,
        parse,
        _out: PhantomData,
    })
}

struct StrVisitor<F, T> {
    expecting: &'static str,
    parse: F,
    _out: PhantomData<fn() -> T>,
}

impl<F, T, E> Visitor<'_> for StrVisitor<F, T>
where
    F: FnOnce(&str) -> Result<T, E>,
    E: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<Er: de::Error>(self, text: &str) -> Result<T, Er> {
        (self.parse)(text).map_err(Er::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(
        d: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
    ) -> Result<String, serde_json::Error> {
        parse_str(d, "a word", |t: &str| {
            if t.is_empty() {
                Err("is empty")
            } else {
                Ok(t.to_uppercase())
            }
        })
    }

    #[test]
    fn sees_plain_and_escaped_text_and_reports_errors() {
        let mut plain = serde_json::Deserializer::from_slice(br#""abc""#);
        assert_eq!(upper(&mut plain).unwrap(), "ABC");
        let mut escaped = serde_json::Deserializer::from_slice(br#""a\u0062c""#);
        assert_eq!(upper(&mut escaped).unwrap(), "ABC");
        let mut empty = serde_json::Deserializer::from_slice(br#""""#);
        let err = upper(&mut empty).unwrap_err().to_string();
        assert!(err.starts_with("is empty"), "{err}");
        let mut number = serde_json::Deserializer::from_slice(b"12");
        let err = upper(&mut number).unwrap_err().to_string();
        assert!(err.contains("expected a word"), "{err}");
    }
}
