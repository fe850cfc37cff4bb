//! The lake's committed files as DataFusion sees them: an object store over the local file
//! system whose listings under the lake's `events/` and `summary/` come from the manifest
//! (`_kubetrail/manifest.json`), not from the directory.
//!
//! A writer makes files visible by publishing a new manifest (see
//! `ingest::sink::layout::Lake::commit`): a file moved into `events/` by a commit that has not
//! published its manifest yet, one that a later commit (`kubetrail compact`) replaced and has not
//! deleted yet, or one copied in by hand is never read, and a file is never read twice. The
//! `events` table keeps listing through DataFusion's `ListingTable`, so the Hive partition
//! columns still come from the paths and a filter on `cluster` or `day` still lists only the
//! matching `cluster=`/`day=` files. The manifest is read once, when the session opens: a session
//! sees one commit of the lake from start to end.
//!
//! The same holds for a lake on object storage ([`store::RemoteLake`]): there the manifest's
//! sizes describe the files, so listing a partition costs no request per file.
//!
//! Reading is passed through to the lake's store ([`LocalFileSystem`] or the bucket's); writing,
//! deleting, copying or renaming anything inside the lake is refused (readers never write to the
//! lake).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use futures::stream::{BoxStream, StreamExt};

use crate::error::{QueryError, Result};
use ingest::sink::layout::EVENTS_DIR;
use ingest::sink::manifest::Manifest;
use ingest::summary::SUMMARY_DIR;

/// Listings of a lake's `events/` from its manifest; everything else from the lake's store.
#[derive(Debug)]
pub struct CommittedFiles {
    inner: Arc<dyn ObjectStore>,
    /// The lake root, as an object-store path: nothing under it is written.
    root: Path,
    /// `events/` of the lake.
    events: Path,
    /// The folders whose listings come from the manifest: `events/` and `summary/`.
    tables: Vec<Path>,
    /// Every file the manifest lists under them, sorted, each once.
    files: Arc<Vec<Path>>,
    /// The manifest's sizes of the files, for a remote lake (a local one asks the file system).
    sizes: Arc<BTreeMap<Path, u64>>,
}

impl CommittedFiles {
    /// The committed files of the lake at `lake`, or `None` for a lake without a manifest
    /// (written before manifests existed: read by listing `events/`, as before).
    pub fn of_lake(lake: &std::path::Path) -> Result<Option<Self>> {
        let Some(manifest) = Manifest::load(lake)? else {
            return Ok(None);
        };
        let root_fs = std::fs::canonicalize(lake)
            .map_err(|e| QueryError::Sql(format!("cannot open lake {}: {e}", lake.display())))?;
        // A folder may be a link elsewhere: the table lists its target.
        let table_dir = |name: &str| {
            let dir = root_fs.join(name);
            std::fs::canonicalize(&dir).unwrap_or(dir)
        };
        let to_path = |p: &std::path::Path| {
            Path::from_absolute_path(p).map_err(|e| {
                QueryError::Sql(format!(
                    "lake {}: {} cannot be read as a table path: {e}",
                    lake.display(),
                    p.display()
                ))
            })
        };
        let mut files = BTreeSet::new();
        let mut tables = Vec::new();
        for name in [EVENTS_DIR, SUMMARY_DIR] {
            let dir = table_dir(name);
            let prefix = format!("{name}/");
            for f in &manifest.files {
                if let Some(rel) = f.path.strip_prefix(&prefix) {
                    files.insert(to_path(&dir.join(rel))?);
                }
            }
            tables.push(to_path(&dir)?);
        }
        Ok(Some(CommittedFiles {
            inner: Arc::new(LocalFileSystem::new()),
            root: to_path(&root_fs)?,
            events: tables[0].clone(),
            tables,
            files: Arc::new(files.into_iter().collect()),
            sizes: Arc::default(),
        }))
    }

    /// The committed files of the lake on object storage `lake`. A remote lake is always read
    /// through its manifest: a URL without one is no lake.
    pub async fn of_remote(lake: &store::RemoteLake) -> Result<Self> {
        let Some((manifest, _)) = lake.manifest().await? else {
            return Err(store::StoreError::NoLake(lake.url().to_string()).into());
        };
        let tables: Vec<Path> = [EVENTS_DIR, SUMMARY_DIR]
            .into_iter()
            .map(|name| lake.object(name))
            .collect();
        let mut sizes = BTreeMap::new();
        for f in &manifest.files {
            let object = lake.object(&f.path);
            if tables.iter().any(|t| object.prefix_matches(t)) {
                sizes.insert(object, f.size);
            }
        }
        Ok(CommittedFiles {
            inner: lake.store(),
            root: lake.root().clone(),
            events: tables[0].clone(),
            tables,
            files: Arc::new(sizes.keys().cloned().collect()),
            sizes: Arc::new(sizes),
        })
    }

