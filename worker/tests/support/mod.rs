//! Helpers shared by the integration tests: where the real services are, a clear failure
//! when one is not running, and deterministic test records.
//!
//! Addresses come from `STOCKFEED_TEST_KAFKA`, `STOCKFEED_TEST_S3` and `STOCKFEED_TEST_MOTO`;
//! the defaults match the ports `hack/` starts the services on.

#![allow(dead_code)] // each test binary uses a different part of this module
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers report failure by panicking

pub mod bars;
pub mod chaos;
pub mod provider_server;
pub mod python;
pub mod s3_proxy;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use stockfeed_record::{
    Bar, BarInterval, Ohlc, Price, Provider, Quantity, Quote, Record, Symbol, Trade,
};

pub fn kafka_bootstrap() -> String {
    std::env::var("STOCKFEED_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".to_owned())
}

pub fn s3_endpoint() -> String {
    std::env::var("STOCKFEED_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:19000".to_owned())
}

pub fn s3_credentials() -> (String, String) {
    (
        std::env::var("STOCKFEED_S3_ACCESS_KEY").unwrap_or_else(|_| "stockfeed".to_owned()),
        std::env::var("STOCKFEED_S3_SECRET_KEY")
            .unwrap_or_else(|_| "stockfeed-local-secret".to_owned()),
    )
}

pub fn moto_endpoint() -> String {
    std::env::var("STOCKFEED_TEST_MOTO").unwrap_or_else(|_| "http://127.0.0.1:19050".to_owned())
}

/// One HTTP/1.0 exchange with moto; returns the status code and the whole answer.
fn moto_http(endpoint: &str, request: &str) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let host = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("{endpoint} is not an http:// URL"))?
        .trim_end_matches('/');
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.replace("{host}", host).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {answer:.80}"))?;
    Ok((status, answer))
}

/// Fails the test at once, with the address and what to do, when moto's server does not
/// answer, or answers without StockFeed's Glue extension (hack/moto/stockfeed_moto.py, which
/// adds UpdateCrawler); never hangs and never skips. Returns the endpoint.
pub fn require_moto() -> String {
    let endpoint = moto_endpoint();
    let how = "Start it with `make services-up` (or `hack/moto.sh start`), or point \
               STOCKFEED_TEST_MOTO at a running one";
    match moto_http(&endpoint, "GET /moto-api/ HTTP/1.0\r\nHost: {host}\r\n\r\n") {
        Ok((200, _)) => {}
        Ok((status, _)) => panic!("{endpoint} answered HTTP {status}, not like moto. {how}."),
        Err(e) => panic!("moto is not reachable at {endpoint} ({e}). {how}."),
    }
    // UpdateCrawler of a crawler that does not exist: 400 EntityNotFound with the extension,
    // HTTP 500 (not implemented) from a bare moto_server.
    let body = r#"{"Name":"stockfeed-probe-no-such-crawler"}"#;
    let probe = format!(
        "POST / HTTP/1.0\r\nHost: {{host}}\r\nX-Amz-Target: AWSGlue.UpdateCrawler\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=probe/20260101/us-east-1/glue/aws4_request, \
         SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    match moto_http(&endpoint, &probe) {
        Ok((400, answer)) if answer.contains("EntityNotFoundException") => endpoint,
        Ok((status, _)) => panic!(
            "moto at {endpoint} lacks StockFeed's Glue extension (UpdateCrawler answered HTTP \
             {status}); restart it with `hack/moto.sh start`, which runs \
             hack/moto/stockfeed_moto.py"
        ),
        Err(e) => panic!("moto at {endpoint} failed the UpdateCrawler probe: {e}"),
    }
}

