//! The order of rows in every file.
//!
//! By symbol, then event time, then id, so a reader scanning one symbol's rows sees them in
//! time order and equal inputs give equal files. Records with equal ids differ at most in
//! `ingest_ts`, the final tie-breaker, so the order is total over distinct records.
//!
//! Sorting compares small integer keys, never the record enum, and moves no record: the
//! encoders read the records through the sorted list of references [`sorted_rows`] returns.
//! Moving whole records (about 200 bytes each) into place was a visible share of the sink's
//! time, as was comparing symbols byte by byte.

use chrono::{DateTime, Utc};

use stockfeed_record::Record;

/// The fields the order looks at, in comparison order, as integers: the symbol as its
/// order-preserving integer ([`stockfeed_record::Symbol::order_key`]), times as nanoseconds.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    symbol: u128,
    event_ts: i128,
    id: u128,
    ingest_ts: i128,
}

fn nanos(ts: DateTime<Utc>) -> i128 {
    i128::from(ts.timestamp()) * 1_000_000_000 + i128::from(ts.timestamp_subsec_nanos())
}

impl RowKey {
    fn of(r: &Record) -> Self {
        RowKey {
            symbol: r.symbol().order_key(),
            event_ts: nanos(r.event_ts()),
            id: r.id().as_u128(),
            ingest_ts: nanos(r.ingest_ts()),
        }
    }
}

/// The row order as a comparison on records: what [`sorted_rows`] must agree with (its tests
/// check). Written on the records' own fields, independently of `RowKey`.
#[cfg(test)]
pub(super) fn row_order(a: &Record, b: &Record) -> std::cmp::Ordering {
    (a.symbol(), a.event_ts(), a.id(), a.ingest_ts()).cmp(&(
        b.symbol(),
        b.event_ts(),
        b.id(),
        b.ingest_ts(),
    ))
}

/// The records in [`row_order`], by reference.
pub(super) fn sorted_rows(records: &[Record]) -> Vec<&Record> {
    let mut keyed: Vec<(RowKey, u32)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (RowKey::of(r), i as u32))
        .collect();
    // Equal keys mean equal records (see the module docs), so an unstable sort is fine.
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    keyed
        .into_iter()
        .map(|(_, i)| &records[i as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockfeed_record::samples::sample;

    #[test]
    fn sorting_keys_gives_the_order_of_sorting_records() {
        // Many records with repeated symbols and times, shuffled deterministically.
        let base = sample();
        let mut records: Vec<Record> = (0..40)
            .map(|i| base[(i * 7) % base.len()].clone())
            .collect();
        let n = records.len();
        for i in 0..n {
            records.swap(i, (i * 13 + 5) % n);
        }
        let mut by_records = records.clone();
        by_records.sort_by(row_order);
        let sorted: Vec<Record> = sorted_rows(&records).into_iter().cloned().collect();
        assert_eq!(sorted, by_records);
    }

    #[test]
    fn nanos_order_times_across_the_epoch_and_within_a_second() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("{e}"))
                .with_timezone(&Utc)
        };
        let times = [
            t("1969-12-31T23:59:59.999999999Z"),
            t("1970-01-01T00:00:00Z"),
            t("2026-11-27T10:00:00.000000001Z"),
            t("2026-11-27T10:00:00.1Z"),
            t("2026-11-27T10:00:01Z"),
        ];
        for pair in times.windows(2) {
            assert!(nanos(pair[0]) < nanos(pair[1]), "{pair:?}");
        }
    }
}
