//! Kafka conventions and client settings shared by the producer and the sink.

pub mod admin;
pub mod config;
pub mod message;

pub use config::{KafkaConfigError, KafkaConnection, SaslMechanism, Security, Tls};
pub use message::{
    CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_KIND, HEADER_SCHEMA_VERSION, MessageError,
    OutgoingMessage, decode_message,
};
