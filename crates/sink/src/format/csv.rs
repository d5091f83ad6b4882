//! CSV: RFC 4180 (CRLF line ends, quotes only where needed), a header row of the lake column
//! names, one column per lake column.
//!
//! Cell text:
//! - decimals: their exact decimal text (`189.1234`), never a float rendering;
//! - timestamps: RFC 3339 in UTC with exactly six fractional digits and `Z`
//!   (`2026-11-26T14:30:00.123456Z`), truncated to microseconds like the Parquet columns, so
//!   both formats hold the same instants;
//! - `conditions`: the entries joined with `|`, which the CSV has to hold in one cell; an entry
//!   that itself contains `|` is refused rather than written ambiguously;
//! - null, and an empty list: the empty field.

use chrono::{DateTime, SecondsFormat, Utc};

use super::EncodeError;
use stockfeed_record::lake::columns::{Cell, Column, columns};
use stockfeed_record::{Record, RecordKind};

/// Separates the entries of a list column inside one CSV cell (validation refuses entries
/// that contain it, so the check below is a last guard).
pub use stockfeed_record::LIST_SEPARATOR;

pub(super) fn encode(kind: RecordKind, records: &[&Record]) -> Result<Vec<u8>, EncodeError> {
    let cols = columns(kind);
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(cols.iter().map(|c| c.name))?;
    let mut row: Vec<String> = Vec::with_capacity(cols.len());
    for record in records {
        row.clear();
        for column in &cols {
            row.push(cell_text(column, record)?);
        }
        writer.write_record(&row)?;
    }
    writer
        .into_inner()
        .map_err(|e| EncodeError::Io(std::io::Error::other(e.to_string())))
}

fn cell_text(column: &Column, record: &Record) -> Result<String, EncodeError> {
    let cell = column.cell(record).ok_or(EncodeError::SchemaMismatch {
        column: column.name,
    })?;
    Ok(match cell {
        Cell::Text(v) => v.map(|t| t.into_owned()).unwrap_or_default(),
        Cell::Id(id) => id.to_string(),
        Cell::Timestamp(ts) => timestamp_text(ts),
        Cell::Decimal(v) => v.map(|d| d.to_string()).unwrap_or_default(),
        Cell::Int(v) => v.to_string(),
        Cell::Count(v) => v.map(|n| n.to_string()).unwrap_or_default(),
        Cell::TextList(items) => {
            if let Some(bad) = items.iter().find(|i| i.contains(LIST_SEPARATOR)) {
                return Err(EncodeError::Unrepresentable {
                    id: record.id().to_string(),
                    column: column.name,
                    problem: format!(
                        "entry {bad:?} contains `{LIST_SEPARATOR}`, the CSV list separator"
                    ),
                });
            }
            items.join(&LIST_SEPARATOR.to_string())
        }
    })
}

/// RFC 3339 UTC text, truncated (floored) to microseconds.
pub(super) fn timestamp_text(ts: DateTime<Utc>) -> String {
    DateTime::<Utc>::from_timestamp_micros(ts.timestamp_micros())
        .unwrap_or(ts)
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use stockfeed_record::samples::sample;
    use stockfeed_record::{Price, Provider, Quantity, Symbol, Trade};

    #[test]
    fn header_is_the_column_list() {
        for kind in RecordKind::ALL {
            let bytes = encode(kind, &[]).unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8(bytes).unwrap_or_default();
            let names: Vec<_> = columns(kind).iter().map(|c| c.name).collect();
            assert_eq!(text, format!("{}\r\n", names.join(",")));
        }
    }

    #[test]
    fn timestamps_truncate_to_microseconds() {
        let ts = Utc
            .with_ymd_and_hms(2026, 11, 26, 14, 30, 0)
            .single()
            .map(|t| t + chrono::Duration::nanoseconds(123_456_999))
            .unwrap_or_default();
        assert_eq!(timestamp_text(ts), "2026-11-26T14:30:00.123456Z");
    }

    #[test]
    fn rows_have_one_cell_per_column() {
        let records: Vec<_> = sample()
            .into_iter()
            .filter(|r| r.kind() == RecordKind::Trade)
            .collect();
        let records: Vec<&Record> = records.iter().collect();
        let bytes = encode(RecordKind::Trade, &records).unwrap_or_else(|e| panic!("{e}"));
        let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<_> = reader.records().map(|r| r.unwrap_or_default()).collect();
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(row.len(), columns(RecordKind::Trade).len());
        }
        assert_eq!(&rows[0][6], "189.1234");
        assert_eq!(&rows[0][9], "@|I");
    }

    #[test]
    fn refuses_a_condition_holding_the_separator() {
        let ts = Utc
            .with_ymd_and_hms(2026, 11, 26, 14, 30, 0)
            .single()
            .unwrap_or_default();
        let trade = Trade::new(
            Provider::Synthetic,
            Symbol::new("AAPL").unwrap_or_else(|e| panic!("{e}")),
            ts,
            ts,
            Price::from_scaled(1).unwrap_or_else(|e| panic!("{e}")),
            Quantity::from_scaled(1).unwrap_or_else(|e| panic!("{e}")),
        )
        .with_conditions(vec!["a|b".into()]);
        let err = encode(RecordKind::Trade, &[&trade.into()]).err();
        assert!(
            matches!(
                err,
                Some(EncodeError::Unrepresentable {
                    column: "conditions",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
