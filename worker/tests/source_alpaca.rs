//! Alpaca v2 stream source against the local replay server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::{Duration, Instant};

use stockfeed_producer::source::alpaca::{AlpacaConfig, AlpacaSource};
use stockfeed_producer::source::{SourceConfig, SourceHealth};
use stockfeed_record::{Bar, BarInterval, Ohlc, Provider, Quote, Record, Symbol, Trade};
use support::provider_server::*;

const KEY_ID: &str = "PKTESTKEYID0042";
const SECRET: &str = "alpaca-secret-value-9d8e7f";

struct Creds {
    key: SecretFile,
    secret: SecretFile,
}

fn creds() -> Creds {
    Creds {
        key: SecretFile::new(KEY_ID),
        secret: SecretFile::new(SECRET),
    }
}

fn config(server: &ProviderServer, c: &Creds) -> AlpacaConfig {
    let yaml = format!(
        "provider: alpaca\nfeed: iex\nwsUrl: {}\nrequestTimeout: 500ms\nreadTimeout: 1s\nunauthorizedRetry: 1500ms\nbackoff: {{initial: 50ms, max: 200ms}}\nkeyId: {{file: {}}}\nsecretKey: {{file: {}}}\n",
        server.ws_url(),
        c.key.path.display(),
        c.secret.path.display()
    );
    match serde_yaml::from_str::<SourceConfig>(&yaml).unwrap() {
        SourceConfig::Alpaca(c) => c,
        other => panic!("{other:?}"),
    }
}

fn source(c: AlpacaConfig) -> Box<AlpacaSource> {
    let tickers = ["AAPL", "AMD", "SPY"]
        .iter()
        .map(|s| Symbol::new(s).unwrap())
        .collect();
    Box::new(AlpacaSource::new(c, tickers).unwrap())
}

