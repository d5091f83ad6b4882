//! The producer: market-data sources ([`source`]) and the pipeline that takes one source's
//! records into the StockFeed's Kafka topic.
//!
//! It reads its configuration from `stockfeed-spec` and delivers through `stockfeed-kafka`; it
//! knows nothing of the lake, the catalog or Kubernetes.
//!
//! ```text
//! source --Emitter--> [validate] --> [dedup window] --> KafkaWriter --> <topic>
//!    \                    \                                  \ refused for good
//!     rejected payloads    invalid records                    \
//!      `--------------------`----------------------------------`--> <topic>.dlq
//! ```
//!
//! The pipeline runs on one task: sources are I/O-bound and Kafka batching happens inside
//! librdkafka, so one task reaches the broker's limits on two cores without locking.

pub mod dedupe;
/// Entry points of the fuzz targets and their regression test; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod launch;
pub mod metrics;
pub mod resume;
pub mod settings;
pub mod source;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

pub use dedupe::DedupWindow;
pub use resume::TopicTail;
pub use settings::ProducerSettings;
pub use source::ResumePoint;
pub use stockfeed_kafka::{DeadLetter, Stage, dlq_topic};
pub use stockfeed_kafka::{Failed, KafkaWriter, Outgoing, WriterError, WriterSettings};
pub use stockfeed_spec::producer::{ProducerConfig, ProducerConfigError};
/// Shard assignment lives with the spec, so the operator can give each shard its own tickers.
pub use stockfeed_spec::shard::{self, Shard};

use crate::metrics::{ErrorLabels, ProducerMetrics, ProviderLabels, RecordLabels};
use crate::source::{Emitter, Rejected, Source, SourceError, SourceHealth, SourceItem};
use stockfeed_kafka::OutgoingMessage;
use stockfeed_record::{Provider, Record, RecordKind};

/// What the pipeline needs besides the source and the writer.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub topic: String,
    pub dlq_topic: String,
    /// How many recent record ids the dedup window remembers.
    pub dedup_window: usize,
    /// Items the source may queue ahead of the pipeline.
    pub channel_capacity: usize,
    /// How long shutdown waits for Kafka to acknowledge what is in flight.
    pub shutdown_timeout: Duration,
    /// What an earlier run left in the topic (see `resume`); `None` starts from nothing.
    pub resume: Option<TopicTail>,
}

impl PipelineOptions {
    pub fn for_topic(topic: &str) -> Self {
        PipelineOptions {
            topic: topic.to_owned(),
            dlq_topic: dlq_topic(topic),
            dedup_window: 100_000,
            channel_capacity: 4096,
            shutdown_timeout: Duration::from_secs(30),
            resume: None,
        }
    }
}

/// Shared with `/readyz`.
#[derive(Debug)]
pub struct Readiness {
    source: std::sync::Mutex<SourceHealth>,
    broker_up: AtomicBool,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            source: std::sync::Mutex::new(SourceHealth::Starting),
            broker_up: AtomicBool::new(true),
        }
    }
}

impl Readiness {
    pub fn check(&self) -> Result<(), String> {
        let source = self
            .source
            .lock()
            .map(|s| s.clone())
            .unwrap_or(SourceHealth::Starting);
        if !source.is_ready() {
            return Err(format!("source is {source:?}"));
        }
        if !self.broker_up.load(Ordering::Relaxed) {
            return Err("no Kafka broker reachable".into());
        }
        Ok(())
    }

    fn set_source(&self, health: SourceHealth) {
        if let Ok(mut s) = self.source.lock() {
            *s = health;
        }
    }
}

