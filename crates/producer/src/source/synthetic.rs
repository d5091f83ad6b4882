//! Synthetic ticks: realistic enough to exercise the pipeline, fast enough to benchmark it.
//!
//! Each symbol's mid price follows geometric Brownian motion on a simulated clock; trades print
//! at the bid or ask with round-lot-heavy sizes, quotes move with the mid and a spread that widens
//! with volatility, and one-minute bars are cut from the trades when a symbol's minute rolls
//! over. Bursts (a run of events a few microseconds apart) happen at random, as after news.
//!
//! Determinism: for a given `seed` and `startTime`, the sequence of records (and so their ids)
//! is the same on every run and machine; only `ingest_ts` follows the wall clock. The generator
//! is Xoshiro256++, a specified algorithm, so determinism survives dependency upgrades.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal, StandardNormal};

use super::{Emitter, Source, SourceError};
use stockfeed_record::{
    Bar, BarInterval, Ohlc, Price, Provider, Quantity, Quote, Record, RecordKind, Symbol, Trade,
};
pub use stockfeed_spec::source::synthetic::{Rate, SyntheticConfig};

/// Simulated trading seconds per year, for scaling annual volatility to one step.
const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * 6.5 * 3600.0;

/// Prices are generated in whole cents, the tick size of US equities above $1.
const SCALED_PER_CENT: i64 = 1_000_000;

struct SymbolState {
    symbol: Symbol,
    mid: f64,
    bar: Option<BarBuilder>,
}

struct BarBuilder {
    start: DateTime<Utc>,
    open: Price,
    high: Price,
    low: Price,
    close: Price,
    volume: Quantity,
    trades: u64,
    notional_scaled: i128,
}

/// The deterministic part: produces records on the simulated clock, with no I/O.
pub struct Generator {
    rng: Xoshiro256PlusPlus,
    symbols: Vec<SymbolState>,
    clock: DateTime<Utc>,
    mean_gap_secs: f64,
    /// `meanGap` was given: the clock runs at its own speed but never ahead of the wall clock
    /// (records from the future would be refused downstream).
    catch_up: bool,
    volatility: f64,
    kinds: Vec<RecordKind>,
    burst_left: u32,
    /// Bars completed but not yet handed out.
    pending: Vec<Record>,
}

