//! How records map onto Kafka messages.
//!
//! - key: the symbol, so one symbol's records stay in one partition, in order;
//! - value: the record's JSON (see `record`);
//! - headers: `sf-kind` and `sf-schema-version`, so a consumer can route or refuse a message
//!   without parsing its value, and `content-type`.
//!
//! Decoding checks the headers against the value: a message whose header says `trade` but whose
//! value is a quote is a producer bug and is refused, not guessed at.

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, Headers, OwnedHeaders};

use stockfeed_record::{DecodeError, Record, RecordKind, SCHEMA_VERSION};

pub const HEADER_KIND: &str = "sf-kind";
pub const HEADER_SCHEMA_VERSION: &str = "sf-schema-version";
pub const HEADER_CONTENT_TYPE: &str = "content-type";
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// A record ready to hand to a Kafka producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub key: String,
    pub payload: Vec<u8>,
    pub kind: RecordKind,
}

impl OutgoingMessage {
    pub fn from_record(record: &Record) -> Self {
        Self {
            key: record.symbol().as_str().to_owned(),
            payload: record.to_json(),
            kind: record.kind(),
        }
    }

    pub fn headers(&self) -> OwnedHeaders {
        OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: HEADER_KIND,
                value: Some(self.kind.as_str()),
            })
            .insert(Header {
                key: HEADER_SCHEMA_VERSION,
                value: Some(SCHEMA_VERSION_TEXT),
            })
            .insert(Header {
                key: HEADER_CONTENT_TYPE,
                value: Some(CONTENT_TYPE_JSON),
            })
    }
}

const SCHEMA_VERSION_TEXT: &str = match SCHEMA_VERSION {
    1 => "1",
    _ => panic!("update SCHEMA_VERSION_TEXT with SCHEMA_VERSION"),
};

/// Why a consumed message is not a record we accept; the text goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message has no value")]
    NoPayload,
    #[error("message has no `{0}` header")]
    MissingHeader(&'static str),
    #[error("header `{name}` has unsupported value {value:?}")]
    BadHeader { name: &'static str, value: String },
    #[error("header says kind `{header}` but the value is a `{payload}`")]
    KindMismatch {
        header: RecordKind,
        payload: RecordKind,
    },
    #[error("key {key:?} differs from the record's symbol `{symbol}`")]
    KeyMismatch { key: String, symbol: String },
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

fn header_text<'a, H: Headers>(
    headers: Option<&'a H>,
    name: &'static str,
) -> Result<&'a str, MessageError> {
    let header = headers
        .and_then(|hs| hs.iter().find(|h| h.key == name))
        .ok_or(MessageError::MissingHeader(name))?;
    let value = header.value.ok_or(MessageError::MissingHeader(name))?;
    std::str::from_utf8(value).map_err(|_| MessageError::BadHeader {
        name,
        value: String::from_utf8_lossy(value).into_owned(),
    })
}

/// Turns a consumed message back into a validated record.
pub fn decode_message<H: Headers>(
    headers: Option<&H>,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<Record, MessageError> {
    let version = header_text(headers, HEADER_SCHEMA_VERSION)?;
    if version != SCHEMA_VERSION_TEXT {
        return Err(MessageError::BadHeader {
            name: HEADER_SCHEMA_VERSION,
            value: version.to_owned(),
        });
    }
    let kind_text = header_text(headers, HEADER_KIND)?;
    let kind: RecordKind = kind_text.parse().map_err(|_| MessageError::BadHeader {
        name: HEADER_KIND,
        value: kind_text.to_owned(),
    })?;
    let payload = payload.ok_or(MessageError::NoPayload)?;
    // The header names the kind, so the value is parsed once, straight into that kind's struct.
    // A message that fails this way is decoded again the general way below, which names the
    // first problem the same as it always has (a kind mismatch, not a bad `kind` field).
    if let Ok(record) = Record::from_json_as(kind, payload, now)
        && key.is_some_and(|k| k == record.symbol().as_str().as_bytes())
    {
        return Ok(record);
    }
    let record = Record::from_json(payload, now)?;
    if record.kind() != kind {
        return Err(MessageError::KindMismatch {
            header: kind,
            payload: record.kind(),
        });
    }
    let key_matches = key.is_some_and(|k| k == record.symbol().as_str().as_bytes());
    if !key_matches {
        return Err(MessageError::KeyMismatch {
            key: key
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            symbol: record.symbol().to_string(),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockfeed_record::{Provider, Symbol, Trade};

    fn record() -> Record {
        let ts = DateTime::parse_from_rfc3339("2026-11-26T14:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Trade::new(
            Provider::Synthetic,
            Symbol::new("AAPL").unwrap(),
            ts,
            ts,
            "1.5".parse().unwrap(),
            "3".parse().unwrap(),
        )
        .into()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn round_trip_with_headers() {
        let msg = OutgoingMessage::from_record(&record());
        assert_eq!(msg.key, "AAPL");
        let headers = msg.headers();
        let back = decode_message(
            Some(&headers),
            Some(msg.key.as_bytes()),
            Some(&msg.payload),
            now(),
        )
        .unwrap();
        assert_eq!(back, record());
    }

    #[test]
    fn refuses_inconsistent_messages() {
        let msg = OutgoingMessage::from_record(&record());
        let none: Option<&OwnedHeaders> = None;
        assert_eq!(
            decode_message(none, Some(b"AAPL"), Some(&msg.payload), now()),
            Err(MessageError::MissingHeader(HEADER_SCHEMA_VERSION))
        );
        let wrong_kind = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_SCHEMA_VERSION,
                value: Some("1"),
            })
            .insert(Header {
                key: HEADER_KIND,
                value: Some("quote"),
            });
        assert!(matches!(
            decode_message(Some(&wrong_kind), Some(b"AAPL"), Some(&msg.payload), now()),
            Err(MessageError::KindMismatch { .. })
        ));
        let future = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_SCHEMA_VERSION,
                value: Some("2"),
            })
            .insert(Header {
                key: HEADER_KIND,
                value: Some("trade"),
            });
        assert!(matches!(
            decode_message(Some(&future), Some(b"AAPL"), Some(&msg.payload), now()),
            Err(MessageError::BadHeader {
                name: HEADER_SCHEMA_VERSION,
                ..
            })
        ));
        assert!(matches!(
            decode_message(
                Some(&msg.headers()),
                Some(b"MSFT"),
                Some(&msg.payload),
                now()
            ),
            Err(MessageError::KeyMismatch { .. })
        ));
        assert_eq!(
            decode_message(Some(&msg.headers()), Some(b"AAPL"), None, now()),
            Err(MessageError::NoPayload)
        );
        assert!(matches!(
            decode_message(Some(&msg.headers()), Some(b"AAPL"), Some(b"{"), now()),
            Err(MessageError::Decode(_))
        ));
    }
}
