//! Alpaca Market Data v2 stream: trades, quotes and bars over one WebSocket at
//! `{wsUrl}/v2/{feed}`.
//!
//! Handshake: the server greets with `[{"T":"success","msg":"connected"}]`, we send
//! `{"action":"auth",...}` and wait for `authenticated`, then subscribe to the configured
//! channels for every ticker. Every server frame is a JSON array; control and data messages can
//! share one frame and are handled in order. A stream `error` during the handshake decides what
//! happens next: 402 (auth failed) and 401 mark the source `Unauthorized` and retry slowly with
//! the secrets read again; every other code reconnects with backoff. After the handshake an
//! `error` message is logged and sent to the dead-letter topic, and the stream carries on.
//!
//! Message types `t` (trade), `q` (quote), `b` (minute bar), `u` (updated minute bar, emitted as
//! a new version of that bar) and `d` (daily bar) become records; other types (`s` status,
//! `c`/`x` corrections, `l` LULD) are skipped, not rejected, because they are not data we store.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use tracing::Instrument;

use super::normalise::{self, Tickers};
use super::retry::{Failure, RetryPolicy};
use super::ws::{self, Payload, WsStream};
use super::{Emitter, Source, SourceError, SourceHealth, Stopped};
use stockfeed_record::{
    Bar, BarInterval, Ohlc, Price, Provider, Quantity, Quote, Record, Symbol, Trade,
};
use stockfeed_spec::secret::Secret;
pub use stockfeed_spec::source::alpaca::AlpacaConfig;

const PROVIDER: Provider = Provider::Alpaca;

pub struct AlpacaSource {
    config: AlpacaConfig,
    tickers: Tickers,
}

impl AlpacaSource {
    pub fn new(config: AlpacaConfig, tickers: Vec<Symbol>) -> Result<Self, SourceError> {
        let bad = |message: String| SourceError::Config {
            provider: PROVIDER,
            message,
        };
        if tickers.is_empty() {
            return Err(bad("no tickers to subscribe to".into()));
        }
        if !(config.trades || config.quotes || config.bars || config.daily_bars) {
            return Err(bad(
                "none of trades, quotes, bars, dailyBars is enabled".into()
            ));
        }
        if config.feed.is_empty()
            || !config
                .feed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad(format!(
                "feed `{}` is not a feed name such as iex or sip",
                config.feed
            )));
        }
        reqwest::Url::parse(&config.ws_url)
            .map_err(|e| bad(format!("wsUrl `{}` is not a URL: {e}", config.ws_url)))?;
        Ok(Self {
            config,
            tickers: Tickers::new(&tickers),
        })
    }
}

impl Source for AlpacaSource {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        let span = tracing::info_span!("source", provider = %PROVIDER, feed = %self.config.feed);
        Box::pin(
            async move {
                match stream(&self.config, &self.tickers, &out).await {
                    Ok(()) => Ok(()),
                    Err(Stopped) if out.shutdown().is_cancelled() => Ok(()),
                    Err(Stopped) => Err(SourceError::Stopped { provider: PROVIDER }),
                }
            }
            .instrument(span),
        )
    }
}

async fn stream(config: &AlpacaConfig, tickers: &Tickers, out: &Emitter) -> Result<(), Stopped> {
    let mut policy = RetryPolicy::new(config.backoff, config.unauthorized_retry);
    loop {
        if out.shutdown().is_cancelled() {
            return Ok(());
        }
        match session(config, tickers, out, &mut policy).await? {
            None => return Ok(()),
            Some(failure) => policy.wait(out, &failure).await?,
        }
    }
}

/// Where the connection is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Authenticating,
    Subscribing,
    Streaming,
}

