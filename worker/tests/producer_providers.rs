//! Each market-data provider source, against the local fixture server, through the real
//! producer pipeline into a real Kafka topic: what an independent consumer reads back is
//! exactly the records the fixtures hold, keyed by symbol and in per-symbol order; payloads the
//! source rejects land in `<topic>.dlq` with their raw bytes and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use stockfeed_kafka::Connect;

use chrono::{TimeZone, Utc};
use prometheus_client::registry::Registry;
use stockfeed_kafka::KafkaConnection;
use stockfeed_producer::metrics::{ProducerMetrics, ProviderLabels, RecordLabels};
use stockfeed_producer::source::alpaca::AlpacaSource;
use stockfeed_producer::source::alphavantage::AlphaVantageSource;
use stockfeed_producer::source::finnhub::FinnhubSource;
use stockfeed_producer::source::yahoo::YahooSource;
use stockfeed_producer::source::{Source, SourceConfig};
use stockfeed_producer::{
    KafkaWriter, PipelineOptions, Readiness, Summary, WriterSettings, run_pipeline,
};
use stockfeed_record::{Bar, BarInterval, Ohlc, Provider, Quote, Record, RecordId, Symbol, Trade};
use support::RawMessage;
use support::provider_server::*;
use tokio_util::sync::CancellationToken;

/// How long one provider's run through the pipeline may take, start to flushed stop.
const DELIVERY_BUDGET: Duration = Duration::from_secs(20);
const STOP_BUDGET: Duration = Duration::from_secs(10);

fn symbols(names: &[&str]) -> Vec<Symbol> {
    names.iter().map(|s| Symbol::new(s).unwrap()).collect()
}

fn source_config(yaml: &str) -> SourceConfig {
    serde_yaml::from_str::<SourceConfig>(yaml).unwrap()
}

/// Topic and dead-letter topic, freshly created.
async fn topics(bootstrap: &str, prefix: &str) -> (String, String) {
    let topic = support::unique_name(prefix);
    let dlq = format!("{topic}.dlq");
    support::create_topic(bootstrap, &topic, 3).await;
    support::create_topic(bootstrap, &dlq, 1).await;
    (topic, dlq)
}

/// Records the pipeline has handed to Kafka for the given (provider, kind, symbol) labels.
fn records_sent(metrics: &ProducerMetrics, expected: &[Record]) -> u64 {
    let labels: HashSet<(String, String, String)> = expected
        .iter()
        .map(|r| {
            (
                r.provider().to_string(),
                r.kind().to_string(),
                r.symbol().to_string(),
            )
        })
        .collect();
    labels
        .into_iter()
        .map(|(provider, kind, symbol)| {
            metrics
                .records
                .get_or_create(&RecordLabels {
                    provider,
                    kind,
                    symbol,
                })
                .get()
        })
        .sum()
}

fn dead_letters_sent(metrics: &ProducerMetrics, provider: Provider) -> u64 {
    metrics
        .dlq
        .get_or_create(&ProviderLabels {
            provider: provider.to_string(),
        })
        .get()
}

