//! A reader for exactly the JSON [`Record::to_json`](super::Record::to_json) writes, tried
//! before serde.
//!
//! Producers write one form: compact, fields in declaration order, optional fields left out
//! when empty, strings in printable ASCII without escapes. Reading that form by expecting each
//! field in turn skips what makes serde_json's general object reader cost (field-name lookup,
//! a visitor call per value, escape scanning), and decoding is the largest share of the sink's
//! work per record.
//!
//! Anything else (another field order, whitespace, escapes, non-ASCII text, `null`, numbers
//! where strings belong, unknown fields) gives `None`, and serde reads the bytes as before,
//! with its own error messages. Values are parsed by the same functions the types'
//! `Deserialize` impls call. So an answer from here is always the answer serde would give;
//! the `record` fuzz target checks exactly that on every input it tries.

use chrono::{DateTime, Utc};

use super::{
    Bar, BarTag, Price, Provider, Quantity, Quote, QuoteTag, Record, RecordId, SchemaVersion,
    Symbol, Trade, TradeTag, rfc3339,
};

/// Reads a record of any kind in the canonical form.
pub(super) fn record(bytes: &[u8]) -> Option<Record> {
    if bytes.starts_with(b"{\"kind\":\"trade\"") {
        trade(bytes).map(Record::Trade)
    } else if bytes.starts_with(b"{\"kind\":\"quote\"") {
        quote(bytes).map(Record::Quote)
    } else if bytes.starts_with(b"{\"kind\":\"bar\"") {
        bar(bytes).map(Record::Bar)
    } else {
        None
    }
}

/// The fields every kind starts with, after `kind` and `schema_version`.
struct Header {
    id: RecordId,
    provider: Provider,
    symbol: Symbol,
    event_ts: DateTime<Utc>,
    ingest_ts: DateTime<Utc>,
}

pub(super) fn trade(bytes: &[u8]) -> Option<Trade> {
    let mut c = Cursor::new(bytes);
    let h = c.header(b"{\"kind\":\"trade\",\"schema_version\":1,\"id\":")?;
    let price = c.field(b",\"price\":")?.parse::<Price>().ok()?;
    let size = c.field(b",\"size\":")?.parse::<Quantity>().ok()?;
    let exchange = c.optional(b",\"exchange\":", Cursor::owned_string)?;
    let conditions = c
        .optional(b",\"conditions\":", Cursor::string_list)?
        .unwrap_or_default();
    let trade_id = c.optional(b",\"trade_id\":", Cursor::owned_string)?;
    c.end()?;
    Some(Trade {
        kind: TradeTag,
        schema_version: SchemaVersion,
        id: h.id,
        provider: h.provider,
        symbol: h.symbol,
        event_ts: h.event_ts,
        ingest_ts: h.ingest_ts,
        price,
        size,
        exchange,
        conditions,
        trade_id,
    })
}

pub(super) fn quote(bytes: &[u8]) -> Option<Quote> {
    let mut c = Cursor::new(bytes);
    let h = c.header(b"{\"kind\":\"quote\",\"schema_version\":1,\"id\":")?;
    let bid_price = c.field(b",\"bid_price\":")?.parse::<Price>().ok()?;
    let bid_size = c.field(b",\"bid_size\":")?.parse::<Quantity>().ok()?;
    let ask_price = c.field(b",\"ask_price\":")?.parse::<Price>().ok()?;
    let ask_size = c.field(b",\"ask_size\":")?.parse::<Quantity>().ok()?;
    let bid_exchange = c.optional(b",\"bid_exchange\":", Cursor::owned_string)?;
    let ask_exchange = c.optional(b",\"ask_exchange\":", Cursor::owned_string)?;
    c.end()?;
    Some(Quote {
        kind: QuoteTag,
        schema_version: SchemaVersion,
        id: h.id,
        provider: h.provider,
        symbol: h.symbol,
        event_ts: h.event_ts,
        ingest_ts: h.ingest_ts,
        bid_price,
        bid_size,
        ask_price,
        ask_size,
        bid_exchange,
        ask_exchange,
    })
}

pub(super) fn bar(bytes: &[u8]) -> Option<Bar> {
    let mut c = Cursor::new(bytes);
    let h = c.header(b"{\"kind\":\"bar\",\"schema_version\":1,\"id\":")?;
    let interval = c.field(b",\"interval\":")?.parse().ok()?;
    let open = c.field(b",\"open\":")?.parse::<Price>().ok()?;
    let high = c.field(b",\"high\":")?.parse::<Price>().ok()?;
    let low = c.field(b",\"low\":")?.parse::<Price>().ok()?;
    let close = c.field(b",\"close\":")?.parse::<Price>().ok()?;
    let volume = c.field(b",\"volume\":")?.parse::<Quantity>().ok()?;
    let vwap = c.optional(b",\"vwap\":", |c| c.string()?.parse::<Price>().ok())?;
    let trade_count = c.optional(b",\"trade_count\":", Cursor::unsigned)?;
    c.end()?;
    Some(Bar {
        kind: BarTag,
        schema_version: SchemaVersion,
        id: h.id,
        provider: h.provider,
        symbol: h.symbol,
        event_ts: h.event_ts,
        ingest_ts: h.ingest_ts,
        interval,
        open,
        high,
        low,
        close,
        volume,
        vwap,
        trade_count,
    })
}

