//! The sink's file encoders, read back by independent readers: pyarrow and DuckDB from the
//! project's Python venv (see `support/python.rs`).
//!
//! The expected schema and values below are written out by hand from the record fields, not
//! taken from `columns()`, so a wrong column list fails here too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use stockfeed_record::{
    Bar, BarInterval, Ohlc, Price, Provider, Quantity, Quote, Record, RecordKind, Symbol, Trade,
};
use stockfeed_sink::format::{
    EncodeError, Encoded, Format, FormatOptions, ParquetCompression, encode,
};
use support::python::run_python;

// ---------------------------------------------------------------------------------------------
// Records

fn ts(nanos: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 14, 30, 0).unwrap() + chrono::Duration::nanoseconds(nanos)
}

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

fn q(text: &str) -> Quantity {
    text.parse().unwrap()
}

fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

/// Trades over three symbols, in no particular order, with sub-penny prices, the extremes of
/// DECIMAL(18, 8), nanosecond timestamps and two trades at the same instant.
fn trades() -> Vec<Record> {
    let t = |symbol: &str, nanos: i64, price: &str, size: &str| {
        Trade::new(
            Provider::Finnhub,
            sym(symbol),
            ts(nanos),
            ts(nanos + 15_000_000),
            p(price),
            q(size),
        )
    };
    vec![
        t("MSFT", 5_000_000_001, "412.5", "3").into(),
        t("AAPL", 123_456_789, "189.1234", "100")
            .with_exchange("V")
            .with_conditions(vec!["@".into(), "I".into()])
            .with_trade_id("t-1")
            .into(),
        t("BRK.B", 999, "9999999999.99999999", "0.00000001").into(),
        t("AAPL", 123_456_789, "189.1235", "0.5")
            .with_exchange("Q")
            .into(),
        t("AAPL", 1_000, "0.00000001", "9999999999.99999999")
            .with_conditions(vec!["F".into()])
            .into(),
        t("AAPL", -1_500, "189.13", "1").into(),
    ]
}

fn quotes() -> Vec<Record> {
    let quote = |symbol: &str, nanos: i64, bid: &str, ask: &str| {
        Quote::new(
            Provider::Alpaca,
            sym(symbol),
            ts(nanos),
            ts(nanos + 1),
            p(bid),
            q("2.5"),
            p(ask),
            q("300"),
        )
    };
    vec![
        quote("NVDA", 42, "131.0001", "131.0002").into(),
        quote("AAPL", 7_000_000_123, "189.12", "189.1301")
            .with_exchanges(Some("V".into()), None)
            .into(),
        quote("AAPL", 7_000_000_122, "189.11", "189.13")
            .with_exchanges(Some("V".into()), Some("Q".into()))
            .into(),
    ]
}

fn bars() -> Vec<Record> {
    let bar = |symbol: &str, minute: i64, interval: &str, open: &str, close: &str| {
        let (open, close) = (p(open), p(close));
        let ohlc = Ohlc {
            open,
            high: open.max(close),
            low: open.min(close),
            close,
        };
        let interval: BarInterval = interval.parse().unwrap();
        Bar::new(
            Provider::Yahoo,
            sym(symbol),
            ts(minute * 60_000_000_000),
            ts(minute * 60_000_000_000 + 61_000_000_000),
            interval,
            ohlc,
            q("12345.678"),
        )
    };
    vec![
        bar("AAPL", 1, "1m", "189.1234", "189.2").into(),
        bar("AAPL", 0, "1m", "189", "189.1234")
            .with_stats(Some(p("189.05555555")), Some(1 << 62))
            .into(),
        bar("SPY", 0, "1h", "600.01", "599.99")
            .with_stats(None, Some(0))
            .into(),
    ]
}

fn records(kind: RecordKind) -> Vec<Record> {
    match kind {
        RecordKind::Trade => trades(),
        RecordKind::Quote => quotes(),
        RecordKind::Bar => bars(),
    }
}

/// The order a reader must see: symbol, then event time, then id.
fn sorted(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_by_key(|r| (r.symbol().as_str().to_owned(), r.event_ts(), r.id()));
    records
}

// ---------------------------------------------------------------------------------------------
// The schema and values a reader must see, written out independently of `columns()`

