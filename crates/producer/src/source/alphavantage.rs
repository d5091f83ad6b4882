//! Alpha Vantage: `GLOBAL_QUOTE` or `TIME_SERIES_INTRADAY`, polled.
//!
//! Alpha Vantage reports every error with HTTP 200 and a JSON object keyed `Error Message`,
//! `Information` or `Note`, so those keys are checked before any data is read (as its reference
//! client does). Rate-limit texts become a pause of `rateLimitedPause`; a refused key becomes
//! `Unauthorized`; an `Error Message` about the call (unknown symbol, bad interval) rejects that
//! ticker's response. Some of these texts echo the key, so they are scrubbed before use.
//!
//! All values are strings, read as exact decimals. Intraday keys are wall-clock times in the
//! zone named by `6. Time Zone` (US/Eastern), converted DST-aware; a key labels its bar's
//! *start* (the last 5-minute bar of the extended session is `19:55:00`).
//!
//! `GLOBAL_QUOTE` carries only a trading date, so it becomes a 1d bar starting at midnight New
//! York of that date, the same choice as Finnhub's REST fallback; unlike Finnhub it has a real
//! volume.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use tracing::Instrument;

use super::bar_tracker::BarTracker;
use super::http::{Fetched, HttpClient, HttpSettings};
use super::market_time;
use super::normalise::{self, Tickers};
use super::retry::Failure;
use super::{Emitter, Source, SourceError, Stopped};
use stockfeed_record::{Bar, BarInterval, Ohlc, Price, Provider, Quantity, Symbol};
pub use stockfeed_spec::source::alphavantage::{
    AlphaVantageConfig, AlphaVantageFunction, AlphaVantageInterval,
};

const PROVIDER: Provider = Provider::AlphaVantage;

pub struct AlphaVantageSource {
    config: AlphaVantageConfig,
    tickers: Tickers,
}

impl AlphaVantageSource {
    pub fn new(config: AlphaVantageConfig, tickers: Vec<Symbol>) -> Result<Self, SourceError> {
        let bad = |message: String| SourceError::Config {
            provider: PROVIDER,
            message,
        };
        if let Some(p) = config.rate_limit.problem() {
            return Err(bad(p));
        }
        if tickers.is_empty() {
            return Err(bad("no tickers to poll".into()));
        }
        reqwest::Url::parse(&config.base_url)
            .map_err(|e| bad(format!("baseUrl `{}` is not a URL: {e}", config.base_url)))?;
        Ok(Self {
            config,
            tickers: Tickers::new(&tickers),
        })
    }
}

impl Source for AlphaVantageSource {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        let span =
            tracing::info_span!("source", provider = %PROVIDER, function = ?self.config.function);
        Box::pin(
            async move {
                match poll(&self.config, &self.tickers, &out).await? {
                    Ok(()) => Ok(()),
                    Err(Stopped) if out.shutdown().is_cancelled() => Ok(()),
                    Err(Stopped) => Err(SourceError::Stopped { provider: PROVIDER }),
                }
            }
            .instrument(span),
        )
    }
}

async fn poll(
    config: &AlphaVantageConfig,
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
    let client =
        HttpClient::new(PROVIDER, settings, vec![config.api_key.clone()]).map_err(|e| {
            SourceError::Config {
                provider: PROVIDER,
                message: e.to_string(),
            }
        })?;
    let function = match config.function {
        AlphaVantageFunction::Intraday => "TIME_SERIES_INTRADAY",
        AlphaVantageFunction::GlobalQuote => "GLOBAL_QUOTE",
    };
    let pause = config.rate_limited_pause;
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
                        &format!("{function} {symbol}"),
                        |c, secrets| {
                            let key = secrets.first().map(|s| s.expose()).unwrap_or_default();
                            let mut query = vec![
                                ("function", function),
                                ("symbol", symbol.as_str()),
                                ("apikey", key),
                            ];
                            if config.function == AlphaVantageFunction::Intraday {
                                query.push(("interval", config.interval.as_str()));
                            }
                            c.get(&config.base_url).query(&query)
                        },
                        |status, body| classify(status, body, pause),
                    )
                    .await;
                let fetched = match fetched {
                    Ok(f) => f,
                    Err(Stopped) => return Err(Stopped),
                };
                handle(&fetched, symbol, config, tickers, out, &mut tracker).await?;
            }
        }
    }
    .await)
}

