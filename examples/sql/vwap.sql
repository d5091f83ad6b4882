-- Daily VWAP per symbol: sum(price * size) / sum(size) over each day's trades.
--
-- dt is the partition column (a string, 'YYYY-MM-DD' in UTC), so the range below prunes
-- folders in both engines. The outer CAST gives the lake's decimal(18,8), rounded half up.
--
-- Dialects differ in one place, the decimal division:
--   * DataFusion (`stockfeed query`) divides decimal(38,16) by decimal(28,8) by first
--     multiplying the numerator by 10^12 in 128 bits, which overflows once a day's
--     sum(price * size) passes about 10^10 (ten billion dollars, a normal day for the
--     largest stocks). Widening it to DECIMAL(76,16) (256-bit) keeps it exact.
--   * Athena (Trino) allows at most DECIMAL(38, s) and divides long decimals without that
--     limit (up to about 10^14 here). Run this text there instead:
-- athena: SELECT dt, symbol,
-- athena:        CAST(sum(price * size) / sum(size) AS DECIMAL(18, 8)) AS vwap,
-- athena:        sum(size) AS volume, count(*) AS trades
-- athena: FROM trades
-- athena: WHERE dt BETWEEN '2026-11-25' AND '2026-11-26'
-- athena: GROUP BY dt, symbol
-- athena: ORDER BY dt, symbol;
SELECT dt,
       symbol,
       CAST(CAST(sum(price * size) AS DECIMAL(76, 16)) / sum(size) AS DECIMAL(18, 8)) AS vwap,
       sum(size)                                                                    AS volume,
       count(*)                                                                     AS trades
FROM trades
WHERE dt BETWEEN '2026-11-25' AND '2026-11-26'
GROUP BY dt, symbol
ORDER BY dt, symbol;