/// The bytes not read yet.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { rest: bytes }
    }

    /// `start` is everything up to the id's value: the kind and schema version are literal.
    fn header(&mut self, start: &[u8]) -> Option<Header> {
        self.literal(start)?;
        let id = RecordId::parse(self.string()?).ok()?;
        let provider = self.field(b",\"provider\":")?;
        let provider = Provider::ALL.into_iter().find(|p| p.as_str() == provider)?;
        let symbol = Symbol::new(self.field(b",\"symbol\":")?).ok()?;
        let event_ts = rfc3339::parse(self.field(b",\"event_ts\":")?).ok()?;
        let ingest_ts = rfc3339::parse(self.field(b",\"ingest_ts\":")?).ok()?;
        Some(Header {
            id,
            provider,
            symbol,
            event_ts,
            ingest_ts,
        })
    }

    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    /// `key` (with its comma and colon), then a string value.
    fn field(&mut self, key: &[u8]) -> Option<&'a str> {
        self.literal(key)?;
        self.string()
    }

    /// `Some(None)` when the next field is not `key` (the writer leaves empty fields out),
    /// `None` when it is and its value is not read here.
    fn optional<T>(
        &mut self,
        key: &[u8],
        value: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<Option<T>> {
        if self.literal(key).is_none() {
            return Some(None);
        }
        value(self).map(Some)
    }

    /// A string of printable ASCII without escapes: exactly the strings whose JSON text is
    /// their value, so no unescaping or UTF-8 decoding can differ from serde's.
    fn string(&mut self) -> Option<&'a str> {
        let rest = self.rest.strip_prefix(b"\"")?;
        // One pass: stop at the closing quote, give up on anything but plain printable ASCII.
        let mut len = 0;
        loop {
            match *rest.get(len)? {
                b'"' => break,
                b'\\' => return None,
                b' '..=b'~' => len += 1,
                _ => return None,
            }
        }
        let (text, after) = rest.split_at(len);
        self.rest = &after[1..];
        std::str::from_utf8(text).ok()
    }

    fn owned_string(&mut self) -> Option<String> {
        self.string().map(str::to_owned)
    }

    /// `[]` or `["a","b",...]`.
    fn string_list(&mut self) -> Option<Vec<String>> {
        self.literal(b"[")?;
        let mut items = Vec::new();
        if self.literal(b"]").is_some() {
            return Some(items);
        }
        loop {
            items.push(self.owned_string()?);
            if self.literal(b",").is_none() {
                self.literal(b"]")?;
                return Some(items);
            }
        }
    }

    /// A JSON integer that fits a `u64`: digits, no sign, no leading zero, no fraction or
    /// exponent (what follows must be the next field or the end, checked by the caller).
    fn unsigned(&mut self) -> Option<u64> {
        let len = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (digits, rest) = self.rest.split_at(len);
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        let value = digits.iter().try_fold(0_u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        self.rest = rest;
        Some(value)
    }

    /// The closing brace and nothing after it.
    fn end(self) -> Option<()> {
        (self.rest == b"}").then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::sample as samples;

    /// What serde alone makes of `bytes`: the reference this reader must agree with.
    fn serde(bytes: &[u8]) -> Option<Record> {
        Record::parse_json_with_serde(bytes).ok()
    }

    #[test]
    fn reads_what_to_json_writes_as_serde_does() {
        let mut all = samples();
        let quotes_with_exchanges: Vec<Record> = all
            .iter()
            .filter_map(|r| match r {
                Record::Quote(q) => Some(
                    q.clone()
                        .with_exchanges(Some("V".into()), Some("P Q".into()))
                        .into(),
                ),
                _ => None,
            })
            .collect();
        assert!(!quotes_with_exchanges.is_empty());
        all.extend(quotes_with_exchanges);
        for expected in all {
            let wire = expected.to_json();
            assert_eq!(
                record(&wire).as_ref(),
                Some(&expected),
                "{}",
                String::from_utf8_lossy(&wire)
            );
            assert_eq!(serde(&wire), Some(expected));
        }
    }

    #[test]
    fn every_provider_is_spelled_as_serde_spells_it() {
        for p in Provider::ALL {
            let json = serde_json::to_string(&p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
    }

    /// Forms serde reads (or refuses) that this reader leaves to serde.
    #[test]
    fn leaves_other_forms_to_serde() {
        let wire = String::from_utf8(samples()[0].to_json()).unwrap_or_else(|e| panic!("{e}"));
        let variants = [
            wire.replacen(',', ", ", 1),
            format!("{wire} "),
            format!("{wire}x"),
            wire.replacen("\"schema_version\":1", "\"schema_version\":1.0", 1),
            wire.replacen("\"schema_version\":1", "\"schema_version\":2", 1),
            wire.replacen("\"symbol\":\"", "\"symbol\":\"\\u0041", 1),
            wire.replacen('}', ",\"extra\":1}", 1),
            wire.replacen('}', ",\"exchange\":null}", 1),
            wire[..wire.len() - 1].to_owned(),
        ];
        for v in variants {
            assert_eq!(record(v.as_bytes()), None, "{v}");
        }
    }

    #[test]
    fn optional_fields_and_counts() {
        let mut c = Cursor::new(b"[]");
        assert_eq!(c.string_list(), Some(vec![]));
        let mut c = Cursor::new(b"[\"a\",\"b c\"]");
        assert_eq!(
            c.string_list(),
            Some(vec!["a".to_owned(), "b c".to_owned()])
        );
        for (text, want) in [
            (&b"0}"[..], Some(0)),
            (b"18446744073709551615}", Some(u64::MAX)),
            (b"18446744073709551616}", None),
            (b"01}", None),
            (b"-1}", None),
            (b"}", None),
        ] {
            assert_eq!(Cursor::new(text).unsigned(), want, "{text:?}");
        }
    }
}
