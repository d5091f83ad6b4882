//! Alpha Vantage source against the local replay server. Every error is HTTP 200 here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::Duration;

use chrono::Utc;
use stockfeed_producer::source::alphavantage::{AlphaVantageConfig, AlphaVantageSource};
use stockfeed_producer::source::{SourceConfig, SourceHealth};
use stockfeed_record::{Bar, BarInterval, Ohlc, Provider, Record, Symbol};
use support::provider_server::*;

const KEY: &str = "AVKEY7781QZ";

fn config(server: &ProviderServer, secret: &SecretFile, function: &str) -> AlphaVantageConfig {
    let yaml = format!(
        "provider: alphavantage\nfunction: {function}\ninterval: 5min\nbaseUrl: {}/query\npollInterval: 200ms\nrequestTimeout: 500ms\nunauthorizedRetry: 1500ms\nrateLimitedPause: 1s\nrateLimit: {{requests: 100, per: 1s}}\nbackoff: {{initial: 50ms, max: 200ms}}\napiKey: {{file: {}}}\n",
        server.http_url(),
        secret.path.display()
    );
    match serde_yaml::from_str::<SourceConfig>(&yaml).unwrap() {
        SourceConfig::AlphaVantage(c) => c,
        other => panic!("{other:?}"),
    }
}

fn source(c: AlphaVantageConfig, symbols: &[&str]) -> Box<AlphaVantageSource> {
    Box::new(
        AlphaVantageSource::new(c, symbols.iter().map(|s| Symbol::new(s).unwrap()).collect())
            .unwrap(),
    )
}

