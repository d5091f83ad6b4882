//! Finnhub: trades over WebSocket (`mode: stream`, the default) or the REST `/quote` endpoint
//! polled as a fallback (`mode: poll`) where WebSockets cannot get out.
//!
//! The key travels as the `token` query parameter on both (Finnhub does not reliably accept a
//! header), so URLs are never logged with their query.
//!
//! **What the REST fallback emits.** `/quote` returns the day so far: open, high, low, the
//! current price and the time of the last update, but no volume and no individual trades. A
//! `Trade` would invent a print that may not have happened, at a size we do not know, so the
//! poller emits a **1d `Bar`**: `open`/`high`/`low` as given, `close` = the current price,
//! starting at midnight New York of the quote's date (where Alpaca, Polygon and Yahoo start
//! their day bars, so they line up). The volume is not reported and is written as `0`; a reader
//! must not sum Finnhub day-bar volumes. While the day is open, each poll with a new price
//! emits a new version of that bar (a new id: same start, new values), and readers take the
//! one with the latest `ingest_ts`. Polls that change nothing emit nothing.
//!
//! An all-zero quote is Finnhub's "unknown or unavailable symbol" and is rejected, never read
//! as a price of 0.

use futures_util::future::BoxFuture;
use serde::Deserialize;
use tracing::Instrument;

use super::bar_tracker::BarTracker;
use super::http::{Fetched, HttpClient, HttpSettings};
use super::normalise::{self, Tickers};
use super::retry::{Failure, RetryPolicy};
use super::ws::{self, Payload};
use super::{Emitter, Source, SourceError, SourceHealth, Stopped};
use stockfeed_record::{Bar, BarInterval, Ohlc, Price, Provider, Quantity, Record, Symbol, Trade};
pub use stockfeed_spec::source::finnhub::{FinnhubConfig, FinnhubMode};

const PROVIDER: Provider = Provider::Finnhub;

pub struct FinnhubSource {
    config: FinnhubConfig,
    tickers: Tickers,
}

impl FinnhubSource {
    pub fn new(config: FinnhubConfig, tickers: Vec<Symbol>) -> Result<Self, SourceError> {
        let bad = |message: String| SourceError::Config {
            provider: PROVIDER,
            message,
        };
        if let Some(p) = config.rate_limit.problem() {
            return Err(bad(p));
        }
        if tickers.is_empty() {
            return Err(bad("no tickers to subscribe to".into()));
        }
        for (field, url) in [("baseUrl", &config.base_url), ("wsUrl", &config.ws_url)] {
            reqwest::Url::parse(url)
                .map_err(|e| bad(format!("{field} `{url}` is not a URL: {e}")))?;
        }
        Ok(Self {
            config,
            tickers: Tickers::new(&tickers),
        })
    }
}

impl Source for FinnhubSource {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        let span = tracing::info_span!("source", provider = %PROVIDER, mode = ?self.config.mode);
        Box::pin(
            async move {
                let result = match self.config.mode {
                    FinnhubMode::Stream => stream(&self.config, &self.tickers, &out).await,
                    FinnhubMode::Poll => poll(&self.config, &self.tickers, &out).await?,
                };
                finish(result, &out)
            }
            .instrument(span),
        )
    }
}

/// `Stopped` is the normal end on shutdown; otherwise the producer went away.
fn finish(result: Result<(), Stopped>, out: &Emitter) -> Result<(), SourceError> {
    match result {
        Ok(()) => Ok(()),
        Err(Stopped) if out.shutdown().is_cancelled() => Ok(()),
        Err(Stopped) => Err(SourceError::Stopped { provider: PROVIDER }),
    }
}

// ---- WebSocket ----------------------------------------------------------------------------

async fn stream(config: &FinnhubConfig, tickers: &Tickers, out: &Emitter) -> Result<(), Stopped> {
    let mut policy = RetryPolicy::new(config.backoff, config.unauthorized_retry);
    loop {
        if out.shutdown().is_cancelled() {
            return Ok(());
        }
        let failure = match session(config, tickers, out, &mut policy).await? {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Failed(f) => f,
        };
        policy.wait(out, &failure).await?;
    }
}

enum SessionEnd {
    Shutdown,
    Failed(Failure),
}

