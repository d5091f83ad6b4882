//! The producer's configuration file (`stockfeed produce --config producer.yaml`).
//!
//! ```yaml
//! tickers: [AAPL, MSFT, NVDA]
//! source: {provider: synthetic, rate: 1000}
//! kafka:
//!   bootstrapServers: 127.0.0.1:19092
//!   topic: stocks.ticks            # dead letters go to stocks.ticks.dlq unless dlqTopic is set
//! producer: {maxBufferBytes: 67108864, compression: lz4}
//! shard: {index: 0, count: 1}      # or STOCKFEED_SHARD_INDEX / STOCKFEED_SHARD_COUNT
//! metricsAddr: 0.0.0.0:9090
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use stockfeed_record::Symbol;

use crate::kafka::KafkaConnection;
use crate::source::SourceConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProducerConfig {
    pub tickers: Vec<Symbol>,
    pub source: SourceConfig,
    pub kafka: KafkaTarget,
    #[serde(default)]
    pub producer: Tuning,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardConfig>,
    #[serde(default = "default_metrics_addr")]
    pub metrics_addr: SocketAddr,
}

fn default_metrics_addr() -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 9090))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaTarget {
    #[serde(flatten)]
    pub connection: KafkaConnection,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlq_topic: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tuning {
    #[serde(default = "default_buffer")]
    pub max_buffer_bytes: usize,
    #[serde(default = "default_compression")]
    pub compression: String,
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    #[serde(default = "default_dedup")]
    pub dedup_window: usize,
    #[serde(default = "default_shutdown", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Messages per partition read back at start-up so a restart does not re-send what an
    /// earlier run delivered (see `producer::resume`); 0 turns it off.
    #[serde(default = "default_resume_scan")]
    pub resume_scan: u64,
}

/// Defaults of the Kafka writer's settings, here so that the file and the writer
/// (`stockfeed_kafka::WriterSettings::default`) share them.
pub const DEFAULT_MAX_BUFFER_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_COMPRESSION: &str = "lz4";
pub const DEFAULT_LINGER: Duration = Duration::from_millis(20);

fn default_buffer() -> usize {
    DEFAULT_MAX_BUFFER_BYTES
}
fn default_compression() -> String {
    DEFAULT_COMPRESSION.to_owned()
}
fn default_linger() -> Duration {
    DEFAULT_LINGER
}
fn default_dedup() -> usize {
    100_000
}
fn default_resume_scan() -> u64 {
    50_000
}
fn default_shutdown() -> Duration {
    Duration::from_secs(30)
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_buffer_bytes: default_buffer(),
            compression: default_compression(),
            linger: default_linger(),
            dedup_window: default_dedup(),
            shutdown_timeout: default_shutdown(),
            resume_scan: default_resume_scan(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ProducerConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

const COMPRESSIONS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

impl ProducerConfig {
    pub fn load(path: &Path) -> Result<Self, ProducerConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProducerConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|message| ProducerConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and checks; the error names the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let de = serde_yaml::Deserializer::from_str(text);
        let config: ProducerConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            format!("field `{path}`: {}", e.into_inner())
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.tickers.is_empty() || self.tickers.len() > 1000 {
            return Err(format!(
                "field `tickers` must list 1 to 1000 symbols, got {}",
                self.tickers.len()
            ));
        }
        let mut sorted = self.tickers.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("field `tickers` lists {} twice", w[0]));
        }
        if self.kafka.topic.trim().is_empty() {
            return Err("field `kafka.topic` is empty".into());
        }
        if !COMPRESSIONS.contains(&self.producer.compression.as_str()) {
            return Err(format!(
                "field `producer.compression` is `{}`; use one of {}",
                self.producer.compression,
                COMPRESSIONS.join(", ")
            ));
        }
        if self.producer.max_buffer_bytes < 1024 * 1024 {
            return Err("field `producer.maxBufferBytes` must be at least 1 MiB".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let c = ProducerConfig::parse(
            "tickers: [AAPL, MSFT]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\n",
        )
        .unwrap();
        assert_eq!(c.kafka.dlq_topic, None);
        assert_eq!(c.producer.compression, "lz4");
        assert_eq!(c.metrics_addr.port(), 9090);
    }

    #[test]
    fn errors_name_the_field() {
        let bad_ticker =
            ProducerConfig::parse("tickers: [aapl]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\n")
                .unwrap_err();
        assert!(bad_ticker.contains("tickers[0]"), "{bad_ticker}");
        let dup = ProducerConfig::parse(
            "tickers: [AAPL, AAPL]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\n",
        )
        .unwrap_err();
        assert!(dup.contains("AAPL twice"), "{dup}");
        let codec = ProducerConfig::parse(
            "tickers: [AAPL]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\nproducer: {compression: brotli}\n",
        )
        .unwrap_err();
        assert!(codec.contains("producer.compression"), "{codec}");
        let unknown = ProducerConfig::parse(
            "tickers: [AAPL]\nsource: {provider: bloomberg}\nkafka: {bootstrapServers: 'k:9092', topic: t}\n",
        )
        .unwrap_err();
        assert!(unknown.contains("source"), "{unknown}");
    }
}
