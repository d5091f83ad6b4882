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

    // The synthetic ticks: the example bars add up to the raw trades.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let sql = std::fs::read_to_string(format!("{REPO}/examples/sql/ohlcv_1m.sql"))
        .unwrap()
        .replace("dt = '2026-11-26'", &format!("dt = '{today}'"));
    let bars = query_csv(feed, &sql);
    assert!(!bars.is_empty(), "no 1-minute bars");
    let totals = query_csv(
        feed,
        &format!(
            "SELECT symbol, sum(size) AS volume, count(*) AS trades FROM trades WHERE dt = '{today}' GROUP BY symbol"
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
}
