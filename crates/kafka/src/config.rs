//! librdkafka client settings from a [`KafkaConnection`]: bootstrap servers, TLS and SASL,
//! with secrets read at the moment a client is built. Do not log the resulting `ClientConfig`:
//! its `Debug` prints values.

use std::path::PathBuf;

use rdkafka::ClientConfig;
use stockfeed_spec::kafka::{KafkaConnection, Sasl, SaslMechanism, Security, Tls};
use stockfeed_spec::secret::SecretError;

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

/// Builds librdkafka settings from a connection; implemented for [`KafkaConnection`], whose
/// type lives in `stockfeed-spec` (configuration has no Kafka client in it).
pub trait Connect {
    /// The settings common to producers, consumers and admin clients, reading secrets now.
    /// Role-specific settings are added by the caller.
    fn client_config(&self) -> Result<ClientConfig, KafkaConfigError>;
}

impl Connect for KafkaConnection {
    fn client_config(&self) -> Result<ClientConfig, KafkaConfigError> {
        check_bootstrap_of(self)?;
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
}

fn check_bootstrap_of(conn: &KafkaConnection) -> Result<(), KafkaConfigError> {
    let entries: Vec<&str> = conn
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

fn librdkafka_name(mechanism: SaslMechanism) -> &'static str {
    match mechanism {
        SaslMechanism::Plain => "PLAIN",
        SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
        SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
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
        .set("sasl.mechanisms", librdkafka_name(sasl.mechanism))
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
    use stockfeed_spec::secret::SecretSource;

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
}
