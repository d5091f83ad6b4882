//! How the producer reads its configuration file (`stockfeed_spec::producer`): its shard, the
//! Kafka writer's settings and the pipeline's options.

use stockfeed_kafka::{WriterSettings, dlq_topic};
use stockfeed_spec::producer::ProducerConfig;

use super::{PipelineOptions, Shard};

/// The producer's settings derived from a [`ProducerConfig`], whose type lives in
/// `stockfeed-spec` so that the operator can write one without depending on the producer.
pub trait ProducerSettings {
    /// The shard from the file, else from `STOCKFEED_SHARD_INDEX`/`STOCKFEED_SHARD_COUNT`
    /// (set by the operator), else the whole ticker list.
    fn shard(&self) -> Result<Shard, String>;
    fn writer_settings(&self) -> WriterSettings;
    fn pipeline_options(&self) -> PipelineOptions;
}

impl ProducerSettings for ProducerConfig {
    fn shard(&self) -> Result<Shard, String> {
        let from_env = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.parse::<u32>()
                    .map_err(|_| format!("{name}={v} is not a number"))
            })
        };
        let (index, count) = match self.shard {
            Some(s) => (s.index, s.count),
            None => match (
                from_env("STOCKFEED_SHARD_INDEX"),
                from_env("STOCKFEED_SHARD_COUNT"),
            ) {
                (Some(i), Some(c)) => (i?, c?),
                (None, None) => return Ok(Shard::single()),
                _ => {
                    return Err(
                        "set both STOCKFEED_SHARD_INDEX and STOCKFEED_SHARD_COUNT, or neither"
                            .into(),
                    );
                }
            },
        };
        Shard::new(index, count).map_err(|e| e.to_string())
    }

    fn writer_settings(&self) -> WriterSettings {
        WriterSettings {
            max_buffer_bytes: self.producer.max_buffer_bytes,
            compression: self.producer.compression.clone(),
            linger: self.producer.linger,
            ..WriterSettings::default()
        }
    }

    fn pipeline_options(&self) -> PipelineOptions {
        PipelineOptions {
            topic: self.kafka.topic.clone(),
            dlq_topic: self
                .kafka
                .dlq_topic
                .clone()
                .unwrap_or_else(|| dlq_topic(&self.kafka.topic)),
            dedup_window: self.producer.dedup_window,
            shutdown_timeout: self.producer.shutdown_timeout,
            ..PipelineOptions::for_topic(&self.kafka.topic)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_default_to_the_topic_dot_dlq() {
        let c = ProducerConfig::parse(
            "tickers: [AAPL, MSFT]\nsource: {provider: synthetic}\nkafka: {bootstrapServers: 'k:9092', topic: t}\n",
        )
        .unwrap();
        assert_eq!(c.pipeline_options().dlq_topic, "t.dlq");
    }
}
