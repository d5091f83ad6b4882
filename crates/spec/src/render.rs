//! Turns a StockFeed spec into the producer's and the sink's configuration files.
//!
//! This is the one place where the user-facing resource meets the workers' settings, shared by
//! the operator (which writes the result into a ConfigMap and wires the Secrets into the pods)
//! and `stockfeed run` (which passes it to the in-process workers). Secrets never appear in the
//! output: it names environment variables and files, and [`Rendered::secret_env`] says which
//! Secret key fills each one.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::feed::*;
use crate::format::FormatOptions;
use crate::kafka::Sasl;
use crate::kafka::{KafkaConnection, SaslMechanism, Security, Tls};
use crate::lake::{S3Settings, StaticCredentials};
use crate::producer::{KafkaTarget, ProducerConfig, Tuning};
use crate::secret::SecretSource;
use crate::sink::DerivedBars;
use crate::sink::{Flush, KafkaSource, Memory, SinkConfig, SinkSettings, parse_byte_size};
use crate::source::SourceConfig;
use crate::validate::{FieldError, InvalidSpec, parse_duration};

/// Environment variables through which workers receive secrets.
pub mod env {
    pub const SOURCE_TOKEN: &str = "STOCKFEED_SOURCE_TOKEN";
    pub const SOURCE_KEY_ID: &str = "STOCKFEED_SOURCE_KEY_ID";
    pub const SOURCE_SECRET_KEY: &str = "STOCKFEED_SOURCE_SECRET_KEY";
    pub const KAFKA_USERNAME: &str = "STOCKFEED_KAFKA_USERNAME";
    pub const KAFKA_PASSWORD: &str = "STOCKFEED_KAFKA_PASSWORD";
    pub const S3_ACCESS_KEY_ID: &str = "STOCKFEED_S3_ACCESS_KEY_ID";
    pub const S3_SECRET_ACCESS_KEY: &str = "STOCKFEED_S3_SECRET_ACCESS_KEY";
}

/// One of the two workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Worker {
    Producer,
    Sink,
}

/// Which workers read a secret. Each container is given only the Secrets it reads, so a
/// leaked sink pod holds no provider token and a leaked producer pod no lake keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsedBy {
    Producer,
    Sink,
    Both,
}

impl UsedBy {
    pub fn includes(self, worker: Worker) -> bool {
        matches!(
            (self, worker),
            (UsedBy::Both, _) | (UsedBy::Producer, Worker::Producer) | (UsedBy::Sink, Worker::Sink)
        )
    }
}

/// A worker environment variable filled from a key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    pub var: &'static str,
    pub secret: String,
    pub key: String,
    pub used_by: UsedBy,
}

/// A Secret key mounted as a file (the Kafka CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    pub secret: String,
    pub key: String,
    pub path: PathBuf,
    pub used_by: UsedBy,
}

/// A producer shard's file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ShardFileError {
    #[error(transparent)]
    Shard(#[from] crate::shard::ShardError),
    #[error("cannot write the producer's file as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// What differs between running in a pod and running on a laptop.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// Consumer group of the sink; the operator makes it unique per StockFeed.
    pub sink_group_id: Option<String>,
    /// Where the Kafka CA is found: a mounted Secret in a pod, a local file for `stockfeed run`.
    /// In a pod it is a Secret volume of its own, outside the configuration directory (a
    /// ConfigMap volume, read-only: a mount point inside it cannot be made).
    pub kafka_ca_dir: PathBuf,
    pub producer_metrics: SocketAddr,
    pub sink_metrics: SocketAddr,
}

impl Default for RenderContext {
    fn default() -> Self {
        RenderContext {
            sink_group_id: None,
            kafka_ca_dir: PathBuf::from("/var/run/secrets/stockfeed/kafka-ca"),
            // `[::]` accepts IPv4 too (IPV6_V6ONLY is off by default), so IPv6-only and
            // dual-stack clusters probe the same port; the workers fall back to 0.0.0.0 on a
            // kernel without IPv6.
            producer_metrics: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 9090)),
            sink_metrics: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 9091)),
        }
    }
}

/// The workers' configuration for one StockFeed.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub producer: ProducerConfig,
    pub sink: SinkConfig,
    pub secret_env: Vec<SecretEnv>,
    pub secret_files: Vec<SecretFile>,
}

