-- Gaps in each symbol's trade stream: consecutive trades more than 5 seconds apart (change
-- the INTERVAL for another threshold). A gap can mean a halt, a quiet market or a feed
-- outage; compare with the other symbols' gaps to tell which.
--
-- One text for Athena engine v3 (Trino) and `stockfeed query` (DataFusion):
--   * lag(...) OVER (PARTITION BY ... ORDER BY ...) and INTERVAL '5' SECOND are read alike.
--   * event_ts - previous_ts is a time span in both but typed and printed differently: Trino
--     gives an interval day to second (`0 00:00:07.500`), DataFusion a duration printed in
--     ISO 8601 (`PT7.5S`); both compare with INTERVAL '5' SECOND. For a plain
--     number, Athena: date_diff('millisecond', previous_ts, event_ts) / 1e3 (DataFusion has no
--     date_diff); DataFusion: date_part('epoch', event_ts) - date_part('epoch', previous_ts)
--     (Trino's extract has no epoch field).
--   * Athena compares at millisecond precision (timestamp(3)), DataFusion at microseconds.
--   * Only the day's trades are looked at (dt filter), so a gap across midnight is not
--     reported; widen the dt range to see it.
WITH ordered AS (
    SELECT symbol,
           event_ts,
           lag(event_ts) OVER (PARTITION BY symbol ORDER BY event_ts) AS previous_ts
    FROM trades
    WHERE dt = '2026-11-26'
)
SELECT symbol,
       previous_ts            AS gap_start,
       event_ts               AS gap_end,
       event_ts - previous_ts AS gap
FROM ordered
WHERE previous_ts IS NOT NULL
  AND event_ts - previous_ts > INTERVAL '5' SECOND
ORDER BY symbol, gap_start;
