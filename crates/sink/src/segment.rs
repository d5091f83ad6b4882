//! A segment: the records of one Kafka partition between two commits, waiting to become files.
//!
//! Records are grouped into one file per (kind, Hive partition directory). The segment covers
//! offsets `start..end`; poison messages inside that range went to the dead-letter topic and
//! are covered by the same commit.

use std::collections::HashMap;
use std::time::Instant;

use stockfeed_record::lake::layout::{Dataset, PartitionBy, file_name, partition_dir};
use stockfeed_record::{Record, RecordKind, Symbol};

#[derive(Debug)]
pub struct Segment {
    pub partition: i32,
    pub start: i64,
    /// One past the last offset seen.
    pub next: i64,
    /// Set when a manifest for `start` already exists: the segment must end exactly there.
    pub required_end: Option<i64>,
    /// Message payload bytes held, the measure for `maxBytes` and the memory cap.
    pub bytes: usize,
    pub opened: Instant,
    /// Records held (all files), the measure for `maxRecords`.
    len: usize,
    /// The records, already grouped into the files they become, keyed by the (kind,
    /// partition values) that name the file's directory. Grouping on arrival means
    /// the records are never moved again before encoding (copying them when the segment was
    /// cut was a visible share of the sink's time), and the file count, checked against the
    /// open-files cap after every record, is the map's length.
    files: HashMap<DirKey, FileRecords>,
}

/// The records of one future file, in offset order.
#[derive(Debug)]
struct FileRecords {
    /// The partition directory, formatted once, when the first record arrives.
    dir: String,
    kind: RecordKind,
    /// `offsets[i]` is the Kafka offset of `records[i]`; kept apart so that the records can
    /// be handed to the encoder as they are.
    offsets: Vec<i64>,
    /// `sizes[i]` is what `records[i]` counts against the byte limits, so that a split moves
    /// exactly what was counted (re-measuring there undercounted, and the segment after a
    /// split looked smaller than it was).
    sizes: Vec<u32>,
    records: Vec<Record>,
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
            bytes: 0,
            opened: Instant::now(),
            len: 0,
            files: HashMap::new(),
        }
    }

    /// Adds a record to the file it belongs in. That file's directory is formatted only the
    /// first time the segment sees its (kind, partition values): a string per record was a
    /// measurable share of the sink's time.
    pub fn push(
        &mut self,
        offset: i64,
        record: Record,
        payload_len: usize,
        partition_by: &PartitionBy,
    ) {
        let file = self
            .files
            .entry(dir_key(partition_by, &record))
            .or_insert_with(|| FileRecords {
                dir: partition_dir(partition_by, &record),
                kind: record.kind(),
                offsets: Vec::new(),
                sizes: Vec::new(),
                records: Vec::new(),
            });
        file.offsets.push(offset);
        file.sizes
            .push(u32::try_from(payload_len).unwrap_or(u32::MAX));
        file.records.push(record);
        self.len += 1;
        self.bytes += payload_len;
        self.next = offset + 1;
    }

    /// A message that produced no record (poison, dead-lettered) still moves the segment on.
    pub fn skip(&mut self, offset: i64) {
        self.next = offset + 1;
    }

    /// Records held.
    pub fn record_count(&self) -> usize {
        self.len
    }

    /// How many files this segment would become now.
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// No offset covered yet (a segment of dead-lettered messages only is not empty: its
    /// commit moves the partition on).
    pub fn is_empty(&self) -> bool {
        self.next == self.start
    }

    /// The offset to commit once this segment's files exist.
    pub fn end(&self) -> i64 {
        self.required_end.unwrap_or(self.next)
    }

    /// Offsets past the cut this segment must end at: they belong to the segments after it.
    pub fn holds_past_its_cut(&self) -> bool {
        self.required_end.is_some_and(|cut| self.next > cut)
    }

    /// An adopted cut this segment has not read up to yet.
    pub fn short_of_its_cut(&self) -> bool {
        self.required_end.is_some_and(|cut| self.next < cut)
    }

    /// The records in offset order, as they were consumed (the bar fold depends on it).
    pub fn records_in_offset_order(&self) -> impl Iterator<Item = &Record> {
        let mut all: Vec<(i64, &Record)> = self
            .files
            .values()
            .flat_map(|f| f.offsets.iter().copied().zip(&f.records))
            .collect();
        all.sort_unstable_by_key(|(offset, _)| *offset);
        all.into_iter().map(|(_, r)| r)
    }

    /// Splits off everything at or after `at` into a new segment starting there.
    pub fn split_off(&mut self, at: i64, partition_by: &PartitionBy) -> Segment {
        let mut rest = Segment::new(self.partition, at);
        for file in self.files.values_mut() {
            let keep = file.offsets.partition_point(|o| *o < at);
            let offsets = file.offsets.split_off(keep);
            let sizes = file.sizes.split_off(keep);
            let records = file.records.split_off(keep);
            for ((o, size), r) in offsets.into_iter().zip(sizes).zip(records) {
                let size = size as usize;
                self.bytes = self.bytes.saturating_sub(size);
                self.len -= 1;
                rest.push(o, r, size, partition_by);
            }
        }
        self.files.retain(|_, f| !f.records.is_empty());
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
            .files
            .values()
            .map(|f| format!("{}{name}", f.dir))
            .collect();
        keys.sort();
        keys
    }

    /// The files, named after the segment's first offset, in key order. Takes the records
    /// out of the segment: they are written next.
    pub fn take_plan(&mut self, topic: &str, extension: &str) -> Vec<PlannedFile> {
        let name = file_name(topic, self.partition, self.start, extension);
        let mut files: Vec<PlannedFile> = std::mem::take(&mut self.files)
            .into_values()
            .map(|f| PlannedFile {
                key: format!("{}{name}", f.dir),
                dataset: Dataset::of(f.kind),
                kind: f.kind,
                records: f.records,
            })
            .collect();
        self.len = 0;
        files.sort_by(|a, b| a.key.cmp(&b.key));
        files
    }
}

