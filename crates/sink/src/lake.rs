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
        // Refused: no retry changes it (transient errors of the two puts are retried).
        PutOutcome::Created => Err(StoreError::Refused {
            store: "lake",
            operation: "create-if-absent probe",
            key: PROBE_KEY.to_owned(),
            message: format!(
                "{} accepted a second create of the same key: it ignores If-None-Match: *, \
                 and exactly-once delivery needs create-if-absent; use a store that honours it",
                store.describe()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::BoxFuture;

    /// A store that takes every create, as one ignoring `If-None-Match` does.
    struct Overwrites;

    impl ObjectStore for Overwrites {
        fn put_if_absent<'a>(
            &'a self,
            _key: &'a str,
            _bytes: Vec<u8>,
            _content_type: &'a str,
        ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
            Box::pin(async { Ok(PutOutcome::Created) })
        }

        fn put<'a>(
            &'a self,
            _key: &'a str,
            _bytes: Vec<u8>,
            _content_type: &'a str,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async { Ok(()) })
        }

        fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
            Box::pin(async { Ok(None) })
        }

        fn describe(&self) -> String {
            "overwriting store".into()
        }
    }

    #[tokio::test]
    async fn a_store_that_ignores_create_if_absent_is_refused_and_a_real_one_passes() {
        let err = probe_create_if_absent(&Overwrites).await.unwrap_err();
        assert!(matches!(err, StoreError::Refused { .. }), "{err}");
        assert!(err.to_string().contains("If-None-Match"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        probe_create_if_absent(&store).await.unwrap();
        // Again, as at every later start: the object is there already.
        probe_create_if_absent(&store).await.unwrap();
    }
}
