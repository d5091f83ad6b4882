//! The order of rows in every file.
//!
//! By symbol, then event time, then id, so a reader scanning one symbol's rows sees them in
//! time order and equal inputs give equal files. Records with equal ids differ at most in
//! `ingest_ts`, the final tie-breaker, so the order is total over distinct records.
//!
//! Sorting moved whole records (about 200 bytes each) and went through the record enum on
//! every comparison; it was a sixth of the encoding time. [`sort_rows`] sorts small keys that
//! carry the record's index, then moves each record once.

use chrono::{DateTime, Utc};

use crate::record::{Record, RecordId, Symbol};

/// The fields the order looks at, in comparison order.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    symbol: Symbol,
    event_ts: DateTime<Utc>,
    id: RecordId,
    ingest_ts: DateTime<Utc>,
}

impl RowKey {
    fn of(r: &Record) -> Self {
        RowKey {
            symbol: r.symbol().clone(),
            event_ts: r.event_ts(),
            id: r.id(),
            ingest_ts: r.ingest_ts(),
        }
    }
}

/// The row order as a comparison: what [`sort_rows`] must agree with (its tests check).
#[cfg(test)]
pub(super) fn row_order(a: &Record, b: &Record) -> std::cmp::Ordering {
    RowKey::of(a).cmp(&RowKey::of(b))
}

/// Sorts `records` by [`row_order`].
pub(super) fn sort_rows(records: &mut [Record]) {
    let mut keyed: Vec<(RowKey, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (RowKey::of(r), i))
        .collect();
    // Equal keys mean equal records (see the module docs), so an unstable sort is fine.
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    // `source[i]`: the position whose record belongs at `i`.
    let mut source: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    permute(records, &mut source);
}

/// Rearranges `items` so that the new `items[i]` is the old `items[source[i]]`, following each
/// cycle of the permutation with swaps (each item moves once). `source` is used up: every entry
/// ends as its own index.
fn permute<T>(items: &mut [T], source: &mut [usize]) {
    for start in 0..items.len() {
        let mut at = start;
        loop {
            let from = source[at];
            source[at] = at;
            if from == start || from == at {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_places_each_item_from_its_source() {
        let cases: [&[usize]; 5] = [&[], &[0], &[1, 0], &[2, 0, 1], &[3, 0, 4, 1, 2, 5, 7, 6]];
        for case in cases {
            let old: Vec<usize> = (0..case.len()).map(|i| i * 10).collect();
            let mut items = old.clone();
            let mut source = case.to_vec();
            permute(&mut items, &mut source);
            let expected: Vec<usize> = case.iter().map(|&s| old[s]).collect();
            assert_eq!(items, expected, "{case:?}");
            assert!(source.iter().enumerate().all(|(i, &s)| i == s));
        }
    }
}
