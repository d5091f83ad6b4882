//! Record ids: how duplicates are recognised.
//!
//! An id is a 128-bit XXH3 hash of everything a record says about the market (every field but
//! `id` and `ingest_ts`), written as 32 lower-case hex digits. So the same trade fetched twice
//! (a WebSocket reconnect replaying, a REST poll overlapping the last one) gets the same id,
//! while a corrected bar (same start, new values) gets a new one and is kept. Ids depend on no
//! state and no clock, so producers on different machines agree on them.
//!
//! Hashing is not cryptographic: ids identify, they do not authenticate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use xxhash_rust::xxh3::Xxh3;

const HEX_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(u128);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {HEX_LEN} lower-case hex digits, got `{0}`")]
pub struct RecordIdError(String);

impl RecordId {
    /// Placeholder while a constructor builds a record, replaced by its derived id before the
    /// record is handed out.
    pub const UNSET: RecordId = RecordId(0);

    pub fn parse(text: &str) -> Result<Self, RecordIdError> {
        let well_formed = text.len() == HEX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(RecordIdError(text.to_owned()));
        }
        u128::from_str_radix(text, 16)
            .map(Self)
            .map_err(|_| RecordIdError(text.to_owned()))
    }

    pub fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex()).unwrap_or_default())
    }
}

impl RecordId {
    /// The 32 hex digits, without going through `fmt` (ids are written once per record).
    pub fn hex(self) -> [u8; HEX_LEN] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0_u8; HEX_LEN];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0.to_be_bytes()) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        out
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        s.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::text::parse_str(d, "a record id", RecordId::parse)
    }
}

impl schemars::JsonSchema for RecordId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RecordId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "XXH3-128 of every field except id and ingest_ts (see crates/record/src/id.rs); equal ids mean duplicate records",
            "pattern": "^[0-9a-f]{32}$"
        })
    }
}

/// Builds an id from a record's identifying fields, in a fixed order. Each part is written with
/// its length first, so no choice of field values can make two different records hash alike by
/// shifting text from one field into the next.
///
/// The parts are gathered in a stack buffer and hashed in one call: XXH3's one-shot digest
/// equals its streaming digest of the same bytes, and is several times cheaper for the ~100
/// bytes of a record than a dozen streaming updates (the sink re-hashes every record it reads).
/// Parts that do not fit the buffer go through the streaming hasher.
pub(crate) struct IdHasher {
    buf: [u8; INLINE],
    len: usize,
    spill: Option<Box<Xxh3>>,
}

/// Bytes hashed without the streaming hasher: every record the sources build fits.
const INLINE: usize = 256;

impl IdHasher {
    pub(crate) fn new(kind: &str) -> Self {
        let mut hasher = Self {
            buf: [0; INLINE],
            len: 0,
            spill: None,
        };
        hasher.part(kind);
        hasher
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(stream) = &mut self.spill {
            stream.update(bytes);
            return;
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => {
                let mut stream = Box::new(Xxh3::new());
                stream.update(&self.buf[..self.len]);
                stream.update(bytes);
                self.spill = Some(stream);
            }
        }
    }

    pub(crate) fn part(&mut self, text: impl AsRef<str>) -> &mut Self {
        let text = text.as_ref();
        self.update(&(text.len() as u64).to_le_bytes());
        self.update(text.as_bytes());
        self
    }

    /// A number, as fixed-width bytes (prices and sizes go in as their scaled integers,
    /// timestamps as nanoseconds: exact, canonical, and cheaper than text).
    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.update(&8_u64.to_le_bytes());
        self.update(&value.to_le_bytes());
        self
    }

    pub(crate) fn finish(&self) -> RecordId {
        match &self.spill {
            Some(stream) => RecordId(stream.digest128()),
            None => RecordId(xxhash_rust::xxh3::xxh3_128(&self.buf[..self.len])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let id = IdHasher::new("trade").part("AAPL").finish();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(RecordId::parse(&text).unwrap(), id);
    }

    #[test]
    fn fast_hex_matches_display() {
        for v in [
            0_u128,
            1,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            let id = RecordId(v);
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
            assert_eq!(id.to_string(), format!("{v:032x}"));
        }
    }

    #[test]
    fn one_shot_equals_streaming_at_every_length() {
        // Short and long parts, across the inline buffer's limit.
        for n in [0_usize, 1, 40, 100, 230, 240, 250, 300, 1000] {
            let text = "x".repeat(n);
            let mut stream = Xxh3::new();
            for bytes in [&b"trade"[..], text.as_bytes()] {
                stream.update(&(bytes.len() as u64).to_le_bytes());
                stream.update(bytes);
            }
            stream.update(&8_u64.to_le_bytes());
            stream.update(&(-7_i64).to_le_bytes());
            let ours = IdHasher::new("trade").part(&text).int(-7).finish();
            assert_eq!(ours, RecordId(stream.digest128()), "part of {n} bytes");
        }
    }

    #[test]
    fn field_boundaries_matter() {
        let a = IdHasher::new("trade").part("AB").part("C").finish();
        let b = IdHasher::new("trade").part("A").part("BC").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(RecordId::parse("").is_err());
        assert!(RecordId::parse(&"A".repeat(32)).is_err());
        assert!(RecordId::parse(&"0".repeat(31)).is_err());
        assert!(RecordId::parse(&"g".repeat(32)).is_err());
    }
}