/// One connection: connect, subscribe every ticker, read until it breaks or shutdown.
async fn session(
    config: &FinnhubConfig,
    tickers: &Tickers,
    out: &Emitter,
    policy: &mut RetryPolicy,
) -> Result<SessionEnd, Stopped> {
    let token = match config.token.load() {
        Ok(t) => t,
        Err(e) => {
            return Ok(SessionEnd::Failed(Failure::Unauthorized(format!(
                "cannot read the Finnhub token: {e}"
            ))));
        }
    };
    let url = match reqwest::Url::parse_with_params(&config.ws_url, [("token", token.expose())]) {
        Ok(u) => u,
        Err(e) => {
            return Ok(SessionEnd::Failed(Failure::Transient(format!(
                "invalid wsUrl: {e}"
            ))));
        }
    };
    let secrets = [&token];
    let connecting = ws::connect(url.as_str(), &[], config.request_timeout, &secrets)
        .instrument(tracing::info_span!("ws_connect", provider = %PROVIDER, url = %super::redact::without_query(url.as_str())));
    let mut socket = tokio::select! {
        () = out.shutdown().cancelled() => return Ok(SessionEnd::Shutdown),
        c = connecting => match c {
            Ok(s) => s,
            Err(f) => return Ok(SessionEnd::Failed(f)),
        },
    };
    for symbol in tickers.iter() {
        let msg = serde_json::json!({"type": "subscribe", "symbol": symbol.as_str()}).to_string();
        if let Err(f) = ws::send_text(&mut socket, msg).await {
            return Ok(SessionEnd::Failed(f));
        }
    }
    tracing::info!(tickers = tickers.iter().count(), "connected and subscribed");
    out.set_health(SourceHealth::Ready);
    let mut received_data = false;
    loop {
        let next = tokio::select! {
            () = out.shutdown().cancelled() => {
                unsubscribe(&mut socket, tickers).await;
                return Ok(SessionEnd::Shutdown);
            }
            n = ws::next_payload(&mut socket, config.read_timeout) => n,
        };
        match next {
            Ok(Payload::Text(raw)) => {
                if !received_data {
                    received_data = true;
                    policy.succeeded();
                }
                handle_frame(&raw, tickers, out).await?;
            }
            Ok(Payload::Binary(raw)) => {
                out.reject("unexpected binary frame (Finnhub sends JSON text)", raw)
                    .await?
            }
            Err(f) => return Ok(SessionEnd::Failed(f)),
        }
    }
}

async fn unsubscribe(socket: &mut ws::WsStream, tickers: &Tickers) {
    for symbol in tickers.iter() {
        let msg = serde_json::json!({"type": "unsubscribe", "symbol": symbol.as_str()}).to_string();
        if ws::send_text(socket, msg).await.is_err() {
            break;
        }
    }
    ws::close(socket).await;
}

#[derive(Deserialize)]
struct WsTrade {
    p: Price,
    s: String,
    t: i64,
    v: Quantity,
    #[serde(default)]
    c: Option<Vec<String>>,
}

/// One server message: a batch of trades, a keep-alive, or an error. Public so that the fuzz
/// targets (`crate::fuzzing`) feed it the same bytes a socket would.
pub async fn handle_frame(raw: &[u8], tickers: &Tickers, out: &Emitter) -> Result<(), Stopped> {
    let value = match normalise::parse_json(raw) {
        Ok(v) => v,
        Err(reason) => return out.reject(reason, raw).await,
    };
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    match kind {
        "ping" => Ok(()),
        "trade" => {
            let Some(items) = value.get("data").and_then(|d| d.as_array()) else {
                return out
                    .reject(
                        "field `data`: missing or not an array in a trade message",
                        raw,
                    )
                    .await;
            };
            for (i, item) in items.iter().enumerate() {
                match trade(item, i, tickers, out) {
                    Ok(record) => normalise::emit(out, record, raw).await?,
                    Err(reason) => out.reject(reason, raw).await?,
                }
            }
            Ok(())
        }
        "error" => {
            let msg = value
                .get("msg")
                .and_then(|m| m.as_str())
                .unwrap_or("(no msg)");
            tracing::warn!(provider_message = msg, "Finnhub reported an error");
            out.reject(format!("Finnhub error message: {msg}"), raw)
                .await
        }
        "" => {
            out.reject("field `type`: missing or not a string", raw)
                .await
        }
        other => {
            tracing::debug!(kind = other, "ignoring unknown Finnhub message type");
            Ok(())
        }
    }
}

