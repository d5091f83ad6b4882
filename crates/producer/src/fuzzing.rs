//! Entry points for the fuzz targets (`fuzz/`, run by `hack/fuzz.sh`) and for the replay
//! of their seeds and findings in `worker/tests/fuzz_regressions.rs`.
//!
//! Each function takes the untrusted bytes one parser sees in production (a WebSocket frame, an
//! HTTP body, a replay file, a Kafka message) and panics when an invariant breaks, so that
//! libFuzzer reports it as a crash and the stable test suite can replay the input without
//! nightly. Keeping the checks here rather than in the fuzz crate means both run the very same
//! code. The invariants go beyond "does not panic":
//!
//! - every record a source hands over passes [`Record::validate`], is for one of the configured
//!   tickers, and survives the wire round trip (JSON and the Kafka message) unchanged;
//! - every rejection has a non-empty reason, and reasons derived from an answer that was sent
//!   with a key never contain that key;
//! - nothing is dropped silently: a data message becomes exactly one record or one rejection;
//! - a poller re-reading the same answer emits no record a second time;
//! - the record decoders agree with each other (`parse_json`, `from_json`, `from_json_as`,
//!   `decode_message`), and what decodes re-encodes to the same record.
//!
//! A parser that never returns is caught by libFuzzer's `-timeout` (see `hack/fuzz.sh`).
//!
//! The inputs are plain bytes (no `arbitrary` structure) so that a seed file is a real payload
//! and a crash file can be read as one; only [`kafka_message`] frames its input (see there).

use std::future::Future;

use chrono::{DateTime, Utc};
use rdkafka::message::{Header, OwnedHeaders};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::source::alphavantage::{self, AlphaVantageConfig};
use crate::source::bar_tracker::BarTracker;
use crate::source::http::Fetched;
use crate::source::normalise::Tickers;
use crate::source::replay::{self, ReplayConfig, ReplayFormat};
use crate::source::yahoo::{self, YahooConfig, YahooSource};
use crate::source::{Emitter, SourceItem, Stopped, alpaca, finnhub};
use stockfeed_kafka::{OutgoingMessage, decode_message};
use stockfeed_record::{Provider, Record, RecordKind, Symbol};
use stockfeed_spec::secret::Secret;

/// One fuzz target: its name (the fuzz binary, and the folder of its seeds and regressions)
/// and its entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `hack/fuzz.sh` runs them.
pub const TARGETS: &[Target] = &[
    ("finnhub_ws", finnhub_ws),
    ("finnhub_rest", finnhub_rest),
    ("alpaca_ws", alpaca_ws),
    ("alphavantage", alphavantage),
    ("yahoo", yahoo),
    ("replay", replay),
    ("record", record),
    ("kafka_message", kafka_message),
];

/// The key the REST answers are "sent with". Upper-case letters and digits only, so that no
/// scrubbed text (`<redacted>`) can combine with its neighbours into it; the fuzz dictionary
/// holds it so that mutations insert it into payloads.
pub const SECRET: &str = "FUZZKEY7Q2X9";

/// The configured tickers: those of the sample payloads in `worker/tests/fixtures/providers`.
pub const TICKERS: [&str; 5] = ["AAPL", "MSFT", "IBM", "SPY", "AMD"];

fn tickers() -> Vec<Symbol> {
    TICKERS.iter().filter_map(|t| Symbol::new(t).ok()).collect()
}

/// The ticker a REST request asked for: the first one named in the answer, so that answers for
/// any configured ticker get past the "is this the symbol we asked for" check.
fn requested(data: &[u8]) -> Symbol {
    let all = tickers();
    let named = all.iter().find(|s| {
        data.windows(s.as_str().len())
            .any(|w| w == s.as_str().as_bytes())
    });
    named.unwrap_or(&all[0]).clone()
}

thread_local! {
    /// One runtime per thread, built once: building one per input would dominate the run time.
    static RUNTIME: tokio::runtime::Runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a tokio runtime for the fuzz targets: {e}"),
    };
}

/// Runs a source's handler against a fresh [`Emitter`] and returns what it handed over. The
/// items are drained while the handler runs, so a payload yielding more items than the channel
/// holds does not block; the emitter is dropped when the handler ends, which ends the drain.
fn run_source<F>(provider: Provider, handler: impl FnOnce(Emitter) -> F) -> Vec<SourceItem>
where
    F: Future<Output = Result<(), Stopped>>,
{
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let (out, mut rx, _health) = Emitter::new(provider, 16, CancellationToken::new());
            let collect = async {
                let mut items = Vec::new();
                while let Some(item) = rx.recv().await {
                    items.push(item);
                }
                items
            };
            let (result, items) = tokio::join!(handler(out), collect);
            assert_eq!(
                result,
                Ok(()),
                "the handler stopped although nobody shut it down"
            );
            items
        })
    })
}

