//! The open bars of one Kafka partition and how trades fold into them.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use stockfeed_record::{
    Bar, BarInterval, DECIMAL_SCALE, Ohlc, Price, Provider, Quantity, Record, Symbol, Trade,
};

/// Version of the saved state; a state of another version is ignored (bars start afresh).
const STATE_VERSION: u32 = 1;

/// What a partition's bars look like after every record before `offset`: the state saved with
/// a segment ending at `offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BarState {
    version: u32,
    /// Newest trade event time seen in the partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<DateTime<Utc>>,
    /// Bars not yet closed, ordered by (symbol, minute).
    open: Vec<OpenBar>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenBar {
    symbol: Symbol,
    provider: Provider,
    start: DateTime<Utc>,
    open: Price,
    open_ts: DateTime<Utc>,
    high: Price,
    low: Price,
    close: Price,
    close_ts: DateTime<Utc>,
    #[serde(with = "decimal_text")]
    volume: Decimal,
    #[serde(with = "decimal_text")]
    notional: Decimal,
    trades: u64,
    /// Newest ingest time of the bar's trades: the bar's own `ingest_ts`, deterministic
    /// unlike the wall clock.
    ingest_ts: DateTime<Utc>,
}

/// Sums kept as exact decimal text: they may exceed what `Price`/`Quantity` allow.
mod decimal_text {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// The result of folding one segment.
#[derive(Debug, Default)]
pub struct Folded {
    /// Bars closed by this segment, ordered by (symbol, minute).
    pub closed: Vec<Bar>,
    /// Trades of minutes already closed.
    pub late_trades: u64,
    /// Bars that could not be represented (volume beyond `DECIMAL(18, 8)`), left out.
    pub unrepresentable: u64,
}

/// How far past its own ingest time a trade's event time may move the watermark: more than
/// the clock difference between a provider and the producer's host, far less than a time zone.
fn watermark_lead() -> chrono::Duration {
    chrono::Duration::minutes(1)
}

impl Default for BarState {
    fn default() -> Self {
        BarState {
            version: STATE_VERSION,
            watermark: None,
            open: Vec::new(),
        }
    }
}

impl BarState {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a saved state; `None` for one this version does not understand.
    pub fn parse(bytes: &[u8]) -> Result<Option<Self>, serde_json::Error> {
        let state: BarState = serde_json::from_slice(bytes)?;
        Ok((state.version == STATE_VERSION).then_some(state))
    }

    pub fn open_bars(&self) -> usize {
        self.open.len()
    }

    /// Folds a segment's records (in offset order) into the state and closes every bar the
    /// new watermark has passed.
    pub fn fold<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a Record>,
        allowed_lateness: chrono::Duration,
    ) -> Folded {
        let mut folded = Folded::default();
        let mut open: BTreeMap<(Symbol, DateTime<Utc>), OpenBar> = std::mem::take(&mut self.open)
            .into_iter()
            .map(|b| ((b.symbol.clone(), b.start), b))
            .collect();
        let minute = chrono::Duration::minutes(1);
        for record in records {
            let Record::Trade(trade) = record else {
                continue;
            };
            let Ok(start) = trade.event_ts.duration_trunc(minute) else {
                continue;
            };
            if self
                .watermark
                .is_some_and(|w| start + minute + allowed_lateness <= w)
            {
                folded.late_trades += 1;
                continue;
            }
            match open.get_mut(&(trade.symbol.clone(), start)) {
                Some(bar) => bar.add(trade),
                None => {
                    open.insert((trade.symbol.clone(), start), OpenBar::first(trade, start));
                }
            }
            // A trade moves the watermark to its event time, but never further than a little
            // past when it was fetched: validation allows event times up to a day ahead (a
            // venue's local time stamped as UTC), and one such trade would otherwise close
            // every open bar of the partition and make every trade after it "late" for hours.
            // Its own bar waits until the stream catches up with it.
            let reach = trade.event_ts.min(trade.ingest_ts + watermark_lead());
            if self.watermark.is_none_or(|w| reach > w) {
                self.watermark = Some(reach);
            }
        }
        let watermark = self.watermark;
        for (_, bar) in open {
            let closed = watermark.is_some_and(|w| bar.start + minute + allowed_lateness <= w);
            if !closed {
                self.open.push(bar);
                continue;
            }
            match bar.into_bar() {
                Some(bar) => folded.closed.push(bar),
                None => folded.unrepresentable += 1,
            }
        }
        folded
    }
}

