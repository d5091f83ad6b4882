//! Writing a cut segment's files in the background while the sink goes on consuming.
//!
//! Encoding a segment (Parquet with zstd) and putting its objects takes far longer than reading
//! the same records, so the main loop only cuts a segment (manifest, derived bars, file plan)
//! and hands the rest to a task. The task never commits: it reports back with [`WriteDone`],
//! and the main loop commits each partition's segments in order (it allows one write per
//! partition at a time), after flushing dead letters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::try_join_all;

use super::format::{self, Format, FormatOptions};
use super::segment::PlannedFile;
use super::storage::{ObjectStore, PutOutcome, StoreError};
use crate::error::SinkError;
use crate::metrics::{ErrorLabels, SinkMetrics};
use stockfeed_record::lake::layout::Dataset;

/// How the lake store has fared lately, for `/readyz`: a sink whose writes keep failing is not
/// doing its job, even though it retries (transient errors are retried for ever).
#[derive(Debug, Default)]
pub struct StoreHealth {
    /// Per kind of operation ("put lake object", "get manifest", …): when its current run of
    /// failures began, and the last error. Per kind, so that reads that work do not hide
    /// writes that keep failing.
    failing: std::sync::Mutex<std::collections::HashMap<String, (Instant, String)>>,
}

impl StoreHealth {
    fn failed(&self, operation: &str, error: &str) {
        if let Ok(mut f) = self.failing.lock() {
            let since = f.get(operation).map_or_else(Instant::now, |(t, _)| *t);
            f.insert(operation.to_owned(), (since, error.to_owned()));
        }
    }

    fn succeeded(&self, operation: &str) {
        if let Ok(mut f) = self.failing.lock() {
            f.remove(operation);
        }
    }

    /// The longest run of failures still going on, with its last error; `None` when every
    /// kind of operation worked the last time it was tried.
    pub fn failing_for(&self) -> Option<(Duration, String)> {
        let f = self.failing.lock().ok()?;
        f.values()
            .map(|(t, e)| (t.elapsed(), e.clone()))
            .max_by_key(|(d, _)| *d)
    }
}

/// Everything a background write needs; cheap to clone.
#[derive(Clone)]
pub struct WriteContext {
    pub store: Arc<dyn ObjectStore>,
    pub metrics: Arc<SinkMetrics>,
    pub format: Format,
    pub options: FormatOptions,
    /// Bounds the files encoded at once across all writes (see [`encoder_permits`]).
    pub encoders: Arc<tokio::sync::Semaphore>,
    pub health: Arc<StoreHealth>,
}

/// How many files may be encoded at once: all cores but one. Segments of every partition tend
/// to be cut in the same age tick, and encoding them all at once used to take every core for a
/// moment, starving the consumer's fetches (and a co-located broker) and stalling reading.
pub fn encoder_permits() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .max(1)
}

/// A cut segment, ready to become objects.
pub struct SegmentWrite {
    pub partition: i32,
    pub start: i64,
    /// The offset to commit once every file exists.
    pub end: i64,
    /// The partition's assignment epoch when the segment was cut: a write that finishes after
    /// the partition was revoked must not commit.
    pub epoch: u64,
    pub files: Vec<PlannedFile>,
    /// The derived-bar state valid at `end` (key, bytes), saved before the commit so whoever
    /// continues at `end` finds it.
    pub bar_state: Option<(String, Vec<u8>)>,
    /// The partition's lake checkpoint (key, bytes) once the files exist (`checkpoint.rs`).
    pub checkpoint: (String, Vec<u8>),
    /// Buffered bytes this segment held, still counted against the memory cap until done.
    pub bytes: usize,
    pub cut_at: Instant,
}

/// One object of a finished write.
pub struct FileOutcome {
    pub dataset: Dataset,
    pub rows: usize,
    pub bytes: usize,
    pub created: bool,
}

/// What a finished write reports to the main loop.
pub struct WriteDone {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
    pub epoch: u64,
    pub bytes: usize,
    pub cut_at: Instant,
    pub files: Vec<FileOutcome>,
}

