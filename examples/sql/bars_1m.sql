-- The sink's derived 1-minute bars (sink.derivedBars.enabled: true): the figures ohlcv_1m.sql
-- computes from trades, already aggregated, so a day of bars reads one small table instead of
-- every trade.
--
--   bar_start = event_ts of the bar (its minute, UTC); trade_count = trades in the bar
--   vwap      = sum(price * size) / volume, rounded half up to 8 places
--
-- A minute's bar is written once a later trade in the same Kafka partition is
-- sink.derivedBars.allowedLateness past the minute's end, so the newest minute of a feed
-- that has stopped stays in trades only (see crates/sink/src/bars/mod.rs). Trades arriving
-- after their minute closed are in trades but not here (metric
-- stockfeed_sink_bar_late_trades_total).
--
-- Plain SQL, the same text in Athena (Trino) and `stockfeed query` (DataFusion).
SELECT symbol,
       event_ts     AS bar_start,
       open,
       high,
       low,
       close,
       volume,
       vwap,
       trade_count  AS trades
FROM bars_1m
WHERE dt = '2026-11-26'
ORDER BY symbol, bar_start;
