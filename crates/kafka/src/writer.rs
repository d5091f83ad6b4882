//! Delivery to Kafka with a bounded buffer.
//!
//! librdkafka batches, compresses and retries; this module adds what it lacks for our needs:
//!
//! - **A byte budget.** Every message takes its size from a semaphore before it is handed to
//!   librdkafka and gives it back when the broker acknowledges it. While the broker is down
//!   nothing is acknowledged, the budget runs out, `send` waits, the pipeline stops reading
//!   from the source, and the source's `Emitter::record` waits: backpressure, with memory
//!   bounded by the budget.
//! - **No silent loss.** `message.timeout.ms=0` makes librdkafka retry a message until it is
//!   delivered, however long the outage; idempotence (with `acks=all`) makes those retries
//!   safe, so nothing is written twice when the broker comes back. A message the broker
//!   refuses for good (too large, no such topic, not authorised) comes back as a
//!   [`Failed`] delivery for the caller to dead-letter or count; none is dropped unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use stockfeed_spec::producer;
use tokio::sync::{Semaphore, mpsc};

use crate::metrics::{ErrorLabels, WriterMetrics};

/// A message Kafka refused permanently.
#[derive(Debug)]
pub struct Failed {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Option<OwnedHeaders>,
    pub error: KafkaError,
}

/// Tuning of the producer; defaults favour throughput with safety.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Most bytes produced but not yet acknowledged.
    pub max_buffer_bytes: usize,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: String,
    pub linger: Duration,
    pub batch_bytes: usize,
}

impl Default for WriterSettings {
    fn default() -> Self {
        WriterSettings {
            max_buffer_bytes: producer::DEFAULT_MAX_BUFFER_BYTES,
            compression: producer::DEFAULT_COMPRESSION.into(),
            linger: producer::DEFAULT_LINGER,
            batch_bytes: 1_000_000,
        }
    }
}

/// Per-message data carried through librdkafka to the delivery callback.
struct Opaque {
    bytes: u32,
    enqueued: Instant,
}

/// Receives librdkafka's delivery reports on its polling thread.
struct DeliveryContext {
    budget: Arc<Semaphore>,
    metrics: WriterMetrics,
    failures: mpsc::UnboundedSender<Failed>,
    in_flight: AtomicU64,
    in_flight_messages: AtomicU64,
    broker_up: AtomicBool,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.broker_up.store(false, Ordering::Relaxed);
        }
        self.metrics
            .errors
            .get_or_create(&ErrorLabels {
                class: "kafka".into(),
            })
            .inc();
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Opaque>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        self.budget.add_permits(opaque.bytes as usize);
        self.in_flight
            .fetch_sub(u64::from(opaque.bytes), Ordering::Relaxed);
        self.in_flight_messages.fetch_sub(1, Ordering::Relaxed);
        self.metrics.buffer_bytes.dec_by(i64::from(opaque.bytes));
        match result {
            Ok(_) => {
                self.broker_up.store(true, Ordering::Relaxed);
                self.metrics.delivered.inc();
                self.metrics
                    .delivery_latency
                    .observe(opaque.enqueued.elapsed().as_secs_f64());
            }
            Err((error, message)) => {
                let failed = Failed {
                    topic: message.topic().to_owned(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers: message
                        .headers()
                        .map(rdkafka::message::BorrowedHeaders::detach),
                    error: error.clone(),
                };
                // The receiver lives as long as the writer; if it is gone we are shutting down
                // and the failure is still counted below.
                let _ = self.failures.send(failed);
                self.metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        class: "delivery".into(),
                    })
                    .inc();
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("cannot create the Kafka producer: {0}")]
    Create(#[source] KafkaError),
    #[error("Kafka refused a message permanently while enqueueing it: {0}")]
    Enqueue(#[source] KafkaError),
}

pub struct KafkaWriter {
    producer: ThreadedProducer<DeliveryContext>,
    budget: Arc<Semaphore>,
    max_buffer_bytes: usize,
    failures: mpsc::UnboundedReceiver<Failed>,
}

/// A message to write.
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
    pub headers: OwnedHeaders,
}

