//! The progress line of `stockfeed run`: records produced and written per second, files, lag.
//! On a terminal it is rewritten in place once a second; otherwise (CI logs, pipes) a plain
//! line is printed every ten seconds.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{Running, lag};
use stockfeed_sink::metrics::KindLabels;

const KINDS: [&str; 3] = ["trade", "quote", "bar"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub produced: u64,
    pub written: u64,
    pub files: u64,
    pub lag: i64,
}

fn totals(running: &[Running]) -> Totals {
    let mut t = Totals::default();
    for r in running {
        t.produced += r.producer_metrics.delivered.get();
        for kind in KINDS {
            let label = KindLabels { kind: kind.into() };
            t.written += r.sink_metrics.records_written.get_or_create(&label).get();
            t.files += r.sink_metrics.files_written.get_or_create(&label).get();
        }
        t.lag += lag(r);
    }
    t
}

/// One progress line from two samples `elapsed` apart.
pub fn line(now: Totals, before: Totals, elapsed: Duration, since_start: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = |a: u64, b: u64| (a.saturating_sub(b) as f64 / secs).round() as u64;
    format!(
        "[{:>4}s] produced {} ({}/s) · written {} ({}/s) in {} files · lag {}",
        since_start.as_secs(),
        group(now.produced),
        group(rate(now.produced, before.produced)),
        group(now.written),
        group(rate(now.written, before.written)),
        group(now.files),
        group(u64::try_from(now.lag.max(0)).unwrap_or_default()),
    )
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn spawn(
    running: Arc<Vec<Running>>,
    done: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        };
        let start = Instant::now();
        let mut before = (totals(&running), Instant::now());
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = done.cancelled() => break,
            }
            let now = totals(&running);
            let text = line(now, before.0, before.1.elapsed(), start.elapsed());
            before = (now, Instant::now());
            let mut err = std::io::stderr();
            if terminal {
                let _ = write!(err, "\r\x1b[2K{text}");
            } else {
                let _ = writeln!(err, "{text}");
            }
            let _ = err.flush();
        }
        if terminal {
            let _ = writeln!(std::io::stderr());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_rates_and_groups_digits() {
        let before = Totals {
            produced: 1000,
            written: 0,
            files: 0,
            lag: 0,
        };
        let now = Totals {
            produced: 1_235_000,
            written: 1_000_000,
            files: 12,
            lag: 235_000,
        };
        let l = line(now, before, Duration::from_secs(2), Duration::from_secs(61));
        assert_eq!(
            l,
            "[  61s] produced 1,235,000 (617,000/s) · written 1,000,000 (500,000/s) in 12 files · lag 235,000"
        );
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
    }
}
