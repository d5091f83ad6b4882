//! Exact decimal quantities for prices and sizes.
//!
//! Why decimals and not `f64`: a price such as `189.13` has no exact binary representation, and
//! every conversion (provider JSON -> f64 -> JSON -> Parquet) can move the last digit. Readers of
//! the lake compare prices for equality (dedup, joins against reference data), so we keep the
//! decimal text the provider sent, exactly.
//!
//! Why at most 8 fractional digits and fewer than 10^10: the lake stores prices and sizes as
//! Parquet/Athena `DECIMAL(18, 8)`, which fits a signed 64-bit integer (fast to encode, compact,
//! and read natively by Athena, Trino, DuckDB and pyarrow). US equities quote in 1/10,000ths at the
//! finest; 8 places leave room for crypto-style sub-penny prices. Values that do not fit are
//! rejected with an error rather than silently rounded.
//!
//! On the wire (Kafka JSON) both types are JSON strings (`"189.13"`) so that no JSON parser along
//! the way, in any language, turns them into binary floats. Reading accepts JSON numbers too,
//! because provider payloads use them; a number is taken by its shortest round-trip text, which is
//! the text the provider wrote whenever it had 15 significant digits or fewer.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fractional digits kept by [`Price`] and [`Quantity`]; the scale of the lake's `DECIMAL(18, 8)`.
pub const SCALE: u32 = 8;

/// Exclusive upper bound of the integer part, so that `value * 10^SCALE` fits 18 digits.
const MAX_INTEGER_DIGITS: u32 = 10;

/// Why a decimal value was refused. The caller adds the field name (see `FieldError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("is not a decimal number: `{0}`")]
    NotANumber(String),
    #[error("must be greater than zero, got {0}")]
    NotPositive(Decimal),
    #[error("must not be negative, got {0}")]
    Negative(Decimal),
    #[error("has more than {SCALE} fractional digits: {0}")]
    TooPrecise(Decimal),
    #[error("is too large (at most 10 integer digits): {0}")]
    TooLarge(String),
}

/// Parses decimal text (plain or scientific notation) exactly and checks it fits `DECIMAL(18, 8)`.
fn parse_fitting(text: &str) -> Result<Decimal, DecimalError> {
    let trimmed = text.trim();
    if let Some(value) = parse_plain(trimmed.as_bytes()) {
        return Ok(value);
    }
    let parsed = if trimmed.contains(['e', 'E']) {
        Decimal::from_scientific(trimmed)
    } else {
        Decimal::from_str(trimmed)
    };
    let value = parsed.map_err(|_| DecimalError::NotANumber(text.to_owned()))?;
    check_fits(value)
}

/// The form producers write, `^[0-9]{1,10}(\.[0-9]{1,8})?$`, read digit by digit into an
/// already normalised `Decimal`; `None` for anything else (signs, exponents, more digits), which
/// `rust_decimal` then parses and `check_fits` judges. Two decimals per record made the general
/// parser plus normalisation a visible share of the sink's decoding.
fn parse_plain(b: &[u8]) -> Option<Decimal> {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b[b.len()..]),
    };
    let dotted = int.len() != b.len();
    if int.is_empty()
        || int.len() > MAX_INTEGER_DIGITS as usize
        || frac.len() > SCALE as usize
        || (dotted && frac.is_empty())
    {
        return None;
    }
    let mut mantissa: i64 = 0;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + i64::from(c - b'0');
    }
    // Normalise: drop trailing fractional zeros, as `Decimal::normalize` would.
    let mut scale = frac.len() as u32;
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    Some(Decimal::new(mantissa, scale))
}

fn check_fits(value: Decimal) -> Result<Decimal, DecimalError> {
    let value = value.normalize();
    if value.scale() > SCALE {
        return Err(DecimalError::TooPrecise(value));
    }
    if value.abs() >= Decimal::from(10_i64.pow(MAX_INTEGER_DIGITS)) {
        return Err(DecimalError::TooLarge(value.to_string()));
    }
    Ok(value)
}

/// Converts a binary float by its shortest round-trip text (see the module docs). Non-finite
/// values have no such text and are refused here, before any arithmetic sees them.
fn from_f64(value: f64) -> Result<Decimal, DecimalError> {
    if !value.is_finite() {
        return Err(DecimalError::NotANumber(value.to_string()));
    }
    if value.abs() >= 10_f64.powi(MAX_INTEGER_DIGITS as i32) {
        return Err(DecimalError::TooLarge(format!("{value:e}")));
    }
    // `Display` for f64 prints the shortest text that parses back to the same float, and never
    // uses an exponent, so `Decimal::from_str` can take it exactly.
    parse_fitting(&value.to_string())
}

/// `value * 10^SCALE` as an integer: the unscaled form of `DECIMAL(18, 8)`.
fn to_scaled(value: Decimal) -> i64 {
    // Values hold at most SCALE fractional digits, so scaling up is one multiplication.
    if let (Ok(mantissa), Some(factor)) = (
        i64::try_from(value.mantissa()),
        SCALE
            .checked_sub(value.scale())
            .and_then(|up| 10_i64.checked_pow(up)),
    ) && let Some(scaled) = mantissa.checked_mul(factor)
    {
        return scaled;
    }
    let mut scaled = value;
    scaled.rescale(SCALE);
    // In range by construction: |value| < 10^10 and scale <= 8 give |mantissa| < 10^18 < 2^63.
    i64::try_from(scaled.mantissa()).unwrap_or(i64::MAX)
}

