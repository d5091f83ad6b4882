//! Exchange-local time: US equity sessions are defined in New York time, and several providers
//! stamp data that way (Alpha Vantage's intraday keys, day bars that start at midnight New York).
//! A fixed offset would be wrong for half the year, so conversions go through the IANA zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone US equity data is stamped in.
pub const NEW_YORK: Tz = chrono_tz::America::New_York;

/// Converts a wall-clock time in `tz` to UTC. A time in the autumn overlap takes the earlier
/// instant (the first pass through it); a time in the spring gap does not exist and is refused.
pub fn local_to_utc(local: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, String> {
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            format!("{local} does not exist in {tz} (skipped by a daylight-saving change)")
        })
}

/// Start of a trading day: midnight New York, which is how Alpaca, Polygon and Yahoo stamp
/// their day bars, so day bars from every provider line up.
pub fn day_start(date: NaiveDate) -> Result<DateTime<Utc>, String> {
    local_to_utc(date.and_time(chrono::NaiveTime::MIN), NEW_YORK)
}

/// The New York calendar date of an instant.
pub fn new_york_date(ts: DateTime<Utc>) -> NaiveDate {
    ts.with_timezone(&NEW_YORK).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_aware() {
        let summer = NaiveDate::from_ymd_opt(2026, 4, 2)
            .unwrap()
            .and_hms_opt(19, 55, 0)
            .unwrap();
        assert_eq!(
            local_to_utc(summer, NEW_YORK).unwrap().to_rfc3339(),
            "2026-04-02T23:55:00+00:00"
        );
        let winter = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        assert_eq!(
            day_start(winter).unwrap().to_rfc3339(),
            "2026-01-02T05:00:00+00:00"
        );
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert!(local_to_utc(gap, NEW_YORK).is_err());
    }
}
