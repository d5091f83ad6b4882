//! The sink's main loop: consume, buffer per partition, write segments, commit.
//!
//! Delivery is exactly once as seen by a reader of the lake:
//!
//! 1. Records are held per Kafka partition in a [`Segment`] until a flush limit (records,
//!    bytes, age) or the memory cap is reached.
//! 2. The segment's cut is made durable first, as a manifest created only if absent; a later
//!    writer starting at the same offset adopts an existing cut (see `manifest.rs`).
//! 3. Its files are written create-if-absent under names derived from (topic, partition, first
//!    offset), so a retry or a replay rewrites nothing and adds nothing.
//! 4. Dead letters of the segment are flushed to Kafka, then the offset after the segment is
//!    committed. A crash anywhere before the commit replays the segment into the same files.
//!
//! Steps 3 and 4 run behind the consumer: a cut segment is encoded and written by a task
//! (`write.rs`) while the next records are read, one write per partition at a time, and the
//! main loop commits when the task reports back.
//!
//! On a revocation the partition's unwritten segment is dropped; the next owner restarts from
//! the committed offset and, through the manifest, produces the same files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::bars::{BarState, DerivedBars};
use super::consumer::{RebalanceEvent, SinkContext};
use super::format::{Format, FormatOptions};
use super::lake::LakeUrl;
use super::manifest::Manifest;
use super::segment::{PlannedFile, Segment};
use super::storage::{ObjectStore, PutOutcome, StoreError};
use super::write::{
    SegmentWrite, WriteContext, WriteDone, encoder_permits, retry_store, write_segment,
};
pub use crate::error::SinkError;
use crate::metrics::{ErrorLabels, KindLabels, SinkMetrics};
use stockfeed_kafka::WriterMetrics;
use stockfeed_kafka::preflight::check_topics;
use stockfeed_kafka::writer::{KafkaWriter, Outgoing, WriterError, WriterSettings};
use stockfeed_kafka::{Connect, decode_message};
use stockfeed_record::RecordKind;
use stockfeed_record::lake::layout::{
    Dataset, PartitionBy, bar_state_key, checkpoint_key, file_name, manifest_key, partition_dir_in,
};
use stockfeed_spec::sink::SinkConfig;

/// Counts of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SinkSummary {
    pub records_written: u64,
    pub files_written: u64,
    pub segments: u64,
    pub dead_letters: u64,
    /// Rows written to the derived `bar_1m/` table.
    pub derived_bars: u64,
}

/// Shared with `/readyz`: ready once the consumer has joined its group, and not while writes
/// to the lake have been failing for [`STORE_STALL`] (the sink retries them, but it is not
/// doing its job, and a rollout should not count it as available).
#[derive(Debug, Default)]
pub struct SinkReadiness {
    joined: std::sync::atomic::AtomicBool,
    store: Arc<crate::write::StoreHealth>,
}

/// How long lake writes may keep failing before `/readyz` says so.
pub const STORE_STALL: Duration = Duration::from_secs(30);

impl SinkReadiness {
    pub fn check(&self) -> Result<(), String> {
        // The lake first: a sink whose start-up probe keeps failing has not joined either,
        // and the lake's error is the one that says what is wrong.
        if let Some((d, error)) = self.store.failing_for()
            && d >= STORE_STALL
        {
            return Err(format!(
                "writes to the lake have failed for {} s; last error: {error}",
                d.as_secs()
            ));
        }
        if !self.joined.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("not yet assigned partitions by the consumer group".into());
        }
        Ok(())
    }
}

struct Sink {
    topic: String,
    dlq_topic: String,
    store: Arc<dyn ObjectStore>,
    consumer: Arc<StreamConsumer<SinkContext>>,
    events: Arc<Mutex<Vec<RebalanceEvent>>>,
    dlq: KafkaWriter,
    dlq_pending: bool,
    format: Format,
    format_options: FormatOptions,
    partition_by: PartitionBy,
    config: SinkConfig,
    metrics: Arc<SinkMetrics>,
    segments: HashMap<i32, Segment>,
    /// Where the next segment of a partition starts (the last committed end).
    next_start: HashMap<i32, i64>,
    /// Newest event time seen per partition, for the lateness metric.
    newest_event: HashMap<i32, chrono::DateTime<Utc>>,
    /// `sink.derivedBars` when enabled.
    bars: Option<DerivedBars>,
    /// Each partition's open bars and the offset they are valid at (the end of the last
    /// segment written), so the next segment need not read them back from the lake.
    bar_states: HashMap<i32, (i64, BarState)>,
    /// Segments being written in the background (`write.rs`).
    writes: tokio::task::JoinSet<Result<WriteDone, SinkError>>,
    /// Partitions with a write in flight, and the buffered bytes and files it still holds:
    /// both count against the memory limits until the write is done.
    writing: HashMap<i32, InFlight>,
    /// Bumped when a partition is revoked: a write cut before that must not commit.
    epochs: HashMap<i32, u64>,
    /// Partitions whose fetching is paused while an adopted cut completes within the memory
    /// cap (see `pause_for_adopted_cut`).
    paused: std::collections::HashSet<i32>,
    /// The partition whose adopted cut is being completed while the others are paused.
    completing: Option<i32>,
    encoders: Arc<tokio::sync::Semaphore>,
    summary: SinkSummary,
    /// Shared with `/readyz` (through [`SinkReadiness`]) and every write.
    store_health: Arc<crate::write::StoreHealth>,
}

