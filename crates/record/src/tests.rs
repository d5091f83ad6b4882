//! Tests of whole records: wire round trips, validation messages, ids.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    ts("2026-11-26T15:00:00Z")
}

fn trade() -> Trade {
    Trade::new(
        Provider::Finnhub,
        Symbol::new("AAPL").unwrap(),
        ts("2026-11-26T14:30:00.123456789Z"),
        ts("2026-11-26T14:30:00.2Z"),
        "189.13".parse().unwrap(),
        "100".parse().unwrap(),
    )
    .with_exchange("Q")
    .with_conditions(vec!["@".into(), "T".into()])
}

fn bar() -> Bar {
    Bar::new(
        Provider::Yahoo,
        Symbol::new("MSFT").unwrap(),
        ts("2026-11-26T14:30:00Z"),
        ts("2026-11-26T14:31:00.5Z"),
        "1m".parse().unwrap(),
        Ohlc {
            open: "420.10".parse().unwrap(),
            high: "420.55".parse().unwrap(),
            low: "419.9".parse().unwrap(),
            close: "420.2".parse().unwrap(),
        },
        "12345".parse().unwrap(),
    )
}

fn quote() -> Quote {
    Quote::new(
        Provider::Alpaca,
        Symbol::new("NVDA").unwrap(),
        ts("2026-11-26T14:30:00.000001Z"),
        ts("2026-11-26T14:30:00.01Z"),
        "140.01".parse().unwrap(),
        "300".parse().unwrap(),
        "140.02".parse().unwrap(),
        "200".parse().unwrap(),
    )
}

#[test]
fn every_kind_round_trips_through_json_exactly() {
    for record in [
        Record::from(trade()),
        Record::from(quote()),
        Record::from(bar()),
    ] {
        let bytes = record.to_json();
        let back = Record::from_json(&bytes, now()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.to_json(), bytes, "re-serialising changes nothing");
    }
}

#[test]
fn wire_form_is_documented_shape() {
    let json: serde_json::Value = serde_json::from_slice(&Record::from(trade()).to_json()).unwrap();
    assert_eq!(json["kind"], "trade");
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        json["price"], "189.13",
        "prices travel as exact decimal strings"
    );
    assert_eq!(json["event_ts"], "2026-11-26T14:30:00.123456789Z");
    assert_eq!(json["provider"], "finnhub");
    assert_eq!(json["conditions"], serde_json::json!(["@", "T"]));
}

#[test]
fn ids_ignore_ingest_time_but_nothing_else() {
    let a = trade();
    let mut later = a.clone();
    later.ingest_ts += Duration::seconds(5);
    assert_eq!(
        later.derive_id(),
        a.id,
        "a repeat fetched later is the same record"
    );
    let other = Trade::new(
        a.provider,
        a.symbol.clone(),
        a.event_ts,
        a.ingest_ts,
        "189.14".parse().unwrap(),
        a.size,
    )
    .with_exchange("Q")
    .with_conditions(a.conditions.clone());
    assert_ne!(other.id, a.id);
    assert_ne!(a.clone().with_trade_id("42").id, a.id);
}

#[test]
fn tampered_id_is_rejected_naming_the_field() {
    let mut json: serde_json::Value =
        serde_json::from_slice(&Record::from(trade()).to_json()).unwrap();
    json["price"] = "189.14".into();
    let err = Record::from_json(json.to_string().as_bytes(), now()).unwrap_err();
    match err {
        DecodeError::Invalid(e) => assert_eq!(e.field, "id"),
        other => panic!("unexpected {other:?}"),
    }
}

/// Takes a valid trade's JSON, changes one field, and returns the error's field name.
fn field_of_error(field: &str, value: serde_json::Value) -> (String, String) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&Record::from(trade()).to_json()).unwrap();
    json[field] = value;
    match Record::from_json(json.to_string().as_bytes(), now()) {
        Err(DecodeError::Invalid(e)) => (e.field, e.problem),
        other => panic!("{field}: expected a field error, got {other:?}"),
    }
}

