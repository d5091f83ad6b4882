//! Where an earlier run left off, as a source consults it: per (symbol, kind), the newest event
//! time the topic already holds. The producer pipeline computes it from the topic's tail
//! (`crate::resume`); sources that re-emit in order use it to skip what was delivered.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use stockfeed_record::{Record, Symbol};

/// The newest event time of each record kind (in [`stockfeed_record::RecordKind::ALL`] order) of one symbol.
pub type NewestByKind = [Option<DateTime<Utc>>; 3];

/// Per (symbol, kind): the newest event time the topic holds.
#[derive(Debug, Default, Clone)]
pub struct ResumePoint {
    newest: HashMap<Symbol, NewestByKind>,
}

impl ResumePoint {
    /// From the newest event time of each (symbol, kind), kinds in [`stockfeed_record::RecordKind::ALL`] order.
    pub fn from_newest(newest: HashMap<Symbol, NewestByKind>) -> Self {
        ResumePoint { newest }
    }

    /// True when an in-order source's record is older than the newest of its (symbol, kind) in
    /// the topic, and so was delivered by an earlier run. Records at that very time are left to
    /// the dedup window.
    pub fn already_sent(&self, record: &Record) -> bool {
        self.newest
            .get(record.symbol())
            .and_then(|kinds| kinds[record.kind().index()])
            .is_some_and(|newest| record.event_ts() < newest)
    }

    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }
}
