//! The lake's own record of how far each partition is written, beside Kafka's committed offset.
//!
//! Kafka's offsets can go while the lake stays: a feed suspended past
//! `offsets.retention.minutes`, a lake moved from `stockfeed run` to the operator (another
//! group), a group reset. A sink that then starts from the log start meets no manifest there
//! (retention removed the segments the old cuts began at) and would write every retained
//! record a second time under new names. So after each segment's files exist the sink replaces
//! `_stockfeed/offsets/{topic}/{partition}.json` with that segment's end, and on assignment it
//! resumes from the later of the two.
//!
//! The checkpoint is a hint that is safe when stale: every value it ever held is the end of a
//! segment whose files all exist, hence the start of the next recorded cut (or of nothing yet).
//! A zombie's late write can move it back; resuming there adopts the recorded cuts and writes
//! nothing new. It is never trusted past the partition's end: a checkpoint beyond the newest
//! offset means the topic was recreated or the lake belongs to another topic, and the sink
//! stops rather than skip the new records.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub topic: String,
    pub partition: i32,
    /// Every record of the partition below this offset is in the lake.
    pub end: i64,
}

impl Checkpoint {
    pub fn new(topic: &str, partition: i32, end: i64) -> Self {
        Checkpoint {
            version: 1,
            topic: topic.to_owned(),
            partition,
            end,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Where a newly assigned partition resumes: Kafka's committed offset, unless the lake is
/// ahead of it (or Kafka has none). `None` when neither knows: the first consumed offset.
pub fn resume_offset(committed: Option<i64>, lake: Option<i64>) -> Option<i64> {
    match (committed, lake) {
        (Some(c), Some(l)) => Some(c.max(l)),
        (c, l) => c.or(l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_of_kafka_and_the_lake_wins() {
        assert_eq!(resume_offset(None, None), None);
        assert_eq!(resume_offset(Some(40), None), Some(40));
        assert_eq!(resume_offset(None, Some(700)), Some(700));
        assert_eq!(resume_offset(Some(40), Some(700)), Some(700));
        assert_eq!(resume_offset(Some(900), Some(700)), Some(900));
    }

    #[test]
    fn round_trips() {
        let c = Checkpoint::new("stocks.ticks", 3, 12_345);
        assert_eq!(Checkpoint::parse(&c.to_bytes()).unwrap(), c);
    }
}
