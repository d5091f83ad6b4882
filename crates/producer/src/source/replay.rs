//! Replay of real historical data from a file, at real speed, accelerated, or flat out.
//!
//! Formats:
//! - `csvBars`: OHLCV rows with a header naming `symbol` (or `ticker`), `date` (or `time`,
//!   `timestamp`), `open`, `high`, `low`, `close`, `volume` in any order and case; other
//!   columns are ignored. Dates are `YYYY-MM-DD` (the bar starts at 00:00 UTC that day) or
//!   RFC 3339. The bundled `worker/data/stocks-daily.csv.gz` is this format.
//! - `csvTrades`: `symbol`, `time`, `price`, `size` and optionally `exchange`.
//! - `jsonl`: records in StockFeed's own wire format, one per line (a captured topic).
//!
//! A `.gz` file is decompressed on the fly. The file is read whole and replayed in event-time
//! order (stable for equal times), which suits files up to a few million rows. Rows that cannot
//! become valid records are rejected with the line number, the reason and the raw line; rows
//! for symbols outside this replica's tickers are skipped.

use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;

use super::{Emitter, Source, SourceError, SourceHealth};
use stockfeed_record::{Bar, Ohlc, Price, Provider, Quantity, Record, Symbol, Trade};
pub use stockfeed_spec::source::replay::{ReplayConfig, ReplayFormat, Speed};

/// A parsed file: records in event-time order and the lines that failed.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub rejected: Vec<(String, Vec<u8>)>,
    pub skipped_symbols: usize,
}

pub struct ReplaySource {
    config: ReplayConfig,
    tickers: Vec<Symbol>,
}

impl ReplaySource {
    pub fn new(config: ReplayConfig, tickers: Vec<Symbol>) -> Result<Self, SourceError> {
        if tickers.is_empty() {
            return Err(SourceError::Config {
                provider: Provider::Replay,
                message: "no tickers to replay".into(),
            });
        }
        Ok(ReplaySource { config, tickers })
    }
}

/// Reads and parses the whole file; `ingest` stamps the records (replaced at emission).
pub fn parse_file(
    config: &ReplayConfig,
    tickers: &[Symbol],
    ingest: DateTime<Utc>,
) -> Result<Parsed, SourceError> {
    let input_err = |message: String| SourceError::Input {
        provider: Provider::Replay,
        path: config.path.display().to_string(),
        message,
    };
    let raw = std::fs::read(&config.path).map_err(|e| input_err(e.to_string()))?;
    parse_bytes(raw, config, tickers, ingest).map_err(input_err)
}

/// [`parse_file`] once the file is read: `raw` is its content, gzipped or not; an error is why
/// the whole file is unusable. Public for the fuzz targets (`crate::fuzzing`).
pub fn parse_bytes(
    raw: Vec<u8>,
    config: &ReplayConfig,
    tickers: &[Symbol],
    ingest: DateTime<Utc>,
) -> Result<Parsed, String> {
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format!("not valid gzip: {e}"))?;
        out
    } else {
        raw
    };
    let mut parsed = match config.format {
        ReplayFormat::Jsonl => parse_jsonl(&bytes, tickers, ingest),
        ReplayFormat::CsvBars | ReplayFormat::CsvTrades => {
            parse_csv(&bytes, config, tickers, ingest)?
        }
    };
    let bound = |text: &Option<String>, field: &str| {
        text.as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("`{field}`: {e}"))
    };
    let (from, until) = (bound(&config.from, "from")?, bound(&config.until, "until")?);
    parsed.records.retain(|r| {
        from.is_none_or(|f| r.event_ts() >= f) && until.is_none_or(|u| r.event_ts() < u)
    });
    parsed.records.sort_by_key(Record::event_ts);
    Ok(parsed)
}

/// Each record is stamped with `ingest` and validated, as a CSV row is: a captured line that
/// breaks a rule (its id not matching its content, say) is rejected, not replayed.
fn parse_jsonl(bytes: &[u8], tickers: &[Symbol], ingest: DateTime<Utc>) -> Parsed {
    let mut parsed = Parsed::default();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match Record::parse_json(line) {
            Ok(r) if !tickers.contains(r.symbol()) => parsed.skipped_symbols += 1,
            Ok(mut r) => {
                r.set_ingest_ts(ingest);
                match r.validate(ingest) {
                    Ok(()) => parsed.records.push(r),
                    Err(e) => parsed.rejected.push((
                        format!("line {}: invalid record: {e}", i + 1),
                        line.to_vec(),
                    )),
                }
            }
            Err(e) => parsed
                .rejected
                .push((format!("line {}: {e}", i + 1), line.to_vec())),
        }
    }
    parsed
}