/// Fails the test at once, with the address and what to do, when no broker answers a metadata
/// request within 10 seconds; never hangs and never skips.
pub fn require_kafka() -> String {
    let bootstrap = kafka_bootstrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("log_level", "0")
        .create()
        .unwrap_or_else(|e| panic!("cannot create a Kafka client for {bootstrap}: {e}"));
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "Kafka is not reachable at {bootstrap} ({e}). Start it with `make services-up` \
             (or `hack/kafka.sh start`), or point STOCKFEED_TEST_KAFKA at a running broker."
        );
    }
    bootstrap
}

/// A name no other test run uses, so runs never see each other's data.
pub fn unique_name(prefix: &str) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .expect("create_topics request");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

pub const SYMBOLS: [&str; 10] = [
    "AAPL", "MSFT", "NVDA", "BRK.B", "BF-B", "TSLA", "SPY", "AMZN", "GOOGL", "META",
];

/// Deterministic records cycling through every kind and symbol, each with a distinct id.
pub fn sample_records(n: usize) -> Vec<Record> {
    let base: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 26, 14, 30, 0).unwrap();
    let minute: BarInterval = "1m".parse().unwrap();
    (0..n)
        .map(|i| {
            let symbol = Symbol::new(SYMBOLS[i % SYMBOLS.len()]).unwrap();
            let event = base + chrono::Duration::microseconds(i as i64 * 1_337);
            let ingest = event + chrono::Duration::milliseconds(15);
            // Cents plus a sub-penny tail, so precision loss would show.
            let cents = 10_000 + (i as i64 * 7919) % 50_000;
            let price = Price::from_scaled(cents * 1_000_000 + 4_321).unwrap();
            let size = Quantity::from_scaled((1 + i as i64 % 500) * 100_000_000).unwrap();
            match i % 3 {
                0 => Trade::new(Provider::Synthetic, symbol, event, ingest, price, size)
                    .with_exchange("V")
                    .with_conditions(vec!["@".into(), "I".into()])
                    .with_trade_id(format!("t{i}"))
                    .into(),
                1 => {
                    let ask = Price::from_scaled(price.to_scaled() + 1_000_000).unwrap();
                    Quote::new(
                        Provider::Synthetic,
                        symbol,
                        event,
                        ingest,
                        price,
                        size,
                        ask,
                        size,
                    )
                    .into()
                }
                _ => {
                    let high = Price::from_scaled(price.to_scaled() + 5_000_000).unwrap();
                    let ohlc = Ohlc {
                        open: price,
                        high,
                        low: price,
                        close: high,
                    };
                    Bar::new(
                        Provider::Synthetic,
                        symbol,
                        event,
                        ingest,
                        minute,
                        ohlc,
                        size,
                    )
                    .with_stats(Some(price), Some(i as u64))
                    .into()
                }
            }
        })
        .collect()
}

/// A consumed record with its key.
pub struct Consumed {
    pub key: String,
    pub record: Record,
}

