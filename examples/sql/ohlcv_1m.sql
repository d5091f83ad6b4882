-- 1-minute OHLCV + VWAP bars per symbol, from trades.
--
--   open   = price of the minute's earliest trade   min_by(price, event_ts)
--   close  = price of the minute's latest trade     max_by(price, event_ts)
--   high, low = max(price), min(price); volume = sum(size); trades = count(*)
--   vwap   = sum(price * size) / sum(size), as decimal(18,8)
--
-- One text for Athena engine v3 (Trino) and `stockfeed query` (DataFusion):
--   * min_by / max_by are Trino built-ins; DataFusion has none, `stockfeed query` registers
--     them. In plain DataFusion write first_value(price ORDER BY event_ts) and
--     last_value(price ORDER BY event_ts), which Trino does not accept as aggregates.
--   * date_trunc('minute', event_ts) has the same name and meaning in both; event_ts is a UTC
--     instant, so bars are UTC minutes.
--   * Athena reads the lake's Parquet timestamps at millisecond precision (timestamp(3));
--     trades within one millisecond tie there and are microseconds apart here.
--   * Decimal division: Trino computes the quotient at scale 16 (the larger operand scale),
--     DataFusion at scale 20; the CAST rounds both half up to the same 8 places. DataFusion's
--     128-bit division overflows once a bar's sum(price * size) passes about 10^10, far above
--     any one-minute bar; for whole days see vwap.sql.
--
-- Filter on dt (a partition column) so only that day's files are read; add
-- AND symbol = 'AAPL' for one symbol (or symbol_partition = 'AAPL' with partitionBy [dt, symbol]).
SELECT symbol,
       date_trunc('minute', event_ts)                          AS bar_start,
       min_by(price, event_ts)                                 AS open,
       max(price)                                              AS high,
       min(price)                                              AS low,
       max_by(price, event_ts)                                 AS close,
       sum(size)                                               AS volume,
       CAST(sum(price * size) / sum(size) AS DECIMAL(18, 8))   AS vwap,
       count(*)                                                AS trades
FROM trades
WHERE dt = '2026-11-26'
GROUP BY symbol, date_trunc('minute', event_ts)
ORDER BY symbol, bar_start;