/// Column positions, found by header name.
struct Columns {
    symbol: usize,
    time: usize,
    fields: Vec<usize>,
    exchange: Option<usize>,
}

fn find_columns(headers: &csv::ByteRecord, format: ReplayFormat) -> Result<Columns, String> {
    let names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase())
        .collect();
    let find = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
    let need = |aliases: &[&str]| {
        find(aliases).ok_or_else(|| {
            format!(
                "the header has no `{}` column (found: {})",
                aliases[0],
                names.join(",")
            )
        })
    };
    let fields = match format {
        ReplayFormat::CsvTrades => vec![need(&["price"])?, need(&["size", "volume", "qty"])?],
        _ => vec![
            need(&["open"])?,
            need(&["high"])?,
            need(&["low"])?,
            need(&["close"])?,
            need(&["volume"])?,
        ],
    };
    Ok(Columns {
        symbol: need(&["symbol", "ticker"])?,
        time: need(&["date", "time", "timestamp", "datetime"])?,
        fields,
        exchange: find(&["exchange"]),
    })
}

fn parse_csv(
    bytes: &[u8],
    config: &ReplayConfig,
    tickers: &[Symbol],
    ingest: DateTime<Utc>,
) -> Result<Parsed, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let headers = reader
        .byte_headers()
        .map_err(|e| format!("cannot read the CSV header: {e}"))?
        .clone();
    let cols = find_columns(&headers, config.format)?;
    let mut parsed = Parsed::default();
    for row in reader.byte_records() {
        let (line, result) = match row {
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line());
                (
                    line,
                    parse_row(&row, &cols, config, tickers, ingest).map_err(|e| (e, join(&row))),
                )
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err((e.to_string(), Vec::new())))
            }
        };
        match result {
            Ok(Some(record)) => parsed.records.push(record),
            Ok(None) => parsed.skipped_symbols += 1,
            Err((reason, raw)) => parsed
                .rejected
                .push((format!("line {line}: {reason}"), raw)),
        }
    }
    Ok(parsed)
}

fn join(row: &csv::ByteRecord) -> Vec<u8> {
    row.iter().collect::<Vec<_>>().join(&b","[..])
}

fn text<'r>(row: &'r csv::ByteRecord, index: usize, name: &str) -> Result<&'r str, String> {
    let field = row
        .get(index)
        .ok_or_else(|| format!("field `{name}` is missing"))?;
    std::str::from_utf8(field)
        .map(str::trim)
        .map_err(|_| format!("field `{name}` is not UTF-8"))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("field `time` `{text}` is neither YYYY-MM-DD nor RFC 3339"))
}

fn parse_row(
    row: &csv::ByteRecord,
    cols: &Columns,
    config: &ReplayConfig,
    tickers: &[Symbol],
    ingest: DateTime<Utc>,
) -> Result<Option<Record>, String> {
    let symbol = Symbol::new(&text(row, cols.symbol, "symbol")?.to_ascii_uppercase())
        .map_err(|e| format!("field `symbol` {e}"))?;
    if !tickers.contains(&symbol) {
        return Ok(None);
    }
    let time = parse_time(text(row, cols.time, "time")?)?;
    let price = |i: usize, name: &str| -> Result<Price, String> {
        text(row, cols.fields[i], name)?
            .parse()
            .map_err(|e| format!("field `{name}` {e}"))
    };
    let quantity = |i: usize, name: &str| -> Result<Quantity, String> {
        text(row, cols.fields[i], name)?
            .parse()
            .map_err(|e| format!("field `{name}` {e}"))
    };
    let record: Record = match config.format {
        ReplayFormat::CsvTrades => {
            let mut trade = Trade::new(
                Provider::Replay,
                symbol,
                time,
                ingest,
                price(0, "price")?,
                quantity(1, "size")?,
            );
            if let Some(x) = cols
                .exchange
                .and_then(|i| row.get(i))
                .filter(|x| !x.is_empty())
            {
                trade = trade.with_exchange(String::from_utf8_lossy(x).trim());
            }
            trade.into()
        }
        _ => {
            let ohlc = Ohlc {
                open: price(0, "open")?,
                high: price(1, "high")?,
                low: price(2, "low")?,
                close: price(3, "close")?,
            };
            Bar::new(
                Provider::Replay,
                symbol,
                time,
                ingest,
                config.interval,
                ohlc,
                quantity(4, "volume")?,
            )
            .into()
        }
    };
    record.validate(ingest).map_err(|e| e.to_string())?;
    Ok(Some(record))
}