impl Generator {
    pub fn new(config: &SyntheticConfig, tickers: &[Symbol], start: DateTime<Utc>) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let symbols = tickers
            .iter()
            .map(|s| SymbolState {
                symbol: s.clone(),
                mid: rng.random_range(20.0..500.0),
                bar: None,
            })
            .collect();
        let mean_gap_secs = match (config.mean_gap, config.rate) {
            (Some(gap), _) if !gap.is_zero() => gap.as_secs_f64(),
            (_, Rate::PerSecond(n)) => 1.0 / n as f64,
            (_, Rate::Unlimited) => 1e-5,
        };
        Generator {
            rng,
            symbols,
            clock: start,
            mean_gap_secs,
            catch_up: config.mean_gap.is_some(),
            volatility: config.volatility,
            kinds: config.kinds.clone(),
            burst_left: 0,
            pending: Vec::new(),
        }
    }

    /// The next record; `ingest` is the wall-clock time to stamp it with.
    pub fn next_record(&mut self, ingest: DateTime<Utc>) -> Record {
        loop {
            if let Some(bar) = self.pending.pop() {
                return bar;
            }
            if let Some(record) = self.step(ingest) {
                return record;
            }
        }
    }

    fn step(&mut self, ingest: DateTime<Utc>) -> Option<Record> {
        // Advance the simulated clock: exponential gaps, or microseconds apart in a burst.
        let gap = if self.burst_left > 0 {
            self.burst_left -= 1;
            self.rng.random_range(1e-6..2e-5)
        } else {
            if self.rng.random_bool(0.001) {
                self.burst_left = self.rng.random_range(20..200);
            }
            Exp::new(1.0 / self.mean_gap_secs)
                .map(|d| d.sample(&mut self.rng))
                .unwrap_or(self.mean_gap_secs)
        };
        let step = TimeDelta::nanoseconds((gap * 1e9).max(1.0) as i64);
        self.clock = if self.catch_up {
            (self.clock + step).min(ingest).max(self.clock)
        } else {
            self.clock + step
        };
        let index = self.rng.random_range(0..self.symbols.len());
        let z: f64 = self.rng.sample(StandardNormal);
        let dt = gap / TRADING_SECONDS_PER_YEAR;
        let sigma = self.volatility;
        let state = &mut self.symbols[index];
        state.mid = (state.mid * ((-0.5 * sigma * sigma) * dt + sigma * dt.sqrt() * z).exp())
            .clamp(1.0, 99_999.0);

        let mid_cents = (state.mid * 100.0).round() as i64;
        let half_spread = 1 + (mid_cents / 20_000) + i64::from(self.rng.random_bool(0.3));
        let bid_cents = (mid_cents - half_spread).max(1);
        let ask_cents = mid_cents + half_spread;
        let clock = self.clock;

        // Roll the bar over when this symbol's minute changes.
        let minute = clock.duration_trunc(TimeDelta::minutes(1)).unwrap_or(clock);
        let rolled = state.bar.as_ref().is_some_and(|b| b.start != minute);
        if rolled
            && let Some(done) = state.bar.take()
            && self.kinds.contains(&RecordKind::Bar)
        {
            self.pending.push(done.finish(&state.symbol, ingest).into());
        }

        let emit_quote = self.kinds.contains(&RecordKind::Quote)
            && (!self.kinds.contains(&RecordKind::Trade) || self.rng.random_bool(0.4));
        if emit_quote {
            let bid_size = round_lot(&mut self.rng);
            let ask_size = round_lot(&mut self.rng);
            let quote = Quote::new(
                Provider::Synthetic,
                state.symbol.clone(),
                clock,
                ingest,
                cents(bid_cents),
                Quantity::from_scaled(bid_size * 100_000_000).unwrap_or_else(|_| zero()),
                cents(ask_cents),
                Quantity::from_scaled(ask_size * 100_000_000).unwrap_or_else(|_| zero()),
            );
            return Some(quote.into());
        }

        // A trade at the bid or the ask; it also feeds the symbol's bar.
        let price_cents = if self.rng.random_bool(0.5) {
            bid_cents
        } else {
            ask_cents
        };
        let size = round_lot(&mut self.rng);
        let price = cents(price_cents);
        let qty = Quantity::from_scaled(size * 100_000_000).unwrap_or_else(|_| zero());
        let bar = state
            .bar
            .get_or_insert_with(|| BarBuilder::open(minute, price));
        bar.add(price, size);
        if self.kinds.contains(&RecordKind::Trade) {
            // Built field by field so the id is hashed once (the benchmark's hot path).
            let mut trade = Trade {
                kind: stockfeed_record::TradeTag,
                schema_version: stockfeed_record::SchemaVersion,
                id: stockfeed_record::RecordId::UNSET,
                provider: Provider::Synthetic,
                symbol: state.symbol.clone(),
                event_ts: clock,
                ingest_ts: ingest,
                price,
                size: qty,
                exchange: Some(EXCHANGES[self.rng.random_range(0..EXCHANGES.len())].to_owned()),
                conditions: Vec::new(),
                trade_id: None,
            };
            trade.id = trade.derive_id();
            return Some(trade.into());
        }
        None
    }
}

const EXCHANGES: [&str; 6] = ["Q", "N", "P", "V", "Z", "K"];

fn cents(c: i64) -> Price {
    Price::from_scaled(c.max(1) * SCALED_PER_CENT)
        .unwrap_or_else(|_| Price::from_scaled(SCALED_PER_CENT).unwrap_or_else(|_| unreachable!()))
}

fn zero() -> Quantity {
    Quantity::from_scaled(0).unwrap_or_else(|_| unreachable!())
}

/// Mostly round lots of 100, sometimes odd lots, occasionally a block.
fn round_lot(rng: &mut Xoshiro256PlusPlus) -> i64 {
    if rng.random_bool(0.2) {
        return rng.random_range(1..100);
    }
    let lots: f64 = LogNormal::new(0.5, 0.9)
        .map(|d| d.sample(rng))
        .unwrap_or(1.0);
    (lots.ceil() as i64).clamp(1, 500) * 100
}

impl BarBuilder {
    fn open(start: DateTime<Utc>, price: Price) -> Self {
        BarBuilder {
            start,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: zero(),
            trades: 0,
            notional_scaled: 0,
        }
    }

    fn add(&mut self, price: Price, size: i64) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        let volume = self.volume.to_scaled() + size * 100_000_000;
        self.volume = Quantity::from_scaled(volume).unwrap_or(self.volume);
        self.trades += 1;
        self.notional_scaled += i128::from(price.to_scaled()) * i128::from(size);
    }

    fn finish(self, symbol: &Symbol, ingest: DateTime<Utc>) -> Bar {
        let shares = self.volume.to_scaled() / 100_000_000;
        let vwap = (shares > 0)
            .then(|| i64::try_from(self.notional_scaled / i128::from(shares)).ok())
            .flatten()
            .and_then(|v| Price::from_scaled(v - v % 10_000).ok());
        let interval = BarInterval::from_seconds(60).unwrap_or_else(|_| unreachable!());
        let ohlc = Ohlc {
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
        };
        Bar::new(
            Provider::Synthetic,
            symbol.clone(),
            self.start,
            ingest,
            interval,
            ohlc,
            self.volume,
        )
        .with_stats(vwap, Some(self.trades))
    }
}

