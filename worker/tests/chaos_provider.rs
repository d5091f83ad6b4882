//! Chaos (`make chaos`, not `make test`): the market-data provider misbehaves under the real
//! `stockfeed produce` process (Finnhub stream, against the local provider server): the
//! WebSocket upgrade is refused with 429s (with `Retry-After`) and bursts of 500/502/503, then
//! accepted; the connection is dropped without a close frame, twice, between batches of
//! trades, and after a reconnect the server replays trades it already sent (as providers do).
//! A sink writes the lake. Every trade the server sent must be in the lake exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use stockfeed_record::{Provider, Record, RecordId, Symbol, Trade};
use support::chaos::{Pipeline, Scenario, assert_lake_exactly_once, free_port, metric, scrape};
use support::provider_server::{ProviderServer, Reply, SecretFile, WsConn, WsPlan, accept};

const PER_BATCH: usize = 300;
const PER_FRAME: usize = 50;

/// `PER_BATCH` trades of AAPL and MSFT as Finnhub frames, and the records they must become.
fn batch(index: usize, base_ms: i64) -> (Vec<String>, Vec<Record>) {
    let mut frames = Vec::new();
    let mut records = Vec::new();
    for chunk in 0..PER_BATCH / PER_FRAME {
        let mut items = Vec::new();
        for j in 0..PER_FRAME {
            let i = index * PER_BATCH + chunk * PER_FRAME + j;
            let symbol = ["AAPL", "MSFT"][i % 2];
            let ms = base_ms + i as i64 * 7;
            let price = format!("{}.{:02}", 100 + i % 50, (i * 37) % 100);
            let size = (i % 9 + 1) * 10;
            items.push(format!(
                r#"{{"p":{price},"s":"{symbol}","t":{ms},"v":{size}}}"#
            ));
            records.push(
                Trade::new(
                    Provider::Finnhub,
                    Symbol::new(symbol).unwrap(),
                    Utc.timestamp_millis_opt(ms).unwrap(),
                    chrono::DateTime::UNIX_EPOCH,
                    price.parse().unwrap(),
                    size.to_string().parse().unwrap(),
                )
                .into(),
            );
        }
        frames.push(format!(
            r#"{{"type":"trade","data":[{}]}}"#,
            items.join(",")
        ));
    }
    (frames, records)
}

