//! JSON lines: each record in its exact wire form (`Record::to_json`), one per line.
//!
//! Keeping the wire form means a lake file can be replayed into Kafka unchanged and read with
//! the same JSON Schema as the topic. Prices stay JSON strings, so no reader turns them into
//! binary floats on the way.

use std::io::Write;

use flate2::{Compression, GzBuilder};

use stockfeed_record::Record;

/// The records, each followed by `\n` (also the last: a file is a sequence of terminated lines,
/// and concatenating two files gives a valid file).
pub(super) fn encode(records: &[&Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend_from_slice(&record.to_json());
        out.push(b'\n');
    }
    out
}

/// [`encode`], gzipped with a header that has no modification time, no file name and a fixed
/// OS byte, so equal input gives equal bytes.
pub(super) fn encode_gzip(records: &[&Record]) -> std::io::Result<Vec<u8>> {
    let mut gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    for record in records {
        gz.write_all(&record.to_json())?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use stockfeed_record::samples::sample;

    #[test]
    fn lines_parse_back_to_the_same_records() {
        let records = sample();
        let refs: Vec<&Record> = records.iter().collect();
        let text = String::from_utf8(encode(&refs)).unwrap_or_default();
        assert!(text.ends_with('\n'));
        let back: Vec<Record> = text
            .lines()
            .map(|l| Record::parse_json(l.as_bytes()).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn gzip_is_deterministic_and_decodes_to_the_plain_form() {
        let records = sample();
        let records: Vec<&Record> = records.iter().collect();
        let a = encode_gzip(&records).unwrap_or_default();
        let b = encode_gzip(&records).unwrap_or_default();
        assert_eq!(a, b);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime must be zero");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(a.as_slice())
            .read_to_end(&mut plain)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain, encode(&records));
    }
}
