//! The record model: what travels through Kafka and lands in the lake.
//!
//! Three kinds, [`Trade`], [`Quote`] and [`Bar`], share a header of fields (`schema_version`,
//! `id`, `provider`, `symbol`, `event_ts`, `ingest_ts`). Types enforce what can be checked on
//! a value alone (positive prices, well-formed symbols, ids and intervals), so a `Record` that
//! exists has those right; [`Record::validate`] checks what needs context: timestamps against a
//! clock, OHLC consistency, that the id matches the content, and text field limits.
//!
//! The JSON form is one object per Kafka message, tagged by `kind`; its JSON Schema is generated
//! from these types into `worker/schema/` (see [`schema`]). The lake's side of the model — the
//! table schema of each kind and where its files go — is [`lake`].
//!
//! This crate is the shared vocabulary of every other: it does no I/O and must not know about
//! Kafka, storage, configuration or Kubernetes.

mod bar;
mod canonical;
mod decimal;
mod id;
mod interval;
pub mod lake;
mod quote;
pub mod rfc3339;
pub mod samples;
pub mod schema;
mod symbol;
mod text;
mod time;
mod trade;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub use bar::{Bar, Ohlc};
pub use decimal::{DecimalError, Price, Quantity, SCALE as DECIMAL_SCALE};
pub use id::{RecordId, RecordIdError};
pub use interval::{BarInterval, IntervalError};
pub use quote::Quote;
pub use symbol::{MAX_SYMBOL_LEN, Symbol, SymbolError};
pub use time::{MAX_FUTURE_SKEW, check_plausible, earliest_plausible};
pub use trade::Trade;

/// The one schema version this build writes and reads. Bump it when a field changes meaning or
/// a required field is added, and teach readers the old version before producers write the new.
pub const SCHEMA_VERSION: u16 = 1;

/// The `schema_version` field: it can only hold a version this build understands, so reading a
/// message from a newer producer fails loudly (and goes to the dead-letter topic) instead of
/// being half-understood.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SchemaVersion;

impl SchemaVersion {
    pub fn get(self) -> u16 {
        SCHEMA_VERSION
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(SCHEMA_VERSION)
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v == u64::from(SCHEMA_VERSION) {
            Ok(SchemaVersion)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported schema_version {v}: this build reads version {SCHEMA_VERSION}"
            )))
        }
    }
}

impl schemars::JsonSchema for SchemaVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SchemaVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "const": SCHEMA_VERSION,
            "description": "Version of this record schema"
        })
    }
}

/// Defines a zero-sized type that (de)serialises as one fixed `kind` string. Each record struct
/// starts with such a field, so a `Trade` on its own already says what it is, a quote can never
/// be read as a trade, and the JSON Schema states the kind as a constant.
macro_rules! kind_tag {
    ($name:ident, $text:literal) => {
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                text::parse_str(d, concat!("the string `", $text, "`"), |text| {
                    if text == $text {
                        Ok($name)
                    } else {
                        Err(format!("expected `{}`, got `{text}`", $text))
                    }
                })
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "const": $text })
            }
        }
    };
}

kind_tag!(TradeTag, "trade");
kind_tag!(QuoteTag, "quote");
kind_tag!(BarTag, "bar");

/// Where a record came from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Synthetic,
    Replay,
    Finnhub,
    AlphaVantage,
    Yahoo,
    Alpaca,
}

impl Provider {
    pub const ALL: [Provider; 6] = [
        Provider::Synthetic,
        Provider::Replay,
        Provider::Finnhub,
        Provider::AlphaVantage,
        Provider::Yahoo,
        Provider::Alpaca,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Synthetic => "synthetic",
            Provider::Replay => "replay",
            Provider::Finnhub => "finnhub",
            Provider::AlphaVantage => "alphavantage",
            Provider::Yahoo => "yahoo",
            Provider::Alpaca => "alpaca",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record kinds; also the Kafka `kind` header and the first level of the lake's layout.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Trade,
    Quote,
    Bar,
}

impl RecordKind {
    pub const ALL: [RecordKind; 3] = [RecordKind::Trade, RecordKind::Quote, RecordKind::Bar];

