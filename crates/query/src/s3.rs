//! Reading an `s3://` lake: object_store's S3 client, configured from the StockFeed's
//! `sink.s3` settings the same way the sink configures aws-sdk-s3, so whatever the sink could
//! write the query can read.
//!
//! - endpoint, region and path-style addressing come from `sink.s3` (or `AWS_ENDPOINT_URL`,
//!   `AWS_REGION`, as for the sink); with an endpoint and no region, `us-east-1` is assumed
//!   rather than asking the instance metadata service;
//! - credentials: the static keys of `sink.s3.credentials` when the feed names them, otherwise
//!   the AWS SDK's default chain (environment, shared profile, web identity/IRSA, container and
//!   instance roles), resolved by aws-config and cached here until shortly before they expire.
//!
//! object_store's own environment lookups are not used (the builder starts empty), so nothing
//! but this configuration decides which endpoint is contacted.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};

use super::QueryError;
use stockfeed_spec::lake::S3Settings;

/// Region assumed for S3-compatible endpoints that do not care about regions.
const FALLBACK_REGION: &str = "us-east-1";

/// Credentials are refreshed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// An S3 client for `bucket`, as the sink with `settings` would reach it.
pub(crate) async fn connect(
    bucket: &str,
    settings: &S3Settings,
) -> Result<Arc<dyn ObjectStore>, QueryError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|r| !r.trim().is_empty()));
    match (settings.region.clone().or(env_region), &settings.endpoint) {
        (Some(region), _) => loader = loader.region(Region::new(region)),
        (None, Some(_)) => loader = loader.region(Region::new(FALLBACK_REGION)),
        (None, None) => {}
    }
    if let Some(creds) = &settings.credentials {
        let keys = creds.load().map_err(|e| {
            QueryError::Lake(format!(
                "{e} (the lake's static S3 keys; for a StockFeed with \
                 sink.s3.credentialsSecretRef, export its accessKeyId and secretAccessKey as {} \
                 and {})",
                stockfeed_spec::render::env::S3_ACCESS_KEY_ID,
                stockfeed_spec::render::env::S3_SECRET_ACCESS_KEY
            ))
        })?;
        loader = loader.credentials_provider(Credentials::new(
            keys.access_key_id.expose(),
            keys.secret_access_key.expose(),
            None,
            None,
            "stockfeed-static",
        ));
    }
    let shared = loader.load().await;
    let region = shared
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| FALLBACK_REGION.to_owned());
    let provider = shared.credentials_provider().ok_or_else(|| {
        QueryError::Lake(
            "no AWS credentials provider is available to read the s3:// lake".to_owned(),
        )
    })?;

    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&region)
        .with_credentials(Arc::new(SdkCredentials::new(provider)));
    match shared.endpoint_url() {
        Some(endpoint) => {
            let endpoint = endpoint.trim_end_matches('/');
            builder = builder.with_allow_http(endpoint.starts_with("http://"));
            builder = if settings.force_path_style {
                builder.with_endpoint(endpoint)
            } else {
                // Virtual-hosted style against a custom endpoint: object_store wants the
                // bucket in the endpoint's host, as aws-sdk-s3 would address it.
                builder
                    .with_endpoint(bucket_endpoint(endpoint, bucket)?)
                    .with_virtual_hosted_style_request(true)
            };
        }
        None => {
            builder = builder.with_virtual_hosted_style_request(!settings.force_path_style);
        }
    }
    let store = builder
        .build()
        .map_err(|e| QueryError::Lake(format!("cannot set up S3 for bucket {bucket}: {e}")))?;
    Ok(Arc::new(store))
}

/// `http://host:port` → `http://bucket.host:port`.
fn bucket_endpoint(endpoint: &str, bucket: &str) -> Result<String, QueryError> {
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(|| {
        QueryError::Lake(format!(
            "sink.s3.endpoint `{endpoint}` is not an http:// or https:// URL"
        ))
    })?;
    Ok(format!("{scheme}://{bucket}.{rest}"))
}

/// object_store's view of an aws-config credentials provider, with a cache: object_store asks
/// for credentials on every request, and the default chain may call STS or the metadata
/// service each time it is asked.
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        SdkCredentials {
            provider,
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|e| e > SystemTime::now() + REFRESH_MARGIN);
            if fresh {
                return Ok(Arc::clone(credential));
            }
        }
        let credentials = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Unauthenticated {
                path: String::new(),
                source: Box::new(e),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });
        *cached = Some((Arc::clone(&credential), credentials.expiry()));
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_goes_into_the_host_for_virtual_hosted_style() {
        assert_eq!(
            bucket_endpoint("http://127.0.0.1:9000", "lake").ok(),
            Some("http://lake.127.0.0.1:9000".to_owned())
        );
        assert!(bucket_endpoint("minio:9000", "lake").is_err());
    }
}