/// One connection; `None` on shutdown, else why it ended.
async fn session(
    config: &AlpacaConfig,
    tickers: &Tickers,
    out: &Emitter,
    policy: &mut RetryPolicy,
) -> Result<Option<Failure>, Stopped> {
    let (key, secret) = match (config.key_id.load(), config.secret_key.load()) {
        (Ok(k), Ok(s)) => (k, s),
        (Err(e), _) | (_, Err(e)) => {
            return Ok(Some(Failure::Unauthorized(format!(
                "cannot read the Alpaca credentials: {e}"
            ))));
        }
    };
    let url = format!("{}/v2/{}", config.ws_url.trim_end_matches('/'), config.feed);
    let secrets = [&key, &secret];
    let connecting = ws::connect(&url, &[], config.request_timeout, &secrets)
        .instrument(tracing::info_span!("ws_connect", provider = %PROVIDER, url = %super::redact::without_query(&url)));
    let mut socket = tokio::select! {
        () = out.shutdown().cancelled() => return Ok(None),
        c = connecting => match c {
            Ok(s) => s,
            Err(f) => return Ok(Some(f)),
        },
    };
    let mut phase = Phase::Connecting;
    loop {
        // During the handshake each step must answer within the request timeout.
        let wait = if phase == Phase::Streaming {
            config.read_timeout
        } else {
            config.request_timeout
        };
        let next = tokio::select! {
            () = out.shutdown().cancelled() => {
                ws::close(&mut socket).await;
                return Ok(None);
            }
            n = ws::next_payload(&mut socket, wait) => n,
        };
        let raw = match next {
            Ok(Payload::Text(raw)) => raw,
            Ok(Payload::Binary(raw)) => {
                out.reject(
                    "unexpected binary frame (msgpack is not negotiated; expected JSON text)",
                    raw,
                )
                .await?;
                continue;
            }
            Err(f) => {
                let f = if phase == Phase::Streaming {
                    f
                } else {
                    Failure::Transient(format!("during the handshake ({phase:?}): {}", f.message()))
                };
                return Ok(Some(f));
            }
        };
        let messages = match frame_messages(&raw) {
            Ok(m) => m,
            Err(reason) => {
                out.reject(reason, raw).await?;
                continue;
            }
        };
        for (i, message) in messages.iter().enumerate() {
            let kind = message
                .get("T")
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            match kind {
                "success" | "subscription" | "error" => {
                    if let Some(end) = control(
                        kind,
                        message,
                        &mut phase,
                        &mut socket,
                        config,
                        tickers,
                        out,
                        (&key, &secret),
                        &raw,
                    )
                    .await?
                    {
                        ws::close(&mut socket).await;
                        return Ok(Some(end));
                    }
                    if phase == Phase::Streaming && kind == "subscription" {
                        policy.succeeded();
                    }
                }
                "t" | "q" | "b" | "u" | "d" => {
                    data_message(kind, message, i, &raw, tickers, out).await?
                }
                "" => {
                    out.reject(
                        format!("field `[{i}].T` is missing or not a string"),
                        raw.clone(),
                    )
                    .await?
                }
                other => tracing::trace!(kind = other, "skipping message type"),
            }
        }
    }
}

/// The messages of one frame: Alpaca sends every frame as a JSON array of them. Public, like
/// [`data_message`], for the fuzz targets (`crate::fuzzing`).
pub fn frame_messages(raw: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    normalise::parse_json(raw).and_then(|v| match v {
        serde_json::Value::Array(items) => Ok(items),
        _ => Err("expected a JSON array of messages".to_owned()),
    })
}

/// A data message (`T` is `t`, `q`, `b`, `u` or `d`) at `index` of the frame `raw`: emitted as
/// a record, or rejected with the whole frame.
pub async fn data_message(
    kind: &str,
    message: &serde_json::Value,
    index: usize,
    raw: &[u8],
    tickers: &Tickers,
    out: &Emitter,
) -> Result<(), Stopped> {
    match data(kind, message, index, tickers, out) {
        Ok(record) => normalise::emit(out, record, raw).await,
        Err(reason) => out.reject(reason, raw).await,
    }
}

/// Handles a control message; `Some` ends the connection with that failure.
#[allow(clippy::too_many_arguments)]
async fn control(
    kind: &str,
    message: &serde_json::Value,
    phase: &mut Phase,
    socket: &mut WsStream,
    config: &AlpacaConfig,
    tickers: &Tickers,
    out: &Emitter,
    (key, secret): (&Secret, &Secret),
    raw: &[u8],
) -> Result<Option<Failure>, Stopped> {
    let msg = message
        .get("msg")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    match (kind, msg) {
        ("success", "connected") => {
            let auth = serde_json::json!({"action": "auth", "key": key.expose(), "secret": secret.expose()}).to_string();
            if let Err(f) = ws::send_text(socket, auth).await {
                return Ok(Some(f));
            }
            *phase = Phase::Authenticating;
        }
        ("success", "authenticated") => {
            if let Err(f) = ws::send_text(socket, subscribe_message(config, tickers)).await {
                return Ok(Some(f));
            }
            *phase = Phase::Subscribing;
        }
        ("subscription", _) => {
            tracing::info!(subscription = %message, "subscribed");
            *phase = Phase::Streaming;
            out.set_health(SourceHealth::Ready);
        }
        ("error", _) => {
            let code = message
                .get("code")
                .and_then(|c| c.as_i64())
                .unwrap_or_default();
            let text = super::redact::scrub(msg, &[key, secret]);
            let description = format!("Alpaca stream error {code}: {text}");
            if *phase != Phase::Streaming {
                return Ok(Some(match code {
                    401 | 402 => Failure::Unauthorized(description),
                    _ => Failure::Transient(description),
                }));
            }
            tracing::warn!("{description}");
            out.reject(description, raw).await?;
        }
        _ => tracing::debug!(kind, msg, "ignoring control message"),
    }
    Ok(None)
}

