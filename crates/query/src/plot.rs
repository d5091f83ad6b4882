//! Candlestick charts of query results (`stockfeed query --plot FILE.png|FILE.svg`): prices as
//! candles (green when the bar closed above its open, red otherwise) over the top three
//! quarters, volume as bars below on the same time axis, times in UTC.
//!
//! ## Why plotters, and how its text is drawn
//!
//! [plotters](https://docs.rs/plotters) is pure Rust, MIT-licensed, maintained, and has both a
//! bitmap and an SVG backend and a candlestick element, so one drawing routine serves both
//! formats, and it adds eight small crates to the build (about 7 s of compiling on the 2-core
//! dev machine). It is built with only what is used here (`worker/Cargo.toml`): no `ttf`
//! feature, which reaches for fontconfig and FreeType through font-kit; no `bitmap_encoder`,
//! which pulls in the `image` crate and its codecs; no `datetime`, which turns on chrono's
//! default features and so recompiles everything that depends on chrono. The time axis is
//! therefore in Unix seconds with labels placed here (`TimeAxis`). Charts are drawn into
//! memory (an RGB buffer or an SVG string); the bitmap becomes a PNG in `encode_png`, a
//! few lines over flate2 (the `png` crate would, through `fdeflate`, change the features of a
//! crate Parquet and DataFusion share, and recompile them).
//!
//! Text goes through plotters' `ab_glyph` feature, which draws from a TrueType font registered
//! at run time. No font is compiled into the binary (a font is a licence of its own and
//! DejaVu Sans is 740 KB): [`register_font`] takes `STOCKFEED_FONT` if set, otherwise the first of
//! [`FONT_CANDIDATES`] that exists (DejaVu Sans, which `hack/install-deps.sh` installs as
//! `fonts-dejavu-core`, then Liberation, Noto, and the fonts macOS and Windows ship).
//! SVG text is drawn by the viewer, but plotters still measures labels with the font to lay
//! the chart out, so both formats need one.
//!
//! ## Rows in, picture out
//!
//! [`Series::from_batches`] takes any result with a time column (the first of
//! [`TIME_COLUMNS`], a timestamp) and `open`, `high`, `low`, `close`, `volume` (numbers of
//! any kind, decimals included); prices are converted to `f64` here, for drawing only. Rows
//! with a null or non-finite value are left out. A `symbol` column, when present, must hold
//! one symbol. [`render`] draws, [`write_atomically`] writes through a temporary file in the
//! target's directory, so a failure never leaves a partial picture under the final name.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::LakeSource;
use stockfeed_record::Symbol;
use stockfeed_record::lake::layout::{Dataset, PartitionKey};
use stockfeed_record::lake::table_name;

/// Names a result's time column may have, in order of preference; each must be a timestamp.
pub const TIME_COLUMNS: [&str; 5] = ["event_ts", "minute", "bar_start", "start", "ts"];

/// The price and volume columns a result must have.
pub const VALUE_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// The environment variable naming a TrueType/OpenType font file for the chart's text.
pub const FONT_ENV: &str = "STOCKFEED_FONT";

/// Fonts tried, in order, when `STOCKFEED_FONT` is not set.
pub const FONT_CANDIDATES: [&str; 14] = [
    // Debian, Ubuntu (fonts-dejavu-core), Arch, Fedora, Alpine
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    // macOS, Windows
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "C:\\Windows\\Fonts\\arial.ttf",
    "C:\\Windows\\Fonts\\segoeui.ttf",
];

/// Picture size in pixels (the SVG's view box too).
pub const SIZE: (u32, u32) = (1200, 700);

const UP: RGBColor = RGBColor(38, 166, 91);
const DOWN: RGBColor = RGBColor(214, 39, 40);
const GRID: RGBColor = RGBColor(230, 230, 230);
const FONT: &str = "sans-serif";