impl Rendered {
    /// The producer's file, as `stockfeed produce --config` reads it.
    pub fn producer_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(&self.producer)
    }

    /// The file of producer shard `index` of `count`: the shard's own tickers and no shard
    /// setting. A shard's file (and so its pod) changes only when its tickers or the shared
    /// settings do, so changing the shard count restarts only the shards whose tickers moved.
    pub fn producer_shard_yaml(&self, index: u32, count: u32) -> Result<String, ShardFileError> {
        let shard = crate::shard::Shard::new(index, count)?;
        let mut config = self.producer.clone();
        config.tickers = shard.select(&self.producer.tickers);
        config.shard = None;
        Ok(serde_yaml::to_string(&config)?)
    }

    /// Secret environment variables `worker` reads.
    pub fn secret_env_of(&self, worker: Worker) -> impl Iterator<Item = &SecretEnv> {
        self.secret_env
            .iter()
            .filter(move |e| e.used_by.includes(worker))
    }

    /// Secret files `worker` reads.
    pub fn secret_files_of(&self, worker: Worker) -> impl Iterator<Item = &SecretFile> {
        self.secret_files
            .iter()
            .filter(move |f| f.used_by.includes(worker))
    }

    /// The sink's file, as `stockfeed sink --config` reads it.
    pub fn sink_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(&self.sink)
    }
}

/// Validates the spec and renders both workers' configuration.
pub fn render(spec: &FeedSpec, ctx: &RenderContext) -> Result<Rendered, InvalidSpec> {
    crate::validate::validate(spec)?;
    let mut secret_env = Vec::new();
    let mut secret_files = Vec::new();

    let source = render_source(&spec.source, &mut secret_env).map_err(|e| InvalidSpec(vec![e]))?;
    let connection = KafkaConnection {
        bootstrap_servers: spec.kafka.bootstrap_servers.clone(),
        security: render_security(
            spec.kafka.security.as_ref(),
            ctx,
            &mut secret_env,
            &mut secret_files,
        ),
        client_id: None,
    };

    let producer = ProducerConfig {
        tickers: spec.tickers.clone(),
        source,
        kafka: KafkaTarget {
            connection: connection.clone(),
            topic: spec.kafka.topic.clone(),
            dlq_topic: spec.kafka.dlq_topic.clone(),
        },
        producer: Tuning::default(),
        shard: None,
        metrics_addr: ctx.producer_metrics,
    };

    // Validation has checked both; a failure here would be a bug, reported rather than hidden.
    let max_bytes = parse_byte_size(&spec.sink.flush.max_bytes).ok_or_else(|| {
        InvalidSpec(vec![FieldError::new(
            "spec.sink.flush.maxBytes",
            "unparseable",
        )])
    })?;
    let max_age = parse_duration(&spec.sink.flush.max_age).ok_or_else(|| {
        InvalidSpec(vec![FieldError::new(
            "spec.sink.flush.maxAge",
            "unparseable",
        )])
    })?;
    let bars_lateness =
        parse_duration(&spec.sink.derived_bars.allowed_lateness).ok_or_else(|| {
            InvalidSpec(vec![FieldError::new(
                "spec.sink.derivedBars.allowedLateness",
                "unparseable",
            )])
        })?;
    let sink = SinkConfig {
        kafka: KafkaSource {
            connection,
            topic: spec.kafka.topic.clone(),
            dlq_topic: spec.kafka.dlq_topic.clone(),
            group_id: ctx.sink_group_id.clone(),
            instance_id: None,
            session_timeout: KafkaSource::default_session_timeout(),
        },
        sink: SinkSettings {
            url: spec.sink.url.clone(),
            format: spec.sink.format,
            format_options: FormatOptions {
                jsonl_gzip: spec.sink.gzip,
                ..FormatOptions::default()
            },
            partition_by: spec.sink.partition_by.clone(),
            flush: Flush {
                max_records: usize::try_from(spec.sink.flush.max_records).unwrap_or(usize::MAX),
                max_bytes,
                max_age,
            },
            memory: Memory::default(),
            derived_bars: DerivedBars {
                enabled: spec.sink.derived_bars.enabled,
                allowed_lateness: bars_lateness,
            },
            s3: render_s3(spec.sink.s3.as_ref(), &mut secret_env),
        },
        metrics_addr: ctx.sink_metrics,
    };

    Ok(Rendered {
        producer,
        sink,
        secret_env,
        secret_files,
    })
}