impl Source for ReplaySource {
    fn provider(&self) -> Provider {
        Provider::Replay
    }

    /// Records come out in event-time order on every run with the same settings (a replay
    /// file is sorted; the synthetic clock only moves forward and is seeded).
    fn deterministic_order(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            let config = self.config.clone();
            let tickers = self.tickers.clone();
            let parsed =
                tokio::task::spawn_blocking(move || parse_file(&config, &tickers, Utc::now()))
                    .await
                    .map_err(|e| SourceError::Input {
                        provider: Provider::Replay,
                        path: self.config.path.display().to_string(),
                        message: e.to_string(),
                    })??;
            tracing::info!(
                path = %self.config.path.display(),
                records = parsed.records.len(),
                rejected = parsed.rejected.len(),
                skipped_other_symbols = parsed.skipped_symbols,
                "replay file loaded"
            );
            out.set_health(SourceHealth::Ready);
            for (reason, raw) in parsed.rejected {
                if out.reject(reason, raw).await.is_err() {
                    return Ok(());
                }
            }
            // Pacing starts at the first record an earlier run did not deliver: a restart
            // catches up at once, then plays at the configured speed.
            let Some(first) = parsed
                .records
                .iter()
                .find(|r| !out.already_delivered(r))
                .map(Record::event_ts)
            else {
                // Everything was delivered by earlier runs: hand it over unpaced for the
                // pipeline to count.
                for record in parsed.records {
                    if out.record(record).await.is_err() {
                        return Ok(());
                    }
                }
                return Ok(());
            };
            let began = tokio::time::Instant::now();
            for mut record in parsed.records {
                if let Speed::Factor(factor) = self.config.speed
                    && record.event_ts() >= first
                {
                    let offset = (record.event_ts() - first).to_std().unwrap_or_default();
                    let due = began + Duration::from_secs_f64(offset.as_secs_f64() / factor);
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => {}
                        () = out.shutdown().cancelled() => return Ok(()),
                    }
                }
                record.set_ingest_ts(Utc::now());
                if out.record(record).await.is_err() {
                    return Ok(());
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use stockfeed_spec::source::replay::one_day;

    fn syms(list: &[&str]) -> Vec<Symbol> {
        list.iter().map(|s| Symbol::new(s).unwrap()).collect()
    }

    fn bundled() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../worker/data/stocks-daily.csv.gz")
    }

    fn now() -> DateTime<Utc> {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn bundled_data_parses_to_real_bars() {
        let config = ReplayConfig {
            path: bundled(),
            format: ReplayFormat::CsvBars,
            speed: Speed::Max,
            interval: one_day(),
            from: None,
            until: None,
        };
        let parsed = parse_file(
            &config,
            &syms(&["AAPL", "MSFT", "IBM", "GOOG", "FB"]),
            now(),
        )
        .unwrap();
        assert_eq!(
            parsed.records.len() + parsed.rejected.len(),
            12_154,
            "every data row accounted for"
        );
        assert!(
            parsed.rejected.len() < 20,
            "{:?}",
            &parsed.rejected[..parsed.rejected.len().min(5)]
        );
        let first_aapl = parsed
            .records
            .iter()
            .find_map(|r| match r {
                Record::Bar(b) if b.symbol.as_str() == "AAPL" => Some(b.clone()),
                _ => None,
            })
            .unwrap();
        // AAPL,2000-03-01,118.56,132.06,118.5,130.31,9616100 — the first row of the file.
        assert_eq!(
            first_aapl.event_ts,
            "2000-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(first_aapl.open.to_string(), "118.56");
        assert_eq!(first_aapl.high.to_string(), "132.06");
        assert_eq!(first_aapl.low.to_string(), "118.5");
        assert_eq!(first_aapl.close.to_string(), "130.31");
        assert_eq!(first_aapl.volume.to_string(), "9616100");
        assert!(
            parsed
                .records
                .windows(2)
                .all(|w| w[0].event_ts() <= w[1].event_ts()),
            "time order"
        );
    }

    #[test]
    fn from_and_until_keep_a_window() {
        let config = ReplayConfig {
            path: bundled(),
            format: ReplayFormat::CsvBars,
            speed: Speed::Max,
            interval: one_day(),
            from: Some("2012-01-01".into()),
            until: Some("2012-02-01T00:00:00Z".into()),
        };
        let parsed = parse_file(&config, &syms(&["AAPL"]), now()).unwrap();
        // January 2012 has 20 trading days.
        assert_eq!(parsed.records.len(), 20);
        let bad = ReplayConfig {
            from: Some("last year".into()),
            ..config
        };
        let err = parse_file(&bad, &syms(&["AAPL"]), now()).unwrap_err();
        assert!(err.to_string().contains("`from`"), "{err}");
    }

    #[test]
    fn only_this_replicas_tickers() {
        let config = ReplayConfig {
            path: bundled(),
            format: ReplayFormat::CsvBars,
            speed: Speed::Max,
            interval: one_day(),
            from: None,
            until: None,
        };
        let parsed = parse_file(&config, &syms(&["IBM"]), now()).unwrap();
        assert!(parsed.records.iter().all(|r| r.symbol().as_str() == "IBM"));
        assert!(parsed.skipped_symbols > 8000);
    }

    #[test]
    fn bad_rows_are_rejected_with_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "symbol,time,price,size\nAAPL,2026-11-26T14:30:00Z,189.13,100\nAAPL,2026-11-26T14:30:01Z,-1,100\nAAPL,yesterday,1,1\nmsft,2026-11-26T14:30:02Z,420.5,3\n",
        )
        .unwrap();
        let config = ReplayConfig {
            path,
            format: ReplayFormat::CsvTrades,
            speed: Speed::Max,
            interval: one_day(),
            from: None,
            until: None,
        };
        let parsed = parse_file(&config, &syms(&["AAPL", "MSFT"]), now()).unwrap();
        assert_eq!(
            parsed.records.len(),
            2,
            "lower-case symbols are upper-cased"
        );
        assert_eq!(parsed.rejected.len(), 2);
        assert!(
            parsed.rejected[0].0.starts_with("line 3: field `price`"),
            "{}",
            parsed.rejected[0].0
        );
        assert_eq!(parsed.rejected[0].1, b"AAPL,2026-11-26T14:30:01Z,-1,100");
        assert!(
            parsed.rejected[1].0.contains("field `time`"),
            "{}",
            parsed.rejected[1].0
        );
    }

    #[test]
    fn missing_column_is_a_clear_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "ticker,date,open,high,low,close\nAAPL,2000-01-01,1,1,1,1\n",
        )
        .unwrap();
        let config = ReplayConfig {
            path,
            format: ReplayFormat::CsvBars,
            speed: Speed::Max,
            interval: one_day(),
            from: None,
            until: None,
        };
        let err = parse_file(&config, &syms(&["AAPL"]), now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `volume` column"), "{err}");
    }