/// Why a chart could not be made. `Display` is one line, fit for a terminal.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("--plot {}: unknown picture format; name a .png or .svg file", .0.display())]
    UnknownFormat(PathBuf),
    #[error(
        "cannot plot the result: it lacks {}; it has {}",
        missing.join(", "),
        list(found)
    )]
    MissingColumns {
        missing: Vec<String>,
        found: Vec<String>,
    },
    #[error("cannot plot the result: column `{column}` is {found}, not {expected}")]
    ColumnType {
        column: String,
        found: DataType,
        expected: &'static str,
    },
    #[error(
        "cannot plot the result: it holds bars of {} symbols ({}); plot one, e.g. with \
         WHERE symbol = '{}'", .0.len(), .0.join(", "), .0[0]
    )]
    ManySymbols(Vec<String>),
    #[error("column `{column}`: timestamp {micros} µs is out of range")]
    TimeOutOfRange { column: String, micros: i64 },
    #[error("no 1-minute bars for {symbol}{window} in {lake}: is sink.derivedBars.enabled set?")]
    NoBars {
        symbol: String,
        /// ` between ... and ...`, or empty.
        window: String,
        lake: String,
    },
    #[error(
        "the query returned no rows to plot (rows with a null time, price or volume do not count)"
    )]
    NoRows,
    #[error(
        "no font for the chart's text: set {FONT_ENV}=/path/to/font.ttf or install one \
         (Debian/Ubuntu: apt-get install fonts-dejavu-core); tried {}",
        .0.join(", ")
    )]
    NoFont(Vec<String>),
    #[error("font {}: {why}", path.display())]
    BadFont { path: PathBuf, why: String },
    #[error("reading the result: {0}")]
    Arrow(#[from] ArrowError),
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Png(#[from] std::io::Error),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "no columns".to_owned()
    } else {
        items.join(", ")
    }
}

fn draw_error(e: impl fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Format and font

/// The picture formats, chosen by the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    /// `.png` or `.svg`, in any case; anything else is refused.
    pub fn from_path(path: &Path) -> Result<Self, PlotError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(ChartFormat::Png),
            Some("svg") => Ok(ChartFormat::Svg),
            _ => Err(PlotError::UnknownFormat(path.to_owned())),
        }
    }
}

/// The font registered so far in this process (plotters keeps registered fonts for good).
static REGISTERED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Finds a font (see the module docs), registers it as plotters' `sans-serif` and returns its
/// path. Later calls return the first font registered.
pub fn register_font() -> Result<PathBuf, PlotError> {
    let mut registered = REGISTERED
        .lock()
        .map_err(|_| draw_error("the font registry is poisoned"))?;
    if let Some(path) = registered.as_ref() {
        return Ok(path.clone());
    }
    let path = find_font(std::env::var_os(FONT_ENV).map(PathBuf::from))?;
    let bytes = std::fs::read(&path).map_err(|e| PlotError::BadFont {
        path: path.clone(),
        why: e.to_string(),
    })?;
    // plotters keeps fonts as `&'static [u8]`; one font per process is leaked on purpose.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes).map_err(|_| {
        PlotError::BadFont {
            path: path.clone(),
            why: "not a TrueType or OpenType font".to_owned(),
        }
    })?;
    *registered = Some(path.clone());
    Ok(path)
}

/// The font to use: `explicit` (from `STOCKFEED_FONT`) if given, which must exist, otherwise
/// the first existing candidate.
fn find_font(explicit: Option<PathBuf>) -> Result<PathBuf, PlotError> {
    if let Some(path) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(PlotError::BadFont {
                path,
                why: format!("no such file (from {FONT_ENV})"),
            })
        };
    }
    FONT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| PlotError::NoFont(FONT_CANDIDATES.iter().map(|s| s.to_string()).collect()))
}

// ---------------------------------------------------------------------------------------------
// The query of one symbol's derived bars

/// An optional time window: `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl fmt::Display for Window {
    /// ` since X`, ` until Y`, ` between X and Y`, or nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        match (&self.since, &self.until) {
            (Some(s), Some(u)) => write!(f, " between {} and {}", t(s), t(u)),
            (Some(s), None) => write!(f, " since {}", t(s)),
            (None, Some(u)) => write!(f, " until {}", t(u)),
            (None, None) => Ok(()),
        }
    }
}