/// Builds the worker's provider-tagged source section from the flat spec: the free-form
/// `settings`, plus `provider`, `pollInterval` and the credentials as environment variables.
/// The worker's own deserialisation then checks the settings, so errors name the exact field.
fn render_source(s: &SourceSpec, secrets: &mut Vec<SecretEnv>) -> Result<SourceConfig, FieldError> {
    let mut object = s.settings.clone();
    if object.contains_key("provider") {
        return Err(FieldError::new(
            "spec.source.settings.provider",
            "is set by spec.source.provider; remove it from settings",
        ));
    }
    let mut put = |key: &str, value: Value| -> Result<(), FieldError> {
        if object.contains_key(key) {
            return Err(FieldError::new(
                format!("spec.source.settings.{key}"),
                "is set by the StockFeed itself; remove it from settings",
            ));
        }
        object.insert(key.to_owned(), value);
        Ok(())
    };
    if let Some(p) = &s.poll_interval
        && (s.provider.is_polled() || s.provider == Provider::Finnhub)
    {
        put("pollInterval", json!(p))?;
    }
    if let Some(r) = &s.credentials_secret_ref {
        let mut secret = |field: &str, var: &'static str, default_key: &str| {
            secrets.push(SecretEnv {
                var,
                secret: r.name.clone(),
                key: r.key.clone().unwrap_or_else(|| default_key.to_owned()),
                used_by: UsedBy::Producer,
            });
            put(field, json!({ "env": var }))
        };
        match s.provider {
            Provider::Finnhub => secret("token", env::SOURCE_TOKEN, "token")?,
            Provider::Alphavantage => secret("apiKey", env::SOURCE_TOKEN, "apiKey")?,
            Provider::Alpaca => {
                // Two keys from one Secret; `key` does not apply.
                secrets.push(SecretEnv {
                    var: env::SOURCE_KEY_ID,
                    secret: r.name.clone(),
                    key: "keyId".into(),
                    used_by: UsedBy::Producer,
                });
                secrets.push(SecretEnv {
                    var: env::SOURCE_SECRET_KEY,
                    secret: r.name.clone(),
                    key: "secretKey".into(),
                    used_by: UsedBy::Producer,
                });
                put("keyId", json!({ "env": env::SOURCE_KEY_ID }))?;
                put("secretKey", json!({ "env": env::SOURCE_SECRET_KEY }))?;
            }
            Provider::Synthetic | Provider::Replay | Provider::Yahoo => {}
        }
    }
    // Each provider's settings are read as that provider's own struct (not through the
    // provider-tagged enum, which buffers its input and loses the path of a bad field).
    object.remove("provider");
    let value = Value::Object(object);
    Ok(match s.provider {
        Provider::Synthetic => SourceConfig::Synthetic(typed(value)?),
        Provider::Replay => SourceConfig::Replay(typed(value)?),
        Provider::Finnhub => SourceConfig::Finnhub(typed(value)?),
        Provider::Alphavantage => SourceConfig::AlphaVantage(typed(value)?),
        Provider::Yahoo => SourceConfig::Yahoo(typed(value)?),
        Provider::Alpaca => SourceConfig::Alpaca(typed(value)?),
    })
}

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "spec.source.settings".to_owned()
        } else {
            format!("spec.source.settings.{path}")
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}

fn render_security(
    spec: Option<&KafkaSecuritySpec>,
    ctx: &RenderContext,
    secrets: &mut Vec<SecretEnv>,
    files: &mut Vec<SecretFile>,
) -> Security {
    let Some(spec) = spec else {
        return Security::Plaintext;
    };
    let mut tls = || {
        let mut tls = Tls::default();
        if let Some(r) = &spec.ca_secret_ref {
            let key = r.key.clone().unwrap_or_else(|| "ca.crt".into());
            let path = ctx.kafka_ca_dir.join(&key);
            files.push(SecretFile {
                secret: r.name.clone(),
                key,
                path: path.clone(),
                used_by: UsedBy::Both,
            });
            tls.ca_file = Some(path);
        }
        tls
    };
    let mut sasl = || -> Option<Sasl> {
        let r = spec.sasl_secret_ref.as_ref()?;
        let mechanism = match spec.sasl_mechanism? {
            SaslMechanismSpec::Plain => SaslMechanism::Plain,
            SaslMechanismSpec::ScramSha256 => SaslMechanism::ScramSha256,
            SaslMechanismSpec::ScramSha512 => SaslMechanism::ScramSha512,
        };
        for (var, key) in [
            (env::KAFKA_USERNAME, "username"),
            (env::KAFKA_PASSWORD, "password"),
        ] {
            secrets.push(SecretEnv {
                var,
                secret: r.name.clone(),
                key: key.into(),
                used_by: UsedBy::Both,
            });
        }
        Some(Sasl {
            mechanism,
            username: SecretSource::Env(env::KAFKA_USERNAME.into()),
            password: SecretSource::Env(env::KAFKA_PASSWORD.into()),
        })
    };
    // Validation guarantees SASL settings for SASL protocols; fall back to the plain variant of
    // the protocol only to keep this function total.
    match spec.protocol {
        KafkaProtocol::Plaintext => Security::Plaintext,
        KafkaProtocol::Ssl => Security::Ssl { tls: tls() },
        KafkaProtocol::SaslPlaintext => match sasl() {
            Some(sasl) => Security::SaslPlaintext { sasl },
            None => Security::Plaintext,
        },
        KafkaProtocol::SaslSsl => match sasl() {
            Some(sasl) => Security::SaslSsl { sasl, tls: tls() },
            None => Security::Ssl { tls: tls() },
        },
    }
}