/// Reads the two subscriptions, sends `frames`, lets the client read them, then drops the TCP
/// connection without a close frame.
async fn send_then_drop(mut conn: WsConn, frames: Vec<String>) {
    conn.recv(Duration::from_secs(2)).await;
    conn.recv(Duration::from_secs(2)).await;
    for f in frames {
        conn.send(f).await;
    }
    conn.recv(Duration::from_millis(300)).await;
    conn.drop_connection();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn provider_429s_5xx_and_dropped_websockets_every_trade_in_the_lake_exactly_once() {
    let scenario = Scenario::new(
        "provider-errors",
        "Finnhub WebSocket refused with 429s and 5xx bursts, dropped twice, replaying on reconnect",
    );
    let pipeline = Pipeline::create("chaos-provider", 3).await;
    let base_ms = (Utc::now() - chrono::Duration::minutes(30)).timestamp_millis();
    let (a, a_records) = batch(0, base_ms);
    let (b, b_records) = batch(1, base_ms);
    let (c, c_records) = batch(2, base_ms);
    // After the first drop the provider replays the last two frames of the first batch.
    let replayed = a[a.len() - 2..].to_vec();
    let replayed_trades = replayed.len() * PER_FRAME;
    let expected: HashMap<RecordId, Record> = a_records
        .iter()
        .chain(&b_records)
        .chain(&c_records)
        .map(|r| (r.id(), r.clone()))
        .collect();
    assert_eq!(expected.len(), 3 * PER_BATCH);

    let (a, b, c) = (Arc::new(a), Arc::new(b), Arc::new(c));
    let refuse = |status: u16, retry_after: Option<&str>| {
        let reply = Reply::new(status, format!(r#"{{"error":"chaos {status}"}}"#));
        WsPlan::Refuse(match retry_after {
            Some(s) => reply.header("retry-after", s),
            None => reply,
        })
    };
    let plan = move |_: &support::provider_server::Seen, n: usize| -> WsPlan {
        match n {
            0..=2 => refuse(429, Some("1")),
            3 | 6 => refuse(500, None),
            4 => refuse(502, None),
            5 => refuse(503, None),
            7 => {
                let frames = a.as_ref().clone();
                accept(move |conn| send_then_drop(conn, frames))
            }
            8 => refuse(429, Some("1")),
            9 => refuse(503, None),
            10 => {
                let frames: Vec<String> = replayed.iter().chain(b.iter()).cloned().collect();
                accept(move |conn| send_then_drop(conn, frames))
            }
            11 => {
                let frames = c.as_ref().clone();
                accept(move |mut conn| async move {
                    conn.recv(Duration::from_secs(2)).await;
                    conn.recv(Duration::from_secs(2)).await;
                    for f in frames {
                        conn.send(f).await;
                    }
                    conn.idle(Duration::from_secs(45)).await;
                })
            }
            _ => accept(|mut conn| async move { conn.idle(Duration::from_secs(45)).await }),
        }
    };
    let server = ProviderServer::ws_only(plan).await;
    let token = SecretFile::new("chaos-finnhub-token");
    let source = format!(
        "{{provider: finnhub, mode: stream, baseUrl: '{}/api/v1', wsUrl: '{}/', requestTimeout: 2s, \
         readTimeout: 2s, unauthorizedRetry: 2s, backoff: {{initial: 100ms, max: 400ms}}, token: \
         {{file: '{}'}}}}",
        server.http_url(),
        server.ws_url(),
        token.path.display()
    );
    let tickers = [Symbol::new("AAPL").unwrap(), Symbol::new("MSFT").unwrap()];
    let config = pipeline.producer_config("producer", &source, &tickers);
    let port = free_port();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "metricsAddr: 127.0.0.1:0",
        &format!("metricsAddr: 127.0.0.1:{port}"),
    );
    std::fs::write(&config, text).unwrap();
    scenario.injected(
        "WebSocket upgrades #0-2 refused 429 (Retry-After: 1), #3-6 refused 500/502/503/500, #7 \
         accepted: 300 trades then TCP drop without close frame; #8 429, #9 503; #10 accepted: \
         100 already-sent trades replayed + 300 new, then dropped; #11 accepted: 300 trades",
    );
    let mut sink = pipeline.spawn_sink("sink", &pipeline.sink_config("sink-0", 1_000));
    let mut producer = pipeline.spawn_producer("producer", &config);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let n = pipeline.topic_messages().await;
        if n as usize >= expected.len() {
            break;
        }
        if let Some(status) = producer.try_wait() {
            panic!(
                "the producer exited ({status}) with {n} messages in the topic; log:\n{}",
                producer.log_tail(30)
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of {} trades reached the topic within 40 s; {} upgrade attempts; producer \
             log:\n{}",
            expected.len(),
            server.requests().len(),
            producer.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Nothing more may arrive (a replay that got through would).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = scrape(port).await;
    let in_topic = pipeline.topic_messages().await;
    let status = producer.terminate(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "the producer exits 0 on SIGTERM: {status}; log:\n{}",
        producer.log_tail(30)
    );
    scenario.checked(format!(
        "the producer rode out every refusal and drop, and stopped cleanly on SIGTERM ({in_topic} \
         messages in the topic)"
    ));

    let attempts = server.requests();
    let upgrades: Vec<_> = attempts.iter().filter(|s| s.websocket).collect();
    let gap = |i: usize| {
        upgrades
            .get(i + 1)
            .map(|next| next.at.duration_since(upgrades[i].at))
    };
    let gaps: Vec<String> = (0..upgrades.len().saturating_sub(1))
        .map(|i| format!("{}ms", gap(i).unwrap().as_millis()))
        .collect();
    assert!(upgrades.len() >= 12, "{} upgrade attempts", upgrades.len());
    for i in [0, 1, 2, 8] {
        let waited = gap(i).unwrap();
        assert!(
            waited >= Duration::from_millis(950),
            "after 429 #{i} with Retry-After: 1 the producer came back after only {waited:?}"
        );
    }
    scenario.checked(format!(
        "Retry-After honoured: every retry after a 429 came >= 1 s later; gaps between upgrade \
         attempts: [{}]",
        gaps.join(", ")
    ));
    let duplicates = metric(&metrics, "stockfeed_producer_duplicates_total");
    let dead_letters = metric(&metrics, "stockfeed_producer_dlq_total");
    assert_eq!(
        duplicates, replayed_trades as f64,
        "the replayed trades are dropped by the dedup window"
    );
    assert_eq!(dead_letters, 0.0, "no dead letters");
    assert_eq!(
        in_topic as usize,
        expected.len(),
        "the topic holds each trade once"
    );
    scenario.checked(format!(
        "the {replayed_trades} replayed trades were dropped as repeats; no dead letters; the \
         topic holds each of the {} trades once",
        expected.len()
    ));

    let offsets = pipeline.wait_drained(Duration::from_secs(60)).await;
    let status = sink.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "the sink exits 0 on SIGTERM: {status}");
    let cmp = assert_lake_exactly_once(&scenario, &pipeline, &expected).await;
    scenario.counts(format!(
        "{} upgrade attempts (4 refused 429, 5 refused 5xx, {} accepted, 2 of them dropped); {} \
         trades sent ({} of them replays), {} repeats dropped, {} in the topic, {} in the lake \
         ({} committed); scenario took {:.0}s",
        upgrades.len(),
        upgrades.len() - 9,
        expected.len() + replayed_trades,
        replayed_trades,
        duplicates,
        in_topic,
        cmp.seen,
        offsets.iter().map(|(c, _)| (*c).max(0)).sum::<i64>(),
        scenario.elapsed().as_secs_f64()
    ));
}