/// A `--since`/`--until` value: RFC 3339 (`2026-11-26T14:30:00Z`), or a date
/// (`2026-11-26`, midnight UTC), or a UTC date and time without zone (`2026-11-26T14:30`,
/// `2026-11-26 14:30:00`).
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "`{text}` is not a time: use 2026-11-26, 2026-11-26T14:30 (UTC) or RFC 3339"
    ))
}

/// The SQL reading one symbol's 1-minute bars from the lake's `bars_1m` table, in time order.
/// The symbol is a validated [`Symbol`] (letters, digits, `.`, `-`), so it cannot end the
/// string literal. `dt` (and `symbol_partition` where the lake has `symbol=` folders) narrow
/// the folders read.
pub fn bars_sql(source: &LakeSource, symbol: &Symbol, window: &Window) -> String {
    let table = format!(
        "{}.{}",
        source.database,
        table_name(&source.table_prefix, Dataset::Bars1m)
    );
    let mut conditions = vec![format!("symbol = '{symbol}'")];
    if source.partition_by.keys().contains(&PartitionKey::Symbol) {
        conditions.push(format!(
            "{} = '{symbol}'",
            stockfeed_record::lake::SYMBOL_PARTITION_KEY
        ));
    }
    if let Some(since) = window.since {
        conditions.push(format!("dt >= '{}'", since.format("%Y-%m-%d")));
        conditions.push(format!("event_ts >= {}", timestamp_literal(since)));
    }
    if let Some(until) = window.until {
        conditions.push(format!("dt <= '{}'", until.format("%Y-%m-%d")));
        conditions.push(format!("event_ts < {}", timestamp_literal(until)));
    }
    format!(
        "SELECT event_ts, open, high, low, close, volume FROM {table} WHERE {} ORDER BY event_ts",
        conditions.join(" AND ")
    )
}

fn timestamp_literal(t: DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

// ---------------------------------------------------------------------------------------------
// Rows to candles

/// One bar, as drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    /// Start of the bar (UTC).
    pub start: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// The bars of one symbol, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// From the result's `symbol` column, if it has one.
    pub symbol: Option<String>,
    pub candles: Vec<Candle>,
}

/// Where each needed column is in the result.
struct Columns {
    time: (usize, String),
    values: [usize; 5],
    symbol: Option<usize>,
}

fn locate(schema: &Schema) -> Result<Columns, PlotError> {
    let find = |name: &str| {
        schema
            .fields()
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(name))
    };
    let mut missing = Vec::new();
    let time = TIME_COLUMNS
        .iter()
        .find_map(|name| find(name).map(|i| (i, schema.field(i).name().clone())));
    if time.is_none() {
        missing.push(format!(
            "a time column ({}, a timestamp)",
            TIME_COLUMNS.join(", ")
        ));
    }
    let mut values = [0; 5];
    for (slot, name) in values.iter_mut().zip(VALUE_COLUMNS) {
        match find(name) {
            Some(i) => *slot = i,
            None => missing.push(format!("`{name}`")),
        }
    }
    let Some(time) = time.filter(|_| missing.is_empty()) else {
        return Err(PlotError::MissingColumns {
            missing,
            found: schema.fields().iter().map(|f| f.name().clone()).collect(),
        });
    };
    let time_type = schema.field(time.0).data_type();
    if !matches!(time_type, DataType::Timestamp(_, _)) {
        return Err(PlotError::ColumnType {
            column: time.1.clone(),
            found: time_type.clone(),
            expected: "a timestamp",
        });
    }
    for i in values {
        let field = schema.field(i);
        if !field.data_type().is_numeric() {
            return Err(PlotError::ColumnType {
                column: field.name().clone(),
                found: field.data_type().clone(),
                expected: "a number",
            });
        }
    }
    Ok(Columns {
        time,
        values,
        symbol: find("symbol"),
    })
}