impl OpenBar {
    fn first(trade: &Trade, start: DateTime<Utc>) -> Self {
        OpenBar {
            symbol: trade.symbol.clone(),
            provider: trade.provider,
            start,
            open: trade.price,
            open_ts: trade.event_ts,
            high: trade.price,
            low: trade.price,
            close: trade.price,
            close_ts: trade.event_ts,
            volume: trade.size.get(),
            notional: trade.price.get() * trade.size.get(),
            trades: 1,
            ingest_ts: trade.ingest_ts,
        }
    }

    fn add(&mut self, trade: &Trade) {
        // Strict `<` keeps the first of equal times as the open; `>=` takes the last as close.
        if trade.event_ts < self.open_ts {
            self.open = trade.price;
            self.open_ts = trade.event_ts;
        }
        if trade.event_ts >= self.close_ts {
            self.close = trade.price;
            self.close_ts = trade.event_ts;
        }
        self.high = self.high.max(trade.price);
        self.low = self.low.min(trade.price);
        self.volume += trade.size.get();
        self.notional += trade.price.get() * trade.size.get();
        self.trades += 1;
        self.ingest_ts = self.ingest_ts.max(trade.ingest_ts);
    }

    fn into_bar(self) -> Option<Bar> {
        let volume = Quantity::new(self.volume).ok()?;
        let vwap = if self.volume.is_zero() {
            None
        } else {
            Price::new((self.notional / self.volume).round_dp(DECIMAL_SCALE)).ok()
        };
        let interval = BarInterval::from_seconds(60).ok()?;
        let ohlc = Ohlc {
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
        };
        let bar = Bar::new(
            self.provider,
            self.symbol,
            self.start,
            self.ingest_ts,
            interval,
            ohlc,
            volume,
        );
        Some(bar.with_stats(vwap, Some(self.trades)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(symbol: &str, ts: &str, price: &str, size: &str) -> Record {
        let ts: DateTime<Utc> = ts.parse().unwrap();
        Record::Trade(Trade::new(
            Provider::Synthetic,
            symbol.parse().unwrap(),
            ts,
            ts + chrono::Duration::milliseconds(5),
            price.parse().unwrap(),
            size.parse().unwrap(),
        ))
    }

    fn lateness() -> chrono::Duration {
        chrono::Duration::seconds(10)
    }

    #[test]
    fn a_minute_closes_once_the_watermark_passes_it_plus_lateness() {
        let mut state = BarState::default();
        let first = [
            trade("AAPL", "2026-11-26T14:30:05Z", "10", "1"),
            trade("AAPL", "2026-11-26T14:30:50Z", "12", "3"),
            trade("AAPL", "2026-11-26T14:30:20Z", "9", "2"),
            trade("AAPL", "2026-11-26T14:31:09Z", "11", "1"),
        ];
        let folded = state.fold(&first, lateness());
        assert!(folded.closed.is_empty(), "14:31:09 < 14:31:10: still open");
        assert_eq!(state.open_bars(), 2);
        let folded = state.fold(
            &[trade("MSFT", "2026-11-26T14:31:10Z", "5", "1")],
            lateness(),
        );
        assert_eq!(folded.closed.len(), 1);
        let bar = &folded.closed[0];
        assert_eq!(bar.symbol.as_str(), "AAPL");
        assert_eq!(
            bar.event_ts,
            "2026-11-26T14:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close),
            (
                "10".parse().unwrap(),
                "12".parse().unwrap(),
                "9".parse().unwrap(),
                "12".parse().unwrap()
            )
        );
        assert_eq!(bar.volume, "6".parse().unwrap());
        // (10*1 + 12*3 + 9*2) / 6 = 64 / 6
        assert_eq!(bar.vwap, Some("10.66666667".parse().unwrap()));
        assert_eq!(bar.trade_count, Some(3));
        assert_eq!(bar.interval.seconds(), 60);
        assert_eq!(Record::Bar(bar.clone()).validate(Utc::now()), Ok(()));
    }

    #[test]
    fn late_trades_are_counted_and_left_out() {
        let mut state = BarState::default();
        state.fold(
            &[
                trade("AAPL", "2026-11-26T14:30:05Z", "10", "1"),
                trade("AAPL", "2026-11-26T14:32:00Z", "10", "1"),
            ],
            lateness(),
        );
        let folded = state.fold(
            &[trade("AAPL", "2026-11-26T14:30:59Z", "99", "1")],
            lateness(),
        );
        assert_eq!(folded.late_trades, 1);
        assert!(folded.closed.is_empty());
        // Late but within the allowed lateness of 14:31: accepted.
        let folded = state.fold(
            &[trade("AAPL", "2026-11-26T14:31:30Z", "7", "1")],
            lateness(),
        );
        assert_eq!(folded.late_trades, 0);
    }

    /// One trade stamped nine hours ahead (a venue's local time written as UTC, which
    /// validation accepts) must neither close the bars in progress nor make the trades after
    /// it late.
    #[test]
    fn a_trade_stamped_hours_ahead_does_not_close_the_partition() {
        let mut state = BarState::default();
        state.fold(
            &[trade("AAPL", "2026-11-26T14:30:05Z", "10", "1")],
            lateness(),
        );
        let ahead: DateTime<Utc> = "2026-11-26T23:30:07Z".parse().unwrap();
        let skewed = Record::Trade(Trade::new(
            Provider::Synthetic,
            "IBM".parse().unwrap(),
            ahead,
            "2026-11-26T14:30:07Z".parse().unwrap(),
            "5".parse().unwrap(),
            "1".parse().unwrap(),
        ));
        let folded = state.fold(&[skewed], lateness());
        assert!(folded.closed.is_empty(), "{:?}", folded.closed);
        let folded = state.fold(
            &[trade("AAPL", "2026-11-26T14:30:40Z", "11", "1")],
            lateness(),
        );
        assert_eq!(folded.late_trades, 0);
        assert_eq!(state.open_bars(), 2, "AAPL 14:30 and the skewed IBM bar");
        // The stream goes on: 14:30 closes as usual, the skewed bar stays open.
        let folded = state.fold(
            &[trade("AAPL", "2026-11-26T14:31:15Z", "12", "1")],
            lateness(),
        );
        assert_eq!(folded.closed.len(), 1);
        assert_eq!(folded.closed[0].trade_count, Some(2));
        assert_eq!(folded.closed[0].symbol.as_str(), "AAPL");
    }

    #[test]
    fn splitting_the_stream_anywhere_gives_the_same_bars() {
        let mut trades = Vec::new();
        for i in 0..400 {
            let secs = i * 7 % 600 + i / 2;
            let ts = format!("2026-11-26T14:{:02}:{:02}Z", 20 + secs / 60, secs % 60);
            let symbol = ["AAPL", "MSFT", "IBM"][i as usize % 3];
            trades.push(trade(symbol, &ts, &format!("{}.25", 100 + i % 13), "3"));
        }
        let whole = {
            let mut state = BarState::default();
            let folded = state.fold(&trades, lateness());
            (folded.closed, folded.late_trades, state)
        };
        for cut in [1, 57, 199, 398] {
            let mut state = BarState::default();
            let mut a = state.fold(&trades[..cut], lateness());
            // Through the saved form, as a restarted sink would read it.
            let mut state = BarState::parse(&state.to_bytes()).unwrap().unwrap();
            let b = state.fold(&trades[cut..], lateness());
            a.closed.extend(b.closed);
            a.closed
                .sort_by(|x, y| (&x.symbol, x.event_ts).cmp(&(&y.symbol, y.event_ts)));
            let mut expected = whole.0.clone();
            expected.sort_by(|x, y| (&x.symbol, x.event_ts).cmp(&(&y.symbol, y.event_ts)));
            assert_eq!(a.closed, expected, "cut at {cut}");
            assert_eq!(a.late_trades + b.late_trades, whole.1);
            assert_eq!(state, whole.2);
        }
        assert!(!whole.0.is_empty());
    }

    #[test]
    fn other_kinds_pass_by_and_unknown_versions_are_ignored() {
        let mut state = BarState::default();
        let folded = state.fold(&[], lateness());
        assert!(folded.closed.is_empty());
        assert_eq!(
            BarState::parse(br#"{"version":99,"open":[]}"#).unwrap(),
            None
        );
        assert!(BarState::parse(b"not json").is_err());
    }
}