/// The values `partition_dir` prints for a record, compared exactly: two records share a file
/// only if their directories are equal (a hash alone could, however rarely, merge two). Only
/// the keys the sink partitions by are set; the others stay `None` for every record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DirKey {
    kind: RecordKind,
    date: Option<chrono::NaiveDate>,
    hour: Option<u32>,
    symbol: Option<Symbol>,
}

fn dir_key(partition_by: &PartitionBy, record: &Record) -> DirKey {
    use stockfeed_record::lake::layout::PartitionKey;
    let ts = record.event_ts();
    let mut key = DirKey {
        kind: record.kind(),
        date: None,
        hour: None,
        symbol: None,
    };
    for k in partition_by.keys() {
        match k {
            PartitionKey::Dt => key.date = Some(ts.date_naive()),
            PartitionKey::Hour => key.hour = Some(chrono::Timelike::hour(&ts)),
            PartitionKey::Symbol => key.symbol = Some(record.symbol().clone()),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockfeed_record::lake::layout::PartitionKey;
    use stockfeed_record::samples::sample;

    fn by_symbol() -> PartitionBy {
        PartitionBy::new(vec![PartitionKey::Dt, PartitionKey::Symbol])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A segment of partition 3 from offset 100 holding `records` at offsets 100, 101, ...
    fn segment(records: &[Record]) -> Segment {
        let mut seg = Segment::new(3, 100);
        for (i, r) in records.iter().enumerate() {
            seg.push(100 + i as i64, r.clone(), 10, &by_symbol());
        }
        seg
    }

    /// The sample repeated so that every file gets records at several, interleaved offsets.
    fn records() -> Vec<Record> {
        let one = sample();
        (0..3).flat_map(|_| one.clone()).collect()
    }

    #[test]
    fn groups_records_by_file_and_keeps_their_order() {
        let records = records();
        let mut seg = segment(&records);
        assert_eq!(seg.record_count(), records.len());
        assert_eq!(seg.end(), 100 + records.len() as i64);
        let in_order: Vec<Record> = seg.records_in_offset_order().cloned().collect();
        assert_eq!(in_order, records);

        let keys = seg.file_keys("t", "parquet");
        assert_eq!(keys.len(), seg.open_files());
        let files = seg.take_plan("t", "parquet");
        assert_eq!(
            files.iter().map(|f| f.key.clone()).collect::<Vec<_>>(),
            keys
        );
        assert_eq!(seg.record_count(), 0);
        let mut total = 0;
        for f in &files {
            let expected_dir = partition_dir(&by_symbol(), &f.records[0]);
            assert!(f.key.starts_with(&expected_dir), "{}", f.key);
            assert!(
                f.key.ends_with("t+3+00000000000000000100.parquet"),
                "{}",
                f.key
            );
            // Every record of the file has its kind and directory, in the order consumed.
            let expected: Vec<&Record> = records
                .iter()
                .filter(|r| partition_dir(&by_symbol(), r) == expected_dir)
                .collect();
            assert_eq!(f.records.iter().collect::<Vec<_>>(), expected);
            assert!(f.records.iter().all(|r| r.kind() == f.kind));
            total += f.records.len();
        }
        assert_eq!(total, records.len());
    }

    /// Two records share a file exactly when their kind and directory are equal, for every
    /// `partitionBy` choice (records an hour, a day and a symbol apart).
    #[test]
    fn records_share_a_file_exactly_when_their_directories_are_equal() {
        let mut records = Vec::new();
        for hours in [0, 1, 24, 25] {
            for mut r in sample() {
                let shift = chrono::Duration::hours(hours);
                match &mut r {
                    Record::Trade(t) => t.event_ts += shift,
                    Record::Quote(q) => q.event_ts += shift,
                    Record::Bar(b) => b.event_ts += shift,
                }
                records.push(r);
            }
        }
        let choices = [
            vec![PartitionKey::Dt],
            vec![PartitionKey::Dt, PartitionKey::Hour],
            vec![PartitionKey::Dt, PartitionKey::Symbol],
        ];
        for keys in choices {
            let by = PartitionBy::new(keys).unwrap_or_else(|e| panic!("{e}"));
            for a in &records {
                for b in &records {
                    let same_dir =
                        a.kind() == b.kind() && partition_dir(&by, a) == partition_dir(&by, b);
                    assert_eq!(dir_key(&by, a) == dir_key(&by, b), same_dir, "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn split_off_moves_the_records_from_the_cut_on() {
        let records = records();
        let mut seg = segment(&records);
        seg.skip(100 + records.len() as i64);
        let cut = 104;
        let rest = seg.split_off(cut, &by_symbol());
        assert_eq!(seg.end(), cut);
        assert_eq!(seg.record_count(), 4);
        let kept: Vec<Record> = seg.records_in_offset_order().cloned().collect();
        assert_eq!(kept, records[..4]);
        assert_eq!(rest.start, cut);
        assert_eq!(rest.record_count(), records.len() - 4);
        assert_eq!(
            rest.next,
            101 + records.len() as i64,
            "the skipped offset stays covered"
        );
        let moved: Vec<Record> = rest.records_in_offset_order().cloned().collect();
        assert_eq!(moved, records[4..]);
        // The bytes counted on arrival (10 per record here) move with the records.
        assert_eq!(seg.bytes, 4 * 10);
        assert_eq!(rest.bytes, (records.len() - 4) * 10);
        let files_after: usize = seg.open_files();
        assert_eq!(seg.take_plan("t", "parquet").len(), files_after);
    }
}
