//! The lake as DataFusion sees it: a read-only view of the lakes inside one object store (the
//! local file system, or one S3 bucket).
//!
//! [`LakeStore`] wraps the real store and
//! - hides what Hive, Glue and Athena hide: any object with a path segment below a lake's root
//!   that starts with `_` or `.` (the sink's `_stockfeed/` manifests, temporary files);
//! - shows `symbol=` folders as `symbol_partition=`, the partition key the Glue tables use
//!   (`symbol` is also a data column; see `catalog::table`), so DataFusion's Hive partition
//!   parser fills the column of that name;
//! - refuses writes, deletes and copies, and any path outside the lakes;
//! - counts which objects a query actually read ([`ScanStats`]), like Athena's "data scanned".
//!
//! [`LakeRegistry`] is the session's only object store registry: URLs other than the lakes'
//! stores (another bucket, `http://`) resolve to nothing, so no SQL text can make the engine
//! fetch from elsewhere.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use url::Url;

use stockfeed_record::lake::SYMBOL_PARTITION_KEY;

const SYMBOL_FOLDER: &str = "symbol=";

/// What the queries of a session have read from the lake.
#[derive(Debug, Default)]
pub struct ScanStats {
    files: Mutex<BTreeSet<String>>,
    bytes: AtomicU64,
    requests: AtomicU64,
    lists: AtomicU64,
}

/// A copy of [`ScanStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanSnapshot {
    /// Objects whose bytes were read, as paths relative to their lake's root
    /// (`trade/dt=2026-11-26/hour=14/t+0+...parquet`).
    pub files: BTreeSet<String>,
    /// Bytes fetched (ranges requested), footers and metadata included.
    pub bytes: u64,
    /// GET requests, ranged or whole.
    pub requests: u64,
    /// LIST requests.
    pub lists: u64,
}

impl ScanStats {
    pub fn snapshot(&self) -> ScanSnapshot {
        ScanSnapshot {
            files: self.files.lock().map(|f| f.clone()).unwrap_or_default(),
            bytes: self.bytes.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            lists: self.lists.load(Ordering::Relaxed),
        }
    }

    /// Forgets everything read so far (between queries of one session).
    pub fn reset(&self) {
        if let Ok(mut f) = self.files.lock() {
            f.clear();
        }
        self.bytes.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.lists.store(0, Ordering::Relaxed);
    }

