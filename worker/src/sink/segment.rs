//! A segment: the records of one Kafka partition between two commits, waiting to become files.
//!
//! Records are grouped into one file per (kind, Hive partition directory). The segment covers
//! offsets `start..end`; poison messages inside that range went to the dead-letter topic and
//! are covered by the same commit.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use super::layout::{Dataset, PartitionBy, file_name, partition_dir};
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
    dirs: HashMap<u64, String>,
}

/// The files of a segment, in key order, with their records.
pub struct PlannedFile {
    pub key: String,
    pub dataset: Dataset,
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
            dirs: HashMap::new(),
        }
    }

    /// Adds a record. Its partition directory is formatted only the first time the segment
    /// sees that (kind, partition values) combination: a string per record was a measurable
    /// share of the sink's time.
    pub fn push(
        &mut self,
        offset: i64,
        record: Record,
        payload_len: usize,
        partition_by: &PartitionBy,
    ) {
        let key = dir_key(partition_by, &record);
        self.dirs
            .entry(key)
            .or_insert_with(|| partition_dir(partition_by, &record));
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
            rest.push(o, r, len, partition_by);
        }
        self.dirs = self
            .records
            .iter()
            .map(|(_, r)| (dir_key(partition_by, r), partition_dir(partition_by, r)))
            .collect();
        rest.next = rest.next.max(self.next.max(at));
        self.next = at.min(self.next);
        self.required_end = Some(at);
        rest
    }

    /// The keys of the files this segment becomes, sorted (for the manifest), without
    /// touching the records.
    pub fn file_keys(&self, topic: &str, extension: &str) -> Vec<String> {
        let name = file_name(topic, self.partition, self.start, extension);
        let mut keys: Vec<String> = self
            .dirs
            .values()
            .map(|dir| format!("{dir}{name}"))
            .collect();
        keys.sort();
        keys
    }

    /// Groups the records into files, named after the segment's first offset. Takes the
    /// records out of the segment: they are written next, and copying millions of them would
    /// cost more than encoding them. Each record is placed by its directory's hash, looked up
    /// in the directories seen on `push`, so no path is formatted per record.
    pub fn take_plan(
        &mut self,
        topic: &str,
        partition_by: &PartitionBy,
        extension: &str,
    ) -> Vec<PlannedFile> {
        let name = file_name(topic, self.partition, self.start, extension);
        let mut files: Vec<PlannedFile> = Vec::with_capacity(self.dirs.len());
        let mut index: HashMap<u64, usize> = HashMap::with_capacity(self.dirs.len());
        for (_, record) in std::mem::take(&mut self.records) {
            let key = dir_key(partition_by, &record);
            let at = *index.entry(key).or_insert_with(|| {
                let dir = self
                    .dirs
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| partition_dir(partition_by, &record));
                let kind = record.kind();
                files.push(PlannedFile {
                    key: format!("{dir}{name}"),
                    dataset: Dataset::of(kind),
                    kind,
                    records: Vec::new(),
                });
                files.len() - 1
            });
            files[at].records.push(record);
        }
        files.sort_by(|a, b| a.key.cmp(&b.key));
        files
    }
}

/// A cheap identity of a record's partition directory: the values that `partition_dir` prints.
fn dir_key(partition_by: &PartitionBy, record: &Record) -> u64 {
    use super::layout::PartitionKey;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    record.kind().hash(&mut h);
    let ts = record.event_ts();
    for key in partition_by.keys() {
        match key {
            PartitionKey::Dt => ts.date_naive().hash(&mut h),
            PartitionKey::Hour => chrono::Timelike::hour(&ts).hash(&mut h),
            PartitionKey::Symbol => record.symbol().hash(&mut h),
        }
    }
    h.finish()
}
