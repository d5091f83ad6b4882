//! Why the sink stopped. Shared by the consuming loop (`run.rs`) and the segment writer
//! (`write.rs`), which is why it lives in neither.

use stockfeed_kafka::preflight::PreflightError;
use stockfeed_kafka::writer::WriterError;
use stockfeed_record::RecordKind;

use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    KafkaConfig(#[from] stockfeed_kafka::KafkaConfigError),
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    #[error("cannot create the Kafka consumer: {0}")]
    Consumer(#[source] rdkafka::error::KafkaError),
    #[error("dead-letter producer: {0}")]
    Dlq(#[from] WriterError),
    #[error(
        "the dead-letter topic {topic} refused {count} message(s) ({error}); partition {partition} \
         is not committed past them (would be {end}): grant the sink Write on {topic}, or raise \
         its max.message.bytes"
    )]
    DlqRefused {
        topic: String,
        count: usize,
        error: String,
        partition: i32,
        end: i64,
    },
    #[error("cannot encode {kind} records: {message}")]
    Encode { kind: RecordKind, message: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(
        "the lake holds {topic} partition {partition} up to offset {lake} ({key}) but the topic \
         ends at {high}: it was recreated, or the lake belongs to another topic; the sink stops \
         rather than skip the new records. Delete {key} (and the topic's manifests) to write \
         the new topic into this lake, or point the sink at another prefix"
    )]
    LakeAhead {
        topic: String,
        partition: i32,
        lake: i64,
        high: i64,
        key: String,
    },
    #[error(
        "the lake's {what} {key} is unreadable ({error}); the sink stops rather than cut or fold \
         differently from the writer that saved it: restore or remove that object"
    )]
    Unreadable {
        what: &'static str,
        key: String,
        error: String,
    },
}
