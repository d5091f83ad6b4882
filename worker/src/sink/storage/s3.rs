//! A lake on S3 or an S3-compatible server, through aws-sdk-s3.
//!
//! Credentials come from the SDK's default chain: environment, profile, and on EKS the
//! web-identity token of IRSA; nothing is configured here. `If-None-Match: *` makes every write
//! create-if-absent (on PutObject, and on CompleteMultipartUpload for large objects), so a retry
//! or a zombie writer can never replace a finished object; a 412 answer means "already there".
//! Stores that ignore the header merely overwrite an object with identical content, because
//! keys and contents are deterministic (see `sink::segment`).

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, StorageClass,
};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::{ObjectStore, PutOutcome, StoreError};
use crate::secret::SecretSource;

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
    /// Send `If-None-Match: *`; turn off only for stores that reject the header.
    #[serde(default = "yes")]
    pub conditional_writes: bool,
    /// Static keys for S3-compatible stores outside AWS, read from the environment or mounted
    /// files. Leave unset on AWS: the default chain (IRSA on EKS) is the right source there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<StaticCredentials>,
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
    pub source: crate::secret::SecretError,
}

impl StaticCredentials {
    /// Reads both keys (from the environment or mounted files) into SDK credentials; shared by
    /// the sink's S3 store and `stockfeed query`'s reader of the same lake.
    pub fn load(&self) -> Result<aws_sdk_s3::config::Credentials, StaticKeyError> {
        let read = |field: &'static str, source: &SecretSource| {
            source
                .load()
                .map_err(|source| StaticKeyError { field, source })
        };
        let id = read("accessKeyId", &self.access_key_id)?;
        let key = read("secretAccessKey", &self.secret_access_key)?;
        Ok(aws_sdk_s3::config::Credentials::new(
            id.expose(),
            key.expose(),
            None,
            None,
            "stockfeed-static",
        ))
    }
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
        }
    }
}

pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    settings: S3Settings,
}

fn err<E>(operation: &'static str, key: &str, e: E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::Io {
        store: "s3",
        operation,
        key: key.to_owned(),
        message: DisplayErrorContext(e).to_string(),
    }
}

fn is_precondition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(service) => {
            let raw = format!("{:?}", service.raw());
            raw.contains("412") || raw.contains("PreconditionFailed")
        }
        _ => false,
    }
}

impl S3Store {
    pub async fn connect(
        bucket: &str,
        prefix: &str,
        settings: S3Settings,
    ) -> Result<Self, StoreError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(creds) = &settings.credentials {
            let keys = creds
                .load()
                .map_err(|e| StoreError::Settings(e.to_string()))?;
            loader = loader.credentials_provider(keys);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .build();
        if let Some(sse) = &settings.server_side_encryption
            && !matches!(sse.as_str(), "AES256" | "aws:kms" | "aws:kms:dsse")
        {
            return Err(StoreError::BadUrl(format!(
                "serverSideEncryption `{sse}` (use AES256 or aws:kms)"
            )));
        }
        Ok(S3Store {
            client: Client::from_conf(config),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            settings,
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn sse(&self) -> Option<ServerSideEncryption> {
        self.settings
            .server_side_encryption
            .as_deref()
            .map(ServerSideEncryption::from)
    }

    fn storage_class(&self) -> Option<StorageClass> {
        self.settings
            .storage_class
            .as_deref()
            .map(StorageClass::from)
    }

    async fn put_single(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .set_server_side_encryption(self.sse())
            .set_ssekms_key_id(self.settings.kms_key_id.clone())
            .set_storage_class(self.storage_class());
        if self.settings.conditional_writes {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(err("put", key, e)),
        }
    }

    async fn put_multipart(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_server_side_encryption(self.sse())
            .set_ssekms_key_id(self.settings.kms_key_id.clone())
            .set_storage_class(self.storage_class())
            .send()
            .await
            .map_err(|e| err("create_multipart_upload", key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = async {
            let mut parts = Vec::new();
            for (i, chunk) in bytes
                .chunks(self.settings.part_size.max(5 * 1024 * 1024))
                .enumerate()
            {
                let number = i as i32 + 1;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| err("upload_part", key, e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                );
            }
            let mut complete = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                );
            if self.settings.conditional_writes {
                complete = complete.if_none_match("*");
            }
            match complete.send().await {
                Ok(_) => Ok(PutOutcome::Created),
                Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
                Err(e) => Err(err("complete_multipart_upload", key, e)),
            }
        }
        .await;
        if !matches!(result, Ok(PutOutcome::Created)) {
            // Parts of an unfinished upload cost money until aborted.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

impl ObjectStore for S3Store {
    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        let full = self.full_key(key);
        let span =
            tracing::info_span!("s3_put", bucket = %self.bucket, key = %full, bytes = bytes.len());
        Box::pin(
            async move {
                if bytes.len() >= self.settings.multipart_threshold {
                    self.put_multipart(&full, bytes, content_type).await
                } else {
                    self.put_single(&full, bytes, content_type).await
                }
            }
            .instrument(span),
        )
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let full = self.full_key(key);
        let span = tracing::info_span!("s3_get", bucket = %self.bucket, key = %full);
        Box::pin(
            async move {
                match self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let body = out.body.collect().await.map_err(|e| err("get", &full, e))?;
                        Ok(Some(body.into_bytes().to_vec()))
                    }
                    Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => Ok(None),
                    Err(e) => Err(err("get", &full, e)),
                }
            }
            .instrument(span),
        )
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}