fn subscribe_message(config: &AlpacaConfig, tickers: &Tickers) -> String {
    let symbols: Vec<&str> = tickers.iter().map(Symbol::as_str).collect();
    let mut msg = serde_json::json!({"action": "subscribe"});
    for (channel, on) in [
        ("trades", config.trades),
        ("quotes", config.quotes),
        ("bars", config.bars),
        ("updatedBars", config.bars),
        ("dailyBars", config.daily_bars),
    ] {
        if on {
            msg[channel] = serde_json::json!(symbols);
        }
    }
    msg.to_string()
}

#[derive(Deserialize)]
struct WireTrade {
    #[serde(rename = "S")]
    symbol: String,
    p: Price,
    s: Quantity,
    t: DateTime<Utc>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    c: Option<Vec<String>>,
    #[serde(default)]
    i: Option<u64>,
}

#[derive(Deserialize)]
struct WireQuote {
    #[serde(rename = "S")]
    symbol: String,
    bp: Price,
    bs: Quantity,
    ap: Price,
    #[serde(rename = "as")]
    ask_size: Quantity,
    t: DateTime<Utc>,
    #[serde(default)]
    bx: Option<String>,
    #[serde(default)]
    ax: Option<String>,
}

#[derive(Deserialize)]
struct WireBar {
    #[serde(rename = "S")]
    symbol: String,
    o: Price,
    h: Price,
    l: Price,
    c: Price,
    v: Quantity,
    t: DateTime<Utc>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    vw: Option<Price>,
}

fn data(
    kind: &str,
    message: &serde_json::Value,
    index: usize,
    tickers: &Tickers,
    out: &Emitter,
) -> Result<Record, String> {
    let prefix = format!("[{index}]");
    let symbol_field = format!("{prefix}.S");
    Ok(match kind {
        "t" => {
            let w: WireTrade = normalise::parse_value(message, &prefix)?;
            let symbol = tickers.accept(&symbol_field, &w.symbol)?;
            let mut trade = Trade::new(PROVIDER, symbol, w.t, out.now(), w.p, w.s);
            if let Some(x) = w.x {
                trade = trade.with_exchange(x);
            }
            if let Some(c) = w.c.filter(|c| !c.is_empty()) {
                trade = trade.with_conditions(c);
            }
            if let Some(i) = w.i {
                trade = trade.with_trade_id(i.to_string());
            }
            trade.into()
        }
        "q" => {
            let w: WireQuote = normalise::parse_value(message, &prefix)?;
            let symbol = tickers.accept(&symbol_field, &w.symbol)?;
            let quote = Quote::new(
                PROVIDER,
                symbol,
                w.t,
                out.now(),
                w.bp,
                w.bs,
                w.ap,
                w.ask_size,
            );
            if w.bx.is_some() || w.ax.is_some() {
                quote.with_exchanges(w.bx, w.ax)
            } else {
                quote
            }
            .into()
        }
        _ => {
            let w: WireBar = normalise::parse_value(message, &prefix)?;
            let symbol = tickers.accept(&symbol_field, &w.symbol)?;
            let seconds = if kind == "d" { 86_400 } else { 60 };
            let interval = BarInterval::from_seconds(seconds).map_err(|e| e.to_string())?;
            let ohlc = Ohlc {
                open: w.o,
                high: w.h,
                low: w.l,
                close: w.c,
            };
            let bar = Bar::new(PROVIDER, symbol, w.t, out.now(), interval, ohlc, w.v);
            if w.vw.is_some() || w.n.is_some() {
                bar.with_stats(w.vw, w.n)
            } else {
                bar
            }
            .into()
        }
    })
}