impl Series {
    /// The candles of a query result (see the module docs for what it must hold).
    pub fn from_batches(schema: &Schema, batches: &[RecordBatch]) -> Result<Self, PlotError> {
        let columns = locate(schema)?;
        let mut candles = Vec::new();
        let mut symbols: Vec<String> = Vec::new();
        for batch in batches {
            batch_candles(batch, &columns, &mut candles)?;
            if let Some(i) = columns.symbol {
                batch_symbols(batch, i, &mut symbols)?;
            }
        }
        if symbols.len() > 1 {
            return Err(PlotError::ManySymbols(symbols));
        }
        candles.sort_by_key(|c| c.start);
        Ok(Series {
            symbol: symbols.pop(),
            candles,
        })
    }
}

fn batch_candles(
    batch: &RecordBatch,
    columns: &Columns,
    out: &mut Vec<Candle>,
) -> Result<(), PlotError> {
    let times = cast(
        batch.column(columns.time.0),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )?;
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let values = columns
        .values
        .iter()
        .map(|i| cast(batch.column(*i), &DataType::Float64))
        .collect::<Result<Vec<_>, _>>()?;
    let values: Vec<_> = values
        .iter()
        .map(|a| a.as_primitive::<Float64Type>())
        .collect();
    for row in 0..batch.num_rows() {
        if times.is_null(row)
            || values
                .iter()
                .any(|v| v.is_null(row) || !v.value(row).is_finite())
        {
            continue;
        }
        let micros = times.value(row);
        let start =
            DateTime::from_timestamp_micros(micros).ok_or_else(|| PlotError::TimeOutOfRange {
                column: columns.time.1.clone(),
                micros,
            })?;
        let v = |k: usize| values[k].value(row);
        out.push(Candle {
            start,
            open: v(0),
            high: v(1),
            low: v(2),
            close: v(3),
            volume: v(4),
        });
    }
    Ok(())
}

/// Adds the distinct symbols of column `index` to `out`.
fn batch_symbols(
    batch: &RecordBatch,
    index: usize,
    out: &mut Vec<String>,
) -> Result<(), PlotError> {
    let texts = cast(batch.column(index), &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    for row in 0..texts.len() {
        if texts.is_valid(row) {
            let symbol = texts.value(row);
            if !out.iter().any(|s| s == symbol) {
                out.push(symbol.to_owned());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Drawing

/// What a chart shows, worked out once for its title, axes and summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartInfo {
    /// The symbol in the title, if known.
    pub symbol: Option<String>,
    pub bars: usize,
    /// Spacing of the bars: the smallest gap between two starts (60 s for a single bar).
    pub bar_seconds: i64,
    /// Start of the first bar.
    pub first: DateTime<Utc>,
    /// End of the last bar.
    pub end: DateTime<Utc>,
}

impl ChartInfo {
    /// `None` for no candles.
    pub fn new(symbol: Option<String>, candles: &[Candle]) -> Option<Self> {
        let first = candles.first()?.start;
        let last = candles.last()?.start;
        let bar_seconds = candles
            .windows(2)
            .map(|w| (w[1].start - w[0].start).num_seconds())
            .filter(|s| *s > 0)
            .min()
            .unwrap_or(60);
        Some(ChartInfo {
            symbol,
            bars: candles.len(),
            bar_seconds,
            first,
            end: last + Duration::seconds(bar_seconds),
        })
    }

    /// `1-minute bars`, `5-minute bars`, `1-hour bars`...
    pub fn bar_kind(&self) -> String {
        let s = self.bar_seconds;
        let (n, unit) = match s {
            _ if s % 86_400 == 0 => (s / 86_400, "day"),
            _ if s % 3_600 == 0 => (s / 3_600, "hour"),
            _ if s % 60 == 0 => (s / 60, "minute"),
            _ => (s, "second"),
        };
        format!("{n}-{unit} bars")
    }

    /// `2026-11-26 14:30–16:30`, or with both dates when the bars span midnight.
    pub fn range(&self) -> String {
        let end_format = if self.first.date_naive() == self.end.date_naive() {
            "%H:%M"
        } else {
            "%Y-%m-%d %H:%M"
        };
        format!(
            "{}–{}",
            self.first.format("%Y-%m-%d %H:%M"),
            self.end.format(end_format)
        )
    }

    /// `AAPL 1-minute bars, 2026-11-26 14:30–16:30 UTC`.
    pub fn title(&self) -> String {
        let symbol = self
            .symbol
            .as_ref()
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        format!("{symbol}{}, {} UTC", self.bar_kind(), self.range())
    }
}

/// Draws the chart and returns the file's bytes.
pub fn render(
    info: &ChartInfo,
    candles: &[Candle],
    format: ChartFormat,
) -> Result<Vec<u8>, PlotError> {
    let (w, h) = SIZE;
    match format {
        ChartFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, info, candles)?;
                root.present().map_err(draw_error)?;
            }
            Ok(svg.into_bytes())
        }
        ChartFormat::Png => {
            let mut pixels = vec![0_u8; (w as usize) * (h as usize) * 3];
            {
                let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut pixels, SIZE)
                    .map_err(draw_error)?;
                let root = backend.into_drawing_area();
                draw(&root, info, candles)?;
                root.present().map_err(draw_error)?;
            }
            encode_png(&pixels, SIZE)
        }
    }
}

