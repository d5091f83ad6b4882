//! Kafka conventions and clients shared by every stage: the message format (key, headers), the
//! dead-letter format and topic names, librdkafka settings from a connection, delivery with a
//! bounded buffer, start-up checks and topic administration.
//!
//! It owns everything that speaks the Kafka protocol; it knows nothing of market-data sources,
//! of the lake, or of Kubernetes.

pub mod admin;
pub mod config;
pub mod dlq;
pub mod message;
pub mod metrics;
pub mod preflight;
pub mod writer;

pub use config::{Connect, KafkaConfigError, librdkafka_features};
pub use dlq::{DeadLetter, Stage};
pub use message::{
    CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_KIND, HEADER_SCHEMA_VERSION, MessageError,
    OutgoingMessage, decode_message,
};
pub use metrics::{ErrorLabels, WriterMetrics};
pub use stockfeed_spec::kafka::{KafkaConnection, SaslMechanism, Security, Tls, dlq_topic};
pub use writer::{Failed, KafkaWriter, Outgoing, WriterError, WriterSettings};