#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Int,
    BigInt,
    Str,
    Ts,
    Dec,
    List,
}

fn expected_columns(kind: RecordKind) -> Vec<(&'static str, Ty, bool)> {
    let mut cols = vec![
        ("schema_version", Ty::Int, false),
        ("id", Ty::Str, false),
        ("provider", Ty::Str, false),
        ("symbol", Ty::Str, false),
        ("event_ts", Ty::Ts, false),
        ("ingest_ts", Ty::Ts, false),
    ];
    cols.extend(match kind {
        RecordKind::Trade => vec![
            ("price", Ty::Dec, false),
            ("size", Ty::Dec, false),
            ("exchange", Ty::Str, true),
            ("conditions", Ty::List, false),
            ("trade_id", Ty::Str, true),
        ],
        RecordKind::Quote => vec![
            ("bid_price", Ty::Dec, false),
            ("bid_size", Ty::Dec, false),
            ("ask_price", Ty::Dec, false),
            ("ask_size", Ty::Dec, false),
            ("bid_exchange", Ty::Str, true),
            ("ask_exchange", Ty::Str, true),
        ],
        RecordKind::Bar => vec![
            ("interval", Ty::Str, false),
            ("open", Ty::Dec, false),
            ("high", Ty::Dec, false),
            ("low", Ty::Dec, false),
            ("close", Ty::Dec, false),
            ("volume", Ty::Dec, false),
            ("vwap", Ty::Dec, true),
            ("trade_count", Ty::BigInt, true),
        ],
    });
    cols
}

fn pyarrow_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Int => "int32",
        Ty::BigInt => "int64",
        Ty::Str => "string",
        Ty::Ts => "timestamp[us, tz=UTC]",
        Ty::Dec => "decimal128(18, 8)",
        Ty::List => "list<element: string not null>",
    }
}

/// The unscaled value as DECIMAL(18, 8) text, e.g. `189.12340000`.
fn dec8(scaled: i64) -> String {
    format!("{}.{:08}", scaled / 100_000_000, scaled % 100_000_000)
}

/// Microseconds since the epoch, sub-microsecond digits dropped (floored).
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp().checked_mul(1_000_000).unwrap() + i64::from(t.timestamp_subsec_micros())
}

/// One row's values in column order, in the typed form: decimals as DECIMAL(18, 8) text,
/// timestamps as epoch microseconds, lists as JSON arrays, null as JSON null.
fn typed_row(record: &Record) -> Vec<Value> {
    let mut row = vec![
        json!(1),
        json!(record.id().to_string()),
        json!(record.provider().as_str()),
        json!(record.symbol().as_str()),
        json!(micros(record.event_ts())),
        json!(micros(record.ingest_ts())),
    ];
    let price = |v: Price| json!(dec8(v.to_scaled()));
    let qty = |v: Quantity| json!(dec8(v.to_scaled()));
    match record {
        Record::Trade(t) => row.extend([
            price(t.price),
            qty(t.size),
            json!(t.exchange),
            json!(t.conditions),
            json!(t.trade_id),
        ]),
        Record::Quote(r) => row.extend([
            price(r.bid_price),
            qty(r.bid_size),
            price(r.ask_price),
            qty(r.ask_size),
            json!(r.bid_exchange),
            json!(r.ask_exchange),
        ]),
        Record::Bar(b) => row.extend([
            json!(b.interval.to_string()),
            price(b.open),
            price(b.high),
            price(b.low),
            price(b.close),
            qty(b.volume),
            json!(b.vwap.map(|v| dec8(v.to_scaled()))),
            json!(b.trade_count),
        ]),
    }
    row
}

// ---------------------------------------------------------------------------------------------
// Encoding to files

fn options() -> FormatOptions {
    FormatOptions::default()
}