/// Runs `source` through the real pipeline into `topic`; once the pipeline has handed over
/// `expected.len()` records and at least `min_dead_letters` dead letters, and Kafka has
/// acknowledged everything handed over, cancels and waits for the flushed stop. Never takes
/// longer than `DELIVERY_BUDGET + STOP_BUDGET`.
async fn produce(
    source: Box<dyn Source>,
    provider: Provider,
    topic: &str,
    expected: &[Record],
    min_dead_letters: u64,
) -> (Summary, Arc<ProducerMetrics>) {
    let bootstrap = support::require_kafka();
    let mut registry = Registry::default();
    let metrics = Arc::new(ProducerMetrics::register(&mut registry));
    let base = KafkaConnection::plaintext(&bootstrap)
        .client_config()
        .unwrap();
    let writer = KafkaWriter::new(base, &WriterSettings::default(), metrics.writer()).unwrap();
    let options = PipelineOptions {
        shutdown_timeout: Duration::from_secs(5),
        ..PipelineOptions::for_topic(topic)
    };
    let shutdown = CancellationToken::new();
    let mut pipeline = tokio::spawn(run_pipeline(
        source,
        writer,
        options,
        metrics.clone(),
        Arc::new(Readiness::default()),
        shutdown.clone(),
    ));
    let want = expected.len() as u64;
    let deadline = tokio::time::Instant::now() + DELIVERY_BUDGET;
    loop {
        let records = records_sent(&metrics, expected);
        let letters = dead_letters_sent(&metrics, provider);
        let delivered = metrics.delivered.get();
        if records >= want && letters >= min_dead_letters && delivered >= records + letters {
            break;
        }
        if pipeline.is_finished() {
            shutdown.cancel();
            let result = pipeline.await;
            panic!(
                "{provider}: the pipeline ended early ({result:?}) after {records} of {want} \
                 records, {letters} dead letters, {delivered} delivered"
            );
        }
        if tokio::time::Instant::now() >= deadline {
            shutdown.cancel();
            let stopped = tokio::time::timeout(STOP_BUDGET, &mut pipeline).await;
            panic!(
                "{provider}: within {DELIVERY_BUDGET:?} only {records} of {want} records and \
                 {letters} of at least {min_dead_letters} dead letters were handed to Kafka, \
                 {delivered} acknowledged (pipeline after cancel: {stopped:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let summary = tokio::time::timeout(STOP_BUDGET, pipeline)
        .await
        .unwrap_or_else(|_| panic!("{provider}: the pipeline did not stop within {STOP_BUDGET:?}"))
        .expect("pipeline task panicked")
        .unwrap_or_else(|e| panic!("{provider}: the pipeline failed: {e}"));
    assert_eq!(summary.lost, 0, "{provider}: {summary:?}");
    assert_eq!(summary.records, want, "{provider}: {summary:?}");
    assert_eq!(
        metrics.delivered.get(),
        summary.records + summary.dead_letters,
        "{provider}: everything handed over was acknowledged: {summary:?}"
    );
    (summary, metrics)
}

/// Reads `topic` back with an independent consumer and checks it holds exactly `expected`
/// (ignoring `ingest_ts`, which must be recent), each keyed by its symbol, in per-symbol order.
async fn assert_topic_holds_exactly(bootstrap: &str, topic: &str, expected: &[Record]) {
    let consumed = support::read_topic(bootstrap, topic, expected.len()).await;
    let now = Utc::now();
    let mut got = Vec::with_capacity(consumed.len());
    for m in &consumed {
        assert_eq!(
            m.key,
            m.record.symbol().as_str(),
            "the key is the symbol: {:?}",
            m.record
        );
        let age = now - m.record.ingest_ts();
        assert!(
            age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5),
            "ingest_ts is not the time of this run: {:?}",
            m.record
        );
        let mut record = m.record.clone();
        record.set_ingest_ts(ingest());
        got.push(record);
    }
    // Exactly the expected records, as a whole...
    let by_id = |records: &[Record]| -> BTreeMap<RecordId, Record> {
        records.iter().map(|r| (r.id(), r.clone())).collect()
    };
    assert_eq!(
        by_id(&got),
        by_id(expected),
        "records in {topic} differ from the fixture's"
    );
    assert_eq!(got.len(), expected.len(), "no record twice");
    // ...and per symbol, in the order the provider sent them.
    let per_symbol = |records: &[Record]| -> BTreeMap<String, Vec<Record>> {
        let mut map: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for r in records {
            map.entry(r.symbol().to_string())
                .or_default()
                .push(r.clone());
        }
        map
    };
    assert_eq!(
        per_symbol(&got),
        per_symbol(expected),
        "per-symbol order in {topic}"
    );
}

fn assert_source_dead_letter(letter: &RawMessage, provider: &str) {
    assert_eq!(letter.header("sf-dlq-stage"), Some("source"));
    assert_eq!(letter.header("sf-provider"), Some(provider));
    assert!(
        letter
            .header("sf-dlq-reason")
            .is_some_and(|r| !r.trim().is_empty()),
        "a reason: {:?}",
        letter.headers
    );
    assert!(
        letter.header("sf-dlq-time").is_some(),
        "{:?}",
        letter.headers
    );
}

// ---- Finnhub WebSocket stream ---------------------------------------------------------------

const FINNHUB_TOKEN: &str = "fh-test-token-5f3a9c";

fn finnhub_source(server: &ProviderServer, secret: &SecretFile) -> Box<dyn Source> {
    let yaml = format!(
        "provider: finnhub\nmode: stream\nbaseUrl: {}/api/v1\nwsUrl: {}/\npollInterval: 200ms\nrequestTimeout: 500ms\nreadTimeout: 1s\nunauthorizedRetry: 1500ms\nrateLimit: {{requests: 100, per: 1s}}\nbackoff: {{initial: 50ms, max: 200ms}}\ntoken: {{file: {}}}\n",
        server.http_url(),
        server.ws_url(),
        secret.path.display()
    );
    let SourceConfig::Finnhub(c) = source_config(&yaml) else {
        panic!("not a Finnhub config")
    };
    Box::new(FinnhubSource::new(c, symbols(&["AAPL", "MSFT"])).unwrap())
}

fn finnhub_trade(symbol: &str, ms: i64, price: &str, size: &str, conditions: &[&str]) -> Record {
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

/// `ws_trades_aapl_msft.json` then `ws_trades_aapl_later.json`.
fn finnhub_expected() -> Vec<Record> {
    vec![
        finnhub_trade("AAPL", 1764167400123, "189.13", "100", &["1", "12"]),
        finnhub_trade("MSFT", 1764167400456, "411.2", "5.5", &[]),
        finnhub_trade("AAPL", 1764167400789, "189.14", "0.5", &[]),
        finnhub_trade("AAPL", 1764167401000, "189.2", "10", &[]),
    ]
}

/// Accepts, waits for both subscriptions, sends the fixtures, then keeps reading.
fn finnhub_session(fixtures: &'static [&'static str]) -> WsPlan {
    accept(move |mut conn| async move {
        conn.recv(Duration::from_secs(2)).await;
        conn.recv(Duration::from_secs(2)).await;
        for f in fixtures {
            conn.send_fixture("finnhub", f).await;
        }
        conn.idle(Duration::from_secs(25)).await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finnhub_stream_lands_exactly_the_fixture_trades_in_kafka() {
    let bootstrap = support::require_kafka();
    let (topic, _dlq) = topics(&bootstrap, "sf-prov-finnhub").await;
    let server = ProviderServer::ws_only(|_, _| {
        finnhub_session(&[
            "ws_ping.json",
            "ws_trades_aapl_msft.json",
            "ws_trades_aapl_later.json",
        ])
    })
    .await;
    let secret = SecretFile::new(FINNHUB_TOKEN);
    let expected = finnhub_expected();
    let (summary, _) = produce(
        finnhub_source(&server, &secret),
        Provider::Finnhub,
        &topic,
        &expected,
        0,
    )
    .await;
    assert_eq!(summary.dead_letters, 0, "{summary:?}");
    assert_topic_holds_exactly(&bootstrap, &topic, &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finnhub_malformed_frames_go_to_the_dlq_with_raw_bytes_and_the_rest_to_the_topic() {
    let bootstrap = support::require_kafka();
    let (topic, dlq) = topics(&bootstrap, "sf-prov-finnhub-dlq").await;
    let server = ProviderServer::ws_only(|_, _| {
        finnhub_session(&[
            "ws_trades_aapl_msft.json",
            "ws_malformed_price.json",
            "ws_not_json.txt",
            "ws_trades_aapl_later.json",
        ])
    })
    .await;
    let secret = SecretFile::new(FINNHUB_TOKEN);
    let expected = finnhub_expected();
    let (summary, _) = produce(
        finnhub_source(&server, &secret),
        Provider::Finnhub,
        &topic,
        &expected,
        2,
    )
    .await;
    assert_eq!(summary.dead_letters, 2, "{summary:?}");
    assert_topic_holds_exactly(&bootstrap, &topic, &expected).await;

    let letters = support::read_raw(&bootstrap, &dlq, 2).await;
    let wanted = [
        ("ws_malformed_price.json", "data[0].p"),
        ("ws_not_json.txt", "malformed JSON"),
    ];
    for (file, needle) in wanted {
        let raw = fixture("finnhub", file);
        let letter = letters
            .iter()
            .find(|l| l.payload == raw)
            .unwrap_or_else(|| panic!("no dead letter holds the raw bytes of {file}"));
        assert_source_dead_letter(letter, "finnhub");
        let reason = letter.header("sf-dlq-reason").unwrap();
        assert!(reason.contains(needle), "{file}: {reason}");
        assert!(!reason.contains(FINNHUB_TOKEN), "{reason}");
        assert_eq!(letter.key, None, "a source rejection has no symbol key");
    }
}

// ---- Alpha Vantage intraday -----------------------------------------------------------------

const AV_KEY: &str = "AVKEY7781QZ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alphavantage_intraday_lands_exactly_the_fixture_bar_and_dead_letters_the_cut_entry() {
    let bootstrap = support::require_kafka();
    let (topic, dlq) = topics(&bootstrap, "sf-prov-alphavantage").await;
    let server = ProviderServer::http_only(|_, _| {
        Reply::ok(fixture("alphavantage", "intraday_5min_documented.json"))
    })
    .await;
    let secret = SecretFile::new(AV_KEY);
    let yaml = format!(
        "provider: alphavantage\nfunction: intraday\ninterval: 5min\nbaseUrl: {}/query\npollInterval: 200ms\nrequestTimeout: 500ms\nunauthorizedRetry: 1500ms\nrateLimitedPause: 1s\nrateLimit: {{requests: 100, per: 1s}}\nbackoff: {{initial: 50ms, max: 200ms}}\napiKey: {{file: {}}}\n",
        server.http_url(),
        secret.path.display()
    );
    let SourceConfig::AlphaVantage(c) = source_config(&yaml) else {
        panic!("not an Alpha Vantage config")
    };
    let source = Box::new(AlphaVantageSource::new(c, symbols(&["IBM"])).unwrap());
    // 19:55 US/Eastern on 2026-04-02 (daylight time) is 23:55 UTC.
    let expected: Vec<Record> = vec![
        Bar::new(
            Provider::AlphaVantage,
            Symbol::new("IBM").unwrap(),
            "2026-04-02T23:55:00Z".parse().unwrap(),
            ingest(),
            "5m".parse::<BarInterval>().unwrap(),
            Ohlc {
                open: "248.39".parse().unwrap(),
                high: "248.39".parse().unwrap(),
                low: "248.21".parse().unwrap(),
                close: "248.3".parse().unwrap(),
            },
            "86".parse().unwrap(),
        )
        .into(),
    ];
    // The documented sample has an entry without `4. close`, rejected on every poll.
    let (summary, _) = produce(source, Provider::AlphaVantage, &topic, &expected, 1).await;
    assert!(summary.dead_letters >= 1, "{summary:?}");
    assert_eq!(summary.duplicates, 0, "the bar tracker emits the bar once");
    assert_topic_holds_exactly(&bootstrap, &topic, &expected).await;

    let letters = support::read_raw(&bootstrap, &dlq, summary.dead_letters as usize).await;
    let raw = fixture("alphavantage", "intraday_5min_documented.json");
    for letter in &letters {
        assert_source_dead_letter(letter, "alphavantage");
        assert_eq!(letter.payload, raw, "the whole response, as received");
        let reason = letter.header("sf-dlq-reason").unwrap();
        assert!(
            reason.contains("2026-04-02 19:45:00") && reason.contains("4. close"),
            "{reason}"
        );
        assert!(!reason.contains(AV_KEY), "{reason}");
    }
}

// ---- Yahoo chart ----------------------------------------------------------------------------

fn yahoo_bar(symbol: &str, start: i64, [o, h, l, c]: [&str; 4], v: &str) -> Record {
    Bar::new(
        Provider::Yahoo,
        Symbol::new(symbol).unwrap(),
        Utc.timestamp_opt(start, 0).unwrap(),
        ingest(),
        "1m".parse::<BarInterval>().unwrap(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yahoo_chart_lands_exactly_the_fixture_bars_in_kafka() {
    let bootstrap = support::require_kafka();
    let (topic, _dlq) = topics(&bootstrap, "sf-prov-yahoo").await;
    let server = ProviderServer::http_only(|seen, _| {
        if seen.path == "/v8/finance/chart/MSFT" {
            Reply::ok(fixture("yahoo", "chart_msft_1m_with_nulls.json"))
        } else {
            Reply::new(404, fixture("yahoo", "chart_not_found.json"))
        }
    })
    .await;
    let yaml = format!(
        "provider: yahoo\nbaseUrl: {}\ninterval: 1m\nrange: 1d\npollInterval: 200ms\nrequestTimeout: 500ms\nunauthorizedRetry: 1500ms\nrateLimit: {{requests: 100, per: 1s}}\nbackoff: {{initial: 50ms, max: 200ms}}\n",
        server.http_url()
    );
    let SourceConfig::Yahoo(c) = source_config(&yaml) else {
        panic!("not a Yahoo config")
    };
    let source = Box::new(YahooSource::new(c, symbols(&["MSFT"])).unwrap());
    // The rows with nulls are skipped; the two complete minutes remain, in order.
    let expected = vec![
        yahoo_bar(
            "MSFT",
            1764167400,
            ["227.5", "228.25", "227", "228"],
            "1200",
        ),
        yahoo_bar(
            "MSFT",
            1764167520,
            ["229", "230.75", "228.75", "230.5"],
            "900",
        ),
    ];
    let (summary, _) = produce(source, Provider::Yahoo, &topic, &expected, 0).await;
    assert_eq!(summary.dead_letters, 0, "{summary:?}");
    assert_topic_holds_exactly(&bootstrap, &topic, &expected).await;
}

// ---- Alpaca stream --------------------------------------------------------------------------

const ALPACA_KEY_ID: &str = "PKTESTKEYID0042";
const ALPACA_SECRET: &str = "alpaca-secret-value-9d8e7f";

fn ts(s: &str) -> chrono::DateTime<Utc> {
    s.parse().unwrap()
}

fn alpaca_bar(start: &str, interval: &str, volume: &str) -> Record {
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

/// The documented trade, quote, minute bar and daily bar (the status message is no record).
fn alpaca_expected() -> Vec<Record> {
    vec![
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
        .into(),
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
        .into(),
        alpaca_bar("2021-02-22T19:15:00Z", "1m", "49378"),
        alpaca_bar("2021-02-16T04:00:00Z", "1d", "749378"),
    ]
}

/// `[t, q, b, s, d]` in one frame, built from the documented messages.
fn alpaca_mixed_frame() -> String {
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
fn alpaca_session(frames: Vec<String>) -> WsPlan {
    accept(move |mut conn| async move {
        conn.send_fixture("alpaca", "connected.json").await;
        let auth = conn.recv(Duration::from_secs(2)).await.unwrap_or_default();
        let auth: serde_json::Value = serde_json::from_str(&auth).unwrap_or_default();
        if auth["key"] != ALPACA_KEY_ID || auth["secret"] != ALPACA_SECRET {
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
        conn.idle(Duration::from_secs(25)).await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpaca_stream_lands_exactly_the_documented_records_and_dead_letters_the_bad_frame() {
    let bootstrap = support::require_kafka();
    let (topic, dlq) = topics(&bootstrap, "sf-prov-alpaca").await;
    let malformed = fixture_text("alpaca", "malformed_trade.json");
    let frames = vec![alpaca_mixed_frame(), malformed.clone()];
    let server = ProviderServer::ws_only(move |_, _| alpaca_session(frames.clone())).await;
    let key = SecretFile::new(ALPACA_KEY_ID);
    let secret = SecretFile::new(ALPACA_SECRET);
    let yaml = format!(
        "provider: alpaca\nfeed: iex\nwsUrl: {}\nrequestTimeout: 500ms\nreadTimeout: 1s\nunauthorizedRetry: 1500ms\nbackoff: {{initial: 50ms, max: 200ms}}\nkeyId: {{file: {}}}\nsecretKey: {{file: {}}}\n",
        server.ws_url(),
        key.path.display(),
        secret.path.display()
    );
    let SourceConfig::Alpaca(c) = source_config(&yaml) else {
        panic!("not an Alpaca config")
    };
    let source = Box::new(AlpacaSource::new(c, symbols(&["AAPL", "AMD", "SPY"])).unwrap());
    let expected = alpaca_expected();
    let (summary, _) = produce(source, Provider::Alpaca, &topic, &expected, 1).await;
    assert_eq!(summary.dead_letters, 1, "{summary:?}");
    assert_topic_holds_exactly(&bootstrap, &topic, &expected).await;

    let letters = support::read_raw(&bootstrap, &dlq, 1).await;
    assert_source_dead_letter(&letters[0], "alpaca");
    assert_eq!(letters[0].payload, malformed.as_bytes());
    let reason = letters[0].header("sf-dlq-reason").unwrap();
    assert!(reason.contains("[0].p"), "{reason}");
    for s in [ALPACA_KEY_ID, ALPACA_SECRET] {
        assert!(!reason.contains(s), "{reason}");
    }
}
