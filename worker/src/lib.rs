//! StockFeed's worker library: the record model, Kafka conventions and client settings, and
//! (as they land) the sources, producer, sink and catalog code that the `stockfeed` binary runs.
//!
//! The operator depends on this crate for shared types; this crate never depends on Kubernetes.

pub mod catalog;
pub mod feed;
/// Entry points of the fuzz targets and their regression test; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka;
pub mod metrics;
pub mod producer;
#[cfg(feature = "query")]
pub mod query;
pub mod record;
pub mod runner;
pub mod secret;
pub mod server;
pub mod sink;
pub mod source;
pub mod telemetry;
