//! Opens the lake a configuration names: the object store behind a [`LakeUrl`].

use std::sync::Arc;

pub use stockfeed_spec::lake::LakeUrl;

use super::storage::file::FileStore;
use super::storage::s3::{S3Settings, S3Store};
use super::storage::{ObjectStore, StoreError};

/// The store for a lake URL: S3 (connecting with `s3`) or a local directory.
pub async fn open(lake: &LakeUrl, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, StoreError> {
    Ok(match lake {
        LakeUrl::S3 { bucket, prefix } => {
            Arc::new(S3Store::connect(bucket, prefix, s3.clone()).await?)
        }
        LakeUrl::File(path) => Arc::new(FileStore::new(path.clone())),
    })
}