fn trade(
    item: &serde_json::Value,
    index: usize,
    tickers: &Tickers,
    out: &Emitter,
) -> Result<Record, String> {
    let prefix = format!("data[{index}]");
    let t: WsTrade = normalise::parse_value(item, &prefix)?;
    let symbol = tickers.accept(&format!("{prefix}.s"), &t.s)?;
    let event_ts = normalise::from_millis(&format!("{prefix}.t"), t.t)?;
    let mut trade = Trade::new(PROVIDER, symbol, event_ts, out.now(), t.p, t.v);
    if let Some(conditions) = t.c.filter(|c| !c.is_empty()) {
        trade = trade.with_conditions(conditions);
    }
    Ok(trade.into())
}

// ---- REST fallback ------------------------------------------------------------------------

async fn poll(
    config: &FinnhubConfig,
    tickers: &Tickers,
    out: &Emitter,
) -> Result<Result<(), Stopped>, SourceError> {
    let settings = HttpSettings {
        request_timeout: config.request_timeout,
        unauthorized_retry: config.unauthorized_retry,
        backoff: config.backoff,
        rate_limit: config.rate_limit,
        user_agent: super::http::USER_AGENT.into(),
    };
    let client = HttpClient::new(PROVIDER, settings, vec![config.token.clone()]).map_err(|e| {
        SourceError::Config {
            provider: PROVIDER,
            message: e.to_string(),
        }
    })?;
    let endpoint = format!("{}/quote", config.base_url.trim_end_matches('/'));
    let mut tracker = BarTracker::default();
    let mut ticks = tokio::time::interval(config.poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Ok(async {
        loop {
            tokio::select! {
                () = out.shutdown().cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            for symbol in tickers.iter() {
                let fetched = client
                    .fetch(
                        out,
                        &format!("quote {symbol}"),
                        |c, secrets| {
                            let token = secrets.first().map(|s| s.expose()).unwrap_or_default();
                            c.get(&endpoint)
                                .query(&[("symbol", symbol.as_str()), ("token", token)])
                        },
                        |_, _| None,
                    )
                    .await?;
                quote(&fetched, symbol, out, &mut tracker).await?;
            }
        }
    }
    .await)
}

#[derive(Deserialize)]
struct RestQuote {
    c: f64,
    h: f64,
    l: f64,
    o: f64,
    t: i64,
}

/// One `/quote` answer: a new day bar, nothing (unchanged), or a rejection. Public for the fuzz
/// targets (`crate::fuzzing`).
pub async fn quote(
    fetched: &Fetched,
    symbol: &Symbol,
    out: &Emitter,
    tracker: &mut BarTracker,
) -> Result<(), Stopped> {
    let raw = &fetched.body;
    if !fetched.status.is_success() {
        return out
            .reject(
                format!("quote {symbol}: HTTP {}", fetched.status),
                raw.clone(),
            )
            .await;
    }
    match day_bar(raw, symbol, out) {
        Ok(bar) => normalise::emit_bar(out, tracker, bar, raw).await,
        Err(reason) => {
            out.reject(
                fetched.scrub(&format!("quote {symbol}: {reason}")),
                raw.clone(),
            )
            .await
        }
    }
}

fn day_bar(raw: &[u8], symbol: &Symbol, out: &Emitter) -> Result<Bar, String> {
    let value = normalise::parse_json(raw)?;
    let q: RestQuote = normalise::parse_value(&value, "")?;
    if q.t == 0 || q.c == 0.0 {
        return Err(
            "unknown or unavailable symbol: Finnhub answered with all zeros (`c` and `t` are 0)"
                .into(),
        );
    }
    let price =
        |field: &str, v: f64| Price::from_f64(v).map_err(|e| format!("field `{field}` {e}"));
    let ohlc = Ohlc {
        open: price("o", q.o)?,
        high: price("h", q.h)?,
        low: price("l", q.l)?,
        close: price("c", q.c)?,
    };
    let updated = normalise::from_seconds("t", q.t)?;
    let start = super::market_time::day_start(super::market_time::new_york_date(updated))
        .map_err(|e| format!("field `t`: {e}"))?;
    let day = BarInterval::from_seconds(86_400).map_err(|e| e.to_string())?;
    Ok(Bar::new(
        PROVIDER,
        symbol.clone(),
        start,
        out.now(),
        day,
        ohlc,
        Quantity::from_scaled(0).map_err(|e| e.to_string())?,
    ))
}
