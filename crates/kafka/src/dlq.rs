//! Dead-letter messages: what could not become a valid record, kept with the reason.
//!
//! The value is the raw bytes exactly as received (a provider payload, a replay line, or the
//! record's JSON when a later check refused it), so nothing is lost and a fixed parser can
//! replay the topic. Everything else travels in headers:
//!
//! - `sf-dlq-reason`: why, naming the field where there is one;
//! - `sf-dlq-stage`: `source` (the payload never became a record), `validation` (the producer
//!   refused a record), or `delivery` (Kafka refused the record permanently);
//! - `sf-provider`: the provider it came from;
//! - `sf-dlq-time`: when it was dead-lettered (RFC 3339 UTC).
//!
//! The key is the symbol when one is known, so a symbol's dead letters stay in order.

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, OwnedHeaders};

use stockfeed_record::Provider;

pub const HEADER_REASON: &str = "sf-dlq-reason";
pub const HEADER_STAGE: &str = "sf-dlq-stage";
pub const HEADER_PROVIDER: &str = "sf-provider";
pub const HEADER_TIME: &str = "sf-dlq-time";

/// Where in the pipeline a dead letter was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Source,
    Validation,
    Delivery,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Validation => "validation",
            Stage::Delivery => "delivery",
        }
    }
}

/// One dead letter, ready to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub reason: String,
    pub stage: Stage,
    pub provider: Provider,
    pub time: DateTime<Utc>,
}

/// Longest reason kept in a header; a provider error page can be large and the raw payload is
/// in the value anyway.
const MAX_REASON: usize = 2048;

impl DeadLetter {
    pub fn headers(&self) -> OwnedHeaders {
        let mut reason = self.reason.as_str();
        if reason.len() > MAX_REASON {
            let mut cut = MAX_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason = &reason[..cut];
        }
        let time = self
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: HEADER_REASON,
                value: Some(reason),
            })
            .insert(Header {
                key: HEADER_STAGE,
                value: Some(self.stage.as_str()),
            })
            .insert(Header {
                key: HEADER_PROVIDER,
                value: Some(self.provider.as_str()),
            })
            .insert(Header {
                key: HEADER_TIME,
                value: Some(time.as_str()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;
    use stockfeed_spec::kafka::dlq_topic;

    #[test]
    fn headers_carry_reason_stage_provider_and_truncate_long_reasons() {
        let letter = DeadLetter {
            key: None,
            payload: b"{not json".to_vec(),
            reason: "é".repeat(3000),
            stage: Stage::Source,
            provider: Provider::Finnhub,
            time: "2026-11-26T14:30:00Z".parse().unwrap(),
        };
        let headers = letter.headers();
        let get = |k: &str| {
            headers
                .iter()
                .find(|h| h.key == k)
                .and_then(|h| h.value)
                .map(|v| v.to_vec())
        };
        assert!(get(HEADER_REASON).unwrap().len() <= MAX_REASON);
        assert!(
            String::from_utf8(get(HEADER_REASON).unwrap()).is_ok(),
            "cut on a char boundary"
        );
        assert_eq!(get(HEADER_STAGE).unwrap(), b"source");
        assert_eq!(get(HEADER_PROVIDER).unwrap(), b"finnhub");
        assert_eq!(get(HEADER_TIME).unwrap(), b"2026-11-26T14:30:00.000Z");
        assert_eq!(dlq_topic("stocks.trades"), "stocks.trades.dlq");
    }
}