/// A consumed message as bytes, with its headers.
pub struct RawMessage {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RawMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Reads exactly `n` messages from the start of `topic` with a fresh consumer group, failing
/// after 60 s; then checks for 2 s that no further message arrives.
pub async fn read_raw(bootstrap: &str, topic: &str, n: usize) -> Vec<RawMessage> {
    use rdkafka::consumer::StreamConsumer;
    use rdkafka::message::{Headers, Message};
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("sf-test-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while out.len() < n {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {n} messages arrived in {topic} within 60 s",
                    out.len()
                )
            })
            .expect("consumer error");
        let headers = msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        out.push(RawMessage {
            key: msg.key().map(<[u8]>::to_vec),
            payload: msg.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    if let Ok(Ok(extra)) = tokio::time::timeout(Duration::from_secs(2), consumer.recv()).await {
        panic!(
            "{topic} has more than the expected {n} messages (offset {} in partition {})",
            extra.offset(),
            extra.partition()
        );
    }
    out
}

/// Reads exactly `n` records (decoded and validated) from `topic`.
pub async fn read_topic(bootstrap: &str, topic: &str, n: usize) -> Vec<Consumed> {
    let now = Utc::now();
    read_raw(bootstrap, topic, n)
        .await
        .into_iter()
        .map(|m| {
            let headers = rdkafka::message::OwnedHeaders::new();
            let headers = m.headers.iter().fold(headers, |h, (k, v)| {
                h.insert(rdkafka::message::Header {
                    key: k.as_str(),
                    value: Some(v.as_slice()),
                })
            });
            let record = stockfeed_kafka::decode_message(
                Some(&headers),
                m.key.as_deref(),
                Some(&m.payload),
                now,
            )
            .expect("a valid record");
            Consumed {
                key: String::from_utf8(m.key.unwrap_or_default()).unwrap(),
                record,
            }
        })
        .collect()
}

/// Produces records (with the standard key and headers) and waits for every acknowledgement.
pub async fn produce_records(bootstrap: &str, topic: &str, records: &[Record]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut deliveries = Vec::with_capacity(records.len());
    for record in records {
        let msg = stockfeed_kafka::OutgoingMessage::from_record(record);
        let delivery = producer
            .send_result(
                FutureRecord::to(topic)
                    .key(&msg.key)
                    .payload(&msg.payload)
                    .headers(msg.headers()),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
        deliveries.push(delivery);
    }
    for d in deliveries {
        d.await.expect("delivery").expect("acknowledged");
    }
}

/// Produces one raw message (for poison-message tests).
pub async fn produce_raw(bootstrap: &str, topic: &str, key: &[u8], payload: &[u8]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("poison message acknowledged");
}

/// Committed offsets of `group` and high watermarks of `topic`, per partition.
pub fn committed_and_high(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<(i64, i64)> {
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| {
            let c = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            (c, high)
        })
        .collect()
}

/// Records with unique ids whose event times start ten seconds before midnight UTC, so a run
/// spans two `dt` partitions.
pub fn records_across_midnight(n: usize) -> Vec<Record> {
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 25, 23, 59, 50).unwrap();
    sample_records(n)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let ts = start + chrono::Duration::milliseconds(i as i64);
            let mut r = r;
            match &mut r {
                Record::Trade(t) => {
                    t.event_ts = ts;
                    t.id = t.derive_id();
                }
                Record::Quote(q) => {
                    q.event_ts = ts;
                    q.id = q.derive_id();
                }
                Record::Bar(b) => {
                    b.event_ts = ts;
                    b.id = b.derive_id();
                }
            }
            r
        })
        .collect()
}

/// Every data object under a local lake: (relative path, JSON-lines records).
pub fn read_jsonl_lake(root: &std::path::Path) -> Vec<(String, Vec<Record>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read lake dir") {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                if !rel.starts_with('_') {
                    stack.push(path);
                }
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "a temporary file was left behind: {rel}"
            );
            let text = std::fs::read_to_string(&path).expect("read object");
            let records = text
                .lines()
                .map(|l| Record::parse_json(l.as_bytes()).expect("valid record"))
                .collect();
            out.push((rel, records));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A client of the S3-compatible test server (path-style, the test credentials).
pub async fn s3_client() -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let (access, secret) = s3_credentials();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(s3_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access, secret, None, None, "test"))
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    )
}

/// Commits `offset` for `group` on one partition, as a sink would (or as a crash before a
/// commit leaves it, when set back).
pub fn commit_offset(bootstrap: &str, group: &str, topic: &str, partition: i32, offset: i64) {
    use rdkafka::consumer::CommitMode;
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("offset");
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// Records a sink reports written, over every kind.
pub fn records_written(m: &stockfeed_sink::metrics::SinkMetrics) -> u64 {
    ["trade", "quote", "bar"]
        .iter()
        .map(|k| {
            m.records_written
                .get_or_create(&stockfeed_sink::metrics::KindLabels { kind: (*k).into() })
                .get()
        })
        .sum()
}