fn render_s3(spec: Option<&S3Spec>, secrets: &mut Vec<SecretEnv>) -> S3Settings {
    let mut s3 = S3Settings::default();
    let Some(spec) = spec else {
        return s3;
    };
    s3.endpoint = spec.endpoint.clone();
    s3.region = spec.region.clone();
    s3.force_path_style = spec.force_path_style;
    s3.server_side_encryption = spec.server_side_encryption.map(|e| e.as_str().to_owned());
    s3.kms_key_id = spec.kms_key_id.clone();
    s3.storage_class = spec.storage_class.clone();
    if let Some(r) = &spec.credentials_secret_ref {
        for (var, key) in [
            (env::S3_ACCESS_KEY_ID, "accessKeyId"),
            (env::S3_SECRET_ACCESS_KEY, "secretAccessKey"),
        ] {
            secrets.push(SecretEnv {
                var,
                secret: r.name.clone(),
                key: key.into(),
                used_by: UsedBy::Sink,
            });
        }
        s3.credentials = Some(StaticCredentials {
            access_key_id: SecretSource::Env(env::S3_ACCESS_KEY_ID.into()),
            secret_access_key: SecretSource::Env(env::S3_SECRET_ACCESS_KEY.into()),
        });
    }
    s3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> FeedSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn rendered_files_are_read_back_by_the_workers() {
        let s = spec(
            "tickers: [AAPL, MSFT]\nsource: {provider: finnhub, credentialsSecretRef: {name: fh}, pollInterval: 7s, settings: {mode: poll}}\nkafka: {bootstrapServers: 'k:9092', topic: t, security: {protocol: SASL_SSL, saslMechanism: SCRAM-SHA-512, saslSecretRef: {name: kafka-user}, caSecretRef: {name: kafka-ca}}}\nsink: {url: 's3://lake/raw/', format: jsonl, gzip: true, flush: {maxBytes: 8Mi, maxAge: 30s}, s3: {endpoint: 'http://s3:9000', forcePathStyle: true, credentialsSecretRef: {name: s3keys}}}\n",
        );
        let r = render(&s, &RenderContext::default()).unwrap();
        let producer = ProducerConfig::parse(&r.producer_yaml().unwrap()).unwrap();
        let sink = SinkConfig::parse(&r.sink_yaml().unwrap()).unwrap();
        assert_eq!(producer.tickers.len(), 2);
        assert_eq!(sink.sink.flush.max_bytes, 8 << 20);
        assert!(sink.sink.format_options.jsonl_gzip);
        let vars: Vec<&str> = r.secret_env.iter().map(|e| e.var).collect();
        assert_eq!(
            vars,
            [
                env::SOURCE_TOKEN,
                env::KAFKA_USERNAME,
                env::KAFKA_PASSWORD,
                env::S3_ACCESS_KEY_ID,
                env::S3_SECRET_ACCESS_KEY
            ]
        );
        assert_eq!(r.secret_env[0].key, "token");
        assert_eq!(
            r.secret_files[0].path,
            PathBuf::from("/var/run/secrets/stockfeed/kafka-ca/ca.crt")
        );
        let yaml = r.producer_yaml().unwrap();
        assert!(
            yaml.contains("STOCKFEED_SOURCE_TOKEN") && yaml.contains("7s"),
            "{yaml}"
        );
    }

    #[test]
    fn bad_provider_settings_name_the_field() {
        let s = spec(
            "tickers: [AAPL]\nsource: {provider: synthetic, settings: {rate: fast}}\nkafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 'file:///tmp/l/'}\n",
        );
        let err = render(&s, &RenderContext::default()).unwrap_err();
        assert_eq!(err.0[0].field, "spec.source.settings.rate", "{err}");
        let s = spec(
            "tickers: [AAPL]\nsource: {provider: finnhub, credentialsSecretRef: {name: fh}, settings: {token: {env: X}}}\nkafka: {bootstrapServers: 'k:9092', topic: t}\nsink: {url: 'file:///tmp/l/'}\n",
        );
        let err = render(&s, &RenderContext::default()).unwrap_err();
        assert_eq!(err.0[0].field, "spec.source.settings.token", "{err}");
    }
}