impl KafkaWriter {
    /// `base` carries the connection and security settings (see `kafka::config`).
    pub fn new(
        mut base: ClientConfig,
        settings: &WriterSettings,
        metrics: WriterMetrics,
    ) -> Result<Self, WriterError> {
        let budget = Arc::new(Semaphore::new(settings.max_buffer_bytes));
        let (tx, rx) = mpsc::unbounded_channel();
        let context = DeliveryContext {
            budget: budget.clone(),
            metrics: metrics.clone(),
            failures: tx,
            in_flight: AtomicU64::new(0),
            in_flight_messages: AtomicU64::new(0),
            broker_up: AtomicBool::new(true),
        };
        // librdkafka's own queue is sized above our budget, so QUEUE_FULL only happens if
        // librdkafka's per-message overhead outgrows the headroom; `send` handles it anyway.
        let queue_kbytes = (settings.max_buffer_bytes / 1024 * 2).clamp(1024, 2_097_151);
        base.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "0")
            .set("compression.type", &settings.compression)
            .set("linger.ms", settings.linger.as_millis().to_string())
            .set("batch.size", settings.batch_bytes.to_string())
            .set("queue.buffering.max.kbytes", queue_kbytes.to_string())
            .set("queue.buffering.max.messages", "2000000")
            .set("statistics.interval.ms", "0");
        metrics
            .buffer_capacity_bytes
            .set(settings.max_buffer_bytes as i64);
        let producer = base
            .create_with_context(context)
            .map_err(WriterError::Create)?;
        Ok(KafkaWriter {
            producer,
            budget,
            max_buffer_bytes: settings.max_buffer_bytes,
            failures: rx,
        })
    }

    /// Enqueues one message, waiting while the byte budget is used up (backpressure).
    pub async fn send(&self, msg: Outgoing<'_>) -> Result<(), WriterError> {
        let size = msg.payload.len() + msg.key.map_or(0, <[u8]>::len) + 64;
        // A message larger than the whole budget still goes through, alone.
        let permits = size.min(self.max_buffer_bytes) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(permits).await else {
            return Err(WriterError::Enqueue(KafkaError::Canceled));
        };
        permit.forget();
        let context = self.producer.context();
        context
            .in_flight
            .fetch_add(u64::from(permits), Ordering::Relaxed);
        context.in_flight_messages.fetch_add(1, Ordering::Relaxed);
        context.metrics.buffer_bytes.inc_by(i64::from(permits));
        let mut opaque = Box::new(Opaque {
            bytes: permits,
            enqueued: Instant::now(),
        });
        let mut headers = Some(msg.headers);
        loop {
            let mut record = BaseRecord::with_opaque_to(msg.topic, opaque).payload(msg.payload);
            if let Some(key) = msg.key {
                record = record.key(key);
            }
            if let Some(h) = headers.take() {
                record = record.headers(h);
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    opaque = back.delivery_opaque;
                    headers = back.headers;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, back)) => {
                    // Never reached librdkafka's queue: give the budget back.
                    self.budget.add_permits(back.delivery_opaque.bytes as usize);
                    context
                        .in_flight
                        .fetch_sub(u64::from(permits), Ordering::Relaxed);
                    context.in_flight_messages.fetch_sub(1, Ordering::Relaxed);
                    context.metrics.buffer_bytes.dec_by(i64::from(permits));
                    return Err(WriterError::Enqueue(e));
                }
            }
        }
    }

    /// Permanent delivery failures reported since the last call.
    pub fn take_failures(&mut self) -> Vec<Failed> {
        let mut out = Vec::new();
        while let Ok(f) = self.failures.try_recv() {
            out.push(f);
        }
        out
    }

    /// Waits for the next permanent failure; for a `select!` next to the source.
    pub async fn next_failure(&mut self) -> Option<Failed> {
        self.failures.recv().await
    }

    /// Bytes produced but not yet acknowledged.
    pub fn in_flight_bytes(&self) -> u64 {
        self.producer.context().in_flight.load(Ordering::Relaxed)
    }

    /// Messages produced but not yet acknowledged or failed.
    pub fn in_flight_messages(&self) -> u64 {
        self.producer
            .context()
            .in_flight_messages
            .load(Ordering::Relaxed)
    }

    /// False after librdkafka reported all brokers down, until the next acknowledgement.
    pub fn broker_up(&self) -> bool {
        self.producer.context().broker_up.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for every enqueued message to be acknowledged or to fail.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Short blocking flushes keep the runtime responsive.
            let step = self.producer.flush(Duration::from_millis(100));
            if step.is_ok() || Instant::now() >= deadline {
                return step;
            }
            tokio::task::yield_now().await;
        }
    }
}
