//! Segment manifests: the sink's record of where it cut a partition's stream into files.
//!
//! Before writing the files of a segment (offsets `start..end` of one Kafka partition), the sink
//! creates `_stockfeed/manifests/{topic}/{partition}/{start}.json` if absent. Whoever comes to
//! the same `start` later (the same sink after a crash, a new owner after a rebalance, a zombie)
//! finds the manifest and cuts at the same `end`, so it produces exactly the same files, whose
//! create-if-absent writes then change nothing. That makes every cut deterministic even when it
//! was chosen by the wall clock (age) or by memory pressure, which plain offset-derived rotation
//! (as in Confluent's connector) cannot allow.
//!
//! Manifests are small and are never deleted by the sink: deleting one would let a zombie that
//! still holds the old segment cut it differently. Expire `_stockfeed/manifests/` with a bucket
//! lifecycle rule after a few days instead.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub topic: String,
    pub partition: i32,
    /// First offset of the segment.
    pub start: i64,
    /// One past the last offset of the segment: the offset committed once the files exist.
    pub end: i64,
    /// Keys of the data files, relative to the lake prefix, sorted.
    pub files: Vec<String>,
    pub records: u64,
}

impl Manifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
