//! Yahoo Finance chart API v8 (unofficial, no key): bars polled from
//! `{baseUrl}/v8/finance/chart/{SYMBOL}?interval=..&range=..`.
//!
//! The answer is columnar: `timestamp` and `indicators.quote[0].{open,high,low,close,volume}`
//! are parallel arrays zipped by index. A minute without trades is a row of `null`s; that is
//! normal in Yahoo's format, not an error, so such rows are skipped and counted (logged), never
//! read as 0 and never sent to the dead-letter topic.
//!
//! Prices are float32 values widened to float64 (`217.5500030517578`); they are rounded to
//! `meta.priceHint` decimals (the instrument's tick precision, 2 when absent), which recovers the
//! exchange's price. The last row is often the bar still forming, stamped with the time of the
//! latest trade rather than a bar boundary (it equals `meta.regularMarketTime`); it is skipped
//! until a later poll returns it complete, so every emitted bar starts on a boundary and is
//! final (a bar that is corrected later is emitted again with a new id).
//!
//! A non-null `chart.error` (HTTP 404 for an unknown symbol) rejects that response with the
//! error's description.

use chrono::Utc;
use futures_util::future::BoxFuture;
use rust_decimal::Decimal;
use serde::Deserialize;
use tracing::Instrument;

use super::bar_tracker::BarTracker;
use super::http::{Fetched, HttpClient, HttpSettings};
use super::normalise::{self, Tickers};
use super::{Emitter, Source, SourceError, Stopped};
use stockfeed_record::{Bar, BarInterval, Ohlc, Price, Provider, Quantity, Symbol};
pub use stockfeed_spec::source::yahoo::YahooConfig;

const PROVIDER: Provider = Provider::Yahoo;

/// Yahoo's interval names as bar lengths; months have no fixed length and are not offered.
fn bar_interval(yahoo: &str) -> Option<BarInterval> {
    let canonical = match yahoo {
        "1wk" => "7d",
        "1m" | "2m" | "5m" | "15m" | "30m" | "60m" | "90m" | "1h" | "1d" | "5d" => yahoo,
        _ => return None,
    };
    canonical.parse().ok()
}

pub struct YahooSource {
    config: YahooConfig,
    tickers: Tickers,
    interval: BarInterval,
}

impl YahooSource {
    pub fn new(config: YahooConfig, tickers: Vec<Symbol>) -> Result<Self, SourceError> {
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
        let interval = bar_interval(&config.interval).ok_or_else(|| {
            bad(format!(
                "interval `{}` is not supported; use one of 1m 2m 5m 15m 30m 60m 90m 1h 1d 5d 1wk",
                config.interval
            ))
        })?;
        Ok(Self {
            config,
            tickers: Tickers::new(&tickers),
            interval,
        })
    }
}

impl Source for YahooSource {
    fn provider(&self) -> Provider {
        PROVIDER
    }

    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        let span = tracing::info_span!("source", provider = %PROVIDER, interval = %self.interval);
        Box::pin(
            async move {
                match poll(&self, &out).await? {
                    Ok(()) => Ok(()),
                    Err(Stopped) if out.shutdown().is_cancelled() => Ok(()),
                    Err(Stopped) => Err(SourceError::Stopped { provider: PROVIDER }),
                }
            }
            .instrument(span),
        )
    }
}

