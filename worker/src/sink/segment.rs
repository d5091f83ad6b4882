//! A segment: the records of one Kafka partition between two commits, waiting to become files.
//!
//! Records are grouped into one file per (kind, Hive partition directory). The segment covers
//! offsets `start..end`; poison messages inside that range went to the dead-letter topic and
//! are covered by the same commit.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use super::layout::{PartitionBy, file_name, partition_dir};
use crate::record::{Record, RecordKind};

#[derive(Debug)]
pub struct Segment {
    pub partition: i32,
    pub start: i64,
    /// One past the last offset seen.
    pub next: i64,
    /// Set when a manifest for `start` already exists: the segment must end exactly there.
    pub required_end: Option<i64>,
    pub records: Vec<(i64, Record)>,
    /// Message payload bytes held, the measure for `maxBytes` and the memory cap.
    pub bytes: usize,
    pub opened: Instant,
    /// Distinct partition directories (each with its kind) the records fall into: the files
    /// this segment will become, tracked as records arrive so the cap check stays cheap.
    dirs: HashSet<String>,
}

/// The files of a segment, in key order, with their records.
pub struct PlannedFile {
    pub key: String,
    pub kind: RecordKind,
    pub records: Vec<Record>,
}

impl Segment {
    pub fn new(partition: i32, start: i64) -> Self {
        Segment {
            partition,
            start,
            next: start,
            required_end: None,
            records: Vec::new(),
            bytes: 0,
            opened: Instant::now(),
            dirs: HashSet::new(),
        }
    }

    /// Adds a record; `dir` is its partition directory (see `layout::partition_dir`).
    pub fn push(&mut self, offset: i64, record: Record, payload_len: usize, dir: &str) {
        if !self.dirs.contains(dir) {
            self.dirs.insert(dir.to_owned());
        }
        self.records.push((offset, record));
        self.bytes += payload_len;
        self.next = offset + 1;
    }

    /// A message that produced no record (poison, dead-lettered) still moves the segment on.
    pub fn skip(&mut self, offset: i64) {
        self.next = offset + 1;
    }

    /// How many files this segment would become now.
    pub fn open_files(&self) -> usize {
        self.dirs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.next == self.start
    }

    /// The offset to commit once this segment's files exist.
    pub fn end(&self) -> i64 {
        self.required_end.unwrap_or(self.next)
    }

    /// Splits off everything at or after `at` into a new segment starting there.
    pub fn split_off(&mut self, at: i64, partition_by: &PartitionBy) -> Segment {
        let mut rest = Segment::new(self.partition, at);
        let keep = self.records.partition_point(|(o, _)| *o < at);
        let tail = self.records.split_off(keep);
        for (o, r) in tail {
            let len = r.to_json().len();
            self.bytes = self.bytes.saturating_sub(len);
            let dir = partition_dir(partition_by, &r);
            rest.push(o, r, len, &dir);
        }
        self.dirs = self
            .records
            .iter()
            .map(|(_, r)| partition_dir(partition_by, r))
            .collect();
        rest.next = rest.next.max(self.next.max(at));
        self.next = at.min(self.next);
        self.required_end = Some(at);
        rest
    }

    /// Groups the records into files, named after the segment's first offset.
    pub fn plan(
        &self,
        topic: &str,
        partition_by: &PartitionBy,
        extension_of: impl Fn(RecordKind) -> &'static str,
    ) -> Vec<PlannedFile> {
        let mut groups: BTreeMap<String, PlannedFile> = BTreeMap::new();
        for (_, record) in &self.records {
            let dir = partition_dir(partition_by, record);
            let key = format!(
                "{dir}{}",
                file_name(
                    topic,
                    self.partition,
                    self.start,
                    extension_of(record.kind())
                )
            );
            groups
                .entry(key.clone())
                .or_insert_with(|| PlannedFile {
                    key,
                    kind: record.kind(),
                    records: Vec::new(),
                })
                .records
                .push(record.clone());
        }
        groups.into_values().collect()
    }
}