fn encode_to(
    dir: &Path,
    format: Format,
    options: &FormatOptions,
    kind: RecordKind,
) -> (PathBuf, Encoded) {
    let batch = records(kind);
    let out = encode(format, options, kind, &batch).unwrap();
    assert_eq!(out.rows, batch.len());
    let path = dir.join(format!("{kind}.{}", out.extension));
    std::fs::write(&path, &out.bytes).unwrap();
    (path, out)
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------------------------------
// pyarrow

const PYARROW_READ: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq

path = sys.argv[1]
pf = pq.ParquetFile(path)
table = pf.read()
meta = pf.metadata
cols = []
for i, field in enumerate(table.schema):
    pcol = pf.schema.column(i) if not pa.types.is_list(field.type) else None
    cols.append({
        "name": field.name,
        "type": str(field.type),
        "nullable": field.nullable,
        "physical": pcol.physical_type if pcol else None,
        "logical": str(pcol.logical_type) if pcol else None,
    })
plain = []
for field, column in zip(table.schema, table.columns):
    if pa.types.is_timestamp(field.type):
        column = column.cast(pa.int64())
    plain.append(column.to_pylist())
rows = [list(r) for r in zip(*plain)]
for row in rows:
    for i, v in enumerate(row):
        if hasattr(v, "as_tuple"):  # Decimal, as fixed-point text ("0.00000001", not "1E-8")
            row[i] = format(v, "f")
print(json.dumps({
    "columns": cols,
    "num_rows": meta.num_rows,
    "row_groups": [meta.row_group(i).num_rows for i in range(meta.num_row_groups)],
    "codecs": sorted({meta.row_group(g).column(c).compression
                      for g in range(meta.num_row_groups)
                      for c in range(meta.num_columns)}),
    "kv": {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()
           if not k.startswith(b"ARROW:")},
    "rows": rows,
}))
"#;

fn pyarrow_read(path: &Path) -> Value {
    parse_json(&run_python(PYARROW_READ, &[path.to_str().unwrap()]))
}

#[test]
fn parquet_read_by_pyarrow_has_athena_types_and_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    for kind in RecordKind::ALL {
        let (path, out) = encode_to(dir.path(), Format::Parquet, &options(), kind);
        assert_eq!(out.extension, "parquet");
        assert_eq!(out.content_type, "application/vnd.apache.parquet");
        let got = pyarrow_read(&path);

        let expected = expected_columns(kind);
        let cols = got["columns"].as_array().unwrap();
        let names: Vec<_> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
        let want: Vec<_> = expected.iter().map(|c| c.0).collect();
        assert_eq!(names, want, "{kind}: column names and order");
        for (col, (name, ty, nullable)) in cols.iter().zip(&expected) {
            assert_eq!(col["type"], pyarrow_type(*ty), "{kind}.{name}: Arrow type");
            assert_eq!(col["nullable"], *nullable, "{kind}.{name}: nullability");
            match ty {
                Ty::Dec => {
                    assert_eq!(col["physical"], "INT64", "{kind}.{name}: physical type");
                    assert_eq!(
                        col["logical"], "Decimal(precision=18, scale=8)",
                        "{kind}.{name}"
                    );
                }
                Ty::Ts => {
                    assert_eq!(col["physical"], "INT64", "{kind}.{name}");
                    assert_eq!(
                        col["logical"],
                        "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, \
                         is_from_converted_type=false, force_set_converted_type=false)",
                        "{kind}.{name}"
                    );
                }
                Ty::Str => assert_eq!(col["logical"], "String", "{kind}.{name}"),
                _ => {}
            }
        }

        let want_rows: Vec<Value> = sorted(records(kind))
            .iter()
            .map(|r| Value::Array(typed_row(r)))
            .collect();
        assert_eq!(got["num_rows"], want_rows.len(), "{kind}: row count");
        assert_eq!(
            got["rows"],
            Value::Array(want_rows),
            "{kind}: rows in order"
        );
        assert_eq!(got["codecs"], json!(["ZSTD"]), "{kind}: compression");
        assert_eq!(got["row_groups"], json!([records(kind).len()]), "{kind}");
        assert_eq!(
            got["kv"],
            json!({"stockfeed.schema_version": "1", "stockfeed.kind": kind.as_str()}),
            "{kind}: file metadata"
        );
    }
}

