//! `stockfeed query --plot`: the real binary draws candlestick charts of a `file://` lake's
//! derived 1-minute bars (Parquet written by the sink's own encoder under `bar_1m/`), as PNG
//! and SVG, and refuses clearly what it cannot draw. No services are needed; the chart's text
//! needs a TrueType font (DejaVu Sans from `hack/install-deps.sh`, or `STOCKFEED_FONT`).
//!
//! The PNG is checked by decoding it here (chunks and their CRCs, zlib, the five row filters):
//! size, and that candles of both colours are drawn. The SVG is checked by counting its candle
//! and volume rectangles per colour.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use stockfeed_record::{
    Bar, BarInterval, Ohlc, Price, Provider, Quantity, Record, RecordKind, Symbol,
};
use stockfeed_sink::format::{Format, FormatOptions, encode};

/// Candle colours as the chart draws them (`query::plot`), in SVG spelling.
const UP: &str = "#26A65B";
const DOWN: &str = "#D62728";

const AAPL_BARS: usize = 45;
const MSFT_BARS: usize = 12;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 14, 40, 0).unwrap()
}

/// Whether bar `i` closes below its open (every third bar, so both colours appear).
fn is_down(i: usize) -> bool {
    i % 3 == 2
}

/// `n` 1-minute bars of `symbol` from 14:40 UTC: a drifting price, every third bar down, the
/// volume varying.
fn bars(symbol: &str, n: usize, base: i64) -> Vec<Record> {
    let mut price = base * 100_000_000;
    (0..n)
        .map(|i| {
            let open = price;
            let step = 7_000_000 + (i as i64 % 5) * 3_000_000;
            let close = if is_down(i) { open - step } else { open + step };
            price = close;
            let ohlc = Ohlc {
                open: Price::from_scaled(open).unwrap(),
                high: Price::from_scaled(open.max(close) + 4_000_000).unwrap(),
                low: Price::from_scaled(open.min(close) - 5_000_000).unwrap(),
                close: Price::from_scaled(close).unwrap(),
            };
            let t = start() + Duration::minutes(i as i64);
            Bar::new(
                Provider::Synthetic,
                Symbol::new(symbol).unwrap(),
                t,
                t + Duration::seconds(61),
                "1m".parse::<BarInterval>().unwrap(),
                ohlc,
                Quantity::from_scaled((1_000 + (i as i64 * 37) % 400) * 100_000_000).unwrap(),
            )
            .with_stats(Some(ohlc.close), Some(20 + i as u64))
            .into()
        })
        .collect()
}

/// A lake with the derived bars of AAPL and MSFT, one Parquet file per `hour` folder, as the
/// sink names them.
fn lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut all = bars("AAPL", AAPL_BARS, 190);
    all.extend(bars("MSFT", MSFT_BARS, 410));
    for hour in [14, 15] {
        let records: Vec<Record> = all
            .iter()
            .filter(|r| r.event_ts().hour() == hour)
            .cloned()
            .collect();
        let folder = dir.path().join(format!("bar_1m/dt=2026-11-26/hour={hour}"));
        std::fs::create_dir_all(&folder).unwrap();
        let encoded = encode(
            Format::Parquet,
            &FormatOptions::default(),
            RecordKind::Bar,
            &records,
        )
        .unwrap();
        std::fs::write(
            folder.join(format!("stocks+0+{:020}.parquet", hour * 1000)),
            encoded.bytes,
        )
        .unwrap();
    }
    dir
}

fn lake_url(dir: &Path) -> String {
    format!("file://{}/", dir.display())
}

/// Runs `stockfeed query --lake URL ARGS...`.
fn query(lake: &Path, args: &[&str]) -> Output {
    query_env(lake, args, None)
}

