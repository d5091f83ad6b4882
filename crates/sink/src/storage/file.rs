//! A lake in a local directory: the embedded default for `stockfeed run` and tests.
//!
//! An object is written to a hidden temporary file in its final directory, flushed to disk, then
//! hard-linked to its final name. `link` fails if the name exists, which gives create-if-absent,
//! and the final name appears whole. Temporary names start with `.` so Hive-style readers skip
//! them if a crash leaves one behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;

use super::{ObjectStore, PutOutcome, StoreError};

pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileStore { root: root.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

fn io_err(operation: &'static str, key: &str, e: std::io::Error) -> StoreError {
    StoreError::Io {
        store: "file",
        operation,
        key: key.to_owned(),
        message: e.to_string(),
    }
}

fn put_blocking(path: &Path, key: &str, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
    let dir = path
        .parent()
        .ok_or_else(|| io_err("put", key, std::io::Error::other("no parent directory")))?;
    std::fs::create_dir_all(dir).map_err(|e| io_err("create_dir", key, e))?;
    if path.exists() {
        return Ok(PutOutcome::AlreadyExists);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{:x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut file = std::fs::File::create_new(&tmp).map_err(|e| io_err("create", key, e))?;
        file.write_all(bytes).map_err(|e| io_err("write", key, e))?;
        file.sync_all().map_err(|e| io_err("fsync", key, e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => {
                // Make the new directory entry durable too.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(PutOutcome::Created)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(e) => Err(io_err("link", key, e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

impl ObjectStore for FileStore {
    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        _content_type: &'a str,
    ) -> BoxFuture<'a, Result<PutOutcome, StoreError>> {
        let path = self.path(key);
        let key = key.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || put_blocking(&path, &key, &bytes))
                .await
                .map_err(|e| StoreError::Io {
                    store: "file",
                    operation: "put",
                    key: String::new(),
                    message: e.to_string(),
                })?
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let path = self.path(key);
        Box::pin(async move {
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err("get", key, e)),
            }
        })
    }

    fn describe(&self) -> String {
        format!("file://{}/", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_if_absent_and_get() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let key = "trade/dt=2026-11-26/hour=14/t+0+00000000000000000000.jsonl";
        assert_eq!(
            store
                .put_if_absent(key, b"first".to_vec(), "x")
                .await
                .unwrap(),
            PutOutcome::Created
        );
        assert_eq!(
            store
                .put_if_absent(key, b"second".to_vec(), "x")
                .await
                .unwrap(),
            PutOutcome::AlreadyExists
        );
        assert_eq!(store.get(key).await.unwrap().unwrap(), b"first");
        assert_eq!(store.get("nope").await.unwrap(), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("trade/dt=2026-11-26/hour=14"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }
}