pub async fn run_sink(
    mut config: SinkConfig,
    metrics: Arc<SinkMetrics>,
    readiness: Arc<SinkReadiness>,
    shutdown: CancellationToken,
) -> Result<SinkSummary, SinkError> {
    if config.sink.memory.max_buffered_bytes.is_none() {
        let limit = crate::memory_limit::of_this_process();
        let cap = stockfeed_spec::sink::Memory::auto_buffered_bytes(limit);
        tracing::info!(
            memory_limit_bytes = ?limit,
            max_buffered_bytes = cap,
            "memory cap sized from the container's memory limit"
        );
        config.sink.memory.max_buffered_bytes = Some(cap);
    }
    let partition_by = config.partition_by().map_err(SinkError::Config)?;
    let lake = LakeUrl::parse(&config.sink.url).map_err(StoreError::from)?;
    let store = crate::lake::open(&lake, &config.sink.s3).await?;
    retry_store(&metrics, &readiness.store, "probe create-if-absent", || {
        crate::lake::probe_create_if_absent(store.as_ref())
    })
    .await?;
    let base = config.kafka.connection.client_config()?;
    let topic = config.kafka.topic.clone();
    let dlq_topic = config.dlq_topic();
    check_topics(&base, &[topic.clone(), dlq_topic.clone()], &shutdown).await?;

    // The dead-letter producer's own metrics stay out of the sink's registry (their names
    // belong to the producer mode).
    let dlq_metrics = WriterMetrics::unregistered();
    let dlq_settings = WriterSettings {
        max_buffer_bytes: 16 * 1024 * 1024,
        ..WriterSettings::default()
    };
    let dlq = KafkaWriter::new(base.clone(), &dlq_settings, dlq_metrics)?;

    let events = Arc::new(Mutex::new(Vec::new()));
    let context = SinkContext {
        topic: topic.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
    };
    let consumer: StreamConsumer<SinkContext> = consumer_config(base, &config)
        .create_with_context(context)
        .map_err(SinkError::Consumer)?;
    consumer.subscribe(&[&topic]).map_err(SinkError::Consumer)?;
    tracing::info!(%topic, lake = %store.describe(), group = %config.group_id(), "sink started");

    let mut sink = Sink {
        topic,
        dlq_topic,
        store,
        consumer: Arc::new(consumer),
        events,
        dlq,
        dlq_pending: false,
        format: config.sink.format,
        format_options: config.sink.format_options.clone(),
        partition_by,
        config,
        metrics,
        segments: HashMap::new(),
        next_start: HashMap::new(),
        newest_event: HashMap::new(),
        bars: None,
        bar_states: HashMap::new(),
        writes: tokio::task::JoinSet::new(),
        writing: HashMap::new(),
        epochs: HashMap::new(),
        paused: std::collections::HashSet::new(),
        completing: None,
        encoders: Arc::new(tokio::sync::Semaphore::new(encoder_permits())),
        summary: SinkSummary::default(),
        store_health: readiness.store.clone(),
    };
    sink.bars = Some(sink.config.sink.derived_bars).filter(|b| b.enabled);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Reading and JSON decoding run in their own task, ahead of the bookkeeping and writing
    // done here, so the two use both cores. Rebalance events travel in the same channel, in
    // the order librdkafka raised them relative to the messages.
    let (incoming_tx, mut incoming) =
        tokio::sync::mpsc::channel::<Vec<Incoming>>(READ_AHEAD_BATCHES);
    let reader = tokio::spawn(read_and_decode(
        sink.consumer.clone(),
        sink.events.clone(),
        incoming_tx,
        shutdown.clone(),
    ));
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            // Finished writes and the age check go first: under a steady stream of messages
            // they would otherwise wait (the commit, and segments past their age).
            Some(joined) = sink.writes.join_next(), if !sink.writes.is_empty() => {
                sink.finish_write(joined).await?;
            }
            _ = tick.tick() => {
                sink.rotate_aged().await?;
                sink.review_pauses();
                sink.update_gauges();
                if let Some(rss) = stockfeed_telemetry::rss_bytes() {
                    sink.metrics.rss_bytes.set(rss as i64);
                }
            }
            batch = incoming.recv() => match batch {
                Some(batch) => {
                    for item in batch {
                        sink.handle(item, &readiness).await?;
                    }
                }
                None => break,
            },
        }
    }
    reader.abort();
    // Messages already decoded are dropped unprocessed: nothing past the last commit is lost,
    // they are read again by whoever owns the partition next.
    while let Ok(batch) = incoming.try_recv() {
        for item in batch {
            if let Incoming::Rebalance(events) = item {
                sink.apply_events(events, &readiness).await?;
            }
        }
    }
    tracing::info!("shutdown: writing every open segment and committing");
    let late: Vec<RebalanceEvent> = sink
        .events
        .lock()
        .map(|mut e| std::mem::take(&mut *e))
        .unwrap_or_default();
    sink.apply_events(late, &readiness).await?;
    let partitions: Vec<i32> = sink.segments.keys().copied().collect();
    for p in partitions {
        sink.rotate(p).await?;
    }
    while let Some(joined) = sink.writes.join_next().await {
        sink.finish_write(joined).await?;
    }
    sink.commit_all_sync();
    Ok(sink.summary)
}

/// What a segment being written still holds, for the memory limits.
struct InFlight {
    bytes: usize,
    files: usize,
}

/// What the reading task hands to the main loop.
// `Message` is nearly every item; boxing it to shrink the rare variants would cost an
// allocation per message.
#[allow(clippy::large_enum_variant)]
enum Incoming {
    Rebalance(Vec<RebalanceEvent>),
    Message {
        partition: i32,
        offset: i64,
        payload_len: usize,
        /// The record, or why not with the original message for the dead-letter topic.
        record: Result<stockfeed_record::Record, (String, OwnedMessage)>,
    },
    Error(String),
}

/// Most messages the reading task hands over at once. Handing over one message at a time
/// cost more in thread wake-ups than decoding it, and each batch starts a helper thread to
/// decode half of it; a batch of this size is read and decoded in ~15 ms at 300,000 records/s,
/// so rebalances and shutdown are not held up (events also end a batch early).
const READ_BATCH: usize = 4096;

/// Batches that may wait in the channel: with `READ_BATCH`, up to ~16,000 decoded records
/// read ahead of the bookkeeping.
const READ_AHEAD_BATCHES: usize = 4;

