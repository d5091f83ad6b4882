//! Reading record timestamps fast.
//!
//! Every record carries two timestamps, and chrono's general RFC 3339 parser was a tenth of the
//! sink's decoding time. Producers write one form only, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`; that
//! form is read here digit by digit, and anything else (offsets, lower-case `t`/`z`, a space,
//! leap seconds, more than nine fraction digits) goes to chrono, so what is accepted and how it
//! is read stays exactly chrono's.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Deserializer;

/// `#[serde(deserialize_with = "rfc3339::deserialize")]` for a `DateTime<Utc>` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    super::text::parse_str(d, "an RFC 3339 timestamp", parse)
}

/// Parses an RFC 3339 timestamp as chrono's `DateTime<Utc>` `FromStr` does.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_canonical(s.as_bytes()) {
        Some(ts) => Ok(ts),
        None => s.parse::<DateTime<Utc>>(),
    }
}

/// The canonical form only; `None` for anything else (chrono then decides).
fn parse_canonical(b: &[u8]) -> Option<DateTime<Utc>> {
    // YYYY-MM-DDTHH:MM:SS then an optional fraction, then Z.
    if b.len() < 20 || b.len() > 30 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0_u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(0..4)?;
    let (month, day) = (digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if second >= 60 {
        return None; // leap seconds: chrono's rules
    }
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            let value = digits(20..b.len() - 1)?;
            value * 10_u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(s: &str) -> Option<DateTime<Utc>> {
        s.parse::<DateTime<Utc>>().ok()
    }

    #[test]
    fn agrees_with_chrono_on_canonical_and_odd_forms() {
        let cases = [
            "2026-11-26T14:30:00Z",
            "2026-11-26T14:30:00.1Z",
            "2026-11-26T14:30:00.123456Z",
            "2026-11-26T14:30:00.123456789Z",
            "2026-11-26T14:30:00.1234567891Z",
            "2026-11-26T14:30:00.Z",
            "2026-11-26T14:30:60Z",
            "2026-11-26T23:59:59.999999999Z",
            "2024-02-29T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26t14:30:00z",
            "2026-11-26 14:30:00Z",
            "2026-11-26T14:30:00+02:00",
            "2026-11-26T14:30:00-00:00",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-1-26T14:30:00Z",
            "2026-11-26T14:30:0aZ",
            "+2026-11-26T14:30:00Z",
            "2026-11-26T14:30:00",
            "",
        ];
        for case in cases {
            assert_eq!(parse(case).ok(), chrono(case), "{case}");
        }
    }

    #[test]
    fn agrees_with_chrono_on_generated_timestamps() {
        // A cheap deterministic generator: every field including out-of-range values.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..20_000 {
            let fraction_len = next(11) as usize;
            let fraction: String = (0..fraction_len)
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            let s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{}Z",
                1960 + next(80),
                next(14),
                next(33),
                next(26),
                next(61),
                next(62),
                if fraction_len == 0 { "" } else { "." },
                fraction
            );
            assert_eq!(parse(&s).ok(), chrono(&s), "{s}");
        }
    }

    #[test]
    fn serde_field_uses_it_and_reports_bad_text() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "deserialize")]
            ts: DateTime<Utc>,
        }
        let t: T = serde_json::from_str(r#"{"ts":"2026-11-26T14:30:00.5Z"}"#).unwrap();
        assert_eq!(t.ts.timestamp_millis(), 1_795_703_400_500);
        let err = serde_json::from_str::<T>(r#"{"ts":"yesterday"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("input contains invalid characters"), "{err}");
        assert!(serde_json::from_str::<T>(r#"{"ts":5}"#).is_err());
    }
}