#[test]
fn parquet_spot_values_are_exact() {
    // Independent of the helpers above: the literal values a user would query.
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = encode_to(dir.path(), Format::Parquet, &options(), RecordKind::Trade);
    let got = pyarrow_read(&path);
    let rows = got["rows"].as_array().unwrap();
    let aapl: Vec<(&str, i64)> = rows
        .iter()
        .filter(|r| r[3] == "AAPL")
        .map(|r| (r[6].as_str().unwrap(), r[4].as_i64().unwrap()))
        .collect();
    let base = 1_795_703_400_000_000_i64; // 2026-11-26T14:30:00Z in microseconds
    assert_eq!(aapl.len(), 4);
    assert_eq!(aapl[0], ("189.13000000", base - 2), "floored, not rounded");
    assert_eq!(aapl[1], ("0.00000001", base + 1));
    assert_eq!(aapl[2].1, base + 123_456, "nanoseconds truncated to micros");
    assert_eq!(aapl[3].1, base + 123_456);
    let mut same_instant = [aapl[2].0, aapl[3].0];
    same_instant.sort_unstable();
    assert_eq!(same_instant, ["189.12340000", "189.12350000"]);
    let brk = rows.iter().find(|r| r[3] == "BRK.B").unwrap();
    assert_eq!(brk[6], "9999999999.99999999");
    assert_eq!(brk[7], "0.00000001");
}

#[test]
fn parquet_row_groups_and_compression_follow_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let small_groups = FormatOptions {
        row_group_rows: 4,
        parquet_compression: ParquetCompression::Snappy,
        ..FormatOptions::default()
    };
    let (path, _) = encode_to(
        dir.path(),
        Format::Parquet,
        &small_groups,
        RecordKind::Trade,
    );
    let got = pyarrow_read(&path);
    assert_eq!(got["row_groups"], json!([4, 2]));
    assert_eq!(got["codecs"], json!(["SNAPPY"]));
    let want: Vec<Value> = sorted(trades())
        .iter()
        .map(|r| Value::Array(typed_row(r)))
        .collect();
    assert_eq!(got["rows"], Value::Array(want), "order across row groups");

    let none = FormatOptions {
        parquet_compression: ParquetCompression::None,
        ..FormatOptions::default()
    };
    let (path, _) = encode_to(dir.path(), Format::Parquet, &none, RecordKind::Quote);
    assert_eq!(pyarrow_read(&path)["codecs"], json!(["UNCOMPRESSED"]));
}

// ---------------------------------------------------------------------------------------------
// DuckDB

const DUCKDB_QUERY: &str = r#"
import decimal, json, sys
import duckdb

con = duckdb.connect(config={"autoinstall_known_extensions": False,
                             "autoload_known_extensions": False})
con.execute("SET autoinstall_known_extensions=false")
con.execute("SET autoload_known_extensions=false")
con.execute("SET threads=1")
rows = con.execute(sys.argv[1]).fetchall()
def plain(v):
    if isinstance(v, decimal.Decimal):
        raise SystemExit(f"decimal {v} reached Python: cast it to VARCHAR in SQL")
    return v
print(json.dumps([[plain(v) for v in row] for row in rows]))
"#;

fn duckdb(sql: &str) -> Value {
    parse_json(&run_python(DUCKDB_QUERY, &[sql]))
}

fn sql_path(path: &Path) -> String {
    format!("'{}'", path.to_str().unwrap().replace('\'', "''"))
}