fn query_env(lake: &Path, args: &[&str], font: Option<&str>) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stockfeed"));
    command
        .arg("query")
        .arg("--lake")
        .arg(lake_url(lake))
        .args(args);
    match font {
        Some(font) => command.env("STOCKFEED_FONT", font),
        None => command.env_remove("STOCKFEED_FONT"),
    };
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 0, and standard output as text.
fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Exit code 2 with one `error: ...` line on standard error, which is returned.
fn failed(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

/// The names in `dir`.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// PNG decoding (PNG specification, 8-bit RGB or RGBA, no interlace)

struct Picture {
    width: usize,
    height: usize,
    /// RGB triples, rows top to bottom.
    pixels: Vec<[u8; 3]>,
}

fn decode_png(bytes: &[u8]) -> Picture {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let mut at = 8;
    let (mut width, mut height, mut channels) = (0, 0, 0);
    let mut idat = Vec::new();
    let mut ended = false;
    while at < bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + length];
        let stored =
            u32::from_be_bytes(bytes[at + 8 + length..at + 12 + length].try_into().unwrap());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        assert_eq!(crc.sum(), stored, "CRC of chunk {}", text(kind));
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
                assert_eq!(data[12], 0, "interlace");
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => ended = true,
            _ => {}
        }
        at += 12 + length;
    }
    assert!(ended, "no IEND chunk");
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(idat.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "decompressed size");
    let mut previous = vec![0_u8; stride];
    let mut pixels = Vec::with_capacity(width * height);
    for line in raw.chunks_exact(stride + 1) {
        let row = unfilter(line[0], &line[1..], &previous, channels);
        pixels.extend(row.chunks_exact(channels).map(|p| [p[0], p[1], p[2]]));
        previous = row;
    }
    Picture {
        width,
        height,
        pixels,
    }
}

fn unfilter(filter: u8, line: &[u8], up: &[u8], bpp: usize) -> Vec<u8> {
    let mut out = vec![0_u8; line.len()];
    for i in 0..line.len() {
        let a = if i >= bpp { out[i - bpp] } else { 0 };
        let b = up[i];
        let c = if i >= bpp { up[i - bpp] } else { 0 };
        let predicted = match filter {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
            4 => {
                let p = i16::from(a) + i16::from(b) - i16::from(c);
                let (pa, pb, pc) = (
                    (p - i16::from(a)).abs(),
                    (p - i16::from(b)).abs(),
                    (p - i16::from(c)).abs(),
                );
                if pa <= pb && pa <= pc {
                    a
                } else if pb <= pc {
                    b
                } else {
                    c
                }
            }
            other => panic!("filter type {other}"),
        };
        out[i] = line[i].wrapping_add(predicted);
    }
    out
}

fn greenish([r, g, b]: [u8; 3]) -> bool {
    g > 120 && i16::from(g) - i16::from(r) > 60 && i16::from(g) - i16::from(b) > 40
}

fn reddish([r, g, b]: [u8; 3]) -> bool {
    r > 150 && i16::from(r) - i16::from(g) > 90 && i16::from(r) - i16::from(b) > 90
}

// ---------------------------------------------------------------------------------------------
// Charts

#[test]
fn a_symbols_bars_become_a_png_candlestick_chart() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let png = out_dir.path().join("AAPL.png");
    let stdout = succeeded(&query(
        lake.path(),
        &["--plot", png.to_str().unwrap(), "--symbol", "AAPL"],
    ));
    assert_eq!(
        stdout,
        format!(
            "wrote {} ({AAPL_BARS} bars): AAPL 1-minute bars, 2026-11-26 14:40–15:25 UTC\n",
            png.display()
        )
    );
    // Only the picture: no temporary file left beside it.
    assert_eq!(listing(out_dir.path()), ["AAPL.png"]);

    let picture = decode_png(&std::fs::read(&png).unwrap());
    assert_eq!((picture.width, picture.height), (1200, 700));
    assert_eq!(picture.pixels.len(), 1200 * 700);
    let green = picture.pixels.iter().filter(|p| greenish(**p)).count();
    let red = picture.pixels.iter().filter(|p| reddish(**p)).count();
    // 30 up and 15 down candles, each several pixels wide and tall, plus their volume bars.
    assert!(green > 1_500, "{green} green pixels");
    assert!(red > 700, "{red} red pixels");
    let mut colours: Vec<[u8; 3]> = picture.pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    // White, grid grey, black text, two candle colours, two volume colours, anti-aliasing.
    assert!(colours.len() > 8, "{} colours", colours.len());
    // Mostly white background, not a blank or black picture.
    let white = picture
        .pixels
        .iter()
        .filter(|p| **p == [255, 255, 255])
        .count();
    assert!(white > picture.pixels.len() / 2, "{white} white pixels");
    assert!(
        white < picture.pixels.len() * 99 / 100,
        "{white} white pixels"
    );
}

