//! The sink mode: a StockFeed's topic into the lake, exactly once (see `run.rs`).

pub mod bars;
pub mod config;
pub mod consumer;
pub mod format;
pub mod lake;
pub mod layout;
pub mod manifest;
pub mod run;
pub mod segment;
pub mod storage;
pub mod write;

pub use config::SinkConfig;
pub use run::{SinkError, SinkReadiness, SinkSummary, run_sink};