fn bar(symbol: &str, start: &str, interval: &str, [o, h, l, c]: [&str; 4], v: &str) -> Record {
    Bar::new(
        Provider::AlphaVantage,
        Symbol::new(symbol).unwrap(),
        start.parse::<chrono::DateTime<Utc>>().unwrap(),
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

/// 19:55 US/Eastern on 2026-04-02 (daylight time) is 23:55 UTC.
fn ibm_bar() -> Record {
    bar(
        "IBM",
        "2026-04-02T23:55:00Z",
        "5m",
        ["248.39", "248.39", "248.21", "248.3"],
        "86",
    )
}

#[tokio::test]
async fn intraday_documented_sample_becomes_a_utc_bar_and_the_cut_entry_is_rejected() {
    let server = ProviderServer::http_only(|_, _| {
        Reply::ok(fixture("alphavantage", "intraday_5min_documented.json"))
    })
    .await;
    let secret = SecretFile::new(KEY);
    let mut running = run(source(config(&server, &secret, "intraday"), &["IBM"]));
    let items = running.collect_for(Duration::from_millis(700)).await;
    assert_eq!(
        records(&items),
        vec![ibm_bar()],
        "emitted once across polls"
    );
    let rejected = rejections(&items);
    assert!(!rejected.is_empty());
    assert!(
        rejected[0].reason.contains("2026-04-02 19:45:00")
            && rejected[0].reason.contains("4. close"),
        "{}",
        rejected[0].reason
    );
    let q = &server.requests()[0].query;
    assert_eq!(
        q.get("function").map(String::as_str),
        Some("TIME_SERIES_INTRADAY")
    );
    assert_eq!(q.get("interval").map(String::as_str), Some("5min"));
    assert_eq!(q.get("symbol").map(String::as_str), Some("IBM"));
    assert_eq!(q.get("apikey").map(String::as_str), Some(KEY));
    running.stop().await;
}

#[tokio::test]
async fn global_quote_becomes_a_day_bar_and_unknown_symbols_are_rejected() {
    let server =
        ProviderServer::http_only(
            |seen, _| match seen.query.get("symbol").map(String::as_str) {
                Some("AAPL") => Reply::ok(fixture("alphavantage", "global_quote_documented.json")),
                Some("MSFT") => {
                    Reply::ok(fixture("alphavantage", "global_quote_unknown_symbol.json"))
                }
                _ => Reply::ok(fixture("alphavantage", "error_invalid_call.json")),
            },
        )
        .await;
    let secret = SecretFile::new(KEY);
    let mut running = run(source(
        config(&server, &secret, "globalQuote"),
        &["AAPL", "MSFT", "ZZZZ"],
    ));
    let items = running.collect_for(Duration::from_millis(700)).await;
    // 2019-10-04 starts at midnight New York = 04:00 UTC.
    assert_eq!(
        records(&items),
        vec![bar(
            "AAPL",
            "2019-10-04T04:00:00Z",
            "1d",
            ["225.54", "226.19", "223.89", "225.97"],
            "9226278"
        )]
    );
    let rejected = rejections(&items);
    assert!(
        rejected.len() >= 4,
        "both unknown symbols rejected on each poll: {rejected:#?}"
    );
    assert!(
        rejected[0].reason.contains("`Global Quote` is empty"),
        "{}",
        rejected[0].reason
    );
    assert!(
        rejected[1].reason.contains("Invalid API call"),
        "{}",
        rejected[1].reason
    );
    assert_eq!(
        rejected[1].raw,
        fixture("alphavantage", "error_invalid_call.json")
    );
    assert_eq!(*running.health.borrow(), SourceHealth::Ready);
    running.stop().await;
}

#[tokio::test]
async fn invalid_key_in_a_200_body_is_unauthorized_without_a_tight_loop() {
    let server = ProviderServer::http_only(|_, _| {
        Reply::ok(fixture("alphavantage", "error_invalid_key.json"))
    })
    .await;
    let secret = SecretFile::new(KEY);
    let mut running = run(source(config(&server, &secret, "intraday"), &["IBM"]));
    let h = running
        .wait_health(Duration::from_secs(2), |h| {
            matches!(h, SourceHealth::Unauthorized(_))
        })
        .await;
    assert!(format!("{h:?}").contains("apikey is invalid"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = server.requests().len();
    assert!(
        (1..=2).contains(&n),
        "{n} requests in 2 s with unauthorizedRetry 1.5 s"
    );
    assert!(
        running
            .collect_for(Duration::from_millis(10))
            .await
            .is_empty(),
        "an error body is never data"
    );
    running.stop().await;
}

#[tokio::test]
async fn rate_limit_texts_pause_for_rate_limited_pause() {
    for limit in ["note_legacy_limit.json", "information_daily_limit.json"] {
        let server = ProviderServer::http_only(move |_, n| {
            if n == 0 {
                Reply::ok(fixture("alphavantage", limit))
            } else {
                Reply::ok(fixture("alphavantage", "intraday_5min_documented.json"))
            }
        })
        .await;
        let secret = SecretFile::new(KEY);
        let mut running = run(source(config(&server, &secret, "intraday"), &["IBM"]));
        running
            .wait_health(
                Duration::from_secs(1),
                |h| matches!(h, SourceHealth::Degraded(m) if m.contains("rate limit")),
            )
            .await;
        let items = running.take(2, Duration::from_secs(4)).await;
        assert_eq!(records(&items), vec![ibm_bar()]);
        let reqs = server.requests();
        let gap = reqs[1].at - reqs[0].at;
        assert!(
            gap >= Duration::from_secs(1) && gap < Duration::from_millis(1800),
            "{limit}: {gap:?}"
        );
        running.stop().await;
    }
}

#[tokio::test]
async fn malformed_truncated_slow_and_dropped_answers_are_survived() {
    let server = ProviderServer::http_only(|_, n| match n {
        0 => Reply::ok(fixture("alphavantage", "malformed.txt")),
        1 => Reply::ok(fixture("alphavantage", "intraday_5min_documented.json"))
            .delayed(Duration::from_secs(2)),
        2 => Reply::ok(fixture("alphavantage", "intraday_5min_documented.json")).cut_after(100),
        _ => Reply::ok(fixture("alphavantage", "intraday_5min_documented.json")),
    })
    .await;
    let secret = SecretFile::new(KEY);
    let mut running = run(source(config(&server, &secret, "intraday"), &["IBM"]));
    let items = running.take(3, Duration::from_secs(5)).await;
    let rejected = rejections(&items);
    assert!(
        rejected[0].reason.contains("malformed JSON"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(rejected[0].raw, fixture("alphavantage", "malformed.txt"));
    assert_eq!(records(&items), vec![ibm_bar()]);
    let reqs = server.requests();
    assert!(
        reqs[2].at - reqs[1].at >= Duration::from_millis(500),
        "slow answer abandoned after requestTimeout"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_key_echoed_by_the_provider_never_reaches_logs_health_or_rejections() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let server = ProviderServer::http_only(|seen, n| {
        let key = seen.query.get("apikey").cloned().unwrap_or_default();
        match n {
            0 => Reply::ok(
                fixture_text("alphavantage", "information_daily_limit_detected_key.json")
                    .replace("XXXX", &key),
            ),
            _ => Reply::ok(format!(
                "{{\"Error Message\": \"Invalid API call for {key}\"}}"
            )),
        }
    })
    .await;
    let secret = SecretFile::new(KEY);
    let mut running = run(source(config(&server, &secret, "intraday"), &["IBM"]));
    let h = running
        .wait_health(Duration::from_secs(1), |h| {
            matches!(h, SourceHealth::Degraded(_))
        })
        .await;
    assert!(format!("{h:?}").contains("<redacted>"), "{h:?}");
    let items = running.take(1, Duration::from_secs(3)).await;
    running.stop().await;
    assert!(!format!("{h:?}").contains(KEY));
    let text = logs.text();
    assert!(text.contains("alphavantage"), "{text}");
    assert!(!text.contains(KEY), "key leaked into logs:\n{text}");
    for r in rejections(&items) {
        assert!(!r.reason.contains(KEY), "{}", r.reason);
    }
}
