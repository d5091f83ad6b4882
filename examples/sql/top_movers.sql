-- Top movers of the day: each symbol's first and last trade price and the change in percent,
-- largest moves (up or down) first.
--
-- One text for Athena engine v3 (Trino) and `stockfeed query` (DataFusion):
--   * first/last price use min_by / max_by on event_ts (Trino built-ins, registered by
--     `stockfeed query`; plain DataFusion: first_value(price ORDER BY event_ts)).
--   * The percentage is computed in decimals and cast to decimal(18,8), rounding half up, so
--     both engines print the same digits.
--   * The outer query sorts by abs(pct_change) with the alias defined one level down: whether
--     an ORDER BY *expression* may use an output alias of the same SELECT differs between
--     engines (Trino's rules for it are not verified here), a column of a subquery works in all.
WITH day AS (
    SELECT symbol,
           min_by(price, event_ts) AS first_price,
           max_by(price, event_ts) AS last_price,
           count(*)                AS trades
    FROM trades
    WHERE dt = '2026-11-26'
    GROUP BY symbol
),
moves AS (
    SELECT symbol,
           first_price,
           last_price,
           CAST((last_price - first_price) * 100 / first_price AS DECIMAL(18, 8)) AS pct_change,
           trades
    FROM day
)
SELECT symbol, first_price, last_price, pct_change, trades
FROM moves
ORDER BY abs(pct_change) DESC, symbol
LIMIT 10;