/// Title, then candles over the top 75 % and volume below, sharing the time axis.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    info: &ChartInfo,
    candles: &[Candle],
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_error)?;
    let body = root.titled(&info.title(), (FONT, 24)).map_err(draw_error)?;
    let (_, body_height) = body.dim_in_pixel();
    let (upper, lower) = body.split_vertically(body_height * 3 / 4);
    let axis = TimeAxis::new(info);
    draw_prices(&upper, info, candles, &axis)?;
    draw_volumes(&lower, info, candles, &axis)
}

/// Room for the y labels, the same in both panels so their time axes line up.
const Y_LABEL_AREA: u32 = 90;
/// Room for half of a `11-26 21:00` label at the right end of the time axis.
const RIGHT_MARGIN: u32 = 45;

/// The shared x axis, in Unix seconds: the bars plus one interval of margin each side, with
/// labels at round times (every 1, 2, 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12 hours or days),
/// at most [`TimeAxis::MAX_LABELS`] of them.
#[derive(Debug, Clone, PartialEq)]
struct TimeAxis {
    from: i64,
    to: i64,
    ticks: Vec<i64>,
    /// strftime format of the labels.
    label: &'static str,
}

impl TimeAxis {
    const MAX_LABELS: i64 = 10;
    const STEPS: [i64; 20] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200,
        86_400, 172_800, 604_800,
    ];

    fn new(info: &ChartInfo) -> Self {
        let from = info.first.timestamp() - info.bar_seconds;
        let to = info.end.timestamp() + info.bar_seconds;
        let span = (to - from).max(1);
        let step = Self::STEPS
            .into_iter()
            .find(|step| span / step <= Self::MAX_LABELS)
            .unwrap_or_else(|| span / Self::MAX_LABELS + 1);
        let first_tick = from.div_euclid(step) * step + if from % step == 0 { 0 } else { step };
        let ticks = (0..)
            .map(|i| first_tick + i * step)
            .take_while(|t| *t <= to)
            .collect();
        let many_days = info.first.date_naive() != info.end.date_naive();
        let label = match step {
            s if s < 60 => "%H:%M:%S",
            s if s >= 86_400 => "%Y-%m-%d",
            _ if many_days => "%m-%d %H:%M",
            _ => "%H:%M",
        };
        TimeAxis {
            from,
            to,
            ticks,
            label,
        }
    }

    fn format(&self, seconds: i64) -> String {
        DateTime::from_timestamp(seconds, 0)
            .map(|t| t.format(self.label).to_string())
            .unwrap_or_default()
    }
}

