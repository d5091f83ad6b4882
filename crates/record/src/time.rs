//! Timestamp rules shared by every record kind.
//!
//! Timestamps are `DateTime<Utc>` with nanosecond resolution and travel as RFC 3339 text ending
//! in `Z`. The plausibility window exists to catch unit mistakes, the commonest timestamp bug in
//! market-data code: epoch seconds read as milliseconds land in January 1970, milliseconds read
//! as seconds or nanoseconds read as milliseconds land thousands of years ahead.

use chrono::{DateTime, Duration, TimeZone, Utc};

/// Earliest accepted time: 1971-02-08, the first trading day of NASDAQ, the oldest electronic
/// market whose data we could be fed. Anything earlier is almost surely a unit error.
pub fn earliest_plausible() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1971, 2, 8, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How far past the validating machine's clock a timestamp may lie: generous enough for clock
/// skew and a provider stamping local exchange time as UTC, tight enough to catch unit errors.
pub const MAX_FUTURE_SKEW: Duration = Duration::days(1);

/// Checks that `ts` lies in the plausible window relative to `now`.
pub fn check_plausible(ts: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if ts < earliest_plausible() {
        return Err(format!(
            "is {ts}, before 1971-02-08 (was an epoch in seconds read as milliseconds?)"
        ));
    }
    if ts > now + MAX_FUTURE_SKEW {
        return Err(format!(
            "is {ts}, more than a day after now ({now}) (was an epoch in milliseconds read as \
             seconds, or nanoseconds as milliseconds?)"
        ));
    }
    Ok(())
}

/// A timestamp as used in ids: nanoseconds since the epoch. Every plausible timestamp fits
/// (i64 nanoseconds reach 2262); anything else hashes as its seconds, negated, so it still
/// differs from every in-range value.
pub(crate) fn canonical(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_nanos_opt()
        .unwrap_or_else(|| -ts.timestamp().abs())
}
