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
use tracing::Instrument;

use super::{ObjectStore, PutOutcome, StoreError};
pub use stockfeed_spec::lake::{S3Settings, StaticCredentials};

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
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                keys.access_key_id.expose(),
                keys.secret_access_key.expose(),
                None,
                None,
                "stockfeed-static",
            ));
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .build();
        if let Some(sse) = &settings.server_side_encryption
            && !matches!(sse.as_str(), "AES256" | "aws:kms" | "aws:kms:dsse")
        {
            return Err(StoreError::Settings(format!(
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
