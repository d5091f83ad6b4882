//! How a worker connects to Kafka: bootstrap servers and security.
//!
//! Production clusters (MSK, Confluent Cloud, Strimzi) need TLS, SASL or both; the settings here
//! map onto librdkafka's properties. Passwords come from [`SecretSource`]s and are resolved only
//! when a client is built. Do not log the resulting `ClientConfig`: its `Debug` prints values.

use std::path::PathBuf;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::secret::{SecretError, SecretSource};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaConnection {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    #[serde(default)]
    pub security: Security,
    /// Shows up in broker logs and quotas; defaults to `stockfeed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The four Kafka security protocols; each variant carries exactly the settings it needs, so
/// "SASL without credentials" or "TLS settings on a plaintext connection" cannot be written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "protocol",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
pub enum Security {
    #[default]
    Plaintext,
    Ssl {
        #[serde(default)]
        tls: Tls,
    },
    SaslPlaintext {
        sasl: Sasl,
    },
    SaslSsl {
        sasl: Sasl,
        #[serde(default)]
        tls: Tls,
    },
}

/// TLS settings. All optional: with none set, the system CA store verifies the broker (what MSK
/// and Confluent Cloud need).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    /// PEM file of the CA that signed the brokers' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<SecretSource>,
    /// Check that the broker's certificate names the host we dialled. Turn off only for
    /// self-signed test clusters.
    #[serde(default = "yes")]
    pub verify_hostname: bool,
}

fn yes() -> bool {
    true
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            ca_file: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            verify_hostname: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: SecretSource,
    pub password: SecretSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    fn librdkafka_name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaConfigError {
    #[error("kafka.bootstrapServers is empty; give at least one host:port")]
    NoBootstrapServers,
    #[error("kafka.bootstrapServers entry `{0}` is not host:port")]
    BadBootstrapServer(String),
    #[error("kafka security: {field}: {source}")]
    Secret {
        field: &'static str,
        source: SecretError,
    },
    #[error("kafka security: {field} {path} does not exist or is not readable")]
    MissingFile { field: &'static str, path: PathBuf },
    #[error("kafka security: tls.certFile and tls.keyFile go together; only one was given")]
    HalfClientCert,
}

impl KafkaConnection {
    pub fn plaintext(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            security: Security::Plaintext,
            client_id: None,
        }
    }

    /// Builds the librdkafka settings common to producers, consumers and admin clients,
    /// reading secrets now. Role-specific settings are added by the caller.
    pub fn client_config(&self) -> Result<ClientConfig, KafkaConfigError> {
        self.check_bootstrap()?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set(
                "client.id",
                self.client_id.as_deref().unwrap_or("stockfeed"),
            );
        match &self.security {
            Security::Plaintext => {
                config.set("security.protocol", "plaintext");
            }
            Security::Ssl { tls } => {
                config.set("security.protocol", "ssl");
                apply_tls(&mut config, tls)?;
            }
            Security::SaslPlaintext { sasl } => {
                config.set("security.protocol", "sasl_plaintext");
                apply_sasl(&mut config, sasl)?;
            }
            Security::SaslSsl { sasl, tls } => {
                config.set("security.protocol", "sasl_ssl");
                apply_tls(&mut config, tls)?;
                apply_sasl(&mut config, sasl)?;
            }
        }
        Ok(config)
    }

    fn check_bootstrap(&self) -> Result<(), KafkaConfigError> {
        let entries: Vec<&str> = self
            .bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(KafkaConfigError::NoBootstrapServers);
        }
        for entry in entries {
            let ok = entry.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !ok {
                return Err(KafkaConfigError::BadBootstrapServer(entry.to_owned()));
            }
        }
        Ok(())
    }
}

fn readable(field: &'static str, path: &PathBuf) -> Result<String, KafkaConfigError> {
    if std::fs::File::open(path).is_err() {
        return Err(KafkaConfigError::MissingFile {
            field,
            path: path.clone(),
        });
    }
    Ok(path.display().to_string())
}

fn apply_tls(config: &mut ClientConfig, tls: &Tls) -> Result<(), KafkaConfigError> {
    if let Some(ca) = &tls.ca_file {
        config.set("ssl.ca.location", readable("tls.caFile", ca)?);
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            config.set("ssl.certificate.location", readable("tls.certFile", cert)?);
            config.set("ssl.key.location", readable("tls.keyFile", key)?);
        }
        (None, None) => {}
        _ => return Err(KafkaConfigError::HalfClientCert),
    }
    if let Some(source) = &tls.key_password {
        let password = source.load().map_err(|source| KafkaConfigError::Secret {
            field: "tls.keyPassword",
            source,
        })?;
        config.set("ssl.key.password", password.expose());
    }
    config.set(
        "ssl.endpoint.identification.algorithm",
        if tls.verify_hostname { "https" } else { "none" },
    );
    Ok(())
}

