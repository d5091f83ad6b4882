//! The sink: a StockFeed's topic into the lake, exactly once (see `run.rs`): consuming,
//! cutting segments, encoding files (Parquet, JSON lines, CSV), storing them on S3 or a local
//! directory, committing offsets, and deriving 1-minute bars.
//!
//! It reads its configuration from `stockfeed-spec` and the lake's schema and layout from
//! `stockfeed-record`, and speaks Kafka through `stockfeed-kafka`; it knows nothing of
//! market-data sources, of the Glue catalog or of Kubernetes.

pub mod bars;
pub mod checkpoint;
pub mod consumer;
pub mod format;
pub mod lake;
pub mod manifest;
pub mod memory_limit;
pub mod run;
pub mod segment;
pub mod storage;
pub mod write;

pub mod error;
pub mod metrics;

pub use error::SinkError;
pub use run::{SinkReadiness, SinkSummary, run_sink};
pub use stockfeed_spec::sink::SinkConfig;
