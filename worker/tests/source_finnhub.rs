//! Finnhub source against the local replay server: WebSocket trades and the REST fallback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use stockfeed_producer::source::finnhub::{FinnhubConfig, FinnhubSource};
use stockfeed_producer::source::{SourceConfig, SourceHealth};
use stockfeed_record::{Bar, BarInterval, Ohlc, Provider, Record, Symbol, Trade};
use support::provider_server::*;

const TOKEN: &str = "fh-test-token-5f3a9c";

fn tickers() -> Vec<Symbol> {
    vec![Symbol::new("AAPL").unwrap(), Symbol::new("MSFT").unwrap()]
}

fn config(server: &ProviderServer, secret: &SecretFile, mode: &str) -> FinnhubConfig {
    let yaml = format!(
        "provider: finnhub\nmode: {mode}\nbaseUrl: {}/api/v1\nwsUrl: {}/\npollInterval: 200ms\nrequestTimeout: 500ms\nreadTimeout: 1s\nunauthorizedRetry: 1500ms\nrateLimit: {{requests: 100, per: 1s}}\nbackoff: {{initial: 50ms, max: 200ms}}\ntoken: {{file: {}}}\n",
        server.http_url(),
        server.ws_url(),
        secret.path.display()
    );
    match serde_yaml::from_str::<SourceConfig>(&yaml).unwrap() {
        SourceConfig::Finnhub(c) => c,
        other => panic!("{other:?}"),
    }
}

fn source(c: FinnhubConfig) -> Box<FinnhubSource> {
    Box::new(FinnhubSource::new(c, tickers()).unwrap())
}

fn trade(symbol: &str, ms: i64, price: &str, size: &str, conditions: &[&str]) -> Record {
    let t = Trade::new(
        Provider::Finnhub,
        Symbol::new(symbol).unwrap(),
        Utc.timestamp_millis_opt(ms).unwrap(),
        ingest(),
        price.parse().unwrap(),
        size.parse().unwrap(),
    );
    let t = if conditions.is_empty() {
        t
    } else {
        t.with_conditions(conditions.iter().map(|c| c.to_string()).collect())
    };
    t.into()
}

fn subscribes(messages: &[String]) -> Vec<String> {
    let mut s: Vec<String> = messages
        .iter()
        .filter(|m| m.contains("\"subscribe\""))
        .cloned()
        .collect();
    s.sort();
    s
}

const SUBSCRIBED: [&str; 2] = [
    r#"{"symbol":"AAPL","type":"subscribe"}"#,
    r#"{"symbol":"MSFT","type":"subscribe"}"#,
];

/// Accepts, waits for both subscriptions, sends the given fixtures, then keeps reading.
fn happy_session(fixtures: &'static [&'static str]) -> WsPlan {
    accept(move |mut conn| async move {
        conn.recv(Duration::from_secs(2)).await;
        conn.recv(Duration::from_secs(2)).await;
        for f in fixtures {
            conn.send_fixture("finnhub", f).await;
        }
        conn.idle(Duration::from_secs(8)).await;
    })
}

#[tokio::test]
async fn ws_happy_path_emits_exactly_the_fixture_trades_and_unsubscribes_on_shutdown() {
    let server = ProviderServer::ws_only(|_, _| {
        happy_session(&["ws_ping.json", "ws_trades_aapl_msft.json"])
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "stream")));
    let items = running.take(3, Duration::from_secs(5)).await;
    assert_eq!(
        records(&items),
        vec![
            trade("AAPL", 1764167400123, "189.13", "100", &["1", "12"]),
            trade("MSFT", 1764167400456, "411.2", "5.5", &[]),
            trade("AAPL", 1764167400789, "189.14", "0.5", &[]),
        ]
    );
    assert_eq!(*running.health.borrow(), SourceHealth::Ready);
    let req = &server.requests()[0];
    assert_eq!(req.query.get("token").map(String::as_str), Some(TOKEN));
    running.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = &server.ws_messages()[0];
    assert_eq!(subscribes(sent), SUBSCRIBED);
    let unsubscribed: Vec<&String> = sent.iter().filter(|m| m.contains("unsubscribe")).collect();
    assert_eq!(unsubscribed.len(), 2, "{sent:?}");
}