macro_rules! exact_decimal {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Decimal);

        impl $name {
            /// Checks the sign rule and that the value fits `DECIMAL(18, 8)`.
            pub fn new(value: Decimal) -> Result<Self, DecimalError> {
                let value = check_fits(value)?;
                ($check)(value)?;
                Ok(Self(value))
            }

            /// Converts a float from a provider payload by its shortest round-trip text.
            pub fn from_f64(value: f64) -> Result<Self, DecimalError> {
                Self::new(from_f64(value)?)
            }

            /// Builds a value from its unscaled integer form (`value * 10^8`).
            pub fn from_scaled(units: i64) -> Result<Self, DecimalError> {
                Self::new(Decimal::new(units, SCALE))
            }

            /// The exact decimal value.
            pub fn get(self) -> Decimal {
                self.0
            }

            /// The unscaled `DECIMAL(18, 8)` integer, as Parquet stores it.
            pub fn to_scaled(self) -> i64 {
                to_scaled(self.0)
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                // `parse_fitting` already normalised and range-checked it.
                let value = parse_fitting(text)?;
                ($check)(value)?;
                Ok(Self(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        $name::from_f64(v).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        $name::new(Decimal::from(v)).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        $name::new(Decimal::from(v)).map_err(E::custom)
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": concat!(
                        $what,
                        ", exact decimal text with at most 8 fractional digits and at most 10 \
                         integer digits (DECIMAL(18, 8) in the lake)"
                    ),
                    "pattern": "^[0-9]{1,10}(\\.[0-9]{1,8})?$"
                })
            }
        }
    };
}

exact_decimal!(
    /// A strictly positive price, exact to 8 fractional digits.
    Price,
    |v: Decimal| if v > Decimal::ZERO { Ok(()) } else { Err(DecimalError::NotPositive(v)) },
    "a price greater than zero"
);

exact_decimal!(
    /// A non-negative size or volume, exact to 8 fractional digits (fractional shares exist).
    Quantity,
    |v: Decimal| if v >= Decimal::ZERO { Ok(()) } else { Err(DecimalError::Negative(v)) },
    "a size or volume of zero or more"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_decimal_text_exactly() {
        let p: Price = "189.13".parse().unwrap();
        assert_eq!(p.to_string(), "189.13");
        assert_eq!(p.to_scaled(), 18_913_000_000);
        assert_eq!(Price::from_scaled(18_913_000_000).unwrap(), p);
    }

    #[test]
    fn floats_become_their_shortest_text() {
        // 0.1 + 0.2 is the classic float artefact; a provider sending 0.3 means 0.3.
        assert_eq!(Price::from_f64(0.3).unwrap().to_string(), "0.3");
        assert_eq!(Price::from_f64(189.13).unwrap().to_string(), "189.13");
        let p: Price = serde_json::from_str("4.0005").unwrap();
        assert_eq!(p.to_string(), "4.0005");
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert_eq!(
            Price::from_f64(f64::NAN),
            Err(DecimalError::NotANumber("NaN".into()))
        );
        assert!(matches!(
            Price::from_f64(f64::INFINITY),
            Err(DecimalError::NotANumber(_))
        ));
        assert!(matches!(
            "0".parse::<Price>(),
            Err(DecimalError::NotPositive(_))
        ));
        assert!(matches!(
            "-1.5".parse::<Price>(),
            Err(DecimalError::NotPositive(_))
        ));
        assert!(matches!(
            "-1".parse::<Quantity>(),
            Err(DecimalError::Negative(_))
        ));
        assert!(matches!(
            "0.000000001".parse::<Price>(),
            Err(DecimalError::TooPrecise(_))
        ));
        assert!(matches!(
            "10000000000".parse::<Price>(),
            Err(DecimalError::TooLarge(_))
        ));
        assert!(matches!(
            "abc".parse::<Price>(),
            Err(DecimalError::NotANumber(_))
        ));
        assert!(serde_json::from_str::<Price>("\"1e400\"").is_err());
    }

    #[test]
    fn zero_quantity_is_allowed_and_trailing_zeros_normalise() {
        assert_eq!("0".parse::<Quantity>().unwrap().to_scaled(), 0);
        assert_eq!("100.000".parse::<Quantity>().unwrap().to_string(), "100");
        assert_eq!("1.5e2".parse::<Quantity>().unwrap().to_string(), "150");
    }

    #[test]
    fn plain_text_reads_as_the_general_parser_does() {
        let cases = [
            "0",
            "00",
            "0.0",
            "0.00000000",
            "1",
            "007",
            "189.13",
            "189.130",
            "100.000",
            "0.00000001",
            "9999999999.99999999",
            "1234567890",
            "0.5",
            "10",
            "10.10",
        ];
        for text in cases {
            let fast = parse_plain(text.as_bytes()).unwrap_or_else(|| panic!("{text}"));
            let general = check_fits(Decimal::from_str(text).unwrap()).unwrap();
            assert_eq!(fast, general, "{text}");
            assert_eq!(fast.scale(), general.scale(), "{text}");
            assert_eq!(fast.to_string(), general.to_string(), "{text}");
            assert_eq!(to_scaled(fast), {
                let mut r = general;
                r.rescale(SCALE);
                i64::try_from(r.mantissa()).unwrap()
            });
        }
        // Not the plain form: left to the general parser (and its errors).
        for text in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e2",
            "1.2.3",
            "12345678901",
            "0.123456789",
            "1,5",
            " 1",
            "١",
        ] {
            assert_eq!(parse_plain(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn largest_values_round_trip_through_scaled_form() {
        let max: Price = "9999999999.99999999".parse().unwrap();
        assert_eq!(max.to_scaled(), 999_999_999_999_999_999);
        assert_eq!(Price::from_scaled(max.to_scaled()).unwrap(), max);
    }
}