    fn read(&self, relative: String, bytes: u64) {
        if let Ok(mut f) = self.files.lock() {
            f.insert(relative);
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Maps paths between the real store and the engine's view of it.
#[derive(Debug, Clone)]
struct PathMap {
    /// The lake's root inside the real store (`tmp/lake` for `file:///tmp/lake/`,
    /// `raw/stocks` for `s3://bucket/raw/stocks/`); empty for a bucket's top.
    root: Path,
    /// Show `symbol=` folders as `symbol_partition=`.
    symbol_alias: bool,
}

fn is_hidden(segment: &str) -> bool {
    segment.starts_with('_') || segment.starts_with('.')
}

impl PathMap {
    /// The segments of `path` below the root, or `None` outside the lake.
    fn relative<'a>(&self, path: &'a Path) -> Option<Vec<&'a str>> {
        let rest = if self.root.as_ref().is_empty() {
            path.as_ref()
        } else {
            let rest = path.as_ref().strip_prefix(self.root.as_ref())?;
            if rest.is_empty() {
                rest
            } else {
                rest.strip_prefix('/')?
            }
        };
        Some(rest.split('/').filter(|s| !s.is_empty()).collect())
    }

    fn join(&self, segments: &[String]) -> object_store::Result<Path> {
        let mut all: Vec<&str> = Vec::with_capacity(segments.len() + 1);
        if !self.root.as_ref().is_empty() {
            all.push(self.root.as_ref());
        }
        all.extend(segments.iter().map(String::as_str));
        Ok(Path::parse(all.join("/"))?)
    }

    /// Renames the first segment starting with `from` to start with `to` instead.
    fn rename(&self, segments: &[&str], from: &str, to: &str) -> Vec<String> {
        segments
            .iter()
            .map(|s| match s.strip_prefix(from) {
                Some(value) if self.symbol_alias => format!("{to}{value}"),
                _ => (*s).to_owned(),
            })
            .collect()
    }

    /// A path of the real store as the engine sees it; `None` when hidden or outside the lake.
    fn to_view(&self, path: &Path) -> Option<Path> {
        let segments = self.relative(path)?;
        if segments.iter().any(|s| is_hidden(s)) {
            return None;
        }
        let alias = format!("{SYMBOL_PARTITION_KEY}=");
        self.join(&self.rename(&segments, SYMBOL_FOLDER, &alias))
            .ok()
    }

    /// The real path behind a path the engine asks for.
    fn to_inner(&self, path: &Path) -> object_store::Result<Path> {
        let segments =
            self.relative(path)
                .ok_or_else(|| object_store::Error::PermissionDenied {
                    path: path.to_string(),
                    source: "outside the lake".into(),
                })?;
        if segments.iter().any(|s| is_hidden(s)) {
            return Err(object_store::Error::NotFound {
                path: path.to_string(),
                source: "names starting with `_` or `.` are not part of the lake".into(),
            });
        }
        let alias = format!("{SYMBOL_PARTITION_KEY}=");
        self.join(&self.rename(&segments, &alias, SYMBOL_FOLDER))
    }
}

/// One lake inside a store: its root and how its folders are shown.
#[derive(Debug, Clone)]
pub struct LakeRoot {
    /// The lake's prefix inside the store (`tmp/lake`, `raw/stocks`; empty for a bucket's top).
    pub root: Path,
    /// Show `symbol=` folders as `symbol_partition=` (for `partitionBy: [dt, symbol]`).
    pub symbol_alias: bool,
}

/// The read-only, Hive-filtered view of the lakes in one store, described in the module docs.
pub struct LakeStore {
    inner: Arc<dyn ObjectStore>,
    /// The lakes of this store, most specific (longest) root first.
    maps: Vec<PathMap>,
    stats: Arc<ScanStats>,
    /// The store's URL, for messages.
    description: String,
}

impl LakeStore {
    /// A view of the `lakes` inside `inner`.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        lakes: &[LakeRoot],
        stats: Arc<ScanStats>,
        description: String,
    ) -> Self {
        let mut maps: Vec<PathMap> = lakes
            .iter()
            .map(|l| PathMap {
                root: l.root.clone(),
                symbol_alias: l.symbol_alias,
            })
            .collect();
        maps.sort_by_key(|m| std::cmp::Reverse(m.root.as_ref().len()));
        LakeStore {
            inner,
            maps,
            stats,
            description,
        }
    }

    /// The lake a path belongs to.
    fn map_for(&self, path: &Path) -> Option<&PathMap> {
        self.maps.iter().find(|m| m.relative(path).is_some())
    }

    fn to_inner(&self, path: &Path) -> object_store::Result<Path> {
        match self.map_for(path) {
            Some(map) => map.to_inner(path),
            None => Err(object_store::Error::PermissionDenied {
                path: path.to_string(),
                source: format!("only the lakes in {} can be read", self.description).into(),
            }),
        }
    }

    /// The real object behind `view`, relative to its lake's root (`symbol=` folders as they
    /// are named in the store), for [`ScanStats`].
    fn relative_text(&self, view: &Path, inner: &Path) -> String {
        self.map_for(view)
            .and_then(|m| m.relative(inner))
            .map(|s| s.join("/"))
            .unwrap_or_else(|| inner.to_string())
    }

    fn read_only(&self, path: &Path) -> object_store::Error {
        object_store::Error::PermissionDenied {
            path: path.to_string(),
            source: "the lake is read-only to `stockfeed query`".into(),
        }
    }
}

/// [`PathMap::to_view`] with the lake chosen per path.
fn view_of(maps: &[PathMap], path: &Path) -> Option<Path> {
    maps.iter()
        .find(|m| m.relative(path).is_some())
        .and_then(|m| m.to_view(path))
}

impl fmt::Display for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lake {}", self.description)
    }
}

impl fmt::Debug for LakeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeStore")
            .field("lake", &self.description)
            .field("lakes", &self.maps)
            .finish()
    }
}