#[tokio::test]
async fn ws_bad_payloads_are_rejected_with_raw_bytes_and_the_stream_goes_on() {
    let server = ProviderServer::ws_only(|_, _| {
        happy_session(&[
            "ws_malformed_price.json",
            "ws_truncated.json",
            "ws_not_json.txt",
            "ws_trade_documented.json",
            "ws_trade_documented_no_c.json",
            "ws_error_too_many_symbols.json",
            "ws_trades_aapl_later.json",
        ])
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "stream")));
    let items = running.take(7, Duration::from_secs(5)).await;
    let rejected = rejections(&items);
    assert_eq!(rejected.len(), 6, "{items:#?}");
    let expect = [
        ("ws_malformed_price.json", "data[0].p"),
        ("ws_truncated.json", "malformed JSON"),
        ("ws_not_json.txt", "malformed JSON"),
        ("ws_trade_documented.json", "data[0].s"),
        ("ws_trade_documented_no_c.json", "data[0].s"),
        (
            "ws_error_too_many_symbols.json",
            "Subscribing to too many symbols",
        ),
    ];
    for (r, (file, needle)) in rejected.iter().zip(expect) {
        assert_eq!(r.raw, fixture("finnhub", file), "{}", r.reason);
        assert!(r.reason.contains(needle), "{file}: {}", r.reason);
        assert_eq!(r.provider, Provider::Finnhub);
    }
    assert_eq!(
        records(&items),
        vec![trade("AAPL", 1764167401000, "189.2", "10", &[])]
    );
    running.stop().await;
}

#[tokio::test]
async fn ws_disconnect_mid_stream_reconnects_and_resubscribes() {
    let server = ProviderServer::ws_only(|_, n| {
        if n == 0 {
            accept(|mut conn| async move {
                conn.recv(Duration::from_secs(2)).await;
                conn.recv(Duration::from_secs(2)).await;
                conn.send_fixture("finnhub", "ws_trades_aapl_msft.json")
                    .await;
                conn.drop_connection();
            })
        } else {
            happy_session(&["ws_trades_aapl_later.json"])
        }
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "stream")));
    let items = running.take(4, Duration::from_secs(6)).await;
    assert_eq!(
        records(&items).last(),
        Some(&trade("AAPL", 1764167401000, "189.2", "10", &[]))
    );
    let conns = server.ws_messages();
    assert_eq!(conns.len(), 2);
    assert_eq!(subscribes(&conns[0]), SUBSCRIBED);
    assert_eq!(
        subscribes(&conns[1]),
        SUBSCRIBED,
        "re-subscribed after reconnecting"
    );
    running.stop().await;
}

