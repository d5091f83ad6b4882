//! Fixed records of every kind, with optional fields both set and unset, for the tests of the
//! crates that encode, decode or store records (the sink's formats, the lake schema, the
//! canonical reader). Public because tests in other crates cannot see `cfg(test)` items; not
//! part of the record model's API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};

use crate::{Bar, Ohlc, Price, Provider, Quantity, Quote, Record, Symbol, Trade};

fn at(nanos: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 14, 30, 0)
        .single()
        .map(|t| t + chrono::Duration::nanoseconds(i64::from(nanos)))
        .unwrap_or_default()
}

fn p(text: &str) -> Price {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn q(text: &str) -> Quantity {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// One or two records of each kind, with optional fields both set and unset.
pub fn sample() -> Vec<Record> {
    let trade = Trade::new(
        Provider::Finnhub,
        sym("AAPL"),
        at(123_456_789),
        at(200_000_000),
        p("189.1234"),
        q("100"),
    );
    let full = trade
        .clone()
        .with_exchange("V")
        .with_conditions(vec!["@".into(), "I".into()])
        .with_trade_id("t-1");
    let quote = Quote::new(
        Provider::Alpaca,
        sym("MSFT"),
        at(5),
        at(9),
        p("412.01"),
        q("3"),
        p("412.02"),
        q("0.5"),
    );
    let ohlc = Ohlc {
        open: p("10"),
        high: p("11"),
        low: p("9.5"),
        close: p("10.25"),
    };
    let interval = "1m".parse().unwrap_or_else(|e| panic!("{e}"));
    let bar = Bar::new(
        Provider::Yahoo,
        sym("NVDA"),
        at(0),
        at(1),
        interval,
        ohlc,
        q("1000"),
    );
    let bar_stats = bar.clone().with_stats(Some(p("10.1")), Some(42));
    vec![
        full.into(),
        trade.into(),
        quote.into(),
        bar.into(),
        bar_stats.into(),
    ]
}