#[test]
fn the_svg_has_the_title_and_one_candle_and_volume_bar_per_bar() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let svg = out_dir.path().join("aapl.svg");
    succeeded(&query(
        lake.path(),
        &["--plot", svg.to_str().unwrap(), "--symbol", "AAPL"],
    ));
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(doc.starts_with("<svg"), "{}", &doc[..100.min(doc.len())]);
    // plotters writes each text on a line of its own.
    let has_text = |t: &str| doc.lines().any(|l| l.trim() == t);
    assert!(
        has_text("AAPL 1-minute bars, 2026-11-26 14:40–15:25 UTC"),
        "title missing"
    );
    let rects = |opacity: &str, fill: &str| {
        doc.lines()
            .filter(|l| {
                l.contains("<rect")
                    && l.contains(&format!("opacity=\"{opacity}\""))
                    && l.contains(&format!("fill=\"{fill}\""))
            })
            .count()
    };
    let downs = (0..AAPL_BARS).filter(|i| is_down(*i)).count();
    assert_eq!(rects("1", UP), AAPL_BARS - downs, "up candles");
    assert_eq!(rects("1", DOWN), downs, "down candles");
    assert_eq!(rects("0.5", UP), AAPL_BARS - downs, "up volume bars");
    assert_eq!(rects("0.5", DOWN), downs, "down volume bars");
    // Axis labels: HH:MM times and both panels' descriptions.
    for label in ["14:50", "15:10", "time (UTC)", "price", "volume"] {
        assert!(has_text(label), "{label} missing");
    }
}

#[test]
fn since_and_until_narrow_the_bars() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let svg = out_dir.path().join("window.svg");
    let stdout = succeeded(&query(
        lake.path(),
        &[
            "--plot",
            svg.to_str().unwrap(),
            "--symbol",
            "AAPL",
            "--since",
            "2026-11-26T15:00",
            "--until",
            "2026-11-26T15:10:00Z",
        ],
    ));
    assert!(
        stdout.ends_with("(10 bars): AAPL 1-minute bars, 2026-11-26 15:00–15:10 UTC\n"),
        "{stdout}"
    );
}

#[test]
fn a_query_result_is_plotted_with_its_own_symbol() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let svg = out_dir.path().join("msft.svg");
    let stdout = succeeded(&query(
        lake.path(),
        &[
            "--plot",
            svg.to_str().unwrap(),
            "SELECT symbol, event_ts AS minute, open, high, low, close, volume \
             FROM bars_1m WHERE symbol = 'MSFT'",
        ],
    ));
    assert!(
        stdout.ends_with(&format!(
            "({MSFT_BARS} bars): MSFT 1-minute bars, 2026-11-26 14:40–14:52 UTC\n"
        )),
        "{stdout}"
    );
    let doc = std::fs::read_to_string(&svg).unwrap();
    assert!(
        doc.lines()
            .any(|l| l.trim() == "MSFT 1-minute bars, 2026-11-26 14:40–14:52 UTC"),
        "title missing"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn an_unknown_picture_format_is_refused_before_the_query() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let jpg = out_dir.path().join("chart.jpg");
    let line = failed(&query(
        lake.path(),
        &["--plot", jpg.to_str().unwrap(), "--symbol", "AAPL"],
    ));
    assert!(
        line.contains("unknown picture format; name a .png or .svg file"),
        "{line}"
    );
    assert!(listing(out_dir.path()).is_empty());
}