/// Reads Alpha Vantage's HTTP-200 errors (see the module docs); `pause` is how long to wait
/// after a rate-limit answer, which comes without a Retry-After. Public for the fuzz targets.
pub fn classify(status: StatusCode, body: &[u8], pause: Duration) -> Option<Failure> {
    if status != StatusCode::OK {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    if let Some(msg) = object.get("Error Message").and_then(|m| m.as_str()) {
        return is_key_problem(msg)
            .then(|| Failure::Unauthorized(format!("Alpha Vantage refused the API key: {msg}")));
    }
    for key in ["Information", "Note"] {
        if let Some(msg) = object.get(key).and_then(|m| m.as_str()) {
            return Some(if is_rate_limit(msg) {
                Failure::RateLimited {
                    retry_after: Some(pause),
                    message: msg.to_owned(),
                }
            } else if is_key_problem(msg) {
                Failure::Unauthorized(format!("Alpha Vantage refused the API key: {msg}"))
            } else {
                Failure::Transient(format!("Alpha Vantage answered with `{key}`: {msg}"))
            });
        }
    }
    None
}

fn is_rate_limit(msg: &str) -> bool {
    let lower = msg.to_ascii_lowercase();
    lower.contains("rate limit")
        || lower.contains("call frequency")
        || lower.contains("requests per day")
}

fn is_key_problem(msg: &str) -> bool {
    let lower = msg.to_ascii_lowercase();
    (lower.contains("apikey") || lower.contains("api key"))
        && (lower.contains("invalid") || lower.contains("missing"))
}

/// One answer for `symbol`: bars (new ones emitted), or rejections naming the field. Public for
/// the fuzz targets (`crate::fuzzing`).
pub async fn handle(
    fetched: &Fetched,
    symbol: &Symbol,
    config: &AlphaVantageConfig,
    tickers: &Tickers,
    out: &Emitter,
    tracker: &mut BarTracker,
) -> Result<(), Stopped> {
    let raw = &fetched.body;
    let reject =
        |reason: String| out.reject(fetched.scrub(&format!("{symbol}: {reason}")), raw.clone());
    if !fetched.status.is_success() {
        return reject(format!("HTTP {}", fetched.status)).await;
    }
    let value = match normalise::parse_json(raw) {
        Ok(v) => v,
        Err(reason) => return reject(reason).await,
    };
    if let Some(msg) = value.get("Error Message").and_then(|m| m.as_str()) {
        return reject(format!(
            "`Error Message`: {msg} (unknown symbol or invalid call)"
        ))
        .await;
    }
    let bars = match config.function {
        AlphaVantageFunction::GlobalQuote => vec![global_quote(&value, symbol, tickers, out)],
        AlphaVantageFunction::Intraday => intraday(&value, symbol, config.interval, tickers, out),
    };
    for bar in bars {
        match bar {
            Ok(bar) => normalise::emit_bar(out, tracker, bar, raw).await?,
            Err(reason) => reject(reason).await?,
        }
    }
    Ok(())
}

fn field<'a>(object: &'a serde_json::Value, path: &str, key: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .ok_or_else(|| format!("field `{path}{key}` is missing"))?
        .as_str()
        .ok_or_else(|| format!("field `{path}{key}` is not a string"))
}

fn price(object: &serde_json::Value, path: &str, key: &str) -> Result<Price, String> {
    field(object, path, key)?
        .parse()
        .map_err(|e| format!("field `{path}{key}` {e}"))
}

fn volume(object: &serde_json::Value, path: &str, key: &str) -> Result<Quantity, String> {
    field(object, path, key)?
        .parse()
        .map_err(|e| format!("field `{path}{key}` {e}"))
}

