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

/// A hidden temporary name beside `path`: Hive-style readers skip names starting with `.`.
fn temp_path(dir: &Path, path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        ".{name}.{}.{:x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, and makes each new entry durable by syncing the
/// directory it was made in: after a power loss a file whose directory entry was never synced
/// can vanish, though its offset was committed.
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at);
        match at.parent() {
            Some(parent) => at = parent,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            // Another writer made it meanwhile; it syncs it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        match d.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

fn put_blocking(path: &Path, key: &str, bytes: &[u8]) -> Result<PutOutcome, StoreError> {
    let dir = path
        .parent()
        .ok_or_else(|| io_err("put", key, std::io::Error::other("no parent directory")))?;
    create_dirs(dir).map_err(|e| io_err("create_dir", key, e))?;
    if path.exists() {
        return Ok(PutOutcome::AlreadyExists);
    }
    let tmp = temp_path(dir, path);
    let result = (|| {
        let mut file = std::fs::File::create_new(&tmp).map_err(|e| io_err("create", key, e))?;
        file.write_all(bytes).map_err(|e| io_err("write", key, e))?;
        file.sync_all().map_err(|e| io_err("fsync", key, e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => {
                // The new name must be durable before the offset commit that relies on it.
                sync_dir(dir).map_err(|e| io_err("fsync", key, e))?;
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

/// Replaces `path` whole: a flushed temporary file renamed over it.
fn replace_blocking(path: &Path, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .ok_or_else(|| io_err("put", key, std::io::Error::other("no parent directory")))?;
    create_dirs(dir).map_err(|e| io_err("create_dir", key, e))?;
    let tmp = temp_path(dir, path);
    let result = (|| {
        let mut file = std::fs::File::create_new(&tmp).map_err(|e| io_err("create", key, e))?;
        file.write_all(bytes).map_err(|e| io_err("write", key, e))?;
        file.sync_all().map_err(|e| io_err("fsync", key, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_err("rename", key, e))?;
        sync_dir(dir).map_err(|e| io_err("fsync", key, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl ObjectStore for FileStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Vec<u8>,
        _content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let path = self.path(key);
        let key = key.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || replace_blocking(&path, &key, &bytes))
                .await
                .map_err(|e| StoreError::Io {
                    store: "file",
                    operation: "put",
                    key: String::new(),
                    message: e.to_string(),
                })?
        })
    }

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

    /// Two writers creating the same key at the same moment (a zombie and the new owner): one
    /// wins, the other is told the object exists, and the object is the winner's whole. The
    /// hard link makes this atomic here; the test S3 server (s3s-fs) checks then renames, so
    /// this race is tested on the directory store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_of_one_key_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(FileStore::new(dir.path()));
        for round in 0..50 {
            let key = format!("a/b/c/{round}.json");
            let writers = (0..8u8).map(|w| {
                let store = store.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let body = vec![w; 100_000];
                    (w, store.put_if_absent(&key, body, "x").await.unwrap())
                })
            });
            let outcomes: Vec<(u8, PutOutcome)> = futures_util::future::join_all(writers)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .collect();
            let winners: Vec<u8> = outcomes
                .iter()
                .filter(|(_, o)| *o == PutOutcome::Created)
                .map(|(w, _)| *w)
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
            let stored = store.get(&key).await.unwrap().unwrap();
            assert_eq!(stored, vec![winners[0]; 100_000], "round {round}");
        }
    }

    #[tokio::test]
    async fn put_replaces_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let key = "_stockfeed/offsets/t/0.json";
        store.put(key, b"first".to_vec(), "x").await.unwrap();
        store.put(key, b"second".to_vec(), "x").await.unwrap();
        assert_eq!(store.get(key).await.unwrap().unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("_stockfeed/offsets/t"))
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