async fn poll(source: &YahooSource, out: &Emitter) -> Result<Result<(), Stopped>, SourceError> {
    let config = &source.config;
    let settings = HttpSettings {
        request_timeout: config.request_timeout,
        unauthorized_retry: config.unauthorized_retry,
        backoff: config.backoff,
        rate_limit: config.rate_limit,
        user_agent: config.user_agent.clone(),
    };
    let client =
        HttpClient::new(PROVIDER, settings, Vec::new()).map_err(|e| SourceError::Config {
            provider: PROVIDER,
            message: e.to_string(),
        })?;
    let base = config.base_url.trim_end_matches('/');
    let mut tracker = BarTracker::default();
    let mut ticks = tokio::time::interval(config.poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Ok(async {
        loop {
            tokio::select! {
                () = out.shutdown().cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            for symbol in source.tickers.iter() {
                let url = format!("{base}/v8/finance/chart/{symbol}");
                let fetched = client
                    .fetch(
                        out,
                        &format!("chart {symbol}"),
                        |c, _| {
                            c.get(&url).query(&[
                                ("interval", config.interval.as_str()),
                                ("range", config.range.as_str()),
                            ])
                        },
                        |_, _| None,
                    )
                    .await?;
                handle(&fetched, symbol, source, out, &mut tracker).await?;
            }
        }
    }
    .await)
}

#[derive(Deserialize)]
struct Envelope {
    chart: Chart,
}

#[derive(Deserialize)]
struct Chart {
    #[serde(default)]
    result: Option<Vec<ChartResult>>,
    #[serde(default)]
    error: Option<ChartError>,
}

#[derive(Deserialize)]
struct ChartError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartResult {
    meta: Meta,
    #[serde(default)]
    timestamp: Vec<i64>,
    indicators: Indicators,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    symbol: String,
    #[serde(default)]
    price_hint: Option<u32>,
    #[serde(default)]
    regular_market_time: Option<i64>,
}

#[derive(Deserialize)]
struct Indicators {
    quote: Vec<Columns>,
}

#[derive(Deserialize, Default)]
struct Columns {
    #[serde(default)]
    open: Vec<Option<f64>>,
    #[serde(default)]
    high: Vec<Option<f64>>,
    #[serde(default)]
    low: Vec<Option<f64>>,
    #[serde(default)]
    close: Vec<Option<f64>>,
    #[serde(default)]
    volume: Vec<Option<f64>>,
}

/// One chart answer for `symbol`: its complete bars (new ones emitted) or rejections. Public
/// for the fuzz targets (`crate::fuzzing`).
pub async fn handle(
    fetched: &Fetched,
    symbol: &Symbol,
    source: &YahooSource,
    out: &Emitter,
    tracker: &mut BarTracker,
) -> Result<(), Stopped> {
    let raw = &fetched.body;
    let rows = match bars(raw, symbol, source, out) {
        Ok(rows) => rows,
        Err(reason) => {
            let reason = if fetched.status.is_success() {
                reason
            } else {
                format!("HTTP {}: {reason}", fetched.status)
            };
            return out
                .reject(format!("chart {symbol}: {reason}"), raw.clone())
                .await;
        }
    };
    if rows.empty_rows > 0 || rows.open_bar_skipped {
        tracing::debug!(%symbol, empty_rows = rows.empty_rows, open_bar_skipped = rows.open_bar_skipped, "skipped rows");
    }
    for row in rows.bars {
        match row {
            Ok(bar) => normalise::emit_bar(out, tracker, bar, raw).await?,
            Err(reason) => {
                out.reject(format!("chart {symbol}: {reason}"), raw.clone())
                    .await?
            }
        }
    }
    Ok(())
}

struct Rows {
    bars: Vec<Result<Bar, String>>,
    empty_rows: usize,
    open_bar_skipped: bool,
}

fn bars(
    raw: &[u8],
    requested: &Symbol,
    source: &YahooSource,
    out: &Emitter,
) -> Result<Rows, String> {
    let value = normalise::parse_json(raw)?;
    let envelope: Envelope = normalise::parse_value(&value, "")?;
    if let Some(err) = envelope.chart.error {
        let code = err.code.unwrap_or_default();
        let description = err.description.unwrap_or_default();
        return Err(format!(
            "field `chart.error`: {code}: {description} (unknown or delisted symbol?)"
        ));
    }
    let result = envelope
        .chart
        .result
        .and_then(|r| r.into_iter().next())
        .ok_or("field `chart.result` is null or empty")?;
    let symbol = source
        .tickers
        .accept("chart.result[0].meta.symbol", &result.meta.symbol)?;
    if &symbol != requested {
        return Err(format!(
            "field `chart.result[0].meta.symbol` is {symbol}, but {requested} was requested"
        ));
    }
    let digits = result
        .meta
        .price_hint
        .unwrap_or(2)
        .min(stockfeed_record::DECIMAL_SCALE);
    let q = result
        .indicators
        .quote
        .into_iter()
        .next()
        .unwrap_or_default();
    let n = result.timestamp.len();
    for (name, len) in [
        ("open", q.open.len()),
        ("high", q.high.len()),
        ("low", q.low.len()),
        ("close", q.close.len()),
        ("volume", q.volume.len()),
    ] {
        if len != n {
            return Err(format!(
                "field `chart.result[0].indicators.quote[0].{name}` has {len} entries but `timestamp` has {n}"
            ));
        }
    }
    let now = Utc::now().timestamp();
    let span = i64::from(source.interval.seconds());
    let mut rows = Rows {
        bars: Vec::with_capacity(n),
        empty_rows: 0,
        open_bar_skipped: false,
    };
    for (i, &ts) in result.timestamp.iter().enumerate() {
        let (Some(o), Some(h), Some(l), Some(c)) = (q.open[i], q.high[i], q.low[i], q.close[i])
        else {
            rows.empty_rows += 1;
            continue;
        };
        // Saturating: a last timestamp near i64::MAX overflowed here (a panic in debug builds);
        // `from_seconds` refuses it below.
        let still_open = i + 1 == n
            && (result.meta.regular_market_time == Some(ts) || ts.saturating_add(span) > now);
        if still_open {
            rows.open_bar_skipped = true;
            continue;
        }
        rows.bars.push((|| {
            let column = |name: &str| format!("chart.result[0].indicators.quote[0].{name}[{i}]");
            let price = |name: &str, v: f64| {
                rounded(v, digits).map_err(|e| format!("field `{}` {e}", column(name)))
            };
            let ohlc = Ohlc {
                open: price("open", o)?,
                high: price("high", h)?,
                low: price("low", l)?,
                close: price("close", c)?,
            };
            let volume = q.volume[i].ok_or_else(|| {
                format!(
                    "field `{}` is null while the prices are not",
                    column("volume")
                )
            })?;
            let volume = Quantity::from_f64(volume)
                .map_err(|e| format!("field `{}` {e}", column("volume")))?;
            let start = normalise::from_seconds(&format!("chart.result[0].timestamp[{i}]"), ts)?;
            Ok(Bar::new(
                PROVIDER,
                symbol.clone(),
                start,
                out.now(),
                source.interval,
                ohlc,
                volume,
            ))
        })());
    }
    Ok(rows)
}

/// A float32-artefact price rounded to the instrument's precision (see the module docs).
fn rounded(value: f64, digits: u32) -> Result<Price, stockfeed_record::DecimalError> {
    let exact = Decimal::from_f64_retain(value)
        .ok_or_else(|| stockfeed_record::DecimalError::NotANumber(value.to_string()))?;
    Price::new(exact.round_dp(digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_artefacts_round_to_the_price_hint() {
        assert_eq!(rounded(217.5500030517578, 2).unwrap().to_string(), "217.55");
        assert_eq!(rounded(0.123_456_7, 4).unwrap().to_string(), "0.1235");
        assert!(rounded(f64::NAN, 2).is_err());
    }

    #[test]
    fn interval_names() {
        assert_eq!(bar_interval("1wk").unwrap().to_string(), "7d");
        assert_eq!(bar_interval("60m").unwrap().to_string(), "1h");
        assert!(bar_interval("1mo").is_none());
    }
}