fn global_quote(
    value: &serde_json::Value,
    requested: &Symbol,
    tickers: &Tickers,
    out: &Emitter,
) -> Result<Bar, String> {
    const P: &str = "Global Quote.";
    let q = value
        .get("Global Quote")
        .ok_or("field `Global Quote` is missing")?;
    if q.as_object().is_some_and(|o| o.is_empty()) {
        return Err("field `Global Quote` is empty: unknown symbol".into());
    }
    let symbol = tickers.accept("Global Quote.01. symbol", field(q, P, "01. symbol")?)?;
    if &symbol != requested {
        return Err(format!(
            "field `Global Quote.01. symbol` is {symbol}, but {requested} was requested"
        ));
    }
    let ohlc = Ohlc {
        open: price(q, P, "02. open")?,
        high: price(q, P, "03. high")?,
        low: price(q, P, "04. low")?,
        close: price(q, P, "05. price")?,
    };
    let day = field(q, P, "07. latest trading day")?;
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|e| format!("field `{P}07. latest trading day` `{day}`: {e}"))?;
    let start = market_time::day_start(date)?;
    let one_day = BarInterval::from_seconds(86_400).map_err(|e| e.to_string())?;
    Ok(Bar::new(
        PROVIDER,
        symbol,
        start,
        out.now(),
        one_day,
        ohlc,
        volume(q, P, "06. volume")?,
    ))
}

/// Every bar of the series, oldest first (so the tracker sees them in time order).
fn intraday(
    value: &serde_json::Value,
    requested: &Symbol,
    interval: AlphaVantageInterval,
    tickers: &Tickers,
    out: &Emitter,
) -> Vec<Result<Bar, String>> {
    let meta = match value.get("Meta Data") {
        Some(m) => m,
        None => return vec![Err("field `Meta Data` is missing".into())],
    };
    let header = (|| {
        let symbol = tickers.accept(
            "Meta Data.2. Symbol",
            field(meta, "Meta Data.", "2. Symbol")?,
        )?;
        if &symbol != requested {
            return Err(format!(
                "field `Meta Data.2. Symbol` is {symbol}, but {requested} was requested"
            ));
        }
        let zone = field(meta, "Meta Data.", "6. Time Zone")?;
        let tz: chrono_tz::Tz = zone
            .parse()
            .map_err(|_| format!("field `Meta Data.6. Time Zone`: unknown zone `{zone}`"))?;
        let bar_interval: BarInterval = interval
            .as_str()
            .trim_end_matches("in")
            .parse()
            .map_err(|e: stockfeed_record::IntervalError| e.to_string())?;
        Ok((symbol, tz, bar_interval))
    })();
    let (symbol, tz, bar_interval) = match header {
        Ok(h) => h,
        Err(e) => return vec![Err(e)],
    };
    let series_key = format!("Time Series ({})", interval.as_str());
    let Some(series) = value.get(&series_key).and_then(|s| s.as_object()) else {
        return vec![Err(format!(
            "field `{series_key}` is missing or not an object"
        ))];
    };
    let mut bars: Vec<(NaiveDateTime, Result<Bar, String>)> = Vec::with_capacity(series.len());
    for (key, entry) in series {
        let path = format!("{series_key}.{key}.");
        let local = match NaiveDateTime::parse_from_str(key, "%Y-%m-%d %H:%M:%S") {
            Ok(t) => t,
            Err(e) => {
                bars.push((
                    NaiveDateTime::MIN,
                    Err(format!("key `{series_key}.{key}` is not a time: {e}")),
                ));
                continue;
            }
        };
        let bar = (|| {
            let start = market_time::local_to_utc(local, tz)
                .map_err(|e| format!("key `{series_key}.{key}`: {e}"))?;
            let ohlc = Ohlc {
                open: price(entry, &path, "1. open")?,
                high: price(entry, &path, "2. high")?,
                low: price(entry, &path, "3. low")?,
                close: price(entry, &path, "4. close")?,
            };
            Ok(Bar::new(
                PROVIDER,
                symbol.clone(),
                start,
                out.now(),
                bar_interval,
                ohlc,
                volume(entry, &path, "5. volume")?,
            ))
        })();
        bars.push((local, bar));
    }
    bars.sort_by_key(|(t, _)| *t);
    bars.into_iter().map(|(_, b)| b).collect()
}
