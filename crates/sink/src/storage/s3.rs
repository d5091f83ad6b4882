//! A lake on S3 or an S3-compatible server, through aws-sdk-s3.
//!
//! Credentials come from the SDK's default chain: environment, profile, and on EKS the
//! web-identity token of IRSA; nothing is configured here. `If-None-Match: *` makes every write
//! create-if-absent (on PutObject, and on CompleteMultipartUpload for large objects), so a retry
//! or a zombie writer can never replace a finished object; a 412 answer means "already there".
//! Exactly-once depends on it: two writers that cut the same offsets differently (a zombie and
//! the new owner) would otherwise both "create" the manifest and each other's files, losing or
//! duplicating records. A store that ignores the header is refused at start-up (`probe`).

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
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

/// Error codes S3 answers that no retry changes: the credentials, the policy or the bucket are
/// wrong. (`ExpiredToken` is not here: the SDK refreshes IRSA credentials, so it can pass.)
const PERMANENT_CODES: &[&str] = &[
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "InvalidBucketName",
    "AccountProblem",
];

/// An SDK error as a [`StoreError`], permanent ([`StoreError::Refused`]) when the status is 403
/// or the error code is one of [`PERMANENT_CODES`]; everything else (5xx, throttling,
/// timeouts, resets) is worth retrying.
fn sdk_err<E>(operation: &'static str, key: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let permanent = match &e {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 403
                || service
                    .err()
                    .code()
                    .is_some_and(|c| PERMANENT_CODES.contains(&c))
        }
        _ => false,
    };
    let message = DisplayErrorContext(e).to_string();
    if permanent {
        StoreError::Refused {
            store: "s3",
            operation,
            key: key.to_owned(),
            message,
        }
    } else {
        StoreError::Io {
            store: "s3",
            operation,
            key: key.to_owned(),
            message,
        }
    }
}

/// True when S3 refused a conditional write because the object exists: HTTP 412, error code
/// `PreconditionFailed`. Decided on the status and the parsed error code only: the raw response
/// (headers, request ids, body) is never searched, because a 5xx whose request id happens to
/// contain "412" would otherwise be taken for "already written" and its data lost.
fn is_precondition_failed<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 412
                || service.err().code() == Some("PreconditionFailed")
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
        // Without these the SDK waits for ever on a connection that accepted and went quiet.
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .operation_attempt_timeout(settings.attempt_timeout)
            .build();
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .timeout_config(timeouts)
            .build();
        if !settings.conditional_writes {
            return Err(StoreError::Settings(
                "conditionalWrites: false is not supported: exactly-once needs the store's \
                 create-if-absent (If-None-Match: *), without it a stalled writer and the \
                 partition's new owner can overwrite each other's files; use a store that \
                 honours the header (AWS S3, MinIO since 2024, Ceph RGW since Reef)"
                    .into(),
            ));
        }
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
        if_absent: bool,
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
        if if_absent {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(sdk_err("put", key, e)),
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
            .map_err(|e| sdk_err("create_multipart_upload", key, e))?;
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
                    .map_err(|e| sdk_err("upload_part", key, e))?;
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
            complete = complete.if_none_match("*");
            match complete.send().await {
                Ok(_) => Ok(PutOutcome::Created),
                Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
                Err(e) => Err(sdk_err("complete_multipart_upload", key, e)),
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
                    self.put_single(&full, bytes, content_type, true).await
                }
            }
            .instrument(span),
        )
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let full = self.full_key(key);
        let span = tracing::info_span!("s3_put_replace", bucket = %self.bucket, key = %full);
        Box::pin(
            async move {
                self.put_single(&full, bytes, content_type, false)
                    .await
                    .map(|_| ())
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
                    Err(e) => Err(sdk_err("get", &full, e)),
                }
            }
            .instrument(span),
        )
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn response(status: u16, request_id: &str, body: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).unwrap_or_else(|e| panic!("{e}")),
            SdkBody::from(body.to_owned()),
        );
        response
            .headers_mut()
            .insert("x-amz-request-id", request_id.to_owned());
        response
    }

    fn service_error(
        status: u16,
        code: &str,
        request_id: &str,
    ) -> SdkError<PutObjectError, HttpResponse> {
        let body = format!("<Error><Code>{code}</Code><RequestId>{request_id}</RequestId></Error>");
        let err = PutObjectError::generic(ErrorMetadata::builder().code(code).build());
        SdkError::service_error(err, response(status, request_id, &body))
    }

    #[test]
    fn a_5xx_whose_request_id_contains_412_is_not_already_exists() {
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (400, "RequestTimeout"),
        ] {
            let e = service_error(status, code, "7C4128A1B2C3D4E5");
            assert!(!is_precondition_failed(&e), "{status} {code} read as 412");
        }
    }

    #[test]
    fn a_412_is_already_exists() {
        assert!(is_precondition_failed(&service_error(
            412,
            "PreconditionFailed",
            "0A1B"
        )));
        // Some S3-compatible servers send the status without the code.
        assert!(is_precondition_failed(&service_error(412, "", "0A1B")));
    }
}
