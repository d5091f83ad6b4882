//! The sink's configuration file (`stockfeed sink --config sink.yaml`).
//!
//! ```yaml
//! kafka:
//!   bootstrapServers: 127.0.0.1:19092
//!   topic: stocks.ticks              # poison messages go to stocks.ticks.dlq
//!   groupId: stockfeed-sink-stocks   # default: stockfeed-sink-<topic>
//!   instanceId: sink-0               # static membership: a restarted pod keeps its partitions
//! sink:
//!   url: s3://market-lake/raw/stocks/   # or file:///var/lib/stockfeed/lake/
//!   format: parquet                      # parquet | jsonl | csv
//!   partitionBy: [dt, hour]              # [dt] | [dt, hour] | [dt, symbol]
//!   flush: {maxRecords: 100000, maxBytes: 64Mi, maxAge: 60s}
//!   memory: {maxBufferedBytes: 256Mi, maxOpenFiles: 1000}
//!   s3: {endpoint: http://127.0.0.1:19000, forcePathStyle: true}
//!   derivedBars: {enabled: true, allowedLateness: 10s}   # also write bar_1m/ from trades
//! metricsAddr: 0.0.0.0:9091
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use stockfeed_record::lake::layout::{PartitionBy, PartitionKey};

use crate::format::{Format, FormatOptions};
use crate::kafka::KafkaConnection;
use crate::lake::S3Settings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkConfig {
    pub kafka: KafkaSource,
    pub sink: SinkSettings,
    #[serde(default = "default_metrics_addr")]
    pub metrics_addr: SocketAddr,
}

fn default_metrics_addr() -> SocketAddr {
    SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 9091))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaSource {
    #[serde(flatten)]
    pub connection: KafkaConnection,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dlq_topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Static group membership (`group.instance.id`): a sink restarted under the same id takes
    /// its partitions back at once instead of after a session timeout and a rebalance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default = "default_session_timeout", with = "humantime_serde")]
    pub session_timeout: Duration,
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(45)
}

impl KafkaSource {
    /// How long the broker waits for a silent sink before giving its partitions away.
    pub fn default_session_timeout() -> Duration {
        default_session_timeout()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SinkSettings {
    pub url: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub format_options: FormatOptions,
    #[serde(default = "default_partition_by")]
    pub partition_by: Vec<PartitionKey>,
    #[serde(default)]
    pub flush: Flush,
    #[serde(default)]
    pub memory: Memory,
    #[serde(default)]
    pub s3: S3Settings,
    /// 1-minute bars derived from the trades, written as their own table (`bar_1m/`).
    #[serde(default)]
    pub derived_bars: DerivedBars,
}

fn default_partition_by() -> Vec<PartitionKey> {
    PartitionBy::default().keys().to_vec()
}

/// When a partition's segment becomes files. Whichever limit is reached first.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flush {
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    #[serde(default = "default_max_bytes", deserialize_with = "byte_size")]
    pub max_bytes: usize,
    #[serde(default = "default_max_age", with = "humantime_serde")]
    pub max_age: Duration,
}

fn default_max_records() -> usize {
    100_000
}
fn default_max_bytes() -> usize {
    64 * 1024 * 1024
}
fn default_max_age() -> Duration {
    Duration::from_secs(60)
}

impl Default for Flush {
    fn default() -> Self {
        Flush {
            max_records: default_max_records(),
            max_bytes: default_max_bytes(),
            max_age: default_max_age(),
        }
    }
}

/// Bounds on what the sink holds in memory across all partitions. When either is reached, the
/// largest segment is written early (its cut is recorded in its manifest, so this costs
/// smaller files, never exactly-once).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Memory {
    /// Bytes of records held; when left out, [`Memory::auto_buffered_bytes`] of the container's
    /// memory limit (the sink reads its cgroup), or 256 MiB where there is none.
    #[serde(
        default,
        deserialize_with = "optional_byte_size",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_buffered_bytes: Option<usize>,
    /// Most (partition, kind, Hive directory) files being assembled at once.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
}

/// The cap without a memory limit to size it from.
pub const DEFAULT_MAX_BUFFERED: usize = 256 * 1024 * 1024;
/// Share of the container's memory limit given to buffered records. Measured (BENCHMARKS.md,
/// sink at 3M records): the process peaks at its cap plus up to ~250 MiB (encoder, librdkafka,
/// allocator), so 40 % of a 1 GiB limit (410 MiB) peaks near 660 MiB: a third left free.
pub const BUFFERED_SHARE_OF_LIMIT_PERCENT: u64 = 40;
/// Smallest cap sized from a limit; below this, segments get too small to be worth writing.
pub const MIN_AUTO_BUFFERED: usize = 32 * 1024 * 1024;

