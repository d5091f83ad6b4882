//! Remembers the newest bar emitted per symbol and interval, so that a poller, which sees the
//! same recent bars on every poll, emits each bar once and emits a bar again only when its
//! content changed (a still-open bar growing, a late correction). Ids would let the sink drop
//! the repeats anyway; not sending them keeps Kafka traffic proportional to new data.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use stockfeed_record::{Bar, BarInterval, RecordId, Symbol};

#[derive(Debug, Default)]
pub struct BarTracker {
    newest: HashMap<(Symbol, BarInterval), (DateTime<Utc>, RecordId)>,
}

impl BarTracker {
    /// True when `bar` is newer than, or a changed version of, the newest one seen; records it.
    pub fn is_new(&mut self, bar: &Bar) -> bool {
        let key = (bar.symbol.clone(), bar.interval);
        match self.newest.get(&key) {
            Some((start, id))
                if bar.event_ts < *start || (bar.event_ts == *start && bar.id == *id) =>
            {
                false
            }
            _ => {
                self.newest.insert(key, (bar.event_ts, bar.id));
                true
            }
        }
    }
}
