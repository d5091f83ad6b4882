//! Derived 1-minute OHLCV bars, written by the sink next to the trades they come from, so
//! analysts read `bars_1m` instead of re-aggregating the trade table in every query.
//!
//! Semantics, chosen so the bars are exactly once like the raw files:
//!
//! - A bar covers `[minute, minute + 1m)` of one symbol's trades, by event time (UTC). `open` is
//!   the earliest trade by event time and `close` the latest (ties: Kafka offset order);
//!   `volume` sums sizes, `vwap` is `sum(price * size) / volume`, `trade_count` counts trades.
//! - A bar is written once the partition's stream shows its minute is over: when a trade of the
//!   same Kafka partition arrives with an event time at or past `minute + 1m + allowedLateness`
//!   (the watermark). Wall-clock time never closes a bar, which is what makes the output a pure
//!   function of the topic: a partition that stops receiving trades keeps its last minute open
//!   until trades come again.
//! - A trade for a minute that is already closed is late: it is kept in the trade table as
//!   always, left out of the bars, and counted (`stockfeed_sink_bar_late_trades_total`).
//! - The open bars at the end of a segment are saved with it (`_stockfeed/bars/...`, invisible
//!   to Hive readers) before its offset is committed. Whoever continues the partition at that
//!   offset — the same sink after a crash, another one after a rebalance — starts from that
//!   saved state, so each segment's bars file is the same whoever writes it, and a minute that
//!   spans two segments still becomes one bar.

mod state;

pub use state::{BarState, Folded};
pub use stockfeed_spec::sink::DerivedBars;