#[test]
fn a_symbol_without_bars_is_an_error_and_no_file() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let png = out_dir.path().join("TSLA.png");
    let line = failed(&query(
        lake.path(),
        &["--plot", png.to_str().unwrap(), "--symbol", "TSLA"],
    ));
    assert_eq!(
        line,
        format!(
            "error: no 1-minute bars for TSLA in {}: is sink.derivedBars.enabled set?",
            lake_url(lake.path())
        )
    );
    assert!(listing(out_dir.path()).is_empty());

    // A lake without a bar_1m folder at all: the same answer.
    let empty = tempfile::tempdir().unwrap();
    let line = failed(&query(
        empty.path(),
        &["--plot", png.to_str().unwrap(), "--symbol", "AAPL"],
    ));
    assert!(line.contains("no 1-minute bars for AAPL in"), "{line}");
    assert!(listing(out_dir.path()).is_empty());
}

#[test]
fn results_that_are_not_bars_are_refused_with_what_is_missing() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let png = out_dir.path().join("x.png");
    let png = png.to_str().unwrap();
    let line = failed(&query(
        lake.path(),
        &[
            "--plot",
            png,
            "SELECT symbol, event_ts, open, close FROM bars_1m",
        ],
    ));
    assert_eq!(
        line,
        "error: cannot plot the result: it lacks `high`, `low`, `volume`; it has symbol, \
         event_ts, open, close"
    );
    let line = failed(&query(
        lake.path(),
        &[
            "--plot",
            png,
            "SELECT dt, open, high, low, close, volume FROM bars_1m",
        ],
    ));
    assert!(
        line.contains("lacks a time column (event_ts, minute, bar_start, start, ts, a timestamp)"),
        "{line}"
    );
    let line = failed(&query(
        lake.path(),
        &[
            "--plot",
            png,
            "SELECT symbol, event_ts, open, high, low, close, volume FROM bars_1m",
        ],
    ));
    assert!(
        line.contains("holds bars of 2 symbols (AAPL, MSFT)")
            || line.contains("holds bars of 2 symbols (MSFT, AAPL)"),
        "{line}"
    );
    let line = failed(&query(
        lake.path(),
        &[
            "--plot",
            png,
            "SELECT event_ts, open, high, low, close, volume FROM bars_1m WHERE symbol = 'NONE'",
        ],
    ));
    assert!(
        line.contains("the query returned no rows to plot"),
        "{line}"
    );
    assert!(listing(out_dir.path()).is_empty());
}

#[test]
fn arguments_and_fonts_are_checked() {
    let lake = lake();
    let out_dir = tempfile::tempdir().unwrap();
    let png: PathBuf = out_dir.path().join("x.png");
    let png = png.to_str().unwrap();

    let line = failed(&query(lake.path(), &["--plot", png]));
    assert!(line.contains("give --symbol SYMBOL"), "{line}");

    // A symbol that is not one cannot reach the SQL text.
    let out = query(lake.path(), &["--plot", png, "--symbol", "A'; DROP"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("does not match"),
        "{}",
        text(&out.stderr)
    );

    let line = failed(&query_env(
        lake.path(),
        &["--plot", png, "--symbol", "AAPL"],
        Some("/nonexistent/font.ttf"),
    ));
    assert_eq!(
        line,
        "error: font /nonexistent/font.ttf: no such file (from STOCKFEED_FONT)"
    );
    // A file that is not a font.
    let not_font = out_dir.path().join("font.ttf");
    std::fs::write(&not_font, b"not a font").unwrap();
    let line = failed(&query_env(
        lake.path(),
        &["--plot", png, "--symbol", "AAPL"],
        not_font.to_str(),
    ));
    assert!(line.contains("not a TrueType or OpenType font"), "{line}");
    assert_eq!(listing(out_dir.path()), ["font.ttf"]);
}
