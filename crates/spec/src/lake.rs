//! Where a lake is and how to reach it, as configuration writes it: the lake URL and the S3
//! options. Opening a store from them is the sink's business (`stockfeed-sink`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::{Secret, SecretError, SecretSource};

/// The lake location: `s3://bucket/prefix/` or `file:///absolute/path/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    S3 { bucket: String, prefix: String },
    File(PathBuf),
}

/// A lake URL that is neither `s3://bucket/...` nor `file:///absolute/...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid lake URL `{0}`: use s3://bucket/prefix/ or file:///absolute/path/")]
pub struct BadLakeUrl(pub String);

impl LakeUrl {
    pub fn parse(url: &str) -> Result<Self, BadLakeUrl> {
        let bad = || BadLakeUrl(url.to_owned());
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad());
            }
            let mut prefix = prefix.trim_start_matches('/').to_owned();
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            return Ok(LakeUrl::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad());
            }
            return Ok(LakeUrl::File(PathBuf::from(path)));
        }
        Err(bad())
    }
}

/// S3 options of the sink (`sink.s3` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Settings {
    /// Endpoint of an S3-compatible server; unset for AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region; unset takes the SDK's default chain (AWS_REGION, profile, IMDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    #[serde(default)]
    pub force_path_style: bool,
    /// Server-side encryption: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS, with `kmsKeyId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// e.g. `STANDARD`, `INTELLIGENT_TIERING`, `STANDARD_IA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Objects at least this large are sent as multipart uploads.
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold: usize,
    #[serde(default = "default_part_size")]
    pub part_size: usize,
    /// Must stay `true`: the sink refuses to start without create-if-absent (`If-None-Match: *`),
    /// on which its exactly-once delivery rests. Kept so that older configurations still parse
    /// and get that error instead of an unknown-field one.
    #[serde(default = "yes")]
    pub conditional_writes: bool,
    /// Static keys for S3-compatible stores outside AWS, read from the environment or mounted
    /// files. Leave unset on AWS: the default chain (IRSA on EKS) is the right source there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<StaticCredentials>,
    /// Longest one attempt of an S3 request may take (a part upload included) before it is
    /// abandoned and retried: a half-open connection otherwise hangs the sink for ever.
    #[serde(default = "default_attempt_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub attempt_timeout: std::time::Duration,
}

fn default_attempt_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(60)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticCredentials {
    pub access_key_id: SecretSource,
    pub secret_access_key: SecretSource,
}

/// A static key that could not be read, naming which one.
#[derive(Debug, thiserror::Error)]
#[error("sink.s3.credentials.{field}: {source}")]
pub struct StaticKeyError {
    pub field: &'static str,
    #[source]
    pub source: SecretError,
}

impl StaticCredentials {
    /// Reads both keys (from the environment or mounted files), naming the one that failed;
    /// shared by the sink's S3 store and `stockfeed query`'s reader of the same lake.
    pub fn load(&self) -> Result<StaticKeys, StaticKeyError> {
        let read = |field: &'static str, source: &SecretSource| {
            source
                .load()
                .map_err(|source| StaticKeyError { field, source })
        };
        Ok(StaticKeys {
            access_key_id: read("accessKeyId", &self.access_key_id)?,
            secret_access_key: read("secretAccessKey", &self.secret_access_key)?,
        })
    }
}

/// A static key pair as read; both halves are redacted in `Debug`.
#[derive(Debug)]
pub struct StaticKeys {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
}

fn default_multipart_threshold() -> usize {
    16 * 1024 * 1024
}
fn default_part_size() -> usize {
    8 * 1024 * 1024
}
fn yes() -> bool {
    true
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            region: None,
            force_path_style: false,
            server_side_encryption: None,
            kms_key_id: None,
            storage_class: None,
            multipart_threshold: default_multipart_threshold(),
            part_size: default_part_size(),
            conditional_writes: true,
            credentials: None,
            attempt_timeout: default_attempt_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            LakeUrl::parse("s3://market-lake/raw/stocks").unwrap(),
            LakeUrl::S3 {
                bucket: "market-lake".into(),
                prefix: "raw/stocks/".into()
            }
        );
        assert_eq!(
            LakeUrl::parse("s3://b").unwrap(),
            LakeUrl::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            LakeUrl::parse("file:///tmp/lake/").unwrap(),
            LakeUrl::File("/tmp/lake/".into())
        );
        for bad in ["s3:///x", "file://relative", "http://x", "/tmp/lake"] {
            assert!(LakeUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