    /// The number of files the manifest lists under `events/` and `summary/`.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True if the manifest lists no data file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The table folder `path` lies in, if any.
    fn table_of(&self, path: &Path) -> Option<&Path> {
        self.tables.iter().find(|t| path.prefix_matches(t))
    }

    /// Committed files under `prefix` (which lies inside a table folder), with their metadata from
    /// the file system; a listed file that is missing is an error naming it.
    fn committed_under(
        &self,
        prefix: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let sizes = Arc::clone(&self.sizes);
        let wanted: Vec<Path> = self
            .files
            .iter()
            .filter(|f| f.prefix_matches(prefix))
            .cloned()
            .collect();
        // in manifest order, a few file-system lookups at a time
        futures::stream::iter(wanted)
            .map(move |path| {
                let inner = Arc::clone(&inner);
                let known = sizes
                    .get(&path)
                    .map(|&size| from_manifest(path.clone(), size));
                async move {
                    match known {
                        Some(meta) => Ok(meta),
                        None => inner.head(&path).await.map_err(|e| missing(&path, e)),
                    }
                }
            })
            .buffered(16)
            .boxed()
    }

    /// The metadata of `path` (listed under a table folder), from the manifest or the store.
    async fn meta(&self, path: &Path) -> object_store::Result<ObjectMeta> {
        match self.sizes.get(path) {
            Some(&size) => Ok(from_manifest(path.clone(), size)),
            None => self.inner.head(path).await.map_err(|e| missing(path, e)),
        }
    }

    /// Refuse a change to anything inside the lake.
    fn refuse_inside(&self, location: &Path) -> object_store::Result<()> {
        if location.prefix_matches(&self.root) {
            return Err(object_store::Error::NotSupported {
                source: format!(
                    "{location}: readers never write to the lake (only ingest, compact and serve do)"
                )
                .into(),
            });
        }
        Ok(())
    }
}

/// A remote lake's file as its manifest describes it. The manifest records no time; DataFusion
/// keys its per-session metadata cache by path and size, which identify a committed file (its
/// name holds the run that wrote it, and files are never rewritten in place).
fn from_manifest(location: Path, size: u64) -> ObjectMeta {
    ObjectMeta {
        location,
        last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        size,
        e_tag: None,
        version: None,
    }
}

/// A file the manifest lists that cannot be read: say so, keeping a missing file `NotFound`.
fn missing(path: &Path, e: object_store::Error) -> object_store::Error {
    match e {
        object_store::Error::NotFound { .. } => object_store::Error::NotFound {
            path: path.to_string(),
            source: "the lake's manifest lists this data file but it is missing (`kubetrail verify` says how to repair the lake; a compaction that finished while this query ran removes the files it replaced: run the query again)".into(),
        },
        other => other,
    }
}

impl fmt::Display for CommittedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CommittedFiles({}, {} files)",
            self.events,
            self.files.len()
        )
    }
}