fn apply_sasl(config: &mut ClientConfig, sasl: &Sasl) -> Result<(), KafkaConfigError> {
    let username = sasl
        .username
        .load()
        .map_err(|source| KafkaConfigError::Secret {
            field: "sasl.username",
            source,
        })?;
    let password = sasl
        .password
        .load()
        .map_err(|source| KafkaConfigError::Secret {
            field: "sasl.password",
            source,
        })?;
    config
        .set("sasl.mechanisms", sasl.mechanism.librdkafka_name())
        .set("sasl.username", username.expose())
        .set("sasl.password", password.expose());
    Ok(())
}

/// The compiled-in librdkafka features, e.g. `ssl,sasl_scram,zstd,lz4`.
pub fn librdkafka_features() -> Result<String, rdkafka::error::KafkaError> {
    ClientConfig::new()
        .create_native_config()?
        .get("builtin.features")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::producer::BaseProducer;

    #[test]
    fn librdkafka_has_what_production_clusters_need() {
        let features = librdkafka_features().unwrap();
        for needed in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_gssapi",
            "zstd",
            "lz4",
            "gzip",
        ] {
            assert!(
                features.split(',').any(|f| f == needed),
                "librdkafka lacks {needed}: {features}"
            );
        }
        let (_, version) = rdkafka::util::get_rdkafka_version();
        assert!(version.starts_with("2."), "librdkafka {version}");
    }

    #[test]
    fn sasl_ssl_scram_client_is_accepted_by_librdkafka() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("username");
        let pass = dir.path().join("password");
        std::fs::write(&user, "feeder\n").unwrap();
        std::fs::write(&pass, "s3cr3t-value\n").unwrap();
        let conn = KafkaConnection {
            bootstrap_servers: "b-1.example.kafka.us-east-1.amazonaws.com:9096".into(),
            security: Security::SaslSsl {
                sasl: Sasl {
                    mechanism: SaslMechanism::ScramSha512,
                    username: SecretSource::File(user),
                    password: SecretSource::File(pass),
                },
                tls: Tls::default(),
            },
            client_id: None,
        };
        let config = conn.client_config().unwrap();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.username"), Some("feeder"));
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        // librdkafka refuses unknown protocols/mechanisms at creation; this proves the build
        // has TLS and SCRAM. No connection is attempted before the first request.
        let producer: Result<BaseProducer, _> = config.create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[test]
    fn config_errors_are_specific_and_never_show_secrets() {
        let conn = KafkaConnection::plaintext(" , ");
        assert!(matches!(
            conn.client_config(),
            Err(KafkaConfigError::NoBootstrapServers)
        ));
        let conn = KafkaConnection::plaintext("localhost");
        assert_eq!(
            conn.client_config().err().map(|e| e.to_string()).unwrap(),
            "kafka.bootstrapServers entry `localhost` is not host:port"
        );
        let conn = KafkaConnection {
            bootstrap_servers: "k:9092".into(),
            security: Security::SaslPlaintext {
                sasl: Sasl {
                    mechanism: SaslMechanism::Plain,
                    username: SecretSource::Env("STOCKFEED_TEST_UNSET_USER".into()),
                    password: SecretSource::Env("STOCKFEED_TEST_UNSET_PASS".into()),
                },
            },
            client_id: None,
        };
        let err = conn.client_config().err().unwrap().to_string();
        assert!(
            err.contains("sasl.username") && err.contains("STOCKFEED_TEST_UNSET_USER"),
            "{err}"
        );
        let tls = Security::Ssl {
            tls: Tls {
                cert_file: Some("/x.pem".into()),
                ..Tls::default()
            },
        };
        let conn = KafkaConnection {
            bootstrap_servers: "k:9092".into(),
            security: tls,
            client_id: None,
        };
        assert!(matches!(
            conn.client_config(),
            Err(KafkaConfigError::HalfClientCert)
        ));
    }

    #[test]
    fn security_reads_from_yaml_like_json() {
        let conn: KafkaConnection = serde_json::from_str(
            r#"{"bootstrapServers":"k:9094","security":{"protocol":"SSL","tls":{"verifyHostname":false}}}"#,
        )
        .unwrap();
        assert_eq!(
            conn.security,
            Security::Ssl {
                tls: Tls {
                    verify_hostname: false,
                    ..Tls::default()
                }
            }
        );
        let default: KafkaConnection =
            serde_json::from_str(r#"{"bootstrapServers":"k:9092"}"#).unwrap();
        assert_eq!(default.security, Security::Plaintext);
    }
}