fn range_len(range: &Range<u64>) -> u64 {
    range.end.saturating_sub(range.start)
}

#[async_trait]
impl ObjectStore for LakeStore {
    async fn put_opts(
        &self,
        location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(self.read_only(location))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(self.read_only(location))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let inner = self.to_inner(location)?;
        let head = options.head;
        let mut result = self.inner.get_opts(&inner, options).await?;
        result.meta.location = location.clone();
        if !head {
            self.stats.read(
                self.relative_text(location, &inner),
                range_len(&result.range),
            );
        }
        Ok(result)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let inner = self.to_inner(location)?;
        let out = self.inner.get_ranges(&inner, ranges).await?;
        self.stats.read(
            self.relative_text(location, &inner),
            ranges.iter().map(range_len).sum(),
        );
        Ok(out)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations
            .map(|location| {
                let path = location?;
                Err(object_store::Error::PermissionDenied {
                    path: path.to_string(),
                    source: "the lake is read-only to `stockfeed query`".into(),
                })
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.stats.lists.fetch_add(1, Ordering::Relaxed);
        // Listing everything would walk the whole store (a bucket, or `/`): a prefix is needed.
        let Some(prefix) = prefix else {
            let e = object_store::Error::PermissionDenied {
                path: String::new(),
                source: "listing without a prefix is outside the lake".into(),
            };
            return futures_util::stream::once(async move { Err(e) }).boxed();
        };
        let inner_prefix = match self.to_inner(prefix) {
            Ok(p) => p,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        let maps = self.maps.clone();
        self.inner
            .list(Some(&inner_prefix))
            .filter_map(move |item| {
                let mapped = match item {
                    Ok(mut meta) => view_of(&maps, &meta.location).map(|location| {
                        meta.location = location;
                        Ok(meta)
                    }),
                    Err(e) => Some(Err(e)),
                };
                futures_util::future::ready(mapped)
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.stats.lists.fetch_add(1, Ordering::Relaxed);
        let inner_prefix = match prefix {
            Some(p) => self.to_inner(p)?,
            None => {
                return Err(object_store::Error::PermissionDenied {
                    path: String::new(),
                    source: "listing without a prefix is outside the lake".into(),
                });
            }
        };
        let listed = self.inner.list_with_delimiter(Some(&inner_prefix)).await?;
        Ok(ListResult {
            common_prefixes: listed
                .common_prefixes
                .iter()
                .filter_map(|p| view_of(&self.maps, p))
                .collect(),
            objects: listed
                .objects
                .into_iter()
                .filter_map(|mut meta| {
                    meta.location = view_of(&self.maps, &meta.location)?;
                    Some(meta)
                })
                .collect(),
        })
    }

    async fn copy_opts(
        &self,
        _from: &Path,
        to: &Path,
        _options: CopyOptions,
    ) -> object_store::Result<()> {
        Err(self.read_only(to))
    }

    async fn rename_opts(
        &self,
        _from: &Path,
        to: &Path,
        _options: RenameOptions,
    ) -> object_store::Result<()> {
        Err(self.read_only(to))
    }
}

/// The session's object store registry: the lakes' stores and nothing else.
#[derive(Debug)]
pub struct LakeRegistry {
    /// By store URL: `file:///` or `s3://bucket`.
    stores: Vec<(Url, Arc<dyn ObjectStore>)>,
}

impl LakeRegistry {
    pub fn new(stores: Vec<(Url, Arc<dyn ObjectStore>)>) -> Self {
        LakeRegistry { stores }
    }
}

impl ObjectStoreRegistry for LakeRegistry {
    /// Stores cannot be added: a query reads the lakes only.
    fn register_store(
        &self,
        _url: &Url,
        _store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        None
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.stores
            .iter()
            .find(|(u, _)| u.scheme() == url.scheme() && u.host_str() == url.host_str())
            .map(|(_, store)| Arc::clone(store))
            .ok_or_else(|| {
                DataFusionError::Configuration(format!(
                    "`{url}` is outside the lake; `stockfeed query` reads only the StockFeed's lake"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn store(root: &str, alias: bool) -> PathMap {
        PathMap {
            root: Path::parse(root).unwrap_or_default(),
            symbol_alias: alias,
        }
    }

    #[test]
    fn hides_underscore_and_dot_names_below_the_root_only() {
        let s = store("tmp/_lakes/one", false);
        let p = |t: &str| Path::parse(t).unwrap_or_default();
        assert_eq!(
            s.to_view(&p("tmp/_lakes/one/trade/dt=2026-11-26/a.parquet")),
            Some(p("tmp/_lakes/one/trade/dt=2026-11-26/a.parquet"))
        );
        for hidden in [
            "tmp/_lakes/one/_stockfeed/manifests/x.json",
            "tmp/_lakes/one/trade/dt=2026-11-26/.a.parquet.1.tmp",
            "tmp/_lakes/one/trade/dt=2026-11-26/_tmp/a.parquet",
            "tmp/other/trade/a.parquet",
        ] {
            assert_eq!(s.to_view(&p(hidden)), None, "{hidden}");
        }
        assert!(s.to_inner(&p("tmp/other/a.parquet")).is_err());
        assert!(s.to_inner(&p("tmp/_lakes/one/_stockfeed/m.json")).is_err());
    }

    #[test]
    fn symbol_folders_show_as_symbol_partition() {
        let s = store("lake", true);
        let p = |t: &str| Path::parse(t).unwrap_or_default();
        let real = p("lake/trade/dt=2026-11-26/symbol=BRK.B/t+0+1.parquet");
        let view = p("lake/trade/dt=2026-11-26/symbol_partition=BRK.B/t+0+1.parquet");
        assert_eq!(s.to_view(&real), Some(view.clone()));
        assert_eq!(s.to_inner(&view).ok(), Some(real));
        // Without the alias nothing is renamed.
        let plain = store("lake", false);
        let dt = p("lake/trade/dt=2026-11-26/hour=14/x.csv");
        assert_eq!(plain.to_view(&dt), Some(dt.clone()));
    }

    #[test]
    fn a_bucket_top_is_a_valid_root() {
        let s = store("", false);
        let p = |t: &str| Path::parse(t).unwrap_or_default();
        assert_eq!(
            s.to_view(&p("trade/dt=2026-11-26/a.csv")),
            Some(p("trade/dt=2026-11-26/a.csv"))
        );
        assert_eq!(s.to_view(&p("_stockfeed/m.json")), None);
    }

    #[tokio::test]
    async fn writes_are_refused_and_reads_counted() {
        let inner = Arc::new(InMemory::new());
        let key = Path::parse("lake/trade/dt=2026-11-26/a.parquet").unwrap_or_default();
        object_store::ObjectStoreExt::put(
            inner.as_ref(),
            &key,
            PutPayload::from_static(b"0123456789"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let stats = Arc::new(ScanStats::default());
        let s = LakeStore::new(
            inner,
            &[
                LakeRoot {
                    root: Path::parse("lake").unwrap_or_default(),
                    symbol_alias: false,
                },
                LakeRoot {
                    root: Path::parse("lake/history").unwrap_or_default(),
                    symbol_alias: true,
                },
            ],
            Arc::clone(&stats),
            "test".into(),
        );
        // The most specific lake decides how a path is shown.
        let nested =
            Path::parse("lake/history/bar/dt=2026-11-26/symbol=A/x.parquet").unwrap_or_default();
        assert_eq!(
            view_of(&s.maps, &nested).map(|p| p.to_string()),
            Some("lake/history/bar/dt=2026-11-26/symbol_partition=A/x.parquet".to_owned())
        );
        let err = object_store::ObjectStoreExt::put(&s, &key, PutPayload::from_static(b"x"))
            .await
            .err();
        assert!(
            matches!(err, Some(object_store::Error::PermissionDenied { .. })),
            "{err:?}"
        );
        let bytes = object_store::ObjectStoreExt::get_range(&s, &key, 2..6)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&bytes[..], b"2345");
        let snap = stats.snapshot();
        assert_eq!(snap.bytes, 4);
        assert_eq!(
            snap.files.into_iter().collect::<Vec<_>>(),
            vec!["trade/dt=2026-11-26/a.parquet".to_owned()]
        );
    }
}