/// Reads messages, decodes and validates them, and forwards them in batches with the
/// rebalance events raised while reading, until shutdown or the main loop goes away.
///
/// Order is kept: events taken after a message was returned go ahead of that message (as
/// librdkafka raised them before returning it), so a batch ends where events arrive.
async fn read_and_decode(
    consumer: Arc<StreamConsumer<SinkContext>>,
    events: Arc<Mutex<Vec<RebalanceEvent>>>,
    out: tokio::sync::mpsc::Sender<Vec<Incoming>>,
    shutdown: CancellationToken,
) {
    use futures_util::{FutureExt, StreamExt};
    // One stream for the task's life: `recv` would register and drop a waker per message.
    let mut stream = consumer.stream();
    let take_events = || {
        events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    };
    // Where the reading task waits, logged at debug level: for librdkafka (the broker or the
    // fetch settings are the limit) or for the main loop (bookkeeping or writes are).
    let (mut waited_read, mut waited_send, mut since) =
        (Duration::ZERO, Duration::ZERO, Instant::now());
    loop {
        if since.elapsed() >= Duration::from_secs(5) {
            tracing::debug!(
                waited_for_messages_ms = waited_read.as_millis() as u64,
                waited_for_main_loop_ms = waited_send.as_millis() as u64,
                over_ms = since.elapsed().as_millis() as u64,
                "sink reader waits"
            );
            (waited_read, waited_send, since) = (Duration::ZERO, Duration::ZERO, Instant::now());
        }
        let reading = Instant::now();
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            // Wake up now and then so rebalance events are forwarded when no message comes.
            () = tokio::time::sleep(Duration::from_millis(200)) => None,
            msg = stream.next() => msg,
        };
        waited_read += reading.elapsed();
        // One clock read per batch: records are checked against "now" only to refuse event
        // times far in the future, where a millisecond does not matter.
        let now = Utc::now();
        let mut batch = Vec::with_capacity(if first.is_some() { READ_BATCH } else { 1 });
        let mut next = first;
        loop {
            let pending = take_events();
            if !pending.is_empty() {
                if !batch.is_empty() && out.send(decode_batch(batch, now)).await.is_err() {
                    return;
                }
                batch = vec![Read::Rebalance(pending)];
            }
            match next {
                None => break,
                Some(Err(e)) => batch.push(Read::Error(e.to_string())),
                Some(Ok(m)) => batch.push(Read::Message(m)),
            }
            if batch.len() >= READ_BATCH {
                break;
            }
            // Take what librdkafka already holds without waiting for more.
            next = match stream.next().now_or_never() {
                Some(Some(msg)) => Some(msg),
                _ => break,
            };
        }
        let decoded = decode_batch(batch, now);
        let sending = Instant::now();
        if !decoded.is_empty() && out.send(decoded).await.is_err() {
            return;
        }
        waited_send += sending.elapsed();
    }
}

/// What was read, in order, before decoding.
enum Read<'a> {
    Rebalance(Vec<RebalanceEvent>),
    Message(rdkafka::message::BorrowedMessage<'a>),
    Error(String),
}

impl Read<'_> {
    fn decode(self, now: chrono::DateTime<Utc>) -> Incoming {
        match self {
            Read::Rebalance(events) => Incoming::Rebalance(events),
            Read::Message(m) => decode(&m, now),
            Read::Error(e) => Incoming::Error(e),
        }
    }
}

/// Batches smaller than this are decoded on the reading task alone.
const PARALLEL_DECODE_MIN: usize = 256;

/// Decodes a batch in order. JSON decoding is most of the sink's work per record, so a large
/// batch is split in two halves decoded at once, the second on a scoped thread (librdkafka's
/// messages may be read from any thread). The task steps out of the async worker pool for
/// that (`block_in_place`), which needs the multi-threaded runtime the binary runs on.
fn decode_batch(mut batch: Vec<Read<'_>>, now: chrono::DateTime<Utc>) -> Vec<Incoming> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if batch.len() < PARALLEL_DECODE_MIN || !multi_thread {
        return batch.into_iter().map(|r| r.decode(now)).collect();
    }
    let second = batch.split_off(batch.len() / 2);
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let helper = scope.spawn(move || {
                second
                    .into_iter()
                    .map(|r| r.decode(now))
                    .collect::<Vec<_>>()
            });
            let mut decoded: Vec<Incoming> = batch.into_iter().map(|r| r.decode(now)).collect();
            match helper.join() {
                Ok(rest) => decoded.extend(rest),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            decoded
        })
    })
}

fn decode(m: &rdkafka::message::BorrowedMessage<'_>, now: chrono::DateTime<Utc>) -> Incoming {
    let payload_len = m.payload().map_or(0, <[u8]>::len);
    let record = decode_message(m.headers(), m.key(), m.payload(), now)
        .map_err(|e| (e.to_string(), m.detach()));
    Incoming::Message {
        partition: m.partition(),
        offset: m.offset(),
        payload_len,
        record,
    }
}

/// Heap a decoded record takes beyond its JSON length (struct, strings, vector slot): counted so
/// that `maxBufferedBytes` bounds real memory, not just payload bytes.
const RECORD_OVERHEAD: usize = 320;

/// The file extension of a format, known before encoding so keys and manifests can be planned.
fn file_extension(format: Format, options: &FormatOptions) -> &'static str {
    match format {
        Format::Parquet => "parquet",
        Format::Jsonl if options.jsonl_gzip => "jsonl.gz",
        Format::Jsonl => "jsonl",
        Format::Csv => "csv",
    }
}

/// Largest payload sent whole to the dead-letter topic: librdkafka's default `message.max.bytes`
/// (1,000,000) counts key and headers too, and a DLQ topic may allow less than its source.
const DLQ_MAX_PAYLOAD: usize = 512 * 1024;
/// What a dead letter above [`DLQ_MAX_PAYLOAD`] keeps of its payload; the rest is in the lake.
const DLQ_TRUNCATED_PAYLOAD: usize = 64 * 1024;

/// Where the whole of an oversized dead letter is kept, under the lake's bookkeeping.
fn dlq_original_key(topic: &str, partition: i32, offset: i64) -> String {
    format!("_stockfeed/dlq/{topic}/{partition}/{offset:020}.bin")
}

/// How long librdkafka waits to fetch again after its queue was full (see `consumer_config`).
const FETCH_QUEUE_BACKOFF_MS: &str = "50";

