//! The short mode of `make demo`, asserted: examples/demo-feed.yaml run by `stockfeed run` for a
//! few seconds against the real broker (own topics, own lake), then `stockfeed query` with the
//! example SQL; results are checked against independent counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::process::Command;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn stockfeed(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn query_csv(feed: &str, sql: &str) -> Vec<HashMap<String, String>> {
    let (ok, out, err) = stockfeed(&["query", "-f", feed, "--format", "csv", "--", sql]);
    assert!(ok, "query failed: {err}\n{sql}");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .map(str::to_owned)
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// Daily bars of the bundled file for these tickers since 2012-01-01, counted independently.
fn expected_history_rows(tickers: &[&str]) -> usize {
    let raw = std::fs::read(format!("{REPO}/worker/data/stocks-daily.csv.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .skip(1)
        .filter(|l| {
            let mut f = l.split(',');
            let (t, d) = (f.next().unwrap(), f.next().unwrap());
            tickers.contains(&t) && d >= "2012-01-01"
        })
        .count()
}

#[test]
fn demo_feed_runs_and_its_sql_agrees_with_independent_counts() {
    let kafka = support::require_kafka();
    let dir = tempfile::tempdir().unwrap();
    let run = support::unique_name("demo");
    let manifest = std::fs::read_to_string(format!("{REPO}/examples/demo-feed.yaml"))
        .unwrap()
        .replace("127.0.0.1:19092", &kafka)
        .replace("demo.history", &format!("{run}.history"))
        .replace("demo.ticks", &format!("{run}.ticks"))
        .replace(
            "/tmp/stockfeed-demo/lake",
            &dir.path().join("lake").display().to_string(),
        )
        .replace("../worker/data/", &format!("{REPO}/worker/data/"));
    let feed = dir.path().join("feed.yaml");
    std::fs::write(&feed, manifest).unwrap();
    let feed = feed.to_str().unwrap();

    let (ok, _, err) = stockfeed(&["run", "-f", feed, "--duration", "6s", "--quiet"]);
    assert!(ok, "stockfeed run failed:\n{err}");
    assert!(err.contains("demo-ticks: produced"), "{err}");

    // The replayed history arrives whole: every bar of the window, once.
    let tickers = ["AAPL", "MSFT", "IBM", "GOOG"];
    let history = query_csv(
        feed,
        "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM history_bars",
    );
    let expected = expected_history_rows(&tickers);
    assert!(expected > 1000, "{expected}");
    assert_eq!(history[0]["n"], expected.to_string());
    assert_eq!(history[0]["ids"], expected.to_string());

    // The synthetic ticks (the last hour of event time): the example bars add up to the raw
    // trades.
    let since = (chrono::Utc::now() - chrono::Duration::hours(2))
        .format("%Y-%m-%d")
        .to_string();
    let example = |name: &str| {
        std::fs::read_to_string(format!("{REPO}/examples/sql/{name}.sql"))
            .unwrap()
            .replace("dt = '2026-11-26'", &format!("dt >= '{since}'"))
    };
    let sql = example("ohlcv_1m");
    let bars = query_csv(feed, &sql);
    assert!(!bars.is_empty(), "no 1-minute bars");
    let totals = query_csv(
        feed,
        &format!(
            "SELECT symbol, sum(size) AS volume, count(*) AS trades FROM trades WHERE dt >= '{since}' GROUP BY symbol"
        ),
    );
    assert_eq!(totals.len(), tickers.len(), "{totals:?}");
    for t in &totals {
        let sym = &t["symbol"];
        let mine: Vec<_> = bars.iter().filter(|b| &b["symbol"] == sym).collect();
        let trades: u64 = mine
            .iter()
            .map(|b| b["trades"].parse::<u64>().unwrap())
            .sum();
        assert_eq!(trades.to_string(), t["trades"], "{sym}");
        let volume: f64 = mine
            .iter()
            .map(|b| b["volume"].parse::<f64>().unwrap())
            .sum();
        assert!(
            (volume - t["volume"].parse::<f64>().unwrap()).abs() < 1e-6,
            "{sym}"
        );
        for b in mine {
            let (low, high, vwap) = (
                b["low"].parse::<f64>().unwrap(),
                b["high"].parse::<f64>().unwrap(),
                b["vwap"].parse::<f64>().unwrap(),
            );
            assert!(low <= vwap && vwap <= high, "{b:?}");
        }
    }

    // The sink's derived bars (bars_1m) equal the bars computed from trades, minute by minute;
    // only the newest minutes, not yet closed by a later trade, are missing.
    let derived = query_csv(feed, &example("bars_1m"));
    let by_minute: HashMap<(String, String), &HashMap<String, String>> = bars
        .iter()
        .map(|b| ((b["symbol"].clone(), b["bar_start"].clone()), b))
        .collect();
    println!(
        "{} derived bars, {} bars from trades",
        derived.len(),
        bars.len()
    );
    assert!(
        derived.len() >= tickers.len() && derived.len() < bars.len(),
        "derived {} of {} minutes",
        derived.len(),
        bars.len()
    );
    for d in &derived {
        let key = (d["symbol"].clone(), d["bar_start"].clone());
        let b = by_minute
            .get(&key)
            .unwrap_or_else(|| panic!("derived bar {key:?} has no trades"));
        for column in ["open", "high", "low", "close", "volume", "vwap", "trades"] {
            let (x, y) = (
                d[column].parse::<f64>().unwrap(),
                b[column].parse::<f64>().unwrap(),
            );
            assert_eq!(x, y, "{key:?} {column}: derived {d:?} vs trades {b:?}");
        }
    }

    // The demo's chart of one ticker, from those bars.
    let chart = dir.path().join("AAPL.png");
    let (ok, out, err) = stockfeed(&[
        "query",
        "-f",
        feed,
        "--name",
        "demo-ticks",
        "--plot",
        chart.to_str().unwrap(),
        "--symbol",
        "AAPL",
    ]);
    assert!(ok, "plot failed: {err}");
    let png = std::fs::read(&chart).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let aapl = derived.iter().filter(|d| d["symbol"] == "AAPL").count();
    assert!(out.contains(&format!("({aapl} bars)")), "{out}");

    // `stockfeed query ... | head -n 2`: the reader leaving early is not an error.
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["query", "-f", feed, "SELECT * FROM trades"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "closed pipe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
