//! Dropping repeats within a bounded window.
//!
//! Providers repeat themselves: a WebSocket replays recent trades after a reconnect, REST polls
//! overlap, two replicas briefly own a ticker during a rescale. A record's id is a hash of its
//! content (see `record::id`), so a repeat has the same id. The window remembers the last
//! `capacity` ids, first in first out: memory stays fixed however long the producer runs.

use std::collections::{HashSet, VecDeque};

use stockfeed_record::RecordId;

pub struct DedupWindow {
    capacity: usize,
    seen: HashSet<RecordId>,
    order: VecDeque<RecordId>,
}

impl DedupWindow {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        DedupWindow {
            capacity,
            seen: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
        }
    }

    /// True the first time an id is seen within the window; false for a repeat.
    pub fn first_sighting(&mut self, id: RecordId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id);
        true
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> RecordId {
        RecordId::parse(&format!("{n:032x}")).unwrap()
    }

    #[test]
    fn repeats_inside_the_window_are_caught() {
        let mut w = DedupWindow::new(3);
        assert!(w.first_sighting(id(1)));
        assert!(w.first_sighting(id(2)));
        assert!(!w.first_sighting(id(1)));
        assert!(w.first_sighting(id(3)));
        assert!(w.first_sighting(id(4))); // evicts 1
        assert_eq!(w.len(), 3);
        assert!(w.first_sighting(id(1)), "outside the window again");
        assert!(!w.first_sighting(id(4)));
    }
}
