//! Yahoo chart v8 source against the local replay server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use stockfeed_producer::source::yahoo::{YahooConfig, YahooSource};
use stockfeed_producer::source::{SourceConfig, SourceHealth};
use stockfeed_record::{Bar, BarInterval, Ohlc, Provider, Record, Symbol};
use support::provider_server::*;

fn config(server: &ProviderServer, interval: &str) -> YahooConfig {
    let yaml = format!(
        "provider: yahoo\nbaseUrl: {}\ninterval: {interval}\nrange: 1d\npollInterval: 200ms\nrequestTimeout: 500ms\nunauthorizedRetry: 1500ms\nrateLimit: {{requests: 100, per: 1s}}\nbackoff: {{initial: 50ms, max: 200ms}}\n",
        server.http_url()
    );
    match serde_yaml::from_str::<SourceConfig>(&yaml).unwrap() {
        SourceConfig::Yahoo(c) => c,
        other => panic!("{other:?}"),
    }
}

fn source(c: YahooConfig, symbols: &[&str]) -> Box<YahooSource> {
    Box::new(
        YahooSource::new(c, symbols.iter().map(|s| Symbol::new(s).unwrap()).collect()).unwrap(),
    )
}

fn bar(symbol: &str, start: i64, interval: &str, [o, h, l, c]: [&str; 4], v: &str) -> Record {
    Bar::new(
        Provider::Yahoo,
        Symbol::new(symbol).unwrap(),
        Utc.timestamp_opt(start, 0).unwrap(),
        ingest(),
        interval.parse::<BarInterval>().unwrap(),
        Ohlc {
            open: o.parse().unwrap(),
            high: h.parse().unwrap(),
            low: l.parse().unwrap(),
            close: c.parse().unwrap(),
        },
        v.parse().unwrap(),
    )
    .into()
}

fn msft_minute_bars() -> Vec<Record> {
    vec![
        bar(
            "MSFT",
            1764167400,
            "1m",
            ["227.5", "228.25", "227", "228"],
            "1200",
        ),
        bar(
            "MSFT",
            1764167520,
            "1m",
            ["229", "230.75", "228.75", "230.5"],
            "900",
        ),
    ]
}

#[tokio::test]
async fn documented_weekly_sample_emits_the_closed_bar_rounded_to_price_hint() {
    let server = ProviderServer::http_only(|_, _| {
        Reply::ok(fixture("yahoo", "chart_aapl_1wk_documented.json"))
    })
    .await;
    let mut running = run(source(config(&server, "1wk"), &["AAPL"]));
    let items = running.collect_for(Duration::from_millis(800)).await;
    // The second row is the week still forming (its time is meta.regularMarketTime): skipped.
    assert_eq!(
        records(&items),
        vec![bar(
            "AAPL",
            1726459200,
            "7d",
            ["217.55", "222.71", "217.54", "220.69"],
            "59788400"
        )]
    );
    assert!(rejections(&items).is_empty(), "{items:#?}");
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v8/finance/chart/AAPL");
    assert_eq!(r.query.get("interval").map(String::as_str), Some("1wk"));
    assert_eq!(r.query.get("range").map(String::as_str), Some("1d"));
    assert!(server.requests().len() >= 2, "kept polling");
    assert_eq!(*running.health.borrow(), SourceHealth::Ready);
    running.stop().await;
}

#[tokio::test]
async fn null_rows_are_skipped_not_rejected_and_unknown_symbols_rejected() {
    let server = ProviderServer::http_only(|seen, _| {
        if seen.path.ends_with("/MSFT") {
            Reply::ok(fixture("yahoo", "chart_msft_1m_with_nulls.json"))
        } else {
            Reply::new(404, fixture("yahoo", "chart_not_found.json"))
        }
    })
    .await;
    let mut running = run(source(config(&server, "1m"), &["MSFT", "ZZZZ"]));
    let items = running.collect_for(Duration::from_millis(800)).await;
    assert_eq!(records(&items), msft_minute_bars());
    let rejected = rejections(&items);
    assert!(
        rejected.len() >= 2,
        "unknown symbol rejected on each poll, polling continues: {items:#?}"
    );
    assert!(
        rejected[0]
            .reason
            .contains("No data found, symbol may be delisted"),
        "{}",
        rejected[0].reason
    );
    assert!(rejected[0].reason.contains("ZZZZ"));
    assert_eq!(rejected[0].raw, fixture("yahoo", "chart_not_found.json"));
    running.stop().await;
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = ProviderServer::http_only(|_, n| {
        if n == 0 {
            Reply::new(429, fixture("yahoo", "too_many_requests.txt")).header("retry-after", "1")
        } else {
            Reply::ok(fixture("yahoo", "chart_msft_1m_with_nulls.json"))
        }
    })
    .await;
    let mut running = run(source(config(&server, "1m"), &["MSFT"]));
    let items = running.take(2, Duration::from_secs(4)).await;
    assert_eq!(records(&items), msft_minute_bars());
    let reqs = server.requests();
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(1800),
        "{gap:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn blocked_client_is_unauthorized_and_retried_slowly() {
    let server = ProviderServer::http_only(|_, _| Reply::new(403, "Forbidden")).await;
    let mut running = run(source(config(&server, "1m"), &["MSFT"]));
    running
        .wait_health(Duration::from_secs(2), |h| {
            matches!(h, SourceHealth::Unauthorized(_))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = server.requests().len();
    assert!(
        (1..=2).contains(&n),
        "{n} requests in 2 s with unauthorizedRetry 1.5 s"
    );
    running.stop().await;
}

#[tokio::test]
async fn malformed_truncated_slow_and_dropped_answers_are_survived() {
    let server = ProviderServer::http_only(|_, n| match n {
        0 => Reply::ok(fixture("yahoo", "chart_truncated.json")),
        1 => Reply::ok("<html>not json</html>"),
        2 => Reply::ok(fixture("yahoo", "chart_msft_1m_with_nulls.json"))
            .delayed(Duration::from_secs(2)),
        3 => Reply::ok(fixture("yahoo", "chart_msft_1m_with_nulls.json")).cut_after(40),
        _ => Reply::ok(fixture("yahoo", "chart_msft_1m_with_nulls.json")),
    })
    .await;
    let mut running = run(source(config(&server, "1m"), &["MSFT"]));
    let items = running.take(4, Duration::from_secs(6)).await;
    let rejected = rejections(&items);
    assert_eq!(rejected.len(), 2, "{items:#?}");
    assert_eq!(rejected[0].raw, fixture("yahoo", "chart_truncated.json"));
    assert!(rejected[0].reason.contains("malformed JSON"));
    assert_eq!(rejected[1].raw, b"<html>not json</html>".to_vec());
    assert_eq!(records(&items), msft_minute_bars());
    let reqs = server.requests();
    assert!(
        reqs.len() >= 5,
        "slow and cut-off answers were retried: {}",
        reqs.len()
    );
    assert!(reqs[3].at - reqs[2].at >= Duration::from_millis(500));
    running.stop().await;
}
