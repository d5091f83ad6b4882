//! The lake location: `s3://bucket/prefix/` or `file:///absolute/path/`.

use std::path::PathBuf;
use std::sync::Arc;

use super::storage::file::FileStore;
use super::storage::s3::{S3Settings, S3Store};
use super::storage::{ObjectStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    S3 { bucket: String, prefix: String },
    File(PathBuf),
}

impl LakeUrl {
    /// Parses a lake URL; the prefix always ends in `/` (or is empty) so keys join cleanly.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::BadUrl(url.to_owned());
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad());
            }
            let mut prefix = prefix.trim_start_matches('/').to_owned();
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            return Ok(LakeUrl::S3 {
                bucket: bucket.to_owned(),
                prefix,
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad());
            }
            return Ok(LakeUrl::File(PathBuf::from(path)));
        }
        Err(bad())
    }

    pub async fn open(&self, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, StoreError> {
        Ok(match self {
            LakeUrl::S3 { bucket, prefix } => {
                Arc::new(S3Store::connect(bucket, prefix, s3.clone()).await?)
            }
            LakeUrl::File(path) => Arc::new(FileStore::new(path.clone())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        assert_eq!(
            LakeUrl::parse("s3://market-lake/raw/stocks").unwrap(),
            LakeUrl::S3 {
                bucket: "market-lake".into(),
                prefix: "raw/stocks/".into()
            }
        );
        assert_eq!(
            LakeUrl::parse("s3://b").unwrap(),
            LakeUrl::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            LakeUrl::parse("file:///tmp/lake/").unwrap(),
            LakeUrl::File("/tmp/lake/".into())
        );
        for bad in ["s3:///x", "file://relative", "http://x", "/tmp/lake"] {
            assert!(LakeUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