/// The invariants of everything a source hands over (see the module docs); `secret` is the key
/// the answer was fetched with, if any.
fn check_items(provider: Option<Provider>, items: &[SourceItem], secret: Option<&str>) {
    let tickers = tickers();
    let now = Utc::now();
    for item in items {
        match item {
            SourceItem::Record(record) => {
                if let Some(p) = provider {
                    assert_eq!(record.provider(), p, "record from the wrong provider");
                }
                assert!(
                    tickers.contains(record.symbol()),
                    "record for {}, which is not a configured ticker",
                    record.symbol()
                );
                if let Err(e) = record.validate(now) {
                    panic!("a source handed over an invalid record ({e}): {record:?}");
                }
                check_wire_round_trip(record, now);
            }
            SourceItem::Rejected(rejected) => {
                if let Some(p) = provider {
                    assert_eq!(rejected.provider, p, "rejection from the wrong provider");
                }
                assert!(
                    !rejected.reason.trim().is_empty(),
                    "rejection without a reason"
                );
                if let Some(secret) = secret {
                    assert!(
                        !rejected.reason.contains(secret),
                        "rejection reason leaks the key: {}",
                        rejected.reason
                    );
                }
            }
        }
    }
}

/// A valid record comes back unchanged from its JSON and from its Kafka message.
fn check_wire_round_trip(record: &Record, now: DateTime<Utc>) {
    let wire = record.to_json();
    match Record::parse_json(&wire) {
        Ok(back) => {
            assert_eq!(&back, record, "the record changed on a JSON round trip");
            assert_eq!(back.to_json(), wire, "re-encoding changed the JSON");
        }
        Err(e) => panic!(
            "a record's own JSON does not parse ({e}): {}",
            String::from_utf8_lossy(&wire)
        ),
    }
    let message = OutgoingMessage::from_record(record);
    let decoded = decode_message(
        Some(&message.headers()),
        Some(message.key.as_bytes()),
        Some(&message.payload),
        now,
    );
    assert_eq!(
        decoded.as_ref(),
        Ok(record),
        "the record changed on a Kafka round trip"
    );
}

fn records(items: &[SourceItem]) -> Vec<&Record> {
    items
        .iter()
        .filter_map(|i| match i {
            SourceItem::Record(r) => Some(r),
            SourceItem::Rejected(_) => None,
        })
        .collect()
}

/// A poller sees the same bars on every poll and must emit each once: polling the same answer
/// again emits no record, unless the first poll had two versions of one bar (same start), which
/// the tracker treats as a correction each time.
fn check_repoll(first: &[SourceItem], second: &[SourceItem]) {
    let emitted = records(first);
    let mut starts: Vec<_> = emitted.iter().map(|r| (r.symbol(), r.event_ts())).collect();
    starts.sort();
    starts.dedup();
    if starts.len() == emitted.len() {
        let again = records(second);
        assert!(
            again.is_empty(),
            "polling the same answer again emitted {} record(s) again: {again:?}",
            again.len()
        );
    }
}

/// A Finnhub WebSocket text frame (`handle_frame`): trades, ping, error.
pub fn finnhub_ws(data: &[u8]) {
    let tickers = Tickers::new(&tickers());
    let items = run_source(Provider::Finnhub, |out| async move {
        finnhub::handle_frame(data, &tickers, &out).await
    });
    check_items(Some(Provider::Finnhub), &items, None);
    // No silent drops: a frame that is not JSON is rejected, and each element of a trade
    // message's `data` becomes one record or one rejection.
    match serde_json::from_slice::<serde_json::Value>(data) {
        Err(_) => assert_eq!(items.len(), 1, "a frame that is not JSON: {items:?}"),
        Ok(value) => {
            let trades = (value.get("type").and_then(|t| t.as_str()) == Some("trade"))
                .then(|| value.get("data").and_then(|d| d.as_array()))
                .flatten();
            if let Some(trades) = trades {
                assert_eq!(items.len(), trades.len(), "trades in, items out: {items:?}");
            }
        }
    }
}

/// Finnhub's REST `/quote` answer (`quote`), polled twice.
pub fn finnhub_rest(data: &[u8]) {
    let fetched = Fetched::new(StatusCode::OK, data.to_vec(), vec![Secret::new(SECRET)]);
    let symbol = requested(data);
    let mut tracker = BarTracker::default();
    let mut poll = || {
        run_source(Provider::Finnhub, |out| {
            let (fetched, symbol, tracker) = (&fetched, &symbol, &mut tracker);
            async move { finnhub::quote(fetched, symbol, &out, tracker).await }
        })
    };
    let first = poll();
    let second = poll();
    for items in [&first, &second] {
        check_items(Some(Provider::Finnhub), items, Some(SECRET));
    }
    assert_eq!(first.len(), 1, "one quote, one item: {first:?}");
    check_repoll(&first, &second);
}