#[tokio::test]
async fn ws_silent_server_is_detected_by_the_read_timeout_and_replaced() {
    let server = ProviderServer::ws_only(|_, n| {
        if n == 0 {
            accept(|conn| conn.stall(Duration::from_secs(8)))
        } else {
            happy_session(&["ws_trades_aapl_later.json"])
        }
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let started = Instant::now();
    let mut running = run(source(config(&server, &secret, "stream")));
    let items = running.take(1, Duration::from_secs(6)).await;
    assert_eq!(
        records(&items),
        vec![trade("AAPL", 1764167401000, "189.2", "10", &[])]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for the 1 s read timeout"
    );
    assert_eq!(server.ws_messages().len(), 2);
    running.stop().await;
}

#[tokio::test]
async fn ws_invalid_key_is_unauthorized_and_retried_slowly_with_the_rotated_secret() {
    let server = ProviderServer::ws_only(|seen, _| {
        if seen.query.get("token").map(String::as_str) == Some("rotated-good-token") {
            happy_session(&["ws_trades_aapl_later.json"])
        } else {
            WsPlan::Refuse(Reply::new(
                401,
                fixture("finnhub", "error_invalid_key.json"),
            ))
        }
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "stream")));
    let health = running
        .wait_health(Duration::from_secs(3), |h| {
            matches!(h, SourceHealth::Unauthorized(_))
        })
        .await;
    assert!(
        format!("{health:?}").contains("Invalid API key."),
        "{health:?}"
    );
    assert!(!format!("{health:?}").contains(TOKEN));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attempts = server.requests().len();
    assert!(
        (1..=2).contains(&attempts),
        "unauthorizedRetry is 1.5 s, yet {attempts} attempts in 2 s"
    );
    secret.rotate("rotated-good-token");
    let items = running.take(1, Duration::from_secs(4)).await;
    assert_eq!(
        records(&items),
        vec![trade("AAPL", 1764167401000, "189.2", "10", &[])]
    );
    running
        .wait_health(Duration::from_secs(1), |h| *h == SourceHealth::Ready)
        .await;
    running.stop().await;
}

#[tokio::test]
async fn ws_rate_limited_upgrade_honours_retry_after() {
    let server = ProviderServer::ws_only(|_, n| {
        if n == 0 {
            WsPlan::Refuse(
                Reply::new(429, fixture("finnhub", "error_rate_limit.json"))
                    .header("retry-after", "2"),
            )
        } else {
            happy_session(&["ws_trades_aapl_later.json"])
        }
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "stream")));
    running.take(1, Duration::from_secs(6)).await;
    let reqs = server.requests();
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, Retry-After said 2 s"
    );
    assert!(gap < Duration::from_secs(3), "{gap:?}");
    running.stop().await;
}

// ---- REST fallback ----

fn bar_day(ms_start: i64, o: &str, h: &str, l: &str, c: &str) -> Record {
    bar_day_of("AAPL", ms_start, o, h, l, c)
}

fn bar_day_of(symbol: &str, ms_start: i64, o: &str, h: &str, l: &str, c: &str) -> Record {
    Bar::new(
        Provider::Finnhub,
        Symbol::new(symbol).unwrap(),
        Utc.timestamp_millis_opt(ms_start).unwrap(),
        ingest(),
        BarInterval::from_seconds(86_400).unwrap(),
        Ohlc {
            open: o.parse().unwrap(),
            high: h.parse().unwrap(),
            low: l.parse().unwrap(),
            close: c.parse().unwrap(),
        },
        "0".parse().unwrap(),
    )
    .into()
}

fn quote_server(msft: &'static str) -> impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static {
    move |seen, _| match seen.query.get("symbol").map(String::as_str) {
        Some("AAPL") => Reply::ok(fixture("finnhub", "quote_documented.json")),
        _ => Reply::ok(fixture("finnhub", msft)),
    }
}

