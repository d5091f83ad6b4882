//! The example SQL of `examples/sql/` over at least 50 million trades in Parquet, run by
//! `stockfeed query`'s engine (DataFusion, in process) and by DuckDB (the Python package of the
//! test venv) over the same files, side by side in one run. Prints per query the median of
//! BENCH_RUNS runs (min and max too) and the ratio of the two medians.
//!
//! Run with `make bench-query`. The lake is generated once (synthetic trades of 100 symbols over
//! 2026-11-25 and 2026-11-26, one Parquet file per hour as the sink lays them out, zstd) and
//! cached under ~/.cache/stockfeed/bench/; BENCH_TRADES (default 50,000,000) sets its size.
//! Both engines get the machine's cores, and each query runs once untimed first so both read
//! from a warm page cache.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark reports failure by panicking

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, Timelike, Utc};
use stockfeed_producer::source::synthetic::{Generator, SyntheticConfig};
use stockfeed_query::{Lake, LakeSource};
use stockfeed_record::{Record, RecordKind, Symbol};
use stockfeed_sink::format::{self, Format, FormatOptions};

const QUERIES: [&str; 4] = ["ohlcv_1m", "vwap", "top_movers", "gaps"];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes the lake unless a complete one of this size is cached.
fn ensure_lake(dir: &Path, trades: u64) {
    let done = dir.join("_complete");
    if done.exists() {
        println!("lake: cached at {}", dir.display());
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    let started = Instant::now();
    let symbols: Vec<Symbol> = (0..100)
        .map(|i| Symbol::new(&format!("S{i:03}")).unwrap())
        .collect();
    let start: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
    let config = SyntheticConfig {
        seed: 7,
        kinds: vec![RecordKind::Trade],
        // Two days of event time.
        mean_gap: Some(std::time::Duration::from_secs_f64(
            2.0 * 86_400.0 / trades as f64,
        )),
        ..SyntheticConfig::default()
    };
    let mut generator = Generator::new(&config, &symbols, start);
    let ingest: DateTime<Utc> = "2026-11-27T01:00:00Z".parse().unwrap();

    // Generation on this thread, sorting and encoding on another: one file per hour.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(String, Vec<Record>)>(1);
    let writer = {
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let mut bytes = 0u64;
            for (partition_dir, records) in rx {
                let encoded = format::encode(
                    Format::Parquet,
                    &FormatOptions::default(),
                    RecordKind::Trade,
                    &records,
                )
                .unwrap();
                let path = dir.join(&partition_dir).join("bench+0+0.parquet");
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &encoded.bytes).unwrap();
                bytes += encoded.bytes.len() as u64;
            }
            bytes
        })
    };
    let mut batch: Vec<Record> = Vec::new();
    let mut current: Option<String> = None;
    for _ in 0..trades {
        let record = generator.next_record(ingest);
        let ts = record.event_ts();
        let dir = format!("trade/dt={}/hour={:02}/", ts.format("%Y-%m-%d"), ts.hour());
        if current.as_deref() != Some(dir.as_str())
            && let Some(done_dir) = current.replace(dir)
        {
            tx.send((done_dir, std::mem::take(&mut batch))).unwrap();
        }
        batch.push(record);
    }
    if let Some(dir) = current {
        tx.send((dir, batch)).unwrap();
    }
    drop(tx);
    let bytes = writer.join().unwrap();
    std::fs::write(&done, trades.to_string()).unwrap();
    println!(
        "lake: {trades} trades, {:.0} MB of Parquet written in {:.0} s to {}",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        dir.display()
    );
}

/// The example text this engine runs: `vwap.sql` has a DataFusion body and its Trino text in
/// `-- athena:` lines, which DuckDB accepts too. DuckDB keeps `decimal(18,8) * decimal(18,8)`
/// at 18 digits and overflows on `price * size`, so for it the operands are widened first.
fn example(name: &str, duckdb: bool) -> String {
    let text = std::fs::read_to_string(repo().join(format!("examples/sql/{name}.sql"))).unwrap();
    let athena: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("-- athena: "))
        .collect();
    match (duckdb, athena.is_empty()) {
        (false, _) => text,
        (true, true) => widen(&text),
        (true, false) => widen(&athena.join("\n")),
    }
}

fn widen(sql: &str) -> String {
    sql.replace(
        "price * size",
        "CAST(price AS DECIMAL(38, 8)) * CAST(size AS DECIMAL(38, 8))",
    )
}

struct Timing {
    rows: usize,
    secs: Vec<f64>,
}

impl Timing {
    fn median(&self) -> f64 {
        let mut s = self.secs.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    }
    fn min(&self) -> f64 {
        self.secs.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.secs.iter().copied().fold(0.0, f64::max)
    }
}