fn ts(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

fn expected_trade() -> Record {
    Trade::new(
        Provider::Alpaca,
        Symbol::new("AAPL").unwrap(),
        ts("2021-02-22T15:51:44.208Z"),
        ingest(),
        "126.55".parse().unwrap(),
        "1".parse().unwrap(),
    )
    .with_exchange("D")
    .with_conditions(vec!["@".into(), "I".into()])
    .with_trade_id("96921")
    .into()
}

fn expected_quote() -> Record {
    Quote::new(
        Provider::Alpaca,
        Symbol::new("AMD").unwrap(),
        ts("2021-02-22T15:51:45.335689322Z"),
        ingest(),
        "87.66".parse().unwrap(),
        "1".parse().unwrap(),
        "87.68".parse().unwrap(),
        "4".parse().unwrap(),
    )
    .with_exchanges(Some("U".into()), Some("Q".into()))
    .into()
}

fn expected_bar(kind: &str) -> Record {
    let (start, interval, volume) = if kind == "d" {
        ("2021-02-16T04:00:00Z", "1d", "749378")
    } else {
        ("2021-02-22T19:15:00Z", "1m", "49378")
    };
    Bar::new(
        Provider::Alpaca,
        Symbol::new("SPY").unwrap(),
        ts(start),
        ingest(),
        interval.parse::<BarInterval>().unwrap(),
        Ohlc {
            open: "388.985".parse().unwrap(),
            high: "389.13".parse().unwrap(),
            low: "388.975".parse().unwrap(),
            close: "389.12".parse().unwrap(),
        },
        volume.parse().unwrap(),
    )
    .into()
}

/// `[t, q, b, s, d]` in one frame, built from the documented messages.
fn mixed_frame() -> String {
    let parts: Vec<String> = [
        "trade.json",
        "quote.json",
        "bar.json",
        "status.json",
        "daily_bar.json",
    ]
    .iter()
    .map(|f| fixture_text("alpaca", f))
    .collect();
    format!("[{}]", parts.join(","))
}

/// The documented handshake, then `frames`, then reading until the client leaves.
fn session(frames: Vec<String>) -> WsPlan {
    accept(move |mut conn| async move {
        conn.send_fixture("alpaca", "connected.json").await;
        let auth = conn.recv(Duration::from_secs(2)).await.unwrap_or_default();
        let auth: serde_json::Value = serde_json::from_str(&auth).unwrap_or_default();
        if auth["key"] != KEY_ID || auth["secret"] != SECRET {
            conn.send_fixture("alpaca", "error_402.json").await;
            conn.idle(Duration::from_millis(500)).await;
            return;
        }
        conn.send_fixture("alpaca", "authenticated.json").await;
        conn.recv(Duration::from_secs(2)).await;
        conn.send_fixture("alpaca", "subscription.json").await;
        for f in frames {
            conn.send(f).await;
        }
        conn.idle(Duration::from_secs(8)).await;
    })
}

fn subscription_of(messages: &[String]) -> serde_json::Value {
    let sub = messages
        .iter()
        .find(|m| m.contains("\"subscribe\""))
        .expect("no subscribe message");
    serde_json::from_str(sub).unwrap()
}

#[tokio::test]
async fn happy_path_authenticates_subscribes_and_emits_exactly_the_documented_records() {
    let server = ProviderServer::ws_only(|_, _| session(vec![mixed_frame()])).await;
    let c = creds();
    let mut running = run(source(config(&server, &c)));
    let items = running.take(4, Duration::from_secs(5)).await;
    assert_eq!(
        records(&items),
        vec![
            expected_trade(),
            expected_quote(),
            expected_bar("b"),
            expected_bar("d")
        ]
    );
    assert_eq!(*running.health.borrow(), SourceHealth::Ready);
    assert_eq!(server.requests()[0].path, "/v2/iex");
    let sub = subscription_of(&server.ws_messages()[0]);
    let all = serde_json::json!(["AAPL", "AMD", "SPY"]);
    assert_eq!(sub["trades"], all);
    assert_eq!(sub["quotes"], all);
    assert_eq!(sub["bars"], all);
    running.stop().await;
}

#[tokio::test]
async fn bad_frames_are_rejected_with_raw_bytes_and_the_stream_goes_on() {
    let frames = vec![
        fixture_text("alpaca", "malformed_trade.json"),
        fixture_text("alpaca", "truncated.json"),
        fixture_text("alpaca", "error_405.json"),
        format!(
            "[{}]",
            fixture_text("alpaca", "trade.json").replace("AAPL", "TSLA")
        ),
        format!("[{}]", fixture_text("alpaca", "trade.json")),
    ];
    let sent = frames.clone();
    let server = ProviderServer::ws_only(move |_, _| session(frames.clone())).await;
    let c = creds();
    let mut running = run(source(config(&server, &c)));
    let items = running.take(5, Duration::from_secs(5)).await;
    let rejected = rejections(&items);
    let needles = [
        "[0].p",
        "malformed JSON",
        "405: symbol limit exceeded",
        "not in the configured ticker list",
    ];
    assert_eq!(rejected.len(), 4, "{items:#?}");
    for (i, (r, needle)) in rejected.iter().zip(needles).enumerate() {
        assert_eq!(r.raw, sent[i].as_bytes(), "{}", r.reason);
        assert!(r.reason.contains(needle), "{needle}: {}", r.reason);
    }
    assert_eq!(records(&items), vec![expected_trade()]);
    running.stop().await;
}

#[tokio::test]
async fn auth_failed_is_unauthorized_retried_slowly_and_recovers_after_rotation() {
    let server = ProviderServer::ws_only(|_, _| session(vec![mixed_frame()])).await;
    let c = creds();
    c.secret.rotate("wrong-secret");
    let mut running = run(source(config(&server, &c)));
    let h = running
        .wait_health(Duration::from_secs(3), |h| {
            matches!(h, SourceHealth::Unauthorized(_))
        })
        .await;
    assert!(format!("{h:?}").contains("402: auth failed"), "{h:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = server.requests().len();
    assert!(
        (1..=2).contains(&n),
        "{n} connections in 2 s with unauthorizedRetry 1.5 s"
    );
    c.secret.rotate(SECRET);
    let items = running.take(4, Duration::from_secs(4)).await;
    assert_eq!(records(&items).len(), 4);
    running.stop().await;
}

#[tokio::test]
async fn rate_limited_upgrade_honours_retry_after() {
    let server = ProviderServer::ws_only(|_, n| {
        if n == 0 {
            WsPlan::Refuse(Reply::new(429, "Too Many Requests").header("retry-after", "1"))
        } else {
            session(vec![mixed_frame()])
        }
    })
    .await;
    let c = creds();
    let mut running = run(source(config(&server, &c)));
    running.take(4, Duration::from_secs(4)).await;
    let reqs = server.requests();
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(1800),
        "{gap:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn disconnect_and_connection_limit_lead_to_reconnect_and_resubscribe() {
    let server = ProviderServer::ws_only(|_, n| match n {
        0 => accept(|mut conn| async move {
            conn.send_fixture("alpaca", "connected.json").await;
            conn.recv(Duration::from_secs(2)).await;
            conn.send_fixture("alpaca", "error_406.json").await;
            conn.idle(Duration::from_millis(300)).await;
        }),
        1 => accept(|mut conn| async move {
            conn.send_fixture("alpaca", "connected.json").await;
            conn.recv(Duration::from_secs(2)).await;
            conn.send_fixture("alpaca", "authenticated.json").await;
            conn.recv(Duration::from_secs(2)).await;
            conn.send_fixture("alpaca", "subscription.json").await;
            conn.send(format!("[{}]", fixture_text("alpaca", "trade.json")))
                .await;
            conn.drop_connection();
        }),
        _ => session(vec![format!("[{}]", fixture_text("alpaca", "quote.json"))]),
    })
    .await;
    let c = creds();
    let mut running = run(source(config(&server, &c)));
    let items = running.take(2, Duration::from_secs(5)).await;
    assert_eq!(records(&items), vec![expected_trade(), expected_quote()]);
    let conns = server.ws_messages();
    assert_eq!(conns.len(), 3);
    assert_eq!(
        subscription_of(&conns[1]),
        subscription_of(&conns[2]),
        "re-subscribed to the same channels"
    );
    running.stop().await;
}

#[tokio::test]
async fn silent_server_times_out_and_is_replaced() {
    let server = ProviderServer::ws_only(|_, n| {
        if n == 0 {
            accept(|conn| conn.stall(Duration::from_secs(8)))
        } else {
            session(vec![mixed_frame()])
        }
    })
    .await;
    let c = creds();
    let started = Instant::now();
    let mut running = run(source(config(&server, &c)));
    let items = running.take(4, Duration::from_secs(5)).await;
    assert_eq!(records(&items).len(), 4);
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "waited for the handshake timeout"
    );
    assert_eq!(server.requests().len(), 2);
    running.stop().await;
}

#[tokio::test]
async fn credentials_never_reach_logs_health_or_rejections() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let server = ProviderServer::ws_only(|_, n| {
        if n == 0 {
            accept(|mut conn| async move {
                conn.send_fixture("alpaca", "connected.json").await;
                let auth = conn.recv(Duration::from_secs(2)).await.unwrap_or_default();
                // A provider quoting our own message back in an error.
                conn.send(format!(
                    "[{{\"T\":\"error\",\"code\":400,\"msg\":{}}}]",
                    serde_json::to_string(&auth).unwrap()
                ))
                .await;
                conn.idle(Duration::from_millis(300)).await;
            })
        } else {
            session(vec![fixture_text("alpaca", "truncated.json")])
        }
    })
    .await;
    let c = creds();
    let mut running = run(source(config(&server, &c)));
    let h = running
        .wait_health(Duration::from_secs(2), |h| {
            matches!(h, SourceHealth::Degraded(_))
        })
        .await;
    let items = running.take(1, Duration::from_secs(3)).await;
    running.stop().await;
    let text = logs.text();
    assert!(text.contains("alpaca"), "{text}");
    for secret in [KEY_ID, SECRET] {
        assert!(!format!("{h:?}").contains(secret), "{h:?}");
        assert!(
            !text.contains(secret),
            "credential leaked into logs:\n{text}"
        );
        for r in rejections(&items) {
            assert!(!r.reason.contains(secret));
        }
    }
}