fn consumer_config(mut base: ClientConfig, config: &SinkConfig) -> ClientConfig {
    base.set("group.id", config.group_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set(
            "session.timeout.ms",
            config.kafka.session_timeout.as_millis().to_string(),
        )
        .set("statistics.interval.ms", "5000")
        // librdkafka prefetches into its own queue; cap it so the memory bound holds.
        .set(
            "queued.max.messages.kbytes",
            (config.sink.memory.buffered_bytes() / 4 / 1024)
                .clamp(1024, 65536)
                .to_string(),
        )
        // The sink reads slower than the broker serves, so that queue fills; librdkafka then
        // stops fetching for `fetch.queue.backoff.ms` (default 1 s) and the sink idled, half
        // of its time waiting for messages while the cores were a third idle.
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("enable.partition.eof", "false");
    if let Some(id) = &config.kafka.instance_id {
        base.set("group.instance.id", id);
    }
    base
}

impl Sink {
    /// One item from the reading task.
    async fn handle(&mut self, item: Incoming, readiness: &SinkReadiness) -> Result<(), SinkError> {
        match item {
            Incoming::Rebalance(events) => self.apply_events(events, readiness).await?,
            Incoming::Message {
                partition,
                offset,
                payload_len,
                record,
            } => {
                if self.already_taken(partition, offset) {
                    return Ok(());
                }
                let record = match record {
                    Ok(record) => Some(record),
                    Err((reason, original)) => {
                        self.dead_letter(&original, &reason).await?;
                        None
                    }
                };
                self.accept(partition, offset, record, payload_len).await?;
            }
            Incoming::Error(e) => {
                self.metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        class: "consume".into(),
                    })
                    .inc();
                tracing::warn!(error = %e, "consume error");
            }
        }
        Ok(())
    }

    /// A message at or behind what the partition has already taken: below where it resumed
    /// (the lake's checkpoint, ahead of Kafka's offset: fetched before the seek took effect),
    /// or delivered again after that seek. Already in the lake or in the open segment, and
    /// dead-lettered already if poison.
    fn already_taken(&self, partition: i32, offset: i64) -> bool {
        match self.segments.get(&partition) {
            Some(seg) => offset < seg.next,
            None => self
                .next_start
                .get(&partition)
                .is_some_and(|start| offset < *start),
        }
    }

    async fn apply_events(
        &mut self,
        events: Vec<RebalanceEvent>,
        readiness: &SinkReadiness,
    ) -> Result<(), SinkError> {
        for event in events {
            match event {
                RebalanceEvent::Revoked(ps) => {
                    for p in ps {
                        if let Some(seg) = self.segments.remove(&p) {
                            tracing::info!(
                                partition = p,
                                start = seg.start,
                                records = seg.record_count(),
                                "abandoning unwritten segment of a revoked partition"
                            );
                        }
                        self.next_start.remove(&p);
                        self.newest_event.remove(&p);
                        self.bar_states.remove(&p);
                        self.paused.remove(&p);
                        *self.epochs.entry(p).or_default() += 1;
                    }
                }
                RebalanceEvent::Assigned(ps) => {
                    self.resume_points(&ps).await?;
                    readiness
                        .joined
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        self.update_gauges();
        Ok(())
    }

    /// Bytes held by open segments and by segments still being written.
    fn buffered_bytes(&self) -> usize {
        self.segments.values().map(|s| s.bytes).sum::<usize>()
            + self.writing.values().map(|w| w.bytes).sum::<usize>()
    }

    fn update_gauges(&self) {
        let buffered = self.buffered_bytes();
        self.metrics.buffered_bytes.set(buffered as i64);
        self.metrics.open_files.set(self.open_files() as i64);
    }

    /// Files of open segments and of segments still being written.
    fn open_files(&self) -> usize {
        self.segments
            .values()
            .map(Segment::open_files)
            .sum::<usize>()
            + self.writing.values().map(|w| w.files).sum::<usize>()
    }

    /// Adds one consumed message (a record, or `None` for a dead-lettered one) to its segment.
    async fn accept(
        &mut self,
        partition: i32,
        offset: i64,
        record: Option<stockfeed_record::Record>,
        payload_len: usize,
    ) -> Result<(), SinkError> {
        // A segment that must end at a known offset (an adopted manifest) is written as soon as
        // the stream reaches that offset.
        if let Some(seg) = self.segments.get(&partition)
            && seg.required_end.is_some_and(|end| offset >= end)
        {
            self.rotate(partition).await?;
        }
        if !self.segments.contains_key(&partition) {
            let start = self.next_start.get(&partition).copied().unwrap_or(offset);
            let mut seg = Segment::new(partition, start);
            seg.required_end = self.existing_cut(partition, start).await?;
            self.segments.insert(partition, seg);
        }
        let Some(seg) = self.segments.get_mut(&partition) else {
            return Ok(());
        };
        match record {
            Some(record) => {
                let ts = record.event_ts();
                let newest = self.newest_event.entry(partition).or_insert(ts);
                if ts < *newest {
                    self.metrics
                        .lateness
                        .observe((*newest - ts).num_milliseconds() as f64 / 1000.0);
                } else {
                    *newest = ts;
                }
                seg.push(
                    offset,
                    record,
                    payload_len + RECORD_OVERHEAD,
                    &self.partition_by,
                );
            }
            None => seg.skip(offset),
        }
        let flush = self.config.sink.flush;
        // A segment with a recorded cut ends there, whatever the limits say now (they may have
        // been lowered since): cutting it early would only meet the same manifest again.
        let full = seg.required_end.is_none()
            && (seg.record_count() >= flush.max_records || seg.bytes >= flush.max_bytes);
        let done = seg.required_end.is_some_and(|end| seg.next >= end);
        if full || done {
            self.rotate(partition).await?;
        }
        self.enforce_memory_cap().await
    }

    /// Where each newly assigned partition's first segment starts: the group's committed
    /// offset, which is the end of the last segment anyone committed, or the lake's checkpoint
    /// when it is further on (Kafka's offsets lost: see `checkpoint.rs`). A running sink starts
    /// each segment where the last one ended, so both paths name a segment by the same offset.
    /// The first consumed offset would not do: with transactional producers a commit marker
    /// sits at the committed offset, so a restarted sink would name the segment one higher
    /// than the manifest of the writer before it, miss its cut, and write its records again.
    /// When neither knows (a new group on a new lake) the first consumed offset is used.
    async fn resume_points(&mut self, partitions: &[i32]) -> Result<(), SinkError> {
        let new: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !self.next_start.contains_key(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        // A partition paused before a revocation may come back paused (librdkafka keeps the
        // flag per partition); nothing of ours is paused on a fresh assignment.
        let mut tpl = TopicPartitionList::new();
        for p in &new {
            tpl.add_partition(&self.topic, *p);
        }
        let _ = self.consumer.resume(&tpl);
        // A blocking OffsetFetch, once per assignment, before any message of it is handled.
        let mut committed: HashMap<i32, i64> = HashMap::new();
        match self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
        {
            Ok(list) => {
                for e in list.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        committed.insert(e.partition(), o);
                    }
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot read the committed offsets; resuming from the lake's checkpoints"
            ),
        }
        for p in new {
            let kafka = committed.get(&p).copied();
            let lake = self.lake_checkpoint(p).await?;
            let Some(resume) = crate::checkpoint::resume_offset(kafka, lake) else {
                continue;
            };
            if lake == Some(resume) && kafka != Some(resume) {
                self.resume_from_lake(p, kafka, resume)?;
            }
            self.next_start.insert(p, resume);
        }
        Ok(())
    }

    /// The end recorded in the partition's lake checkpoint, if there is one.
    async fn lake_checkpoint(&self, partition: i32) -> Result<Option<i64>, SinkError> {
        let key = checkpoint_key(&self.topic, partition);
        let Some(bytes) = self
            .retry("get lake checkpoint", || self.store.get(&key))
            .await?
        else {
            return Ok(None);
        };
        crate::checkpoint::Checkpoint::parse(&bytes)
            .map(|c| Some(c.end))
            .map_err(|e| SinkError::Unreadable {
                what: "lake checkpoint",
                key,
                error: e.to_string(),
            })
    }

    /// Moves a partition on to the lake's checkpoint, past what Kafka's offset says (or
    /// where Kafka has none), after checking the topic reaches that far.
    fn resume_from_lake(
        &mut self,
        partition: i32,
        kafka: Option<i64>,
        lake: i64,
    ) -> Result<(), SinkError> {
        let (_, high) = self
            .consumer
            .fetch_watermarks(&self.topic, partition, Duration::from_secs(10))
            .map_err(SinkError::Consumer)?;
        if lake > high {
            return Err(SinkError::LakeAhead {
                topic: self.topic.clone(),
                partition,
                lake,
                high,
                key: checkpoint_key(&self.topic, partition),
            });
        }
        tracing::warn!(
            partition,
            kafka_committed = ?kafka,
            lake_checkpoint = lake,
            "the lake holds this partition further than the group's committed offset \
             (offsets expired, another group, or a reset); resuming from the lake"
        );
        self.metrics.resumed_from_lake.inc();
        if let Err(e) = self.consumer.seek(
            &self.topic,
            partition,
            Offset::Offset(lake),
            Duration::from_secs(10),
        ) {
            // Not needed for correctness (messages below are skipped as they come), only to
            // avoid reading them.
            tracing::warn!(partition, error = %e, "cannot seek to the lake's checkpoint; skipping up to it");
        }
        // Bring the group up to the lake now: with nothing new to read no segment would commit,
        // and the group would show lag for records that are in the lake.
        self.commit(partition, lake, CommitMode::Async);
        Ok(())
    }

    /// The cut recorded by an earlier writer for a segment starting at `start`, if any.
    async fn existing_cut(&self, partition: i32, start: i64) -> Result<Option<i64>, SinkError> {
        let key = manifest_key(&self.topic, partition, start);
        let found = self.read_manifest(&key).await?;
        if let Some(m) = &found {
            tracing::info!(
                partition,
                start,
                end = m.end,
                "found an earlier cut for this segment; adopting it"
            );
            if m.records > self.config.sink.flush.max_records as u64 {
                tracing::warn!(
                    partition,
                    start,
                    records = m.records,
                    max_records = self.config.sink.flush.max_records,
                    "the adopted cut holds more records than flush.maxRecords allows now (limits \
                     lowered since it was cut?); it is completed whole, within the memory cap by \
                     pausing other partitions if need be"
                );
            }
        }
        Ok(found.map(|m| m.end))
    }

    /// The manifest at `key`, if there is one. An unreadable one stops the sink: ignoring it
    /// would cut this segment differently from the writer that recorded it, the same records
    /// under a second name.
    async fn read_manifest(&self, key: &str) -> Result<Option<Manifest>, SinkError> {
        let Some(bytes) = self.retry("get manifest", || self.store.get(key)).await? else {
            return Ok(None);
        };
        Manifest::parse(&bytes)
            .map(Some)
            .map_err(|e| SinkError::Unreadable {
                what: "manifest",
                key: key.to_owned(),
                error: e.to_string(),
            })
    }

    async fn rotate_aged(&mut self) -> Result<(), SinkError> {
        let max_age = self.config.sink.flush.max_age;
        let aged: Vec<i32> = self
            .segments
            .iter()
            .filter(|(_, s)| {
                s.opened.elapsed() >= max_age && s.required_end.is_none() && !s.is_empty()
            })
            .map(|(p, _)| *p)
            .collect();
        for p in aged {
            self.rotate(p).await?;
        }
        Ok(())
    }

    async fn enforce_memory_cap(&mut self) -> Result<(), SinkError> {
        loop {
            if !self.over_memory_cap() {
                self.resume_paused();
                // The gauges follow on the next tick: setting them here repeated both sums
                // after every record.
                return Ok(());
            }
            let Some(largest) = self
                .segments
                .iter()
                .filter(|(_, s)| s.required_end.is_none() && s.record_count() > 0)
                .max_by_key(|(_, s)| s.bytes)
                .map(|(p, _)| *p)
            else {
                // Everything is being written already: wait for a write to release its bytes.
                if !self.writes.is_empty() {
                    self.finish_next_write().await?;
                    continue;
                }
                // What is left are adopted cuts, which must be read whole before they can be
                // written: complete them one at a time, the others' fetching paused.
                self.pause_for_adopted_cut();
                return Ok(());
            };
            tracing::debug!(
                partition = largest,
                "memory cap reached: writing the largest segment early"
            );
            self.rotate(largest).await?;
        }
    }

    /// Over the memory cap with only adopted cuts held (after a crash, every partition's
    /// restart adopts the cut its last writer recorded, each to be held whole, and together
    /// they can be many times the cap): pauses fetching for every assigned partition but the
    /// one closest to its cut, so that they complete one after another within the cap instead
    /// of all at once, out of memory, and again at every restart.
    fn pause_for_adopted_cut(&mut self) {
        // Stay with the cut being completed until it is: switching to whichever is closest
        // would let every partition's read-ahead through in turn.
        let current = self
            .completing
            .filter(|p| self.segments.get(p).is_some_and(Segment::short_of_its_cut));
        let Some(keep) = current.or_else(|| {
            self.segments
                .iter()
                .filter(|(_, s)| s.short_of_its_cut())
                .min_by_key(|(_, s)| s.end() - s.next)
                .map(|(p, _)| *p)
        }) else {
            return;
        };
        self.completing = Some(keep);
        let assigned = match self.consumer.assignment() {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the assignment to pause fetching");
                return;
            }
        };
        // The partition to complete may have been paused for another that has completed since.
        if self.paused.remove(&keep) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&self.topic, keep);
            if let Err(e) = self.consumer.resume(&tpl) {
                tracing::warn!(partition = keep, error = %e, "cannot resume fetching");
            }
        }
        let mut pause = TopicPartitionList::new();
        for e in assigned.elements() {
            let p = e.partition();
            if p != keep && !self.paused.contains(&p) {
                pause.add_partition(&self.topic, p);
            }
        }
        if pause.count() == 0 {
            return;
        }
        match self.consumer.pause(&pause) {
            Ok(()) => {
                self.metrics.paused_for_adopted_cuts.inc();
                self.paused
                    .extend(pause.elements().iter().map(|e| e.partition()));
                tracing::info!(
                    completing = keep,
                    paused = ?self.paused,
                    buffered_bytes = self.buffered_bytes(),
                    "memory cap reached by adopted cuts: completing one, the other partitions paused"
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot pause fetching"),
        }
    }

    /// While fetching is paused for adopted cuts: resumes it once back under the cap, or moves
    /// on to the next adopted cut when the one being completed is done. Called every tick and
    /// after every write, since with the others paused no message may come to trigger it.
    fn review_pauses(&mut self) {
        if self.paused.is_empty() {
            return;
        }
        if self.over_memory_cap() {
            self.pause_for_adopted_cut();
        } else {
            self.resume_paused();
        }
    }

    fn over_memory_cap(&self) -> bool {
        let memory = self.config.sink.memory;
        self.buffered_bytes() > memory.buffered_bytes() || self.open_files() > memory.max_open_files
    }

    /// Resumes fetching of the partitions [`pause_for_adopted_cut`] paused.
    fn resume_paused(&mut self) {
        if self.paused.is_empty() {
            return;
        }
        self.completing = None;
        let mut tpl = TopicPartitionList::new();
        for p in self.paused.drain() {
            tpl.add_partition(&self.topic, p);
        }
        if let Err(e) = self.consumer.resume(&tpl) {
            tracing::warn!(error = %e, "cannot resume fetching");
        } else {
            tracing::info!("back under the memory cap: fetching every partition again");
        }
    }

    /// Cuts one partition's segment: its manifest, derived bars and file plan, then hands
    /// the files to a background write; the commit follows in `finish_write` (see the module docs).
    async fn rotate(&mut self, partition: i32) -> Result<(), SinkError> {
        // One write per partition at a time, so its commits stay in offset order.
        self.wait_for_write(partition).await?;
        let Some(mut seg) = self.segments.remove(&partition) else {
            return Ok(());
        };
        if seg.is_empty() {
            return Ok(());
        }
        // An adopted cut (an earlier writer recorded where this segment ends) that this sink
        // has not read up to yet: writing it now would create the cut's files from part of its
        // records and commit offsets that were never written. Keep reading; at shutdown the
        // segment is dropped with its partition and the next owner completes the same cut.
        if seg.short_of_its_cut() {
            tracing::info!(
                partition,
                start = seg.start,
                read_to = seg.next,
                cut_end = ?seg.required_end,
                "not writing an adopted cut before it is reached"
            );
            self.segments.insert(partition, seg);
            return Ok(());
        }
        // Records past a recorded cut (a writer that stalled while another cut the same
        // offsets, or one that read ahead of an adopted cut) belong to the segments after it,
        // under their own names: write the cut as recorded, then go on from its end, adopting
        // the next recorded cut if there is one.
        if seg.holds_past_its_cut() {
            let cut = seg.end();
            let rest = seg.split_off(cut, &self.partition_by);
            self.segments.insert(partition, seg);
            Box::pin(self.rotate(partition)).await?;
            return self.continue_after_cut(partition, rest).await;
        }
        let started = Instant::now();
        let end = seg.end();
        let extension = file_extension(self.format, &self.format_options);
        let manifest = Manifest {
            version: 1,
            topic: self.topic.clone(),
            partition,
            start: seg.start,
            end,
            files: seg.file_keys(&self.topic, extension),
            records: seg.record_count() as u64,
        };
        let key = manifest_key(&self.topic, partition, seg.start);
        let outcome = self
            .retry("put manifest", || {
                self.store
                    .put_if_absent(&key, manifest.to_bytes(), "application/json")
            })
            .await?;
        if outcome == PutOutcome::AlreadyExists {
            let existing = self.read_manifest(&key).await?;
            if let Some(existing) = existing
                && existing.end != end
            {
                // Another writer recorded this segment first. A longer cut waits for more
                // records; a shorter one is written as recorded and the rest goes on after it.
                tracing::info!(
                    partition,
                    start = seg.start,
                    end = existing.end,
                    "another writer cut this segment first; adopting its cut"
                );
                seg.required_end = Some(existing.end);
                self.segments.insert(partition, seg);
                return Box::pin(self.rotate(partition)).await;
            }
        }

        let derived = match self.bars {
            Some(bars) => Some(self.derive_bars(bars, &seg, extension).await?),
            None => None,
        };
        let mut files = seg.take_plan(&self.topic, extension);
        let mut bar_state = None;
        if let Some((bar_files, state)) = derived {
            files.extend(bar_files);
            bar_state = Some((bar_state_key(&self.topic, partition, end), state.to_bytes()));
            self.bar_states.insert(partition, (end, state));
            self.metrics.bars_open.set(
                self.bar_states
                    .values()
                    .map(|(_, s)| s.open_bars())
                    .sum::<usize>() as i64,
            );
        }
        // The next segment of this partition starts here whether or not this one is written
        // yet; the commit waits for the write.
        self.next_start.insert(partition, end);
        self.writing.insert(
            partition,
            InFlight {
                bytes: seg.bytes,
                files: files.len(),
            },
        );
        let job = SegmentWrite {
            partition,
            start: seg.start,
            end,
            epoch: self.epochs.get(&partition).copied().unwrap_or_default(),
            files,
            bar_state,
            checkpoint: (
                checkpoint_key(&self.topic, partition),
                crate::checkpoint::Checkpoint::new(&self.topic, partition, end).to_bytes(),
            ),
            bytes: seg.bytes,
            cut_at: started,
        };
        let context = WriteContext {
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            format: self.format,
            options: self.format_options.clone(),
            encoders: self.encoders.clone(),
            health: self.store_health.clone(),
        };
        self.writes.spawn(write_segment(job, context));
        self.update_gauges();
        Ok(())
    }

    /// Carries on after a recorded cut with the records read past it: they start the next
    /// segment, which adopts the cut recorded for it (if any) and is written at once when it
    /// is already complete (a stalled writer may hold several recorded cuts' worth).
    async fn continue_after_cut(
        &mut self,
        partition: i32,
        mut rest: Segment,
    ) -> Result<(), SinkError> {
        if rest.is_empty() {
            return Ok(());
        }
        rest.required_end = self.existing_cut(partition, rest.start).await?;
        let complete = rest.required_end.is_some_and(|cut| rest.next >= cut);
        self.segments.insert(partition, rest);
        if complete {
            Box::pin(self.rotate(partition)).await?;
        }
        Ok(())
    }

    /// Waits until no write of `partition` is in flight, finishing the writes that end
    /// meanwhile (of any partition).
    async fn wait_for_write(&mut self, partition: i32) -> Result<(), SinkError> {
        if !self.writing.contains_key(&partition) {
            return Ok(());
        }
        let waiting = Instant::now();
        while self.writing.contains_key(&partition) {
            if self.writes.is_empty() {
                self.writing.clear();
                break;
            }
            self.finish_next_write().await?;
        }
        // Reading stalls meanwhile: frequent waits mean writes are slower than reads.
        tracing::debug!(
            partition,
            waited_ms = waiting.elapsed().as_millis() as u64,
            "waited for the partition's previous segment write"
        );
        Ok(())
    }

    async fn finish_next_write(&mut self) -> Result<(), SinkError> {
        match self.writes.join_next().await {
            Some(joined) => self.finish_write(joined).await,
            None => Ok(()),
        }
    }

    /// Books a finished write and commits past its segment, unless the partition was revoked
    /// since the cut (its next owner replays the segment into the same files).
    async fn finish_write(
        &mut self,
        joined: Result<Result<WriteDone, SinkError>, tokio::task::JoinError>,
    ) -> Result<(), SinkError> {
        let done =
            joined.map_err(|e| SinkError::Config(format!("segment writer task failed: {e}")))??;
        self.writing.remove(&done.partition);
        for file in &done.files {
            let labels = KindLabels {
                kind: file.dataset.to_string(),
            };
            if file.created {
                self.metrics.files_written.get_or_create(&labels).inc();
                self.metrics.bytes_written.inc_by(file.bytes as u64);
                self.summary.files_written += 1;
            } else {
                self.metrics.files_already_present.inc();
            }
            self.metrics
                .records_written
                .get_or_create(&labels)
                .inc_by(file.rows as u64);
            if file.dataset == Dataset::Bars1m {
                self.summary.derived_bars += file.rows as u64;
            } else {
                self.summary.records_written += file.rows as u64;
            }
        }
        let epoch = self
            .epochs
            .get(&done.partition)
            .copied()
            .unwrap_or_default();
        if epoch != done.epoch {
            tracing::info!(
                partition = done.partition,
                start = done.start,
                end = done.end,
                "segment written after its partition was revoked; leaving the commit to the next owner"
            );
            self.update_gauges();
            return Ok(());
        }
        if self.dlq_pending {
            self.dlq
                .flush(Duration::from_secs(60))
                .await
                .map_err(|e| SinkError::Dlq(WriterError::Enqueue(e)))?;
            self.dlq_pending = false;
            // A dead letter the broker refused (no Write ACL on the DLQ, a record too large for
            // it) is in neither the lake nor the DLQ: committing past it would lose it. Stop
            // before the commit; the records are read again once the DLQ accepts them.
            let refused = self.dlq.take_failures();
            if let Some(first) = refused.first() {
                self.metrics.dlq_refused.inc_by(refused.len() as u64);
                return Err(SinkError::DlqRefused {
                    topic: first.topic.clone(),
                    count: refused.len(),
                    error: first.error.to_string(),
                    partition: done.partition,
                    end: done.end,
                });
            }
        }
        self.commit(done.partition, done.end, CommitMode::Async);
        tracing::debug!(
            partition = done.partition,
            start = done.start,
            end = done.end,
            files = done.files.len(),
            rows = done.files.iter().map(|f| f.rows).sum::<usize>(),
            since_cut_ms = done.cut_at.elapsed().as_millis() as u64,
            "segment written and committed"
        );
        self.summary.segments += 1;
        self.review_pauses();
        self.metrics.segments_committed.inc();
        self.metrics
            .flush_latency
            .observe(done.cut_at.elapsed().as_secs_f64());
        self.update_gauges();
        Ok(())
    }

    /// Folds a segment's trades into its partition's bar state (as of the segment's start) and
    /// plans the files of the bars it closes, named after the segment like its other files.
    async fn derive_bars(
        &mut self,
        bars: DerivedBars,
        seg: &Segment,
        extension: &str,
    ) -> Result<(Vec<PlannedFile>, BarState), SinkError> {
        let mut state = self.bar_state_at(seg.partition, seg.start).await?;
        let lateness = chrono::Duration::from_std(bars.allowed_lateness)
            .map_err(|e| SinkError::Config(format!("sink.derivedBars.allowedLateness: {e}")))?;
        let folded = state.fold(seg.records_in_offset_order(), lateness);
        self.metrics.bar_late_trades.inc_by(folded.late_trades);
        if folded.unrepresentable > 0 {
            tracing::warn!(
                partition = seg.partition,
                bars = folded.unrepresentable,
                "bars with a volume beyond DECIMAL(18, 8) left out of bar_1m"
            );
        }
        let name = file_name(&self.topic, seg.partition, seg.start, extension);
        let mut files: Vec<PlannedFile> = Vec::new();
        for bar in folded.closed {
            let dir = partition_dir_in(
                &self.partition_by,
                Dataset::Bars1m,
                bar.event_ts,
                bar.symbol.as_str(),
            );
            let key = format!("{dir}{name}");
            let record = stockfeed_record::Record::Bar(bar);
            match files.iter_mut().find(|f| f.key == key) {
                Some(file) => file.records.push(record),
                None => files.push(PlannedFile {
                    key,
                    dataset: Dataset::Bars1m,
                    kind: RecordKind::Bar,
                    records: vec![record],
                }),
            }
        }
        Ok((files, state))
    }

    /// The bar state of a partition as of `offset`: kept from the previous segment, or saved
    /// in the lake by whoever wrote the segment ending there.
    async fn bar_state_at(&mut self, partition: i32, offset: i64) -> Result<BarState, SinkError> {
        if let Some((at, state)) = self.bar_states.remove(&partition)
            && at == offset
        {
            return Ok(state);
        }
        let key = bar_state_key(&self.topic, partition, offset);
        let bytes = self.retry("get bar state", || self.store.get(&key)).await?;
        Ok(match bytes.map(|b| BarState::parse(&b)) {
            Some(Ok(Some(state))) => state,
            Some(Ok(None)) => {
                tracing::warn!(partition, offset, %key, "bar state of another version; bars start afresh here");
                BarState::default()
            }
            // Starting afresh would write different bars than the writer before (a replay
            // must give the same files): stop, naming the object.
            Some(Err(e)) => {
                return Err(SinkError::Unreadable {
                    what: "bar state",
                    key,
                    error: e.to_string(),
                });
            }
            None => {
                tracing::info!(
                    partition,
                    offset,
                    "no saved bar state at this offset (first segment, or bars newly enabled); bars start here"
                );
                BarState::default()
            }
        })
    }

    fn commit(&self, partition: i32, end: i64, mode: CommitMode) {
        let mut tpl = TopicPartitionList::new();
        if let Err(e) = tpl.add_partition_offset(&self.topic, partition, Offset::Offset(end)) {
            tracing::error!(error = %e, "cannot build the commit");
            return;
        }
        if let Err(e) = self.consumer.commit(&tpl, mode) {
            // Harmless for correctness: the segment replays into the same files.
            self.metrics
                .errors
                .get_or_create(&ErrorLabels {
                    class: "commit".into(),
                })
                .inc();
            tracing::warn!(partition, end, error = %e, "offset commit failed (partition revoked or group fenced?)");
        }
    }

    fn commit_all_sync(&self) {
        let mut tpl = TopicPartitionList::new();
        for (p, end) in &self.next_start {
            let _ = tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*end));
        }
        if tpl.count() > 0
            && let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync)
        {
            tracing::warn!(error = %e, "final offset commit failed; the last segments will be replayed into the same files");
        }
    }

    async fn dead_letter<M: Message>(&mut self, msg: &M, reason: &str) -> Result<(), SinkError> {
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let time = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: stockfeed_kafka::dlq::HEADER_REASON,
                value: Some(reason),
            })
            .insert(Header {
                key: stockfeed_kafka::dlq::HEADER_STAGE,
                value: Some("sink"),
            })
            .insert(Header {
                key: stockfeed_kafka::dlq::HEADER_TIME,
                value: Some(time.as_str()),
            })
            .insert(Header {
                key: "sf-source-topic",
                value: Some(self.topic.as_str()),
            })
            .insert(Header {
                key: "sf-source-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "sf-source-offset",
                value: Some(offset.as_str()),
            });
        if let Some(original) = msg.headers() {
            for h in original.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let mut payload = msg.payload().unwrap_or_default();
        let original_bytes = payload.len().to_string();
        let original_key;
        if payload.len() > DLQ_MAX_PAYLOAD {
            // Too large for the DLQ producer (or the DLQ topic): a dead letter that can never
            // be produced would stop the partition for good. The whole message goes to the
            // lake's bookkeeping, the DLQ gets its head and where to find the rest.
            original_key = dlq_original_key(&self.topic, msg.partition(), msg.offset());
            let body = payload.to_vec();
            self.retry("put oversized dead letter", || {
                self.store
                    .put_if_absent(&original_key, body.clone(), "application/octet-stream")
            })
            .await?;
            headers = headers
                .insert(Header {
                    key: "sf-dlq-original",
                    value: Some(original_key.as_str()),
                })
                .insert(Header {
                    key: "sf-dlq-original-bytes",
                    value: Some(original_bytes.as_str()),
                });
            payload = &payload[..DLQ_TRUNCATED_PAYLOAD];
        }
        self.dlq
            .send(Outgoing {
                topic: &self.dlq_topic,
                key: msg.key(),
                payload,
                headers,
            })
            .await?;
        self.dlq_pending = true;
        self.summary.dead_letters += 1;
        self.metrics.dlq.inc();
        tracing::debug!(
            partition = msg.partition(),
            offset = msg.offset(),
            reason,
            "poison message dead-lettered"
        );
        Ok(())
    }

    /// Retries a store operation until it succeeds (see [`retry_store`]).
    async fn retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, SinkError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        retry_store(&self.metrics, &self.store_health, what, op).await
    }
}