async fn run_datafusion(lake_dir: &Path, sql: &str, runs: usize) -> Timing {
    let url = format!("file://{}/", lake_dir.display());
    let lake = Lake::open(LakeSource::new(url, Format::Parquet))
        .await
        .unwrap();
    let mut secs = Vec::new();
    let mut rows = 0;
    for i in 0..=runs {
        let started = Instant::now();
        let (_, batches) = lake.collect(sql).await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        rows = batches.iter().map(|b| b.num_rows()).sum();
        if i > 0 {
            secs.push(elapsed);
        }
    }
    Timing { rows, secs }
}

const DUCKDB: &str = r#"
import json, sys, time
import duckdb
lake, runs = sys.argv[1], int(sys.argv[2])
queries = json.loads(sys.stdin.read())
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.sql("SET enable_progress_bar = false")  # it draws on stdout, which carries the JSON
# Partition values as strings, as Glue and `stockfeed query` have them.
con.sql(f"CREATE VIEW trades AS SELECT * FROM read_parquet('{lake}/trade/*/*/*.parquet', hive_partitioning=true, hive_types_autocast=false)")
out = {}
for name, sql in queries.items():
    secs = []
    for i in range(runs + 1):
        t = time.perf_counter()
        rows = con.sql(sql).to_arrow_table().num_rows  # Arrow, as DataFusion collects
        if i > 0:
            secs.append(time.perf_counter() - t)
    out[name] = {"rows": rows, "secs": secs, "threads": con.sql("SELECT current_setting('threads')").fetchall()[0][0]}
print(json.dumps(out))
"#;

fn venv_python() -> PathBuf {
    if let Some(p) = std::env::var_os("STOCKFEED_PYTHON") {
        return PathBuf::from(p);
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg("source hack/lib.sh && python_venv")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "python_venv failed");
    let venv = String::from_utf8_lossy(&out.stdout);
    Path::new(venv.lines().last().unwrap().trim()).join("bin/python")
}

fn run_duckdb(lake_dir: &Path, runs: usize) -> serde_json::Value {
    let queries: serde_json::Map<String, serde_json::Value> = QUERIES
        .iter()
        .map(|q| ((*q).to_owned(), example(q, true).into()))
        .collect();
    let mut child = Command::new(venv_python())
        .arg("-c")
        .arg(DUCKDB)
        .arg(lake_dir)
        .arg(runs.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::Value::Object(queries).to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "DuckDB run failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("DuckDB printed {stdout:?}: {e}"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let trades: u64 = env_or("BENCH_TRADES", 50_000_000);
    let runs: usize = env_or("BENCH_RUNS", 3);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let dir = PathBuf::from(format!("{home}/.cache/stockfeed/bench/lake-{trades}"));
    ensure_lake(&dir, trades);

    let duck = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run_duckdb(&dir, runs)
    })
    .await
    .unwrap();
    let mut results = Vec::new();
    for q in QUERIES {
        results.push((q, run_datafusion(&dir, &example(q, false), runs).await));
    }

    println!(
        "\nexample SQL over {trades} trades (Parquet, {} cores), median of {runs} runs [min..max]",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<11} {:>7} {:>24} {:>24} {:>16}",
        "query", "rows", "stockfeed query (s)", "duckdb (s)", "duckdb/stockfeed"
    );
    let mut machine = serde_json::Map::new();
    for (q, df) in &results {
        let d = &duck[q];
        let d = Timing {
            rows: d["rows"].as_u64().unwrap() as usize,
            secs: d["secs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
        };
        assert_eq!(
            df.rows, d.rows,
            "{q}: the engines disagree on the row count"
        );
        println!(
            "{:<11} {:>7} {:>8.2} [{:.2}..{:.2}] {:>8.2} [{:.2}..{:.2}] {:>15.2}x",
            q,
            df.rows,
            df.median(),
            df.min(),
            df.max(),
            d.median(),
            d.min(),
            d.max(),
            d.median() / df.median()
        );
        machine.insert(
            (*q).to_owned(),
            serde_json::json!({
                "rows": df.rows,
                "ours_s": [df.median(), df.min(), df.max()],
                "duckdb_s": [d.median(), d.min(), d.max()],
                "ratio": d.median() / df.median(),
            }),
        );
    }
    println!("(ratio > 1: stockfeed query is faster; < 1: DuckDB is faster)");
    // One machine-readable line for `make bench` (hack/bench.sh collects it): per query the
    // median, min and max seconds of the timed runs and DuckDB's median / ours.
    println!(
        "BENCH-RESULT {}",
        serde_json::json!({"bench": "query", "trades": trades, "runs": runs, "queries": machine})
    );
}