    /// Position in [`RecordKind::ALL`], for per-kind arrays on hot paths (no map lookup).
    pub fn index(self) -> usize {
        match self {
            RecordKind::Trade => 0,
            RecordKind::Quote => 1,
            RecordKind::Bar => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Trade => "trade",
            RecordKind::Quote => "quote",
            RecordKind::Bar => "bar",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record kind `{0}` (expected trade, quote or bar)")]
pub struct UnknownKind(pub String);

impl FromStr for RecordKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trade" => Ok(RecordKind::Trade),
            "quote" => Ok(RecordKind::Quote),
            "bar" => Ok(RecordKind::Bar),
            other => Err(UnknownKind(other.to_owned())),
        }
    }
}

/// A record that failed a rule, naming the field (a JSON path such as `price` or
/// `conditions[2]`) so the message in a dead-letter topic points at the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            problem: problem.to_string(),
        }
    }
}

/// Why bytes could not become a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON object of a known record kind: {0}")]
    Malformed(String),
    #[error("invalid record: {0}")]
    Invalid(#[from] FieldError),
}

/// One market-data record. Serialises as the inner struct (which carries `kind`); read it back
/// with [`Record::parse_json`] or [`Record::from_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
#[schemars(
    title = "StockFeed record",
    description = "One market-data record as carried in a Kafka message value (UTF-8 JSON). The Kafka key is the symbol; headers sf-kind and sf-schema-version repeat kind and schema_version."
)]
pub enum Record {
    Trade(Trade),
    Quote(Quote),
    Bar(Bar),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Trade(_) => RecordKind::Trade,
            Record::Quote(_) => RecordKind::Quote,
            Record::Bar(_) => RecordKind::Bar,
        }
    }

    pub fn id(&self) -> RecordId {
        match self {
            Record::Trade(r) => r.id,
            Record::Quote(r) => r.id,
            Record::Bar(r) => r.id,
        }
    }

    pub fn symbol(&self) -> &Symbol {
        match self {
            Record::Trade(r) => &r.symbol,
            Record::Quote(r) => &r.symbol,
            Record::Bar(r) => &r.symbol,
        }
    }

    pub fn provider(&self) -> Provider {
        match self {
            Record::Trade(r) => r.provider,
            Record::Quote(r) => r.provider,
            Record::Bar(r) => r.provider,
        }
    }

    pub fn event_ts(&self) -> DateTime<Utc> {
        match self {
            Record::Trade(r) => r.event_ts,
            Record::Quote(r) => r.event_ts,
            Record::Bar(r) => r.event_ts,
        }
    }

    pub fn ingest_ts(&self) -> DateTime<Utc> {
        match self {
            Record::Trade(r) => r.ingest_ts,
            Record::Quote(r) => r.ingest_ts,
            Record::Bar(r) => r.ingest_ts,
        }
    }

    /// Restamps the ingest time; the id does not change (it ignores `ingest_ts`).
    pub fn set_ingest_ts(&mut self, ingest: DateTime<Utc>) {
        match self {
            Record::Trade(r) => r.ingest_ts = ingest,
            Record::Quote(r) => r.ingest_ts = ingest,
            Record::Bar(r) => r.ingest_ts = ingest,
        }
    }

    /// The id this record's content hashes to (see `id.rs`).
    pub fn derive_id(&self) -> RecordId {
        match self {
            Record::Trade(r) => r.derive_id(),
            Record::Quote(r) => r.derive_id(),
            Record::Bar(r) => r.derive_id(),
        }
    }

    /// Checks the rules that need context (see the module docs); `now` is the validating
    /// machine's clock, passed in so tests are deterministic.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), FieldError> {
        check_plausible(self.event_ts(), now).map_err(|p| FieldError::new("event_ts", p))?;
        check_plausible(self.ingest_ts(), now).map_err(|p| FieldError::new("ingest_ts", p))?;
        match self {
            Record::Trade(r) => r.validate_fields()?,
            Record::Quote(r) => r.validate_fields()?,
            Record::Bar(r) => r.validate_fields()?,
        }
        let derived = self.derive_id();
        if self.id() != derived {
            return Err(FieldError::new(
                "id",
                format!(
                    "is {} but the record's content hashes to {derived}",
                    self.id()
                ),
            ));
        }
        Ok(())
    }

    /// Serialises to the wire form (compact JSON).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these types cannot fail: no maps with non-string keys, no custom errors.
        let mut out = Vec::with_capacity(384);
        let _ = serde_json::to_writer(&mut out, self);
        out
    }

    /// Parses the wire form and validates it; errors name the offending field.
    pub fn from_json(bytes: &[u8], now: DateTime<Utc>) -> Result<Record, DecodeError> {
        let record = Self::parse_json(bytes)?;
        record.validate(now)?;
        Ok(record)
    }

    /// Parses the wire form of a record whose kind is already known (from the Kafka header),
    /// skipping the pass that looks for `kind`, then validates it.
    pub fn from_json_as(
        kind: RecordKind,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Record, DecodeError> {
        let record = match kind {
            RecordKind::Trade => {
                Record::Trade(canonical::trade(bytes).map_or_else(|| parse_kind(bytes), Ok)?)
            }
            RecordKind::Quote => {
                Record::Quote(canonical::quote(bytes).map_or_else(|| parse_kind(bytes), Ok)?)
            }
            RecordKind::Bar => {
                Record::Bar(canonical::bar(bytes).map_or_else(|| parse_kind(bytes), Ok)?)
            }
        };
        record.validate(now)?;
        Ok(record)
    }

    /// Parses the wire form without the context checks of [`Record::validate`].
    ///
    /// The form producers write is read by `canonical.rs`; anything else by serde, which gives
    /// the same record or the error.
    pub fn parse_json(bytes: &[u8]) -> Result<Record, DecodeError> {
        match canonical::record(bytes) {
            Some(record) => Ok(record),
            None => Self::parse_json_with_serde(bytes),
        }
    }

    /// [`Record::parse_json`] through serde alone, whatever the form: the reference the fast
    /// reader is checked against (unit tests, the `record` fuzz target).
    ///
    /// Reads `kind` first, then parses the value straight into that kind's struct: that is
    /// faster than serde's buffering of tagged enums and keeps the path of a bad field for the
    /// error message.
    #[doc(hidden)]
    pub fn parse_json_with_serde(bytes: &[u8]) -> Result<Record, DecodeError> {
        #[derive(Deserialize)]
        struct Peek<'a> {
            #[serde(borrow)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        let peek: Peek<'_> =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        let kind_text = peek
            .kind
            .ok_or_else(|| DecodeError::Malformed("missing field `kind`".to_owned()))?;
        let kind: RecordKind = kind_text
            .parse()
            .map_err(|e: UnknownKind| DecodeError::Malformed(e.to_string()))?;
        Ok(match kind {
            RecordKind::Trade => Record::Trade(parse_kind(bytes)?),
            RecordKind::Quote => Record::Quote(parse_kind(bytes)?),
            RecordKind::Bar => Record::Bar(parse_kind(bytes)?),
        })
    }
}