fn default_max_open_files() -> usize {
    1000
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            max_buffered_bytes: None,
            max_open_files: default_max_open_files(),
        }
    }
}

impl Memory {
    /// The cap in force: the configured one, else [`DEFAULT_MAX_BUFFERED`]. The sink replaces
    /// an unset value with [`Memory::auto_buffered_bytes`] at start-up.
    pub fn buffered_bytes(&self) -> usize {
        self.max_buffered_bytes.unwrap_or(DEFAULT_MAX_BUFFERED)
    }

    /// The cap for a container with memory limit `limit` (bytes; `None`: unlimited).
    pub fn auto_buffered_bytes(limit: Option<u64>) -> usize {
        match limit {
            None => DEFAULT_MAX_BUFFERED,
            Some(l) => {
                let share = l / 100 * BUFFERED_SHARE_OF_LIMIT_PERCENT;
                usize::try_from(share)
                    .unwrap_or(usize::MAX)
                    .max(MIN_AUTO_BUFFERED)
            }
        }
    }
}

fn optional_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    byte_size(d).map(Some)
}

/// Accepts `1048576`, `64Mi`, `1Gi`, `512Ki`.
fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(usize),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => parse_byte_size(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a size like 64Mi, 512Ki or 1048576"))
        }),
    }
}

pub fn parse_byte_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: usize = number.parse().ok()?;
    let factor = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[derive(Debug, thiserror::Error)]
pub enum SinkConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl SinkConfig {
    pub fn load(path: &Path) -> Result<Self, SinkConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| SinkConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|message| SinkConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let de = serde_yaml::Deserializer::from_str(text);
        let config: SinkConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            format!("field `{path}`: {}", e.into_inner())
        })?;
        config.partition_by()?;
        crate::lake::LakeUrl::parse(&config.sink.url)
            .map_err(|e| format!("field `sink.url`: {e}"))?;
        if config.kafka.topic.trim().is_empty() {
            return Err("field `kafka.topic` is empty".into());
        }
        let f = config.sink.flush;
        if f.max_records == 0 || f.max_bytes == 0 || f.max_age.is_zero() {
            return Err("fields `sink.flush.*` must all be greater than zero".into());
        }
        Ok(config)
    }

    pub fn partition_by(&self) -> Result<PartitionBy, String> {
        PartitionBy::new(self.sink.partition_by.clone())
            .map_err(|e| format!("field `sink.partitionBy`: {e}"))
    }

    pub fn group_id(&self) -> String {
        self.kafka
            .group_id
            .clone()
            .unwrap_or_else(|| format!("stockfeed-sink-{}", self.kafka.topic))
    }

    pub fn dlq_topic(&self) -> String {
        self.kafka
            .dlq_topic
            .clone()
            .unwrap_or_else(|| crate::kafka::dlq_topic(&self.kafka.topic))
    }
}

/// `sink.derivedBars` of the sink configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DerivedBars {
    /// Write the `bar_1m/` table from the trades.
    #[serde(default)]
    pub enabled: bool,
    /// How long after a minute ends (in event time) its trades may still arrive.
    #[serde(default = "default_allowed_lateness", with = "humantime_serde")]
    pub allowed_lateness: Duration,
}

fn default_allowed_lateness() -> Duration {
    Duration::from_secs(10)
}

impl Default for DerivedBars {
    fn default() -> Self {
        DerivedBars {
            enabled: false,
            allowed_lateness: default_allowed_lateness(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_and_sizes() {
        let c = SinkConfig::parse(
            "kafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 'file:///tmp/lake/', flush: {maxBytes: 8Mi}}\n",
        )
        .unwrap();
        assert_eq!(c.sink.flush.max_bytes, 8 * 1024 * 1024);
        assert_eq!(c.group_id(), "stockfeed-sink-t");
        assert_eq!(c.dlq_topic(), "t.dlq");
        assert_eq!(c.sink.format, Format::Parquet);
        assert_eq!(parse_byte_size("512Ki"), Some(512 * 1024));
        assert_eq!(parse_byte_size("12MB"), None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = SinkConfig::parse(
            "kafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 'ftp://x'}\n",
        )
        .unwrap_err();
        assert!(e.contains("sink.url"), "{e}");
        let e = SinkConfig::parse("kafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 'file:///x/', partitionBy: [hour]}\n")
            .unwrap_err();
        assert!(e.contains("partitionBy"), "{e}");
        let e = SinkConfig::parse("kafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 'file:///x/', format: avro}\n")
            .unwrap_err();
        assert!(e.contains("sink.format"), "{e}");
    }
}
