//! Opens the lake a configuration names: the object store behind a [`LakeUrl`], checked to
//! create objects only if absent.

use std::sync::Arc;

pub use stockfeed_spec::lake::LakeUrl;

use super::storage::file::FileStore;
use super::storage::s3::{S3Settings, S3Store};
use super::storage::{ObjectStore, PutOutcome, StoreError};

/// The store for a lake URL: S3 (connecting with `s3`) or a local directory.
pub async fn open(lake: &LakeUrl, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, StoreError> {
    Ok(match lake {
        LakeUrl::S3 { bucket, prefix } => {
            Arc::new(S3Store::connect(bucket, prefix, s3.clone()).await?)
        }
        LakeUrl::File(path) => Arc::new(FileStore::new(path.clone())),
    })
}

/// Where the start-up probe writes, under the bookkeeping prefix readers skip.
pub const PROBE_KEY: &str = "_stockfeed/probe";

/// Checks that the store refuses a second create of the same key. Some S3-compatible stores
/// accept `If-None-Match: *` and ignore it; the sink would then run and, at the first zombie
/// writer, lose or duplicate records. One fixed key, so the probe leaves a single small object.
///
/// A store can pass this and still be racy (two creates at the same moment both winning, as
/// s3s-fs's check-then-rename is): no sequential probe can see that. AWS S3 documents
/// conditional writes as atomic; README.md ("The sink") says what else is known.
pub async fn probe_create_if_absent(store: &dyn ObjectStore) -> Result<(), StoreError> {
    let body = b"stockfeed: create-if-absent probe\n".to_vec();
    // The first create may or may not find the object (an earlier start made it).
    store
        .put_if_absent(PROBE_KEY, body.clone(), "text/plain")
        .await?;
    match store.put_if_absent(PROBE_KEY, body, "text/plain").await? {
        PutOutcome::AlreadyExists => Ok(()),
        PutOutcome::Created => Err(StoreError::Settings(format!(
            "{} accepted a second create of {PROBE_KEY}: it ignores If-None-Match: *, and \
             exactly-once delivery needs create-if-absent; use a store that honours it",
            store.describe()
        ))),
    }
}
