//! How a worker connects to Kafka (bootstrap servers and security) and the topic names the
//! project derives, as a configuration file writes them.
//!
//! Production clusters (MSK, Confluent Cloud, Strimzi) need TLS, SASL or both; `stockfeed-kafka`
//! maps these settings onto librdkafka's properties. Passwords are [`SecretSource`]s, resolved
//! only when a client is built.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::SecretSource;

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

impl KafkaConnection {
    pub fn plaintext(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            security: Security::Plaintext,
            client_id: None,
        }
    }
}

/// The dead-letter topic of a topic.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

#[cfg(test)]
mod tests {
    use super::*;

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