/// An Alpaca stream frame: its split into messages (`frame_messages`) and every data message
/// (`data_message`). Control messages need the socket and are left to the integration tests.
pub fn alpaca_ws(data: &[u8]) {
    let tickers = Tickers::new(&tickers());
    let messages = match alpaca::frame_messages(data) {
        Ok(m) => m,
        Err(reason) => {
            assert!(!reason.trim().is_empty(), "frame refused without a reason");
            return;
        }
    };
    let mut data_messages = 0;
    let items = run_source(Provider::Alpaca, |out| {
        let (messages, tickers, data_messages) = (&messages, &tickers, &mut data_messages);
        async move {
            for (i, message) in messages.iter().enumerate() {
                let kind = message
                    .get("T")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default();
                if matches!(kind, "t" | "q" | "b" | "u" | "d") {
                    *data_messages += 1;
                    alpaca::data_message(kind, message, i, data, tickers, &out).await?;
                }
            }
            Ok(())
        }
    });
    check_items(Some(Provider::Alpaca), &items, None);
    assert_eq!(
        items.len(),
        data_messages,
        "data messages in, items out: {items:?}"
    );
}

/// An Alpha Vantage answer (`handle`), read as both functions the source can poll, each polled
/// twice; also the HTTP-200 error classifier (`classify`).
pub fn alphavantage(data: &[u8]) {
    let pause = std::time::Duration::from_secs(60);
    if let Some(failure) = alphavantage::classify(StatusCode::OK, data, pause) {
        assert!(
            !failure.message().trim().is_empty(),
            "a failure without a message"
        );
    }
    let symbol = requested(data);
    let tickers = Tickers::new(&tickers());
    let interval = ["1min", "5min", "15min", "30min", "60min"]
        .into_iter()
        .find(|i| {
            let key = format!("Time Series ({i})");
            data.windows(key.len()).any(|w| w == key.as_bytes())
        })
        .unwrap_or("5min");
    for function in ["globalQuote", "intraday"] {
        let config: AlphaVantageConfig = match serde_json::from_value(serde_json::json!({
            "apiKey": {"env": "STOCKFEED_FUZZ_UNUSED"},
            "function": function,
            "interval": interval,
        })) {
            Ok(c) => c,
            Err(e) => panic!("the fuzz configuration does not parse: {e}"),
        };
        let fetched = Fetched::new(StatusCode::OK, data.to_vec(), vec![Secret::new(SECRET)]);
        let mut tracker = BarTracker::default();
        let mut poll = || {
            run_source(Provider::AlphaVantage, |out| {
                let (fetched, symbol, config, tickers, tracker) =
                    (&fetched, &symbol, &config, &tickers, &mut tracker);
                async move {
                    alphavantage::handle(fetched, symbol, config, tickers, &out, tracker).await
                }
            })
        };
        let first = poll();
        let second = poll();
        for items in [&first, &second] {
            check_items(Some(Provider::AlphaVantage), items, Some(SECRET));
        }
        if function == "globalQuote" {
            assert_eq!(first.len(), 1, "one quote, one item: {first:?}");
        }
        check_repoll(&first, &second);
    }
}

/// A Yahoo chart answer (`handle`), polled twice.
pub fn yahoo(data: &[u8]) {
    let config: YahooConfig = match serde_json::from_value(serde_json::json!({"interval": "1m"})) {
        Ok(c) => c,
        Err(e) => panic!("the fuzz configuration does not parse: {e}"),
    };
    let source = match YahooSource::new(config, tickers()) {
        Ok(s) => s,
        Err(e) => panic!("the fuzz configuration is refused: {e}"),
    };
    let symbol = requested(data);
    let fetched = Fetched::new(StatusCode::OK, data.to_vec(), Vec::new());
    let mut tracker = BarTracker::default();
    let mut poll = || {
        run_source(Provider::Yahoo, |out| {
            let (fetched, symbol, source, tracker) = (&fetched, &symbol, &source, &mut tracker);
            async move { yahoo::handle(fetched, symbol, source, &out, tracker).await }
        })
    };
    let first = poll();
    let second = poll();
    for items in [&first, &second] {
        check_items(Some(Provider::Yahoo), items, None);
    }
    check_repoll(&first, &second);
}

