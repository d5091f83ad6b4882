//! StockFeed's worker library: the record model, Kafka conventions and client settings, and
//! (as they land) the sources, producer, sink and catalog code that the `stockfeed` binary runs.
//!
//! The operator depends on this crate for shared types; this crate never depends on Kubernetes.

pub mod catalog;
pub mod feed;
pub mod kafka;
pub mod metrics;
pub mod producer;
pub mod query;
pub mod record;
pub mod runner;
pub mod secret;
pub mod server;
pub mod sink;
pub mod source;
pub mod telemetry;