fn parse_kind<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // The fast path first; only a failure pays for the field path in the message. The payload
    // is checked as UTF-8 once, as a whole: reading it as bytes checked every string on its
    // own, a twentieth of the sink's decoding time.
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok(value) = serde_json::from_str(text)
    {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() && path != "." {
            DecodeError::Invalid(FieldError::new(path, strip_position(&inner)))
        } else {
            DecodeError::Malformed(strip_position(&inner))
        }
    })?;
    // What the fast path refused and this pass accepts has bytes after the value (found by
    // fuzzing: `from_json_as` took `{...}"x"` as a record); refuse them as the fast path does.
    de.end()
        .map_err(|e| DecodeError::Malformed(strip_position(&e)))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 57" to data errors; the field path says more.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(pos) => text[..pos].to_owned(),
        None => text,
    }
}

/// Checks a short free-text field: printable ASCII without spaces, at most `max` characters.
/// How a list of text values (a trade's conditions) is joined in one CSV cell; no entry may
/// contain it.
pub const LIST_SEPARATOR: char = '|';

pub(crate) fn check_token(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > max {
        return Err(FieldError::new(
            field,
            format!("must have 1 to {max} characters, got {}", value.len()),
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            field,
            format!("must be printable ASCII without spaces, got {value:?}"),
        ));
    }
    Ok(())
}

impl From<Trade> for Record {
    fn from(r: Trade) -> Self {
        Record::Trade(r)
    }
}

impl From<Quote> for Record {
    fn from(r: Quote) -> Self {
        Record::Quote(r)
    }
}

impl From<Bar> for Record {
    fn from(r: Bar) -> Self {
        Record::Bar(r)
    }
}

#[cfg(test)]
mod tests;