/// Counts of one run; `lost` is non-zero only if a dead letter itself could not be written or
/// shutdown timed out with records unacknowledged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub duplicates: u64,
    /// Records an earlier run had already delivered (in-order sources after a restart); also
    /// counted in `duplicates`.
    pub already_in_topic: u64,
    pub dead_letters: u64,
    pub lost: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Writer(#[from] WriterError),
    #[error(transparent)]
    Preflight(#[from] stockfeed_kafka::preflight::PreflightError),
    #[error("the source task failed: {0}")]
    SourceTask(String),
}

struct Pipeline {
    /// Per-symbol record counters, looked up once per symbol and kept: a label lookup per
    /// record (three strings to build and hash) was the producer's largest overhead.
    record_counters: std::collections::HashMap<
        stockfeed_record::Symbol,
        [prometheus_client::metrics::counter::Counter; 3],
    >,
    writer: KafkaWriter,
    options: PipelineOptions,
    metrics: Arc<ProducerMetrics>,
    summary: Summary,
}

/// A source item after validation, dedup and encoding.
enum Prepared {
    Record {
        record: Record,
        message: OutgoingMessage,
    },
    Dead(DeadLetter),
    Duplicate,
    /// Older than what an earlier run delivered for its (symbol, kind).
    AlreadyInTopic,
}

fn prepare(item: SourceItem, dedup: &mut DedupWindow, resume: Option<&ResumePoint>) -> Prepared {
    match item {
        SourceItem::Rejected(Rejected {
            provider,
            reason,
            raw,
        }) => Prepared::Dead(DeadLetter {
            key: None,
            payload: raw,
            reason,
            stage: Stage::Source,
            provider,
            time: Utc::now(),
        }),
        SourceItem::Record(record) => {
            if let Err(e) = record.validate(Utc::now()) {
                return Prepared::Dead(DeadLetter {
                    key: Some(record.symbol().to_string()),
                    payload: record.to_json(),
                    reason: e.to_string(),
                    stage: Stage::Validation,
                    provider: record.provider(),
                    time: Utc::now(),
                });
            }
            if resume.is_some_and(|r| r.already_sent(&record)) {
                return Prepared::AlreadyInTopic;
            }
            if !dedup.first_sighting(record.id()) {
                return Prepared::Duplicate;
            }
            let message = OutgoingMessage::from_record(&record);
            Prepared::Record { record, message }
        }
    }
}

/// Turns source items into prepared batches until the source's channel closes.
async fn encode_items(
    mut items: tokio::sync::mpsc::Receiver<SourceItem>,
    out: tokio::sync::mpsc::Sender<Vec<Prepared>>,
    mut dedup: DedupWindow,
    resume: Option<Arc<ResumePoint>>,
) {
    let resume = resume.as_deref();
    while let Some(first) = items.recv().await {
        let mut batch = Vec::with_capacity(256);
        batch.push(prepare(first, &mut dedup, resume));
        while batch.len() < 1024 {
            match items.try_recv() {
                Ok(item) => batch.push(prepare(item, &mut dedup, resume)),
                Err(_) => break,
            }
        }
        if out.send(batch).await.is_err() {
            return;
        }
    }
}

/// Runs `source` until it ends or `shutdown` fires, then flushes what is in flight.
pub async fn run_pipeline(
    source: Box<dyn Source>,
    writer: KafkaWriter,
    mut options: PipelineOptions,
    metrics: Arc<ProducerMetrics>,
    readiness: Arc<Readiness>,
    shutdown: CancellationToken,
) -> Result<Summary, ProducerError> {
    let provider = source.provider();
    let mut dedup = DedupWindow::new(options.dedup_window);
    let mut resume_point = None;
    if let Some(mut tail) = options.resume.take() {
        for id in tail.ids_for_window(options.dedup_window) {
            dedup.first_sighting(id);
        }
        if source.deterministic_order() {
            resume_point = Some(Arc::new(tail.into_resume_point()));
        }
    }
    let (emitter, items, mut health) =
        Emitter::new(provider, options.channel_capacity, shutdown.clone());
    let emitter = emitter
        .with_metrics(metrics.clone())
        .with_resume_point(resume_point.clone());
    let source_task = tokio::spawn(source.run(emitter));
    // Validation, dedup and JSON encoding run in their own task, so they use the second core
    // while this one hands encoded messages to librdkafka.
    let (prepared_tx, mut prepared) = tokio::sync::mpsc::channel::<Vec<Prepared>>(64);
    let encoder = tokio::spawn(encode_items(items, prepared_tx, dedup, resume_point));
    let mut pipeline = Pipeline {
        record_counters: std::collections::HashMap::new(),
        writer,
        options,
        metrics,
        summary: Summary::default(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            batch = prepared.recv() => match batch {
                Some(batch) => {
                    for item in batch {
                        pipeline.handle(provider, item).await?;
                    }
                }
                None => break,
            },
            Some(failed) = pipeline.writer.next_failure() => pipeline.dead_letter_failure(provider, failed).await?,
            changed = health.changed() => {
                if changed.is_ok() {
                    let h = health.borrow_and_update().clone();
                    log_health(provider, &h);
                    pipeline.metrics.source_ready.set(i64::from(h.is_ready()));
                    readiness.set_source(h);
                }
            }
            _ = tick.tick() => readiness.broker_up.store(pipeline.writer.broker_up(), Ordering::Relaxed),
        }
    }
    encoder
        .await
        .map_err(|e| ProducerError::SourceTask(e.to_string()))?;
    let source_result = source_task
        .await
        .map_err(|e| ProducerError::SourceTask(e.to_string()))?;
    pipeline.finish(provider).await;
    source_result?;
    Ok(pipeline.summary)
}

fn log_health(provider: Provider, health: &SourceHealth) {
    match health {
        SourceHealth::Ready => tracing::info!(%provider, "source ready"),
        SourceHealth::Starting => tracing::info!(%provider, "source starting"),
        SourceHealth::Degraded(why) => tracing::warn!(%provider, reason = %why, "source degraded"),
        SourceHealth::Unauthorized(why) => {
            tracing::error!(%provider, reason = %why, "provider refused the credentials; check the Secret")
        }
    }
}

impl Pipeline {
    async fn handle(&mut self, provider: Provider, item: Prepared) -> Result<(), ProducerError> {
        match item {
            Prepared::Dead(letter) => {
                let class = if letter.stage == Stage::Source {
                    "source"
                } else {
                    "validation"
                };
                self.metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        class: class.into(),
                    })
                    .inc();
                self.dead_letter(letter).await
            }
            Prepared::AlreadyInTopic => {
                self.summary.already_in_topic += 1;
                self.count_duplicate(provider);
                Ok(())
            }
            Prepared::Duplicate => {
                self.count_duplicate(provider);
                Ok(())
            }
            Prepared::Record { record, message } => self.record(record, message).await,
        }
    }

    fn count_duplicate(&mut self, provider: Provider) {
        self.summary.duplicates += 1;
        self.metrics
            .duplicates
            .get_or_create(&ProviderLabels {
                provider: provider.to_string(),
            })
            .inc();
    }

    async fn record(&mut self, record: Record, msg: OutgoingMessage) -> Result<(), ProducerError> {
        self.writer
            .send(Outgoing {
                topic: &self.options.topic,
                key: Some(msg.key.as_bytes()),
                payload: &msg.payload,
                headers: msg.headers(),
            })
            .await?;
        self.summary.records += 1;
        let kind_index = record.kind().index();
        if let Some(counters) = self.record_counters.get(record.symbol()) {
            counters[kind_index].inc();
        } else {
            let metrics = &self.metrics;
            let counters = RecordKind::ALL.map(|kind| {
                metrics
                    .records
                    .get_or_create(&RecordLabels {
                        provider: record.provider().to_string(),
                        kind: kind.to_string(),
                        symbol: record.symbol().to_string(),
                    })
                    .clone()
            });
            counters[kind_index].inc();
            self.record_counters
                .insert(record.symbol().clone(), counters);
        }
        Ok(())
    }

    async fn dead_letter(&mut self, letter: DeadLetter) -> Result<(), ProducerError> {
        tracing::debug!(provider = %letter.provider, stage = letter.stage.as_str(), reason = %letter.reason, "dead letter");
        let headers = letter.headers();
        self.writer
            .send(Outgoing {
                topic: &self.options.dlq_topic,
                key: letter.key.as_deref().map(str::as_bytes),
                payload: &letter.payload,
                headers,
            })
            .await?;
        self.summary.dead_letters += 1;
        self.metrics
            .dlq
            .get_or_create(&ProviderLabels {
                provider: letter.provider.to_string(),
            })
            .inc();
        Ok(())
    }

    /// A record Kafka refused for good goes to the DLQ; a dead letter Kafka refused is lost,
    /// loudly.
    async fn dead_letter_failure(
        &mut self,
        provider: Provider,
        failed: Failed,
    ) -> Result<(), ProducerError> {
        if failed.topic == self.options.dlq_topic {
            self.summary.lost += 1;
            self.summary.dead_letters = self.summary.dead_letters.saturating_sub(1);
            self.metrics
                .errors
                .get_or_create(&ErrorLabels {
                    class: "dlq_delivery".into(),
                })
                .inc();
            tracing::error!(topic = %failed.topic, error = %failed.error, "dead-letter topic refused a message; it is lost");
            return Ok(());
        }
        self.summary.records = self.summary.records.saturating_sub(1);
        self.dead_letter(DeadLetter {
            key: failed.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
            payload: failed.payload,
            reason: format!("Kafka refused the record: {}", failed.error),
            stage: Stage::Delivery,
            provider,
            time: Utc::now(),
        })
        .await
    }

    async fn finish(&mut self, provider: Provider) {
        let timeout = self.options.shutdown_timeout;
        for _ in 0..2 {
            if let Err(e) = self.writer.flush(timeout).await {
                tracing::error!(error = %e, unacknowledged = self.writer.in_flight_messages(), "Kafka did not acknowledge everything before the shutdown timeout");
            }
            let failures = self.writer.take_failures();
            if failures.is_empty() {
                break;
            }
            for failed in failures {
                if let Err(e) = self.dead_letter_failure(provider, failed).await {
                    tracing::error!(error = %e, "cannot dead-letter a refused record at shutdown");
                    self.summary.lost += 1;
                }
            }
        }
        self.summary.lost += self.writer.in_flight_messages();
    }
}