#[tokio::test]
async fn poll_emits_a_day_bar_once_and_rejects_all_zero_and_incomplete_quotes() {
    let server = ProviderServer::http_only(quote_server("quote_unknown_symbol.json")).await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "poll")));
    let items = running.collect_for(Duration::from_millis(900)).await;
    // 1582641000 = 2020-02-25 14:30 UTC; that New York day starts at 05:00 UTC.
    assert_eq!(
        records(&items),
        vec![bar_day(
            1582606800000,
            "261.07",
            "263.31",
            "260.68",
            "261.74"
        )],
        "emitted once across polls"
    );
    let rejected = rejections(&items);
    assert!(
        rejected.len() >= 2,
        "the unknown symbol is rejected on every poll and polling goes on"
    );
    assert!(
        rejected[0].reason.contains("all zeros"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(
        rejected[0].raw,
        fixture("finnhub", "quote_unknown_symbol.json")
    );
    let r = &server.requests()[0];
    assert_eq!(r.path, "/api/v1/quote");
    assert_eq!(r.query.get("token").map(String::as_str), Some(TOKEN));
    running.stop().await;

    let server = ProviderServer::http_only(quote_server("quote_current_shape.json")).await;
    let mut running = run(source(config(&server, &secret, "poll")));
    let items = running.take(2, Duration::from_secs(3)).await;
    let rejected = rejections(&items);
    assert!(
        rejected[0].reason.contains("`o`"),
        "the current shape has no `o`: {}",
        rejected[0].reason
    );
    running.stop().await;
}

#[tokio::test]
async fn poll_invalid_key_is_unauthorized_without_a_tight_loop() {
    let server = ProviderServer::http_only(|_, _| {
        Reply::new(401, fixture("finnhub", "error_invalid_key.json"))
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "poll")));
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
async fn poll_rate_limit_honours_retry_after() {
    let server = ProviderServer::http_only(|seen, n| {
        if n == 0 {
            Reply::new(429, fixture("finnhub", "error_rate_limit.json")).header("retry-after", "1")
        } else {
            quote_server("quote_documented.json")(seen, n)
        }
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "poll")));
    running.take(1, Duration::from_secs(4)).await;
    let reqs = server.requests();
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(1800),
        "{gap:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn poll_truncated_body_slow_server_and_dropped_connection_are_survived() {
    let server = ProviderServer::http_only(|seen, n| match n {
        0 => Reply::ok(fixture("finnhub", "quote_documented.json")).delayed(Duration::from_secs(2)),
        1 => Reply::ok(fixture("finnhub", "quote_documented.json")).cut_after(20),
        2 => Reply::ok(fixture("finnhub", "quote_truncated.json")),
        _ => quote_server("quote_documented.json")(seen, n),
    })
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut running = run(source(config(&server, &secret, "poll")));
    let items = running.take(3, Duration::from_secs(5)).await;
    let rejected = rejections(&items);
    assert_eq!(rejected.len(), 1, "{items:#?}");
    assert!(
        rejected[0].reason.contains("malformed JSON"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(rejected[0].raw, fixture("finnhub", "quote_truncated.json"));
    assert_eq!(
        records(&items),
        vec![
            bar_day_of(
                "MSFT",
                1582606800000,
                "261.07",
                "263.31",
                "260.68",
                "261.74"
            ),
            bar_day(1582606800000, "261.07", "263.31", "260.68", "261.74"),
        ]
    );
    let reqs = server.requests();
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_millis(500),
        "the slow answer was given up after requestTimeout"
    );
    assert!(
        reqs[1].at - reqs[0].at < Duration::from_millis(1500),
        "and retried before the server would have answered"
    );
    assert_eq!(
        reqs[1].query.get("symbol").map(String::as_str),
        Some("AAPL"),
        "cut-off answer retried"
    );
    assert_eq!(
        reqs[2].query.get("symbol").map(String::as_str),
        Some("AAPL")
    );
    running.stop().await;
}

#[tokio::test]
async fn the_token_never_reaches_logs_health_or_rejections() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let server = ProviderServer::start(
        |_, n| {
            if n == 0 {
                Reply::new(401, fixture("finnhub", "error_invalid_key.json"))
            } else {
                Reply::ok(fixture("finnhub", "quote_truncated.json"))
            }
        },
        |_, _| happy_session(&["ws_truncated.json"]),
    )
    .await;
    let secret = SecretFile::new(TOKEN);
    let mut c = config(&server, &secret, "poll");
    c.unauthorized_retry = Duration::from_millis(100);
    let mut running = run(source(c));
    let mut items = running.take(1, Duration::from_secs(3)).await;
    running.stop().await;
    let mut running = run(source(config(&server, &secret, "stream")));
    items.extend(running.take(1, Duration::from_secs(3)).await);
    running.stop().await;
    let text = logs.text();
    assert!(
        text.contains("finnhub"),
        "the subscriber captured the source's logs: {text}"
    );
    assert!(!text.contains(TOKEN), "token leaked into logs:\n{text}");
    for r in rejections(&items) {
        assert!(!r.reason.contains(TOKEN));
    }
}