/// A DuckDB select list turning each column into the typed form of [`typed_row`].
fn typed_select(kind: RecordKind) -> String {
    expected_columns(kind)
        .iter()
        .map(|(name, ty, _)| match ty {
            Ty::Dec => format!("CAST({name} AS VARCHAR)"),
            Ty::Ts => format!("epoch_us({name})"),
            _ => name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `columns=` argument of read_csv / read_json, typing each column as a reader of the Glue
/// table would.
fn duckdb_columns(kind: RecordKind, timestamps: &str, lists: &str) -> String {
    let body = expected_columns(kind)
        .iter()
        .map(|(name, ty, _)| {
            let ty = match ty {
                Ty::Int => "INTEGER",
                Ty::BigInt => "BIGINT",
                Ty::Str => "VARCHAR",
                Ty::Ts => timestamps,
                Ty::Dec => "DECIMAL(18, 8)",
                Ty::List => lists,
            };
            format!("'{name}': '{ty}'")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("{{{body}}}")
}

#[test]
fn parquet_read_by_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    for kind in RecordKind::ALL {
        let (path, _) = encode_to(dir.path(), Format::Parquet, &options(), kind);
        let got = duckdb(&format!(
            "SELECT {} FROM read_parquet({})",
            typed_select(kind),
            sql_path(&path)
        ));
        let want: Vec<Value> = sorted(records(kind))
            .iter()
            .map(|r| Value::Array(typed_row(r)))
            .collect();
        assert_eq!(got, Value::Array(want), "{kind}");
        let types = duckdb(&format!(
            "SELECT column_name, column_type FROM \
             (DESCRIBE SELECT * FROM read_parquet({}))",
            sql_path(&path)
        ));
        for (pair, (name, ty, _)) in types.as_array().unwrap().iter().zip(expected_columns(kind)) {
            let want = match ty {
                Ty::Int => "INTEGER",
                Ty::BigInt => "BIGINT",
                Ty::Str => "VARCHAR",
                Ty::Ts => "TIMESTAMP WITH TIME ZONE",
                Ty::Dec => "DECIMAL(18,8)",
                Ty::List => "VARCHAR[]",
            };
            assert_eq!(pair, &json!([name, want]), "{kind}");
        }
    }
}

#[test]
fn csv_read_by_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    for kind in RecordKind::ALL {
        let (path, out) = encode_to(dir.path(), Format::Csv, &options(), kind);
        assert_eq!((out.extension, out.content_type), ("csv", "text/csv"));
        let text = String::from_utf8(out.bytes).unwrap();
        let header: Vec<_> = expected_columns(kind).iter().map(|c| c.0).collect();
        assert!(
            text.starts_with(&format!("{}\r\n", header.join(","))),
            "{kind}: header row, CRLF: {text}"
        );
        assert!(text.ends_with("\r\n"));

        // Lists are `|`-joined text in CSV; split them back in SQL.
        let select =
            typed_select(kind).replace("conditions", "coalesce(string_split(conditions, '|'), [])");
        let got = duckdb(&format!(
            "SELECT {select} FROM read_csv({}, header = true, auto_detect = false, \
             delim = ',', quote = '\"', columns = {})",
            sql_path(&path),
            duckdb_columns(kind, "TIMESTAMPTZ", "VARCHAR")
        ));
        let want: Vec<Value> = sorted(records(kind))
            .iter()
            .map(|r| Value::Array(typed_row(r)))
            .collect();
        assert_eq!(got, Value::Array(want), "{kind}");
    }
}

#[test]
fn csv_cells_are_exact_text() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = encode_to(dir.path(), Format::Csv, &options(), RecordKind::Trade);
    let text = String::from_utf8(out.bytes).unwrap();
    let aapl = sorted(trades())
        .into_iter()
        .find(|r| matches!(r, Record::Trade(t) if t.trade_id.as_deref() == Some("t-1")))
        .unwrap();
    let want = format!(
        "1,{},finnhub,AAPL,2026-11-26T14:30:00.123456Z,2026-11-26T14:30:00.138456Z,189.1234,100,V,@|I,t-1\r\n",
        aapl.id()
    );
    assert!(text.contains(&want), "{want} not in:\n{text}");
}

#[test]
fn jsonl_plain_and_gzip_read_by_duckdb_are_the_wire_records() {
    let dir = tempfile::tempdir().unwrap();
    let gzip = FormatOptions {
        jsonl_gzip: true,
        ..FormatOptions::default()
    };
    for kind in RecordKind::ALL {
        for (options, extension, content_type) in [
            (options(), "jsonl", "application/jsonl"),
            (gzip.clone(), "jsonl.gz", "application/gzip"),
        ] {
            let (path, out) = encode_to(dir.path(), Format::Jsonl, &options, kind);
            assert_eq!((out.extension, out.content_type), (extension, content_type));
            // Timestamps are read as text: the wire form keeps nanoseconds, which DuckDB's
            // microsecond timestamps could not show.
            let got = duckdb(&format!(
                "SELECT {} FROM read_json({}, format = 'newline_delimited', columns = {})",
                typed_select(kind).replace("epoch_us(", "("),
                sql_path(&path),
                duckdb_columns(kind, "VARCHAR", "VARCHAR[]")
            ));
            let want: Vec<Value> = sorted(records(kind))
                .iter()
                .map(|r| {
                    let wire: Value = serde_json::from_slice(&r.to_json()).unwrap();
                    let mut row = typed_row(r);
                    row[4] = wire["event_ts"].clone();
                    row[5] = wire["ingest_ts"].clone();
                    if let Record::Trade(t) = r
                        && t.conditions.is_empty()
                    {
                        row[9] = Value::Null; // the wire form omits an empty list
                    }
                    Value::Array(row)
                })
                .collect();
            assert_eq!(got, Value::Array(want), "{kind} {extension}");
        }
    }
}

#[test]
fn jsonl_lines_are_exactly_the_wire_json() {
    let batch = trades();
    let out = encode(Format::Jsonl, &options(), RecordKind::Trade, &batch).unwrap();
    let want: Vec<u8> = sorted(trades())
        .iter()
        .flat_map(|r| {
            let mut line = r.to_json();
            line.push(b'\n');
            line
        })
        .collect();
    assert_eq!(
        String::from_utf8(out.bytes).unwrap(),
        String::from_utf8(want).unwrap()
    );
    // Nanoseconds survive on the wire form.
    assert!(
        String::from_utf8(sorted(trades())[0].to_json())
            .unwrap()
            .contains("\"event_ts\":\"2026-11-26T14:29:59.999998500Z\"")
    );
}

// ---------------------------------------------------------------------------------------------
// Determinism and refusals

/// Reorderings of a batch: reversed, rotated, and interleaved.
fn shuffles(records: &[Record]) -> Vec<Vec<Record>> {
    let mut reversed = records.to_vec();
    reversed.reverse();
    let mut rotated = records.to_vec();
    rotated.rotate_left(records.len() / 2);
    let (even, odd): (Vec<_>, Vec<_>) = records
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let interleaved = odd.into_iter().chain(even).map(|(_, r)| r).collect();
    vec![records.to_vec(), reversed, rotated, interleaved]
}

#[test]
fn same_records_in_any_order_give_identical_bytes() {
    let gzip = FormatOptions {
        jsonl_gzip: true,
        ..FormatOptions::default()
    };
    let small_groups = FormatOptions {
        row_group_rows: 2,
        ..FormatOptions::default()
    };
    for kind in RecordKind::ALL {
        for (format, options) in [
            (Format::Parquet, options()),
            (Format::Parquet, small_groups.clone()),
            (Format::Jsonl, options()),
            (Format::Jsonl, gzip.clone()),
            (Format::Csv, options()),
        ] {
            let outputs: Vec<Vec<u8>> = shuffles(&records(kind))
                .into_iter()
                .chain(shuffles(&records(kind)))
                .map(|batch| encode(format, &options, kind, &batch).unwrap().bytes)
                .collect();
            for (i, out) in outputs.iter().enumerate() {
                assert!(
                    out == &outputs[0],
                    "{kind} {format:?}: ordering {i} gave different bytes"
                );
            }
        }
    }
}

#[test]
fn mixed_kinds_are_refused() {
    for format in [Format::Parquet, Format::Jsonl, Format::Csv] {
        let mut batch = trades();
        batch.insert(3, quotes().remove(0));
        let before = batch.clone();
        let err = encode(format, &options(), RecordKind::Trade, &batch).unwrap_err();
        assert!(
            matches!(
                err,
                EncodeError::MixedKinds {
                    index: 3,
                    expected: RecordKind::Trade,
                    found: RecordKind::Quote
                }
            ),
            "{err}"
        );
        assert_eq!(batch, before, "a refused batch is left as it was");
        let bars = bars();
        assert!(encode(format, &options(), RecordKind::Quote, &bars).is_err());
    }
}

#[test]
fn encode_writes_rows_sorted_whatever_the_input_order() {
    let batch = quotes();
    assert_ne!(batch, sorted(quotes()), "the sample must start unsorted");
    for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
        let given = encode(format, &options(), RecordKind::Quote, &batch).unwrap();
        let presorted = encode(format, &options(), RecordKind::Quote, &sorted(quotes())).unwrap();
        assert_eq!(given.bytes, presorted.bytes, "{format:?}");
    }
    // The input itself is left as it was: the encoders read it through a sorted index.
    assert_eq!(batch, quotes());
}