/// The source: a [`Generator`] paced by the wall clock.
pub struct SyntheticSource {
    config: SyntheticConfig,
    tickers: Vec<Symbol>,
}

impl SyntheticSource {
    pub fn new(config: SyntheticConfig, tickers: Vec<Symbol>) -> Result<Self, SourceError> {
        let bad = |message: &str| SourceError::Config {
            provider: Provider::Synthetic,
            message: message.to_owned(),
        };
        if tickers.is_empty() {
            return Err(bad("no tickers to generate"));
        }
        if config.start_time.is_some() && config.start_ago.is_some() {
            return Err(bad("give startTime or startAgo, not both"));
        }
        if config.kinds.is_empty() {
            return Err(bad(
                "kinds is empty; give at least one of trade, quote, bar",
            ));
        }
        if !(config.volatility.is_finite() && config.volatility > 0.0 && config.volatility < 10.0) {
            return Err(bad(
                "volatility must be a number between 0 and 10 (annualised; 0.3 = 30 %)",
            ));
        }
        Ok(SyntheticSource { config, tickers })
    }
}

impl Source for SyntheticSource {
    fn provider(&self) -> Provider {
        Provider::Synthetic
    }

    /// Records come out in event-time order on every run with the same settings (a replay
    /// file is sorted; the synthetic clock only moves forward and is seeded).
    fn deterministic_order(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, out: Emitter) -> BoxFuture<'static, Result<(), SourceError>> {
        Box::pin(async move {
            let start = match (self.config.start_time, self.config.start_ago) {
                (Some(t), _) => t,
                (None, Some(ago)) => {
                    Utc::now() - TimeDelta::from_std(ago).unwrap_or(TimeDelta::zero())
                }
                (None, None) => Utc::now(),
            };
            let mut generator = Generator::new(&self.config, &self.tickers, start);
            out.set_health(super::SourceHealth::Ready);
            let began = tokio::time::Instant::now();
            let mut emitted: u64 = 0;
            // Records paced so far; an earlier run's records go out unpaced (see
            // `Emitter::already_delivered`), so a restarted run catches up at once.
            let mut paced: u64 = 0;
            // Emit in small batches between clock checks: cheap at a million records a second,
            // smooth at one.
            let mut ingest = Utc::now();
            loop {
                if self.config.limit.is_some_and(|limit| emitted >= limit)
                    || out.shutdown().is_cancelled()
                {
                    return Ok(());
                }
                if emitted.is_multiple_of(256) {
                    ingest = Utc::now();
                }
                let record = generator.next_record(ingest);
                if let Rate::PerSecond(rate) = self.config.rate
                    && !out.already_delivered(&record)
                {
                    let due = began + Duration::from_secs_f64(paced as f64 / rate as f64);
                    if due > tokio::time::Instant::now() {
                        tokio::select! {
                            () = tokio::time::sleep_until(due) => {}
                            () = out.shutdown().cancelled() => return Ok(()),
                        }
                    }
                    paced += 1;
                }
                if out.record(record).await.is_err() {
                    return Ok(());
                }
                emitted += 1;
            }
        })
    }
}