#[test]
fn validation_errors_name_the_field() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("price", "0".into(), "greater than zero"),
        ("price", "-3.5".into(), "greater than zero"),
        ("price", "NaN".into(), "not a decimal"),
        ("price", "1.123456789".into(), "fractional digits"),
        ("size", "-1".into(), "negative"),
        ("symbol", "".into(), "empty"),
        ("symbol", "aapl".into(), "does not match"),
        ("event_ts", "1970-01-20T12:00:00Z".into(), "before 1971"),
        (
            "event_ts",
            "2126-01-01T00:00:00Z".into(),
            "more than a day after now",
        ),
        ("ingest_ts", "1970-01-01T00:00:00Z".into(), "before 1971"),
        ("provider", "bloomberg".into(), "unknown variant"),
        ("schema_version", 2.into(), "unsupported schema_version 2"),
        ("exchange", "NOT A CODE".into(), "printable ASCII"),
    ];
    for (field, value, expected) in cases {
        let (got_field, problem) = field_of_error(field, value.clone());
        assert_eq!(got_field, field, "for {field}={value}: {problem}");
        assert!(
            problem.contains(expected),
            "for {field}={value}: `{problem}` lacks `{expected}`"
        );
    }
}

#[test]
fn nan_as_json_number_is_impossible_but_huge_floats_are_refused() {
    let (field, problem) = field_of_error("price", serde_json::json!(1e300));
    assert_eq!(field, "price");
    assert!(problem.contains("too large"), "{problem}");
}

#[test]
fn bar_ohlc_must_be_consistent() {
    let mut b = bar();
    b.high = "419.0".parse().unwrap();
    b.id = b.derive_id();
    let err = Record::from(b).validate(now()).unwrap_err();
    assert_eq!(err.field, "high");
}

#[test]
fn crossed_quotes_are_kept() {
    let mut q = quote();
    q.bid_price = "140.05".parse().unwrap();
    q.id = q.derive_id();
    Record::from(q).validate(now()).unwrap();
}

#[test]
fn unknown_kind_and_garbage_are_malformed() {
    assert!(matches!(
        Record::parse_json(b"not json"),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        Record::parse_json(br#"{"kind":"option"}"#),
        Err(DecodeError::Malformed(_)) | Err(DecodeError::Invalid(_))
    ));
    let err = Record::parse_json(br#"{"kind":"option"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("option"), "{err}");
}

#[test]
fn unknown_fields_are_refused() {
    let mut json: serde_json::Value =
        serde_json::from_slice(&Record::from(trade()).to_json()).unwrap();
    json["surprise"] = 1.into();
    assert!(Record::parse_json(json.to_string().as_bytes()).is_err());
}

#[test]
fn provider_numbers_are_accepted_exactly() {
    // Providers send JSON numbers; they must come out as the decimal text they wrote.
    let mut json: serde_json::Value =
        serde_json::from_slice(&Record::from(trade()).to_json()).unwrap();
    json["price"] = serde_json::json!(189.13);
    let r = Record::parse_json(json.to_string().as_bytes()).unwrap();
    match r {
        Record::Trade(t) => assert_eq!(t.price.to_string(), "189.13"),
        _ => unreachable!(),
    }
}

#[test]
fn plausibility_window_edges() {
    let start = earliest_plausible();
    assert!(check_plausible(start, now()).is_ok());
    assert!(check_plausible(start - Duration::nanoseconds(1), now()).is_err());
    assert!(check_plausible(now() + MAX_FUTURE_SKEW, now()).is_ok());
    assert!(check_plausible(now() + MAX_FUTURE_SKEW + Duration::nanoseconds(1), now()).is_err());
    assert_eq!(start, Utc.with_ymd_and_hms(1971, 2, 8, 0, 0, 0).unwrap());
}

/// What validation lets through must be encodable in every lake format: a record that passes
/// here and fails in the encoder would stop its partition at every restart (review of the
/// sink, H4). So a condition with the CSV list separator, and a trade count beyond BIGINT, are
/// refused here, naming the field, and go to the dead-letter topic.
#[test]
fn values_no_lake_format_can_hold_are_refused() {
    let t = trade().with_conditions(vec!["F|T".into()]);
    let err = Record::from(t).validate(now()).unwrap_err();
    assert_eq!(err.field, "conditions[0]");
    assert!(err.problem.contains('|'), "{}", err.problem);

    let b = bar().with_stats(None, Some(u64::MAX));
    let err = Record::from(b).validate(now()).unwrap_err();
    assert_eq!(err.field, "trade_count");

    let b = bar().with_stats(None, Some(i64::MAX as u64));
    assert_eq!(Record::from(b).validate(now()), Ok(()));
}