fn draw_prices<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    info: &ChartInfo,
    candles: &[Candle],
    axis: &TimeAxis,
) -> Result<(), PlotError> {
    let (low, high) = candles.iter().fold((f64::MAX, f64::MIN), |(l, h), c| {
        (l.min(c.low), h.max(c.high))
    });
    let pad = ((high - low) * 0.05).max(high.abs() * 0.001).max(1e-6);
    let (low, high) = (low - pad, high + pad);
    let decimals = price_decimals(high - low);
    let mut chart = ChartBuilder::on(area)
        .margin_top(5)
        .margin_right(RIGHT_MARGIN)
        .y_label_area_size(Y_LABEL_AREA)
        .x_label_area_size(0)
        .build_cartesian_2d(
            (axis.from..axis.to).with_key_points(axis.ticks.clone()),
            low..high,
        )
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .bold_line_style(GRID)
        .y_labels(8)
        .y_desc("price")
        .y_label_formatter(&|p| format!("{p:.decimals$}"))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    let width = candle_width(chart.plotting_area().dim_in_pixel().0, info, axis);
    let half = info.bar_seconds / 2;
    chart
        .draw_series(candles.iter().map(|c| {
            CandleStick::new(
                c.start.timestamp() + half,
                c.open,
                c.high,
                c.low,
                c.close,
                UP.filled(),
                DOWN.filled(),
                width,
            )
        }))
        .map_err(draw_error)?;
    Ok(())
}

fn draw_volumes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    info: &ChartInfo,
    candles: &[Candle],
    axis: &TimeAxis,
) -> Result<(), PlotError> {
    let top = candles.iter().map(|c| c.volume).fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .margin_right(RIGHT_MARGIN)
        .margin_bottom(5)
        .y_label_area_size(Y_LABEL_AREA)
        .x_label_area_size(50)
        .build_cartesian_2d(
            (axis.from..axis.to).with_key_points(axis.ticks.clone()),
            0.0..top,
        )
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .bold_line_style(GRID)
        .y_labels(4)
        .x_desc("time (UTC)")
        .y_desc("volume")
        .x_label_formatter(&|t| axis.format(*t))
        .y_label_formatter(&|v| compact(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(draw_error)?;
    // Bars fill the middle 80 % of their interval.
    let inset = info.bar_seconds / 10;
    chart
        .draw_series(candles.iter().map(|c| {
            let color = if c.close > c.open { UP } else { DOWN };
            let start = c.start.timestamp();
            Rectangle::new(
                [
                    (start + inset, 0.0),
                    (start + info.bar_seconds - inset, c.volume),
                ],
                color.mix(0.5).filled(),
            )
        }))
        .map_err(draw_error)?;
    Ok(())
}

/// Candle body width in pixels: 70 % of a bar's share of the plot, 1 to 15.
fn candle_width(plot_width: u32, info: &ChartInfo, axis: &TimeAxis) -> u32 {
    let shown = (axis.to - axis.from).max(1) as f64;
    let per_bar = f64::from(plot_width) * info.bar_seconds as f64 / shown;
    (per_bar * 0.7).clamp(1.0, 15.0) as u32
}

/// Decimals for price labels over a range of `span`.
fn price_decimals(span: f64) -> usize {
    match span {
        s if s >= 50.0 => 0,
        s if s >= 0.5 => 2,
        _ => 4,
    }
}

/// `950`, `12.5K`, `3M`, `1.1B`.
fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "K")
    } else {
        return format!("{v:.0}");
    };
    let text = format!("{scaled:.1}");
    format!("{}{suffix}", text.strip_suffix(".0").unwrap_or(&text))
}

// ---------------------------------------------------------------------------------------------
// PNG