/// Encodes every file of the segment on the blocking pool (in parallel), writes them
/// concurrently (each create-if-absent, retried until the store answers), then the bar state
/// and the lake checkpoint.
pub async fn write_segment(job: SegmentWrite, ctx: WriteContext) -> Result<WriteDone, SinkError> {
    let SegmentWrite {
        partition,
        start,
        end,
        epoch,
        files,
        bar_state,
        checkpoint,
        bytes,
        cut_at,
    } = job;
    let encodings = files.into_iter().map(|file| {
        let (format, options) = (ctx.format, ctx.options.clone());
        let encoders = ctx.encoders.clone();
        async move {
            let permit = encoders
                .acquire_owned()
                .await
                .map_err(|e| SinkError::Config(format!("encoder permits: {e}")))?;
            let encoded =
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let encoded = format::encode(format, &options, file.kind, &file.records)
                        .map_err(|e| SinkError::Encode {
                            kind: file.kind,
                            message: e.to_string(),
                        })?;
                    // Event times only: freshness is observed once the object exists, and the records
                    // are dropped here, off the async threads.
                    let event_ms: Vec<i64> = file
                        .records
                        .iter()
                        .map(|r| r.event_ts().timestamp_millis())
                        .collect();
                    Ok::<_, SinkError>((file.key, file.dataset, encoded, event_ms))
                })
                .await
                .map_err(|e| SinkError::Config(format!("encoder task failed: {e}")))??;
            Ok::<_, SinkError>(encoded)
        }
    });
    let mut encoded_files = Vec::new();
    for file in futures_util::future::join_all(encodings).await {
        let file = file?;
        debug_assert!(file.0.ends_with(file.2.extension));
        encoded_files.push(file);
    }
    let outcomes = try_join_all(encoded_files.iter().map(|(key, _, encoded, _)| {
        let ctx = &ctx;
        let span = tracing::debug_span!("put lake object", %key, bytes = encoded.bytes.len());
        tracing::Instrument::instrument(
            retry_store(&ctx.metrics, &ctx.health, "put lake object", move || {
                ctx.store
                    .put_if_absent(key, encoded.bytes.clone(), encoded.content_type)
            }),
            span,
        )
    }))
    .await?;
    let now_ms = Utc::now().timestamp_millis();
    let mut files = Vec::with_capacity(encoded_files.len());
    for ((_, dataset, encoded, event_ms), outcome) in encoded_files.into_iter().zip(outcomes) {
        for ms in event_ms {
            ctx.metrics
                .freshness
                .observe((now_ms - ms).max(0) as f64 / 1000.0);
        }
        files.push(FileOutcome {
            dataset,
            rows: encoded.rows,
            bytes: encoded.bytes.len(),
            created: outcome == PutOutcome::Created,
        });
    }
    if let Some((key, state)) = bar_state {
        retry_store(&ctx.metrics, &ctx.health, "put bar state", || {
            ctx.store
                .put_if_absent(&key, state.clone(), "application/json")
        })
        .await?;
    }
    let (key, bytes_of_checkpoint) = checkpoint;
    retry_store(&ctx.metrics, &ctx.health, "put lake checkpoint", || {
        ctx.store
            .put(&key, bytes_of_checkpoint.clone(), "application/json")
    })
    .await?;
    Ok(WriteDone {
        partition,
        start,
        end,
        epoch,
        bytes,
        cut_at,
        files,
    })
}

/// Retries a store operation until it succeeds; the store being down pauses the sink rather
/// than losing or skipping anything.
pub async fn retry_store<T, F, Fut>(
    metrics: &SinkMetrics,
    health: &StoreHealth,
    what: &str,
    mut op: F,
) -> Result<T, SinkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        match op().await {
            Ok(v) => {
                health.succeeded(what);
                return Ok(v);
            }
            Err(e @ StoreError::Refused { .. }) => {
                metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        class: "store".into(),
                    })
                    .inc();
                tracing::error!(error = %e, operation = what, "the lake store refused; stopping");
                return Err(e.into());
            }
            Err(e) => {
                metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        class: "store".into(),
                    })
                    .inc();
                health.failed(what, &e.to_string());
                tracing::warn!(error = %e, operation = what, retry_in = ?delay, "lake store error; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}