    #[test]
    fn speed_spellings() {
        assert_eq!("realtime".parse::<Speed>().unwrap(), Speed::Factor(1.0));
        assert_eq!("x60".parse::<Speed>().unwrap(), Speed::Factor(60.0));
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert!("x0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }

    #[tokio::test]
    async fn accelerated_replay_is_paced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        // Three trades one minute apart; at x120 they take about one second.
        std::fs::write(
            &path,
            "symbol,time,price,size\nAAPL,2026-11-26T14:30:00Z,1,1\nAAPL,2026-11-26T14:31:00Z,2,1\nAAPL,2026-11-26T14:32:00Z,3,1\n",
        )
        .unwrap();
        let config = ReplayConfig {
            path,
            format: ReplayFormat::CsvTrades,
            speed: Speed::Factor(120.0),
            interval: one_day(),
            from: None,
            until: None,
        };
        let source = Box::new(ReplaySource::new(config, syms(&["AAPL"])).unwrap());
        let (out, mut rx, _) = Emitter::new(
            Provider::Replay,
            8,
            tokio_util::sync::CancellationToken::new(),
        );
        let started = std::time::Instant::now();
        let task = tokio::spawn(source.run(out));
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        task.await.unwrap().unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!(n, 3);
        assert!((0.9..2.0).contains(&took), "took {took}s");
    }
}