/// Per-symbol counts of what a generator produced; used by tests and the benchmark report.
pub fn count_by_kind(records: &[Record]) -> HashMap<RecordKind, usize> {
    let mut counts = HashMap::new();
    for r in records {
        *counts.entry(r.kind()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tickers() -> Vec<Symbol> {
        ["AAPL", "MSFT", "NVDA"]
            .iter()
            .map(|s| Symbol::new(s).unwrap())
            .collect()
    }

    fn config() -> SyntheticConfig {
        SyntheticConfig {
            start_time: Some("2026-11-26T14:30:00Z".parse().unwrap()),
            rate: Rate::PerSecond(1000),
            ..SyntheticConfig::default()
        }
    }

    fn take(n: usize, config: &SyntheticConfig) -> Vec<Record> {
        let ingest: DateTime<Utc> = "2026-11-26T15:00:00Z".parse().unwrap();
        let mut g = Generator::new(config, &tickers(), config.start_time.unwrap());
        (0..n).map(|_| g.next_record(ingest)).collect()
    }

    #[test]
    fn same_seed_same_records() {
        assert_eq!(take(2000, &config()), take(2000, &config()));
        let other = SyntheticConfig {
            seed: 7,
            ..config()
        };
        assert_ne!(take(100, &config()), take(100, &other));
    }

    #[test]
    fn records_are_valid_and_mixed() {
        // About 300 s of simulated time (bursts shorten it a little): four minute boundaries,
        // so at least three bars per symbol.
        let config = SyntheticConfig {
            rate: Rate::PerSecond(300),
            ..config()
        };
        let records = take(90_000, &config);
        let now: DateTime<Utc> = "2026-11-26T16:00:00Z".parse().unwrap();
        for r in &records {
            r.validate(now).unwrap();
        }
        let counts = count_by_kind(&records);
        assert!(counts[&RecordKind::Trade] > 45_000, "{counts:?}");
        assert!(counts[&RecordKind::Quote] > 25_000, "{counts:?}");
        assert!(counts[&RecordKind::Bar] >= 3 * 3, "{counts:?}");
    }

    #[test]
    fn event_time_advances_at_about_the_configured_rate() {
        let records = take(10_000, &config());
        let first = records.first().unwrap().event_ts();
        let last = records.iter().map(Record::event_ts).max().unwrap();
        let secs = (last - first).num_milliseconds() as f64 / 1000.0;
        assert!(
            (7.0..13.0).contains(&secs),
            "10,000 records at 1000/s spanned {secs}s"
        );
    }

    #[test]
    fn bars_agree_with_trades() {
        let records = take(100_000, &config());
        let bar = records
            .iter()
            .find_map(|r| match r {
                Record::Bar(b) if b.symbol.as_str() == "AAPL" => Some(b.clone()),
                _ => None,
            })
            .unwrap();
        let end = bar.event_ts + TimeDelta::minutes(1);
        let trades: Vec<&Trade> = records
            .iter()
            .filter_map(|r| match r {
                Record::Trade(t)
                    if t.symbol.as_str() == "AAPL"
                        && t.event_ts >= bar.event_ts
                        && t.event_ts < end =>
                {
                    Some(t)
                }
                _ => None,
            })
            .collect();
        assert_eq!(Some(trades.len() as u64), bar.trade_count);
        assert_eq!(trades.first().unwrap().price, bar.open);
        assert_eq!(trades.last().unwrap().price, bar.close);
        assert_eq!(trades.iter().map(|t| t.price).max().unwrap(), bar.high);
        assert_eq!(trades.iter().map(|t| t.price).min().unwrap(), bar.low);
        let volume: i64 = trades.iter().map(|t| t.size.to_scaled()).sum();
        assert_eq!(volume, bar.volume.to_scaled());
    }

    #[test]
    fn only_requested_kinds() {
        let trades_only = SyntheticConfig {
            kinds: vec![RecordKind::Trade],
            ..config()
        };
        assert!(
            take(5000, &trades_only)
                .iter()
                .all(|r| r.kind() == RecordKind::Trade)
        );
        let bars_only = SyntheticConfig {
            kinds: vec![RecordKind::Bar],
            ..config()
        };
        assert!(
            take(10, &bars_only)
                .iter()
                .all(|r| r.kind() == RecordKind::Bar)
        );
    }

    #[test]
    fn rate_parses_numbers_and_unlimited() {
        assert_eq!(
            serde_json::from_str::<Rate>("5").unwrap(),
            Rate::PerSecond(5)
        );
        assert_eq!(
            serde_json::from_str::<Rate>("\"unlimited\"").unwrap(),
            Rate::Unlimited
        );
        assert!(serde_json::from_str::<Rate>("0").is_err());
        assert!(serde_json::from_str::<Rate>("\"fast\"").is_err());
    }

    #[tokio::test]
    async fn source_stops_at_limit_and_paces() {
        let cfg = SyntheticConfig {
            limit: Some(50),
            rate: Rate::PerSecond(100),
            ..config()
        };
        let source = Box::new(SyntheticSource::new(cfg, tickers()).unwrap());
        let (out, mut rx, _health) = Emitter::new(
            Provider::Synthetic,
            16,
            tokio_util::sync::CancellationToken::new(),
        );
        let started = std::time::Instant::now();
        let task = tokio::spawn(source.run(out));
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        task.await.unwrap().unwrap();
        assert_eq!(n, 50);
        let took = started.elapsed().as_secs_f64();
        assert!(took > 0.4, "50 records at 100/s took only {took}s");
    }
}