/// A replay file's content (`parse_bytes`), read in each of the three formats.
pub fn replay(data: &[u8]) {
    let tickers = tickers();
    let ingest = Utc::now();
    for format in [
        ReplayFormat::CsvBars,
        ReplayFormat::CsvTrades,
        ReplayFormat::Jsonl,
    ] {
        let config: ReplayConfig = match serde_json::from_value(serde_json::json!({
            "path": "fuzz-input",
            "format": format,
        })) {
            Ok(c) => c,
            Err(e) => panic!("the fuzz configuration does not parse: {e}"),
        };
        let parsed = match replay::parse_bytes(data.to_vec(), &config, &tickers, ingest) {
            Ok(p) => p,
            Err(reason) => {
                assert!(!reason.trim().is_empty(), "file refused without a reason");
                continue;
            }
        };
        assert!(
            parsed
                .records
                .windows(2)
                .all(|w| w[0].event_ts() <= w[1].event_ts()),
            "replay records out of event-time order"
        );
        // The source restamps each record's ingest time when it emits it, then hands it over
        // as it is: the records must be valid as they will be sent.
        let now = Utc::now();
        let items: Vec<SourceItem> = parsed
            .records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.set_ingest_ts(now);
                SourceItem::Record(r)
            })
            .chain(parsed.rejected.iter().map(|(reason, raw)| {
                SourceItem::Rejected(crate::source::Rejected {
                    provider: Provider::Replay,
                    reason: reason.clone(),
                    raw: raw.clone(),
                })
            }))
            .collect();
        check_items(None, &items, None);
    }
}

/// The record decoder: `Record::parse_json` and its validating variants.
pub fn record(data: &[u8]) {
    let now = Utc::now();
    let parsed = Record::parse_json(data);
    // The fast reader of the form producers write (`record/canonical.rs`) may only ever give
    // serde's answer; where it steps aside, serde answers anyway.
    assert_eq!(
        parsed,
        Record::parse_json_with_serde(data),
        "the canonical reader and serde disagree"
    );
    let full = Record::from_json(data, now);
    match &parsed {
        Ok(record) => {
            let valid = record.validate(now);
            match &full {
                Ok(r) => assert_eq!(r, record, "from_json and parse_json disagree"),
                Err(e) => assert!(valid.is_err(), "from_json refuses ({e}) a valid record"),
            }
            if valid.is_ok() {
                check_wire_round_trip(record, now);
            } else {
                // Even an invalid record must re-encode to itself: the dead-letter path and
                // the tools that repair records read it back.
                let wire = record.to_json();
                assert_eq!(
                    Record::parse_json(&wire).as_ref(),
                    Ok(record),
                    "an invalid record changed on a JSON round trip"
                );
            }
        }
        Err(e) => {
            assert!(
                !e.to_string().trim().is_empty(),
                "an error without a reason"
            );
            assert!(
                full.is_err(),
                "from_json accepts what parse_json refuses ({e})"
            );
        }
    }
    for kind in RecordKind::ALL {
        let known = Record::from_json_as(kind, data, now);
        match (&full, &known) {
            (Ok(r), Ok(k)) => assert_eq!(r, k, "from_json_as({kind}) and from_json disagree"),
            (Ok(r), Err(e)) => assert_ne!(
                r.kind(),
                kind,
                "from_json_as({kind}) refuses ({e}) what from_json accepts"
            ),
            (Err(e), Ok(k)) => panic!("from_json_as({kind}) accepts {k:?}, from_json refuses: {e}"),
            (Err(_), Err(_)) => {}
        }
    }
}

/// A Kafka message as the sink consumes it (`decode_message`). The input is framed as:
///
/// ```text
/// name:value        one header per line (a line without `:` is a header without a value)
/// ...
///                   an empty line; without one, the message has no headers at all
/// KEY               the key, up to the next newline (without a newline: no payload)
/// {"kind":...}      the payload: the rest
/// ```
pub fn kafka_message(data: &[u8]) {
    let (headers, rest) = match find(data, b"\n\n") {
        Some(at) => {
            let mut headers = OwnedHeaders::new();
            for line in data[..at].split(|b| *b == b'\n') {
                let (name, value) = match line.iter().position(|b| *b == b':') {
                    Some(colon) => (&line[..colon], Some(&line[colon + 1..])),
                    None => (line, None),
                };
                headers = headers.insert(Header {
                    key: &String::from_utf8_lossy(name),
                    value,
                });
            }
            (Some(headers), &data[at + 2..])
        }
        None => (None, data),
    };
    let (key, payload) = match rest.iter().position(|b| *b == b'\n') {
        Some(nl) => (Some(&rest[..nl]), Some(&rest[nl + 1..])),
        None => (Some(rest), None),
    };
    let now = Utc::now();
    match decode_message(headers.as_ref(), key, payload, now) {
        Ok(record) => {
            if let Err(e) = record.validate(now) {
                panic!("decode_message accepted an invalid record ({e}): {record:?}");
            }
            assert_eq!(
                key,
                Some(record.symbol().as_str().as_bytes()),
                "decode_message accepted a key that is not the record's symbol"
            );
            check_wire_round_trip(&record, now);
        }
        Err(e) => assert!(
            !e.to_string().trim().is_empty(),
            "an error without a reason"
        ),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