/// An 8-bit RGB PNG of `rgb` (rows top to bottom, no padding): the signature, `IHDR`, one
/// `IDAT` with the zlib-compressed rows (each with filter type 0) and `IEND`, per the PNG
/// specification. Written here over flate2, which the worker already has, rather than through
/// the `png` crate, whose `fdeflate` turns on features of crates shared with Parquet and
/// DataFusion and so recompiles them.
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, PlotError> {
    let row = w as usize * 3;
    if rgb.len() != row * h as usize {
        return Err(PlotError::Draw(format!(
            "{} bytes of pixels for a {w}x{h} picture",
            rgb.len()
        )));
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for line in rgb.chunks_exact(row) {
        zlib.write_all(&[0])?;
        zlib.write_all(line)?;
    }
    let idat = zlib.finish()?;

    let mut out = Vec::with_capacity(idat.len() + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    png_chunk(&mut out, b"IHDR", &ihdr)?;
    png_chunk(&mut out, b"IDAT", &idat)?;
    png_chunk(&mut out, b"IEND", &[])?;
    Ok(out)
}

/// Length, type, data, and the CRC-32 of type and data.
fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<(), PlotError> {
    let length = u32::try_from(data.len())
        .map_err(|_| PlotError::Draw("a PNG chunk over 4 GiB".to_owned()))?;
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes `bytes` to `path` through `.{name}.{pid}.tmp` in the same directory and a rename, so
/// `path` is either the old file or the whole new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let failed = |source| PlotError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| failed(std::io::Error::other("not a file name")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let result = written.and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = result {
        // Best effort: the temporary file may not exist.
        let _ = std::fs::remove_file(&temp);
        return Err(failed(e));
    }
    Ok(())
}

/// Draws `series` to `path` (format from its extension) and returns what was drawn. `symbol`
/// overrides the series' own for the title. Registers a font first.
pub fn plot(path: &Path, series: Series, symbol: Option<&str>) -> Result<ChartInfo, PlotError> {
    let format = ChartFormat::from_path(path)?;
    register_font()?;
    let symbol = symbol.map(str::to_owned).or(series.symbol);
    let info = ChartInfo::new(symbol, &series.candles).ok_or(PlotError::NoRows)?;
    let bytes = render(&info, &series.candles, format)?;
    write_atomically(path, &bytes)?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use datafusion::arrow::array::{
        ArrayRef, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::Field;

    use super::*;
    use stockfeed_record::lake::layout::PartitionBy;
    use stockfeed_spec::format::Format;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0)
            .single()
            .unwrap_or_else(|| panic!("bad time"))
    }

    fn batch(names: [&str; 7], symbols: [&str; 2]) -> RecordBatch {
        let dec = |v: [i128; 2]| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v.to_vec())
                    .with_precision_and_scale(18, 8)
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(symbols.to_vec())),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    t(14, 31).timestamp_micros(),
                    t(14, 30).timestamp_micros(),
                ])
                .with_timezone("UTC"),
            ),
            dec([10_000_000_000, 10_100_000_000]),
            dec([10_200_000_000, 10_200_000_000]),
            dec([9_900_000_000, 10_000_000_000]),
            dec([10_100_000_000, 10_000_000_000]),
            Arc::new(Int64Array::from(vec![300, 500])),
        ];
        let fields: Vec<Field> = names
            .iter()
            .zip(&columns)
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const NAMES: [&str; 7] = [
        "symbol",
        "bar_start",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ];

    #[test]
    fn rows_become_sorted_candles_with_their_symbol() {
        let b = batch(NAMES, ["AAPL", "AAPL"]);
        let series = Series::from_batches(&b.schema(), &[b]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(series.symbol.as_deref(), Some("AAPL"));
        assert_eq!(series.candles.len(), 2);
        assert_eq!(series.candles[0].start, t(14, 30));
        assert_eq!(series.candles[0].open, 101.0);
        assert_eq!(series.candles[1].close, 101.0);
        assert_eq!(series.candles[1].volume, 300.0);
        let info =
            ChartInfo::new(series.symbol, &series.candles).unwrap_or_else(|| panic!("no candles"));
        assert_eq!(
            info.title(),
            "AAPL 1-minute bars, 2026-11-26 14:30–14:32 UTC"
        );
    }

    #[test]
    fn missing_columns_and_many_symbols_are_named() {
        let b = batch(
            ["symbol", "day", "open", "hi", "low", "close", "vol"],
            ["AAPL", "AAPL"],
        );
        let e = Series::from_batches(&b.schema(), &[b])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "cannot plot the result: it lacks a time column (event_ts, minute, bar_start, \
                 start, ts, a timestamp), `high`, `volume`; it has symbol, day, open, hi, low, \
                 close, vol"
            )
        );
        let b = batch(NAMES, ["AAPL", "MSFT"]);
        let e = Series::from_batches(&b.schema(), &[b])
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("2 symbols (AAPL, MSFT)")),
            "{e:?}"
        );
        let b = batch(
            ["symbol", "ts", "open", "high", "low", "close", "volume"],
            ["AAPL", "AAPL"],
        );
        let renamed = Schema::new(
            b.schema()
                .fields()
                .iter()
                .map(|f| {
                    if f.name() == "open" {
                        Field::new("open", DataType::Utf8, true)
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        );
        assert!(matches!(
            locate(&renamed),
            Err(PlotError::ColumnType { ref column, .. }) if column == "open"
        ));
    }

    #[test]
    fn the_bars_query_is_qualified_and_narrowed() {
        let mut source = LakeSource::new("file:///l/", Format::Parquet);
        source.database = "markets".into();
        source.table_prefix = "nyse_".into();
        let symbol = Symbol::new("BRK.B").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bars_sql(&source, &symbol, &Window::default()),
            "SELECT event_ts, open, high, low, close, volume FROM markets.nyse_bars_1m \
             WHERE symbol = 'BRK.B' ORDER BY event_ts"
        );
        source.partition_by = PartitionBy::new(vec![PartitionKey::Dt, PartitionKey::Symbol])
            .unwrap_or_else(|e| panic!("{e}"));
        let window = Window {
            since: Some(t(14, 0)),
            until: parse_instant("2026-11-27").ok(),
        };
        assert_eq!(
            bars_sql(&source, &symbol, &window),
            "SELECT event_ts, open, high, low, close, volume FROM markets.nyse_bars_1m \
             WHERE symbol = 'BRK.B' AND symbol_partition = 'BRK.B' AND dt >= '2026-11-26' \
             AND event_ts >= TIMESTAMP '2026-11-26T14:00:00.000000Z' AND dt <= '2026-11-27' \
             AND event_ts < TIMESTAMP '2026-11-27T00:00:00.000000Z' ORDER BY event_ts"
        );
        assert_eq!(
            window.to_string(),
            " between 2026-11-26T14:00:00Z and 2026-11-27T00:00:00Z"
        );
    }

    #[test]
    fn instants_parse_in_utc() {
        assert_eq!(parse_instant("2026-11-26T14:30"), Ok(t(14, 30)));
        assert_eq!(parse_instant("2026-11-26 14:30:00"), Ok(t(14, 30)));
        assert_eq!(parse_instant("2026-11-26T15:30:00+01:00"), Ok(t(14, 30)));
        assert_eq!(parse_instant("2026-11-26"), Ok(t(0, 0)));
        assert!(parse_instant("yesterday").is_err());
    }

    #[test]
    fn formats_titles_and_labels() {
        assert_eq!(
            ChartFormat::from_path(Path::new("a/B.SVG")).ok(),
            Some(ChartFormat::Svg)
        );
        assert!(matches!(
            ChartFormat::from_path(Path::new("chart.jpg")),
            Err(PlotError::UnknownFormat(_))
        ));
        assert!(ChartFormat::from_path(Path::new("png")).is_err());
        let candle = |start| Candle {
            start,
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 0.0,
        };
        let night = [candle(t(23, 50)), candle(t(23, 55))];
        let info = ChartInfo::new(None, &night).unwrap_or_else(|| panic!("no candles"));
        assert_eq!(
            info.title(),
            "5-minute bars, 2026-11-26 23:50–2026-11-27 00:00 UTC"
        );
        assert!(ChartInfo::new(None, &[]).is_none());
        assert_eq!(compact(1_250_000.0), "1.2M");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(3_000.0), "3K");
        assert_eq!(price_decimals(3.0), 2);
        assert!(matches!(
            find_font(Some(PathBuf::from("/nonexistent/font.ttf"))),
            Err(PlotError::BadFont { .. })
        ));
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope").join("chart.png");
        assert!(matches!(
            write_atomically(&missing, b"x"),
            Err(PlotError::Write { .. })
        ));
        let good = dir.path().join("chart.svg");
        write_atomically(&good, b"<svg/>").unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("chart.svg")]);
    }
}
