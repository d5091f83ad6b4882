//! Secrets: API keys, SASL passwords, TLS key passphrases.
//!
//! A secret is read from an environment variable or a file (a mounted Kubernetes Secret), never
//! from argv (visible in `ps` and in the pod spec) and never from the StockFeed manifest. The
//! [`Secret`] type has no `Display` and a redacting `Debug`, so it cannot end up in a log line,
//! an error message or a metric label by accident; code that needs the value calls
//! [`Secret::expose`] at the one place it is sent.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one call that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from an environment variable; empty counts as missing.
    pub fn from_env(var: &str) -> Result<Secret, SecretError> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_owned())),
            Ok(_) | Err(std::env::VarError::NotPresent) => {
                Err(SecretError::EnvMissing(var.to_owned()))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(SecretError::EnvNotUnicode(var.to_owned()))
            }
        }
    }

    /// Reads a secret from a file, without the trailing newline editors and `kubectl create
    /// secret --from-file` leave behind.
    pub fn from_file(path: &Path) -> Result<Secret, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
            path: path.to_owned(),
            reason: e.kind().to_string(),
        })?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(SecretError::FileEmpty(path.to_owned()));
        }
        Ok(Secret(value.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where to read a secret from, as written in configuration: `{env: FINNHUB_TOKEN}` or
/// `{file: /var/run/secrets/stockfeed/token}`.
#[derive(Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// Written as the same plain map it is read from (serde's enum encoding would become a YAML
/// `!env` tag, which the reader does not accept).
impl serde::Serialize for SecretSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match self {
            SecretSource::Env(var) => map.serialize_entry("env", var)?,
            SecretSource::File(path) => map.serialize_entry("file", path)?,
        }
        map.end()
    }
}

/// Read as a plain map rather than serde's enum encoding, so YAML (whose serde enums are
/// `!tags`) and JSON accept the same `{env: ...}` / `{file: ...}` spelling.
impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            env: Option<String>,
            file: Option<PathBuf>,
        }
        match Raw::deserialize(d)? {
            Raw {
                env: Some(var),
                file: None,
            } => Ok(SecretSource::Env(var)),
            Raw {
                env: None,
                file: Some(path),
            } => Ok(SecretSource::File(path)),
            _ => Err(serde::de::Error::custom(
                "a secret is `{env: VARIABLE}` or `{file: /path}`, exactly one of them",
            )),
        }
    }
}

impl SecretSource {
    pub fn load(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(var) => Secret::from_env(var),
            SecretSource::File(path) => Secret::from_file(path),
        }
    }
}

/// Errors name where the secret was looked for, never what it holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set or empty; set it, or mount the Secret as a file")]
    EnvMissing(String),
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("secret file {0} is empty")]
    FileEmpty(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", Some(s)).contains("hunter2"));
    }

    #[test]
    fn file_secret_loses_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc def\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "  abc def");
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(
            Secret::from_file(&path),
            Err(SecretError::FileEmpty(path.clone()))
        );
        let missing = dir.path().join("nope");
        let err = Secret::from_file(&missing).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("not found"), "{err}");
    }

    #[test]
    fn missing_env_names_the_variable() {
        let err = Secret::from_env("STOCKFEED_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable STOCKFEED_TEST_SURELY_UNSET_VAR is not set or empty; set it, or mount the Secret as a file"
        );
    }

    #[test]
    fn source_reads_from_yaml_too() {
        let s: SecretSource = serde_yaml::from_str("{file: /var/run/x}").unwrap();
        assert_eq!(s, SecretSource::File("/var/run/x".into()));
        assert!(serde_yaml::from_str::<SecretSource>("{env: A, file: /b}").is_err());
        assert!(serde_yaml::from_str::<SecretSource>("{}").is_err());
    }

    #[test]
    fn source_reads_from_yaml_shape() {
        let s: SecretSource = serde_json::from_str(r#"{"file":"/var/run/x"}"#).unwrap();
        assert_eq!(s, SecretSource::File("/var/run/x".into()));
        let s: SecretSource = serde_json::from_str(r#"{"env":"TOKEN"}"#).unwrap();
        assert_eq!(s, SecretSource::Env("TOKEN".into()));
    }
}