#[async_trait]
impl ObjectStore for CommittedFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.refuse_inside(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.refuse_inside(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let root = self.root.clone();
        let allowed = locations.map(move |l| {
            let l = l?;
            if l.prefix_matches(&root) {
                return Err(object_store::Error::NotSupported {
                    source: format!("{l}: readers never delete from the lake").into(),
                });
            }
            Ok(l)
        });
        self.inner.delete_stream(allowed.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let prefix = prefix.cloned().unwrap_or_default();
        if self.table_of(&prefix).is_some() {
            return self.committed_under(&prefix);
        }
        if self.tables.iter().any(|t| t.prefix_matches(&prefix)) {
            // A folder above the tables: what the file system holds outside them, and the
            // committed files inside them.
            let tables = self.tables.clone();
            let outside = self.inner.list(Some(&prefix)).filter(move |m| {
                let keep = m.as_ref().map_or(true, |m| {
                    !tables.iter().any(|t| m.location.prefix_matches(t))
                });
                futures::future::ready(keep)
            });
            return outside.chain(self.committed_under(&prefix)).boxed();
        }
        self.inner.list(Some(&prefix))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let prefix = prefix.cloned().unwrap_or_default();
        if self.table_of(&prefix).is_none() {
            return self.inner.list_with_delimiter(Some(&prefix)).await;
        }
        let depth = prefix.parts().count();
        let mut common_prefixes = BTreeSet::new();
        let mut objects = Vec::new();
        for f in self.files.iter().filter(|f| f.prefix_matches(&prefix)) {
            if f.parts().count() == depth + 1 {
                objects.push(self.meta(f).await?);
            } else {
                common_prefixes.insert(f.parts().take(depth + 1).collect::<Path>());
            }
        }
        Ok(ListResult {
            common_prefixes: common_prefixes.into_iter().collect(),
            objects,
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.refuse_inside(to)?;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.refuse_inside(from)?;
        self.refuse_inside(to)?;
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    /// A lake folder with `events/cluster=a/day=D/` files `names`, of which `committed` are in
    /// the manifest.
    fn lake(names: &[&str], committed: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let part = dir.path().join("events/cluster=a%2Fb/day=2026-01-05");
        std::fs::create_dir_all(&part).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("_kubetrail")).expect("mkdir");
        for n in names {
            std::fs::write(part.join(n), b"x").expect("write");
        }
        let files: Vec<_> = committed
            .iter()
            .map(|n| ingest::sink::manifest::DataFile {
                path: format!("events/cluster=a%2Fb/day=2026-01-05/{n}"),
                size: 1,
                rows: 1,
                checksum: String::new(),
                run: "t".into(),
            })
            .collect();
        let m = Manifest {
            version: 1,
            files,
            state: None,
        };
        std::fs::write(
            Manifest::path(dir.path()),
            serde_json::to_vec(&m).expect("json"),
        )
        .expect("manifest");
        dir
    }

    fn names(metas: &[ObjectMeta]) -> Vec<String> {
        metas
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .collect()
    }

    #[tokio::test]
    async fn a_listing_holds_the_committed_files_only() {
        let dir = lake(
            &["a.parquet", "b.parquet", "stray.parquet"],
            &["a.parquet", "b.parquet"],
        );
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let listed: Vec<ObjectMeta> = store
            .list(Some(&store.events))
            .try_collect()
            .await
            .expect("list");
        assert_eq!(names(&listed), ["a.parquet", "b.parquet"]);
        // The same paths a directory listing gives (escapes included), so DataFusion reads the
        // partition values from them as before.
        let on_disk: Vec<ObjectMeta> = store
            .inner
            .list(Some(&store.events))
            .try_collect()
            .await
            .expect("list");
        assert!(
            listed
                .iter()
                .all(|m| on_disk.iter().any(|d| d.location == m.location)),
            "{listed:?} vs {on_disk:?}"
        );
    }

    #[tokio::test]
    async fn a_listing_by_folder_shows_committed_files_and_their_folders_only() {
        let dir = lake(&["a.parquet", "stray.parquet"], &["a.parquet"]);
        std::fs::create_dir_all(dir.path().join("events/cluster=stray/day=2026-01-05"))
            .expect("mkdir");
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let top = store
            .list_with_delimiter(Some(&store.events))
            .await
            .expect("list");
        // The committed partition folder, named as the file system listing names it.
        let on_disk = store
            .inner
            .list_with_delimiter(Some(&store.events))
            .await
            .expect("list");
        let committed: Vec<_> = on_disk
            .common_prefixes
            .into_iter()
            .filter(|p| !p.as_ref().ends_with("cluster=stray"))
            .collect();
        assert_eq!(committed.len(), 1);
        assert_eq!(top.common_prefixes, committed);
        assert!(top.objects.is_empty());
        let day = top.common_prefixes[0].clone().join("day=2026-01-05");
        let files = store.list_with_delimiter(Some(&day)).await.expect("list");
        assert_eq!(names(&files.objects), ["a.parquet"]);
    }

    #[tokio::test]
    async fn a_committed_file_that_is_missing_is_an_error_naming_it() {
        let dir = lake(&["a.parquet"], &["a.parquet", "gone.parquet"]);
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let err = store
            .list(Some(&store.events))
            .try_collect::<Vec<_>>()
            .await
            .expect_err("missing file");
        assert!(err.to_string().contains("gone.parquet"), "{err}");
    }

    #[tokio::test]
    async fn nothing_inside_the_lake_is_written() {
        let dir = lake(&["a.parquet"], &["a.parquet"]);
        let store = CommittedFiles::of_lake(dir.path())
            .expect("open")
            .expect("manifest");
        let target = store.events.clone().join("new.parquet");
        assert!(
            store
                .put(&target, PutPayload::from_static(b"x"))
                .await
                .is_err()
        );
        assert!(!dir.path().join("events/new.parquet").exists());
    }

    #[test]
    fn a_lake_without_a_manifest_is_listed_as_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("events")).expect("mkdir");
        assert!(CommittedFiles::of_lake(dir.path()).expect("open").is_none());
    }
}
