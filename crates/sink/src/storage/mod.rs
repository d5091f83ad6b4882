//! Object stores behind one small trait: S3 (and S3-compatible servers) and a local directory
//! (`file://`, the embedded default). Both offer the two operations exactly-once needs:
//! create-if-absent (so a retry or a zombie can never replace a finished object) and get.

pub mod file;
pub mod s3;

use futures_util::future::BoxFuture;

/// What a create-if-absent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An object already had that key; it was left alone.
    AlreadyExists,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{store}: {operation} {key}: {message}")]
    Io {
        store: &'static str,
        operation: &'static str,
        key: String,
        message: String,
    },
    /// The store said no in a way no retry changes (access denied, wrong keys, no such
    /// bucket): the sink stops with it instead of retrying for ever behind a green `/readyz`.
    #[error("{store}: {operation} {key} refused: {message}")]
    Refused {
        store: &'static str,
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error(transparent)]
    BadUrl(#[from] stockfeed_spec::lake::BadLakeUrl),
    #[error("invalid S3 settings: {0}")]
    Settings(String),
}

/// A place to write lake objects. Keys are relative to the lake's prefix and use `/`.
pub trait ObjectStore: Send + Sync {
    /// Writes `bytes` under `key` unless an object already exists there. The object becomes
    /// visible whole or not at all.
    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>>;

    /// Writes `bytes` under `key`, replacing what is there. Only for the sink's own
    /// bookkeeping that is meant to move on (the lake checkpoint); data files and manifests are
    /// never replaced.
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Reads an object; `None` when there is none.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Human-readable location, for logs (never credentials).
    fn describe(&self) -> String;
}
